//! Multi-head self-attention through the fused attention kernel.
use super::{Init, Linear, Param};
use crate::autograd::{ops, Tape, Var};
use crate::gpu::Gpu;
use crate::kernels::attention::Layout;
use crate::rng::Rng;
use crate::{Result, Tensor};

/// Q, K, V projections, fused attention over heads, and the output projection.
#[derive(Debug, Clone)]
pub struct MultiHeadSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub heads: usize,
}

impl MultiHeadSelfAttention {
    /// Projections named `names` = [query, key, value, output] (each gets `.weight` and `.bias`).
    pub fn new(gpu: &Gpu, names: [&str; 4], d_model: usize, heads: usize, init: Init, rng: &mut Rng) -> Result<Self> {
        if heads == 0 || d_model % heads != 0 {
            crate::bail!(Invalid, "attention: hidden size {d_model} is not a multiple of {heads} heads");
        }
        Ok(MultiHeadSelfAttention {
            query: Linear::new(gpu, names[0], d_model, d_model, true, init, rng)?,
            key: Linear::new(gpu, names[1], d_model, d_model, true, init, rng)?,
            value: Linear::new(gpu, names[2], d_model, d_model, true, init, rng)?,
            output: Linear::new(gpu, names[3], d_model, d_model, true, init, rng)?,
            heads,
        })
    }

    /// x: [batch, seq, d_model] → [batch, seq, d_model]; keys at or beyond lengths\[b\] are masked.
    pub fn forward(&self, tape: &mut Tape, x: Var, lengths: Option<&Tensor>, attn_dropout: f32) -> Result<Var> {
        let [batch, seq, d_model] = tape.value(x).dims::<3>("attention", "x")?;
        let (h, d) = (self.heads, d_model / self.heads);
        // [batch, seq, heads, head_dim]: the attention kernel reads heads in place, no permute.
        let split = |tape: &mut Tape, t: Var| ops::reshape(tape, t, &[batch, seq, h, d]);
        let q = self.query.forward(tape, x)?;
        let q = split(tape, q)?;
        let k = self.key.forward(tape, x)?;
        let k = split(tape, k)?;
        let v = self.value.forward(tape, x)?;
        let v = split(tape, v)?;
        // Dropout on the probabilities while training (HF's attention_probs_dropout_prob), inside both attention
        // paths, the mask regenerated in the backward pass.
        let o = ops::attention_dropout(tape, q, k, v, lengths, false, 1.0 / (d as f32).sqrt(), Layout::SeqFirst, attn_dropout)?;
        let o = ops::reshape(tape, o, &[batch, seq, d_model])?;
        self.output.forward(tape, o)
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        [&self.query, &self.key, &self.value, &self.output].into_iter().flat_map(|l| l.params()).collect()
    }
}
