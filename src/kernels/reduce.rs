//! Sums and means over broadcast axes (`shaders/reduce.wgsl`): bias gradients, broadcast backward,
//! keepdim reductions. Deterministic: each output is summed in a fixed order, in one or two stages.
use bytemuck::{Pod, Zeroable};

use crate::gpu::Gpu;
use crate::kernels::fill::fill;
use crate::kernels::launch;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// Reduction applied over the broadcast axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct Params {
    n_items: u32,
    n_out: u32,
    chunk: u32,
    r_total: u32,
    kept_dims: [u32; 4],
    kept_strides: [u32; 4],
    red_dims: [u32; 4],
    red_strides: [u32; 4],
    carry: [u32; 4],
    scale: f32,
    _pad: [u32; 3],
} // = Params in reduce.wgsl

/// Fewest reduced positions one invocation sums before the work is split into chunks.
const MIN_CHUNK: usize = 32;
/// Most chunks per output (bounds the serial sum of the second stage).
const MAX_CHUNKS: usize = 512;

/// Up to 3 (extent, stride) groups, right-aligned into (dims, strides) padded with extent 1 at the front.
fn groups3(groups: &[(usize, usize)]) -> ([u32; 4], [u32; 4]) {
    let mut dims = [1u32; 4];
    let mut strides = [0u32; 4];
    let lead = 3 - groups.len();
    for (k, &(extent, stride)) in groups.iter().enumerate() {
        dims[lead + k] = extent as u32;
        strides[lead + k] = stride as u32;
    }
    (dims, strides)
}

/// Params of one pass: outputs at `kept` groups, each summing `red` groups in chunks of `chunk`.
fn pass_params(kept: &[(usize, usize)], red: &[(usize, usize)], chunk: usize, scale: f32) -> Params {
    let (kept_dims, kept_strides) = groups3(kept);
    let (red_dims, red_strides) = groups3(red);
    let n_out: usize = kept.iter().map(|g| g.0).product();
    let r_total: usize = red.iter().map(|g| g.0).product();
    let n_chunks = r_total.div_ceil(chunk.max(1)).max(1);
    let carry1 = red_strides[1].wrapping_sub(red_dims[2].wrapping_mul(red_strides[2]));
    let carry0 = red_strides[0].wrapping_sub(red_dims[1].wrapping_mul(red_strides[1]));
    Params {
        n_items: (n_out * n_chunks) as u32,
        n_out: n_out as u32,
        chunk: chunk as u32,
        r_total: r_total as u32,
        kept_dims,
        kept_strides,
        red_dims,
        red_strides,
        carry: [carry0, carry1, 0, 0],
        scale,
        _pad: [0; 3],
    }
}

/// Reduces x to `shape`, which must broadcast to x.shape (numpy rules, same rank or a suffix):
/// sums (or averages) over every broadcast axis. Deterministic (fixed order, no atomics).
pub fn reduce_to(gpu: &Gpu, x: &Tensor, shape: &[usize], op: ReduceOp) -> Result<Tensor> {
    let name = "reduce_to";
    x.expect_dtype(name, "x", DType::F32)?;
    let xs = x.shape();
    if shape.len() > xs.len() {
        return Err(Error::Shape(format!("{name}: shape {shape:?} has more axes than x {xs:?}")));
    }
    // Each axis of x is kept (shape has its extent) or reduced (shape has 1, or lacks the axis).
    let lead = xs.len() - shape.len();
    let x_strides = crate::kernels::elementwise::contiguous_strides(xs);
    let mut groups: Vec<(bool, usize, usize)> = Vec::new(); // (reduced, extent, stride), extent-1 axes dropped
    for (k, &extent) in xs.iter().enumerate() {
        let reduced = match (k >= lead).then(|| shape[k - lead]) {
            Some(s) if s == extent => false,
            Some(1) | None => true,
            Some(s) => {
                return Err(Error::Shape(format!(
                    "{name}: shape {shape:?} does not broadcast to x {xs:?} (axis {k}: {s} vs {extent})"
                )));
            }
        };
        if extent == 1 {
            continue;
        }
        match groups.last_mut() {
            Some(g) if g.0 == reduced => {
                g.1 *= extent;
                g.2 = x_strides[k];
            }
            _ => groups.push((reduced, extent, x_strides[k])),
        }
    }
    let out = Tensor::empty(gpu, shape, DType::F32)?;
    let n_out = out.numel();
    let kept: Vec<(usize, usize)> = groups.iter().filter(|g| !g.0).map(|g| (g.1, g.2)).collect();
    let red: Vec<(usize, usize)> = groups.iter().filter(|g| g.0).map(|g| (g.1, g.2)).collect();
    if kept.len() > 3 || red.len() > 3 {
        return Err(Error::Shape(format!(
            "{name}: reducing x {xs:?} to {shape:?} alternates kept and reduced axes more than 3 times each"
        )));
    }
    if n_out == 0 {
        return Ok(out);
    }
    let r_total: usize = red.iter().map(|g| g.0).product();
    if r_total == 0 {
        // An empty sum is 0; an empty mean is 0/0.
        fill(gpu, &out, if op == ReduceOp::Sum { 0.0 } else { f32::NAN })?;
        return Ok(out);
    }
    let scale = match op {
        ReduceOp::Sum => 1.0,
        ReduceOp::Mean => (1.0 / r_total as f64) as f32,
    };
    // Enough invocations to fill the device: a few thousand lanes on a CPU, a few hundred thousand on a GPU.
    let target: usize = if gpu.is_cpu() { 4096 } else { 1 << 17 };
    let max_chunks = r_total.div_ceil(MIN_CHUNK).clamp(1, MAX_CHUNKS);
    let want_chunks = target.div_ceil(n_out).clamp(1, max_chunks);
    let chunk = r_total.div_ceil(want_chunks);
    let n_chunks = r_total.div_ceil(chunk);
    let grid = |items: usize| gpu.grid_1d(items.div_ceil(256));
    if n_chunks == 1 {
        let params = pass_params(&kept, &red, r_total, scale);
        launch(gpu, "reduce", "reduce", &[], &params, &[x], &[&out], grid(n_out)?)?;
        return Ok(out);
    }
    let partial = Tensor::empty(gpu, &[n_chunks, n_out], DType::F32)?;
    let params = pass_params(&kept, &red, chunk, 1.0);
    launch(gpu, "reduce", "reduce", &[], &params, &[x], &[&partial], grid(n_out * n_chunks)?)?;
    let params = pass_params(&[(n_out, 1)], &[(n_chunks, n_out)], n_chunks, scale);
    launch(gpu, "reduce", "reduce", &[], &params, &[&partial], &[&out], grid(n_out)?)?;
    Ok(out)
}
