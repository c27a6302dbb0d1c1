//! Images to ViT patches and back (`shaders/patch.wgsl`): a permutation of 32-bit words, so it is exact.
//! `patchify` in HuggingFace's (p, q, c) order gives MAE's targets; in the conv weight's (c, p, q) order it
//! turns the stride-p patch-embedding convolution into one matmul with the weight `[hidden, C, p, p]` viewed
//! as `[hidden, C·p·p]`. `unpatchify` is the inverse (predictions back to pictures) and the adjoint.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    runs: u32,
    channels: u32,
    height: u32,
    width: u32,
    side: u32,
    grid_w: u32,
    patches: u32,
    pqc: u32,
} // = Params in patch.wgsl

/// The order of the `p·p·C` values inside a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOrder {
    /// (row in patch, column in patch, channel): HuggingFace's `patchify` (MAE targets and predictions).
    Pqc,
    /// (channel, row, column): a conv weight `[hidden, C, p, p]` flattened (the patch embedding).
    Cpq,
}

/// The patch grid of an image of `height` x `width` in patches of side `patch`, or an error naming `what`.
pub fn grid(op: &str, what: &str, height: usize, width: usize, patch: usize) -> Result<(usize, usize)> {
    if patch == 0 || height % patch != 0 || width % patch != 0 || height == 0 || width == 0 {
        return Err(Error::Shape(format!(
            "{op}: {what} of {height}x{width} pixels does not divide into patches of {patch}x{patch}"
        )));
    }
    Ok((height / patch, width / patch))
}

fn check_words(op: &str, name: &str, t: &Tensor) -> Result<()> {
    if t.dtype().size() != 4 {
        return Err(Error::DType(format!("{op}: {name} is {}, expected a 32-bit type", t.dtype().name())));
    }
    if u32::try_from(t.numel()).is_err() {
        return Err(Error::Shape(format!("{op}: {name} has shape {:?}, more elements than a kernel can index", t.shape())));
    }
    Ok(())
}

/// images `[batch, C, H, W]` → patches `[batch, (H/p)·(W/p), p·p·C]` in `order` (H and W multiples of p).
pub fn patchify(gpu: &Gpu, images: &Tensor, patch: usize, order: PatchOrder) -> Result<Tensor> {
    const OP: &str = "patchify";
    check_words(OP, "images", images)?;
    let [batch, channels, height, width] = images.dims(OP, "images")?;
    let (gh, gw) = grid(OP, "an image", height, width, patch)?;
    let patches = gh * gw;
    let out = Tensor::empty(gpu, &[batch, patches, patch * patch * channels], images.dtype())?;
    let runs = batch * patches * channels * patch;
    if runs == 0 {
        return Ok(out);
    }
    let p = params(runs, channels, height, width, patch, gw, patches, order);
    launch(gpu, "patch", "patchify", &[], &p, &[images], &[&out], gpu.grid_1d(runs.div_ceil(256))?)?;
    Ok(out)
}

/// patches `[batch, (H/p)·(W/p), p·p·C]` in `order` → images `[batch, C, H, W]`: the inverse of `patchify`.
pub fn unpatchify(gpu: &Gpu, patches: &Tensor, channels: usize, height: usize, width: usize, patch: usize, order: PatchOrder) -> Result<Tensor> {
    const OP: &str = "unpatchify";
    check_words(OP, "patches", patches)?;
    let (gh, gw) = grid(OP, "an image", height, width, patch)?;
    let [batch, _, _] = patches.dims(OP, "patches")?;
    patches.expect_shape(OP, "patches", &[batch, gh * gw, patch * patch * channels])?;
    let out = Tensor::empty(gpu, &[batch, channels, height, width], patches.dtype())?;
    let runs = batch * channels * height * gw;
    if runs == 0 {
        return Ok(out);
    }
    let p = params(runs, channels, height, width, patch, gw, gh * gw, order);
    launch(gpu, "patch", "unpatchify", &[], &p, &[patches], &[&out], gpu.grid_1d(runs.div_ceil(256))?)?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn params(runs: usize, channels: usize, height: usize, width: usize, patch: usize, grid_w: usize, patches: usize, order: PatchOrder) -> Params {
    Params {
        runs: runs as u32,
        channels: channels as u32,
        height: height as u32,
        width: width as u32,
        side: patch as u32,
        grid_w: grid_w as u32,
        patches: patches as u32,
        pqc: (order == PatchOrder::Pqc) as u32,
    }
}
