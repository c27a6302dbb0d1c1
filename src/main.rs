//! The `pretext` command line.
fn main() {
    std::process::exit(pretext::cli::main());
}
