//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct LossOut { pub loss: Tensor , pub grad: Tensor  }

/// Mean over rows whose target != -100 of -log softmax(logits)[target]; logits [n, vocab], targets [n] I32.
/// No counted row: loss 0 and zero gradient.
pub fn cross_entropy(gpu: &Gpu, logits: &Tensor, targets: &Tensor) -> Result<LossOut> {
    let _ = gpu;
    Err(Error::Gpu("cross_entropy: not built yet".into()))
}
