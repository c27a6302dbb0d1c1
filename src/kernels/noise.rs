//! Counter-based noise on the device (`shaders/noise.wgsl`, which imports dropout.wgsl's generator): standard
//! normals by Philox-4x32-10 and Box-Muller (the VAE's reparameterisation, Gaussian input noise, prior samples)
//! and masking noise (a fraction of entries zeroed: the imported dropout entry with scale 1). Element i is drawn at stream position `offset + i` under key `seed`, so the
//! same (seed, offset) repeats exactly and disjoint offsets give independent draws.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
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
} // = Params in dropout.wgsl, which noise.wgsl imports

/// The launch parameters for `n` elements at stream position `offset` (and the number of Philox blocks).
fn params(op: &str, n: usize, seed: u64, offset: u64, threshold: u32, scale: f32) -> Result<(Params, usize)> {
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

/// A new f32 tensor of `shape` holding standard normals z(offset + i) under `seed` (Box-Muller on Philox).
pub fn normal(gpu: &Gpu, shape: &[usize], seed: u64, offset: u64) -> Result<Tensor> {
    let out = Tensor::empty(gpu, shape, DType::F32)?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let (p, blocks) = params("normal", n, seed, offset, 0, 1.0)?;
    launch(gpu, "noise", "normal", &[], &p, &[], &[&out], gpu.grid_1d(blocks.div_ceil(256))?)?;
    Ok(out)
}

/// Masking noise: y = x where philox(seed, offset + i) keeps it, else 0; a fraction `p` in [0, 1] of the
/// entries is zeroed and the rest are left unscaled. The keep decision is dropout's for the same (seed, offset).
pub fn mask(gpu: &Gpu, x: &Tensor, p: f32, seed: u64, offset: u64) -> Result<Tensor> {
    x.expect_dtype("mask", "x", DType::F32)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::Invalid(format!("mask: p = {p} is outside [0, 1]")));
    }
    let n = x.numel();
    if p == 0.0 || n == 0 {
        return x.deep_clone(gpu);
    }
    let out = Tensor::empty(gpu, x.shape(), DType::F32)?;
    if p == 1.0 {
        crate::kernels::fill::fill(gpu, &out, 0.0)?;
        return Ok(out);
    }
    let threshold = (p as f64 * (1u64 << 24) as f64).ceil() as u32;
    let (params, blocks) = params("mask", n, seed, offset, threshold, 1.0)?;
    launch(gpu, "noise", "dropout", &[], &params, &[x], &[&out], gpu.grid_1d(blocks.div_ceil(256))?)?;
    Ok(out)
}
