//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};
use super::cross_entropy::LossOut;

/// mean over patches with mask = 1. pred/target: [batch, patches, dim], mask: [batch, patches] f32.
pub fn recon_loss(gpu: &Gpu, pred: &Tensor, target: &Tensor, mask: &Tensor, norm_pix: bool) -> Result<LossOut> {
    let _ = gpu;
    Err(Error::Gpu("recon_loss: not built yet".into()))
}
