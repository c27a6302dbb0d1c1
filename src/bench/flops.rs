//! Model FLOPs of a training step, counted from a model's configuration: 2·M·N·K over every matrix product of
//! the forward pass, plus the backward pass's gradient products (dA = dC·op(B)ᵀ and dB = op(A)ᵀ·dC, each
//! 2·M·N·K, for the operands that need a gradient). Elementwise work, norms, softmax, losses and the optimizer
//! are not counted: this is the usual "model FLOPs" convention, so `% of peak` says how much of the device's
//! multiply-add rate the step turns into model arithmetic, whatever the kernels do around the products.
//!
//! The helpers compose: a family's step is a sum of `linear`, `attention` and `encoder_block` calls (see
//! `bert_mlm_step`, `bert_classify_step`). `Gpu::product_flops` counts the products the engine actually records,
//! so a test can hold a formula to what runs.
use crate::models::bert::BertConfig;

/// FLOPs of one training step, split into the forward pass and the backward pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepFlops {
    /// 2·M·N·K over the forward products.
    pub forward: f64,
    /// 2·M·N·K over the backward (gradient) products.
    pub backward: f64,
    /// The part of `forward + backward` in attention's score and mixing products (S = Q·Kᵀ, O = P·V and their
    /// gradients), which a fused attention kernel computes without the matmul launcher.
    pub attention: f64,
}

impl StepFlops {
    /// Forward plus backward.
    pub fn total(&self) -> f64 {
        self.forward + self.backward
    }

    /// `batch` products [m, k]·[k, n]; the backward pass computes dA when `grad_a` and dB when `grad_b`.
    pub fn product(&mut self, batch: usize, m: usize, n: usize, k: usize, grad_a: bool, grad_b: bool) {
        let f = 2.0 * batch as f64 * m as f64 * n as f64 * k as f64;
        self.forward += f;
        self.backward += f * (grad_a as u8 + grad_b as u8) as f64;
    }

    /// A linear layer y = x·Wᵀ (+ b) on `rows` rows, W trained; the input's gradient when `grad_input`.
    pub fn linear(&mut self, rows: usize, d_in: usize, d_out: usize, grad_input: bool) {
        self.product(1, rows, d_out, d_in, grad_input, true);
    }

    /// Attention of `batch`·`heads` heads: S = Q·Kᵀ ([seq_q, head_dim] by [seq_k, head_dim]) and O = P·V,
    /// with all four gradient products (dQ, dK, dP, dV) in the backward pass.
    pub fn attention(&mut self, batch: usize, heads: usize, seq_q: usize, seq_k: usize, head_dim: usize) {
        let before = self.total();
        self.product(batch * heads, seq_q, seq_k, head_dim, true, true);
        self.product(batch * heads, seq_q, head_dim, seq_k, true, true);
        self.attention += self.total() - before;
    }

    /// A transformer encoder block on [batch, seq, d_model]: the Q, K, V and output projections, attention over
    /// `heads` heads, and the feed-forward network d_model → d_ff → d_model. `grad_input`: whether the block's
    /// input needs a gradient (false only for a first block whose input is not trained).
    pub fn encoder_block(&mut self, batch: usize, seq: usize, d_model: usize, heads: usize, d_ff: usize, grad_input: bool) {
        let rows = batch * seq;
        for _ in 0..3 {
            self.linear(rows, d_model, d_model, grad_input);
        }
        self.attention(batch, heads, seq, seq, d_model / heads.max(1));
        self.linear(rows, d_model, d_model, true);
        self.linear(rows, d_model, d_ff, true);
        self.linear(rows, d_ff, d_model, true);
    }

    /// The encoder of BERT (every layer; the embeddings are trained, so every input needs its gradient).
    pub fn bert_encoder(&mut self, c: &BertConfig, batch: usize, seq: usize) {
        for _ in 0..c.num_hidden_layers {
            self.encoder_block(batch, seq, c.hidden_size, c.num_attention_heads, c.intermediate_size, true);
        }
    }
}

/// A masked-LM step of BERT (`tasks::MlmTask`): the encoder, then the head's transform and the tied decoder at
/// `masked` positions (the expected count may be fractional: 15% of the maskable tokens).
pub fn bert_mlm_step(c: &BertConfig, batch: usize, seq: usize, masked: f64) -> StepFlops {
    let mut f = StepFlops::default();
    f.bert_encoder(c, batch, seq);
    let h = c.hidden_size as f64;
    // transform dense [masked, h]·[h, h] and decoder [masked, h]·[h, vocab], both with dX and dW
    let head = 2.0 * masked * h * (h + c.vocab_size as f64);
    f.forward += head;
    f.backward += 2.0 * head;
    f
}

/// A sequence-classification step of BERT (`tasks::ClassifyTask`): the encoder, the pooling the config names
/// (HF's tanh pooler on \[CLS\], or the mean of the tokens, itself a product [1, seq]·[seq, h] per sequence) and
/// the linear classifier of `classes` classes.
pub fn bert_classify_step(c: &BertConfig, batch: usize, seq: usize, classes: usize) -> StepFlops {
    let mut f = StepFlops::default();
    f.bert_encoder(c, batch, seq);
    let h = c.hidden_size;
    if c.classifier_pooling == "mean" {
        f.product(batch, 1, h, seq, false, true);
    } else {
        f.linear(batch, h, h, true);
    }
    f.linear(batch, h, classes, true);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_bert_step_is_three_times_its_forward() {
        let c = BertConfig { vocab_size: 8192, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512, ..BertConfig::default() };
        let f = bert_mlm_step(&c, 16, 64, 150.0);
        // per layer: 4·2·1024·128² (projections) + 2·2·1024·128·512 (FFN) + 2·2·32·64²·64 (attention)
        let layer = 4.0 * 2.0 * 1024.0 * 128.0 * 128.0 + 2.0 * 2.0 * 1024.0 * 128.0 * 512.0 + 2.0 * 2.0 * 32.0 * 64.0 * 64.0 * 64.0;
        let head = 2.0 * 150.0 * 128.0 * (128.0 + 8192.0);
        assert_eq!(f.forward, 2.0 * layer + head);
        assert_eq!(f.backward, 2.0 * f.forward);
        assert_eq!(f.attention, 2.0 * 3.0 * 2.0 * 2.0 * 32.0 * 64.0 * 64.0 * 64.0);
    }

    #[test]
    fn a_frozen_input_skips_its_gradient_product() {
        let mut f = StepFlops::default();
        f.linear(10, 3, 7, false);
        assert_eq!((f.forward, f.backward), (420.0, 420.0));
        f.linear(10, 3, 7, true);
        assert_eq!((f.forward, f.backward), (840.0, 1260.0));
    }
}
