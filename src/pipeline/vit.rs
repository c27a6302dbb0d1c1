//! The library API for a ViT or ViT-MAE model directory (`config.json`, `model.safetensors`,
//! `preprocessor_config.json`): load it, then reconstruct masked images (MAE), embed or classify images.
//!
//! ```no_run
//! # fn main() -> pretext::Result<()> {
//! use pretext::data::images::ImageSet;
//! let gpu = pretext::Gpu::new(&Default::default())?;
//! let model = pretext::pipeline::VitPipeline::load(&gpu, "runs/mae".as_ref())?;
//! let images = model.preprocess(&ImageSet::load(&["shirt.png".into()])?)?;
//! let recon = model.reconstruct(&gpu, &images, None, None, &mut pretext::rng::Rng::new(0))?;
//! let features = model.embed(&gpu, &images)?;
//! # Ok(()) }
//! ```
use std::path::{Path, PathBuf};

use crate::autograd::Tape;
use crate::checkpoint;
use crate::data::images::{ImageSet, Preprocessor};
use crate::gpu::Gpu;
use crate::models::hf::LoadReport;
use crate::models::heads::Classifier;
use crate::models::mae::{Mae, MaeDecoder, Masking};
use crate::models::vit::{self, ViTConfig, Vit};
use crate::models::Encoder;
use crate::nn::{Init, Param};
use crate::rng::Rng;
use crate::tasks::mae::{reconstruct, Reconstruction};
use crate::{Error, Result};

/// A loaded model directory: the encoder and whichever heads the checkpoint had.
pub struct VitPipeline {
    pub dir: PathBuf,
    pub config: ViTConfig,
    pub preprocessor: Preprocessor,
    pub vit: Vit,
    /// The MAE decoder (ViT-MAE directories).
    pub decoder: Option<MaeDecoder>,
    /// The classification head (directories with `classifier.*` and `id2label`).
    pub classifier: Option<Classifier>,
    /// Class names, index order.
    pub labels: Vec<String>,
    pub report: LoadReport,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl VitPipeline {
    /// Loads `config.json`, `model.safetensors` and `preprocessor_config.json` (default: pixels scaled to
    /// [0, 1]) from `dir`. The decoder names of both transformers' saves (`decoder.decoder_layers.N`, and
    /// `decoder.decoder_encoder.layer.N` from transformers 5) are read.
    pub fn load(gpu: &Gpu, dir: &Path) -> Result<VitPipeline> {
        if !dir.is_dir() {
            crate::bail!(Io, "{}: model directory not found", dir.display());
        }
        let config = ViTConfig::from_file(&dir.join("config.json"))?;
        let preprocessor = Preprocessor::from_dir(dir, config.image_size, config.image_size)?;
        let (h, w) = preprocessor.size.hw();
        if (h, w) != (config.image_size, config.image_size) {
            crate::bail!(
                Invalid,
                "{}: preprocessor_config.json resizes to {h}x{w}, the model takes {s}x{s}",
                dir.display(),
                s = config.image_size
            );
        }
        let file = vit::canonical_names(checkpoint::load(&dir.join("model.safetensors"))?);
        let has = |prefix: &str| file.tensors.keys().any(|k| k.starts_with(prefix));
        let mut rng = Rng::new(0);
        let vit = Vit::new(gpu, &config, &mut rng)?;
        let decoder = if config.is_mae() && has("decoder.") { Some(MaeDecoder::new(gpu, &config, &mut rng)?) } else { None };
        let labels = config.labels();
        let classifier = if has("classifier.") && !labels.is_empty() {
            Some(Classifier::new(gpu, "classifier", config.hidden_size, labels.len(), Init::Normal(config.initializer_range), &mut rng)?)
        } else {
            None
        };
        let mut params = vit.all_params();
        if let Some(d) = &decoder {
            params.extend(d.all_params());
        }
        if let Some(c) = &classifier {
            params.extend(c.params());
        }
        let report = vit::load_params(gpu, &file, &params)?;
        let missing: Vec<&String> = report.missing.iter().filter(|n| !n.starts_with("fc_norm.")).collect();
        if !missing.is_empty() {
            crate::bail!(Invalid, "{}: missing tensors of a {} model: {missing:?}", file.path.display(), config.model_type);
        }
        Ok(VitPipeline { dir: dir.to_path_buf(), config, preprocessor, vit, decoder, classifier, labels, report, batch_size: 64 })
    }

    /// The model inputs of `set`: converted to the model's channels, resized when the preprocessor says so,
    /// rescaled and normalised; an image that does not fit is an error naming its file.
    pub fn preprocess(&self, set: &ImageSet) -> Result<Vec<Vec<f32>>> {
        self.preprocessor.apply_all(set, self.config.num_channels)
    }

    /// Pooled features `[hidden]` of each image, as the config's `classifier_pooling` says (the \[CLS\] row of
    /// the last hidden state for "cls").
    pub fn embed(&self, gpu: &Gpu, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let d = self.config.hidden_size;
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch_size.max(1)) {
            let refs: Vec<&Vec<f32>> = chunk.iter().collect();
            let mut tape = Tape::inference(gpu);
            let pooled = self.vit.encode(&mut tape, &refs)?;
            out.extend(tape.value(pooled).to_vec::<f32>(gpu)?.chunks(d).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// The predicted label and class probabilities of each image.
    pub fn classify(&self, gpu: &Gpu, images: &[Vec<f32>]) -> Result<Vec<(String, Vec<f32>)>> {
        let head = self.classifier.as_ref().ok_or_else(|| {
            Error::Invalid(format!("{}: the checkpoint has no classification head (classifier.*, id2label)", self.dir.display()))
        })?;
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch_size.max(1)) {
            let refs: Vec<&Vec<f32>> = chunk.iter().collect();
            let mut tape = Tape::inference(gpu);
            let pooled = self.vit.encode(&mut tape, &refs)?;
            let logits = head.forward(&mut tape, pooled, 0.0)?;
            for row in tape.value(logits).to_vec::<f32>(gpu)?.chunks(self.labels.len()) {
                let probs = softmax(row);
                let best = (0..probs.len()).max_by(|&a, &b| probs[a].total_cmp(&probs[b]).then(b.cmp(&a))).unwrap_or(0);
                out.push((self.labels[best].clone(), probs));
            }
        }
        Ok(out)
    }

    /// MAE reconstructions of `images`: masks from `noise` (one row of L values per image, HF's `noise`) or drawn
    /// from `rng`, at `mask_ratio` (default: the config's).
    pub fn reconstruct(&self, gpu: &Gpu, images: &[Vec<f32>], noise: Option<&[Vec<f32>]>, mask_ratio: Option<f64>, rng: &mut Rng) -> Result<Vec<Reconstruction>> {
        let decoder = self.decoder.as_ref().ok_or_else(|| {
            Error::Invalid(format!("{}: not a ViT-MAE model with a decoder (model_type vit_mae, decoder.* tensors)", self.dir.display()))
        })?;
        let ratio = mask_ratio.unwrap_or(self.config.mask_ratio());
        if !(0.0..1.0).contains(&ratio) {
            crate::bail!(Invalid, "--mask-ratio {ratio} must lie in [0, 1)");
        }
        let l = self.config.num_patches();
        if let Some(n) = noise {
            if n.len() != images.len() {
                crate::bail!(Invalid, "noise: {} rows for {} images (one array of {l} numbers per image)", n.len(), images.len());
            }
            if let Some((i, row)) = n.iter().enumerate().find(|(_, r)| r.len() != l) {
                crate::bail!(Invalid, "noise: row {i} has {} numbers, the model has {l} patches per image", row.len());
            }
        }
        let mae = Mae { vit: self.vit.clone(), decoder: decoder.clone() };
        let mut out = Vec::with_capacity(images.len());
        let bs = self.batch_size.max(1);
        for (ci, chunk) in images.chunks(bs).enumerate() {
            let b = chunk.len();
            let masking = match noise {
                Some(n) => Masking::from_noise(&n[ci * bs..ci * bs + b].concat(), b, l, ratio)?,
                None => Masking::random(rng, b, l, ratio)?,
            };
            let refs: Vec<&Vec<f32>> = chunk.iter().collect();
            out.extend(reconstruct(gpu, &mae, &self.preprocessor, &refs, &masking)?);
        }
        Ok(out)
    }

    /// Every parameter of the loaded model (encoder and heads).
    pub fn params(&self) -> Vec<&Param> {
        let mut p = self.vit.all_params();
        if let Some(d) = &self.decoder {
            p.extend(d.all_params());
        }
        if let Some(c) = &self.classifier {
            p.extend(c.params());
        }
        p
    }
}

/// Softmax of one row of logits, in f64.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = row.iter().map(|&x| (x as f64 - max).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|x| (x / z) as f32).collect()
}
