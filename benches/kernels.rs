//! `cargo bench`: the same measurements as `pretext bench` (args: [FILTER]).
fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let result = pretext::Gpu::new(&pretext::GpuOptions::default()).and_then(|gpu| {
        let mut b = pretext::bench::Bench::new(&gpu, filter, false);
        pretext::bench::run_all(&mut b)
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
