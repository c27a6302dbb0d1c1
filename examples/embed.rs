//! Embeds sentences with a BERT model directory through the library API and prints their cosine similarities.
//!
//! `cargo run --release --example embed -- [MODEL_DIR]` (default `data/minilm`, fetched by `scripts/fetch.sh`).
use pretext::pipeline::{BertPipeline, Pooling};
use pretext::{Gpu, GpuOptions};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> pretext::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "data/minilm".into());
    let gpu = Gpu::new(&GpuOptions::default())?;
    let model = BertPipeline::load(&gpu, dir.as_ref())?;
    let texts: Vec<String> = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."]
        .map(String::from)
        .to_vec();
    let vectors = model.embed(&gpu, &texts, Pooling::Mean, true)?;
    for (i, a) in texts.iter().enumerate() {
        for (j, b) in texts.iter().enumerate().skip(i + 1) {
            let cos: f32 = vectors[i].1.iter().zip(&vectors[j].1).map(|(x, y)| x * y).sum();
            println!("{cos:.4}  {a:?} vs {b:?}");
        }
    }
    Ok(())
}
