//! `pretext vit finetune | classify | embed`: image classification with a ViT encoder (from an MAE or ViT
//! directory, or from scratch), and applying the result.
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{create_out_dir, CheckpointArgs};
use crate::checkpoint;
use crate::data::images::{ImageSet, Preprocessor};
use crate::gpu::Gpu;
use crate::models::vit::{self, ViTConfig, Vit};
use crate::optim::{Schedule, ScheduleKind};
use crate::pipeline::VitPipeline;
use crate::rng::Rng;
use crate::tasks::vit_classify::{finetune_task, VitFinetune};
use crate::train::{TrainConfig, Trainer};
use crate::{Error, Result};

/// `pretext vit …`.
#[derive(Subcommand, Debug)]
pub enum VitCommand {
    /// Fine-tune a ViT encoder (from an MAE or ViT directory, or --scratch) to classify labelled images.
    Finetune(FinetuneArgs),
    /// Label images with a fine-tuned model: one JSON object per image.
    Classify(ApplyArgs),
    /// Pooled features of images: one JSON object per image.
    Embed(ApplyArgs),
}

/// `pretext vit finetune`.
#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// An MAE or ViT directory whose encoder starts the fine-tuning.
    #[arg(long, required_unless_present = "scratch", conflicts_with = "scratch")]
    pub model: Option<PathBuf>,
    /// Start from a fresh encoder of --config instead (the baseline without pretraining).
    #[arg(long, requires = "config")]
    pub scratch: bool,
    /// micro, tiny, small, base or a config.json (with --scratch).
    #[arg(long)]
    pub config: Option<String>,
    /// Labelled training images: an IDX file with its labels beside it, or an ImageFolder directory.
    #[arg(long, num_args = 1.., required = true)]
    pub train: Vec<PathBuf>,
    /// Labelled test images, same forms.
    #[arg(long, num_args = 1.., required = true)]
    pub eval: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// Keep only this many training images per class (drawn with --seed).
    #[arg(long)]
    pub labels_per_class: Option<usize>,
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u32>,
    /// Passes over the training images (default 10 when --steps is not given).
    #[arg(long)]
    pub epochs: Option<f64>,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Layer-wise learning-rate decay (BEiT / MAE): block i of L gets lr·F^(L−i), the embeddings lr·F^(L+1); 1 = off.
    /// Default: 0.75 with --model (MAE's fine-tuning recipe), 1 with --scratch (nothing learned to protect).
    #[arg(long)]
    pub layer_decay: Option<f32>,
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f32,
    /// Pooling for the classifier: cls (HF's ViTForImageClassification) or mean (MAE: mean patch token, fc_norm).
    /// Default: the model's config ("cls" unless it says otherwise).
    #[arg(long)]
    pub pooling: Option<String>,
    /// Smallest crop of the random-resized-crop augmentation (with a flip); 1 turns augmentation off.
    #[arg(long, default_value_t = 0.5)]
    pub crop_min: f64,
    /// Linear probing first (LP-FT): for this many of the steps only the classifier head learns, on the frozen
    /// encoder's pooled features; then everything is fine-tuned.
    #[arg(long, default_value_t = 0)]
    pub probe_steps: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
}

/// `pretext vit classify` and `pretext vit embed`.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// A ViT directory (config.json, model.safetensors, preprocessor_config.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Images: image files, an IDX images file or an ImageFolder directory.
    #[arg(long, num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
}

fn json_line(out: &mut impl Write, v: &serde_json::Value) -> Result<()> {
    writeln!(out, "{v}").map_err(|e| Error::Io(format!("stdout: {e}")))
}

/// Runs `pretext vit classify`.
pub fn classify(gpu: &Gpu, a: &ApplyArgs) -> Result<()> {
    let model = VitPipeline::load(gpu, &a.model)?;
    let set = ImageSet::load(&a.input)?;
    let images = model.preprocess(&set)?;
    let mut out = std::io::stdout().lock();
    for (source, (label, probs)) in set.sources.iter().zip(model.classify(gpu, &images)?) {
        let p: serde_json::Map<String, serde_json::Value> = model.labels.iter().zip(&probs).map(|(l, p)| (l.clone(), serde_json::json!(p))).collect();
        json_line(&mut out, &serde_json::json!({"file": source, "label": label, "probs": p}))?;
    }
    Ok(())
}

/// Runs `pretext vit embed`.
pub fn embed(gpu: &Gpu, a: &ApplyArgs) -> Result<()> {
    let model = VitPipeline::load(gpu, &a.model)?;
    let set = ImageSet::load(&a.input)?;
    let images = model.preprocess(&set)?;
    let mut out = std::io::stdout().lock();
    for (source, e) in set.sources.iter().zip(model.embed(gpu, &images)?) {
        json_line(&mut out, &serde_json::json!({"file": source, "embedding": e}))?;
    }
    Ok(())
}

/// Labels of `set` as indices into `classes` (matched by class name); an unknown class is an error naming it.
fn labels_in(set: &ImageSet, classes: &[String], what: &str) -> Result<Vec<usize>> {
    let labels = set.labels(what)?;
    labels
        .iter()
        .zip(&set.sources)
        .map(|(&l, src)| {
            let name = set.classes.get(l).cloned().unwrap_or_else(|| l.to_string());
            classes.iter().position(|c| *c == name).ok_or_else(|| {
                Error::Invalid(format!("{src}: class {name:?} does not occur in the training images (classes {classes:?})"))
            })
        })
        .collect()
}

/// Runs `pretext vit finetune`.
pub fn finetune(gpu: &Gpu, a: &FinetuneArgs) -> Result<()> {
    if a.batch == 0 || a.steps == Some(0) || a.epochs.is_some_and(|e| !(e > 0.0)) || !(a.lr > 0.0) {
        crate::bail!(Invalid, "vit finetune: --batch, --steps, --epochs and --lr must be positive");
    }
    let layer_decay = a.layer_decay.unwrap_or(if a.scratch { 1.0 } else { 0.75 });
    if !(layer_decay > 0.0 && layer_decay <= 1.0) || !(a.crop_min > 0.0 && a.crop_min <= 1.0) {
        crate::bail!(Invalid, "vit finetune: --layer-decay and --crop-min must lie in (0, 1]");
    }
    create_out_dir(&a.out)?;
    let full = ImageSet::load(&a.train)?;
    full.labels("vit finetune --train")?;
    let train_set = match a.labels_per_class {
        Some(0) => crate::bail!(Invalid, "vit finetune: --labels-per-class must be positive"),
        Some(n) => full.per_class(n, a.seed)?,
        None => full,
    };
    let classes = train_set.classes.clone();
    if classes.len() < 2 {
        crate::bail!(Invalid, "{}: fine-tuning needs at least 2 classes, found {classes:?}", a.train[0].display());
    }
    let eval_set = ImageSet::load(&a.eval)?;
    let mut rng = Rng::new(a.seed);
    let (vit, pre, source) = match &a.model {
        Some(dir) => {
            let p = VitPipeline::load(gpu, dir)?;
            (p.vit, p.preprocessor, dir.display().to_string())
        }
        None => {
            let name = a.config.as_deref().unwrap_or("tiny");
            let first = train_set.images.first().ok_or_else(|| Error::Invalid(format!("{}: no images", a.train[0].display())))?;
            let mut config = ViTConfig::named(name)?;
            if !name.ends_with(".json") {
                config = config.for_images(first.channels, first.height)?;
            }
            let mut pre = Preprocessor::raw(config.image_size, config.image_size);
            pre.do_resize = true;
            (Vit::new(gpu, &config, &mut rng)?, pre, format!("scratch ({name})"))
        }
    };
    let c = vit.config.num_channels;
    let train_x = pre.apply_all(&train_set, c)?;
    let train_y = labels_in(&train_set, &classes, "vit finetune --train")?;
    let eval_x = pre.apply_all(&eval_set, c)?;
    let eval_y = labels_in(&eval_set, &classes, "vit finetune --eval")?;
    let n_train = train_x.len();
    let f = VitFinetune { pooling: a.pooling.clone(), layer_decay, crop_min: a.crop_min, batch: a.batch, weight_decay: a.weight_decay, probe_steps: a.probe_steps };
    let (mut task, opt) = finetune_task(gpu, vit, &classes, train_x.into_iter().zip(train_y).collect(), eval_x.into_iter().zip(eval_y).collect(), &f, &mut rng)?;
    let config = task.encoder.config.clone();
    let steps = match (a.steps, a.epochs) {
        (Some(st), _) => st,
        (None, e) => ((e.unwrap_or(10.0) * n_train as f64 / a.batch as f64).ceil() as u32).max(1),
    };
    let mut cfg = TrainConfig {
        steps,
        schedule: Schedule { peak_lr: a.lr, min_lr: 0.0, warmup: steps / 10, total: steps, kind: ScheduleKind::Cosine },
        seed: a.seed,
        log_every: 10,
        eval_every: 0,
        save_every: 0,
        keep_last: None,
        out_dir: Some(a.out.clone()),
        progress: true,
        phase: "finetune".into(),
    };
    eprintln!(
        "vit finetune from {source}: {n_train} labelled training images ({} classes), {} test images, {steps} steps of {}, pooling {}",
        classes.len(),
        task.eval.len(),
        a.batch,
        config.classifier_pooling
    );
    let started = std::time::Instant::now();
    a.checkpoint.configure(&mut cfg);
    let mut trainer = Trainer::new(gpu, cfg, opt);
    a.checkpoint.resume(&mut trainer, &mut task)?;
    trainer.run(&mut task)?;
    let e = task.held_out(gpu)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut params = task.encoder.all_params();
    params.extend(task.head.params());
    checkpoint::commit_model_dir(&a.out, |tmp| {
        vit::write_model(gpu, tmp, &config, &params)?;
        pre.save(tmp)
    })?;
    let report = serde_json::json!({
        "accuracy": e.accuracy, "macro_f1": e.macro_f1, "labels": classes, "confusion": e.confusion, "steps": steps,
        "train_images": n_train, "eval_images": task.eval.len(), "labels_per_class": a.labels_per_class,
        "pretrained": a.model.as_ref().map(|d| d.display().to_string()), "seed": a.seed, "seconds": seconds,
        "lr": a.lr, "layer_decay": layer_decay, "pooling": config.classifier_pooling, "crop_min": a.crop_min, "batch": a.batch, "probe_steps": a.probe_steps,
    });
    checkpoint::write_atomic(&a.out.join("eval.json"), report.to_string().as_bytes())?;
    println!("eval accuracy {:.2}%  macro-F1 {:.4}  ({} test images, {seconds:.0} s)", 100.0 * e.accuracy, e.macro_f1, task.eval.len());
    super::print_confusion(&classes, &e.confusion);
    println!("wrote {}", a.out.display());
    Ok(())
}
