//! Binary cross-entropy with logits (`shaders/bce.wgsl`): the Bernoulli negative log-likelihood of a
//! decoder's logits, each row's sum, the scaled total and d loss / d logits in one pass; numerically stable
//! for any logit (no overflow, no log(0)).
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// The loss, its gradient and the per-row sums.
#[derive(Debug, Clone)]
pub struct BceOut {
    /// `[1]`: scale · Σ over every element.
    pub loss: Tensor,
    /// `[rows, dim]`: d loss / d logits = scale · (sigmoid(z) − t).
    pub grad: Tensor,
    /// `[rows]`: Σ over the row of the element losses, unscaled (nats per image).
    pub row_loss: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    scale: f32,
    _pad: u32,
} // = Params in bce.wgsl

/// Whether to give each row a workgroup: on a GPU, with too few rows to fill a CPU adapter's cores, or with rows
/// so long that one invocation's loop would pass lavapipe's limit of 65535 iterations.
pub(crate) fn workgroup_per_row(gpu: &Gpu, rows: usize, dim: usize) -> bool {
    !gpu.is_cpu() || rows < 16 || dim > 32768
}

/// scale · Σ_{r,d} [max(z, 0) − z·t + log(1 + exp(−|z|))] for logits z and targets t, both `[rows, dim]`.
/// With scale = 1/rows the loss is the mean over rows of each row's summed negative log-likelihood.
pub fn bce_with_logits(gpu: &Gpu, logits: &Tensor, targets: &Tensor, scale: f32) -> Result<BceOut> {
    const OP: &str = "bce_with_logits";
    logits.expect_dtype(OP, "logits", DType::F32)?;
    targets.expect_dtype(OP, "targets", DType::F32)?;
    let [rows, dim] = logits.dims(OP, "logits")?;
    targets.expect_shape(OP, "targets", &[rows, dim])?;
    u32::try_from(rows * dim).map_err(|_| Error::Shape(format!("{OP}: logits has {} elements, more than a kernel can index", rows * dim)))?;
    let p = Params { rows: rows as u32, dim: dim as u32, scale, _pad: 0 };
    let loss = Tensor::empty(gpu, &[1], DType::F32)?;
    let grad = Tensor::empty(gpu, &[rows, dim], DType::F32)?;
    let row_loss = Tensor::empty(gpu, &[rows], DType::F32)?;
    if rows > 0 && dim == 0 {
        crate::kernels::fill::fill(gpu, &row_loss, 0.0)?;
    } else if rows > 0 {
        let (entry, groups) = if workgroup_per_row(gpu, rows, dim) {
            ("bce_rows_wg", gpu.grid_1d(rows)?)
        } else {
            ("bce_rows", gpu.grid_1d(rows.div_ceil(64))?)
        };
        launch(gpu, "bce", entry, &[], &p, &[logits, targets], &[&grad, &row_loss], groups)?;
    }
    let totals = if rows > 0 { row_loss.clone() } else { crate::kernels::fill::full(gpu, &[1], 0.0)? };
    let p_total = Params { rows: rows.max(1) as u32, ..p };
    launch(gpu, "bce", "bce_total", &[], &p_total, &[&totals], &[&loss], [1, 1, 1])?;
    Ok(BceOut { loss, grad, row_loss })
}
