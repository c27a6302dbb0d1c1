//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReduceOp { Sum, Mean }

/// Reduces x to `shape`, which must broadcast to x.shape (numpy rules, same rank or a suffix):
/// sums (or averages) over every broadcast axis. Deterministic (fixed order, no atomics).
/// Covers bias gradients ([M,N] -> [N]), broadcast backward, sum/mean over an axis (keepdim shape).
pub fn reduce_to(gpu: &Gpu, x: &Tensor, shape: &[usize], op: ReduceOp) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("reduce_to: not built yet".into()))
}
