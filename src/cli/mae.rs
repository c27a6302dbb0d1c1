//! `pretext mae pretrain | reconstruct`: masked-autoencoder pretraining on images and its reconstructions.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::data::images::{ImageSet, Preprocessor};
use crate::gpu::Gpu;
use crate::models::mae::{self as mae_model, Mae};
use crate::models::vit::ViTConfig;
use crate::optim::{Optimizer, Rule, Schedule, ScheduleKind};
use crate::pipeline::VitPipeline;
use crate::plot::{self, Panel, Series};
use crate::rng::Rng;
use crate::tasks::mae::{write_reconstructions, MaeTask, Reconstruction};
use crate::train::{TrainConfig, Trainer};
use crate::{Error, Result};

/// `pretext mae …`.
#[derive(Subcommand, Debug)]
pub enum MaeCommand {
    /// Pretrain a ViT-MAE on images (no labels needed).
    Pretrain(PretrainArgs),
    /// Mask and reconstruct images with a ViT-MAE directory: a PNG strip per image, or JSON lines.
    Reconstruct(ReconstructArgs),
}

/// `pretext mae pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// Training images: an IDX images file, an ImageFolder directory, or image files.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Held-out images for the reconstruction loss and pictures (default: every 20th image of --data, at most 1000).
    #[arg(long, num_args = 1..)]
    pub eval: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// tiny, small, base (their image size and channels follow the data) or a config.json.
    #[arg(long, default_value = "tiny")]
    pub config: String,
    /// Fraction of patches removed (default: the config's, 0.75).
    #[arg(long)]
    pub mask_ratio: Option<f64>,
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u32>,
    /// Passes over the training images (default 1 when --steps is not given).
    #[arg(long)]
    pub epochs: Option<f64>,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peak learning rate (default: MAE's base rate 1.5e-4 x batch / 256, times 10 for the tiny and small presets).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Warm-up steps (default: 5% of the steps), then cosine decay to 0.
    #[arg(long)]
    pub warmup: Option<u32>,
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Evaluate (held-out loss and pictures) every this many steps (default: 10 times in the run).
    #[arg(long)]
    pub eval_every: Option<u32>,
    /// Write OUT/step-K/ every K steps.
    #[arg(long, default_value_t = 0)]
    pub save_every: u32,
    /// Resume from a checkpoint directory written by --save-every.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// `pretext mae reconstruct`.
#[derive(Args, Debug)]
pub struct ReconstructArgs {
    /// A ViT-MAE directory (config.json, model.safetensors, preprocessor_config.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Images: image files, an IDX images file or an ImageFolder directory.
    #[arg(long, num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// A JSON array with one array of num_patches numbers per image (HF's `noise`): reproducible masks.
    #[arg(long)]
    pub noise: Option<PathBuf>,
    /// Fraction of patches removed (default: the model's).
    #[arg(long)]
    pub mask_ratio: Option<f64>,
    /// Where the PNG strips go (original | masked | reconstruction | pasted).
    #[arg(long, default_value = "reconstructions")]
    pub out: PathBuf,
    /// One JSON object per image: {"file", "loss", "mask", "ids_restore", "logits"}.
    #[arg(long)]
    pub json: bool,
    /// Seed of the masks when no --noise is given.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The default peak learning rate: MAE's base rate 1.5e-4 per 256 images, ten times that for the small presets
/// (a few thousand steps, not hundreds of epochs).
fn default_lr(config: &str, batch: usize) -> f32 {
    let boost = if matches!(config, "tiny" | "small") { 10.0 } else { 1.0 };
    1.5e-4 * batch as f32 / 256.0 * boost
}

/// Runs `pretext mae pretrain`.
pub fn pretrain(gpu: &Gpu, a: &PretrainArgs) -> Result<()> {
    if a.batch == 0 || a.steps == Some(0) || a.epochs.is_some_and(|e| !(e > 0.0)) {
        crate::bail!(Invalid, "mae pretrain: --batch, --steps and --epochs must be positive");
    }
    let data = ImageSet::load(&a.data)?;
    if data.is_empty() {
        crate::bail!(Invalid, "{}: no images", a.data[0].display());
    }
    let first = &data.images[0];
    let mut config = ViTConfig::named(&a.config)?;
    if !a.config.ends_with(".json") {
        let bad = |e: Error| Error::Invalid(format!("{}: images of {}x{} do not fit the {} preset: {e}", data.sources[0], first.height, first.width, a.config));
        if first.height != first.width {
            return Err(bad(Error::Invalid("the presets take square images".into())));
        }
        config = config.for_images(first.channels, first.height).map_err(bad)?;
    }
    if !config.is_mae() {
        crate::bail!(Invalid, "{}: model_type {:?} is not vit_mae", a.config, config.model_type);
    }
    if let Some(r) = a.mask_ratio {
        config.mask_ratio = Some(r);
        config.validate().map_err(|e| Error::Invalid(format!("--mask-ratio: {e}")))?;
    }
    let mut pre = Preprocessor::raw(config.image_size, config.image_size);
    pre.do_resize = true;
    let images = pre.apply_all(&data, config.num_channels)?;
    let (train, eval) = if a.eval.is_empty() {
        let every = 20;
        let (mut train, mut eval) = (Vec::new(), Vec::new());
        for (i, x) in images.into_iter().enumerate() {
            if i % every == every - 1 && eval.len() < 1000 { eval.push(x) } else { train.push(x) }
        }
        (train, eval)
    } else {
        (images, pre.apply_all(&ImageSet::load(&a.eval)?, config.num_channels)?)
    };
    if train.is_empty() {
        crate::bail!(Invalid, "{}: no training images left after holding out {}", a.data[0].display(), eval.len());
    }
    let steps = match (a.steps, a.epochs) {
        (Some(s), _) => s,
        (None, e) => ((e.unwrap_or(1.0) * train.len() as f64 / a.batch as f64).ceil() as u32).max(1),
    };
    let lr = a.lr.unwrap_or_else(|| default_lr(&a.config, a.batch));
    let warmup = a.warmup.unwrap_or(steps / 20).min(steps);
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let mut rng = Rng::new(a.seed);
    let mae = Mae::new(gpu, &config, &mut rng)?;
    let n_train = train.len();
    let mut task = MaeTask::new(mae, train, eval, a.batch);
    task.pictures = Some((a.out.clone(), pre.clone()));
    // MAE's optimizer: AdamW with betas (0.9, 0.95), weight decay 0.05 off biases and norms.
    let opt = Optimizer::new(Rule::AdamW { beta1: 0.9, beta2: 0.95, eps: 1e-8 }, a.weight_decay);
    let cfg = TrainConfig {
        steps,
        schedule: Schedule { peak_lr: lr, min_lr: 0.0, warmup, total: steps, kind: ScheduleKind::Cosine },
        seed: a.seed,
        log_every: 10,
        eval_every: a.eval_every.unwrap_or((steps / 10).max(1)),
        save_every: a.save_every,
        keep_last: None,
        out_dir: Some(a.out.clone()),
        progress: true,
        phase: "mae_pretrain".into(),
    };
    eprintln!(
        "mae pretrain: {n_train} training and {} held-out images of {}x{}x{}, {} parameters, {steps} steps of {} at lr {lr:.2e}",
        task.eval.len(),
        config.num_channels,
        config.image_size,
        config.image_size,
        task.mae.all_params().iter().map(|p| p.numel()).sum::<usize>(),
        a.batch
    );
    // config.json and preprocessor_config.json first: with a `step-K/model.safetensors` copied beside them, an
    // unfinished run's checkpoint is already a model directory.
    let mut saved = config.clone();
    saved.architectures = Some(vec!["ViTMAEForPreTraining".into()]);
    let json = serde_json::to_string_pretty(&saved).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::checkpoint::write_atomic(&a.out.join("config.json"), json.as_bytes())?;
    pre.save(&a.out)?;
    let mut trainer = Trainer::new(gpu, cfg, opt);
    if let Some(dir) = &a.resume {
        trainer.resume(dir, &mut task)?;
        eprintln!("resumed from {} at step {}", dir.display(), trainer.step);
    }
    let started = std::time::Instant::now();
    let last = trainer.run(&mut task)?;
    let seconds = started.elapsed().as_secs_f64();
    task.mae.save(gpu, &a.out)?;
    let loss = last.iter().find(|(k, _)| k == "eval_recon_loss").map(|(_, v)| *v);
    let curve = |key: &str| -> Vec<(f64, f64)> {
        trainer.history.iter().filter_map(|r| if key == "loss" { Some((r.step as f64, r.loss)) } else { r.extra.get(key).map(|v| (r.step as f64, *v)) }).collect()
    };
    plot::write_png(
        &a.out.join("loss.png"),
        &[Panel {
            title: "MAE pretraining".into(),
            x_label: "step".into(),
            y_label: "reconstruction loss".into(),
            series: vec![
                Series { label: "training batch".into(), points: curve("loss"), color: plot::PALETTE[0] },
                Series { label: "held out".into(), points: curve("eval_recon_loss"), color: plot::PALETTE[1] },
            ],
            log_y: false,
        }],
        800,
        500,
    )?;
    match loss {
        Some(l) => println!("held-out reconstruction loss {l:.4} after {steps} steps ({seconds:.0} s)"),
        None => println!("trained {steps} steps ({seconds:.0} s)"),
    }
    println!("wrote {} (reconstructions.png, loss.png, metrics.jsonl, the model)", a.out.display());
    Ok(())
}

/// Reads `--noise`: a JSON array with one array of numbers per image.
fn read_noise(path: &Path) -> Result<Vec<Vec<f32>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: expected a JSON array of arrays of numbers: {e}", path.display())))
}

/// A file name for the picture of `source` (`file.png`, or `file#i` inside an IDX file), unique in `taken`.
fn picture_name(source: &str, taken: &mut std::collections::BTreeSet<String>) -> String {
    let (file, index) = match source.rsplit_once('#') {
        Some((f, i)) => (f, Some(i)),
        None => (source, None),
    };
    let stem = Path::new(file).file_name().and_then(|s| s.to_str()).unwrap_or("image");
    let stem = stem.split('.').next().unwrap_or(stem);
    let base = match index {
        Some(i) => format!("{stem}-{i}"),
        None => stem.to_string(),
    };
    let mut name = format!("{base}.png");
    let mut k = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{k}.png");
        k += 1;
    }
    name
}

/// Runs `pretext mae reconstruct`.
pub fn reconstruct(gpu: &Gpu, a: &ReconstructArgs) -> Result<()> {
    let model = VitPipeline::load(gpu, &a.model)?;
    if model.decoder.is_none() {
        return Err(mae_model::not_mae(&a.model, &model.config));
    }
    let set = ImageSet::load(&a.input)?;
    let images = model.preprocess(&set)?;
    let noise = match &a.noise {
        Some(p) => {
            let n = read_noise(p)?;
            let l = model.config.num_patches();
            if n.len() != images.len() {
                crate::bail!(Invalid, "{}: {} noise arrays for {} images (one array of {l} numbers per image)", p.display(), n.len(), images.len());
            }
            if let Some((i, row)) = n.iter().enumerate().find(|(_, r)| r.len() != l) {
                crate::bail!(Invalid, "{}: noise array {i} has {} numbers, the model has {l} patches per image", p.display(), row.len());
            }
            Some(n)
        }
        None => None,
    };
    let recons: Vec<Reconstruction> = model.reconstruct(gpu, &images, noise.as_deref(), a.mask_ratio, &mut Rng::new(a.seed))?;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let mut taken = Default::default();
    let mut out = std::io::stdout().lock();
    for (r, source) in recons.iter().zip(&set.sources) {
        let path = a.out.join(picture_name(source, &mut taken));
        write_reconstructions(&path, std::slice::from_ref(r), 4)?;
        let line = if a.json {
            serde_json::json!({"file": source, "loss": r.loss, "mask": r.mask, "ids_restore": r.ids_restore, "logits": r.logits}).to_string()
        } else {
            format!("{source}: loss {:.4}, {} of {} patches removed, wrote {}", r.loss, r.mask.iter().filter(|&&m| m == 1).count(), r.mask.len(), path.display())
        };
        use std::io::Write;
        writeln!(out, "{line}").map_err(|e| Error::Io(format!("stdout: {e}")))?;
    }
    Ok(())
}
