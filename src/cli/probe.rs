//! `pretext probe`: frozen features of any image encoder directory, a linear probe and kNN (`eval::probe`).
use std::path::PathBuf;

use clap::Args;

use crate::eval::probe::{probe, FeatureKind, LinearProbe, ProbeRequest, WeightDecay};
use crate::gpu::Gpu;
use crate::{Error, Result};

/// `pretext probe`.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// An encoder directory the engine wrote: a ViT (`mae pretrain`, `contrastive pretrain`, `vit finetune`) or an
    /// autoencoder (`ae train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled training images: an IDX file with its labels beside it, or an ImageFolder directory.
    #[arg(long, num_args = 1.., required = true)]
    pub train: Vec<PathBuf>,
    /// Labelled evaluation images.
    #[arg(long, num_args = 1.., required = true)]
    pub eval: Vec<PathBuf>,
    /// Train the linear probe and fill the kNN bank with N images per class (drawn with --seed).
    #[arg(long)]
    pub labels_per_class: Option<usize>,
    /// Neighbours of the kNN classifier.
    #[arg(long, default_value_t = 200)]
    pub knn: usize,
    /// model (the encoder's output), raw (the pixels) or init (the encoder at its initial weights).
    #[arg(long, default_value = "model")]
    pub features: String,
    /// Concatenate the pooled features of the encoder's last N blocks (a ViT; DINO's linear-probe protocol
    /// reads 4); 1 is the encoder's output alone.
    #[arg(long, default_value_t = 1)]
    pub blocks: usize,
    /// Seed of the labelled draw (with --labels-per-class) and of the linear probe's initialisation and batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The linear probe's weight decay: a number, or auto (the value of 1e-3, 1e-2, ..., 100 most accurate on a
    /// held-out fifth of the labelled training images, then trained on all of them).
    #[arg(long, default_value = "5e-4")]
    pub weight_decay: String,
}

/// Runs `pretext probe`: prints `{"linear_accuracy", "knn_accuracy", "labels_per_class", "features", "blocks",
/// "weight_decay"}`.
pub fn run(gpu: &Gpu, a: &ProbeArgs) -> Result<()> {
    let features: FeatureKind = a.features.parse()?;
    let weight_decay: WeightDecay = a.weight_decay.parse()?;
    let r = ProbeRequest {
        model: a.model.clone(),
        train: a.train.clone(),
        eval: a.eval.clone(),
        labels_per_class: a.labels_per_class,
        knn: a.knn,
        features,
        blocks: a.blocks,
        seed: a.seed,
        linear: LinearProbe { progress: true, weight_decay, ..LinearProbe::default() },
    };
    let result = probe(gpu, &r)?;
    println!("{}", serde_json::to_string(&result).map_err(|e| Error::Invalid(e.to_string()))?);
    Ok(())
}
