//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};


/// out = x.permute(perm) made contiguous (rank <= 6).
pub fn permute(gpu: &Gpu, x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("permute: not built yet".into()))
}

/// x[.., start..start+len, ..] along `axis`, contiguous.
pub fn slice(gpu: &Gpu, x: &Tensor, axis: usize, start: usize, len: usize) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("slice: not built yet".into()))
}

/// Concatenation along `axis`.
pub fn concat(gpu: &Gpu, xs: &[&Tensor], axis: usize) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("concat: not built yet".into()))
}

/// out[b, k, :] = x[b, index[b, k], :]   (x: [batch, len, dim], index: [batch, keep] I32)  -- MAE's visible patches
pub fn gather_rows(gpu: &Gpu, x: &Tensor, index: &Tensor) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("gather_rows: not built yet".into()))
}

/// The adjoint: out[b, index[b, k], :] += dy[b, k, :], zeros elsewhere, out: [batch, len, dim]. Deterministic.
pub fn scatter_rows(gpu: &Gpu, dy: &Tensor, index: &Tensor, len: usize) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("scatter_rows: not built yet".into()))
}
