//! Models built from `nn` layers, one file per family, with the HuggingFace directory conventions they share
//! (`hf`) and the heads any encoder can carry (`heads`).
pub mod autoencoder;
pub mod bert;
pub mod heads;
pub mod hf;
pub mod mae;
pub mod vit;

use std::path::Path;

use crate::autograd::{Tape, Var};
use crate::gpu::Gpu;
use crate::nn::Param;
use crate::{Error, Result};

/// A model that maps a batch of examples to one feature vector each: what classifiers and probes read.
pub trait Encoder {
    /// One input: token ids, an image.
    type Example;
    /// Pooled features `[batch, dim]` of `batch`, recorded on `tape`.
    fn encode(&self, tape: &mut Tape, batch: &[&Self::Example]) -> Result<Var>;
    /// The features of the last `blocks` blocks, each pooled as `encode` pools the last one, concatenated
    /// `[batch, blocks · dim]` (a richer frozen feature for a linear probe); an encoder without blocks takes only 1.
    fn encode_blocks(&self, tape: &mut Tape, batch: &[&Self::Example], blocks: usize) -> Result<Var> {
        if blocks != 1 {
            crate::bail!(Invalid, "this encoder has no blocks to concatenate: blocks must be 1, not {blocks}");
        }
        self.encode(tape, batch)
    }
    /// The width of a feature vector.
    fn dim(&self) -> usize;
    /// The parameters that fine-tuning updates.
    fn params(&self) -> Vec<&Param>;
}

/// An image encoder loaded from a model directory, with the input it takes.
pub struct ImageEncoder {
    /// Maps preprocessed images (`[channels, height, width]` each, flattened) to features.
    pub encoder: Box<dyn Encoder<Example = Vec<f32>>>,
    /// The family, from `config.json`'s `model_type`.
    pub model_type: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// Which weights `load_image_encoder` gives the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// The trained weights of the directory.
    Trained,
    /// The same architecture at its initial weights, rebuilt from the seed its config stores (the `init`
    /// baseline of a probe).
    Init,
}

/// Loads the image encoder of any model directory the engine writes, keyed by `config.json`'s `model_type`:
/// the one place that knows every image family (`pretext_autoencoder`, `vit` and `vit_mae`). A directory of
/// another family is an error naming it. A ViT's initial weights are `Vit::new` from `Rng::new(init_seed)`,
/// pretext's own field in `config.json` (the contrastive encoders write it); without it `Init` is an error.
pub fn load_image_encoder(gpu: &Gpu, dir: &Path, weights: Weights) -> Result<ImageEncoder> {
    let path = dir.join("config.json");
    let v: serde_json::Value = hf::read_config(&path)?;
    let model_type = v.get("model_type").and_then(|m| m.as_str()).unwrap_or("(none)").to_string();
    let init_only = weights == Weights::Init;
    let (encoder, channels, height, width): (Box<dyn Encoder<Example = Vec<f32>>>, usize, usize, usize) = match model_type.as_str() {
        autoencoder::MODEL_TYPE => {
            let m = autoencoder::Autoencoder::load(gpu, dir, init_only)?;
            let c = &m.config;
            let dims = (c.channels, c.height, c.width);
            (Box::new(m), dims.0, dims.1, dims.2)
        }
        "vit" | "vit_mae" => {
            let m = load_vit_encoder(gpu, dir, &v, init_only)?;
            let (c, s) = (m.config.num_channels, m.config.image_size);
            (Box::new(m), c, s, s)
        }
        other => {
            return Err(Error::Invalid(format!(
                "{}: model_type {other:?} is not an image encoder this build can load (image families: {:?}, \"vit\", \"vit_mae\")",
                path.display(),
                autoencoder::MODEL_TYPE
            )));
        }
    };
    Ok(ImageEncoder { encoder, model_type, channels, height, width })
}

/// The ViT encoder of a `vit` / `vit_mae` directory: trained (its `model.safetensors`, names with or without
/// `vit.`), or at its initial weights (`init_seed` of `config.json`).
fn load_vit_encoder(gpu: &Gpu, dir: &Path, json: &serde_json::Value, init_only: bool) -> Result<vit::Vit> {
    let path = dir.join("config.json");
    let config = vit::ViTConfig::from_file(&path)?;
    let seed = json.get("init_seed").and_then(|s| s.as_u64());
    if init_only {
        let Some(seed) = seed else {
            crate::bail!(Invalid, "{}: no init_seed, so the encoder's initial weights cannot be rebuilt for the init baseline", path.display());
        };
        return vit::Vit::new(gpu, &config, &mut crate::rng::Rng::new(seed));
    }
    let m = vit::Vit::new(gpu, &config, &mut crate::rng::Rng::new(seed.unwrap_or(0)))?;
    let file = vit::canonical_names(crate::checkpoint::load(&dir.join("model.safetensors"))?);
    let report = vit::load_params(gpu, &file, &m.all_params())?;
    let missing: Vec<&String> = report.missing.iter().filter(|n| !n.starts_with("fc_norm.")).collect();
    if !missing.is_empty() {
        crate::bail!(Invalid, "{}: missing encoder tensors {missing:?}", file.path.display());
    }
    Ok(m)
}
