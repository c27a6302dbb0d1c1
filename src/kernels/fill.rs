//! Fill a buffer with a 32-bit pattern (`shaders/fill.wgsl`): zeros, constants, NaN poison.
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::Result;

/// Sets every 32-bit word of `t`'s contents to `pattern` (rounded up to whole words).
pub fn fill_bits(gpu: &Gpu, t: &Tensor, pattern: u32) -> Result<()> {
    gpu.fill_words(t.binding(), pattern)
}

/// Sets every element of an f32 tensor to `value`.
pub fn fill(gpu: &Gpu, t: &Tensor, value: f32) -> Result<()> {
    t.expect_dtype("fill", "t", DType::F32)?;
    fill_bits(gpu, t, value.to_bits())
}

/// A new f32 tensor of `value`s.
pub fn full(gpu: &Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
    let t = Tensor::empty(gpu, shape, DType::F32)?;
    fill(gpu, &t, value)?;
    Ok(t)
}

/// A new tensor of zeros of any dtype.
pub fn zeros(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let t = Tensor::empty(gpu, shape, dtype)?;
    fill_bits(gpu, &t, 0)?;
    Ok(t)
}
