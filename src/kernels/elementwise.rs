//! STUB (replaced by the family branch): signatures of docs/kernel_api.md.
#![allow(unused_variables)]
use crate::gpu::Gpu;
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BinaryOp { Add, Sub, Mul, Div }

/// out = a op b with numpy broadcasting (rank <= 6; either side may broadcast).
pub fn binary(gpu: &Gpu, a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("binary: not built yet".into()))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp { Scale(f32), AddScalar(f32), Neg, Exp, Log, Sqrt, Rsqrt { eps: f32 } , Square, Recip }

pub fn unary(gpu: &Gpu, x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let _ = gpu;
    Err(Error::Gpu("unary: not built yet".into()))
}

/// dst += alpha * src, in place (same shape). Used to accumulate gradients.
pub fn axpy(gpu: &Gpu, dst: &Tensor, src: &Tensor, alpha: f32) -> Result<()> {
    let _ = gpu;
    Err(Error::Gpu("axpy: not built yet".into()))
}
