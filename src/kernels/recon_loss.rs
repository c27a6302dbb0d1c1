//! MAE reconstruction loss (`shaders/recon_loss.wgsl`): per-patch normalised targets, per-patch MSE, mean over
//! the masked patches; the gradient with respect to pred in the same pass; the mask sum stays on the GPU.
use bytemuck::{Pod, Zeroable};

use super::launch;
pub use super::cross_entropy::LossOut;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    norm_pix: u32,
    _pad: u32,
} // = Params in recon_loss.wgsl

/// MAE loss: target normalised per patch (mean, unbiased var, eps 1e-6) when norm_pix; per-patch MSE over dim;
/// mean over patches with mask = 1. pred/target: [batch, patches, dim], mask: [batch, patches] f32.
///
/// Where PyTorch gives NaN this errors or returns zeros: norm_pix needs dim >= 2 (the unbiased variance of
/// one value is 0/0), and a mask summing to 0 gives loss 0 and a zero gradient. The gradient is d loss / d pred.
pub fn recon_loss(gpu: &Gpu, pred: &Tensor, target: &Tensor, mask: &Tensor, norm_pix: bool) -> Result<LossOut> {
    const OP: &str = "recon_loss";
    pred.expect_dtype(OP, "pred", DType::F32)?;
    target.expect_dtype(OP, "target", DType::F32)?;
    mask.expect_dtype(OP, "mask", DType::F32)?;
    let [batch, patches, dim] = pred.dims(OP, "pred")?;
    target.expect_shape(OP, "target", &[batch, patches, dim])?;
    mask.expect_shape(OP, "mask", &[batch, patches])?;
    if norm_pix && dim < 2 {
        return Err(Error::Shape(format!(
            "{OP}: pred has shape {:?}; norm_pix needs a patch dim of at least 2 (the unbiased variance of one value is undefined)",
            pred.shape()
        )));
    }
    if dim == 0 && batch * patches > 0 {
        return Err(Error::Shape(format!("{OP}: pred has shape {:?}, expected a patch dim of at least 1", pred.shape())));
    }
    let rows = batch * patches;
    u32::try_from(rows * dim)
        .map_err(|_| Error::Shape(format!("{OP}: pred has {} elements, more than a kernel can index", rows * dim)))?;
    let p = Params { rows: rows as u32, dim: dim as u32, norm_pix: norm_pix as u32, _pad: 0 };
    let loss = Tensor::empty(gpu, &[1], DType::F32)?;
    let grad = Tensor::empty(gpu, &[batch, patches, dim], DType::F32)?;
    let row_loss = Tensor::empty(gpu, &[rows.max(1)], DType::F32)?;
    if rows > 0 {
        let msum = Tensor::empty(gpu, &[1], DType::F32)?;
        launch(gpu, "recon_loss", "recon_sum", &[], &p, &[mask], &[&msum], [1, 1, 1])?;
        // one invocation per row on a CPU adapter with enough rows, unless three sweeps of a row would pass
        // lavapipe's limit of 65535 loop iterations per invocation
        let (entry, groups) = if !gpu.is_cpu() || rows < 16 || dim > 16384 {
            ("recon_rows_wg", gpu.grid_1d(rows)?)
        } else {
            ("recon_rows", gpu.grid_1d(rows.div_ceil(64))?)
        };
        launch(gpu, "recon_loss", entry, &[], &p, &[pred, target, mask, &msum], &[&grad, &row_loss], groups)?;
    }
    launch(gpu, "recon_loss", "recon_sum", &[], &p, &[&row_loss], &[&loss], [1, 1, 1])?;
    Ok(LossOut { loss, grad })
}
