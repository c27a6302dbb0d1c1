//! `pretext ae train|reconstruct|sample|eval`: autoencoders on images, thin commands over
//! `models::autoencoder` and `tasks::autoencoder`.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{create_out_dir, CheckpointArgs};
use crate::data::images::ImageSet;
use crate::gpu::Gpu;
use crate::models::autoencoder::{Autoencoder, AutoencoderConfig, Kind};
use crate::tasks::autoencoder::{self as ae, AutoencoderTask};
use crate::train::Trainer;
use crate::{Error, Result};

/// `pretext ae …`.
#[derive(Subcommand, Debug)]
pub enum AeCommand {
    /// Train an autoencoder (ae, dae, sparse or vae) on unlabelled images.
    Train(TrainArgs),
    /// Draw images over their reconstructions (the DAE: over the noisy input too) into one PNG.
    Reconstruct(ReconstructArgs),
    /// Decode samples of a VAE's prior into a PNG grid, or a row along the line between two images' codes.
    Sample(SampleArgs),
    /// Print the held-out reconstruction loss (the VAE: KL and negative ELBO) in nats per image, as JSON.
    Eval(EvalArgs),
}

/// `pretext ae train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// ae, dae, sparse or vae.
    #[arg(long)]
    pub kind: String,
    /// Images: an IDX file, an ImageFolder directory or image files (labels, if any, are not used). Every
    /// 20th image is held out for evaluation.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Output directory: the model (config.json, model.safetensors, preprocessor_config.json, written whole),
    /// metrics.jsonl, reconstructions-step-K.png at each evaluation, step-K/ checkpoints.
    #[arg(long)]
    pub out: PathBuf,
    /// A JSON object of config.json fields laid over the kind's defaults (see the README's schema).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Width of the code.
    #[arg(long)]
    pub latent: Option<usize>,
    /// The DAE's noise level: the fraction of pixels zeroed (or the Gaussian noise's std), in [0, 1).
    #[arg(long)]
    pub noise: Option<f32>,
    /// The VAE's weight of the KL term.
    #[arg(long)]
    pub beta: Option<f32>,
    /// Optimizer steps (default 1000).
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u32>,
    /// Passes over the training images instead of --steps.
    #[arg(long)]
    pub epochs: Option<f32>,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Peak learning rate of AdamW (cosine decay to 0, no warm-up).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// --save-every K, --keep-last N, --resume DIR (give the same flags as the run resumed).
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
}

/// `pretext ae reconstruct`.
#[derive(Args, Debug)]
pub struct ReconstructArgs {
    /// An autoencoder directory written by `ae train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Images (files, an IDX file or an ImageFolder directory); at most 64 are drawn.
    #[arg(long, num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
}

/// `pretext ae sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// Images to draw (default 64 samples, or 10 points of an interpolation).
    #[arg(long)]
    pub count: Option<usize>,
    /// Seed of the prior samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    /// Two images: decode a row of codes along the line from the first's code to the second's (any kind).
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub interpolate: Option<Vec<PathBuf>>,
}

/// `pretext ae eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
}

/// Most images `ae reconstruct` draws.
const MAX_RECONSTRUCT: usize = 64;

/// The config of `ae train`: the kind's defaults, the --config file over them, then the flags.
fn train_config(a: &TrainArgs) -> Result<AutoencoderConfig> {
    let kind: Kind = a.kind.parse()?;
    let mut c = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
            AutoencoderConfig::from_partial(kind, &v, &path.display().to_string())?
        }
        None => AutoencoderConfig::defaults(kind),
    };
    if let Some(l) = a.latent {
        c.latent = l;
    }
    if let Some(level) = a.noise {
        match c.noise.as_mut() {
            Some(n) if kind == Kind::Dae => n.level = level,
            _ => crate::bail!(Invalid, "--noise applies to --kind dae only (this is --kind {})", kind.name()),
        }
    }
    if let Some(b) = a.beta {
        if kind != Kind::Vae {
            crate::bail!(Invalid, "--beta applies to --kind vae only (this is --kind {})", kind.name());
        }
        c.beta = b;
    }
    c.validate().map_err(|e| Error::Invalid(format!("ae train: {e}")))?;
    Ok(c)
}

/// Runs `pretext ae train`.
pub fn train(gpu: &Gpu, a: &TrainArgs) -> Result<()> {
    let config = train_config(a)?;
    if a.batch == 0 {
        crate::bail!(Invalid, "ae train: --batch must be at least 1");
    }
    let set = ImageSet::load(&a.data)?;
    let images = ae::prepare(&config, &set)?;
    if images.len() < 2 {
        crate::bail!(Invalid, "ae train: {} image(s) in {}; give at least 2 (every 20th is held out)", images.len(), a.data[0].display());
    }
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for (i, x) in images.into_iter().enumerate() {
        if i % 20 == 19 { eval.push(x) } else { train.push(x) }
    }
    let steps = match (a.steps, a.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) if e > 0.0 => ((e as f64) * train.len() as f64 / a.batch as f64).ceil().max(1.0) as u32,
        (None, Some(e)) => crate::bail!(Invalid, "ae train: --epochs must be positive (got {e})"),
        (None, None) => 1000,
    };
    if steps == 0 {
        crate::bail!(Invalid, "ae train: --steps must be at least 1");
    }
    create_out_dir(&a.out)?;
    let model = Autoencoder::new(gpu, &config)?;
    let mut task = AutoencoderTask::new(model, train, eval, a.batch)?;
    task.out_dir = Some(a.out.clone());
    let (mut cfg, optimizer) = ae::recipe(steps, a.lr, a.seed, Some(a.out.clone()), &format!("ae {}", config.kind.name()));
    cfg.progress = true;
    a.checkpoint.configure(&mut cfg);
    let mut trainer = Trainer::new(gpu, cfg, optimizer);
    a.checkpoint.resume(&mut trainer, &mut task)?;
    let start = std::time::Instant::now();
    trainer.run(&mut task)?;
    let seconds = start.elapsed().as_secs_f64();
    ae::save(gpu, &task.model, &a.out)?;
    if let Some(h) = &task.last {
        let mut line = format!("held-out ({} images): reconstruction {:.3} nats/image", h.images, h.recon_loss);
        if let (Some(kl), Some(ne)) = (h.kl, h.neg_elbo) {
            line.push_str(&format!(", KL {kl:.3}, negative ELBO {ne:.3}"));
        }
        println!("{line}");
    }
    println!("{steps} steps in {seconds:.1} s; wrote {}", a.out.display());
    Ok(())
}

/// The model of `dir` and the prepared images of `paths` (at most `max`, with a note when cut).
fn model_and_images(gpu: &Gpu, dir: &Path, paths: &[PathBuf], max: Option<usize>) -> Result<(Autoencoder, Vec<Vec<f32>>)> {
    let model = Autoencoder::load(gpu, dir, false)?;
    let mut set = ImageSet::load(paths)?;
    if let Some(m) = max.filter(|&m| set.len() > m) {
        eprintln!("drawing the first {m} of {} images", set.len());
        set = set.take(m);
    }
    let images = ae::prepare(&model.config, &set)?;
    Ok((model, images))
}

/// Runs `pretext ae reconstruct`.
pub fn reconstruct(gpu: &Gpu, a: &ReconstructArgs) -> Result<()> {
    let (model, images) = model_and_images(gpu, &a.model, &a.input, Some(MAX_RECONSTRUCT))?;
    let rows = ae::reconstruction_rows(gpu, &model, &images)?;
    ae::write_rows(&a.out, &model.config, &rows)?;
    println!("wrote {} ({} images; rows: {})", a.out.display(), images.len(), if rows.len() == 3 { "originals, noisy inputs, reconstructions" } else { "originals, reconstructions" });
    Ok(())
}

/// Runs `pretext ae sample`.
pub fn sample(gpu: &Gpu, a: &SampleArgs) -> Result<()> {
    let model = Autoencoder::load(gpu, &a.model, false)?;
    let c = &model.config;
    if let Some(pair) = &a.interpolate {
        let count = a.count.unwrap_or(10);
        let set = ImageSet::load(pair)?;
        if set.len() != 2 {
            crate::bail!(Invalid, "--interpolate takes two images, {} holds {}", pair[0].display(), set.len());
        }
        let images = ae::prepare(c, &set)?;
        let row = ae::interpolate(gpu, &model, &images[0], &images[1], count)?;
        ae::write_rows(&a.out, c, &[row])?;
        println!("wrote {} ({count} images from {} to {})", a.out.display(), pair[0].display(), pair[1].display());
        return Ok(());
    }
    let count = a.count.unwrap_or(64);
    if count == 0 {
        crate::bail!(Invalid, "--count must be at least 1");
    }
    let images = ae::sample(gpu, &model, count, a.seed)?;
    let cols = (count as f64).sqrt().ceil() as usize;
    crate::plot::ImageGrid { images: &images, channels: c.channels, height: c.height, width: c.width, cols, scale: 3 }.write_png(&a.out)?;
    println!("wrote {} ({count} samples of the prior, seed {})", a.out.display(), a.seed);
    Ok(())
}

/// Runs `pretext ae eval`.
pub fn eval(gpu: &Gpu, a: &EvalArgs) -> Result<()> {
    let (model, images) = model_and_images(gpu, &a.model, &a.data, None)?;
    let h = ae::held_out(gpu, &model, &images)?;
    let mut out = serde_json::Map::new();
    out.insert("recon_loss".into(), serde_json::json!(h.recon_loss));
    if let (Some(kl), Some(ne)) = (h.kl, h.neg_elbo) {
        out.insert("kl".into(), serde_json::json!(kl));
        out.insert("elbo_nats_per_image".into(), serde_json::json!(ne));
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
