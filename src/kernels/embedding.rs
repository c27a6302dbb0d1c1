//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};


/// out[i, :] = table[ids[i], :]   (table: [vocab, dim], ids: [n] I32; an id outside [0, vocab) gives a zero row)
pub fn embedding_fwd(gpu: &Gpu, table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("embedding_fwd: not built yet".into()))
}

/// dtable[v, :] = sum over i with ids[i] == v of dy[i, :], in increasing i (deterministic, no float atomics).
pub fn embedding_bwd(gpu: &Gpu, dy: &Tensor, ids: &Tensor, vocab: usize) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("embedding_bwd: not built yet".into()))
}
