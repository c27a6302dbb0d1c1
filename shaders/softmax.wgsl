// softmax.wgsl: softmax over the last axis of x[rows, dim], numerically stable (max subtracted).
//   fwd: m = max_j x[j]   e[j] = exp(x[j] - m)   y[j] = e[j] / sum_j e[j]
//        (e is written to y on the way, then scaled: one exp per element; x - m <= 0 cannot overflow)
//   bwd: dx[j] = y[j] * (dy[j] - sum_k dy[k]*y[k])
// Two mappings of rows onto invocations, picked by the launcher from the shape and the adapter:
//   *_rows: one invocation per row, 64 rows per workgroup. No barriers, no workgroup memory: short rows on
//           CPU adapters, where a workgroup's invocations run as SIMD lanes of one core.
//   *_wide: one workgroup of 256 per row; strided (coalesced) loads, then a two-level reduction in
//           workgroup memory (two barriers per reduction). Long rows, and every row on a real GPU.
// A row of all -inf gives NaN, as in PyTorch; -inf entries in a row with a finite entry give 0.

struct Rows { rows: u32, dim: u32, _pad0: u32, _pad1: u32 }

const ROWS_WG: u32 = 64u;  // invocations (= rows) per workgroup of the *_rows kernels
const WIDE_WG: u32 = 256u; // invocations per workgroup (= one row) of the *_wide kernels
const LEAF: u32 = 16u;     // the wide reduction combines 256 values as 16 leaves of 16, then the 16 leaves
const BLOCK: u32 = 256u;   // the *_rows kernels sum blocks of BLOCK elements, then the blocks
const LOWEST: f32 = -3.4028234663852886e38; // the start of a max: -inf entries then give exp(-inf) = 0, not NaN

@group(0) @binding(0) var<uniform> p: Rows;

// fwd_*: x -> y
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [rows, dim]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;   // [rows, dim]

// bwd_*: saved y, dy -> dx
@group(0) @binding(1) var<storage, read> saved_y: array<f32>;   // [rows, dim] the forward output
@group(0) @binding(2) var<storage, read> dy: array<f32>;        // [rows, dim]
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;  // [rows, dim]

var<workgroup> red: array<f32, 256>;
var<workgroup> leaves: array<f32, 16>;

// Sum of `v` over the 256 invocations of a workgroup, returned to every invocation, in a fixed order:
// leaf k = v[16k] + .. + v[16k+15], total = leaf 0 + .. + leaf 15. Call from uniform control flow.
fn wide_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    if (lid < LEAF) {
        var t = 0.0;
        for (var k = 0u; k < LEAF; k++) {
            t += red[lid * LEAF + k];
        }
        leaves[lid] = t;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var k = 0u; k < LEAF; k++) {
        total += leaves[k];
    }
    // No trailing barrier: the next call writes `red` and `leaves` only after its own first barrier,
    // which every invocation reaches after reading `leaves` here.
    return total;
}

// Max of `v` over the 256 invocations of a workgroup, returned to every invocation (as wide_sum).
fn wide_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    if (lid < LEAF) {
        var t = LOWEST;
        for (var k = 0u; k < LEAF; k++) {
            t = max(t, red[lid * LEAF + k]);
        }
        leaves[lid] = t;
    }
    workgroupBarrier();
    var total = LOWEST;
    for (var k = 0u; k < LEAF; k++) {
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
// Sums run in four lanes (vec4) and in blocks of BLOCK elements added into a running total: a long row's
// rounding error grows with dim/BLOCK + BLOCK/4 rather than dim/4.
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
    for (var j = 0u; j < p.dim; j++) {
        y[base + j] *= inv;
    }
}

// fwd_wide: the same as fwd_rows, one workgroup of 256 per row (the row index is workgroup-uniform).
@compute @workgroup_size(256)
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
    var s = 0.0;
    for (var j = lid; j < n; j += WIDE_WG) {
        let e = exp(x[base + j] - mx);
        y[base + j] = e;
        s += e;
    }
    let inv = 1.0 / wide_sum(lid, s);
    // Each invocation rescales exactly the entries it wrote, so no barrier is needed between the passes.
    for (var j = lid; j < n; j += WIDE_WG) {
        y[base + j] *= inv;
    }
}

// bwd_rows: dx[r,:] = y[r,:] * (dy[r,:] - sum(dy[r,:]*y[r,:])); one invocation per row r (sum as fwd_rows).
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
    for (var j = 0u; j < p.dim; j++) {
        dx[base + j] = saved_y[base + j] * (dy[base + j] - dot);
    }
}

// bwd_wide: the same as bwd_rows, one workgroup of 256 per row.
@compute @workgroup_size(256)
fn bwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    let n = select(0u, p.dim, row < p.rows);
    let base = row * p.dim;
    var s = 0.0;
    for (var j = lid; j < n; j += WIDE_WG) {
        s += dy[base + j] * saved_y[base + j];
    }
    let dot = wide_sum(lid, s);
    for (var j = lid; j < n; j += WIDE_WG) {
        dx[base + j] = saved_y[base + j] * (dy[base + j] - dot);
    }
}
