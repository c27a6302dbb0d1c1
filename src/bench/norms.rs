//! Benchmarks of the layer-norm, softmax, GELU, dropout and elementwise binary kernels. All are memory-bound:
//! `Work::bytes` counts the bytes each kernel must read and write once (the row kernels re-read rows from cache,
//! not counted).
use super::{Bench, Work};
use crate::kernels::activation::{activation_fwd, Activation};
use crate::kernels::dropout::dropout;
use crate::kernels::elementwise::{binary, BinaryOp};
use crate::kernels::layernorm::{layernorm_bwd, layernorm_fwd};
use crate::kernels::softmax::softmax_fwd;
use crate::tensor::Tensor;
use crate::Result;

/// A [rows, dim] f32 tensor of values in [-1, 1) from a fixed pattern (contents do not change the timing).
fn input(b: &Bench, rows: usize, dim: usize) -> Result<Tensor> {
    let data: Vec<f32> = (0..rows * dim).map(|i| ((i * 7919 % 2003) as f32 / 1001.5) - 1.0).collect();
    Tensor::from_slice(b.gpu, &data, &[rows, dim])
}

/// Times the layer-norm, softmax and GELU kernels.
pub fn run(b: &mut Bench) -> Result<()> {
    const F: f64 = 4.0; // bytes per f32
    let ln_shapes = [(1024, 128), (8192, 768)];
    if b.wants("layernorm_fwd") || b.wants("layernorm_bwd") {
        for (rows, dim) in ln_shapes {
            let x = input(b, rows, dim)?;
            let dy = input(b, rows, dim)?;
            let gamma = Tensor::from_slice(b.gpu, &vec![1.0f32; dim], &[dim])?;
            let beta = Tensor::from_slice(b.gpu, &vec![0.0f32; dim], &[dim])?;
            let shape = format!("{rows}x{dim}");
            let (r, d) = (rows as f64, dim as f64);
            // x, gamma, beta in; y, mean, rstd out.
            let bytes = F * (2.0 * r * d + 2.0 * d + 2.0 * r);
            b.time("layernorm_fwd", &shape, Work::bytes(bytes), |g| layernorm_fwd(g, &x, &gamma, &beta, 1e-5).map(|_| ()))?;
            let fwd = layernorm_fwd(b.gpu, &x, &gamma, &beta, 1e-5)?;
            // dy, x, gamma, mean, rstd in (dx kernel, then dy and x again for dγ/dβ); dx, dgamma, dbeta out.
            let bytes = F * (3.0 * r * d + d + 2.0 * r + 2.0 * r * d + 2.0 * d);
            b.time("layernorm_bwd", &shape, Work::bytes(bytes), |g| {
                layernorm_bwd(g, &dy, &x, &gamma, &fwd.mean, &fwd.rstd).map(|_| ())
            })?;
        }
    }
    if b.wants("softmax_fwd") {
        // Attention-score rows, a BERT-width row, and vocabulary logits.
        for (rows, dim) in [(1024, 128), (4096, 128), (8192, 768), (512, 30522)] {
            let x = input(b, rows, dim)?;
            let bytes = F * 2.0 * (rows * dim) as f64;
            b.time("softmax_fwd", &format!("{rows}x{dim}"), Work::bytes(bytes), |g| softmax_fwd(g, &x).map(|_| ()))?;
        }
    }
    if b.wants("gelu_fwd") {
        // A BERT-base MLP activation: [tokens, 4*768].
        for (rows, dim) in [(1024, 3072), (4096, 3072)] {
            let x = input(b, rows, dim)?;
            let bytes = F * 2.0 * (rows * dim) as f64;
            b.time("gelu_fwd", &format!("{rows}x{dim}"), Work::bytes(bytes), |g| {
                activation_fwd(g, &x, Activation::GeluErf).map(|_| ())
            })?;
        }
    }
    if b.wants("dropout") {
        // A BERT-base MLP activation, p = 0.1, at a 4-aligned stream position (the whole-vec4 entry).
        let (rows, dim) = (1024, 3072);
        let x = input(b, rows, dim)?;
        let bytes = F * 2.0 * (rows * dim) as f64;
        b.time("dropout", &format!("{rows}x{dim}"), Work::bytes(bytes), |g| dropout(g, &x, 0.1, 7, 0).map(|_| ()))?;
    }
    if b.wants("binary") {
        // out = a op b at a BERT-base MLP activation's size: both operands whole, b a row vector (a bias),
        // b a single element (a loss's gradient times d(loss)).
        let (rows, dim) = (1024, 3072);
        let a = input(b, rows, dim)?;
        let n = (rows * dim) as f64;
        for (what, other, bytes) in [
            ("whole", input(b, rows, dim)?, 3.0 * n),
            ("row", input(b, 1, dim)?.reshape(&[dim])?, 2.0 * n + dim as f64),
            ("scalar", input(b, 1, 1)?.reshape(&[1])?, 2.0 * n + 1.0),
        ] {
            let shape = format!("{rows}x{dim}*{what}");
            b.time("binary", &shape, Work::bytes(F * bytes), |g| binary(g, &a, &other, BinaryOp::Mul).map(|_| ()))?;
        }
    }
    Ok(())
}

