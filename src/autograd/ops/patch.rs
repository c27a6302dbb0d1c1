//! Images to patches and back: permutations, so each one's gradient is the other applied to the gradient.
use super::super::{Tape, Var};
use crate::kernels::patch::{self as kp, PatchOrder};
use crate::Result;

/// images `[batch, C, H, W]` → patches `[batch, L, p·p·C]` in `order`.
pub fn patchify(tape: &mut Tape, images: Var, patch: usize, order: PatchOrder) -> Result<Var> {
    let [_, c, h, w] = tape.value(images).dims::<4>("patchify", "images")?;
    let out = kp::patchify(tape.gpu(), tape.value(images), patch, order)?;
    tape.record("patchify", out, &[images], Box::new(move |gpu, dout, _| Ok(vec![Some(kp::unpatchify(gpu, dout, c, h, w, patch, order)?)])))
}

/// patches `[batch, L, p·p·C]` in `order` → images `[batch, C, H, W]`.
pub fn unpatchify(tape: &mut Tape, patches: Var, channels: usize, height: usize, width: usize, patch: usize, order: PatchOrder) -> Result<Var> {
    let out = kp::unpatchify(tape.gpu(), tape.value(patches), channels, height, width, patch, order)?;
    tape.record("unpatchify", out, &[patches], Box::new(move |gpu, dout, _| Ok(vec![Some(kp::patchify(gpu, dout, patch, order)?)])))
}
