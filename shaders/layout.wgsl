// layout.wgsl: data movement of 32-bit elements (f32, i32, u32 alike, moved as words).
//   copy_strided:  dst[dst_base + sum_k c_k dst_stride_k] = src[src_base + sum_k c_k src_stride_k]
//                  for every coordinate c of `shape` (rank <= 6): permute, slice and each part of concat.
//                  SRC_FLAT / DST_FLAT replace a side's strided offset by base + i (a contiguous side).
//   gather_rows:   out[b, k, :] = x[b, index[b, k], :]   (0 when the index is outside [0, len))
//   scatter_index: head[b, l] = min {k : index[b, k] = l} (or -1);
//                  next[b, k] = min {k' > k : index[b, k'] = index[b, k]} (or -1)
//   scatter_rows:  out[b, l, :] = sum over k in head[b, l], next[b, k], ... of dy[b, k, :]
//                  (the adjoint of gather_rows: repeated indices sum in increasing k, deterministic;
//                  the linked lists make the work proportional to the output, not output x keep)
// copy_strided: each invocation copies a run of RUN elements along the innermost axis, so the integer
// div/mod of the coordinate decomposition (slow on llvmpipe, which runs it lane by lane) is paid once per run.

struct Params {
    n: u32,          // elements to write
    rank: u32,       // rank of `shape` (copy_strided)
    src_base: u32,
    dst_base: u32,
    shape: array<vec4<u32>, 2>,        // iteration shape, axis k at [k / 4][k % 4], outermost first
    src_strides: array<vec4<u32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
    batch: u32,      // gather / scatter: x or out is [batch, len, dim], index is [batch, keep]
    len: u32,
    keep: u32,
    dim: u32,
}

override SRC_FLAT: bool = false;
override DST_FLAT: bool = false;
// Consecutive elements of the innermost axis copied per invocation of copy_strided.
override RUN: u32 = 1u;

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
// copy_strided
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
// gather_rows
@group(0) @binding(1) var<storage, read> rows: array<u32>;          // x [batch, len, dim]
@group(0) @binding(2) var<storage, read> gather_index: array<i32>;  // [batch, keep]
@group(0) @binding(3) var<storage, read_write> gathered: array<u32>; // [batch, keep, dim]
// scatter_index
@group(0) @binding(1) var<storage, read> scatter_from: array<i32>;   // [batch, keep]
@group(0) @binding(2) var<storage, read_write> head_out: array<i32>;  // [batch, len]
@group(0) @binding(3) var<storage, read_write> next_out: array<i32>;  // [batch, keep]
// scatter_rows
@group(0) @binding(1) var<storage, read> dy: array<f32>;              // [batch, keep, dim]
@group(0) @binding(2) var<storage, read> head: array<i32>;            // [batch, len]
@group(0) @binding(3) var<storage, read> next: array<i32>;            // [batch, keep]
@group(0) @binding(4) var<storage, read_write> scattered: array<f32>; // [batch, len, dim]

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// dst[dst(c)] = src[src(c)] for the coordinates c of elements RUN*t .. RUN*t + RUN-1 of `shape` (RUN divides
// the innermost extent, so one decomposition of the first coordinate serves the whole run).
@compute @workgroup_size(256)
fn copy_strided(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let first = linear_id(gid, nwg) * RUN;
    if (first >= p.n) {
        return;
    }
    var rest = first;
    var s = p.src_base;
    var d = p.dst_base;
    for (var axis = p.rank; axis > 0u; axis--) {
        let a = axis - 1u;
        let extent = p.shape[a / 4u][a % 4u];
        let c = rest % extent;
        rest = rest / extent;
        s += c * p.src_strides[a / 4u][a % 4u];
        d += c * p.dst_strides[a / 4u][a % 4u];
    }
    if (SRC_FLAT) {
        s = p.src_base + first;
    }
    if (DST_FLAT) {
        d = p.dst_base + first;
    }
    let inner = p.rank - 1u;
    let src_step = p.src_strides[inner / 4u][inner % 4u];
    let dst_step = p.dst_strides[inner / 4u][inner % 4u];
    for (var r = 0u; r < RUN; r++) {
        dst[d + r * dst_step] = src[s + r * src_step];
    }
}

// Row-wise entries: a workgroup of 64 x 4 invocations takes 4 rows (workgroups along y then z); each
// invocation walks its row's dim axis in steps of 64. No division splits an element index into
// (row, e), and few workgroups are launched (llvmpipe pays a fixed cost per workgroup).
const ROW_LANES: u32 = 64u;
const ROWS_PER_GROUP: u32 = 4u;

fn grid_row(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.y + wid.z * nwg.y) * ROWS_PER_GROUP + lid.y;
}

// gathered[b, k, e] = rows[b, gather_index[b, k], e], or 0 for an index outside [0, len).
@compute @workgroup_size(64, 4)
fn gather_rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let bk = grid_row(wid, nwg, lid);
    if (bk >= p.batch * p.keep) {
        return;
    }
    let b = bk / p.keep;
    let l = gather_index[bk];
    let valid = l >= 0 && u32(l) < p.len;
    let src_row = (b * p.len + u32(max(l, 0))) * p.dim;
    for (var e = lid.x; e < p.dim; e += ROW_LANES) {
        var v = 0u;
        if (valid) {
            v = rows[src_row + e];
        }
        gathered[bk * p.dim + e] = v;
    }
}

// Invocations [0, batch*len) write head[b, l]; invocations [batch*len, batch*len + batch*keep) write next[b, k].
@compute @workgroup_size(256)
fn scatter_index(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = linear_id(gid, nwg);
    let n_head = p.batch * p.len;
    if (g < n_head) {
        let b = g / p.len;
        let l = i32(g % p.len);
        var found = -1;
        for (var k = 0u; k < p.keep; k++) {
            if (scatter_from[b * p.keep + k] == l) {
                found = i32(k);
                break;
            }
        }
        head_out[g] = found;
    } else if (g < n_head + p.batch * p.keep) {
        let bk = g - n_head;
        let b = bk / p.keep;
        let l = scatter_from[bk];
        var found = -1;
        for (var k = bk % p.keep + 1u; k < p.keep; k++) {
            if (scatter_from[b * p.keep + k] == l) {
                found = i32(k);
                break;
            }
        }
        next_out[bk] = found;
    }
}

// scattered[b, l, e] = sum of dy[b, k, e] over the k with index[b, k] = l, in increasing k.
@compute @workgroup_size(64, 4)
fn scatter_rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let bl = grid_row(wid, nwg, lid);
    if (bl >= p.batch * p.len) {
        return;
    }
    let b = bl / p.len;
    let first = head[bl];
    if (first < 0) {
        // No index names this row (most rows of a masked batch): zeros, without the list walk.
        for (var e = lid.x; e < p.dim; e += ROW_LANES) {
            scattered[bl * p.dim + e] = 0.0;
        }
        return;
    }
    for (var e = lid.x; e < p.dim; e += ROW_LANES) {
        var acc = 0.0;
        var k = first;
        // next strictly increases, so at most keep steps; the bound also guards against a corrupt list.
        for (var step = 0u; step < p.keep && k >= 0; step++) {
            let bk = b * p.keep + u32(k);
            acc += dy[bk * p.dim + e];
            k = next[bk];
        }
        scattered[bl * p.dim + e] = acc;
    }
}
