//! Optimizer kernels (`shaders/optim.wgsl`): fused AdamW, SGD with momentum and LARS, EMA, and the
//! deterministic gradient norm for clipping. Everything updates in place and stays on the GPU: the clip
//! factor and the LARS trust ratio are \[1\]-tensors read by the update kernels, never read back.
use bytemuck::{Pod, Zeroable};

use super::{fill, launch};
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// AdamW hyper-parameters for one step; `step` counts from 1 (bias corrections 1 - beta^step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub step: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamParams {
    n: u32, // vec4s
    lerp_w: f32,
    beta2: f32,
    one_m_beta2: f32,
    decay: f32,
    step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
} // = AdamParams in optim.wgsl

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SumParams {
    n: u32,
    offset: u32,
    invocations: u32,
    _pad: u32,
} // = SumParams in optim.wgsl

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ClipParams {
    max_norm: f32,
    _pad: [u32; 3],
} // = ClipParams in optim.wgsl

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EmaParams {
    n: u32, // vec4s
    momentum: f32,
    one_m_momentum: f32,
    _pad: u32,
} // = EmaParams in optim.wgsl

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LarsParams {
    invocations: u32,
    eta: f32,
    weight_decay: f32,
    _pad: u32,
} // = LarsParams in optim.wgsl

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SgdParams {
    n: u32, // vec4s
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    lars: u32,
    _pad: [u32; 3],
} // = SgdParams in optim.wgsl

/// Elements each `sumsq_partial` invocation sums (grid-stride), and the most invocations per tensor.
const SUM_CHUNK: usize = 1024;
const SUM_MAX_INVOCATIONS: usize = 1 << 16;

fn u32_len(op: &str, name: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Shape(format!("{op}: {name} has {n} elements, more than a kernel can index")))
}

fn check_flat(op: &str, name: &str, t: &Tensor, want: &Tensor) -> Result<()> {
    t.expect_dtype(op, name, DType::F32)?;
    t.expect_shape(op, name, want.shape())
}

fn check_scale(op: &str, s: Option<&Tensor>) -> Result<()> {
    if let Some(s) = s {
        s.expect_dtype(op, "grad_scale", DType::F32)?;
        s.expect_shape(op, "grad_scale", &[1])?;
    }
    Ok(())
}

fn groups_for(gpu: &Gpu, n: usize) -> Result<[u32; 3]> {
    gpu.grid_1d(n.div_ceil(256))
}

/// In place over a flat parameter: decoupled decay, bias correction; grad multiplied by grad_scale\[0\] when given
/// (a \[1\] tensor from clip_scale, so clipping needs no read-back).
pub fn adamw(gpu: &Gpu, param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, h: &AdamW, grad_scale: Option<&Tensor>) -> Result<()> {
    const OP: &str = "adamw";
    param.expect_dtype(OP, "param", DType::F32)?;
    check_flat(OP, "grad", grad, param)?;
    check_flat(OP, "m", m, param)?;
    check_flat(OP, "v", v, param)?;
    check_scale(OP, grad_scale)?;
    if h.step == 0 {
        return Err(Error::Invalid(format!("{OP}: step must count from 1 (bias correction 1 - beta^0 is 0), got 0")));
    }
    let n = param.numel();
    if n == 0 {
        return Ok(());
    }
    let (b1, b2, lr) = (h.beta1 as f64, h.beta2 as f64, h.lr as f64);
    let bc1 = 1.0 - b1.powf(h.step as f64);
    let bc2 = 1.0 - b2.powf(h.step as f64);
    let vec4s = n.div_ceil(4); // one vec4 per invocation (optim.wgsl)
    let p = AdamParams {
        n: u32_len(OP, "param", vec4s)?,
        lerp_w: (1.0 - b1) as f32,
        beta2: h.beta2,
        one_m_beta2: (1.0 - b2) as f32,
        decay: (1.0 - lr * h.weight_decay as f64) as f32,
        step_size: (lr / bc1) as f32,
        bc2_sqrt: bc2.sqrt() as f32,
        eps: h.eps,
    };
    let groups = groups_for(gpu, vec4s)?;
    match grad_scale {
        None => launch(gpu, "optim", "adamw", &[], &p, &[grad], &[param, m, v], groups),
        Some(s) => launch(gpu, "optim", "adamw_scaled", &[], &p, &[grad, s], &[param, m, v], groups),
    }
}

/// Records the grid-stride partial sums of squares of `x` into `partial[offset..offset + invocations]`.
fn sumsq_partial(gpu: &Gpu, x: &Tensor, partial: &Tensor, offset: usize, invocations: usize) -> Result<()> {
    let p = SumParams {
        n: u32_len("sum_squares", "x", x.numel())?,
        offset: offset as u32,
        invocations: invocations as u32,
        _pad: 0,
    };
    launch(gpu, "optim", "sumsq_partial", &[], &p, &[x], &[partial], groups_for(gpu, invocations)?)
}

/// Invocations of `sumsq_partial` for a tensor of `n` elements (at least 1).
fn sum_invocations(n: usize) -> usize {
    n.div_ceil(SUM_CHUNK).clamp(1, SUM_MAX_INVOCATIONS)
}

/// sum of squares of every element of every tensor, as \[1\]; deterministic two-stage reduction.
pub fn sum_squares(gpu: &Gpu, xs: &[&Tensor]) -> Result<Tensor> {
    const OP: &str = "sum_squares";
    for (i, x) in xs.iter().enumerate() {
        x.expect_dtype(OP, &format!("xs[{i}]"), DType::F32)?;
    }
    let out = Tensor::empty(gpu, &[1], DType::F32)?;
    let counts: Vec<usize> = xs.iter().map(|x| if x.numel() == 0 { 0 } else { sum_invocations(x.numel()) }).collect();
    let total: usize = counts.iter().sum();
    if total == 0 {
        fill::fill(gpu, &out, 0.0)?;
        return Ok(out);
    }
    let partial = Tensor::empty(gpu, &[total], DType::F32)?;
    let mut offset = 0;
    for (x, &t) in xs.iter().zip(&counts) {
        if t > 0 {
            sumsq_partial(gpu, x, &partial, offset, t)?;
            offset += t;
        }
    }
    let p = SumParams { n: u32_len(OP, "partials", total)?, offset: 0, invocations: 0, _pad: 0 };
    launch(gpu, "optim", "sumsq_final", &[], &p, &[&partial], &[&out], [1, 1, 1])?;
    Ok(out)
}

/// \[1\] tensor min(1, max_norm / (sqrt(sumsq) + 1e-6)).
pub fn clip_scale(gpu: &Gpu, sumsq: &Tensor, max_norm: f32) -> Result<Tensor> {
    sumsq.expect_dtype("clip_scale", "sumsq", DType::F32)?;
    sumsq.expect_shape("clip_scale", "sumsq", &[1])?;
    let out = Tensor::empty(gpu, &[1], DType::F32)?;
    let p = ClipParams { max_norm, _pad: [0; 3] };
    launch(gpu, "optim", "clip_scale", &[], &p, &[sumsq], &[&out], [1, 1, 1])?;
    Ok(out)
}

/// target = momentum * target + (1 - momentum) * online, in place.
pub fn ema(gpu: &Gpu, target: &Tensor, online: &Tensor, momentum: f32) -> Result<()> {
    target.expect_dtype("ema", "target", DType::F32)?;
    check_flat("ema", "online", online, target)?;
    let n = target.numel();
    if n == 0 {
        return Ok(());
    }
    let vec4s = n.div_ceil(4);
    let p = EmaParams { n: u32_len("ema", "target", vec4s)?, momentum, one_m_momentum: 1.0 - momentum, _pad: 0 };
    launch(gpu, "optim", "ema", &[], &p, &[online], &[target], groups_for(gpu, vec4s)?)
}

/// SGD with momentum (and LARS trust ratio when lars = Some(eta)), in place.
///
/// d = grad·s + wd·p; buf = momentum·buf + trust·d; p -= lr·buf, where s = grad_scale\[0\] (or 1) and
/// trust = eta·‖p‖/(‖g·s‖ + wd·‖p‖) (1 when either norm is 0, and without LARS), with both norms computed
/// on the GPU. `buf` must start at zero (then the first step equals PyTorch's, which clones d into it).
#[allow(clippy::too_many_arguments)]
pub fn sgd(gpu: &Gpu, param: &Tensor, grad: &Tensor, buf: &Tensor, lr: f32, momentum: f32, weight_decay: f32,
           lars: Option<f32>, grad_scale: Option<&Tensor>) -> Result<()> {
    const OP: &str = "sgd";
    param.expect_dtype(OP, "param", DType::F32)?;
    check_flat(OP, "grad", grad, param)?;
    check_flat(OP, "buf", buf, param)?;
    check_scale(OP, grad_scale)?;
    let n = param.numel();
    if n == 0 {
        return Ok(());
    }
    let ones;
    let scale = match grad_scale {
        Some(s) => s,
        None => {
            ones = fill::full(gpu, &[1], 1.0)?;
            &ones
        }
    };
    let aux_lars;
    let aux = match lars {
        None => scale,
        Some(eta) => {
            let t = sum_invocations(n);
            let partial = Tensor::empty(gpu, &[2 * t], DType::F32)?;
            sumsq_partial(gpu, param, &partial, 0, t)?;
            sumsq_partial(gpu, grad, &partial, t, t)?;
            aux_lars = Tensor::empty(gpu, &[2], DType::F32)?;
            let p = LarsParams { invocations: t as u32, eta, weight_decay, _pad: 0 };
            launch(gpu, "optim", "lars_trust", &[], &p, &[&partial, scale], &[&aux_lars], [1, 1, 1])?;
            &aux_lars
        }
    };
    let p = SgdParams {
        n: u32_len(OP, "param", n.div_ceil(4))?, // vec4s
        lr,
        momentum,
        weight_decay,
        lars: lars.is_some() as u32,
        _pad: [0; 3],
    };
    launch(gpu, "optim", "sgd", &[], &p, &[grad, aux], &[param, buf], groups_for(gpu, n.div_ceil(4))?)
}
