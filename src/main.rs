fn main() {
    std::process::exit(hivewatch::cli::main());
}
