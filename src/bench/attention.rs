//! Benchmarks of the attention kernels: the fused `attention_fwd` / `attention_bwd` against an unfused baseline
//! that materialises the [batch·heads, seq, seq] scores (`shaders/bench_attention_unfused.wgsl`).
//!
//! Work is counted by the usual convention, whatever each implementation really does:
//! forward 4·B·H·T²·D flops (Q·Kᵀ and P·V, two flops per multiply-add), backward 2.5× the forward
//! (dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q, plus the recomputation a fused kernel needs, by convention).
use bytemuck::{Pod, Zeroable};

use super::{Bench, Work};
use crate::gpu::Gpu;
use crate::kernels::attention::{attention_bwd, attention_fwd, AttentionPath, Layout};
use crate::kernels::launch;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// Invocations per workgroup of the unfused kernels (`WG` in bench_attention_unfused.wgsl).
const WG: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    bh: u32,
    seq: u32,
    head_dim: u32,
    alpha: f32,
} // = Params in bench_attention_unfused.wgsl

fn unfused_dims(op: &str, q: &Tensor) -> Result<(usize, usize, usize)> {
    let [batch, heads, seq, head_dim] = q.dims::<4>(op, "q")?;
    if batch * heads * seq * seq > u32::MAX as usize / 2 {
        return Err(Error::Shape(format!("{op}: q has shape {:?}: the scores would not fit 32-bit indexing", q.shape())));
    }
    Ok((batch * heads, seq, head_dim))
}

fn dispatch(gpu: &Gpu, entry: &'static str, p: &Params, reads: &[&Tensor], writes: &[&Tensor], invocations: usize) -> Result<()> {
    launch(gpu, "bench_attention_unfused", entry, &[], p, reads, writes, gpu.grid_1d(invocations.div_ceil(WG))?)
}

/// Unfused baseline forward (no mask): (O [batch, heads, seq, head_dim], P [batch, heads, seq, seq]).
pub fn unfused_fwd(gpu: &Gpu, q: &Tensor, k: &Tensor, v: &Tensor, scale: f32) -> Result<(Tensor, Tensor)> {
    let op = "attention_unfused_fwd";
    let (bh, seq, head_dim) = unfused_dims(op, q)?;
    k.expect_shape(op, "k", q.shape())?;
    v.expect_shape(op, "v", q.shape())?;
    let probs = Tensor::empty(gpu, &[bh, seq, seq], DType::F32)?;
    let out = Tensor::empty(gpu, q.shape(), DType::F32)?;
    let p = Params { bh: bh as u32, seq: seq as u32, head_dim: head_dim as u32, alpha: scale };
    dispatch(gpu, "unfused_qkt", &p, &[q, k], &[&probs], bh * seq * seq)?;
    dispatch(gpu, "unfused_softmax", &p, &[], &[&probs], bh * seq)?;
    dispatch(gpu, "unfused_pv", &Params { alpha: 1.0, ..p }, &[&probs, v], &[&out], bh * seq * head_dim)?;
    Ok((out, probs))
}

/// Unfused baseline backward from the stored P: (dQ, dK, dV).
pub fn unfused_bwd(gpu: &Gpu, q: &Tensor, k: &Tensor, v: &Tensor, probs: &Tensor, dout: &Tensor, scale: f32) -> Result<[Tensor; 3]> {
    let op = "attention_unfused_bwd";
    let (bh, seq, head_dim) = unfused_dims(op, q)?;
    k.expect_shape(op, "k", q.shape())?;
    v.expect_shape(op, "v", q.shape())?;
    dout.expect_shape(op, "dout", q.shape())?;
    probs.expect_shape(op, "probs", &[bh, seq, seq])?;
    let ds = Tensor::empty(gpu, &[bh, seq, seq], DType::F32)?; // dP, then dS in place
    let [dq, dk, dv] = [0; 3].map(|_| Tensor::empty(gpu, q.shape(), DType::F32));
    let (dq, dk, dv) = (dq?, dk?, dv?);
    let p = Params { bh: bh as u32, seq: seq as u32, head_dim: head_dim as u32, alpha: 1.0 };
    let scaled = Params { alpha: scale, ..p };
    let rows_out = bh * seq * head_dim;
    dispatch(gpu, "unfused_qkt", &p, &[dout, v], &[&ds], bh * seq * seq)?;
    dispatch(gpu, "unfused_softmax_bwd", &p, &[probs], &[&ds], bh * seq)?;
    dispatch(gpu, "unfused_pv", &scaled, &[&ds, k], &[&dq], rows_out)?;
    dispatch(gpu, "unfused_ptx", &scaled, &[&ds, q], &[&dk], rows_out)?;
    dispatch(gpu, "unfused_ptx", &p, &[probs, dout], &[&dv], rows_out)?;
    Ok([dq, dk, dv])
}

/// Deterministic inputs in [-1, 1) (a small LCG: benchmarks need values, not randomness).
fn filled(gpu: &Gpu, shape: &[usize], seed: u32) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let data: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect();
    Tensor::from_slice(gpu, &data, shape)
}

/// Times the fused attention kernels and the unfused baselines.
pub fn run(b: &mut Bench) -> Result<()> {
    let gpu = b.gpu;
    let names = ["attention_fwd", "attention_bwd", "attention_matmul_fwd", "attention_matmul_bwd", "attention_unfused_fwd", "attention_unfused_bwd"];
    if !names.iter().any(|n| b.wants(n)) {
        return Ok(());
    }
    for (batch, heads, seq, head_dim) in [(64, 2, 32, 32), (64, 2, 32, 64), (16, 2, 64, 64), (8, 4, 128, 32), (2, 4, 512, 64), (4, 12, 197, 64)] {
        let dims = [batch, heads, seq, head_dim];
        let shape = format!("{batch}x{heads}x{seq}x{head_dim}");
        let (q, k, v, dout) = (filled(gpu, &dims, 1)?, filled(gpu, &dims, 2)?, filled(gpu, &dims, 3)?, filled(gpu, &dims, 4)?);
        let scale = 1.0 / (head_dim as f32).sqrt();
        let fwd_flops = 4.0 * (batch * heads) as f64 * (seq * seq) as f64 * head_dim as f64;
        let bwd_flops = 2.5 * fwd_flops;
        // Both paths at every shape (`AttentionPath::for_shape` picks one).
        for (path, fwd, bwd) in [(AttentionPath::Fused, "attention_fwd", "attention_bwd"), (AttentionPath::Matmul, "attention_matmul_fwd", "attention_matmul_bwd")] {
            let saved = attention_fwd(gpu, &q, &k, &v, None, false, scale, Layout::HeadsFirst, None, Some(path))?;
            b.time(fwd, &shape, Work::flops(fwd_flops), |g| attention_fwd(g, &q, &k, &v, None, false, scale, Layout::HeadsFirst, None, Some(path)).map(|_| ()))?;
            b.time(bwd, &shape, Work::flops(bwd_flops), |g| {
                attention_bwd(g, &q, &k, &v, &saved.out, &saved.lse, &dout, None, false, scale, Layout::HeadsFirst, None, Some(path)).map(|_| ())
            })?;
        }
        if b.wants("attention_unfused") {
            let (_, probs) = unfused_fwd(gpu, &q, &k, &v, scale)?;
            b.time("attention_unfused_fwd", &shape, Work::flops(fwd_flops), |g| unfused_fwd(g, &q, &k, &v, scale).map(|_| ()))?;
            b.time("attention_unfused_bwd", &shape, Work::flops(bwd_flops), |g| {
                unfused_bwd(g, &q, &k, &v, &probs, &dout, scale).map(|_| ())
            })?;
        }
    }
    Ok(())
}
