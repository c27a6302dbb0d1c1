// softmax.wgsl: softmax over the last axis of x[rows, dim], numerically stable (max subtracted).
//   fwd: m = max_j x[j]   e[j] = exp(x[j] - m)   y[j] = e[j] / sum_j e[j]
//        (e is written to y on the way, then scaled: one exp per element; x - m <= 0 cannot overflow)
//   bwd: dx[j] = y[j] * (dy[j] - sum_k dy[k]*y[k])
// Two mappings of rows onto invocations, picked by the launcher from the shape and the adapter:
//   *_rows: one invocation per row, 64 rows per workgroup. No barriers, no workgroup memory: short rows on
//           CPU adapters, where a workgroup's invocations run as SIMD lanes of one core.
//   *_wide: one workgroup of WIDE_WG per row; strided (coalesced) loads, then a reduction in workgroup
//           memory (two barriers per reduction). Long rows, and every row on a real GPU.
// Sums are blocked (each invocation sums blocks of BLOCK of its elements, then the blocks) so rounding grows
// with dim/BLOCK + BLOCK rather than dim. Elements go four at a time in the *_rows kernels: lavapipe (Mesa 22)
// stops an invocation's loops silently after 65535 iterations in total, so the launcher bounds the
// iterations (about 3*dim/4 here, 3*dim/WIDE_WG in *_wide) on CPU adapters.
// A row of all -inf gives NaN, as in PyTorch; -inf entries in a row with a finite entry give 0.

struct Rows { rows: u32, dim: u32, _pad0: u32, _pad1: u32 }

const ROWS_WG: u32 = 64u;  // invocations (= rows) per workgroup of the *_rows kernels
override WIDE_WG: u32 = 256u; // invocations per workgroup (= one row) of the *_wide kernels: a power of two <= 256
const LEAF: u32 = 16u;     // leaf size of the wide reduction (see wide_leaves)
const BLOCK: u32 = 256u;   // elements of one invocation summed as a block before joining its running total
const LOWEST: f32 = -3.4028234663852886e38; // the start of a max: -inf entries then give exp(-inf) = 0, not NaN

@group(0) @binding(0) var<uniform> p: Rows;

// fwd_*: x -> y
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [rows, dim]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;   // [rows, dim]

// bwd_*: saved y, dy -> dx
@group(0) @binding(1) var<storage, read> saved_y: array<f32>;   // [rows, dim] the forward output
@group(0) @binding(2) var<storage, read> dy: array<f32>;        // [rows, dim]
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;  // [rows, dim]

// The wide reduction: WIDE_WG values as wide_leaves() leaves of wide_leaf_size() (16 of 16 at 256; one leaf
// of WIDE_WG at 16 and below), then the leaves.
fn wide_leaves() -> u32 {
    return max(WIDE_WG / LEAF, 1u);
}
fn wide_leaf_size() -> u32 {
    return WIDE_WG / wide_leaves();
}

var<workgroup> red: array<f32, 256>;
var<workgroup> leaves: array<f32, 16>;

// Sum of `v` over the WIDE_WG invocations of a workgroup, returned to every invocation, in a fixed order:
// leaves of consecutive values, each summed in order, then the leaves in order. Call from uniform control flow.
fn wide_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    if (lid < wide_leaves()) {
        var t = 0.0;
        for (var k = 0u; k < wide_leaf_size(); k++) {
            t += red[lid * wide_leaf_size() + k];
        }
        leaves[lid] = t;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var k = 0u; k < wide_leaves(); k++) {
        total += leaves[k];
    }
    // No trailing barrier: the next call writes `red` and `leaves` only after its own first barrier,
    // which every invocation reaches after reading `leaves` here.
    return total;
}

// Max of `v` over the WIDE_WG invocations of a workgroup, returned to every invocation (as wide_sum).
fn wide_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    if (lid < wide_leaves()) {
        var t = LOWEST;
        for (var k = 0u; k < wide_leaf_size(); k++) {
            t = max(t, red[lid * wide_leaf_size() + k]);
        }
        leaves[lid] = t;
    }
    workgroupBarrier();
    var total = LOWEST;
    for (var k = 0u; k < wide_leaves(); k++) {
        total = max(total, leaves[k]);
    }
    return total;
}

// Four consecutive elements from `i` (helpers of the *_rows kernels).
fn x4(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}
fn y4(i: u32) -> vec4<f32> {
    return vec4<f32>(saved_y[i], saved_y[i + 1u], saved_y[i + 2u], saved_y[i + 3u]);
}
fn dy4(i: u32) -> vec4<f32> {
    return vec4<f32>(dy[i], dy[i + 1u], dy[i + 2u], dy[i + 3u]);
}

// fwd_rows: y[r,:] = exp(x[r,:] - max x[r,:]) / sum exp(x[r,:] - max x[r,:]); one invocation per row r.
@compute @workgroup_size(64)
fn fwd_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * ROWS_WG + lid;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.dim;
    let n4 = p.dim - p.dim % 4u;
    var m = vec4<f32>(LOWEST);
    for (var j = 0u; j < n4; j += 4u) {
        m = max(m, x4(base + j));
    }
    for (var j = n4; j < p.dim; j++) {
        m.x = max(m.x, x[base + j]);
    }
    let mx = max(max(m.x, m.y), max(m.z, m.w));
    var s = vec4<f32>(0.0);
    for (var b = 0u; b < n4; b += BLOCK) {
        var c = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK, n4); j += 4u) {
            let e = exp(x4(base + j) - mx);
            y[base + j] = e.x;
            y[base + j + 1u] = e.y;
            y[base + j + 2u] = e.z;
            y[base + j + 3u] = e.w;
            c += e;
        }
        s += c;
    }
    for (var j = n4; j < p.dim; j++) {
        let e = exp(x[base + j] - mx);
        y[base + j] = e;
        s.x += e;
    }
    let inv = 1.0 / (s.x + s.y + s.z + s.w);
    for (var j = 0u; j < n4; j += 4u) {
        y[base + j] *= inv;
        y[base + j + 1u] *= inv;
        y[base + j + 2u] *= inv;
        y[base + j + 3u] *= inv;
    }
    for (var j = n4; j < p.dim; j++) {
        y[base + j] *= inv;
    }
}

// fwd_wide: the same as fwd_rows, one workgroup of WIDE_WG per row (the row index is workgroup-uniform).
@compute @workgroup_size(WIDE_WG)
fn fwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let n = select(0u, p.dim, row < p.rows); // spare workgroups of the folded grid do no work but reach every barrier
    let base = row * p.dim;
    var m = LOWEST;
    for (var j = lid; j < n; j += WIDE_WG) {
        m = max(m, x[base + j]);
    }
    let mx = wide_max(lid, m);
    let span = WIDE_WG * BLOCK;
    var s = 0.0;
    for (var b = lid; b < n; b += span) {
        var c = 0.0;
        for (var j = b; j < min(b + span, n); j += WIDE_WG) {
            let e = exp(x[base + j] - mx);
            y[base + j] = e;
            c += e;
        }
        s += c;
    }
    let inv = 1.0 / wide_sum(lid, s);
    // Each invocation rescales exactly the entries it wrote, so no barrier is needed between the passes.
    for (var j = lid; j < n; j += WIDE_WG) {
        y[base + j] *= inv;
    }
}

// bwd_rows: dx[r,:] = y[r,:] * (dy[r,:] - sum(dy[r,:]*y[r,:])); one invocation per row r.
@compute @workgroup_size(64)
fn bwd_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * ROWS_WG + lid;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.dim;
    let n4 = p.dim - p.dim % 4u;
    var s = vec4<f32>(0.0);
    for (var b = 0u; b < n4; b += BLOCK) {
        var c = vec4<f32>(0.0);
        for (var j = b; j < min(b + BLOCK, n4); j += 4u) {
            c += dy4(base + j) * y4(base + j);
        }
        s += c;
    }
    for (var j = n4; j < p.dim; j++) {
        s.x += dy[base + j] * saved_y[base + j];
    }
    let dot = s.x + s.y + s.z + s.w;
    for (var j = 0u; j < n4; j += 4u) {
        let v = y4(base + j) * (dy4(base + j) - dot);
        dx[base + j] = v.x;
        dx[base + j + 1u] = v.y;
        dx[base + j + 2u] = v.z;
        dx[base + j + 3u] = v.w;
    }
    for (var j = n4; j < p.dim; j++) {
        dx[base + j] = saved_y[base + j] * (dy[base + j] - dot);
    }
}

// bwd_wide: the same as bwd_rows, one workgroup of WIDE_WG per row.
@compute @workgroup_size(WIDE_WG)
fn bwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let n = select(0u, p.dim, row < p.rows);
    let base = row * p.dim;
    let span = WIDE_WG * BLOCK;
    var s = 0.0;
    for (var b = lid; b < n; b += span) {
        var c = 0.0;
        for (var j = b; j < min(b + span, n); j += WIDE_WG) {
            c += dy[base + j] * saved_y[base + j];
        }
        s += c;
    }
    let dot = wide_sum(lid, s);
    for (var j = lid; j < n; j += WIDE_WG) {
        dx[base + j] = saved_y[base + j] * (dy[base + j] - dot);
    }
}
