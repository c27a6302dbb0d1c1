//! Fused multi-head attention through the flash-style forward and backward kernels.
use super::super::{Tape, Var};
use crate::kernels::attention::{attention_bwd, attention_fwd, AttnDropout, Layout};
use crate::{Result, Tensor};

/// O = softmax(Q·Kᵀ·scale + mask)·V per head, q, k, v and O in `layout`; keys at or beyond lengths\[b\] are masked.
#[allow(clippy::too_many_arguments)]
pub fn attention(tape: &mut Tape, q: Var, k: Var, v: Var, lengths: Option<&Tensor>, causal: bool, scale: f32, layout: Layout) -> Result<Var> {
    attention_dropout(tape, q, k, v, lengths, causal, scale, layout, 0.0)
}

/// `attention` with dropout p on the probabilities while the tape is training (HF's `attention_probs_dropout_prob`):
/// the mask is drawn from the tape's seed at its next generator offsets and regenerated in the backward pass.
#[allow(clippy::too_many_arguments)]
pub fn attention_dropout(tape: &mut Tape, q: Var, k: Var, v: Var, lengths: Option<&Tensor>, causal: bool, scale: f32, layout: Layout, p: f32) -> Result<Var> {
    let (qv, kv, vv) = (tape.value(q).clone(), tape.value(k).clone(), tape.value(v).clone());
    let lengths = lengths.cloned();
    let dropout = if tape.training && p > 0.0 {
        let [b, h, s, _] = match layout {
            Layout::HeadsFirst => qv.dims::<4>("attention", "q")?,
            Layout::SeqFirst => {
                let [b, s, h, d] = qv.dims::<4>("attention", "q")?;
                [b, h, s, d]
            }
        };
        let offset = tape.next_rng_offset((b * h * s * s) as u64);
        Some(AttnDropout { p, seed: tape.seed, offset })
    } else {
        None
    };
    let f = attention_fwd(tape.gpu(), &qv, &kv, &vv, lengths.as_ref(), causal, scale, layout, dropout, None)?;
    let (out, lse) = (f.out.clone(), f.lse);
    tape.record("attention", f.out, &[q, k, v], Box::new(move |gpu, dout, _| {
        let g = attention_bwd(gpu, &qv, &kv, &vv, &out, &lse, dout, lengths.as_ref(), causal, scale, layout, dropout, None)?;
        Ok(vec![Some(g.dq), Some(g.dk), Some(g.dv)])
    }))
}
