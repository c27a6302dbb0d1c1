//! Scaled-dot-product attention (`shaders/attention.wgsl`): O = softmax(Q·Kᵀ·scale + mask)·V per head, by one of
//! two paths (`AttentionPath`): fused kernels that never hold the seq×seq scores (memory linear in seq), or
//! strided matmuls over materialised scores. Q, K, V, O and their gradients share one
//! `Layout`: [batch, heads, seq, head_dim], or [batch, seq, heads, head_dim] as a linear layer's output reshaped
//! (no permute); lse is [batch, heads, seq] either way.
//!
//! Fused forward: ROWS query rows per invocation, an online softmax over blocks of keys, O and the row log-sum-exp saved.
//! Backward (three dispatches, each sum in a fixed order, no atomics): `bwd_stats` packs (lse_i, delta_i = dO_i·O_i)
//! per row; `bwd_dq` recomputes P row by row for dQ; `bwd_dkdv` recomputes P column by column for dK and dV.
//! No workgroup memory and no barrier: the design lavapipe runs well (see the header of attention.wgsl).
//!
//! On adapters with the subgroup matmul, attention whose scores fit a budget takes the matmul path instead
//! (`AttentionPath`): the products run as strided batched matmuls that read the heads in place, with the
//! [batch·heads, seq, seq] scores materialised and only the row softmax in `attention_probs_*`.
//!
//! Both paths apply dropout to the probabilities when asked (`AttnDropout`: SimCSE's only augmentation), the
//! mask regenerated from its seed and offset in every pass and never stored; without it the kernels compile
//! without that code.
use bytemuck::{Pod, Zeroable};

use super::launch;
use super::matmul::{matmul_strided, MatView, MatmulTiling};
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// Largest head_dim accepted (the contract's bound; the kernels stream rows in vec4 chunks and would take more).
pub const MAX_HEAD_DIM: usize = 128;

/// Rows per invocation (`ROWS` in attention.wgsl).
const ROWS: usize = 4;

/// Invocations per workgroup (the override `WG`): 32, or fewer for short sequences, where a workgroup of 32 would
/// own 128 rows of a (batch, head) with fewer than that (seq 32 would leave three rows in four idle).
fn wg_for(seq: usize) -> usize {
    seq.div_ceil(ROWS).next_power_of_two().clamp(8, 32)
}

/// How q, k, v, out and their gradients are laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// [batch, heads, seq, head_dim].
    HeadsFirst,
    /// [batch, seq, heads, head_dim]: a [batch, seq, heads · head_dim] projection, reshaped.
    SeqFirst,
}

impl Layout {
    /// (batch, heads, seq, head_dim) of a 4-d tensor in this layout.
    fn bhsd(self, dims: [usize; 4]) -> [usize; 4] {
        match self {
            Layout::HeadsFirst => dims,
            Layout::SeqFirst => [dims[0], dims[2], dims[1], dims[3]],
        }
    }

    /// Element strides (batch, head, position) of a tensor of (batch, heads, seq, head_dim) in this layout.
    fn strides(self, [_, heads, seq, head_dim]: [usize; 4]) -> [usize; 3] {
        match self {
            Layout::HeadsFirst => [heads * seq * head_dim, seq * head_dim, head_dim],
            Layout::SeqFirst => [seq * heads * head_dim, head_dim, heads * head_dim],
        }
    }
}

/// Which implementation computes attention; `AttentionPath::for_shape` picks one by rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionPath {
    /// The flash-style kernels: memory linear in seq.
    Fused,
    /// Strided matmuls and a row softmax over materialised scores (memory quadratic in seq).
    Matmul,
}

/// Largest score buffer ([batch·heads, seq, seq] f32) the matmul path allocates; the backward holds two.
pub const MATMUL_MAX_SCORE_BYTES: usize = 64 << 20;

impl AttentionPath {
    /// The matmul path where the matmul shares loads across an 8-lane subgroup (CPU adapters, where it measured
    /// 2-6x faster than the fused kernels from seq 32 to 512, see BENCHMARKS.md) and the scores of `dims`
    /// (batch, heads, seq, head_dim) fit in `MATMUL_MAX_SCORE_BYTES` and one storage binding; else fused.
    pub fn for_shape(gpu: &Gpu, [batch, heads, seq, _]: [usize; 4]) -> AttentionPath {
        let bytes = batch * heads * seq * seq * 4;
        let fits = bytes <= MATMUL_MAX_SCORE_BYTES && (bytes as u64) <= gpu.limits().max_storage_buffer_binding_size;
        if fits && MatmulTiling::for_adapter(gpu) == MatmulTiling::Subgroup8 {
            AttentionPath::Matmul
        } else {
            AttentionPath::Fused
        }
    }
}

/// Forward results: the attention output and what the backward pass needs besides it.
pub struct AttentionOut {
    pub out: Tensor, // the inputs' layout
    pub lse: Tensor, // [batch, heads, seq]  log Σ_j exp(scaled, masked score); −inf for a row with no key
}

/// Gradients of the attention inputs.
pub struct AttentionGrads {
    pub dq: Tensor, // the inputs' layout
    pub dk: Tensor,
    pub dv: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    bh_count: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    head_vec: u32,
    causal: u32,
    has_lengths: u32,
    scale: f32,
    neg_inf: f32,
    strides: [u32; 3],
    _pad: u32,
    key: [u32; 2],
    base: [u32; 2],
    threshold: u32,
    keep_scale: f32,
    _pad1: [u32; 2],
} // = Params in attention.wgsl

/// Dropout on the attention probabilities: O = (P ⊙ D)·V, D_ij = keep_ij / (1 − p), with keep_ij the mask that
/// `kernels::dropout::dropout(probs, p, seed, offset)` would draw over the probabilities `[batch, heads, seq,
/// seq]` (element (b, h, i, j) at stream position offset + ((b·heads + h)·seq + i)·seq + j). Both paths
/// regenerate it in every pass; it is never stored. Reserve batch·heads·seq² positions of the stream for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttnDropout {
    pub p: f32,
    pub seed: u64,
    pub offset: u64,
}

/// Checks q, k, v (same 4-d shape, f32, head_dim <= 128) and lengths ([batch] I32); returns the shape as
/// (batch, heads, seq, head_dim).
fn check_inputs(op: &str, q: &Tensor, k: &Tensor, v: &Tensor, lengths: Option<&Tensor>, layout: Layout) -> Result<[usize; 4]> {
    q.expect_dtype(op, "q", DType::F32)?;
    k.expect_dtype(op, "k", DType::F32)?;
    v.expect_dtype(op, "v", DType::F32)?;
    let dims = q.dims::<4>(op, "q")?;
    k.expect_shape(op, "k", &dims)?;
    v.expect_shape(op, "v", &dims)?;
    let [batch, _, _, head_dim] = dims;
    if head_dim > MAX_HEAD_DIM {
        return Err(Error::Shape(format!(
            "{op}: q has shape {:?}: head_dim {head_dim} exceeds the supported {MAX_HEAD_DIM}",
            q.shape()
        )));
    }
    if let Some(l) = lengths {
        l.expect_dtype(op, "lengths", DType::I32)?;
        l.expect_shape(op, "lengths", &[batch])?;
    }
    if q.numel() > u32::MAX as usize / 2 {
        return Err(Error::Shape(format!("{op}: q has shape {:?}, too large for 32-bit indexing", q.shape())));
    }
    Ok(layout.bhsd(dims))
}

/// The override constants of an attention pipeline: the workgroup size (fused kernels), and DROPOUT only when it
/// is on, so that attention without dropout compiles exactly as before.
fn constants(wg: Option<usize>, dropout: Option<&AttnDropout>) -> Vec<(&'static str, f64)> {
    let mut c = Vec::new();
    if let Some(wg) = wg {
        c.push(("WG", wg as f64));
    }
    if dropout.is_some() {
        c.push(("DROPOUT", 1.0));
    }
    c
}

/// Checks a dropout request against the shape; returns it when it drops anything (p > 0).
fn check_dropout(op: &str, dims: [usize; 4], dropout: Option<AttnDropout>) -> Result<Option<AttnDropout>> {
    let Some(d) = dropout else { return Ok(None) };
    if !(0.0..1.0).contains(&d.p) {
        return Err(Error::Invalid(format!("{op}: attention dropout p = {} must lie in [0, 1)", d.p)));
    }
    if d.p == 0.0 {
        return Ok(None);
    }
    let [batch, heads, seq, _] = dims;
    if (batch * heads * seq) as u64 * seq as u64 > u32::MAX as u64 {
        return Err(Error::Shape(format!("{op}: {batch}x{heads} heads of {seq}x{seq} probabilities exceed the dropout stream's 32-bit index")));
    }
    Ok(Some(d))
}

fn params(dims: [usize; 4], lengths: Option<&Tensor>, causal: bool, scale: f32, layout: Layout, dropout: Option<&AttnDropout>) -> Params {
    let [batch, heads, seq, head_dim] = dims;
    let (key, base, threshold, keep_scale) = match dropout {
        // keep iff (word >> 8) >= ceil(p · 2^24), as dropout.wgsl
        Some(d) => ([d.seed as u32, (d.seed >> 32) as u32], [d.offset as u32, (d.offset >> 32) as u32],
                    (d.p as f64 * (1u64 << 24) as f64).ceil() as u32, (1.0 / (1.0 - d.p as f64)) as f32),
        None => ([0; 2], [0; 2], 0, 1.0),
    };
    Params {
        rows: (batch * heads * seq) as u32,
        bh_count: (batch * heads) as u32,
        seq: seq as u32,
        heads: heads as u32,
        head_dim: head_dim as u32,
        head_vec: head_dim.div_ceil(4) as u32,
        causal: causal as u32,
        has_lengths: lengths.is_some() as u32,
        scale,
        neg_inf: f32::NEG_INFINITY,
        strides: layout.strides(dims).map(|x| x as u32),
        _pad: 0,
        key,
        base,
        threshold,
        keep_scale,
        _pad1: [0; 2],
    }
}

/// The grid of the row-block kernels: one workgroup per WG · ROWS rows of one (batch, head).
fn block_grid(gpu: &Gpu, dims: [usize; 4]) -> Result<[u32; 3]> {
    let [batch, heads, seq, _] = dims;
    gpu.grid_1d(batch * heads * seq.div_ceil(wg_for(seq) * ROWS))
}

/// The matmul path's views: per (batch, head), a [seq, head_dim] matrix of q, k, v, o (or a gradient) read
/// in place, and a [seq, seq] matrix of scores in [batch·heads, seq, seq].
struct Heads {
    seq: usize,
    head_dim: usize,
    strides: [usize; 3],
    batch: [usize; 2],
}

impl Heads {
    fn new(dims: [usize; 4], layout: Layout) -> Heads {
        let [batch, heads, seq, head_dim] = dims;
        Heads { seq, head_dim, strides: layout.strides(dims), batch: [batch, heads] }
    }

    fn view<'a>(&self, t: &'a Tensor) -> MatView<'a> {
        let [outer, inner, ld] = self.strides;
        MatView { t, rows: self.seq, cols: self.head_dim, ld, outer, inner }
    }

    fn scores(&self, gpu: &Gpu) -> Result<Tensor> {
        Tensor::empty(gpu, &[self.batch[0] * self.batch[1], self.seq, self.seq], DType::F32)
    }

    fn scores_view<'a>(&self, t: &'a Tensor) -> MatView<'a> {
        let s = self.seq;
        MatView { t, rows: s, cols: s, ld: s, outer: self.batch[1] * s * s, inner: s * s }
    }
}

fn lengths_or_dummy(gpu: &Gpu, lengths: Option<&Tensor>) -> Result<Tensor> {
    match lengths {
        Some(l) => Ok(l.clone()),
        None => Tensor::empty(gpu, &[1], DType::I32),
    }
}

/// O = softmax(Q·Kᵀ·scale + mask)·V; keys j >= lengths\[b\] are masked (lengths: \[batch\] I32, None = all valid,
/// values clamped to [0, seq]); causal masks j > i. A fully masked row gives O = 0 and lse = −inf. `path`: None
/// lets `AttentionPath::for_shape` choose (tests and benchmarks pin one). `dropout`: on the probabilities (see
/// `AttnDropout`); lse stays the undropped log-normaliser.
#[allow(clippy::too_many_arguments)]
pub fn attention_fwd(
    gpu: &Gpu,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    lengths: Option<&Tensor>,
    causal: bool,
    scale: f32,
    layout: Layout,
    dropout: Option<AttnDropout>,
    path: Option<AttentionPath>,
) -> Result<AttentionOut> {
    let op = "attention_fwd";
    let dims = check_inputs(op, q, k, v, lengths, layout)?;
    let dropout = check_dropout(op, dims, dropout)?;
    let [batch, heads, seq, _] = dims;
    let out = Tensor::empty(gpu, q.shape(), DType::F32)?;
    let lse = Tensor::empty(gpu, &[batch, heads, seq], DType::F32)?;
    let rows = batch * heads * seq;
    if rows == 0 {
        return Ok(AttentionOut { out, lse });
    }
    let lens = lengths_or_dummy(gpu, lengths)?;
    let p = params(dims, lengths, causal, scale, layout, dropout.as_ref());
    if path.unwrap_or_else(|| AttentionPath::for_shape(gpu, dims)) == AttentionPath::Matmul {
        let h = Heads::new(dims, layout);
        let scores = h.scores(gpu)?;
        matmul_strided(gpu, &h.view(q), &h.view(k), false, true, &h.scores_view(&scores), h.batch)?;
        let probs = h.scores(gpu)?;
        let c = constants(None, dropout.as_ref());
        launch(gpu, "attention", "attention_probs_fwd", &c, &p, &[&scores, &lens], &[&probs, &lse], gpu.grid_1d(rows.div_ceil(64))?)?;
        matmul_strided(gpu, &h.scores_view(&probs), &h.view(v), false, false, &h.view(&out), h.batch)?;
        return Ok(AttentionOut { out, lse });
    }
    let c = constants(Some(wg_for(seq)), dropout.as_ref());
    launch(gpu, "attention", "attention_fwd", &c, &p, &[q, k, v, &lens], &[&out, &lse], block_grid(gpu, dims)?)?;
    Ok(AttentionOut { out, lse })
}

/// dQ, dK, dV of O = attention_fwd(q, k, v, lengths, causal, scale, layout), given O, its lse and dO; P is
/// recomputed from lse (never stored by the forward). Fully masked rows and masked keys get zero gradients.
/// `dropout` and `path` as in `attention_fwd` (either path can take the other's forward results; the mask is
/// regenerated from the same seed and offset).
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd(
    gpu: &Gpu,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &Tensor,
    dout: &Tensor,
    lengths: Option<&Tensor>,
    causal: bool,
    scale: f32,
    layout: Layout,
    dropout: Option<AttnDropout>,
    path: Option<AttentionPath>,
) -> Result<AttentionGrads> {
    let op = "attention_bwd";
    let dims = check_inputs(op, q, k, v, lengths, layout)?;
    let dropout = check_dropout(op, dims, dropout)?;
    let [batch, heads, seq, head_dim] = dims;
    out.expect_dtype(op, "out", DType::F32)?;
    out.expect_shape(op, "out", q.shape())?;
    dout.expect_dtype(op, "dout", DType::F32)?;
    dout.expect_shape(op, "dout", q.shape())?;
    lse.expect_dtype(op, "lse", DType::F32)?;
    lse.expect_shape(op, "lse", &[batch, heads, seq])?;
    let dq = Tensor::empty(gpu, q.shape(), DType::F32)?;
    let dk = Tensor::empty(gpu, q.shape(), DType::F32)?;
    let dv = Tensor::empty(gpu, q.shape(), DType::F32)?;
    let rows = batch * heads * seq;
    if rows == 0 || head_dim == 0 {
        return Ok(AttentionGrads { dq, dk, dv });
    }
    let lens = lengths_or_dummy(gpu, lengths)?;
    let p = params(dims, lengths, causal, scale, layout, dropout.as_ref());
    if path.unwrap_or_else(|| AttentionPath::for_shape(gpu, dims)) == AttentionPath::Matmul {
        // S and dP, then in place P and dS, then the three products.
        let h = Heads::new(dims, layout);
        let (s_p, dp_ds) = (h.scores(gpu)?, h.scores(gpu)?);
        matmul_strided(gpu, &h.view(q), &h.view(k), false, true, &h.scores_view(&s_p), h.batch)?;
        matmul_strided(gpu, &h.view(dout), &h.view(v), false, true, &h.scores_view(&dp_ds), h.batch)?;
        let c = constants(None, dropout.as_ref());
        launch(gpu, "attention", "attention_probs_bwd", &c, &p, &[lse, &lens], &[&s_p, &dp_ds], gpu.grid_1d(rows.div_ceil(64))?)?;
        matmul_strided(gpu, &h.scores_view(&dp_ds), &h.view(k), false, false, &h.view(&dq), h.batch)?;
        matmul_strided(gpu, &h.scores_view(&dp_ds), &h.view(q), true, false, &h.view(&dk), h.batch)?;
        matmul_strided(gpu, &h.scores_view(&s_p), &h.view(dout), true, false, &h.view(&dv), h.batch)?;
        return Ok(AttentionGrads { dq, dk, dv });
    }
    let groups = block_grid(gpu, dims)?;
    let stats = Tensor::empty(gpu, &[batch, heads, seq, 2], DType::F32)?; // (lse, delta) per row
    let wg = [("WG", wg_for(seq) as f64)];
    let c = constants(Some(wg_for(seq)), dropout.as_ref());
    let row_groups = gpu.grid_1d(rows.div_ceil(wg_for(seq)))?;
    launch(gpu, "attention", "attention_bwd_stats", &wg, &p, &[out, dout, lse], &[&stats], row_groups)?;
    launch(gpu, "attention", "attention_bwd_dq", &c, &p, &[q, k, v, &lens, dout, &stats], &[&dq], groups)?;
    launch(gpu, "attention", "attention_bwd_dkdv", &c, &p, &[q, k, v, &lens, dout, &stats], &[&dk, &dv], groups)?;
    Ok(AttentionGrads { dq, dk, dv })
}
