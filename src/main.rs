// mimalloc: embedding and the table writers allocate many short-lived buffers; glibc's malloc
// returned large ones to the kernel each time (page faults dominated the MiniLM profile when it
// ran on candle; mimalloc made it 1.8x faster, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(hivewatch::cli::main());
}
