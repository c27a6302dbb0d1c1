//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// either may carry a leading batch dim [batch, .., ..]; a rank-2 operand is shared by every batch (stride 0).
/// Output [M,N] or [batch,M,N].
pub fn matmul(gpu: &Gpu, a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool, bias: Option<&Tensor>) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("matmul: not built yet".into()))
}
