//! Elementwise activations and their backward (`shaders/activation.wgsl`): exact (erf) and tanh GELU,
//! ReLU, tanh, sigmoid; and erf itself, which WGSL lacks and the exact GELU is built on.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::Result;

const SHADER: &str = "activation";
/// vec4s per workgroup: 256 invocations (`WG` in activation.wgsl) of one vec4 each.
const VEC4S_PER_WG: usize = 256;

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// x·Φ(x), Φ the standard normal CDF (erf form, as PyTorch's default GELU).
    GeluErf,
    /// 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))), as GPT-2 / PyTorch's `approximate="tanh"`.
    GeluTanh,
    /// max(x, 0); derivative 0 at 0.
    Relu,
    /// tanh(x).
    Tanh,
    /// 1 / (1 + exp(−x)), computed without overflow for any x.
    Sigmoid,
}

impl Activation {
    fn entries(self) -> (&'static str, &'static str) {
        match self {
            Activation::GeluErf => ("gelu_erf_fwd", "gelu_erf_bwd"),
            Activation::GeluTanh => ("gelu_tanh_fwd", "gelu_tanh_bwd"),
            Activation::Relu => ("relu_fwd", "relu_bwd"),
            Activation::Tanh => ("tanh_fwd", "tanh_bwd"),
            Activation::Sigmoid => ("sigmoid_fwd", "sigmoid_bwd"),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
} // = `Params` in activation.wgsl

/// `entry` over x (and dy), one vec4 per invocation (the last one partly padding), into a new tensor of x's shape.
fn elementwise(gpu: &Gpu, entry: &'static str, reads: &[&Tensor], shape: &[usize]) -> Result<Tensor> {
    let out = Tensor::empty(gpu, shape, DType::F32)?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let vec4s = n.div_ceil(4);
    let p = Params { n: vec4s as u32, _pad: [0; 3] };
    launch(gpu, SHADER, entry, &[], &p, reads, &[&out], gpu.grid_1d(vec4s.div_ceil(VEC4S_PER_WG))?)?;
    Ok(out)
}

/// y = act(x), elementwise.
pub fn activation_fwd(gpu: &Gpu, x: &Tensor, act: Activation) -> Result<Tensor> {
    x.expect_dtype("activation_fwd", "x", DType::F32)?;
    elementwise(gpu, act.entries().0, &[x], x.shape())
}

/// dx = dy * act'(x)
pub fn activation_bwd(gpu: &Gpu, x: &Tensor, dy: &Tensor, act: Activation) -> Result<Tensor> {
    const OP: &str = "activation_bwd";
    x.expect_dtype(OP, "x", DType::F32)?;
    dy.expect_dtype(OP, "dy", DType::F32)?;
    dy.expect_shape(OP, "dy", x.shape())?;
    elementwise(gpu, act.entries().1, &[x, dy], x.shape())
}

/// y = erf(x), elementwise, by the approximation the exact GELU uses (max abs error 1.1e-7 measured on lavapipe).
pub fn erf(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    x.expect_dtype("erf", "x", DType::F32)?;
    elementwise(gpu, "erf_fwd", &[x], x.shape())
}
