//! Softmax over the last axis (`shaders/softmax.wgsl`), forward and backward, numerically stable.
//!
//! Rows are mapped onto invocations as layer norm's are: [`RowMap`], picked by [`row_map`].
use bytemuck::{Pod, Zeroable};

use super::launch;
use super::layernorm::{row_grid, row_map, rows_dim, RowMap};
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::Result;

const SHADER: &str = "softmax";

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Rows {
    rows: u32,
    dim: u32,
    _pad: [u32; 2],
} // = `Rows` in softmax.wgsl

/// Softmax over the last axis.
pub fn softmax_fwd(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let (rows, dim) = rows_dim("softmax_fwd", "x", x)?;
    softmax_fwd_mapped(gpu, x, row_map(gpu, rows, dim))
}

/// `softmax_fwd` with the row mapping forced (for tests and benchmarks of both kernels).
pub fn softmax_fwd_mapped(gpu: &Gpu, x: &Tensor, map: RowMap) -> Result<Tensor> {
    const OP: &str = "softmax_fwd";
    let (rows, dim) = rows_dim(OP, "x", x)?;
    let y = Tensor::empty(gpu, x.shape(), DType::F32)?;
    if rows == 0 || dim == 0 {
        return Ok(y);
    }
    let entry = match map {
        RowMap::PerInvocation => "fwd_rows",
        RowMap::PerWorkgroup(_) => "fwd_wide",
    };
    let p = Rows { rows: rows as u32, dim: dim as u32, _pad: [0; 2] };
    let (groups, constants) = row_grid(gpu, OP, rows, dim, map)?;
    launch(gpu, SHADER, entry, &constants, &p, &[x], &[&y], groups)?;
    Ok(y)
}

/// dx = y * (dy - sum(dy * y)) over the last axis.
pub fn softmax_bwd(gpu: &Gpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let (rows, dim) = rows_dim("softmax_bwd", "y", y)?;
    softmax_bwd_mapped(gpu, y, dy, row_map(gpu, rows, dim))
}

/// `softmax_bwd` with the row mapping forced (for tests and benchmarks of both kernels).
pub fn softmax_bwd_mapped(gpu: &Gpu, y: &Tensor, dy: &Tensor, map: RowMap) -> Result<Tensor> {
    const OP: &str = "softmax_bwd";
    let (rows, dim) = rows_dim(OP, "y", y)?;
    dy.expect_dtype(OP, "dy", DType::F32)?;
    dy.expect_shape(OP, "dy", y.shape())?;
    let dx = Tensor::empty(gpu, y.shape(), DType::F32)?;
    if rows == 0 || dim == 0 {
        return Ok(dx);
    }
    let entry = match map {
        RowMap::PerInvocation => "bwd_rows",
        RowMap::PerWorkgroup(_) => "bwd_wide",
    };
    let p = Rows { rows: rows as u32, dim: dim as u32, _pad: [0; 2] };
    let (groups, constants) = row_grid(gpu, OP, rows, dim, map)?;
    launch(gpu, SHADER, entry, &constants, &p, &[y, dy], &[&dx], groups)?;
    Ok(dx)
}
