//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};
use super::cross_entropy::LossOut;

/// logits = z·zᵀ / temperature with the diagonal excluded; mean over the 2n rows.
pub fn nt_xent(gpu: &Gpu, z: &Tensor, temperature: f32) -> Result<LossOut> {
    let _ = gpu;
    Err(Error::Gpu("nt_xent: not built yet".into()))
}
