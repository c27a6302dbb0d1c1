//! Fused multi-head attention through the flash-style forward and backward kernels.
use super::super::{Tape, Var};
use crate::kernels::attention::{attention_bwd, attention_fwd, Layout};
use crate::{Result, Tensor};

/// O = softmax(Q·Kᵀ·scale + mask)·V per head, q, k, v and O in `layout`; keys at or beyond lengths\[b\] are masked.
#[allow(clippy::too_many_arguments)]
pub fn attention(tape: &mut Tape, q: Var, k: Var, v: Var, lengths: Option<&Tensor>, causal: bool, scale: f32, layout: Layout) -> Result<Var> {
    let (qv, kv, vv) = (tape.value(q).clone(), tape.value(k).clone(), tape.value(v).clone());
    let lengths = lengths.cloned();
    let f = attention_fwd(tape.gpu(), &qv, &kv, &vv, lengths.as_ref(), causal, scale, layout, None)?;
    let (out, lse) = (f.out.clone(), f.lse);
    tape.record("attention", f.out, &[q, k, v], Box::new(move |gpu, dout, _| {
        let g = attention_bwd(gpu, &qv, &kv, &vv, &out, &lse, dout, lengths.as_ref(), causal, scale, layout, None)?;
        Ok(vec![Some(g.dq), Some(g.dk), Some(g.dv)])
    }))
}
