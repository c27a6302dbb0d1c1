//! Benchmarks of the matmul kernels: `matmul` (the kernel the adapter gets) against `matmul_naive`
//! (one output per invocation, `shaders/bench_matmul_naive.wgsl`). flops = 2·M·N·K·batch.
use bytemuck::{Pod, Zeroable};

use super::{Bench, Work};
use crate::kernels::launch;
use crate::kernels::matmul::matmul;
use crate::tensor::{DType, Tensor};
use crate::Result;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NaiveParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
} // = NaiveParams in bench_matmul_naive.wgsl

/// A tensor of `shape` filled with small deterministic values.
fn filled(b: &Bench, shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3).collect();
    Tensor::from_slice(b.gpu, &v, shape)
}

/// Times the matmul kernels.
pub fn run(b: &mut Bench) -> Result<()> {
    // (m, n, k, trans_a, trans_b): a square product, then transformer shapes (1024 tokens, d_model 128 or 512):
    // the linear layer x·Wᵀ (trans_b, W stored [out, in]), its input gradient dY·W, a projection, and the
    // weight gradient dYᵀ·X (trans_a); then MiniLM's linear layers (d_model 384, FFN 1536: k = 384, not a
    // power of two) beside their d_model 512 neighbours, and its weight gradients.
    let cases = [
        (1024, 1024, 1024, false, false),
        (1024, 128, 512, false, false),
        (1024, 512, 128, false, false),
        (1024, 512, 512, false, true),
        (1024, 2048, 512, false, true),
        (512, 128, 1024, true, false),
        (1024, 384, 384, false, true),
        (1024, 1536, 384, false, true),
        (384, 384, 1024, true, false),
        (1536, 384, 1024, true, false),
    ];
    for (m, n, k, trans_a, trans_b) in cases {
        if !b.wants("matmul") {
            break;
        }
        let a = filled(b, &if trans_a { [k, m] } else { [m, k] })?;
        let w = filled(b, &if trans_b { [n, k] } else { [k, n] })?;
        let shape = format!("{m}x{n}x{k}{}{}", if trans_a { " At" } else { "" }, if trans_b { " Bt" } else { "" });
        b.time("matmul", &shape, Work::flops(2.0 * (m * n * k) as f64), |g| {
            matmul(g, &a, &w, trans_a, trans_b, None).map(|_| ())
        })?;
    }
    let reps = b.reps;
    b.reps = reps.min(3); // the baseline takes seconds per run at 1024^3
    for s in [512usize, 1024] {
        if !b.wants("matmul_naive") {
            break;
        }
        let a = filled(b, &[s, s])?;
        let w = filled(b, &[s, s])?;
        let c = Tensor::empty(b.gpu, &[s, s], DType::F32)?;
        let p = NaiveParams { m: s as u32, n: s as u32, k: s as u32, _pad: 0 };
        let groups = b.gpu.grid_1d((s * s).div_ceil(64))?;
        b.time("matmul_naive", &format!("{s}x{s}x{s}"), Work::flops(2.0 * (s * s * s) as f64), |g| {
            launch(g, "bench_matmul_naive", "matmul_naive", &[], &p, &[&a, &w], &[&c], groups)
        })?;
    }
    b.reps = reps;
    Ok(())
}
