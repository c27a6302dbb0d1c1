//! The MAE recipe: pretrain a small ViT-MAE on the bundled Fashion-MNIST training images without their labels
//! (75% of the patches masked), then fine-tune its encoder with a few labels per class, against the same ViT
//! fine-tuned from its initial weights with the same budget, over several labelled draws (seeds). Pictures:
//! held-out reconstructions from 25% of the patches, and the loss curves.
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::images::{average, min_gain, seeds, Bundled};
use super::{Demo, FamilyReport, PhaseSpec, Picture, Recipe};
use crate::data::images::{per_class_index, Preprocessor};
use crate::models::mae::Mae;
use crate::models::vit::{ViTConfig, Vit};
use crate::optim::{Optimizer, Rule, ScheduleKind};
use crate::rng::Rng;
use crate::tasks::mae::{write_reconstructions, MaeTask};
use crate::tasks::vit_classify::{finetune_task, VitFinetune};
use crate::{Error, Result};

/// The recipe: `pretext demo mae`.
pub const RECIPE: Recipe = Recipe {
    name: "mae",
    about: "masked-patch reconstruction on Fashion-MNIST, then fine-tuning with 100 labels a class (ViT-MAE)",
    settings: |preset| super::to_settings(MaeConfig::preset(preset)?),
    run: |demo, v| run(demo, &super::from_settings::<MaeConfig>("mae", v)?),
};

/// Sizes and budgets of the MAE recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaeConfig {
    /// The ViT-MAE preset ("nano", "micro", "tiny", "small") or a config.json.
    pub model: String,
    pub mask_ratio: f64,
    pub pretrain_steps: u32,
    pub pretrain_batch: usize,
    pub pretrain_lr: f32,
    pub finetune_steps: u32,
    pub finetune_batch: usize,
    pub finetune_lr: f32,
    /// Layer-wise lr decay of the pretrained encoder (the scratch baseline has none).
    pub layer_decay: f32,
    /// Of the fine-tuning steps, the first ones train only the pretrained model's head on its frozen features
    /// (LP-FT); the scratch baseline fine-tunes everything for all its steps.
    pub probe_steps: u32,
    /// Random resized crop scale's lower bound while fine-tuning (1: no augmentation).
    pub crop_min: f64,
    /// Labelled training images per class for fine-tuning.
    pub labels_per_class: usize,
    /// Labelled draws (seeds): each fine-tunes both models.
    pub seeds: usize,
    /// Bundled training and test images used (as many of every class; 0: all 10,000 and 2,000).
    pub train_images: usize,
    pub test_images: usize,
    pub seed: u64,
}

impl MaeConfig {
    /// "tiny" (CPU adapters), "small" or "base".
    pub fn preset(name: &str) -> Result<MaeConfig> {
        // Sized for 6 minutes on a 2-core CPU adapter: the nano ViT (16 patches, half of them masked: with 4
        // visible patches of 16 it learned less in this budget), and no fine-tuning augmentation (at 120 steps
        // the random crops cost the scratch and the pretrained model 15-20 points alike).
        let tiny = MaeConfig {
            model: "nano".into(),
            mask_ratio: 0.5,
            pretrain_steps: 400,
            pretrain_batch: 128,
            pretrain_lr: 1.5e-3,
            finetune_steps: 120,
            finetune_batch: 32,
            finetune_lr: 3e-3,
            layer_decay: 0.75,
            probe_steps: 0,
            crop_min: 1.0,
            labels_per_class: 100,
            seeds: 3,
            train_images: 0,
            test_images: 0,
            seed: 1,
        };
        Ok(match name {
            "tiny" => tiny,
            "small" => MaeConfig { model: "tiny".into(), mask_ratio: 0.75, pretrain_steps: 4000, pretrain_batch: 256, finetune_steps: 1000, finetune_lr: 1e-3, crop_min: 0.5, ..tiny },
            "base" => MaeConfig { model: "small".into(), mask_ratio: 0.75, pretrain_steps: 10000, pretrain_batch: 256, finetune_steps: 2000, finetune_lr: 1e-3, crop_min: 0.5, ..tiny },
            other => crate::bail!(Invalid, "unknown demo preset {other:?}: expected tiny, small or base"),
        })
    }
}

/// Runs the recipe into `demo.out/mae/`.
pub fn run(demo: &Demo, c: &MaeConfig) -> Result<FamilyReport> {
    let started = Instant::now();
    let gpu = demo.gpu;
    let out = demo.fresh_dir("mae")?;
    let data = Bundled::load(c.train_images, c.test_images)?;
    let mut config = ViTConfig::named(&c.model)?;
    if !c.model.ends_with(".json") {
        config = config.for_images(1, 28)?;
    }
    config.mask_ratio = Some(c.mask_ratio);
    config.validate()?;
    if !config.is_mae() {
        crate::bail!(Invalid, "demo mae: {} is not a vit_mae config", c.model);
    }
    let pre = Preprocessor::raw(28, 28);

    // Pretraining: the training images without labels; every 20th held out for the reconstruction loss.
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, x) in data.train.iter().enumerate() {
        if i % 20 == 19 { held.push(x.clone()) } else { train.push(x.clone()) }
    }
    println!("data        {} training images (labels unused), {} held out, {} test images", train.len(), held.len(), data.test.len());
    let mae = Mae::new(gpu, &config, &mut Rng::new(c.seed))?;
    let mut task = MaeTask::new(mae, train, held, c.pretrain_batch);
    let opt = Optimizer::new(Rule::AdamW { beta1: 0.9, beta2: 0.95, eps: 1e-8 }, 0.05);
    let spec = PhaseSpec {
        steps: c.pretrain_steps,
        lr: c.pretrain_lr,
        warmup: 0.05,
        kind: ScheduleKind::Cosine,
        optimizer: opt,
        seed: c.seed,
        eval_every: (c.pretrain_steps / 5).max(1),
        save_every: 0,
    };
    let phase = demo.train("mae", "pretrain", &mut task, spec)?;
    let recon_loss = task.held_out(gpu)?;
    write_reconstructions(&out.join("reconstructions.png"), &task.held_out_reconstructions(gpu, &pre)?, 3)?;
    let model_dir = out.join("pretrain");
    crate::checkpoint::commit_model_dir(&model_dir, |tmp| {
        task.mae.write(gpu, tmp)?;
        pre.save(tmp)
    })?;
    super::write_loss_plot(&out.join("loss.png"), "MAE pretraining (normalised-pixel MSE on masked patches)", &phase.history, "eval_recon_loss")?;

    // Fine-tuning, pretrained against scratch, on the same labelled draw and budget, for each seed.
    let test: Vec<(Vec<f32>, usize)> = data.test.iter().cloned().zip(data.test_labels.iter().copied()).collect();
    let (mut pretrained, mut scratch) = (Vec::new(), Vec::new());
    for seed in seeds(c.seed, c.seeds) {
        let idx = per_class_index(&data.train_labels, data.class_count(), c.labels_per_class, seed)
            .map_err(|(k, n)| Error::Invalid(format!("demo mae: class {k} has {n} images, fewer than {}", c.labels_per_class)))?;
        let labelled: Vec<(Vec<f32>, usize)> = idx.iter().map(|&i| (data.train[i].clone(), data.train_labels[i])).collect();
        for (from, acc) in [("pretrained", &mut pretrained), ("scratch", &mut scratch)] {
            let mut rng = Rng::new(seed ^ 0xF1);
            let (vit, layer_decay, probe_steps) = match from {
                "pretrained" => (crate::pipeline::VitPipeline::load(gpu, &model_dir)?.vit, c.layer_decay, c.probe_steps),
                _ => (Vit::new(gpu, &config, &mut Rng::new(c.seed))?, 1.0, 0),
            };
            let f = VitFinetune { pooling: Some("mean".into()), layer_decay, crop_min: c.crop_min, batch: c.finetune_batch, weight_decay: 0.05, probe_steps };
            let (mut ft, opt) = finetune_task(gpu, vit, &data.classes, labelled.clone(), test.clone(), &f, &mut rng)?;
            let spec = PhaseSpec { steps: c.finetune_steps, lr: c.finetune_lr, warmup: 0.1, kind: ScheduleKind::Cosine, optimizer: opt, seed, eval_every: 0, save_every: 0 };
            demo.train("mae", &format!("finetune_{from}_seed{seed}"), &mut ft, spec)?;
            let e = ft.held_out(gpu)?;
            println!("finetune    {from:<10} seed {seed}: test accuracy {:.1}%", 100.0 * e.accuracy);
            acc.push(e.accuracy);
        }
    }
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("pretrained_seeds".into(), json!(pretrained));
    extra.insert("scratch_seeds".into(), json!(scratch));
    extra.insert("min_gain".into(), json!(min_gain(&pretrained, &scratch)));
    extra.insert("held_out_recon_loss".into(), json!(recon_loss));
    extra.insert("pretrain_seconds".into(), json!(phase.seconds));
    let settings = super::to_settings(c)?;
    Ok(FamilyReport {
        metric: "fine-tuned test accuracy".into(),
        pretrained: average(&pretrained),
        baseline: average(&scratch),
        baseline_kind: "scratch".into(),
        labels_per_class: Some(c.labels_per_class),
        seconds: started.elapsed().as_secs_f64(),
        command: demo.command("mae", &settings)?,
        pictures: vec![
            Picture { file: "mae/reconstructions.png".into(), caption: format!("held-out images: original | masked ({:.0}%) | reconstruction | with the visible patches pasted back", 100.0 * c.mask_ratio) },
            Picture { file: "mae/loss.png".into(), caption: "MAE pretraining loss".into() },
        ],
        settings,
        extra,
    })
}
