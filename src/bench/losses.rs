//! Benchmarks of the losses kernels: embedding gather and its adjoint, cross-entropy, MAE reconstruction
//! loss, NT-Xent. Memory-bound rows count the compulsory bytes (each input read once, each output written
//! once); NT-Xent counts the flops of its two N x N x dim products.
use super::{Bench, Work};
use crate::gpu::Gpu;
use crate::kernels::{cross_entropy, embedding, nt_xent, recon_loss};
use crate::tensor::Tensor;
use crate::Result;

/// Deterministic pseudo-random values for inputs (SplitMix64), uniform in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Token ids in [0, vocab): one in ten is id 0 (padding), the rest spread over the vocabulary.
fn ids(n: usize, vocab: usize, seed: u64) -> Vec<i32> {
    values(n, seed)
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 10 == 9 { 0 } else { (((v + 1.0) * 0.5 * vocab as f32) as usize).min(vocab - 1) as i32 })
        .collect()
}

fn tensor(gpu: &Gpu, shape: &[usize], seed: u64) -> Result<Tensor> {
    Tensor::from_slice(gpu, &values(shape.iter().product(), seed), shape)
}

/// Times the losses kernels.
pub fn run(b: &mut Bench) -> Result<()> {
    let gpu = b.gpu;
    if b.wants("cross_entropy") {
        for (rows, vocab) in [(2048, 8192), (512, 30522)] {
            let logits = tensor(gpu, &[rows, vocab], 1)?;
            let targets = Tensor::from_slice(gpu, &ids(rows, vocab, 2), &[rows])?;
            let bytes = 8.0 * (rows * vocab) as f64;
            b.time("cross_entropy", &format!("{rows}x{vocab}"), Work::bytes(bytes), |g| {
                cross_entropy::cross_entropy(g, &logits, &targets).map(|_| ())
            })?;
        }
    }
    if b.wants("recon_loss") {
        for (batch, patches, dim) in [(64, 147, 768), (256, 49, 768)] {
            let pred = tensor(gpu, &[batch, patches, dim], 3)?;
            let target = tensor(gpu, &[batch, patches, dim], 4)?;
            let mask = Tensor::from_slice(gpu, &vec![1.0f32; batch * patches], &[batch, patches])?;
            let bytes = 12.0 * (batch * patches * dim) as f64;
            b.time("recon_loss", &format!("{batch}x{patches}x{dim}"), Work::bytes(bytes), |g| {
                recon_loss::recon_loss(g, &pred, &target, &mask, true).map(|_| ())
            })?;
        }
    }
    if b.wants("nt_xent") {
        for (rows, dim) in [(512, 128), (2048, 128)] {
            let z = tensor(gpu, &[rows, dim], 5)?;
            let flops = 4.0 * (rows * rows * dim) as f64;
            b.time("nt_xent", &format!("{rows}x{dim}"), Work::flops(flops), |g| nt_xent::nt_xent(g, &z, 0.1).map(|_| ()))?;
        }
    }
    for (n, vocab, dim) in [(8192, 30522, 128), (4096, 30522, 768)] {
        let shape = format!("{n}x{vocab}x{dim}");
        if b.wants("embedding_gather") {
            let table = tensor(gpu, &[vocab, dim], 6)?;
            let id = Tensor::from_slice(gpu, &ids(n, vocab, 7), &[n])?;
            let bytes = (8 * n * dim + 4 * n) as f64;
            b.time("embedding_gather", &shape, Work::bytes(bytes), |g| embedding::embedding_fwd(g, &table, &id).map(|_| ()))?;
        }
        if b.wants("embedding_scatter_add") {
            let dy = tensor(gpu, &[n, dim], 8)?;
            let id = Tensor::from_slice(gpu, &ids(n, vocab, 9), &[n])?;
            let bytes = (4 * n * dim + 4 * vocab * dim + 4 * n) as f64;
            b.time("embedding_scatter_add", &shape, Work::bytes(bytes), |g| {
                embedding::embedding_bwd(g, &dy, &id, vocab).map(|_| ())
            })?;
        }
    }
    Ok(())
}
