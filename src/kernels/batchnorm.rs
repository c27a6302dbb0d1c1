//! BatchNorm1d over the rows of `[rows, dim]` (`shaders/batchnorm.wgsl`), forward in training mode (batch
//! statistics, running statistics updated as PyTorch: momentum, unbiased variance) or eval mode (running
//! statistics), with or without the affine γ, β; and its backward pass.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// Most rows one call normalises: each invocation loops over the rows three times, and lavapipe stops an
/// invocation after 65535 loop iterations in all.
pub const MAX_ROWS: usize = 16_384;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    eps: f32,
    momentum: f32,
    training: u32,
    affine: u32,
    track: u32,
    _pad: u32,
} // = Params in batchnorm.wgsl

/// The forward results: y and what the backward pass needs.
#[derive(Debug)]
pub struct BatchNormFwd {
    pub y: Tensor,    // [rows, dim]
    pub mean: Tensor, // [dim] the statistics used (batch or running)
    pub rstd: Tensor, // [dim] 1 / sqrt(var + eps)
}

/// Gradients of x and, with affine, of γ and β.
#[derive(Debug)]
pub struct BatchNormGrads {
    pub dx: Tensor,
    pub dgamma: Option<Tensor>,
    pub dbeta: Option<Tensor>,
}

fn check(op: &str, x: &Tensor, gamma: Option<&Tensor>, beta: Option<&Tensor>) -> Result<[usize; 2]> {
    x.expect_dtype(op, "x", DType::F32)?;
    let [rows, dim] = x.dims::<2>(op, "x")?;
    for (name, t) in [("gamma", gamma), ("beta", beta)] {
        if let Some(t) = t {
            t.expect_dtype(op, name, DType::F32)?;
            t.expect_shape(op, name, &[dim])?;
        }
    }
    if rows > MAX_ROWS {
        return Err(Error::Shape(format!("{op}: x has {rows} rows, more than the {MAX_ROWS} one call normalises")));
    }
    Ok([rows, dim])
}

/// BatchNorm1d of x `[rows, dim]` over its rows. `affine`: (γ, β) `[dim]`, or None for γ = 1, β = 0.
/// `running`: (running_mean, running_var) `[dim]`: updated in place when `training` (momentum, unbiased
/// variance), read when not. Training needs at least 2 rows; eval needs the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_fwd(
    gpu: &Gpu,
    x: &Tensor,
    affine: Option<(&Tensor, &Tensor)>,
    running: Option<(&Tensor, &Tensor)>,
    training: bool,
    momentum: f32,
    eps: f32,
) -> Result<BatchNormFwd> {
    const OP: &str = "batchnorm_fwd";
    let [rows, dim] = check(OP, x, affine.map(|a| a.0), affine.map(|a| a.1))?;
    if let Some((m, v)) = running {
        for (name, t) in [("running_mean", m), ("running_var", v)] {
            t.expect_dtype(OP, name, DType::F32)?;
            t.expect_shape(OP, name, &[dim])?;
        }
    }
    if training && rows < 2 {
        return Err(Error::Invalid(format!("{OP}: x has shape {:?}: batch statistics need at least 2 rows", x.shape())));
    }
    if !training && running.is_none() {
        return Err(Error::Invalid(format!("{OP}: eval mode needs the running statistics")));
    }
    if !(eps > 0.0) || !(0.0..=1.0).contains(&momentum) {
        return Err(Error::Invalid(format!("{OP}: eps {eps} must be positive and momentum {momentum} in [0, 1]")));
    }
    let y = Tensor::empty(gpu, &[rows, dim], DType::F32)?;
    let mean = Tensor::empty(gpu, &[dim], DType::F32)?;
    let rstd = Tensor::empty(gpu, &[dim], DType::F32)?;
    if rows * dim == 0 {
        return Ok(BatchNormFwd { y, mean, rstd });
    }
    let dummy = Tensor::empty(gpu, &[1], DType::F32)?;
    // Two dummies for the running statistics: one buffer cannot be bound read-write twice.
    let dummies = (Tensor::empty(gpu, &[1], DType::F32)?, Tensor::empty(gpu, &[1], DType::F32)?);
    let (g, b) = affine.unwrap_or((&dummy, &dummy));
    let (rm, rv) = running.unwrap_or((&dummies.0, &dummies.1));
    let p = Params {
        rows: rows as u32,
        dim: dim as u32,
        eps,
        momentum,
        training: training as u32,
        affine: affine.is_some() as u32,
        track: (running.is_some() && training) as u32,
        _pad: 0,
    };
    launch(gpu, "batchnorm", "bn_fwd", &[], &p, &[x, g, b], &[&y, &mean, &rstd, rm, rv], gpu.grid_1d(dim.div_ceil(64))?)?;
    Ok(BatchNormFwd { y, mean, rstd })
}

/// dx (and dγ, dβ when `gamma` is given) of `batchnorm_fwd` from dy, x and the forward's mean and rstd;
/// `training` as in the forward (in eval mode the statistics are constants).
pub fn batchnorm_bwd(gpu: &Gpu, dy: &Tensor, x: &Tensor, gamma: Option<&Tensor>, mean: &Tensor, rstd: &Tensor, training: bool) -> Result<BatchNormGrads> {
    const OP: &str = "batchnorm_bwd";
    let [rows, dim] = check(OP, x, gamma, None)?;
    dy.expect_dtype(OP, "dy", DType::F32)?;
    dy.expect_shape(OP, "dy", &[rows, dim])?;
    mean.expect_shape(OP, "mean", &[dim])?;
    rstd.expect_shape(OP, "rstd", &[dim])?;
    let dx = Tensor::empty(gpu, &[rows, dim], DType::F32)?;
    let (dgamma, dbeta) = match gamma {
        Some(_) => (Tensor::empty(gpu, &[dim], DType::F32)?, Tensor::empty(gpu, &[dim], DType::F32)?),
        None => (Tensor::empty(gpu, &[1], DType::F32)?, Tensor::empty(gpu, &[1], DType::F32)?),
    };
    if rows * dim > 0 {
        let dummy = Tensor::empty(gpu, &[1], DType::F32)?;
        let p = Params {
            rows: rows as u32,
            dim: dim as u32,
            eps: 0.0,
            momentum: 0.0,
            training: training as u32,
            affine: gamma.is_some() as u32,
            track: 0,
            _pad: 0,
        };
        let g = gamma.unwrap_or(&dummy);
        launch(gpu, "batchnorm", "bn_bwd", &[], &p, &[dy, x, g, mean, rstd], &[&dx, &dgamma, &dbeta], gpu.grid_1d(dim.div_ceil(64))?)?;
    }
    let affine = gamma.is_some();
    Ok(BatchNormGrads { dx, dgamma: affine.then_some(dgamma), dbeta: affine.then_some(dbeta) })
}
