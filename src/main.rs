// mimalloc: candle allocates and frees large tensors on every layer; glibc's malloc returns
// them to the kernel each time (page faults dominated the MiniLM profile). mimalloc keeps them,
// which made MiniLM embedding about 1.8x faster (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(hivewatch::cli::main());
}
