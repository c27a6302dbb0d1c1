//! The feed-forward network and the transformer block, in post-LN (BERT) and pre-LN (ViT) forms.
use super::{Init, LayerNorm, Linear, MultiHeadSelfAttention, Param};
use crate::autograd::{ops, Tape, Var};
use crate::gpu::Gpu;
use crate::kernels::activation::Activation;
use crate::rng::Rng;
use crate::{Result, Tensor};

/// x → down(act(up(x))).
#[derive(Debug, Clone)]
pub struct FeedForward {
    pub up: Linear,
    pub down: Linear,
    pub act: Activation,
}

impl FeedForward {
    /// Layers named `up` and `down`.
    pub fn new(gpu: &Gpu, up: &str, down: &str, d_model: usize, d_ff: usize, act: Activation, init: Init, rng: &mut Rng) -> Result<Self> {
        Ok(FeedForward { up: Linear::new(gpu, up, d_model, d_ff, true, init, rng)?, down: Linear::new(gpu, down, d_ff, d_model, true, init, rng)?, act })
    }

    /// Applies the network over the last axis.
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let h = self.up.forward(tape, x)?;
        let h = ops::activation(tape, h, self.act)?;
        self.down.forward(tape, h)
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        self.up.params().into_iter().chain(self.down.params()).collect()
    }
}

/// Checkpoint names of one block's parts.
#[derive(Debug, Clone)]
pub struct BlockNames {
    pub query: String,
    pub key: String,
    pub value: String,
    pub attn_out: String,
    /// The norm around attention (BERT: after it; ViT: before it).
    pub norm1: String,
    pub ff_up: String,
    pub ff_down: String,
    pub norm2: String,
}

impl BlockNames {
    /// HuggingFace BERT names under `prefix` (e.g. "encoder.layer.3").
    pub fn bert(prefix: &str) -> BlockNames {
        BlockNames {
            query: format!("{prefix}.attention.self.query"),
            key: format!("{prefix}.attention.self.key"),
            value: format!("{prefix}.attention.self.value"),
            attn_out: format!("{prefix}.attention.output.dense"),
            norm1: format!("{prefix}.attention.output.LayerNorm"),
            ff_up: format!("{prefix}.intermediate.dense"),
            ff_down: format!("{prefix}.output.dense"),
            norm2: format!("{prefix}.output.LayerNorm"),
        }
    }

    /// HuggingFace ViT / ViT-MAE names under `prefix` (e.g. "encoder.layer.3").
    pub fn vit(prefix: &str) -> BlockNames {
        BlockNames {
            query: format!("{prefix}.attention.attention.query"),
            key: format!("{prefix}.attention.attention.key"),
            value: format!("{prefix}.attention.attention.value"),
            attn_out: format!("{prefix}.attention.output.dense"),
            norm1: format!("{prefix}.layernorm_before"),
            ff_up: format!("{prefix}.intermediate.dense"),
            ff_down: format!("{prefix}.output.dense"),
            norm2: format!("{prefix}.layernorm_after"),
        }
    }
}

/// One transformer encoder block.
#[derive(Debug, Clone)]
pub struct TransformerBlock {
    pub attention: MultiHeadSelfAttention,
    pub norm1: LayerNorm,
    pub ffn: FeedForward,
    pub norm2: LayerNorm,
    /// Pre-LN (ViT: x + f(LN(x))) rather than post-LN (BERT: LN(x + f(x))).
    pub pre_ln: bool,
    /// Dropout on each residual branch while training.
    pub dropout: f32,
    /// Dropout on the attention probabilities while training.
    pub attn_dropout: f32,
}

/// The sizes and flavour of a block.
#[derive(Debug, Clone, Copy)]
pub struct BlockConfig {
    pub d_model: usize,
    pub heads: usize,
    pub d_ff: usize,
    pub eps: f32,
    pub pre_ln: bool,
    pub dropout: f32,
    /// Dropout on the attention probabilities (HF's `attention_probs_dropout_prob`).
    pub attn_dropout: f32,
    pub act: Activation,
    pub init: Init,
}

impl TransformerBlock {
    /// A block with parameters named by `names`.
    pub fn new(gpu: &Gpu, names: &BlockNames, c: &BlockConfig, rng: &mut Rng) -> Result<Self> {
        Ok(TransformerBlock {
            attention: MultiHeadSelfAttention::new(gpu, [&names.query, &names.key, &names.value, &names.attn_out], c.d_model, c.heads, c.init, rng)?,
            norm1: LayerNorm::new(gpu, &names.norm1, c.d_model, c.eps)?,
            ffn: FeedForward::new(gpu, &names.ff_up, &names.ff_down, c.d_model, c.d_ff, c.act, c.init, rng)?,
            norm2: LayerNorm::new(gpu, &names.norm2, c.d_model, c.eps)?,
            pre_ln: c.pre_ln,
            dropout: c.dropout,
            attn_dropout: c.attn_dropout,
        })
    }

    /// x: [batch, seq, d_model] → same shape.
    pub fn forward(&self, tape: &mut Tape, x: Var, lengths: Option<&Tensor>) -> Result<Var> {
        if self.pre_ln {
            let h = self.norm1.forward(tape, x)?;
            let h = self.attention.forward(tape, h, lengths, self.attn_dropout)?;
            let h = ops::dropout(tape, h, self.dropout)?;
            let x = ops::add(tape, x, h)?;
            let h = self.norm2.forward(tape, x)?;
            let h = self.ffn.forward(tape, h)?;
            let h = ops::dropout(tape, h, self.dropout)?;
            ops::add(tape, x, h)
        } else {
            let h = self.attention.forward(tape, x, lengths, self.attn_dropout)?;
            let h = ops::dropout(tape, h, self.dropout)?;
            let h = ops::add(tape, x, h)?;
            let x = self.norm1.forward(tape, h)?;
            let h = self.ffn.forward(tape, x)?;
            let h = ops::dropout(tape, h, self.dropout)?;
            let h = ops::add(tape, x, h)?;
            self.norm2.forward(tape, h)
        }
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        let mut p = self.attention.params();
        p.extend(self.norm1.params());
        p.extend(self.ffn.params());
        p.extend(self.norm2.params());
        p
    }
}
