//! Inverted dropout (`shaders/dropout.wgsl`) with a counter-based Philox-4x32-10 generator keyed by
//! (seed, offset + element index): the mask is reproducible and never stored.
use bytemuck::{Pod, Zeroable};

use crate::gpu::Gpu;
use crate::kernels::fill::fill;
use crate::kernels::launch;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// The uniform block of dropout.wgsl (and of noise.wgsl, which imports it): a stretch of the Philox stream.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct Params {
    n: u32,
    blocks: u32,
    key_lo: u32,
    key_hi: u32,
    q_lo: u32,
    q_hi: u32,
    skip: u32,
    threshold: u32,
    scale: f32,
    _pad: [u32; 3],
} // = Params in dropout.wgsl (noise.wgsl imports it)

/// The launch parameters for `n` elements at stream position `offset` under `seed`, and the number of
/// Philox blocks (4 stream positions each) they span.
pub(crate) fn stream_params(op: &str, n: usize, seed: u64, offset: u64, threshold: u32, scale: f32) -> Result<(Params, usize)> {
    let skip = (offset % 4) as usize;
    let q = offset / 4;
    let blocks = (skip + n).div_ceil(4);
    u32::try_from(blocks * 4).map_err(|_| Error::Shape(format!("{op}: {n} elements are more than a kernel can index")))?;
    let p = Params {
        n: n as u32,
        blocks: blocks as u32,
        key_lo: seed as u32,
        key_hi: (seed >> 32) as u32,
        q_lo: q as u32,
        q_hi: (q >> 32) as u32,
        skip: skip as u32,
        threshold,
        scale,
        _pad: [0; 3],
    };
    Ok((p, blocks))
}

/// y = x · keep · scale with keep = philox(seed, offset + i) >= p, scale = 1/(1 − p) if `rescale` else 1, by
/// the `dropout` entry of shader `module` (dropout itself, or noise, which imports it); p = 0 copies, p = 1 zeroes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn keep_or_zero(gpu: &Gpu, op: &str, module: &'static str, x: &Tensor, p: f32, seed: u64, offset: u64, rescale: bool) -> Result<Tensor> {
    x.expect_dtype(op, "x", DType::F32)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::Invalid(format!("{op}: p = {p} is outside [0, 1]")));
    }
    let n = x.numel();
    if p == 0.0 || n == 0 {
        return x.deep_clone(gpu);
    }
    let out = Tensor::empty(gpu, x.shape(), DType::F32)?;
    if p == 1.0 {
        fill(gpu, &out, 0.0)?;
        return Ok(out);
    }
    // keep iff (word >> 8) / 2^24 >= p, decided on integers: (word >> 8) >= ceil(p * 2^24).
    let threshold = (p as f64 * (1u64 << 24) as f64).ceil() as u32;
    let scale = if rescale { (1.0 / (1.0 - p as f64)) as f32 } else { 1.0 };
    let (params, blocks) = stream_params(op, n, seed, offset, threshold, scale)?;
    let groups = gpu.grid_1d(blocks.div_ceil(256))?;
    if params.skip == 0 {
        launch(gpu, module, "dropout4", &[], &params, &[x], &[&out], groups)?; // block g is vec4 g
    } else {
        launch(gpu, module, "dropout", &[], &params, &[x], &[&out], groups)?;
    }
    Ok(out)
}

/// y = x * keep / (1 - p), keep = philox(seed, offset + i) >= p; the mask is never stored: the backward
/// pass calls dropout(dy, p, seed, offset) again. p = 0 copies.
pub fn dropout(gpu: &Gpu, x: &Tensor, p: f32, seed: u64, offset: u64) -> Result<Tensor> {
    keep_or_zero(gpu, "dropout", "dropout", x, p, seed, offset, true)
}
