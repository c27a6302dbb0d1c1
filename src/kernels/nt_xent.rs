//! NT-Xent / InfoNCE (`shaders/nt_xent.wgsl`): loss over 2n normalised rows and d loss / d z, through a
//! materialised [2n, 2n] logit matrix that is turned into the gradient weights in place.
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
    half: u32,
    _pad0: u32,
    inv_t: f32,
    scale: f32,
    _pad1: [u32; 2],
} // = Params in nt_xent.wgsl

/// NT-Xent over z: [2n, dim], rows already L2-normalised; the positive of row i is row (i + n) mod 2n;
/// logits = z·zᵀ / temperature with the diagonal excluded; mean over the 2n rows.
/// The gradient treats z as given (the normalisation's backward belongs to its own op).
pub fn nt_xent(gpu: &Gpu, z: &Tensor, temperature: f32) -> Result<LossOut> {
    const OP: &str = "nt_xent";
    z.expect_dtype(OP, "z", DType::F32)?;
    let [rows, dim] = z.dims(OP, "z")?;
    if rows < 2 || rows % 2 != 0 || dim == 0 {
        return Err(Error::Shape(format!(
            "{OP}: z has shape {:?}, expected [2n, dim] with n >= 1 and dim >= 1 (two views of n samples)",
            z.shape()
        )));
    }
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(Error::Invalid(format!("{OP}: temperature must be positive and finite, got {temperature}")));
    }
    u32::try_from(rows * rows.max(dim))
        .map_err(|_| Error::Shape(format!("{OP}: z has shape {:?}, too many rows for the [2n, 2n] logits", z.shape())))?;
    let p = Params {
        rows: rows as u32,
        dim: dim as u32,
        half: (rows / 2) as u32,
        _pad0: 0,
        inv_t: 1.0 / temperature,
        scale: (1.0 / (rows as f64 * temperature as f64)) as f32,
        _pad1: [0; 2],
    };
    let logits = Tensor::empty(gpu, &[rows, rows], DType::F32)?; // S, then W in place
    let lse = Tensor::empty(gpu, &[rows], DType::F32)?;
    let row_loss = Tensor::empty(gpu, &[rows], DType::F32)?;
    let grad = Tensor::empty(gpu, &[rows, dim], DType::F32)?;
    let loss = Tensor::empty(gpu, &[1], DType::F32)?;
    let row_tiles = rows.div_ceil(4);
    let vec4 = dim % 4 == 0;
    let logits_entry = if vec4 { "ntx_logits4" } else { "ntx_logits" };
    launch(gpu, "nt_xent", logits_entry, &[], &p, &[z], &[&logits], gpu.grid_1d((row_tiles * row_tiles).div_ceil(64))?)?;
    launch(gpu, "nt_xent", "ntx_rows", &[], &p, &[&logits], &[&lse, &row_loss], gpu.grid_1d(rows.div_ceil(64))?)?;
    launch(gpu, "nt_xent", "ntx_weights", &[], &p, &[&lse], &[&logits], gpu.grid_1d((rows * rows).div_ceil(64))?)?;
    let grad_tiles = row_tiles * dim.div_ceil(4);
    let grad_entry = if vec4 && rows % 4 == 0 { "ntx_grad4" } else { "ntx_grad" };
    launch(gpu, "nt_xent", grad_entry, &[], &p, &[&logits, z], &[&grad], gpu.grid_1d(grad_tiles.div_ceil(64))?)?;
    launch(gpu, "nt_xent", "ntx_total", &[], &p, &[&row_loss], &[&loss], [1, 1, 1])?;
    Ok(LossOut { loss, grad })
}
