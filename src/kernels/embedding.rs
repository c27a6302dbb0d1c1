//! Embedding lookup and its adjoint (`shaders/embedding.wgsl`). The backward pass builds, per id, the chain
//! of tokens that carry it (first/last occurrence by integer atomicMin, then "next occurrence" links), and
//! sums each chain in token order: deterministic, no float atomics, every dtable element written once.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    vocab: u32,
    dim: u32,
    col_blocks: u32,
} // = Params in embedding.wgsl

fn params(op: &str, n: usize, vocab: usize, dim: usize) -> Result<Params> {
    let big = |what: &str, v: usize| {
        Error::Shape(format!("{op}: {what} = {v} is more than a kernel can index (2^32 - 1)"))
    };
    let fits = |what: &str, v: usize| u32::try_from(v).map_err(|_| big(what, v));
    fits("tokens x dim", n.checked_mul(dim).ok_or_else(|| big("tokens x dim", usize::MAX))?)?;
    fits("vocab x dim", vocab.checked_mul(dim).ok_or_else(|| big("vocab x dim", usize::MAX))?)?;
    fits("2 x vocab", 2 * vocab)?;
    Ok(Params { n: n as u32, vocab: vocab as u32, dim: dim as u32, col_blocks: dim.div_ceil(4) as u32 })
}

/// out[i, :] = table[ids\[i\], :]   (table: [vocab, dim], ids: \[n\] I32; an id outside [0, vocab) gives a zero row)
pub fn embedding_fwd(gpu: &Gpu, table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    const OP: &str = "embedding_fwd";
    table.expect_dtype(OP, "table", DType::F32)?;
    ids.expect_dtype(OP, "ids", DType::I32)?;
    let [vocab, dim] = table.dims(OP, "table")?;
    let [n] = ids.dims(OP, "ids")?;
    let p = params(OP, n, vocab, dim)?;
    let out = Tensor::empty(gpu, &[n, dim], DType::F32)?;
    if n * dim == 0 {
        return Ok(out);
    }
    if dim.is_multiple_of(4) {
        let vec4s = n * dim / 4; // one vec4 per invocation
        launch(gpu, "embedding", "embedding_fwd4", &[], &p, &[table, ids], &[&out], gpu.grid_1d(vec4s.div_ceil(256))?)?;
    } else {
        launch(gpu, "embedding", "embedding_fwd", &[], &p, &[table, ids], &[&out], gpu.grid_1d((n * dim).div_ceil(256))?)?;
    }
    Ok(out)
}

/// dtable[v, :] = sum over i with ids\[i\] == v of dy[i, :], in increasing i (deterministic, no float atomics).
pub fn embedding_bwd(gpu: &Gpu, dy: &Tensor, ids: &Tensor, vocab: usize) -> Result<Tensor> {
    const OP: &str = "embedding_bwd";
    dy.expect_dtype(OP, "dy", DType::F32)?;
    ids.expect_dtype(OP, "ids", DType::I32)?;
    let [n] = ids.dims(OP, "ids")?;
    let [rows, dim] = dy.dims(OP, "dy")?;
    if rows != n {
        return Err(Error::Shape(format!("{OP}: dy has shape {:?}, expected [{n}, _] (one row per id)", dy.shape())));
    }
    let p = params(OP, n, vocab, dim)?;
    let dtable = Tensor::empty(gpu, &[vocab, dim], DType::F32)?;
    if vocab * dim == 0 {
        return Ok(dtable);
    }
    // span[2v], span[2v+1] = first and !last token of id v; all ones = never seen.
    let span = Tensor::empty(gpu, &[2 * vocab], DType::U32)?;
    gpu.fill_words(span.binding(), u32::MAX)?;
    let next = Tensor::empty(gpu, &[n.max(1)], DType::U32)?;
    if n > 0 {
        let tokens = gpu.grid_1d(n.div_ceil(256))?;
        launch(gpu, "embedding", "embedding_span", &[], &p, &[ids], &[&span], tokens)?;
        launch(gpu, "embedding", "embedding_next", &[], &p, &[ids, &span], &[&next], tokens)?;
    }
    let blocks = vocab * dim.div_ceil(4);
    let entry = if dim.is_multiple_of(4) { "embedding_bwd4" } else { "embedding_bwd" };
    launch(gpu, "embedding", entry, &[], &p, &[dy, &span, &next], &[&dtable], gpu.grid_1d(blocks.div_ceil(256))?)?;
    Ok(dtable)
}
