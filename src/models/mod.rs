//! Models built from `nn` layers, one file per family, with the HuggingFace directory conventions they share
//! (`hf`) and the heads any encoder can carry (`heads`).
pub mod bert;
pub mod heads;
pub mod hf;
pub mod mae;
pub mod vit;

use crate::autograd::{Tape, Var};
use crate::nn::Param;
use crate::Result;

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
