//! Shape ops: reshape (a free view), permute, slice, concat, row gathers, embedding lookup.
use super::super::{Tape, Var};
use crate::kernels::{embedding, layout};
use crate::{Result, Tensor};

/// The same values seen with another shape (no copy).
pub fn reshape(tape: &mut Tape, x: Var, shape: &[usize]) -> Result<Var> {
    let out = tape.value(x).reshape(shape)?;
    let in_shape = tape.shape(x).to_vec();
    tape.record("reshape", out, &[x], Box::new(move |_, dout, _| Ok(vec![Some(dout.reshape(&in_shape)?)])))
}

/// Axes reordered (made contiguous).
pub fn permute(tape: &mut Tape, x: Var, perm: &[usize]) -> Result<Var> {
    let out = layout::permute(tape.gpu(), tape.value(x), perm)?;
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    tape.record("permute", out, &[x], Box::new(move |gpu, dout, _| Ok(vec![Some(layout::permute(gpu, dout, &inverse)?)])))
}

/// x[.., start..start+len, ..] along `axis`.
pub fn slice(tape: &mut Tape, x: Var, axis: usize, start: usize, len: usize) -> Result<Var> {
    let xv = tape.value(x);
    let out = layout::slice(tape.gpu(), xv, axis, start, len)?;
    let full = xv.shape()[axis];
    tape.record("slice", out, &[x], Box::new(move |gpu, dout, _| {
        // Pad the gradient with zeros back to the full extent.
        let mut parts: Vec<Tensor> = Vec::new();
        let zeros = |n: usize| -> Result<Tensor> {
            let mut s = dout.shape().to_vec();
            s[axis] = n;
            crate::kernels::fill::full(gpu, &s, 0.0)
        };
        if start > 0 {
            parts.push(zeros(start)?);
        }
        parts.push(dout.clone());
        if start + len < full {
            parts.push(zeros(full - start - len)?);
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        Ok(vec![Some(if refs.len() == 1 { dout.clone() } else { layout::concat(gpu, &refs, axis)? })])
    }))
}

/// Concatenation along `axis`.
pub fn concat(tape: &mut Tape, xs: &[Var], axis: usize) -> Result<Var> {
    let vals: Vec<Tensor> = xs.iter().map(|&x| tape.value(x).clone()).collect();
    let refs: Vec<&Tensor> = vals.iter().collect();
    let out = layout::concat(tape.gpu(), &refs, axis)?;
    let sizes: Vec<usize> = vals.iter().map(|v| v.shape()[axis]).collect();
    drop(refs);
    drop(vals);
    tape.record("concat", out, xs, Box::new(move |gpu, dout, needs| {
        let mut start = 0;
        let mut grads = Vec::with_capacity(sizes.len());
        for (n, need) in sizes.iter().zip(needs) {
            grads.push(if *need { Some(layout::slice(gpu, dout, axis, start, *n)?) } else { None });
            start += n;
        }
        Ok(grads)
    }))
}

/// out[b, k, :] = x[b, index[b, k], :] (x: [batch, len, dim], index: [batch, keep] I32).
pub fn gather_rows(tape: &mut Tape, x: Var, index: &Tensor) -> Result<Var> {
    let xv = tape.value(x);
    let out = layout::gather_rows(tape.gpu(), xv, index)?;
    let len = xv.shape()[1];
    let index = index.clone();
    tape.record("gather_rows", out, &[x], Box::new(move |gpu, dout, _| Ok(vec![Some(layout::scatter_rows(gpu, dout, &index, len)?)])))
}

/// Embedding lookup: out[i, :] = table[ids\[i\], :] (ids: \[n\] I32), out: [n, dim].
pub fn embedding(tape: &mut Tape, table: Var, ids: &Tensor) -> Result<Var> {
    let tv = tape.value(table);
    let out = embedding::embedding_fwd(tape.gpu(), tv, ids)?;
    let vocab = tv.shape()[0];
    let ids = ids.clone();
    tape.record("embedding", out, &[table], Box::new(move |gpu, dout, _| Ok(vec![Some(embedding::embedding_bwd(gpu, dout, &ids, vocab)?)])))
}
