//! Cross-entropy over a vocabulary (`shaders/cross_entropy.wgsl`): loss and d loss / d logits of each row in
//! one pass, the count of counted rows computed on the GPU, and a fixed-order sum of the row losses.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// A scalar loss and its gradient with respect to the loss's input.
#[derive(Debug, Clone)]
pub struct LossOut {
    pub loss: Tensor, // [1]
    pub grad: Tensor, // d loss / d input, same shape as the input
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    vocab: u32,
    _pad: [u32; 2],
} // = Params in cross_entropy.wgsl

/// Rows per workgroup of `ce_rows` and `ce_rows4` (`ROWS_WG` in cross_entropy.wgsl).
const ROWS_WG: usize = 8;

/// Whether to give each row a workgroup: long rows on a GPU; on a CPU adapter only when there are too few rows
/// to keep its cores busy with one invocation per row, or rows so long that two sweeps of them, four elements
/// an iteration, would pass lavapipe's limit of 65535 loop iterations per invocation.
fn workgroup_per_row(gpu: &Gpu, rows: usize, vocab: usize) -> bool {
    vocab >= 256 && (!gpu.is_cpu() || rows < 16 || vocab > 100_000)
}

/// Mean over rows whose target != -100 of -log softmax(logits)\[target\]; logits [n, vocab], targets \[n\] I32.
/// No counted row: loss 0 and zero gradient. A target outside [0, vocab) other than -100 is ignored too
/// (PyTorch raises an error there; a kernel cannot).
pub fn cross_entropy(gpu: &Gpu, logits: &Tensor, targets: &Tensor) -> Result<LossOut> {
    const OP: &str = "cross_entropy";
    logits.expect_dtype(OP, "logits", DType::F32)?;
    targets.expect_dtype(OP, "targets", DType::I32)?;
    let [rows, vocab] = logits.dims(OP, "logits")?;
    targets.expect_shape(OP, "targets", &[rows])?;
    if vocab == 0 && rows > 0 {
        return Err(Error::Shape(format!("{OP}: logits has shape {:?}, expected a vocabulary of at least 1", logits.shape())));
    }
    u32::try_from(rows * vocab)
        .map_err(|_| Error::Shape(format!("{OP}: logits has {} elements, more than a kernel can index", rows * vocab)))?;
    let p = Params { rows: rows as u32, vocab: vocab as u32, _pad: [0; 2] };
    let loss = Tensor::empty(gpu, &[1], DType::F32)?;
    let grad = Tensor::empty(gpu, &[rows, vocab], DType::F32)?;
    let count = Tensor::empty(gpu, &[1], DType::U32)?;
    let row_loss = Tensor::empty(gpu, &[rows.max(1)], DType::F32)?;
    if rows > 0 {
        launch(gpu, "cross_entropy", "ce_count", &[], &p, &[targets], &[&count], [1, 1, 1])?;
        let (entry, groups) = if workgroup_per_row(gpu, rows, vocab) {
            ("ce_rows_wg", gpu.grid_1d(rows)?)
        } else {
            let entry = if vocab.is_multiple_of(4) { "ce_rows4" } else { "ce_rows" };
            (entry, gpu.grid_1d(rows.div_ceil(ROWS_WG))?)
        };
        launch(gpu, "cross_entropy", entry, &[], &p, &[logits, targets, &count], &[&grad, &row_loss], groups)?;
    }
    launch(gpu, "cross_entropy", "ce_total", &[], &p, &[&row_loss], &[&loss], [1, 1, 1])?;
    Ok(LossOut { loss, grad })
}
