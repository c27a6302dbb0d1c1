//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct LayerNormOut { pub y: Tensor, pub mean: Tensor , pub rstd: Tensor  }

#[derive(Debug, Clone)]
pub struct LayerNormGrads { pub dx: Tensor, pub dgamma: Tensor, pub dbeta: Tensor }

/// Normalises over the last axis (x: [.., dim], gamma/beta: [dim]).
pub fn layernorm_fwd(gpu: &Gpu, x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<LayerNormOut> {
    let _ = gpu;
    Err(Error::Gpu("layernorm_fwd: not built yet".into()))
}

/// dgamma/dbeta by a deterministic two-stage reduction over rows (no atomics).
pub fn layernorm_bwd(gpu: &Gpu, dy: &Tensor, x: &Tensor, gamma: &Tensor, mean: &Tensor, rstd: &Tensor) -> Result<LayerNormGrads> {
    let _ = gpu;
    Err(Error::Gpu("layernorm_bwd: not built yet".into()))
}
