//! Matrix products (`shaders/matmul.wgsl`): C = op(A)·op(B) (+ bias), batched, either operand transposed in place.
//! Dimensions: `batch` (optional leading axis), `m` rows of C, `n` columns of C, `k` the contracted axis.
use bytemuck::{Pod, Zeroable};

use crate::gpu::{Binding, Dispatch, Gpu};
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_batch_stride: u32,
    b_batch_stride: u32,
    has_bias: u32,
    tiles_n: u32,
    tiles_m: u32,
    _pad: [u32; 3],
} // = Params in matmul.wgsl

/// Which kernel of `matmul.wgsl` computes a product; `for_adapter` picks one by rule (no autotuning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulTiling {
    /// `matmul_sg8`: one 8-lane subgroup per 32 x 32 tile, A shared by subgroup broadcast (CPU adapters).
    Subgroup8,
    /// `matmul_tile`: an 8 x 4 register tile per invocation, 64 x 32 per workgroup (portable).
    Invocation,
}

impl MatmulTiling {
    /// The subgroup kernel on a CPU adapter whose subgroups are exactly 8 lanes (lavapipe: one 256-bit vector),
    /// else the per-invocation register tile.
    pub fn for_adapter(gpu: &Gpu) -> MatmulTiling {
        let info = gpu.adapter_info();
        if gpu.is_cpu() && gpu.subgroup_size() == Some(8) && info.subgroup_max_size == 8 {
            MatmulTiling::Subgroup8
        } else {
            MatmulTiling::Invocation
        }
    }

    fn entry_and_tile(self) -> (&'static str, usize, usize) {
        match self {
            MatmulTiling::Subgroup8 => ("matmul_sg8", 32, 32),
            MatmulTiling::Invocation => ("matmul_tile", 64, 32),
        }
    }
}

/// C = op(A) · op(B) (+ bias[N] on every row). A is [M,K] ([K,M] if trans_a), B is [K,N] ([N,K] if trans_b);
/// either may carry a leading batch dim [batch, .., ..]; a rank-2 operand is shared by every batch (stride 0).
/// Output [M,N] or [batch,M,N].
pub fn matmul(gpu: &Gpu, a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool, bias: Option<&Tensor>) -> Result<Tensor> {
    matmul_with(gpu, a, b, trans_a, trans_b, bias, MatmulTiling::for_adapter(gpu))
}

/// `matmul` with the kernel chosen by the caller (tests run both on one adapter).
pub fn matmul_with(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    trans_a: bool,
    trans_b: bool,
    bias: Option<&Tensor>,
    tiling: MatmulTiling,
) -> Result<Tensor> {
    const OP: &str = "matmul";
    a.expect_dtype(OP, "a", DType::F32)?;
    b.expect_dtype(OP, "b", DType::F32)?;
    let (a_batch, a_rows, a_cols) = split_batch(a, "a")?;
    let (b_batch, b_rows, b_cols) = split_batch(b, "b")?;
    let (m, k) = if trans_a { (a_cols, a_rows) } else { (a_rows, a_cols) };
    let (kb, n) = if trans_b { (b_cols, b_rows) } else { (b_rows, b_cols) };
    if kb != k {
        let want = if trans_b { format!("[.., _, {k}]") } else { format!("[.., {k}, _]") };
        return Err(Error::Shape(format!(
            "{OP}: b has shape {:?}, expected {want} (op(a) is {m}x{k}, trans_a={trans_a}, trans_b={trans_b})",
            b.shape()
        )));
    }
    let batch = match (a_batch, b_batch) {
        (Some(x), Some(y)) if x != y => {
            return Err(Error::Shape(format!(
                "{OP}: a has shape {:?} and b has shape {:?}: batch sizes {x} and {y} differ",
                a.shape(),
                b.shape()
            )));
        }
        (Some(x), _) | (None, Some(x)) => Some(x),
        (None, None) => None,
    };
    if let Some(bias) = bias {
        bias.expect_dtype(OP, "bias", DType::F32)?;
        bias.expect_shape(OP, "bias", &[n])?;
    }
    let out_shape: Vec<usize> = match batch {
        Some(bt) => vec![bt, m, n],
        None => vec![m, n],
    };
    let out = Tensor::empty(gpu, &out_shape, DType::F32)?;
    let batch = batch.unwrap_or(1);
    if m == 0 || n == 0 || batch == 0 {
        return Ok(out);
    }

    let (entry, tile_m, tile_n) = tiling.entry_and_tile();
    let (tiles_m, tiles_n) = (m.div_ceil(tile_m), n.div_ceil(tile_n));
    let groups = gpu.grid_1d(batch * tiles_m * tiles_n)?;
    let u = |x: usize, what: &str| {
        u32::try_from(x).map_err(|_| Error::Shape(format!("{OP}: {what} = {x} does not fit in 32 bits")))
    };
    let params = Params {
        m: u(m, "m")?,
        n: u(n, "n")?,
        k: u(k, "k")?,
        batch: u(batch, "batch")?,
        a_batch_stride: if a_batch.is_some() { u(m * k, "m*k")? } else { 0 },
        b_batch_stride: if b_batch.is_some() { u(k * n, "k*n")? } else { 0 },
        has_bias: bias.is_some() as u32,
        tiles_n: u(tiles_n, "tiles_n")?,
        tiles_m: u(tiles_m, "tiles_m")?,
        _pad: [0; 3],
    };
    // vec4 loads need every row start of the contiguous axis on a multiple of 4 elements.
    let vec_a = !trans_a && k % 4 == 0;
    let vec_b = if trans_b { k % 4 == 0 } else { n % 4 == 0 };
    let flag = |x: bool| if x { 1.0 } else { 0.0 };
    let constants = [
        ("TRANS_A", flag(trans_a)),
        ("TRANS_B", flag(trans_b)),
        ("VEC_A", flag(vec_a)),
        ("VEC_B", flag(vec_b)),
        ("K_ALIGNED", flag(k % 4 == 0)),
    ];
    let dummy;
    let bias = match bias {
        Some(t) => t,
        None => {
            dummy = Tensor::empty(gpu, &[1], DType::F32)?; // never read: has_bias = 0
            &dummy
        }
    };
    let reads = [vec4_binding(a), vec4_binding(b), bias.binding()];
    gpu.dispatch(&Dispatch {
        shader: "matmul",
        entry,
        constants: &constants,
        params: bytemuck::bytes_of(&params),
        reads: &reads,
        writes: &[out.binding()],
        groups,
    })?;
    Ok(out)
}

/// (batch, rows, cols) of a rank-2 or rank-3 operand.
fn split_batch(t: &Tensor, name: &str) -> Result<(Option<usize>, usize, usize)> {
    match *t.shape() {
        [rows, cols] => Ok((None, rows, cols)),
        [batch, rows, cols] => Ok((Some(batch), rows, cols)),
        _ => Err(Error::Shape(format!("matmul: {name} has shape {:?}, expected rank 2 or 3", t.shape()))),
    }
}

/// The tensor bound as `array<vec4<f32>>`: its size rounded up to 16 bytes, so the last partial vec4 is
/// addressable (pool buffers are at least 256 bytes and a multiple of 64; the shader never uses the padding).
/// This is why the launcher calls `Gpu::dispatch` directly rather than `kernels::launch`.
fn vec4_binding(t: &Tensor) -> Binding<'_> {
    let size = (t.nbytes() as u64).next_multiple_of(16).max(16).min(t.buffer().size());
    Binding { buffer: t.buffer(), size }
}
