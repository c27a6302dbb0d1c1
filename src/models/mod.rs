//! Models built from `nn` layers, one file per family, with the HuggingFace directory conventions they share
//! (`hf`) and the heads any encoder can carry (`heads`).
pub mod autoencoder;
pub mod bert;
pub mod heads;
pub mod hf;

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
/// the one place that knows every image family (`pretext_autoencoder` today; `vit`/`vit_mae` join here).
/// A directory of another family is an error naming it.
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
        other => {
            return Err(Error::Invalid(format!(
                "{}: model_type {other:?} is not an image encoder this build can load (image families: {:?})",
                path.display(),
                autoencoder::MODEL_TYPE
            )));
        }
    };
    Ok(ImageEncoder { encoder, model_type, channels, height, width })
}
