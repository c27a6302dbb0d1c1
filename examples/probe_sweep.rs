//! The linear probe's weight decay, swept at 100 labels per class of Fashion-MNIST (the README's contrastive
//! results): for each encoder directory (`DIR`, `DIR:init` for its initial weights, `DIR:raw` for the pixels),
//! one line of test accuracies, one per weight decay of `WDS` (default "0.0005 0.05 0.5 2 8").
//!
//!     cargo run --release --example probe_sweep -- runs/con-e3/simclr runs/con-e3/simclr:raw
use std::path::{Path, PathBuf};

use pretext::data::images::{ImageSet, Preprocessor};
use pretext::eval::probe::{linear_probe, Features, LinearProbe};
use pretext::gpu::Gpu;
use pretext::models::{load_image_encoder, Weights};
use pretext::{Error, Result};

fn main() -> Result<()> {
    let gpu = Gpu::new(&Default::default())?;
    let d = "data/fashion-mnist";
    let train = ImageSet::load(&[PathBuf::from(format!("{d}/train-images-idx3-ubyte.gz"))])?.per_class(100, 0)?;
    let eval = ImageSet::load(&[PathBuf::from(format!("{d}/t10k-images-idx3-ubyte.gz"))])?;
    let (tl, el) = (train.labels("train")?.to_vec(), eval.labels("eval")?.to_vec());
    let wds = std::env::var("WDS").unwrap_or_else(|_| "0.0005 0.05 0.5 2 8".into());
    let wds: Vec<f32> = wds.split_whitespace().map(|s| s.parse().map_err(|_| Error::Invalid(format!("WDS: {s:?} is not a number")))).collect::<Result<_>>()?;
    for spec in std::env::args().skip(1) {
        let (dir, kind) = spec.split_once(':').unwrap_or((&spec, "model"));
        let weights = if kind == "init" { Weights::Init } else { Weights::Trained };
        let enc = load_image_encoder(&gpu, Path::new(dir), weights)?;
        let pre = Preprocessor::from_dir(Path::new(dir), enc.height, enc.width)?;
        let (xt, xe) = (pre.apply_all(&train, enc.channels)?, pre.apply_all(&eval, enc.channels)?);
        let (ft, fe) = if kind == "raw" {
            (Features::raw(&xt)?, Features::raw(&xe)?)
        } else {
            (Features::extract(&gpu, enc.encoder.as_ref(), &xt, 256)?, Features::extract(&gpu, enc.encoder.as_ref(), &xe, 256)?)
        };
        let mut line = format!("{spec}:");
        for &wd in &wds {
            let a = linear_probe(&gpu, &ft, &tl, &fe, &el, 10, &LinearProbe { weight_decay: wd, ..LinearProbe::default() })?;
            line += &format!(" wd {wd}: {a:.4}");
        }
        println!("{line}");
    }
    Ok(())
}
