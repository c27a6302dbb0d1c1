//! The linear probe's weight decay, swept at 100 labels per class of Fashion-MNIST (the README's contrastive
//! results): for each encoder directory (`DIR`, `DIR:init` for its initial weights, `DIR:raw` for the pixels),
//! one line of test accuracies, one per weight decay of `WDS` (default "0.0005 0.05 0.5 2 8"). `pretext probe
//! --weight-decay auto` chooses among decades on held-out training labels instead, never reading the test set.
//!
//!     cargo run --release --example probe_sweep -- runs/con-e3/simclr runs/con-e3/simclr:raw
use std::path::PathBuf;

use pretext::eval::probe::{probe, FeatureKind, LinearProbe, ProbeRequest, WeightDecay};
use pretext::gpu::Gpu;
use pretext::{Error, Result};

fn main() -> Result<()> {
    let gpu = Gpu::new(&Default::default())?;
    let d = PathBuf::from("data/fashion-mnist");
    let wds = std::env::var("WDS").unwrap_or_else(|_| "0.0005 0.05 0.5 2 8".into());
    let wds: Vec<f32> = wds.split_whitespace().map(|s| s.parse().map_err(|_| Error::Invalid(format!("WDS: {s:?} is not a number")))).collect::<Result<_>>()?;
    for spec in std::env::args().skip(1) {
        let (dir, kind) = spec.split_once(':').unwrap_or((&spec, "model"));
        let mut line = format!("{spec}:");
        for &weight_decay in &wds {
            let r = probe(&gpu, &ProbeRequest {
                model: dir.into(),
                train: vec![d.join("train-images-idx3-ubyte.gz")],
                eval: vec![d.join("t10k-images-idx3-ubyte.gz")],
                labels_per_class: Some(100),
                knn: 200,
                features: kind.parse::<FeatureKind>()?,
                blocks: 1,
                seed: 0,
                linear: LinearProbe { weight_decay: WeightDecay::Fixed(weight_decay), ..LinearProbe::default() },
            })?;
            line += &format!(" wd {weight_decay}: {:.4}", r.linear_accuracy);
        }
        println!("{line}");
    }
    Ok(())
}
