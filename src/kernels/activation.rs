//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation { GeluErf, GeluTanh, Relu, Tanh }

pub fn activation_fwd(gpu: &Gpu, x: &Tensor, act: Activation) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("activation_fwd: not built yet".into()))
}

/// dx = dy * act'(x)
pub fn activation_bwd(gpu: &Gpu, x: &Tensor, dy: &Tensor, act: Activation) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("activation_bwd: not built yet".into()))
}
