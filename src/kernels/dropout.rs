//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};


/// y = x * keep / (1 - p), keep = philox(seed, offset + i) >= p; the mask is never stored: the backward
/// pass calls dropout(dy, p, seed, offset) again. p = 0 copies.
pub fn dropout(gpu: &Gpu, x: &Tensor, p: f32, seed: u64, offset: u64) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("dropout: not built yet".into()))
}
