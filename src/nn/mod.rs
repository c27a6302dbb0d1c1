//! Layers: parameters with HuggingFace-style dotted names, initialisers, and `Config -> new -> forward` modules.
pub mod attention;
pub mod block;
pub mod layers;

pub use attention::MultiHeadSelfAttention;
pub use block::{BlockConfig, BlockNames, FeedForward, TransformerBlock};
pub use layers::{BatchNorm1d, Dropout, Embedding, LayerNorm, Linear};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::autograd::{ParamId, Tape, Var};
use crate::gpu::Gpu;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::Result;

/// A trainable tensor with its checkpoint name and whether weight decay applies to it.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: Tensor,
    pub id: ParamId,
    /// Weight decay applies (false for biases and norm weights).
    pub decay: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Param {
    /// A parameter named `name` holding `value`.
    pub fn new(name: impl Into<String>, value: Tensor, decay: bool) -> Param {
        Param { name: name.into(), value, id: ParamId(NEXT_ID.fetch_add(1, Ordering::Relaxed)), decay }
    }

    /// This parameter as a leaf of `tape` (its gradient comes back from `backward`).
    pub fn var(&self, tape: &mut Tape) -> Var {
        tape.param(self.id, &self.value)
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.value.numel()
    }
}

/// How to fill a new parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Normal with mean 0 and this standard deviation (BERT and ViT use 0.02).
    Normal(f32),
    /// Glorot/Xavier uniform: U(±sqrt(6 / (fan_in + fan_out))) for a [fan_out, fan_in] weight.
    XavierUniform,
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
}

/// A new f32 tensor of `shape` filled by `init` from `rng`.
pub fn init_tensor(gpu: &Gpu, shape: &[usize], init: Init, rng: &mut Rng) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = match init {
        Init::Normal(std) => (0..n).map(|_| (rng.normal() * std as f64) as f32).collect(),
        Init::XavierUniform => {
            let (fan_out, fan_in) = match shape {
                [o, i] => (*o, *i),
                _ => (n, n),
            };
            let a = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
            (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) * a) as f32).collect()
        }
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
    };
    Tensor::from_slice(gpu, &data, shape)
}
