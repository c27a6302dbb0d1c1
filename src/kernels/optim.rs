//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW { pub lr: f32, pub beta1: f32, pub beta2: f32, pub eps: f32, pub weight_decay: f32, pub step: u32 }

/// In place over a flat parameter: decoupled decay, bias correction; grad multiplied by grad_scale[0] when given
/// (a [1] tensor from clip_scale, so clipping needs no read-back).
pub fn adamw(gpu: &Gpu, param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, h: &AdamW, grad_scale: Option<&Tensor>) -> Result<()> {
    let _ = gpu;
    Err(Error::Gpu("adamw: not built yet".into()))
}

/// sum of squares of every element of every tensor, as [1]; deterministic two-stage reduction.
pub fn sum_squares(gpu: &Gpu, xs: &[&Tensor]) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("sum_squares: not built yet".into()))
}

/// [1] tensor min(1, max_norm / (sqrt(sumsq) + 1e-6)).
pub fn clip_scale(gpu: &Gpu, sumsq: &Tensor, max_norm: f32) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("clip_scale: not built yet".into()))
}

/// target = momentum * target + (1 - momentum) * online, in place.
pub fn ema(gpu: &Gpu, target: &Tensor, online: &Tensor, momentum: f32) -> Result<()> {
    let _ = gpu;
    Err(Error::Gpu("ema: not built yet".into()))
}

/// SGD with momentum (and LARS trust ratio when lars = Some(eta)), in place.
pub fn sgd(gpu: &Gpu, param: &Tensor, grad: &Tensor, buf: &Tensor, lr: f32, momentum: f32, weight_decay: f32,
           lars: Option<f32>, grad_scale: Option<&Tensor>) -> Result<()> {
    let _ = gpu;
    Err(Error::Gpu("sgd: not built yet".into()))
}
