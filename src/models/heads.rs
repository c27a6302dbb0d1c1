//! Heads that any encoder can carry; they take sizes, never a model's config.
use crate::autograd::{ops, Tape, Var};
use crate::gpu::Gpu;
use crate::nn::{Init, Linear, Param};
use crate::rng::Rng;
use crate::Result;

/// A linear classifier on pooled features: `{name}.weight` [classes, d_in], `{name}.bias` \[classes\].
#[derive(Debug, Clone)]
pub struct Classifier {
    pub linear: Linear,
}

impl Classifier {
    /// A fresh classifier of `classes` classes over `d_in` features (HF calls it `classifier`).
    pub fn new(gpu: &Gpu, name: &str, d_in: usize, classes: usize, init: Init, rng: &mut Rng) -> Result<Classifier> {
        Ok(Classifier { linear: Linear::new(gpu, name, d_in, classes, true, init, rng)? })
    }

    /// Logits [batch, classes] from pooled features [batch, d_in] (dropout first while training, as HF).
    pub fn forward(&self, tape: &mut Tape, pooled: Var, dropout: f32) -> Result<Var> {
        let x = ops::dropout(tape, pooled, dropout)?;
        self.linear.forward(tape, x)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.linear.d_out()
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        self.linear.params()
    }
}
