//! Layer normalisation over the last axis (`shaders/layernorm.wgsl`), forward and backward.
//!
//! Dimensions: `rows` = the product of every leading dim of x, `dim` = the last. The row kernels come in two
//! mappings, [`RowMap`], which the launchers pick from the shape and the adapter ([`row_map`]).
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{bail, Result};

const SHADER: &str = "layernorm";
/// Rows per workgroup of the one-invocation-per-row kernels (`ROWS_WG` in layernorm.wgsl and softmax.wgsl).
const ROWS_WG: usize = 64;
/// Invocations per workgroup of the column kernels of the dγ/dβ reduction.
const COLS_WG: usize = 256;

/// How a row kernel (layer norm, softmax) spreads rows over invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowMap {
    /// One invocation per row, 64 rows per workgroup: no barriers, no workgroup memory.
    PerInvocation,
    /// One workgroup of this many invocations (a power of two, 1..=256) per row: strided loads and a
    /// reduction in workgroup memory.
    PerWorkgroup(u32),
}

/// lavapipe (Mesa 22's llvmpipe) stops an invocation's loops after 65535 iterations counted over every loop
/// of the shader together, silently: a longer row would be left half done. Row kernels stay below this many.
const CPU_LOOP_BUDGET: usize = 65_000;

/// Loop iterations of one invocation of a row kernel under `map` (the worst of the layer-norm and softmax
/// kernels, with the per-invocation blocks and the workgroup reductions).
fn loop_iterations(dim: usize, map: RowMap) -> usize {
    match map {
        RowMap::PerInvocation => 3 * dim.div_ceil(4) + 2 * dim.div_ceil(256) + 12,
        RowMap::PerWorkgroup(wg) => {
            let wg = wg.max(1) as usize;
            3 * dim.div_ceil(wg) + 2 * dim.div_ceil(wg * 256) + 2 * 32 + 4
        }
    }
}

/// The mapping for `rows` rows of `dim` elements on this adapter.
///
/// A CPU adapter (lavapipe) runs a workgroup on one core with its invocations as SIMD lanes, and barriers
/// are costly: one invocation per row won at every shape measured there with 4 rows or more (2.5-10x at
/// 1024x128, 8192x768, 512x30522, 16x30522 for layernorm_fwd and softmax_fwd); with 1-3 long rows a
/// workgroup per row spreads the work better (1x30522: 0.42 vs 1.13 ms), and rows too long for lavapipe's
/// loop limit (about 86k elements per invocation) need one. A real GPU wants coalesced loads and many
/// threads in flight: a workgroup per row, except for very short rows.
pub fn row_map(gpu: &Gpu, rows: usize, dim: usize) -> RowMap {
    if !gpu.is_cpu() {
        return if dim > 32 { RowMap::PerWorkgroup(wide_wg(gpu)) } else { RowMap::PerInvocation };
    }
    let per_row = RowMap::PerInvocation;
    if (rows >= 4 || dim < 4096) && loop_iterations(dim, per_row) <= CPU_LOOP_BUDGET {
        return per_row;
    }
    let mut wg = wide_wg(gpu);
    while wg < 256 && loop_iterations(dim, RowMap::PerWorkgroup(wg)) > CPU_LOOP_BUDGET {
        wg *= 2;
    }
    RowMap::PerWorkgroup(wg)
}

/// Invocations per workgroup of the one-workgroup-per-row kernels (the `WIDE_WG` override constant, a power
/// of two <= 256). A GPU: 256. A CPU adapter runs a workgroup as a loop over SIMD vectors with a context switch
/// at every barrier, so one vector's worth (its subgroup size, 8 on lavapipe) makes barriers nearly free: on
/// lavapipe 2x30522 layer norm took 0.42 ms at 8 against 0.86 ms at 256.
pub fn wide_wg(gpu: &Gpu) -> u32 {
    match (gpu.is_cpu(), gpu.subgroup_size()) {
        (true, Some(sg)) => sg.clamp(1, 256).next_power_of_two(),
        (true, None) => 8,
        (false, _) => 256,
    }
}

/// Override constants of a dispatch.
pub(crate) type Constants = Vec<(&'static str, f64)>;

/// The workgroup grid and override constants of a row kernel of operation `op` under `map`; errors for a
/// workgroup size that is not a power of two <= 256, or a row too long for a CPU adapter's loop limit.
pub(crate) fn row_grid(gpu: &Gpu, op: &str, rows: usize, dim: usize, map: RowMap) -> Result<([u32; 3], Constants)> {
    if let RowMap::PerWorkgroup(wg) = map
        && !(wg.is_power_of_two() && wg <= 256)
    {
        bail!(Invalid, "{op}: a workgroup per row of {wg} invocations, expected a power of two <= 256");
    }
    let iterations = loop_iterations(dim, map);
    if gpu.is_cpu() && iterations > CPU_LOOP_BUDGET {
        bail!(
            Invalid,
            "{op}: rows of {dim} elements under {map:?} take {iterations} loop iterations per invocation; \
             this CPU adapter may stop after 65535 (use a wider workgroup per row)"
        );
    }
    Ok(match map {
        RowMap::PerInvocation => (gpu.grid_1d(rows.div_ceil(ROWS_WG))?, vec![]),
        RowMap::PerWorkgroup(wg) => (gpu.grid_1d(rows)?, vec![("WIDE_WG", wg as f64)]),
    })
}

/// (rows, dim) of an f32 tensor of rank >= 1: every leading dim folded into rows.
pub(crate) fn rows_dim(op: &str, name: &str, x: &Tensor) -> Result<(usize, usize)> {
    x.expect_dtype(op, name, DType::F32)?;
    let Some((&dim, lead)) = x.shape().split_last() else {
        bail!(Shape, "{op}: {name} has shape [], expected rank >= 1 (the last axis is normalised)");
    };
    Ok((lead.iter().product(), dim))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Rows {
    rows: u32,
    dim: u32,
    eps: f32,
    _pad: u32,
} // = `Rows` in layernorm.wgsl

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Blocks {
    rows: u32,
    dim: u32,
    rows_per_block: u32,
    blocks: u32,
} // = `Blocks` in layernorm.wgsl

/// The forward outputs; `mean` and `rstd` are kept for the backward pass.
pub struct LayerNormOut {
    pub y: Tensor,    // x's shape
    pub mean: Tensor, // [rows]
    pub rstd: Tensor, // [rows]  1/sqrt(biased var + eps)
}

/// The gradients of the backward pass.
pub struct LayerNormGrads {
    pub dx: Tensor,     // x's shape
    pub dgamma: Tensor, // [dim]
    pub dbeta: Tensor,  // [dim]
}

/// Normalises over the last axis (x: [.., dim], gamma/beta: \[dim\]).
pub fn layernorm_fwd(gpu: &Gpu, x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<LayerNormOut> {
    let (rows, dim) = rows_dim("layernorm_fwd", "x", x)?;
    layernorm_fwd_mapped(gpu, x, gamma, beta, eps, row_map(gpu, rows, dim))
}

/// `layernorm_fwd` with the row mapping forced (for tests and benchmarks of both kernels).
pub fn layernorm_fwd_mapped(gpu: &Gpu, x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32, map: RowMap) -> Result<LayerNormOut> {
    const OP: &str = "layernorm_fwd";
    let (rows, dim) = rows_dim(OP, "x", x)?;
    for (name, t) in [("gamma", gamma), ("beta", beta)] {
        t.expect_dtype(OP, name, DType::F32)?;
        t.expect_shape(OP, name, &[dim])?;
    }
    if !(eps.is_finite() && eps >= 0.0) {
        bail!(Invalid, "{OP}: eps is {eps}, expected a finite value >= 0");
    }
    let out = LayerNormOut {
        y: Tensor::empty(gpu, x.shape(), DType::F32)?,
        mean: Tensor::empty(gpu, &[rows], DType::F32)?,
        rstd: Tensor::empty(gpu, &[rows], DType::F32)?,
    };
    if rows == 0 {
        return Ok(out);
    }
    let entry = match map {
        RowMap::PerInvocation if dim.is_multiple_of(4) => "fwd_rows4",
        RowMap::PerInvocation => "fwd_rows",
        RowMap::PerWorkgroup(_) => "fwd_wide",
    };
    let (groups, constants) = row_grid(gpu, OP, rows, dim, map)?;
    let p = Rows { rows: rows as u32, dim: dim as u32, eps, _pad: 0 };
    launch(gpu, SHADER, entry, &constants, &p, &[x, gamma, beta], &[&out.y, &out.mean, &out.rstd], groups)?;
    Ok(out)
}

/// dgamma/dbeta by a deterministic two-stage reduction over rows (no atomics).
pub fn layernorm_bwd(gpu: &Gpu, dy: &Tensor, x: &Tensor, gamma: &Tensor, mean: &Tensor, rstd: &Tensor) -> Result<LayerNormGrads> {
    let (rows, dim) = rows_dim("layernorm_bwd", "x", x)?;
    layernorm_bwd_mapped(gpu, dy, x, gamma, mean, rstd, row_map(gpu, rows, dim))
}

/// Rows per block of stage 1 of the dγ/dβ reduction: at least 64, and at most about 512 blocks for stage 2
/// (capped at 32768 rows, within lavapipe's loop limit, for which stage 2 then sums more blocks).
fn rows_per_block(rows: usize) -> usize {
    rows.div_ceil(512).clamp(64, 32_768)
}

/// `layernorm_bwd` with the row mapping of the dx kernel forced (for tests and benchmarks of both kernels).
pub fn layernorm_bwd_mapped(
    gpu: &Gpu,
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
    map: RowMap,
) -> Result<LayerNormGrads> {
    const OP: &str = "layernorm_bwd";
    let (rows, dim) = rows_dim(OP, "x", x)?;
    dy.expect_dtype(OP, "dy", DType::F32)?;
    dy.expect_shape(OP, "dy", x.shape())?;
    gamma.expect_dtype(OP, "gamma", DType::F32)?;
    gamma.expect_shape(OP, "gamma", &[dim])?;
    for (name, t) in [("mean", mean), ("rstd", rstd)] {
        t.expect_dtype(OP, name, DType::F32)?;
        t.expect_shape(OP, name, &[rows])?;
    }
    let grads = LayerNormGrads {
        dx: Tensor::empty(gpu, x.shape(), DType::F32)?,
        dgamma: Tensor::empty(gpu, &[dim], DType::F32)?,
        dbeta: Tensor::empty(gpu, &[dim], DType::F32)?,
    };
    if dim == 0 {
        return Ok(grads);
    }
    if rows == 0 {
        super::fill::fill(gpu, &grads.dgamma, 0.0)?;
        super::fill::fill(gpu, &grads.dbeta, 0.0)?;
        return Ok(grads);
    }

    let entry = match map {
        RowMap::PerInvocation if dim.is_multiple_of(4) => "bwd_dx_rows4",
        RowMap::PerInvocation => "bwd_dx_rows",
        RowMap::PerWorkgroup(_) => "bwd_dx_wide",
    };
    let (groups, constants) = row_grid(gpu, OP, rows, dim, map)?;
    let p = Rows { rows: rows as u32, dim: dim as u32, eps: 0.0, _pad: 0 };
    launch(gpu, SHADER, entry, &constants, &p, &[x, gamma, dy, mean, rstd], &[&grads.dx], groups)?;

    // Stage 1: per block of rows, per column. With one block it writes dgamma and dbeta directly.
    let rpb = rows_per_block(rows);
    let blocks = rows.div_ceil(rpb);
    let pb = Blocks { rows: rows as u32, dim: dim as u32, rows_per_block: rpb as u32, blocks: blocks as u32 };
    // 4 columns (one vec4) per invocation when rows are whole vec4s
    let (partial, columns) = if dim.is_multiple_of(4) { ("dparams_partial4", dim / 4) } else { ("dparams_partial", dim) };
    let stage1 = [columns.div_ceil(COLS_WG) as u32, blocks as u32, 1];
    if blocks == 1 {
        launch(gpu, SHADER, partial, &[], &pb, &[x, gamma, dy, mean, rstd], &[&grads.dgamma, &grads.dbeta], stage1)?;
        return Ok(grads);
    }
    let part_dgamma = Tensor::empty(gpu, &[blocks, dim], DType::F32)?;
    let part_dbeta = Tensor::empty(gpu, &[blocks, dim], DType::F32)?;
    launch(gpu, SHADER, partial, &[], &pb, &[x, gamma, dy, mean, rstd], &[&part_dgamma, &part_dbeta], stage1)?;
    // Stage 2: the blocks of each column in increasing order.
    let stage2 = gpu.grid_1d(dim.div_ceil(COLS_WG))?;
    launch(gpu, SHADER, "dparams_final", &[], &pb, &[&part_dgamma, &part_dbeta], &[&grads.dgamma, &grads.dbeta], stage2)?;
    Ok(grads)
}
