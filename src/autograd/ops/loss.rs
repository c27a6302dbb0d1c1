//! Losses (each kernel writes its gradient in the same pass: cross-entropy, MAE reconstruction, binary
//! cross-entropy with logits, the VAE's KL term, NT-Xent) and L2 normalisation, composed from primitives.
use super::super::{Tape, Var};
use super::arith::{mul, sum_to, unary};
use crate::kernels::cross_entropy::LossOut;
use crate::kernels::elementwise::{binary as ew_binary, BinaryOp, UnaryOp};
use crate::kernels::{bce, cross_entropy as ce, kl_normal as kl, nt_xent as nx, recon_loss as rl};
use crate::{Result, Tensor};

/// Records a loss whose gradient w.r.t. its input the kernel already computed; backward scales it by d(loss).
fn record_loss(tape: &mut Tape, name: &'static str, input: Var, l: LossOut) -> Result<Var> {
    let grad = l.grad;
    tape.record(name, l.loss, &[input], Box::new(move |gpu, dloss, _| Ok(vec![Some(ew_binary(gpu, &grad, dloss, BinaryOp::Mul)?)])))
}

/// Mean cross-entropy of logits [n, vocab] against targets \[n\] I32 (-100 = ignored).
pub fn cross_entropy(tape: &mut Tape, logits: Var, targets: &Tensor) -> Result<Var> {
    let l = ce::cross_entropy(tape.gpu(), tape.value(logits), targets)?;
    record_loss(tape, "cross_entropy", logits, l)
}

/// MAE reconstruction loss: per-patch MSE (normalised targets when norm_pix), mean over masked patches.
pub fn recon_loss(tape: &mut Tape, pred: Var, target: &Tensor, mask: &Tensor, norm_pix: bool) -> Result<Var> {
    let l = rl::recon_loss(tape.gpu(), tape.value(pred), target, mask, norm_pix)?;
    record_loss(tape, "recon_loss", pred, l)
}

/// Binary cross-entropy with logits [rows, dim] against targets in [0, 1] (the Bernoulli negative
/// log-likelihood), summed over every element and multiplied by `scale` (1/rows: nats per image).
pub fn bce_with_logits(tape: &mut Tape, logits: Var, targets: &Tensor, scale: f32) -> Result<Var> {
    let l = bce::bce_with_logits(tape.gpu(), tape.value(logits), targets, scale)?;
    record_loss(tape, "bce_with_logits", logits, LossOut { loss: l.loss, grad: l.grad })
}

/// scale · KL(N(mu, exp(logvar)) ‖ N(0, I)) summed over rows; mu and logvar [rows, latent].
pub fn kl_normal(tape: &mut Tape, mu: Var, logvar: Var, scale: f32) -> Result<Var> {
    let l = kl::kl_normal(tape.gpu(), tape.value(mu), tape.value(logvar), scale)?;
    let (dmu, dlogvar) = (l.dmu, l.dlogvar);
    tape.record("kl_normal", l.loss, &[mu, logvar], Box::new(move |gpu, dloss, needs| {
        let dmu = if needs[0] { Some(ew_binary(gpu, &dmu, dloss, BinaryOp::Mul)?) } else { None };
        let dlv = if needs[1] { Some(ew_binary(gpu, &dlogvar, dloss, BinaryOp::Mul)?) } else { None };
        Ok(vec![dmu, dlv])
    }))
}

/// NT-Xent over L2-normalised rows z: [2n, dim] with a temperature.
pub fn nt_xent(tape: &mut Tape, z: Var, temperature: f32) -> Result<Var> {
    let l = nx::nt_xent(tape.gpu(), tape.value(z), temperature)?;
    record_loss(tape, "nt_xent", z, l)
}

/// x / sqrt(|x|² + eps²) over the last axis (SimCLR and BYOL heads).
pub fn l2_normalize(tape: &mut Tape, x: Var, eps: f32) -> Result<Var> {
    let mut keep = tape.shape(x).to_vec();
    if let Some(last) = keep.last_mut() {
        *last = 1;
    }
    let sq = mul(tape, x, x)?;
    let sumsq = sum_to(tape, sq, &keep)?;
    let inv = unary(tape, sumsq, UnaryOp::Rsqrt { eps: eps * eps })?;
    mul(tape, x, inv)
}
