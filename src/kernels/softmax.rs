//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};


/// Softmax over the last axis.
pub fn softmax_fwd(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("softmax_fwd: not built yet".into()))
}

/// dx = y * (dy - sum(dy * y)) over the last axis.
pub fn softmax_bwd(gpu: &Gpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("softmax_bwd: not built yet".into()))
}
