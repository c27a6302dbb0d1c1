//! Linear, LayerNorm, BatchNorm1d and Embedding.
use super::{init_tensor, Init, Param};
use crate::autograd::{ops, Tape, Var};
use crate::gpu::Gpu;
use crate::rng::Rng;
use crate::{Result, Tensor};

/// y = x·Wᵀ + b; weight `{name}.weight` [out, in], bias `{name}.bias` \[out\].
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Param,
    pub bias: Option<Param>,
}

impl Linear {
    /// A layer with `init` weights and zero bias.
    pub fn new(gpu: &Gpu, name: &str, d_in: usize, d_out: usize, bias: bool, init: Init, rng: &mut Rng) -> Result<Linear> {
        let weight = Param::new(format!("{name}.weight"), init_tensor(gpu, &[d_out, d_in], init, rng)?, true);
        let bias = if bias { Some(Param::new(format!("{name}.bias"), init_tensor(gpu, &[d_out], Init::Zeros, rng)?, false)) } else { None };
        Ok(Linear { weight, bias })
    }

    /// Applies the layer over the last axis of x.
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let w = self.weight.var(tape);
        let b = self.bias.as_ref().map(|b| b.var(tape));
        ops::linear(tape, x, w, b)
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        std::iter::once(&self.weight).chain(self.bias.as_ref()).collect()
    }

    /// Output features.
    pub fn d_out(&self) -> usize {
        self.weight.value.shape()[0]
    }
}

/// Layer-norm over the last axis; `{name}.weight` (γ) and `{name}.bias` (β), no weight decay.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub weight: Param,
    pub bias: Param,
    pub eps: f32,
}

impl LayerNorm {
    /// γ = 1, β = 0.
    pub fn new(gpu: &Gpu, name: &str, dim: usize, eps: f32) -> Result<LayerNorm> {
        let mut rng = Rng::new(0);
        Ok(LayerNorm {
            weight: Param::new(format!("{name}.weight"), init_tensor(gpu, &[dim], Init::Ones, &mut rng)?, false),
            bias: Param::new(format!("{name}.bias"), init_tensor(gpu, &[dim], Init::Zeros, &mut rng)?, false),
            eps,
        })
    }

    /// Normalises x over its last axis.
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let (g, b) = (self.weight.var(tape), self.bias.var(tape));
        ops::layer_norm(tape, x, g, b, self.eps)
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }
}

/// BatchNorm1d over the rows of `[rows, dim]` (torch.nn.BatchNorm1d): `{name}.weight` (γ) and `{name}.bias` (β)
/// when affine (no weight decay), and the buffers `{name}.running_mean`, `{name}.running_var`, updated with
/// `momentum` (PyTorch's 0.1) by every forward pass while the tape is training, read when it is not.
#[derive(Debug, Clone)]
pub struct BatchNorm1d {
    pub name: String,
    pub weight: Option<Param>,
    pub bias: Option<Param>,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f32,
    pub eps: f32,
}

impl BatchNorm1d {
    /// γ = 1, β = 0 (when affine), running mean 0 and variance 1; PyTorch's momentum 0.1 and eps 1e-5.
    pub fn new(gpu: &Gpu, name: &str, dim: usize, affine: bool) -> Result<BatchNorm1d> {
        let mut rng = Rng::new(0);
        let param = |suffix: &str, init: Init, rng: &mut Rng| -> Result<Param> {
            Ok(Param::new(format!("{name}.{suffix}"), init_tensor(gpu, &[dim], init, rng)?, false))
        };
        Ok(BatchNorm1d {
            name: name.to_string(),
            weight: if affine { Some(param("weight", Init::Ones, &mut rng)?) } else { None },
            bias: if affine { Some(param("bias", Init::Zeros, &mut rng)?) } else { None },
            running_mean: init_tensor(gpu, &[dim], Init::Zeros, &mut rng)?,
            running_var: init_tensor(gpu, &[dim], Init::Ones, &mut rng)?,
            momentum: 0.1,
            eps: 1e-5,
        })
    }

    /// Normalises x `[rows, dim]` over its rows.
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let affine = match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => Some((w.var(tape), b.var(tape))),
            _ => None,
        };
        ops::batch_norm(tape, x, affine, Some((&self.running_mean, &self.running_var)), self.momentum, self.eps)
    }

    /// The parameters (none without affine).
    pub fn params(&self) -> Vec<&Param> {
        self.weight.iter().chain(self.bias.iter()).collect()
    }

    /// The running statistics under their checkpoint names.
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![(format!("{}.running_mean", self.name), self.running_mean.clone()), (format!("{}.running_var", self.name), self.running_var.clone())]
    }
}

/// A lookup table `{name}.weight` [vocab, dim].
#[derive(Debug, Clone)]
pub struct Embedding {
    pub weight: Param,
}

impl Embedding {
    /// A table with `init` entries.
    pub fn new(gpu: &Gpu, name: &str, vocab: usize, dim: usize, init: Init, rng: &mut Rng) -> Result<Embedding> {
        Ok(Embedding { weight: Param::new(format!("{name}.weight"), init_tensor(gpu, &[vocab, dim], init, rng)?, true) })
    }

    /// Rows of the table for `ids` (\[n\] I32) as [n, dim].
    pub fn forward(&self, tape: &mut Tape, ids: &Tensor) -> Result<Var> {
        let w = self.weight.var(tape);
        ops::embedding(tape, w, ids)
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        vec![&self.weight]
    }
}

/// Inverted dropout with probability `p` while the tape is training.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    pub p: f32,
}

impl Dropout {
    /// Applies dropout (identity at inference).
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        ops::dropout(tape, x, self.p)
    }
}
