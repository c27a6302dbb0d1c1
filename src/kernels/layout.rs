//! Data movement (`shaders/layout.wgsl`): permute, slice, concat, gather and scatter of rows.
//! Elements move as 32-bit words, so f32, i32 and u32 tensors all work (f16 does not).
use bytemuck::{Pod, Zeroable};

use crate::gpu::Gpu;
use crate::kernels::elementwise::{collapse, contiguous_strides, pack6, MAX_RANK};
use crate::kernels::launch;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct Params {
    n: u32,
    rank: u32,
    src_base: u32,
    dst_base: u32,
    shape: [[u32; 4]; 2],
    src_strides: [[u32; 4]; 2],
    dst_strides: [[u32; 4]; 2],
    batch: u32,
    len: u32,
    keep: u32,
    dim: u32,
} // = Params in layout.wgsl

fn expect_words(op: &str, name: &str, t: &Tensor) -> Result<()> {
    if t.dtype().size() != 4 {
        return Err(Error::DType(format!("{op}: {name} is {}, expected a 32-bit type (f32, i32, u32)", t.dtype().name())));
    }
    Ok(())
}

/// Records dst[dst_base + c·dst_strides] = src[src_base + c·src_strides] over `shape`; a `None` side is
/// contiguous over `shape` from its base.
#[allow(clippy::too_many_arguments)]
fn copy_strided(
    gpu: &Gpu,
    op: &str,
    src: &Tensor,
    src_base: usize,
    src_strides: Option<&[usize]>,
    dst: &Tensor,
    dst_base: usize,
    dst_strides: Option<&[usize]>,
    shape: &[usize],
) -> Result<()> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Ok(());
    }
    // A contiguous side walks `shape` with contiguous strides; collapsing keeps both walks intact.
    let flat = contiguous_strides(shape);
    let strides = [src_strides.unwrap_or(&flat).to_vec(), dst_strides.unwrap_or(&flat).to_vec()];
    let (shape, strides) = collapse(shape, &strides);
    if shape.len() > MAX_RANK {
        return Err(Error::Shape(format!("{op}: the copy needs {} independent axes, at most {MAX_RANK}", shape.len())));
    }
    let src_flat = strides[0] == contiguous_strides(&shape);
    let dst_flat = strides[1] == contiguous_strides(&shape);
    if src_flat && dst_flat {
        let word = 4u64;
        return gpu.copy(src.buffer(), src_base as u64 * word, dst.buffer(), dst_base as u64 * word, n as u64 * word);
    }
    let params = Params {
        n: n as u32,
        rank: shape.len() as u32,
        src_base: src_base as u32,
        dst_base: dst_base as u32,
        shape: pack6(&shape),
        src_strides: pack6(&strides[0]),
        dst_strides: pack6(&strides[1]),
        ..Default::default()
    };
    // Run length: the largest of 8, 4, 2, 1 dividing the innermost extent.
    let inner = shape.last().copied().unwrap_or(1);
    let run = [8, 4, 2, 1].into_iter().find(|r| inner % r == 0).unwrap_or(1);
    let constants = [("SRC_FLAT", src_flat as u32 as f64), ("DST_FLAT", dst_flat as u32 as f64), ("RUN", run as f64)];
    let groups = gpu.grid_1d((n / run).div_ceil(256))?;
    launch(gpu, "layout", "copy_strided", &constants, &params, &[src], &[dst], groups)
}

/// The grid of the row-wise entries: 4 rows per workgroup, workgroups along y then z.
fn row_grid(gpu: &Gpu, rows: usize) -> Result<[u32; 3]> {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let groups = rows.div_ceil(4);
    let y = groups.clamp(1, max);
    let z = groups.div_ceil(y).max(1);
    if z > max {
        return Err(Error::Gpu(format!("{rows} rows exceed the adapter's grid of {max}x{max} workgroups")));
    }
    Ok([1, y as u32, z as u32])
}

/// out = x.permute(perm) made contiguous (rank <= 6).
pub fn permute(gpu: &Gpu, x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let op = "permute";
    expect_words(op, "x", x)?;
    let rank = x.shape().len();
    let mut seen = vec![false; rank];
    let valid = perm.len() == rank && perm.iter().all(|&a| a < rank && !std::mem::replace(&mut seen[a], true));
    if !valid {
        return Err(Error::Shape(format!("{op}: {perm:?} is not a permutation of the {rank} axes of x {:?}", x.shape())));
    }
    let out_shape: Vec<usize> = perm.iter().map(|&a| x.shape()[a]).collect();
    let out = Tensor::empty(gpu, &out_shape, x.dtype())?;
    let x_strides = contiguous_strides(x.shape());
    let src_strides: Vec<usize> = perm.iter().map(|&a| x_strides[a]).collect();
    copy_strided(gpu, op, x, 0, Some(&src_strides), &out, 0, None, &out_shape)?;
    Ok(out)
}

/// x[.., start..start+len, ..] along `axis`, contiguous.
pub fn slice(gpu: &Gpu, x: &Tensor, axis: usize, start: usize, len: usize) -> Result<Tensor> {
    let op = "slice";
    expect_words(op, "x", x)?;
    let shape = x.shape();
    if axis >= shape.len() {
        return Err(Error::Shape(format!("{op}: axis {axis} is out of range for x {shape:?}")));
    }
    if start.checked_add(len).is_none_or(|end| end > shape[axis]) {
        return Err(Error::Shape(format!(
            "{op}: range {start}..{} of axis {axis} is out of bounds for x {shape:?}",
            start.saturating_add(len)
        )));
    }
    let mut out_shape = shape.to_vec();
    out_shape[axis] = len;
    let out = Tensor::empty(gpu, &out_shape, x.dtype())?;
    let x_strides = contiguous_strides(shape);
    copy_strided(gpu, op, x, start * x_strides[axis], Some(&x_strides), &out, 0, None, &out_shape)?;
    Ok(out)
}

/// Concatenation along `axis`.
pub fn concat(gpu: &Gpu, xs: &[&Tensor], axis: usize) -> Result<Tensor> {
    let op = "concat";
    let Some(first) = xs.first() else {
        return Err(Error::Shape(format!("{op}: no tensors to concatenate")));
    };
    expect_words(op, "xs[0]", first)?;
    let rank = first.shape().len();
    if axis >= rank {
        return Err(Error::Shape(format!("{op}: axis {axis} is out of range for xs[0] {:?}", first.shape())));
    }
    let mut total = 0;
    for (i, x) in xs.iter().enumerate() {
        x.expect_dtype(op, &format!("xs[{i}]"), first.dtype())?;
        let same_other_axes = x.shape().len() == rank
            && x.shape().iter().zip(first.shape()).enumerate().all(|(k, (a, b))| k == axis || a == b);
        if !same_other_axes {
            return Err(Error::Shape(format!(
                "{op}: xs[{i}] has shape {:?}, expected xs[0]'s {:?} except on axis {axis}",
                x.shape(),
                first.shape()
            )));
        }
        total += x.shape()[axis];
    }
    let mut out_shape = first.shape().to_vec();
    out_shape[axis] = total;
    let out = Tensor::empty(gpu, &out_shape, first.dtype())?;
    let out_strides = contiguous_strides(&out_shape);
    let mut at = 0;
    for x in xs {
        copy_strided(gpu, op, x, 0, None, &out, at * out_strides[axis], Some(&out_strides), x.shape())?;
        at += x.shape()[axis];
    }
    Ok(out)
}

/// out[b, k, :] = x[b, index[b, k], :]   (x: [batch, len, dim], index: [batch, keep] I32); an index
/// outside [0, len) gives a zero row.
pub fn gather_rows(gpu: &Gpu, x: &Tensor, index: &Tensor) -> Result<Tensor> {
    let op = "gather_rows";
    expect_words(op, "x", x)?;
    index.expect_dtype(op, "index", DType::I32)?;
    let [batch, len, dim] = x.dims(op, "x")?;
    let [_, keep] = index.dims(op, "index")?;
    index.expect_shape(op, "index", &[batch, keep])?;
    let out = Tensor::empty(gpu, &[batch, keep, dim], x.dtype())?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let params = Params { n: n as u32, batch: batch as u32, len: len as u32, keep: keep as u32, dim: dim as u32, ..Default::default() };
    launch(gpu, "layout", "gather_rows", &[], &params, &[x, index], &[&out], row_grid(gpu, batch * keep)?)?;
    Ok(out)
}

/// The adjoint: out[b, index[b, k], :] += dy[b, k, :], zeros elsewhere, out: [batch, len, dim]. Deterministic
/// (a repeated index sums in increasing k); an index outside [0, len) is ignored.
pub fn scatter_rows(gpu: &Gpu, dy: &Tensor, index: &Tensor, len: usize) -> Result<Tensor> {
    let op = "scatter_rows";
    dy.expect_dtype(op, "dy", DType::F32)?;
    index.expect_dtype(op, "index", DType::I32)?;
    let [batch, keep, dim] = dy.dims(op, "dy")?;
    index.expect_shape(op, "index", &[batch, keep])?;
    let out = Tensor::empty(gpu, &[batch, len, dim], DType::F32)?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let params = Params {
        n: n as u32,
        batch: batch as u32,
        len: len as u32,
        keep: keep as u32,
        dim: dim as u32,
        ..Default::default()
    };
    let head = Tensor::empty(gpu, &[batch, len], DType::I32)?; // first k of each row l
    let next = Tensor::empty(gpu, &[batch, keep], DType::I32)?; // next k with the same index
    let links = batch * len + batch * keep;
    launch(gpu, "layout", "scatter_index", &[], &params, &[index], &[&head, &next], gpu.grid_1d(links.div_ceil(256))?)?;
    launch(gpu, "layout", "scatter_rows", &[], &params, &[dy, &head, &next], &[&out], row_grid(gpu, batch * len)?)?;
    Ok(out)
}
