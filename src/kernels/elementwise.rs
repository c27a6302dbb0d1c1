//! Pointwise maps (`shaders/elementwise.wgsl`): broadcast binary ops, unary ops, in-place axpy.
use bytemuck::{Pod, Zeroable};

use crate::gpu::Gpu;
use crate::kernels::launch;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// Highest rank a strided kernel of this family takes (after collapsing axes).
pub const MAX_RANK: usize = 6;

/// Elements per workgroup of the scalar entries (256 invocations x 4 elements).
const SCALAR_TILE: usize = 1024;
/// vec4s per workgroup of the "4" entries.
const VEC4_TILE: usize = 256;

/// Elementwise binary operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    fn code(self) -> u32 {
        match self {
            BinaryOp::Add => 0,
            BinaryOp::Sub => 1,
            BinaryOp::Mul => 2,
            BinaryOp::Div => 3,
        }
    }
}

/// Elementwise unary operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    /// alpha * x
    Scale(f32),
    /// x + alpha
    AddScalar(f32),
    /// -x
    Neg,
    /// exp(x) (overflows to +inf)
    Exp,
    /// ln(x)
    Log,
    /// sqrt(x)
    Sqrt,
    /// 1 / sqrt(x + eps)
    Rsqrt { eps: f32 },
    /// x * x
    Square,
    /// 1 / x
    Recip,
    /// |x|
    Abs,
    /// sign(x): -1, 0 or 1 (the derivative of |x|, taken as 0 at 0)
    Sign,
}

impl UnaryOp {
    /// (code of `unary_op` in elementwise.wgsl, alpha)
    fn code(self) -> (u32, f32) {
        match self {
            UnaryOp::Scale(s) => (0, s),
            UnaryOp::AddScalar(s) => (1, s),
            UnaryOp::Neg => (2, 0.0),
            UnaryOp::Exp => (3, 0.0),
            UnaryOp::Log => (4, 0.0),
            UnaryOp::Sqrt => (5, 0.0),
            UnaryOp::Rsqrt { eps } => (6, eps),
            UnaryOp::Square => (7, 0.0),
            UnaryOp::Recip => (8, 0.0),
            UnaryOp::Abs => (9, 0.0),
            UnaryOp::Sign => (10, 0.0),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct Params {
    n: u32,
    rank: u32,
    alpha: f32,
    _pad0: u32,
    a_inner: u32,
    a_period: u32,
    b_inner: u32,
    b_period: u32,
    shape: [[u32; 4]; 2],
    a_strides: [[u32; 4]; 2],
    b_strides: [[u32; 4]; 2],
} // = Params in elementwise.wgsl

/// Packs up to 6 values into the `array<vec4<u32>, 2>` layout of a WGSL uniform (axis k at [k / 4][k % 4]).
pub(crate) fn pack6(values: &[usize]) -> [[u32; 4]; 2] {
    let mut out = [[0u32; 4]; 2];
    for (k, &v) in values.iter().take(MAX_RANK).enumerate() {
        out[k / 4][k % 4] = v as u32;
    }
    out
}

/// Row-major element strides of a contiguous tensor of `shape`.
pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    strides
}

/// Drops extent-1 axes and merges neighbours that every operand walks contiguously.
/// `strides[j]` holds operand j's stride on each axis (0 where it broadcasts).
pub(crate) fn collapse(shape: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for (k, &extent) in shape.iter().enumerate() {
        if extent == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides.iter().zip(&out_strides).all(|(s, o)| o.last().copied() == Some(s[k] * extent));
        if mergeable {
            if let Some(last) = out_shape.last_mut() {
                *last *= extent;
            }
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                if let Some(last) = o.last_mut() {
                    *last = s[k];
                }
            }
        } else {
            out_shape.push(extent);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[k]);
            }
        }
    }
    (out_shape, out_strides)
}

/// The broadcast shape of `a` and `b` (numpy rules), or an error naming the op.
pub(crate) fn broadcast_shape(op: &str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], k: usize| if k + s.len() >= rank { s[k + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(Error::Shape(format!("{op}: a has shape {a:?} and b has shape {b:?}, which do not broadcast"))),
        })
        .collect()
}

/// Strides of an operand of `shape` broadcast to `out` (right-aligned; 0 on broadcast axes).
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = contiguous_strides(shape);
    let lead = out.len() - shape.len();
    (0..out.len()).map(|k| if k < lead || shape[k - lead] == 1 { 0 } else { own[k - lead] }).collect()
}

/// A flat index pattern (mode, inner, period) for an operand whose non-broadcast axes of the collapsed
/// shape are one contiguous run, or None.
fn flat_pattern(shape: &[usize], strides: &[usize]) -> Option<(u32, usize, usize)> {
    let present: Vec<usize> = (0..shape.len()).filter(|&k| strides[k] != 0).collect();
    let (Some(&first), Some(&last)) = (present.first(), present.last()) else {
        return Some((4, 1, 1));
    };
    if last - first + 1 != present.len() {
        return None;
    }
    let inner: usize = shape[last + 1..].iter().product();
    let period: usize = shape[first..=last].iter().product();
    let mode = match (inner == 1, first == 0) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    };
    Some((mode, inner, period))
}

/// out = a op b with numpy broadcasting (rank <= 6; either side may broadcast).
pub fn binary(gpu: &Gpu, a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let name = "binary";
    a.expect_dtype(name, "a", DType::F32)?;
    b.expect_dtype(name, "b", DType::F32)?;
    let out_shape = broadcast_shape(name, a.shape(), b.shape())?;
    let out = Tensor::empty(gpu, &out_shape, DType::F32)?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let strides = [broadcast_strides(a.shape(), &out_shape), broadcast_strides(b.shape(), &out_shape)];
    let (shape, strides) = collapse(&out_shape, &strides);
    let (sa, sb) = (&strides[0], &strides[1]);
    let op_code = op.code() as f64;
    match (flat_pattern(&shape, sa), flat_pattern(&shape, sb)) {
        (Some((ma, ia, pa)), Some((mb, ib, pb))) => {
            // vec4 when every operand is a whole number of vec4s and the 4 lanes of a vec4 either read a
            // whole vec4 of the operand (inner 1) or share one of its elements (inner a multiple of 4), or
            // when the operand is a single element, splatted (bindings hold whole vec4s: `Tensor::binding`).
            let vec4_ok = |m: u32, inner: usize, numel: usize| {
                m == 4 || (numel.is_multiple_of(4) && (m <= 1 || inner.is_multiple_of(4)))
            };
            let use_vec4 = n.is_multiple_of(4) && vec4_ok(ma, ia, a.numel()) && vec4_ok(mb, ib, b.numel());
            let units = |m: u32, inner: usize, period: usize| match m {
                0 | 1 => (inner, period / 4),
                _ => (inner / 4, period),
            };
            let ((ia, pa), (ib, pb)) = if use_vec4 { (units(ma, ia, pa), units(mb, ib, pb)) } else { ((ia, pa), (ib, pb)) };
            let params = Params {
                n: (if use_vec4 { n / 4 } else { n }) as u32,
                a_inner: ia as u32,
                a_period: pa as u32,
                b_inner: ib as u32,
                b_period: pb as u32,
                ..Default::default()
            };
            let constants = [("OP", op_code), ("A_MODE", ma as f64), ("B_MODE", mb as f64)];
            let (entry, groups) =
                if use_vec4 { ("binary4", (n / 4).div_ceil(VEC4_TILE)) } else { ("binary", n.div_ceil(SCALAR_TILE)) };
            launch(gpu, "elementwise", entry, &constants, &params, &[a, b], &[&out], gpu.grid_1d(groups)?)?;
        }
        _ => {
            if shape.len() > MAX_RANK {
                return Err(Error::Shape(format!(
                    "{name}: a {:?} and b {:?} broadcast over {} independent axes, at most {MAX_RANK} supported",
                    a.shape(),
                    b.shape(),
                    shape.len()
                )));
            }
            let params = Params {
                n: n as u32,
                rank: shape.len() as u32,
                shape: pack6(&shape),
                a_strides: pack6(sa),
                b_strides: pack6(sb),
                ..Default::default()
            };
            launch(
                gpu,
                "elementwise",
                "binary_strided",
                &[("OP", op_code)],
                &params,
                &[a, b],
                &[&out],
                gpu.grid_1d(n.div_ceil(SCALAR_TILE))?,
            )?;
        }
    }
    Ok(out)
}

/// (entry, params, grid) of a one-tensor pointwise launch over n elements: vec4 when n % 4 == 0.
fn pointwise(gpu: &Gpu, scalar_entry: &'static str, vec4_entry: &'static str, n: usize, alpha: f32)
    -> Result<(&'static str, Params, [u32; 3])> {
    let use_vec4 = n.is_multiple_of(4);
    let params = Params { n: (if use_vec4 { n / 4 } else { n }) as u32, alpha, ..Default::default() };
    Ok(if use_vec4 {
        (vec4_entry, params, gpu.grid_1d((n / 4).div_ceil(VEC4_TILE))?)
    } else {
        (scalar_entry, params, gpu.grid_1d(n.div_ceil(SCALAR_TILE))?)
    })
}

/// out = op(x) elementwise.
pub fn unary(gpu: &Gpu, x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    x.expect_dtype("unary", "x", DType::F32)?;
    let out = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let n = x.numel();
    if n == 0 {
        return Ok(out);
    }
    let (code, alpha) = op.code();
    let (entry, params, groups) = pointwise(gpu, "unary", "unary4", n, alpha)?;
    launch(gpu, "elementwise", entry, &[("OP", code as f64)], &params, &[x], &[&out], groups)?;
    Ok(out)
}

/// dst += alpha * src, in place (same shape). Used to accumulate gradients.
pub fn axpy(gpu: &Gpu, dst: &Tensor, src: &Tensor, alpha: f32) -> Result<()> {
    dst.expect_dtype("axpy", "dst", DType::F32)?;
    src.expect_dtype("axpy", "src", DType::F32)?;
    src.expect_shape("axpy", "src", dst.shape())?;
    let n = dst.numel();
    if n == 0 {
        return Ok(());
    }
    if dst.same_buffer(src) {
        // One buffer cannot be bound both read and read_write: dst + alpha*dst = (1 + alpha) * dst.
        let (entry, params, groups) = pointwise(gpu, "scale_inplace", "scale_inplace4", n, 1.0 + alpha)?;
        return launch(gpu, "elementwise", entry, &[], &params, &[], &[dst], groups);
    }
    let (entry, params, groups) = pointwise(gpu, "axpy", "axpy4", n, alpha)?;
    launch(gpu, "elementwise", entry, &[], &params, &[src], &[dst], groups)
}
