//! Autoencoder training (`train::Task`) and what its commands need: preparing images for a model, held-out
//! loss (the VAE: ELBO and KL), reconstructions, prior samples and interpolations as pictures.
//!
//! Randomness, all reproducible from the seed and the step: a step's batch is drawn with replacement by the
//! trainer's generator (saved in checkpoints); the DAE's corruption and the VAE's ε come from the step's tape
//! seed at the tape's generator offsets. Evaluation uses fixed noise: image i of a held-out set gets the VAE's
//! ε at stream position i·latent (and the DAE's pictures their corruption) under [`EVAL_SEED`], whatever the
//! batch size.
use std::path::{Path, PathBuf};

use crate::autograd::{Tape, Var};
use crate::data::images::{ImageSet, Preprocessor, Size};
use crate::gpu::Gpu;
use crate::kernels::{kl_normal, noise};
use crate::models::autoencoder::{Autoencoder, AutoencoderConfig, Kind};
use crate::nn::Param;
use crate::optim::{Optimizer, Schedule, ScheduleKind};
use crate::plot::ImageGrid;
use crate::rng::Rng;
use crate::train::{Task, TrainConfig};
use crate::{Error, Result, Tensor};

/// Seed of the fixed noise of every evaluation.
pub const EVAL_SEED: u64 = 0xE7A1_5EED;

/// Images per batch when evaluating or drawing.
const EVAL_BATCH: usize = 500;

/// The preprocessing of a model: pixels scaled to [0, 1] at the config's size, normalised when it gives
/// `image_mean`/`image_std` (saved beside the model as `preprocessor_config.json`).
pub fn preprocessor(config: &AutoencoderConfig) -> Preprocessor {
    let mut p = Preprocessor::raw(config.height, config.width);
    p.size = Size::HeightWidth { height: config.height, width: config.width };
    if !config.image_mean.is_empty() {
        p.do_normalize = true;
        p.image_mean = config.image_mean.clone();
        p.image_std = config.image_std.clone();
    }
    p
}

/// The model inputs of `set`: preprocessed (channel conversions as `data::images` documents them), binarised
/// at 0.5 when the config says so; pixels outside the range the likelihood needs are an error naming the image.
pub fn prepare(config: &AutoencoderConfig, set: &ImageSet) -> Result<Vec<Vec<f32>>> {
    let pre = preprocessor(config);
    let mut out = pre.apply_all(set, config.channels)?;
    if config.binarize {
        for x in &mut out {
            for v in x.iter_mut() {
                *v = if *v >= 0.5 { 1.0 } else { 0.0 };
            }
        }
    }
    if let Some((lo, hi)) = config.pixel_range() {
        for (x, src) in out.iter().zip(&set.sources) {
            if let Some(v) = x.iter().find(|v| !(**v >= lo && **v <= hi)) {
                crate::bail!(
                    Invalid,
                    "{src}: pixel value {v} is outside [{lo}, {hi}], which the {:?} likelihood needs",
                    config.likelihood
                );
            }
        }
    }
    Ok(out)
}

/// Writes a model directory whole (`checkpoint::commit_model_dir`): `config.json`, `model.safetensors`,
/// `preprocessor_config.json`.
pub fn save(gpu: &Gpu, model: &Autoencoder, dir: &Path) -> Result<()> {
    crate::checkpoint::commit_model_dir(dir, |tmp| {
        model.write(gpu, tmp)?;
        preprocessor(&model.config).save(tmp)
    })
}

/// Held-out figures, nats per image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HeldOut {
    /// The reconstruction negative log-likelihood (the VAE: with z sampled from the posterior; the DAE: of the
    /// clean input).
    pub recon_loss: f64,
    /// The VAE's KL(q(z|x) ‖ N(0, I)).
    pub kl: Option<f64>,
    /// The VAE's negative ELBO, recon_loss + kl (an upper bound on −log p(x)).
    pub neg_elbo: Option<f64>,
    pub images: usize,
}

/// Held-out loss of `images` under `model`, with the fixed evaluation noise.
pub fn held_out(gpu: &Gpu, model: &Autoencoder, images: &[Vec<f32>]) -> Result<HeldOut> {
    let vae = model.config.kind == Kind::Vae;
    let latent = model.config.latent;
    let (mut recon_sum, mut kl_sum) = (0.0f64, 0.0f64);
    for (k, chunk) in images.chunks(EVAL_BATCH).enumerate() {
        let refs: Vec<&Vec<f32>> = chunk.iter().collect();
        let x = model.batch_tensor(gpu, &refs)?;
        let b = chunk.len();
        let mut tape = Tape::inference(gpu);
        let (out, posterior) = if vae {
            let start = (k * EVAL_BATCH * latent) as u64;
            let eps = noise::normal(gpu, &[b, latent], EVAL_SEED, start)?;
            let f = model.forward(&mut tape, &x, Some(&eps), false)?;
            (f.out, f.posterior)
        } else {
            let f = model.forward(&mut tape, &x, None, true)?;
            (f.out, None)
        };
        let recon = model.recon_loss(&mut tape, out, &x)?;
        recon_sum += tape.value(recon).to_vec::<f32>(gpu)?[0] as f64 * b as f64;
        if let Some((mu, lv)) = posterior {
            let kl = kl_normal::kl_normal(gpu, tape.value(mu), tape.value(lv), 1.0 / b as f32)?;
            kl_sum += kl.loss.to_vec::<f32>(gpu)?[0] as f64 * b as f64;
        }
    }
    let n = images.len().max(1) as f64;
    let recon_loss = recon_sum / n;
    let kl = vae.then_some(kl_sum / n);
    Ok(HeldOut { recon_loss, kl, neg_elbo: kl.map(|k| recon_loss + k), images: images.len() })
}

/// The decoder's pixels `[n][pixels]` (model space: normalised when the model normalises) for codes `z`.
fn decode_pixels(gpu: &Gpu, model: &Autoencoder, tape: &mut Tape, z: Var) -> Result<Vec<Vec<f32>>> {
    let out = model.decode(tape, z)?;
    let px = model.to_pixels(tape, out)?;
    let d = model.config.input_dim();
    Ok(tape.value(px).to_vec::<f32>(gpu)?.chunks(d).map(|c| c.to_vec()).collect())
}

/// Rows of pictures for `images`: the originals, for the DAE the corrupted inputs (evaluation noise), and the
/// reconstructions (the DAE: of the corrupted input; the VAE: decoded from the posterior mean). Pixels in [0, 1].
pub fn reconstruction_rows(gpu: &Gpu, model: &Autoencoder, images: &[Vec<f32>]) -> Result<Vec<Vec<Vec<f32>>>> {
    let pre = preprocessor(&model.config);
    let c = model.config.channels;
    let unit = |v: &[f32]| pre.to_unit(v, c);
    let (mut originals, mut noisy, mut recons) = (Vec::new(), Vec::new(), Vec::new());
    let d = model.config.input_dim();
    for (k, chunk) in images.chunks(EVAL_BATCH).enumerate() {
        let refs: Vec<&Vec<f32>> = chunk.iter().collect();
        let x = model.batch_tensor(gpu, &refs)?;
        let input = model.corrupt(gpu, &x, EVAL_SEED, (k * EVAL_BATCH * d) as u64)?;
        let mut tape = Tape::inference(gpu);
        let xin = tape.constant(input.clone());
        let code = model.encode_tensor(&mut tape, xin)?; // the VAE's code layer is its mean
        let rec = decode_pixels(gpu, model, &mut tape, code)?;
        originals.extend(chunk.iter().map(|v| unit(v)));
        if model.config.kind == Kind::Dae {
            noisy.extend(input.to_vec::<f32>(gpu)?.chunks(d).map(unit));
        }
        recons.extend(rec.iter().map(|v| unit(v)));
    }
    Ok([originals, noisy, recons].into_iter().filter(|r| !r.is_empty()).collect())
}

/// Writes rows of images (each row the same length) as one PNG grid, 3× scale.
pub fn write_rows(path: &Path, model: &AutoencoderConfig, rows: &[Vec<Vec<f32>>]) -> Result<()> {
    let cols = rows.first().map_or(1, |r| r.len());
    let flat: Vec<Vec<f32>> = rows.iter().flatten().cloned().collect();
    ImageGrid { images: &flat, channels: model.channels, height: model.height, width: model.width, cols, scale: 3 }.write_png(path)
}

/// `count` images decoded from z ~ N(0, I) drawn under `seed` (a VAE's prior samples), pixels in [0, 1].
pub fn sample(gpu: &Gpu, model: &Autoencoder, count: usize, seed: u64) -> Result<Vec<Vec<f32>>> {
    if model.config.kind != Kind::Vae {
        crate::bail!(
            Invalid,
            "sampling needs a VAE (kind vae): a kind {} autoencoder has no prior to sample from (--interpolate works for every kind)",
            model.config.kind.name()
        );
    }
    let pre = preprocessor(&model.config);
    let z = noise::normal(gpu, &[count, model.config.latent], seed, 0)?;
    let mut tape = Tape::inference(gpu);
    let zv = tape.constant(z);
    Ok(decode_pixels(gpu, model, &mut tape, zv)?.iter().map(|v| pre.to_unit(v, model.config.channels)).collect())
}

/// `count` images decoded along the straight line between the codes (the VAE: posterior means) of `a` and `b`,
/// endpoints included; pixels in [0, 1].
pub fn interpolate(gpu: &Gpu, model: &Autoencoder, a: &[f32], b: &[f32], count: usize) -> Result<Vec<Vec<f32>>> {
    if count < 2 {
        crate::bail!(Invalid, "interpolation needs at least 2 points (got --count {count})");
    }
    let pre = preprocessor(&model.config);
    let (ta, tb) = (a.to_vec(), b.to_vec());
    let x = model.batch_tensor(gpu, &[&ta, &tb])?;
    let mut tape = Tape::inference(gpu);
    let xv = tape.constant(x);
    let codes = model.encode_tensor(&mut tape, xv)?;
    let c = tape.value(codes).to_vec::<f32>(gpu)?;
    let l = model.config.latent;
    let (ca, cb) = (&c[..l], &c[l..2 * l]);
    let mut z = Vec::with_capacity(count * l);
    for k in 0..count {
        let t = k as f32 / (count - 1) as f32;
        z.extend(ca.iter().zip(cb).map(|(p, q)| (1.0 - t) * p + t * q));
    }
    let zt = Tensor::from_slice(gpu, &z, &[count, l])?;
    let mut tape = Tape::inference(gpu);
    let zv = tape.constant(zt);
    Ok(decode_pixels(gpu, model, &mut tape, zv)?.iter().map(|v| pre.to_unit(v, model.config.channels)).collect())
}

/// The autoencoders' training recipe (`ae train`, the demo, the PyTorch twin): AdamW (β 0.9/0.999, ε 1e-8, no
/// weight decay), `lr` with cosine decay to 0 over `steps` and no warm-up, the loss logged every 10 steps, ten
/// evaluations a run (the last at the last step), no checkpoints (set `save_every`/`keep_last` after).
pub fn recipe(steps: u32, lr: f32, seed: u64, out_dir: Option<PathBuf>, phase: &str) -> (TrainConfig, Optimizer) {
    let config = TrainConfig {
        steps,
        schedule: Schedule { peak_lr: lr, min_lr: 0.0, warmup: 0, total: steps, kind: ScheduleKind::Cosine },
        seed,
        log_every: 10,
        eval_every: (steps / 10).max(1),
        save_every: 0,
        keep_last: None,
        out_dir,
        progress: false,
        phase: phase.to_string(),
    };
    (config, Optimizer::adamw(0.0))
}

/// Trains an autoencoder on unlabelled images; evaluates on held-out ones and draws their reconstructions.
pub struct AutoencoderTask {
    pub model: Autoencoder,
    /// Prepared training images (see `prepare`).
    pub train: Vec<Vec<f32>>,
    /// Prepared held-out images.
    pub eval: Vec<Vec<f32>>,
    pub batch: usize,
    /// Where each evaluation writes `reconstructions-step-K.png` (None: no pictures).
    pub out_dir: Option<PathBuf>,
    /// Held-out images in those pictures (the first ones).
    pub preview: usize,
    /// The step being run (set by the trainer).
    pub step: u32,
    /// The last evaluation.
    pub last: Option<HeldOut>,
}

impl AutoencoderTask {
    /// A task drawing batches of `batch` from `train`, evaluating on `eval`.
    pub fn new(model: Autoencoder, train: Vec<Vec<f32>>, eval: Vec<Vec<f32>>, batch: usize) -> Result<AutoencoderTask> {
        if train.is_empty() || batch == 0 {
            crate::bail!(Invalid, "autoencoder training needs images and a batch of at least 1 (got {} images, batch {batch})", train.len());
        }
        Ok(AutoencoderTask { model, train, eval, batch, out_dir: None, preview: 10, step: 0, last: None })
    }
}

impl Task for AutoencoderTask {
    fn params(&self) -> Vec<&Param> {
        self.model.params()
    }

    fn set_step(&mut self, step: u32) {
        self.step = step;
    }

    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let picks: Vec<&Vec<f32>> = (0..self.batch).map(|_| &self.train[rng.below(self.train.len())]).collect();
        let x = self.model.batch_tensor(tape.gpu(), &picks)?;
        Ok(self.model.loss(tape, &x, None)?.total)
    }

    fn evaluate(&mut self, gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        if self.eval.is_empty() {
            return Ok(Vec::new());
        }
        let h = held_out(gpu, &self.model, &self.eval)?;
        if let Some(dir) = &self.out_dir {
            let n = self.preview.min(self.eval.len());
            let rows = reconstruction_rows(gpu, &self.model, &self.eval[..n])?;
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            write_rows(&dir.join(format!("reconstructions-step-{}.png", self.step)), &self.model.config, &rows)?;
        }
        let mut m = vec![("eval_recon_loss".to_string(), h.recon_loss)];
        if let (Some(kl), Some(ne)) = (h.kl, h.neg_elbo) {
            m.push(("eval_kl".into(), kl));
            m.push(("eval_neg_elbo".into(), ne));
        }
        self.last = Some(h);
        Ok(m)
    }
}
