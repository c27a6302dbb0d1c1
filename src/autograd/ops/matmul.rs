//! Matrix products: batched and transposed matmul, and the linear layer y = x·Wᵀ + b.
use super::super::{Tape, Var};
use crate::kernels::matmul::{matmul as mm, matmul_row_sums};
use crate::kernels::reduce::{reduce_to, ReduceOp};
use crate::{Gpu, Result, Tensor};

/// Sums a gradient computed per batch back over the batch when the operand was shared (rank 2).
fn to_shape(gpu: &Gpu, g: Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g);
    }
    let [_, r, c] = g.dims::<3>("matmul backward", "gradient")?;
    reduce_to(gpu, &g, &[1, r, c], ReduceOp::Sum)?.reshape(shape)
}

/// C = op(A)·op(B), op = transpose where asked; a rank-2 operand is shared across the other's batch.
pub fn matmul(tape: &mut Tape, a: Var, b: Var, trans_a: bool, trans_b: bool) -> Result<Var> {
    let (av, bv) = (tape.value(a).clone(), tape.value(b).clone());
    let out = mm(tape.gpu(), &av, &bv, trans_a, trans_b, None)?;
    tape.record("matmul", out, &[a, b], Box::new(move |gpu, dc, needs| {
        // The four cases of d(op(A)·op(B)), each a single product with no transpose copy.
        let da = if needs[0] {
            let g = match (trans_a, trans_b) {
                (false, false) => mm(gpu, dc, &bv, false, true, None)?, // dC·Bᵀ
                (false, true) => mm(gpu, dc, &bv, false, false, None)?, // dC·B
                (true, false) => mm(gpu, &bv, dc, false, true, None)?,  // B·dCᵀ
                (true, true) => mm(gpu, &bv, dc, true, true, None)?,    // Bᵀ·dCᵀ
            };
            Some(to_shape(gpu, g, av.shape())?)
        } else {
            None
        };
        let db = if needs[1] {
            let g = match (trans_a, trans_b) {
                (false, false) => mm(gpu, &av, dc, true, false, None)?, // Aᵀ·dC
                (false, true) => mm(gpu, dc, &av, true, false, None)?,  // dCᵀ·A
                (true, false) => mm(gpu, &av, dc, false, false, None)?, // A·dC
                (true, true) => mm(gpu, dc, &av, true, true, None)?,    // dCᵀ·Aᵀ
            };
            Some(to_shape(gpu, g, bv.shape())?)
        } else {
            None
        };
        Ok(vec![da, db])
    }))
}

/// y = x·Wᵀ + b over the last axis of x (W: [out, in] as in PyTorch and HuggingFace, b: \[out\]).
pub fn linear(tape: &mut Tape, x: Var, weight: Var, bias: Option<Var>) -> Result<Var> {
    let xv = tape.value(x).clone();
    let wv = tape.value(weight).clone();
    let [out_f, in_f] = wv.dims::<2>("linear", "weight")?;
    let (rows, cols) = xv.rows_cols();
    if cols != in_f {
        crate::bail!(Shape, "linear: x has shape {:?}, weight is [{out_f}, {in_f}]", xv.shape());
    }
    let x2 = xv.reshape(&[rows, in_f])?;
    let bv = bias.map(|b| tape.value(b).clone());
    let y = mm(tape.gpu(), &x2, &wv, false, true, bv.as_ref())?;
    let mut out_shape = xv.shape().to_vec();
    if let Some(last) = out_shape.last_mut() {
        *last = out_f;
    }
    let y = y.reshape(&out_shape)?;
    drop(xv);
    let mut parents = vec![x, weight];
    parents.extend(bias);
    tape.record("linear", y, &parents, Box::new(move |gpu, dy, needs| {
        let dy2 = dy.reshape(&[rows, out_f])?;
        let dx = if needs[0] { Some(mm(gpu, &dy2, &wv, false, false, None)?.reshape(&in_shape_of(dy.shape(), in_f))?) } else { None };
        let wants_db = needs.len() > 2 && needs[2];
        // dW = dyᵀ·x, and db = Σ_rows dy from the same pass when both are wanted
        let (dw, db) = match (needs[1], wants_db) {
            (true, true) => {
                let (dw, db) = matmul_row_sums(gpu, &dy2, &x2, false)?;
                (Some(dw), Some(db))
            }
            (true, false) => (Some(mm(gpu, &dy2, &x2, true, false, None)?), None),
            (false, true) => (None, Some(reduce_to(gpu, &dy2, &[out_f], ReduceOp::Sum)?)),
            (false, false) => (None, None),
        };
        let mut grads = vec![dx, dw];
        if needs.len() > 2 {
            grads.push(db);
        }
        Ok(grads)
    }))
}

fn in_shape_of(out_shape: &[usize], in_f: usize) -> Vec<usize> {
    let mut s = out_shape.to_vec();
    if let Some(last) = s.last_mut() {
        *last = in_f;
    }
    s
}
