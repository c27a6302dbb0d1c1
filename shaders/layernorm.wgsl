// layernorm.wgsl: rows of x[rows, dim], normalised over dim (biased variance, as PyTorch).
//   fwd:         mu = sum(x)/dim   r = 1/sqrt(sum((x-mu)^2)/dim + eps)   xh = (x-mu)*r   y = xh*gamma + beta
//   bwd_dx:      g = dy*gamma      dx = r*(g - mean(g) - xh*mean(g*xh))
//   bwd_dparams: dgamma = sum_rows dy*xh, dbeta = sum_rows dy, in two stages (no atomics, fixed order):
//                stage 1 sums each block of `rows_per_block` rows per column, stage 2 sums the blocks in order.
// Two mappings of rows onto invocations, picked by the launcher from the shape and the adapter:
//   *_rows: one invocation per row, 64 rows per workgroup. No barriers, no workgroup memory: short rows on
//           CPU adapters, where a workgroup's invocations run as SIMD lanes of one core.
//   *_wide: one workgroup of WIDE_WG per row; strided (coalesced) loads, then a reduction in workgroup
//           memory (two barriers per sum). Long rows, and every row on a real GPU.
//   *_rows4, dparams_partial4: the same as *_rows and dparams_partial when dim % 4 == 0, with each row (each
//           invocation's 4 columns) read and written as whole vec4s through vec4 views of the same bindings
//           (every binding holds whole vec4s, Tensor::binding): on lavapipe 1.6x faster than four scalar loads at 8192x768.
// Sums are two-pass (mean first, then squared deviations) so a large mean cannot cancel the variance, and
// blocked (each invocation sums blocks of BLOCK of its elements, then the blocks) so rounding grows with
// dim/BLOCK + BLOCK rather than dim. Elements go four at a time in the *_rows kernels: lavapipe (Mesa 22)
// stops an invocation's loops silently after 65535 iterations in total, so the launcher bounds the
// iterations (about 3*dim/4 here, 3*dim/WIDE_WG in *_wide) on CPU adapters.

struct Rows { rows: u32, dim: u32, eps: f32, _pad: u32 }
struct Blocks { rows: u32, dim: u32, rows_per_block: u32, blocks: u32 }

const ROWS_WG: u32 = 64u;     // invocations (= rows) per workgroup of the *_rows kernels
override WIDE_WG: u32 = 256u; // invocations per workgroup (= one row) of the *_wide kernels: a power of two <= 256
const LEAF: u32 = 16u;        // leaf size of the wide reduction (see wide_leaves)
const BLOCK: u32 = 256u;      // elements of one invocation summed as a block before joining its running total

@group(0) @binding(0) var<uniform> p: Rows;
@group(0) @binding(0) var<uniform> pb: Blocks;

// fwd_*: x, gamma, beta -> y, mean, rstd
@group(0) @binding(1) var<storage, read> x: array<f32>;            // [rows, dim]
@group(0) @binding(2) var<storage, read> gamma: array<f32>;        // [dim]
@group(0) @binding(3) var<storage, read> beta: array<f32>;         // [dim]
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // [rows, dim]
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;   // [rows], kept for bwd
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;   // [rows] 1/sigma, kept for bwd

// bwd_dx_*: x, gamma, dy, saved mean, saved rstd -> dx
@group(0) @binding(3) var<storage, read> dy: array<f32>;           // [rows, dim]
@group(0) @binding(4) var<storage, read> saved_mean: array<f32>;   // [rows]
@group(0) @binding(5) var<storage, read> saved_rstd: array<f32>;   // [rows]
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;     // [rows, dim]

// dparams_partial: x, dy, saved mean, saved rstd -> per-block partial sums (binding 2 holds gamma, unused)
@group(0) @binding(6) var<storage, read_write> part_dgamma: array<f32>; // [blocks, dim]
@group(0) @binding(7) var<storage, read_write> part_dbeta: array<f32>;  // [blocks, dim]

// The *_rows4 and dparams_partial4 views: rows of dim / 4 vec4s (dim % 4 == 0)
@group(0) @binding(1) var<storage, read> xv: array<vec4<f32>>;        // [rows, dim / 4]
@group(0) @binding(2) var<storage, read> gammav: array<vec4<f32>>;    // [dim / 4]
@group(0) @binding(3) var<storage, read> betav: array<vec4<f32>>;     // [dim / 4] (fwd)
@group(0) @binding(3) var<storage, read> dyv: array<vec4<f32>>;       // [rows, dim / 4] (bwd)
@group(0) @binding(4) var<storage, read_write> yv: array<vec4<f32>>;  // [rows, dim / 4]
@group(0) @binding(6) var<storage, read_write> dxv: array<vec4<f32>>; // [rows, dim / 4]
@group(0) @binding(6) var<storage, read_write> part_dgammav: array<vec4<f32>>; // [blocks, dim / 4]
@group(0) @binding(7) var<storage, read_write> part_dbetav: array<vec4<f32>>;  // [blocks, dim / 4]

// dparams_final: partial sums -> dgamma, dbeta
@group(0) @binding(1) var<storage, read> sum_dgamma: array<f32>;   // [blocks, dim]
@group(0) @binding(2) var<storage, read> sum_dbeta: array<f32>;    // [blocks, dim]
@group(0) @binding(3) var<storage, read_write> dgamma: array<f32>; // [dim]
@group(0) @binding(4) var<storage, read_write> dbeta: array<f32>;  // [dim]

// The wide reduction: WIDE_WG values as wide_leaves() leaves of wide_leaf_size() (16 of 16 at 256; one leaf
// of WIDE_WG at 16 and below), then the leaves.
fn wide_leaves() -> u32 {
    return max(WIDE_WG / LEAF, 1u);
}
fn wide_leaf_size() -> u32 {
    return WIDE_WG / wide_leaves();
}

var<workgroup> red: array<vec2<f32>, 256>;
var<workgroup> leaves: array<vec2<f32>, 16>;

// Sum of `v` over the WIDE_WG invocations of a workgroup, returned to every invocation, in a fixed order:
// leaves of consecutive values, each summed in order, then the leaves in order. Call from uniform control flow.
fn wide_sum(lid: u32, v: vec2<f32>) -> vec2<f32> {
    red[lid] = v;
    workgroupBarrier();
    if (lid < wide_leaves()) {
        var t = vec2<f32>(0.0);
        for (var k = 0u; k < wide_leaf_size(); k++) {
            t += red[lid * wide_leaf_size() + k];
        }
        leaves[lid] = t;
    }
    workgroupBarrier();
    var total = vec2<f32>(0.0);
    for (var k = 0u; k < wide_leaves(); k++) {
        total += leaves[k];
    }
    // No trailing barrier: the next call writes `red` and `leaves` only after its own first barrier,
    // which every invocation reaches after reading `leaves` here.
    return total;
}

// Four consecutive elements from `i` of x and of dy (helpers of the *_rows kernels).
fn x4(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}
fn dy4(i: u32) -> vec4<f32> {
    return vec4<f32>(dy[i], dy[i + 1u], dy[i + 2u], dy[i + 3u]);
}
fn gamma4(i: u32) -> vec4<f32> {
    return vec4<f32>(gamma[i], gamma[i + 1u], gamma[i + 2u], gamma[i + 3u]);
}
fn beta4(i: u32) -> vec4<f32> {
    return vec4<f32>(beta[i], beta[i + 1u], beta[i + 2u], beta[i + 3u]);
}

// fwd_rows: y[r,:] = (x[r,:]-mu)*rstd*gamma + beta, mean[r] = mu, rstd[r] = 1/sqrt(var + eps); one invocation per row r.
@compute @workgroup_size(64)
fn fwd_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * ROWS_WG + lid;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.dim;
    let inv_dim = 1.0 / f32(max(p.dim, 1u));
    let n4 = p.dim - p.dim % 4u;
    var s = vec4<f32>(0.0);
    for (var b = 0u; b < n4; b += BLOCK) {
        var c = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK, n4); j += 4u) {
            c += x4(base + j);
        }
        s += c;
    }
    for (var j = n4; j < p.dim; j++) {
        s.x += x[base + j];
    }
    let mu = (s.x + s.y + s.z + s.w) * inv_dim;
    var q = vec4<f32>(0.0);
    for (var b = 0u; b < n4; b += BLOCK) {
        var c = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK, n4); j += 4u) {
            let d = x4(base + j) - mu;
            c += d * d;
        }
        q += c;
    }
    for (var j = n4; j < p.dim; j++) {
        let d = x[base + j] - mu;
        q.x += d * d;
    }
    let r = 1.0 / sqrt((q.x + q.y + q.z + q.w) * inv_dim + p.eps);
    for (var j = 0u; j < n4; j += 4u) {
        let v = (x4(base + j) - mu) * r * gamma4(j) + beta4(j);
        y[base + j] = v.x;
        y[base + j + 1u] = v.y;
        y[base + j + 2u] = v.z;
        y[base + j + 3u] = v.w;
    }
    for (var j = n4; j < p.dim; j++) {
        y[base + j] = (x[base + j] - mu) * r * gamma[j] + beta[j];
    }
    mean[row] = mu;
    rstd[row] = r;
}

// fwd_rows4: fwd_rows for dim % 4 == 0, whole vec4s (the same blocked sums, so the same rounding).
@compute @workgroup_size(64)
fn fwd_rows4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * ROWS_WG + lid;
    if (row >= p.rows) {
        return;
    }
    let d4 = p.dim / 4u;
    let base = row * d4;
    let inv_dim = 1.0 / f32(max(p.dim, 1u));
    var s = vec4<f32>(0.0);
    for (var b = 0u; b < d4; b += BLOCK / 4u) {
        var c = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK / 4u, d4); j++) {
            c += xv[base + j];
        }
        s += c;
    }
    let mu = (s.x + s.y + s.z + s.w) * inv_dim;
    var q = vec4<f32>(0.0);
    for (var b = 0u; b < d4; b += BLOCK / 4u) {
        var c = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK / 4u, d4); j++) {
            let d = xv[base + j] - mu;
            c += d * d;
        }
        q += c;
    }
    let r = 1.0 / sqrt((q.x + q.y + q.z + q.w) * inv_dim + p.eps);
    for (var j = 0u; j < d4; j++) {
        yv[base + j] = (xv[base + j] - mu) * r * gammav[j] + betav[j];
    }
    mean[row] = mu;
    rstd[row] = r;
}

// fwd_wide: the same as fwd_rows, one workgroup of WIDE_WG per row (the row index is workgroup-uniform).
@compute @workgroup_size(WIDE_WG)
fn fwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let valid = row < p.rows;
    let n = select(0u, p.dim, valid); // spare workgroups of the folded grid do no work but reach every barrier
    let base = row * p.dim;
    let inv_dim = 1.0 / f32(max(p.dim, 1u));
    let span = WIDE_WG * BLOCK;
    var s = 0.0;
    for (var b = lid; b < n; b += span) {
        var c = 0.0;
        for (var j = b; j < min(b + span, n); j += WIDE_WG) {
            c += x[base + j];
        }
        s += c;
    }
    let mu = wide_sum(lid, vec2<f32>(s, 0.0)).x * inv_dim;
    var q = 0.0;
    for (var b = lid; b < n; b += span) {
        var c = 0.0;
        for (var j = b; j < min(b + span, n); j += WIDE_WG) {
            let d = x[base + j] - mu;
            c += d * d;
        }
        q += c;
    }
    let r = 1.0 / sqrt(wide_sum(lid, vec2<f32>(q, 0.0)).x * inv_dim + p.eps);
    for (var j = lid; j < n; j += WIDE_WG) {
        y[base + j] = (x[base + j] - mu) * r * gamma[j] + beta[j];
    }
    if (valid && lid == 0u) {
        mean[row] = mu;
        rstd[row] = r;
    }
}

// bwd_dx_rows: g = dy*gamma, xh = (x-mean)*rstd, dx = rstd*(g - mean(g) - xh*mean(g*xh)); one invocation per row.
@compute @workgroup_size(64)
fn bwd_dx_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * ROWS_WG + lid;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.dim;
    let inv_dim = 1.0 / f32(max(p.dim, 1u));
    let mu = saved_mean[row];
    let r = saved_rstd[row];
    let n4 = p.dim - p.dim % 4u;
    var sg = vec4<f32>(0.0);  // sum(g)
    var sgx = vec4<f32>(0.0); // sum(g*xh)
    for (var b = 0u; b < n4; b += BLOCK) {
        var cg = vec4<f32>(0.0);
        var cgx = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK, n4); j += 4u) {
            let g = dy4(base + j) * gamma4(j);
            cg += g;
            cgx += g * (x4(base + j) - mu) * r;
        }
        sg += cg;
        sgx += cgx;
    }
    for (var j = n4; j < p.dim; j++) {
        let g = dy[base + j] * gamma[j];
        sg.x += g;
        sgx.x += g * (x[base + j] - mu) * r;
    }
    let mg = (sg.x + sg.y + sg.z + sg.w) * inv_dim;
    let mgx = (sgx.x + sgx.y + sgx.z + sgx.w) * inv_dim;
    for (var j = 0u; j < n4; j += 4u) {
        let xh = (x4(base + j) - mu) * r;
        let v = r * (dy4(base + j) * gamma4(j) - mg - xh * mgx);
        dx[base + j] = v.x;
        dx[base + j + 1u] = v.y;
        dx[base + j + 2u] = v.z;
        dx[base + j + 3u] = v.w;
    }
    for (var j = n4; j < p.dim; j++) {
        let xh = (x[base + j] - mu) * r;
        dx[base + j] = r * (dy[base + j] * gamma[j] - mg - xh * mgx);
    }
}

// bwd_dx_rows4: bwd_dx_rows for dim % 4 == 0, whole vec4s.
@compute @workgroup_size(64)
fn bwd_dx_rows4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * ROWS_WG + lid;
    if (row >= p.rows) {
        return;
    }
    let d4 = p.dim / 4u;
    let base = row * d4;
    let inv_dim = 1.0 / f32(max(p.dim, 1u));
    let mu = saved_mean[row];
    let r = saved_rstd[row];
    var sg = vec4<f32>(0.0);  // sum(g)
    var sgx = vec4<f32>(0.0); // sum(g*xh)
    for (var b = 0u; b < d4; b += BLOCK / 4u) {
        var cg = vec4<f32>(0.0);
        var cgx = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK / 4u, d4); j++) {
            let g = dyv[base + j] * gammav[j];
            cg += g;
            cgx += g * (xv[base + j] - mu) * r;
        }
        sg += cg;
        sgx += cgx;
    }
    let mg = (sg.x + sg.y + sg.z + sg.w) * inv_dim;
    let mgx = (sgx.x + sgx.y + sgx.z + sgx.w) * inv_dim;
    for (var j = 0u; j < d4; j++) {
        let xh = (xv[base + j] - mu) * r;
        dxv[base + j] = r * (dyv[base + j] * gammav[j] - mg - xh * mgx);
    }
}

// bwd_dx_wide: the same as bwd_dx_rows, one workgroup of WIDE_WG per row.
@compute @workgroup_size(WIDE_WG)
fn bwd_dx_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let valid = row < p.rows;
    let n = select(0u, p.dim, valid);
    let base = row * p.dim;
    let inv_dim = 1.0 / f32(max(p.dim, 1u));
    let rr = min(row, p.rows - 1u); // the launcher never dispatches zero rows
    let mu = saved_mean[rr];
    let r = saved_rstd[rr];
    let span = WIDE_WG * BLOCK;
    var acc = vec2<f32>(0.0); // (sum g, sum g*xh)
    for (var b = lid; b < n; b += span) {
        var c = vec2<f32>(0.0);
        for (var j = b; j < min(b + span, n); j += WIDE_WG) {
            let g = dy[base + j] * gamma[j];
            c += vec2<f32>(g, g * (x[base + j] - mu) * r);
        }
        acc += c;
    }
    let m = wide_sum(lid, acc) * inv_dim;
    for (var j = lid; j < n; j += WIDE_WG) {
        let xh = (x[base + j] - mu) * r;
        dx[base + j] = r * (dy[base + j] * gamma[j] - m.x - xh * m.y);
    }
}

// dparams_partial: for block b and column j, part_dgamma[b,j] = sum over rows r of block b of dy[r,j]*xh[r,j],
// part_dbeta[b,j] = sum dy[r,j], rows in increasing order. Grid: (ceil(dim/256), blocks).
@compute @workgroup_size(256)
fn dparams_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = wid.x * 256u + lid;
    let b = wid.y;
    if (j >= pb.dim || b >= pb.blocks) {
        return;
    }
    let start = b * pb.rows_per_block;
    let end = min(start + pb.rows_per_block, pb.rows);
    var dg = 0.0;
    var db = 0.0;
    for (var r = start; r < end; r++) {
        let i = r * pb.dim + j;
        let g = dy[i];
        dg += g * (x[i] - saved_mean[r]) * saved_rstd[r];
        db += g;
    }
    part_dgamma[b * pb.dim + j] = dg;
    part_dbeta[b * pb.dim + j] = db;
}

// dparams_partial4: dparams_partial for dim % 4 == 0, 4 neighbouring columns (one vec4) per invocation.
// Grid: (ceil(dim/4/256), blocks).
@compute @workgroup_size(256)
fn dparams_partial4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = wid.x * 256u + lid;
    let d4 = pb.dim / 4u;
    let b = wid.y;
    if (j >= d4 || b >= pb.blocks) {
        return;
    }
    let start = b * pb.rows_per_block;
    let end = min(start + pb.rows_per_block, pb.rows);
    var dg = vec4<f32>(0.0);
    var db = vec4<f32>(0.0);
    for (var r = start; r < end; r++) {
        let i = r * d4 + j;
        let g = dyv[i];
        dg += g * (xv[i] - saved_mean[r]) * saved_rstd[r];
        db += g;
    }
    part_dgammav[b * d4 + j] = dg;
    part_dbetav[b * d4 + j] = db;
}

// dparams_final: dgamma[j] = sum_b sum_dgamma[b,j], dbeta[j] = sum_b sum_dbeta[b,j], b in increasing order.
@compute @workgroup_size(256)
fn dparams_final(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let j = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (j >= pb.dim) {
        return;
    }
    var dg = 0.0;
    var db = 0.0;
    for (var b = 0u; b < pb.blocks; b++) {
        dg += sum_dgamma[b * pb.dim + j];
        db += sum_dbeta[b * pb.dim + j];
    }
    dgamma[j] = dg;
    dbeta[j] = db;
}
