//! Matrix products (`shaders/matmul.wgsl`, and `shaders/matmul_sg.wgsl` where the adapter has subgroups and 64-bit integers):
//! C = op(A)·op(B) (+ bias), batched, either operand transposed in place.
//! Dimensions: `batch` (optional leading axis), `m` rows of C, `n` columns of C, `k` the contracted axis.
//! `matmul` takes contiguous tensors; `matmul_strided` takes strided views (`MatView`) with a two-level batch
//! and writes into a view of an existing tensor: the same kernels serve both. `matmul_row_sums` also returns
//! the sums of op(A)'s rows from the same pass (a linear layer's weight and bias gradients together).
use bytemuck::{Pod, Zeroable};

use crate::gpu::{Dispatch, Gpu};
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    inner: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    a_outer: u32,
    a_inner: u32,
    b_outer: u32,
    b_inner: u32,
    c_outer: u32,
    c_inner: u32,
    has_bias: u32,
    tiles_n: u32,
    tiles_m: u32,
    row_sums: u32,
    _pad: [u32; 2],
} // = Params in matmul.wgsl

/// A batch of matrices inside a tensor: each stored [rows, cols] with row stride `ld` (elements); batch
/// (o, i) of a two-level batch starts at offset o·outer + i·inner (0 shares the matrix along that level).
#[derive(Debug, Clone, Copy)]
pub struct MatView<'a> {
    pub t: &'a Tensor,
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
    pub outer: usize,
    pub inner: usize,
}

impl<'a> MatView<'a> {
    /// A contiguous [rows, cols] matrix, one per `stride` elements (0 = shared).
    pub fn dense(t: &'a Tensor, rows: usize, cols: usize, stride: usize) -> MatView<'a> {
        MatView { t, rows, cols, ld: cols, outer: stride, inner: 0 }
    }

    /// Checks that every element of every batch lies inside the tensor.
    fn check(&self, op: &str, name: &str, batch: [usize; 2]) -> Result<()> {
        self.t.expect_dtype(op, name, DType::F32)?;
        if self.rows == 0 || self.cols == 0 || batch[0] == 0 || batch[1] == 0 {
            return Ok(());
        }
        let last = (batch[0] - 1) * self.outer + (batch[1] - 1) * self.inner + (self.rows - 1) * self.ld + self.cols - 1;
        if (self.rows > 1 && self.cols > self.ld) || last >= self.t.numel() {
            return Err(Error::Shape(format!(
                "{op}: {name} view of {} x {} (row stride {}, batch strides {} and {}, batches {} x {}) does not fit in its tensor of shape {:?}",
                self.rows, self.cols, self.ld, self.outer, self.inner, batch[0], batch[1], self.t.shape()
            )));
        }
        Ok(())
    }

    fn aligned(&self) -> bool {
        [self.ld, self.outer, self.inner].iter().all(|x| x.is_multiple_of(4))
    }
}

/// Which kernel computes a product; `for_adapter` picks one by rule (no autotuning), `matmul_with` forces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulTiling {
    /// `matmul_sg8` (`shaders/matmul_sg.wgsl`, needs subgroups of exactly 8 lanes and 64-bit integers): one
    /// subgroup per 32 x 32 tile, A shared by subgroup broadcast, A and B read as 64-bit words (CPU adapters).
    Subgroup8,
    /// `matmul_tile` (`shaders/matmul.wgsl`, portable): an 8 x 4 register tile per invocation, 64 x 32 per workgroup.
    Invocation,
}

impl MatmulTiling {
    /// Every tiling, the portable one last.
    pub const ALL: [MatmulTiling; 2] = [MatmulTiling::Subgroup8, MatmulTiling::Invocation];

    /// The subgroup kernel on a CPU adapter whose subgroups are exactly 8 lanes (lavapipe: one 256-bit vector),
    /// else the portable per-invocation register tile.
    pub fn for_adapter(gpu: &Gpu) -> MatmulTiling {
        if gpu.is_cpu() && MatmulTiling::Subgroup8.check(gpu).is_ok() {
            MatmulTiling::Subgroup8
        } else {
            MatmulTiling::Invocation
        }
    }

    /// The shader module and entry point of this tiling.
    pub fn kernel(self) -> (&'static str, &'static str) {
        match self {
            MatmulTiling::Subgroup8 => ("matmul_sg", "matmul_sg8"),
            MatmulTiling::Invocation => ("matmul", "matmul_tile"),
        }
    }

    /// Rows and columns of C per workgroup.
    fn tile(self) -> (usize, usize) {
        match self {
            MatmulTiling::Subgroup8 => (32, 32),
            MatmulTiling::Invocation => (64, 32),
        }
    }

    /// Whether `gpu` can run this tiling: an error naming what the adapter lacks if not.
    pub fn check(self, gpu: &Gpu) -> Result<()> {
        let (shader, entry) = self.kernel();
        if !gpu.supports(shader) {
            let needs = crate::gpu::shaders::get(shader).map(|s| crate::gpu::shaders::feature_names(s.requires).join(", "));
            return Err(Error::Gpu(format!(
                "matmul: tiling {self:?} ({entry} in shaders/{shader}.wgsl) needs the adapter features {}, \
                 which {} does not have (all of them); MatmulTiling::Invocation runs everywhere",
                needs.unwrap_or_default(),
                gpu.name()
            )));
        }
        if self == MatmulTiling::Subgroup8 {
            let info = gpu.adapter_info();
            if gpu.subgroup_size() != Some(8) || info.subgroup_max_size != 8 {
                return Err(Error::Gpu(format!(
                    "matmul: tiling Subgroup8 ({entry}) needs subgroups of exactly 8 lanes; {} has {}..{}; \
                     MatmulTiling::Invocation runs everywhere",
                    gpu.name(),
                    info.subgroup_min_size,
                    info.subgroup_max_size
                )));
            }
        }
        Ok(())
    }
}

/// C = op(A) · op(B) (+ bias\[N\] on every row). A is \[M,K\] (\[K,M\] if trans_a), B is \[K,N\] (\[N,K\] if trans_b);
/// either may carry a leading batch dim [batch, .., ..]; a rank-2 operand is shared by every batch (stride 0).
/// Output \[M,N\] or \[batch,M,N\].
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
    Ok(dense(gpu, a, b, trans_a, trans_b, bias, false, tiling)?.0)
}

/// C = Aᵀ · op(B) (A stored \[K,M\]) and, from the same pass, the row sums of Aᵀ (the sums of A's columns
/// over k), \[M\] or \[batch, M\]. For a linear layer y = x·Wᵀ + b: `matmul_row_sums(dy, x, false)`
/// gives dW = dyᵀ·x and db = Σ_rows dy. Shapes as `matmul` with trans_a.
pub fn matmul_row_sums(gpu: &Gpu, a: &Tensor, b: &Tensor, trans_b: bool) -> Result<(Tensor, Tensor)> {
    matmul_row_sums_with(gpu, a, b, trans_b, MatmulTiling::for_adapter(gpu))
}

/// `matmul_row_sums` with the kernel chosen by the caller.
pub fn matmul_row_sums_with(gpu: &Gpu, a: &Tensor, b: &Tensor, trans_b: bool, tiling: MatmulTiling) -> Result<(Tensor, Tensor)> {
    let (c, sums) = dense(gpu, a, b, true, trans_b, None, true, tiling)?;
    let sums = sums.ok_or_else(|| Error::Gpu("matmul_row_sums: no sums tensor".into()))?;
    Ok((c, sums))
}

/// The contiguous-tensor product, with the row sums of op(A) when `row_sums` (trans_a only).
#[allow(clippy::too_many_arguments)]
fn dense(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    trans_a: bool,
    trans_b: bool,
    bias: Option<&Tensor>,
    row_sums: bool,
    tiling: MatmulTiling,
) -> Result<(Tensor, Option<Tensor>)> {
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
    let sums = if row_sums {
        let shape = &out_shape[..out_shape.len() - 1];
        Some(if k == 0 || n == 0 { crate::kernels::fill::zeros(gpu, shape, DType::F32)? } else { Tensor::empty(gpu, shape, DType::F32)? })
    } else {
        None
    };
    let batch = batch.unwrap_or(1);
    if m == 0 || n == 0 || batch == 0 {
        return Ok((out, sums));
    }

    let a_view = MatView::dense(a, a_rows, a_cols, if a_batch.is_some() { a_rows * a_cols } else { 0 });
    let b_view = MatView::dense(b, b_rows, b_cols, if b_batch.is_some() { b_rows * b_cols } else { 0 });
    let c_view = MatView::dense(&out, m, n, m * n);
    dispatch(gpu, &a_view, &b_view, trans_a, trans_b, bias, sums.as_ref(), &c_view, [batch, 1], tiling)?;
    Ok((out, sums))
}

/// C = op(A) · op(B) written into the view `c` of an existing tensor, for every batch (o, i) of
/// `batch` = [outer, inner]: A is stored [m, k] ([k, m] if trans_a), B [k, n] ([n, k] if trans_b), C [m, n].
/// Elements of c's tensor outside the view are left as they are.
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided(gpu: &Gpu, a: &MatView, b: &MatView, trans_a: bool, trans_b: bool, c: &MatView, batch: [usize; 2]) -> Result<()> {
    matmul_strided_with(gpu, a, b, trans_a, trans_b, c, batch, MatmulTiling::for_adapter(gpu))
}

/// `matmul_strided` with the kernel chosen by the caller (tests run both on one adapter).
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided_with(
    gpu: &Gpu,
    a: &MatView,
    b: &MatView,
    trans_a: bool,
    trans_b: bool,
    c: &MatView,
    batch: [usize; 2],
    tiling: MatmulTiling,
) -> Result<()> {
    const OP: &str = "matmul_strided";
    let (m, k) = if trans_a { (a.cols, a.rows) } else { (a.rows, a.cols) };
    let (kb, n) = if trans_b { (b.cols, b.rows) } else { (b.rows, b.cols) };
    if kb != k || c.rows != m || c.cols != n {
        return Err(Error::Shape(format!(
            "{OP}: op(a) is {m} x {k}, op(b) is {kb} x {n} and c is {} x {} (trans_a={trans_a}, trans_b={trans_b})",
            c.rows, c.cols
        )));
    }
    a.check(OP, "a", batch)?;
    b.check(OP, "b", batch)?;
    c.check(OP, "c", batch)?;
    if c.outer == 0 && batch[0] > 1 || c.inner == 0 && batch[1] > 1 {
        return Err(Error::Shape(format!("{OP}: c has a batch stride of 0 with {batch:?} batches: batches would overwrite each other")));
    }
    dispatch(gpu, a, b, trans_a, trans_b, None, None, c, batch, tiling)
}

/// Records the kernel for checked views (`sums`: \[batch·m\] row sums of op(A), trans_a only).
#[allow(clippy::too_many_arguments)]
fn dispatch(
    gpu: &Gpu,
    a: &MatView,
    b: &MatView,
    trans_a: bool,
    trans_b: bool,
    bias: Option<&Tensor>,
    sums: Option<&Tensor>,
    c: &MatView,
    batch: [usize; 2],
    tiling: MatmulTiling,
) -> Result<()> {
    const OP: &str = "matmul";
    let (m, n) = (c.rows, c.cols);
    let k = if trans_a { a.rows } else { a.cols };
    let batches = batch[0] * batch[1];
    if m == 0 || n == 0 || batches == 0 {
        return Ok(());
    }
    if sums.is_some() && !trans_a {
        return Err(Error::Invalid(format!("{OP}: row sums of op(A) come only with a transposed A")));
    }
    tiling.check(gpu)?;
    let (shader, entry) = tiling.kernel();
    let (tile_m, tile_n) = tiling.tile();
    let (tiles_m, tiles_n) = (m.div_ceil(tile_m), n.div_ceil(tile_n));
    let groups = gpu.grid_1d(batches * tiles_m * tiles_n)?;
    let u = |x: usize, what: &str| {
        u32::try_from(x).map_err(|_| Error::Shape(format!("{OP}: {what} = {x} does not fit in 32 bits")))
    };
    for (v, name) in [(a, "a"), (b, "b"), (c, "c")] {
        u(v.t.numel(), &format!("{name}'s size"))?;
    }
    let params = Params {
        m: u(m, "m")?,
        n: u(n, "n")?,
        k: u(k, "k")?,
        batch: u(batches, "batch")?,
        inner: u(batch[1], "inner batch")?,
        lda: u(a.ld, "lda")?,
        ldb: u(b.ld, "ldb")?,
        ldc: u(c.ld, "ldc")?,
        a_outer: u(a.outer, "a's batch stride")?,
        a_inner: u(a.inner, "a's batch stride")?,
        b_outer: u(b.outer, "b's batch stride")?,
        b_inner: u(b.inner, "b's batch stride")?,
        c_outer: u(c.outer, "c's batch stride")?,
        c_inner: u(c.inner, "c's batch stride")?,
        has_bias: bias.is_some() as u32,
        tiles_n: u(tiles_n, "tiles_n")?,
        tiles_m: u(tiles_m, "tiles_m")?,
        row_sums: sums.is_some() as u32,
        _pad: [0; 2],
    };
    // vec4 loads and stores need every row start of the contiguous axis, and every batch offset, on a
    // multiple of 4: along k for op(A) and op(Bᵀ) (k % 4 == 0), along m for a transposed A, along n for B and C.
    let vec_a = a.aligned() && (trans_a || k % 4 == 0);
    let vec_b = (if trans_b { k % 4 == 0 } else { n % 4 == 0 }) && b.aligned();
    let vec_c = n % 4 == 0 && c.aligned();
    let flag = |x: bool| if x { 1.0 } else { 0.0 };
    let constants = [
        ("TRANS_A", flag(trans_a)),
        ("TRANS_B", flag(trans_b)),
        ("VEC_A", flag(vec_a)),
        ("VEC_B", flag(vec_b)),
        ("VEC_C", flag(vec_c)),
    ];
    let dummy;
    let bias = match bias {
        Some(t) => t,
        None => {
            dummy = Tensor::empty(gpu, &[1], DType::F32)?; // never read: has_bias = 0
            &dummy
        }
    };
    let dummy_sums;
    let sums = match sums {
        Some(t) => t,
        None => {
            dummy_sums = Tensor::empty(gpu, &[1], DType::F32)?; // never written: row_sums = 0
            &dummy_sums
        }
    };
    let reads = [a.t.binding(), b.t.binding(), bias.binding()];
    gpu.dispatch(&Dispatch {
        shader,
        entry,
        constants: &constants,
        params: bytemuck::bytes_of(&params),
        reads: &reads,
        writes: &[c.t.binding(), sums.binding()],
        groups,
    })?;
    gpu.count_product_flops(2 * (m * n * k * batches) as u64);
    Ok(())
}

/// (batch, rows, cols) of a rank-2 or rank-3 operand.
fn split_batch(t: &Tensor, name: &str) -> Result<(Option<usize>, usize, usize)> {
    match *t.shape() {
        [rows, cols] => Ok((None, rows, cols)),
        [batch, rows, cols] => Ok((Some(batch), rows, cols)),
        _ => Err(Error::Shape(format!("matmul: {name} has shape {:?}, expected rank 2 or 3", t.shape()))),
    }
}

