//! Reconstructs, embeds and classifies images through the library API (`pipeline::VitPipeline`).
//!
//! `cargo run --release --example vit -- [MAE_DIR [CLASSIFIER_DIR [IMAGE...]]]`; the defaults are the small random
//! models and PNGs of `assets/fixtures/` (so CI runs it with nothing fetched). A model pretrained by
//! `pretext mae pretrain` and one fine-tuned by `pretext vit finetune` go in their place.
use std::path::PathBuf;

use pretext::data::images::ImageSet;
use pretext::pipeline::VitPipeline;
use pretext::rng::Rng;
use pretext::tasks::mae::write_reconstructions;
use pretext::{Gpu, GpuOptions};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> pretext::Result<()> {
    let mut args = std::env::args().skip(1);
    let mae_dir = args.next().unwrap_or_else(|| "assets/fixtures/vit_mae_odd".into());
    let cls_dir = args.next().unwrap_or_else(|| "assets/fixtures/vit_cls_odd".into());
    let mut files: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if files.is_empty() {
        files = ["rgb0.png", "grey1.png"].iter().map(|f| PathBuf::from("assets/fixtures/vit_images").join(f)).collect();
    }
    let gpu = Gpu::new(&GpuOptions::default())?;
    let images = ImageSet::load(&files)?;

    // MAE: mask 75% of each image's patches and reconstruct them (grey images are replicated to RGB as needed).
    let mae = VitPipeline::load(&gpu, mae_dir.as_ref())?;
    let x = mae.preprocess(&images)?;
    let recon = mae.reconstruct(&gpu, &x, None, None, &mut Rng::new(0))?;
    let out = std::env::temp_dir().join("pretext-example-reconstructions.png");
    write_reconstructions(&out, &recon, 4)?;
    for (file, r) in files.iter().zip(&recon) {
        println!("{}: reconstruction loss {:.4} on {} masked patches", file.display(), r.loss, r.mask.iter().filter(|&&m| m == 1).count());
    }
    println!("wrote {}", out.display());

    // Embed and classify with a fine-tuned ViT.
    let vit = VitPipeline::load(&gpu, cls_dir.as_ref())?;
    let x = vit.preprocess(&images)?;
    let features = vit.embed(&gpu, &x)?;
    for ((file, f), (label, probs)) in files.iter().zip(&features).zip(vit.classify(&gpu, &x)?) {
        let p = probs.iter().copied().fold(0.0f32, f32::max);
        println!("{}: {} features, class {label} (p = {p:.3})", file.display(), f.len());
    }
    Ok(())
}
