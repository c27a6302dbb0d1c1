//! The autoencoder recipe: train an autoencoder (a VAE by default) on the bundled Fashion-MNIST training
//! images without their labels, then a linear probe on its code with a few labels per class, against the same
//! encoder at its initial weights (`init`) and the pixels (`raw`), over several labelled draws. Pictures: held-out
//! reconstructions, and for a VAE samples of its prior.
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::images::{probe_against_baselines, Bundled, ProbeSpec};
use super::{Demo, FamilyReport, PhaseSpec, Picture, Recipe};
use crate::models::autoencoder::{Autoencoder, AutoencoderConfig, Kind};
use crate::plot::ImageGrid;
use crate::tasks::autoencoder::{self as ae, AutoencoderTask};
use crate::{Error, Result};

/// The recipe: `pretext demo ae`.
pub const RECIPE: Recipe = Recipe {
    name: "ae",
    about: "an autoencoder on Fashion-MNIST without labels, then a linear probe on its code (MLP VAE)",
    settings: |preset| super::to_settings(AeConfig::preset(preset)?),
    run: |demo, v| run(demo, &super::from_settings::<AeConfig>("ae", v)?),
};

/// Sizes and budgets of the autoencoder recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AeConfig {
    /// "ae", "dae", "sparse" or "vae".
    pub kind: String,
    /// Hidden widths of the encoder (the decoder mirrors them).
    pub widths: Vec<usize>,
    pub latent: usize,
    pub steps: u32,
    pub batch: usize,
    pub lr: f32,
    /// Labelled training images per class for the probe (0: all 10,000).
    pub labels_per_class: usize,
    /// Labelled draws (seeds) the probes are averaged over.
    pub seeds: usize,
    /// Neighbours of the kNN probe.
    pub knn: usize,
    pub probe_steps: u32,
    /// Bundled training and test images used (as many of every class; 0: all 10,000 and 2,000).
    pub train_images: usize,
    pub test_images: usize,
    pub seed: u64,
}

impl AeConfig {
    /// "tiny" (CPU adapters), "small" or "base".
    pub fn preset(name: &str) -> Result<AeConfig> {
        let tiny = AeConfig {
            kind: "vae".into(),
            widths: vec![512, 256],
            latent: 32,
            steps: 600,
            batch: 128,
            lr: 1e-3,
            labels_per_class: 100,
            seeds: 3,
            knn: 20,
            probe_steps: 500,
            train_images: 0,
            test_images: 0,
            seed: 1,
        };
        Ok(match name {
            "tiny" => tiny,
            "small" => AeConfig { steps: 4000, probe_steps: 1500, ..tiny },
            "base" => AeConfig { widths: vec![1024, 512], steps: 10000, probe_steps: 1500, ..tiny },
            other => crate::bail!(Invalid, "unknown demo preset {other:?}: expected tiny, small or base"),
        })
    }
}

/// Runs the recipe into `demo.out/ae/`.
pub fn run(demo: &Demo, c: &AeConfig) -> Result<FamilyReport> {
    let started = Instant::now();
    let gpu = demo.gpu;
    let out = demo.fresh_dir("ae")?;
    let kind: Kind = c.kind.parse()?;
    let mut config = AutoencoderConfig::defaults(kind);
    config.widths = c.widths.clone();
    config.latent = c.latent;
    config.init_seed = c.seed;
    config.validate()?;
    let data = Bundled::load(c.train_images, c.test_images)?;
    // Pretraining sees the training images only, without labels; every 20th is held out for its loss.
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, x) in data.train.iter().enumerate() {
        if i % 20 == 19 { held.push(x.clone()) } else { train.push(x.clone()) }
    }
    println!("data        {} training images (labels unused), {} held out, {} test images", train.len(), held.len(), data.test.len());
    let mut task = AutoencoderTask::new(Autoencoder::new(gpu, &config)?, train, held, c.batch)?;
    let (cfg, optimizer) = ae::recipe(c.steps, c.lr, c.seed, None, "pretrain");
    let spec = PhaseSpec { steps: c.steps, lr: c.lr, warmup: 0.0, kind: cfg.schedule.kind, optimizer, seed: c.seed, eval_every: cfg.eval_every, save_every: 0 };
    let phase = demo.train("ae", "pretrain", &mut task, spec)?;
    let model_dir = out.join("model");
    ae::save(gpu, &task.model, &model_dir)?;
    let held_out = task.last.clone().ok_or_else(|| Error::Invalid("demo ae: no held-out evaluation ran".into()))?;

    // Pictures: reconstructions of test images; a VAE's prior samples.
    let mut pictures = vec![Picture { file: "ae/reconstructions.png".into(), caption: format!("{}: test images (top) and their reconstructions", c.kind) }];
    let first: Vec<Vec<f32>> = data.test.iter().take(12).cloned().collect();
    ae::write_rows(&out.join("reconstructions.png"), &config, &ae::reconstruction_rows(gpu, &task.model, &first)?)?;
    if kind == Kind::Vae {
        let samples = ae::sample(gpu, &task.model, 64, c.seed)?;
        ImageGrid { images: &samples, channels: 1, height: 28, width: 28, cols: 8, scale: 3 }.write_png(&out.join("samples.png"))?;
        pictures.push(Picture { file: "ae/samples.png".into(), caption: "64 samples of the VAE's prior, z ~ N(0, I)".into() });
    }
    pictures.push(Picture { file: "ae/loss.png".into(), caption: "training and held-out loss".into() });
    let eval_key = if kind == Kind::Vae { "eval_neg_elbo" } else { "eval_recon_loss" };
    super::write_loss_plot(&out.join("loss.png"), &format!("{} pretraining (nats per image)", c.kind), &phase.history, eval_key)?;

    // The probes: the trained code, the same encoder at its initial weights, the pixels.
    let spec = ProbeSpec::new(c.labels_per_class, c.seed, c.seeds, c.knn, c.probe_steps);
    let (model, init, mut extra) = probe_against_baselines(gpu, &data, &task.model, &Autoencoder::new(gpu, &config)?, &spec)?;
    extra.insert("held_out".into(), json!(held_out));
    extra.insert("pretrain_seconds".into(), json!(phase.seconds));
    let settings = super::to_settings(c)?;
    Ok(FamilyReport {
        metric: "linear-probe accuracy".into(),
        pretrained: model.linear_mean(),
        baseline: init.linear_mean(),
        baseline_kind: "init".into(),
        labels_per_class: spec.labels_per_class,
        seconds: started.elapsed().as_secs_f64(),
        command: demo.command("ae", &settings)?,
        pictures,
        settings,
        extra,
    })
}
