//! The contrastive recipe: pretrain a small ViT with a contrastive method (SimCLR by default: the method that
//! does best at this budget) on two GPU-augmented views of the bundled Fashion-MNIST training images, without
//! their labels; then the kNN and linear probes of its frozen features with a few labels per class, against the
//! same ViT at its initial weights (`init`) and the pixels (`raw`), over several labelled draws.
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::images::{probe_against_baselines, Bundled, ProbeSpec};
use super::{Demo, FamilyReport, PhaseSpec, Picture, Recipe};
use crate::data::images::Preprocessor;
use crate::models::vit::Vit;
use crate::optim::ScheduleKind;
use crate::rng::Rng;
use crate::tasks::contrastive::{encoder_config, optimizer, save_encoder, write_views, ContrastiveSpec, ContrastiveTask, Method};
use crate::Result;

/// The recipe: `pretext demo contrastive`.
pub const RECIPE: Recipe = Recipe {
    name: "contrastive",
    about: "two augmented views of each Fashion-MNIST image pulled together, then kNN and linear probes (ViT)",
    settings: |preset| super::to_settings(ContrastiveConfig::preset(preset)?),
    run: |demo, v| run(demo, &super::from_settings::<ContrastiveConfig>("contrastive", v)?),
};

/// Sizes and budgets of the contrastive recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContrastiveConfig {
    /// "simclr", "moco" or "byol".
    pub method: String,
    /// The ViT's preset ("nano", "micro", "tiny", "small") or a config.json.
    pub encoder: String,
    /// "mean" (of the patch tokens) or "cls".
    pub pooling: String,
    pub steps: u32,
    pub batch: usize,
    /// "lars" or "adamw".
    pub optimizer: String,
    /// Peak learning rate (0: the method's default for the optimizer and batch).
    pub lr: f32,
    /// Temperature (0: the method's default).
    pub temperature: f32,
    pub proj_hidden: usize,
    pub proj_dim: usize,
    /// Labelled training images per class for the probes (0: all 10,000).
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

impl ContrastiveConfig {
    /// "tiny" (CPU adapters), "small" or "base".
    pub fn preset(name: &str) -> Result<ContrastiveConfig> {
        let tiny = ContrastiveConfig {
            method: "simclr".into(),
            encoder: "nano".into(),
            pooling: "mean".into(),
            steps: 150,
            batch: 64,
            optimizer: "adamw".into(),
            lr: 2e-3,
            temperature: 0.0,
            proj_hidden: 256,
            proj_dim: 64,
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
            "small" => ContrastiveConfig { encoder: "tiny".into(), steps: 2000, batch: 256, probe_steps: 1500, ..tiny },
            "base" => ContrastiveConfig { encoder: "small".into(), steps: 5000, batch: 256, probe_steps: 1500, ..tiny },
            other => crate::bail!(Invalid, "unknown demo preset {other:?}: expected tiny, small or base"),
        })
    }
}

/// Runs the recipe into `demo.out/contrastive/`.
pub fn run(demo: &Demo, c: &ContrastiveConfig) -> Result<FamilyReport> {
    let started = Instant::now();
    let gpu = demo.gpu;
    let out = demo.fresh_dir("contrastive")?;
    let method: Method = c.method.parse()?;
    let data = Bundled::load(c.train_images, c.test_images)?;
    let config = encoder_config(&c.encoder, 1, 28, &c.pooling)?;
    println!("data        {} training images (labels unused), {} test images", data.train.len(), data.test.len());

    // The augmentations, as a user sees them: test images beside their two views.
    write_views(gpu, &out.join("views.png"), &data.test[..8.min(data.test.len())], [1, 28, 28], method.name(), c.seed, 3)?;

    let (opt, default_lr) = optimizer(&c.optimizer, method.name(), c.batch, None, None)?;
    let lr = if c.lr > 0.0 { c.lr } else { default_lr };
    let mut spec = ContrastiveSpec::new(method, c.proj_hidden, c.proj_dim);
    if c.temperature > 0.0 {
        spec.temperature = c.temperature;
    }
    spec.validate()?;
    let encoder = Vit::new(gpu, &config, &mut Rng::new(c.seed))?;
    let mut task = ContrastiveTask::new(gpu, spec, encoder, data.train.concat(), c.batch, c.steps, &mut Rng::new(c.seed ^ 0x4EAD_5EED))?;
    let phase = PhaseSpec { steps: c.steps, lr, warmup: 0.1, kind: ScheduleKind::Cosine, optimizer: opt, seed: c.seed, eval_every: 0, save_every: 0 };
    let phase = demo.train("contrastive", "pretrain", &mut task, phase)?;
    let pre = Preprocessor::raw(28, 28);
    save_encoder(gpu, &out.join("model"), &task.encoder, c.seed, &pre)?;
    super::write_loss_plot(&out.join("loss.png"), &format!("{} pretraining", method.name()), &phase.history, "")?;

    let probes = ProbeSpec::new(c.labels_per_class, c.seed, c.seeds, c.knn, c.probe_steps);
    let (model, init, mut extra) = probe_against_baselines(gpu, &data, &task.encoder, &Vit::new(gpu, &config, &mut Rng::new(c.seed))?, &probes)?;
    extra.insert("pretrain_seconds".into(), json!(phase.seconds));
    extra.insert("method".into(), json!(method.name()));
    let settings = super::to_settings(c)?;
    Ok(FamilyReport {
        metric: "linear-probe accuracy".into(),
        pretrained: model.linear_mean(),
        baseline: init.linear_mean(),
        baseline_kind: "init".into(),
        labels_per_class: probes.labels_per_class,
        seconds: started.elapsed().as_secs_f64(),
        command: demo.command("contrastive", &settings)?,
        pictures: vec![
            Picture { file: "contrastive/views.png".into(), caption: format!("{}'s augmentations: a test image and its two views", method.name()) },
            Picture { file: "contrastive/loss.png".into(), caption: format!("{} training loss", method.name()) },
        ],
        settings,
        extra,
    })
}
