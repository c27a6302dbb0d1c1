//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct AttentionOut { pub out: Tensor, pub lse: Tensor }

#[derive(Debug, Clone)]
pub struct AttentionGrads { pub dq: Tensor, pub dk: Tensor, pub dv: Tensor }

/// causal masks j > i. A fully masked row gives O = 0 and lse = -inf (or a documented sentinel).
pub fn attention_fwd(gpu: &Gpu, q: &Tensor, k: &Tensor, v: &Tensor, lengths: Option<&Tensor>, causal: bool, scale: f32) -> Result<AttentionOut> {
    let _ = gpu;
    Err(Error::Gpu("attention_fwd: not built yet".into()))
}

pub fn attention_bwd(gpu: &Gpu, q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor, lse: &Tensor, dout: &Tensor,
                     lengths: Option<&Tensor>, causal: bool, scale: f32) -> Result<AttentionGrads> {
    let _ = gpu;
    Err(Error::Gpu("attention_bwd: not built yet".into()))
}
