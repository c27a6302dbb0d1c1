//! Counter-based noise on the device (`shaders/noise.wgsl`, which imports dropout.wgsl's generator): standard
//! normals by Philox-4x32-10 and Box-Muller (the VAE's reparameterisation, Gaussian input noise, prior samples)
//! and masking noise (a fraction of entries zeroed: the imported dropout entry with scale 1). Element i is drawn at stream position `offset + i` under key `seed`, so the
//! same (seed, offset) repeats exactly and disjoint offsets give independent draws.
use super::dropout::{keep_or_zero, stream_params};
use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::Result;

/// A new f32 tensor of `shape` holding standard normals z(offset + i) under `seed` (Box-Muller on Philox).
pub fn normal(gpu: &Gpu, shape: &[usize], seed: u64, offset: u64) -> Result<Tensor> {
    let out = Tensor::empty(gpu, shape, DType::F32)?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let (p, blocks) = stream_params("normal", n, seed, offset, 0, 1.0)?;
    launch(gpu, "noise", "normal", &[], &p, &[], &[&out], gpu.grid_1d(blocks.div_ceil(256))?)?;
    Ok(out)
}

/// Masking noise: y = x where philox(seed, offset + i) keeps it, else 0; a fraction `p` in [0, 1] of the
/// entries is zeroed and the rest are left unscaled. The keep decision is dropout's for the same (seed, offset).
pub fn mask(gpu: &Gpu, x: &Tensor, p: f32, seed: u64, offset: u64) -> Result<Tensor> {
    keep_or_zero(gpu, "mask", "noise", x, p, seed, offset, false)
}
