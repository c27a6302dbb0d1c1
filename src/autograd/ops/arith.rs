//! Elementwise arithmetic with broadcasting, unary maps, sums and means, dropout.
use super::super::{Tape, Var};
use crate::kernels::elementwise::{self as ew, BinaryOp, UnaryOp};
use crate::kernels::reduce::{reduce_to, ReduceOp};
use crate::kernels::dropout as dk;
use crate::Result;

/// Sums a broadcast gradient back to the operand's shape (identity when shapes already match).
fn unbroadcast(gpu: &crate::Gpu, g: crate::Tensor, shape: &[usize]) -> Result<crate::Tensor> {
    if g.shape() == shape {
        return Ok(g);
    }
    reduce_to(gpu, &g, shape, ReduceOp::Sum)
}

/// out = a op b with numpy broadcasting.
pub fn binary(tape: &mut Tape, a: Var, b: Var, op: BinaryOp) -> Result<Var> {
    let (av, bv) = (tape.value(a).clone(), tape.value(b).clone());
    let out = ew::binary(tape.gpu(), &av, &bv, op)?;
    let name = match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
    };
    tape.record(name, out, &[a, b], Box::new(move |gpu, dout, needs| {
        let (sa, sb) = (av.shape().to_vec(), bv.shape().to_vec());
        let da = if needs[0] {
            let g = match op {
                BinaryOp::Add | BinaryOp::Sub => dout.clone(),
                BinaryOp::Mul => ew::binary(gpu, dout, &bv, BinaryOp::Mul)?, // d/da a*b = b
                BinaryOp::Div => ew::binary(gpu, dout, &bv, BinaryOp::Div)?, // d/da a/b = 1/b
            };
            Some(unbroadcast(gpu, g, &sa)?)
        } else {
            None
        };
        let db = if needs[1] {
            let g = match op {
                BinaryOp::Add => dout.clone(),
                BinaryOp::Sub => ew::unary(gpu, dout, UnaryOp::Neg)?,
                BinaryOp::Mul => ew::binary(gpu, dout, &av, BinaryOp::Mul)?, // d/db a*b = a
                BinaryOp::Div => {
                    // d/db a/b = -a/b²
                    let q = ew::binary(gpu, &av, &bv, BinaryOp::Div)?;
                    let q = ew::binary(gpu, &q, &bv, BinaryOp::Div)?;
                    let q = ew::unary(gpu, &q, UnaryOp::Neg)?;
                    ew::binary(gpu, dout, &q, BinaryOp::Mul)?
                }
            };
            Some(unbroadcast(gpu, g, &sb)?)
        } else {
            None
        };
        Ok(vec![da, db])
    }))
}

/// a + b (broadcasting).
pub fn add(tape: &mut Tape, a: Var, b: Var) -> Result<Var> {
    binary(tape, a, b, BinaryOp::Add)
}

/// a − b (broadcasting).
pub fn sub(tape: &mut Tape, a: Var, b: Var) -> Result<Var> {
    binary(tape, a, b, BinaryOp::Sub)
}

/// a · b elementwise (broadcasting).
pub fn mul(tape: &mut Tape, a: Var, b: Var) -> Result<Var> {
    binary(tape, a, b, BinaryOp::Mul)
}

/// a / b elementwise (broadcasting).
pub fn div(tape: &mut Tape, a: Var, b: Var) -> Result<Var> {
    binary(tape, a, b, BinaryOp::Div)
}

/// An elementwise map; its derivative is computed from the input and output.
pub fn unary(tape: &mut Tape, x: Var, op: UnaryOp) -> Result<Var> {
    let xv = tape.value(x).clone();
    let out = ew::unary(tape.gpu(), &xv, op)?;
    let yv = out.clone();
    tape.record("unary", out, &[x], Box::new(move |gpu, dout, _| {
        let local = match op {
            UnaryOp::Scale(s) => return Ok(vec![Some(ew::unary(gpu, dout, UnaryOp::Scale(s))?)]),
            UnaryOp::AddScalar(_) => return Ok(vec![Some(dout.clone())]),
            UnaryOp::Neg => return Ok(vec![Some(ew::unary(gpu, dout, UnaryOp::Neg)?)]),
            UnaryOp::Exp => yv,                                               // y
            UnaryOp::Log => ew::unary(gpu, &xv, UnaryOp::Recip)?,              // 1/x
            UnaryOp::Sqrt => ew::unary(gpu, &ew::unary(gpu, &yv, UnaryOp::Recip)?, UnaryOp::Scale(0.5))?, // 1/(2y)
            UnaryOp::Rsqrt { .. } => {
                // y = (x+eps)^-1/2, dy/dx = -y³/2
                let y2 = ew::binary(gpu, &yv, &yv, BinaryOp::Mul)?;
                let y3 = ew::binary(gpu, &y2, &yv, BinaryOp::Mul)?;
                ew::unary(gpu, &y3, UnaryOp::Scale(-0.5))?
            }
            UnaryOp::Square => ew::unary(gpu, &xv, UnaryOp::Scale(2.0))?,       // 2x
            UnaryOp::Recip => {
                let y2 = ew::binary(gpu, &yv, &yv, BinaryOp::Mul)?;             // -1/x² = -y²
                ew::unary(gpu, &y2, UnaryOp::Neg)?
            }
            UnaryOp::Abs => ew::unary(gpu, &xv, UnaryOp::Sign)?,                // sign(x), 0 at 0
            UnaryOp::Sign => return Ok(vec![Some(crate::kernels::fill::full(gpu, xv.shape(), 0.0)?)]), // 0 almost everywhere
        };
        Ok(vec![Some(ew::binary(gpu, dout, &local, BinaryOp::Mul)?)])
    }))
}

/// s · x.
pub fn scale(tape: &mut Tape, x: Var, s: f32) -> Result<Var> {
    unary(tape, x, UnaryOp::Scale(s))
}

/// Sums x down to `shape` (which broadcasts to x's shape): sum over axes, bias-style reductions.
pub fn sum_to(tape: &mut Tape, x: Var, shape: &[usize]) -> Result<Var> {
    reduce(tape, x, shape, ReduceOp::Sum)
}

/// Averages x down to `shape` (which broadcasts to x's shape).
pub fn mean_to(tape: &mut Tape, x: Var, shape: &[usize]) -> Result<Var> {
    reduce(tape, x, shape, ReduceOp::Mean)
}

/// The mean of every element, as \[1\].
pub fn mean(tape: &mut Tape, x: Var) -> Result<Var> {
    let flat = super::shape::reshape(tape, x, &[tape.value(x).numel()])?;
    reduce(tape, flat, &[1], ReduceOp::Mean)
}

/// The sum of every element, as \[1\].
pub fn sum(tape: &mut Tape, x: Var) -> Result<Var> {
    let flat = super::shape::reshape(tape, x, &[tape.value(x).numel()])?;
    reduce(tape, flat, &[1], ReduceOp::Sum)
}

fn reduce(tape: &mut Tape, x: Var, shape: &[usize], op: ReduceOp) -> Result<Var> {
    let xv = tape.value(x).clone();
    let out = reduce_to(tape.gpu(), &xv, shape, op)?;
    let (in_shape, n_in, n_out) = (xv.shape().to_vec(), xv.numel(), out.numel().max(1));
    drop(xv);
    tape.record("reduce", out, &[x], Box::new(move |gpu, dout, _| {
        // Broadcast dout back: 0 + dout (broadcasting), then scale for the mean.
        let zeros = crate::kernels::fill::full(gpu, &in_shape, 0.0)?;
        let g = ew::binary(gpu, &zeros, dout, BinaryOp::Add)?;
        let g = match op {
            ReduceOp::Sum => g,
            ReduceOp::Mean => ew::unary(gpu, &g, UnaryOp::Scale(n_out as f32 / n_in.max(1) as f32))?,
        };
        Ok(vec![Some(g)])
    }))
}

/// Inverted dropout with probability p while training (identity otherwise); the mask is regenerated, never stored.
pub fn dropout(tape: &mut Tape, x: Var, p: f32) -> Result<Var> {
    if !tape.training || p == 0.0 {
        return Ok(x);
    }
    let xv = tape.value(x).clone();
    let (seed, offset) = (tape.seed, tape.next_rng_offset(xv.numel() as u64));
    let out = dk::dropout(tape.gpu(), &xv, p, seed, offset)?;
    drop(xv);
    tape.record("dropout", out, &[x], Box::new(move |gpu, dout, _| Ok(vec![Some(dk::dropout(gpu, dout, p, seed, offset)?)])))
}
