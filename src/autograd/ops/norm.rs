//! Layer-norm, batch-norm, softmax and activations, each through its fused forward and backward kernels.
use super::super::{Tape, Var};
use crate::kernels::activation::{activation_bwd, activation_fwd, Activation};
use crate::kernels::batchnorm::{batchnorm_bwd, batchnorm_fwd};
use crate::kernels::layernorm::{layernorm_bwd, layernorm_fwd};
use crate::kernels::softmax::{softmax_bwd, softmax_fwd};
use crate::{Result, Tensor};

/// Layer-norm over the last axis with affine parameters gamma and beta.
pub fn layer_norm(tape: &mut Tape, x: Var, gamma: Var, beta: Var, eps: f32) -> Result<Var> {
    let (xv, gv, bv) = (tape.value(x).clone(), tape.value(gamma).clone(), tape.value(beta).clone());
    let f = layernorm_fwd(tape.gpu(), &xv, &gv, &bv, eps)?;
    let (mean, rstd) = (f.mean, f.rstd);
    tape.record("layer_norm", f.y, &[x, gamma, beta], Box::new(move |gpu, dy, _| {
        let g = layernorm_bwd(gpu, dy, &xv, &gv, &mean, &rstd)?;
        Ok(vec![Some(g.dx), Some(g.dgamma), Some(g.dbeta)])
    }))
}

/// BatchNorm1d of x `[rows, dim]` over its rows (torch.nn.BatchNorm1d): batch statistics while the tape is
/// training (updating `running` = (mean, var) in place, with `momentum`), the running statistics otherwise;
/// `affine` = (γ, β) or none. The running statistics are buffers, never differentiated.
pub fn batch_norm(tape: &mut Tape, x: Var, affine: Option<(Var, Var)>, running: Option<(&Tensor, &Tensor)>, momentum: f32, eps: f32) -> Result<Var> {
    let training = tape.training;
    let xv = tape.value(x).clone();
    let gv = affine.map(|(g, _)| tape.value(g).clone());
    let bv = affine.map(|(_, b)| tape.value(b).clone());
    let f = batchnorm_fwd(tape.gpu(), &xv, gv.as_ref().zip(bv.as_ref()), running, training, momentum, eps)?;
    let (mean, rstd) = (f.mean, f.rstd);
    let mut parents = vec![x];
    if let Some((g, b)) = affine {
        parents.extend([g, b]);
    }
    tape.record("batch_norm", f.y, &parents, Box::new(move |gpu, dy, _| {
        let g = batchnorm_bwd(gpu, dy, &xv, gv.as_ref(), &mean, &rstd, training)?;
        let mut out = vec![Some(g.dx)];
        if gv.is_some() {
            out.extend([g.dgamma, g.dbeta]);
        }
        Ok(out)
    }))
}

/// Softmax over the last axis.
pub fn softmax(tape: &mut Tape, x: Var) -> Result<Var> {
    let y = softmax_fwd(tape.gpu(), tape.value(x))?;
    let yv = y.clone();
    tape.record("softmax", y, &[x], Box::new(move |gpu, dy, _| Ok(vec![Some(softmax_bwd(gpu, &yv, dy)?)])))
}

/// An activation (GELU erf or tanh form, ReLU, tanh, sigmoid).
pub fn activation(tape: &mut Tape, x: Var, act: Activation) -> Result<Var> {
    let xv = tape.value(x).clone();
    let y = activation_fwd(tape.gpu(), &xv, act)?;
    tape.record("activation", y, &[x], Box::new(move |gpu, dy, _| Ok(vec![Some(activation_bwd(gpu, &xv, dy, act)?)])))
}

/// GELU, exact erf form (BERT, ViT).
pub fn gelu(tape: &mut Tape, x: Var) -> Result<Var> {
    activation(tape, x, Activation::GeluErf)
}

/// ReLU.
pub fn relu(tape: &mut Tape, x: Var) -> Result<Var> {
    activation(tape, x, Activation::Relu)
}

/// The logistic sigmoid 1 / (1 + exp(−x)).
pub fn sigmoid(tape: &mut Tape, x: Var) -> Result<Var> {
    activation(tape, x, Activation::Sigmoid)
}

/// tanh.
pub fn tanh(tape: &mut Tape, x: Var) -> Result<Var> {
    activation(tape, x, Activation::Tanh)
}
