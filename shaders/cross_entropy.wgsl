// cross_entropy.wgsl: mean cross-entropy of logits[rows, vocab] against targets[rows] (i32), and its gradient.
//   counted rows: targets[r] in [0, vocab) (-100, PyTorch's ignore_index, and any other id outside are ignored)
//   count     = number of counted rows (computed on the GPU, never on the host)
//   lse_r     = max_j x[r,j] + log sum_j exp(x[r,j] - max)            (online: one read of the row)
//   loss      = sum over counted r of (lse_r - x[r, t_r]) / count        (0 when count == 0)
//   grad[r,j] = (exp(x[r,j] - lse_r) - [j == t_r]) / count  for counted rows, 0 for ignored rows
// Passes: ce_count (one workgroup) -> ce_rows, ce_rows4 or ce_rows_wg (loss and gradient of each row in one pass)
//         -> ce_total (one workgroup: fixed-order sum of the per-row losses).

struct Params { rows: u32, vocab: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> tree_u: array<u32, WG>;
var<workgroup> tree_m: array<f32, WG>;
var<workgroup> tree_s: array<f32, WG>;

fn counted(t: i32) -> bool {
    return t >= 0 && u32(t) < p.vocab;
}

// ce_count (reads targets; writes count)
@group(0) @binding(1) var<storage, read> targets_c: array<i32>;
@group(0) @binding(2) var<storage, read_write> count_out: array<u32>;   // [1]

// ce_count: count_out[0] = number of rows whose target is in [0, vocab). One workgroup.
@compute @workgroup_size(256)
fn ce_count(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var c = 0u;
    for (var r = t; r < p.rows; r += WG) {
        c += select(0u, 1u, counted(targets_c[r]));
    }
    tree_u[t] = c;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            tree_u[t] += tree_u[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        count_out[0] = tree_u[0];
    }
}

// ce_rows / ce_rows_wg (reads logits, targets, count; writes grad, row_loss)
@group(0) @binding(1) var<storage, read> logits: array<f32>;       // [rows, vocab]
@group(0) @binding(2) var<storage, read> targets: array<i32>;      // [rows]
@group(0) @binding(3) var<storage, read> count: array<u32>;        // [1]
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;   // [rows, vocab]
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>; // [rows], already divided by count

fn inv_count() -> f32 {
    return 1.0 / f32(max(count[0], 1u));
}

// Online softmax denominator: (m, s) -> (max(m, x), s * exp(m - max) + exp(x - max)).
fn online(m: ptr<function, f32>, s: ptr<function, f32>, x: f32) {
    if (x > *m) {
        *s = *s * exp(*m - x) + 1.0;
        *m = x;
    } else {
        *s += exp(x - *m);
    }
}

// Rows per workgroup of ce_rows and ce_rows4: one lavapipe subgroup, so that a few hundred masked rows still make
// enough workgroups for every core (149 rows: 3.9 ms in 3 workgroups of 64, 3.4 ms in 19 of 8).
const ROWS_WG: u32 = 8u;

// ce_rows: one invocation per row (short rows, or many rows on a CPU adapter). Two sweeps of the row,
// four elements per iteration: lavapipe stops a shader invocation after 65535 loop iterations in all.
// An ignored row runs the same code with weight 0 (no divergent branch, no extra loop).
@compute @workgroup_size(8)
fn ce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = (wid.x + wid.y * nwg.x) * ROWS_WG + lid.x;
    if (r >= p.rows) {
        return;
    }
    let base = r * p.vocab;
    let t = targets[r];
    let ok = counted(t);
    let tu = select(NONE, u32(t), ok);
    let inv = select(0.0, inv_count(), ok);
    var m = logits[base];
    var s = 0.0;
    let v4 = p.vocab & ~3u;
    for (var j = 0u; j < v4; j += 4u) {
        online(&m, &s, logits[base + j]);
        online(&m, &s, logits[base + j + 1u]);
        online(&m, &s, logits[base + j + 2u]);
        online(&m, &s, logits[base + j + 3u]);
    }
    for (var j = v4; j < p.vocab; j++) {
        online(&m, &s, logits[base + j]);
    }
    let lse = m + log(s);
    for (var j = 0u; j < v4; j += 4u) {
        grad[base + j] = (exp(logits[base + j] - lse) - select(0.0, 1.0, j == tu)) * inv;
        grad[base + j + 1u] = (exp(logits[base + j + 1u] - lse) - select(0.0, 1.0, j + 1u == tu)) * inv;
        grad[base + j + 2u] = (exp(logits[base + j + 2u] - lse) - select(0.0, 1.0, j + 2u == tu)) * inv;
        grad[base + j + 3u] = (exp(logits[base + j + 3u] - lse) - select(0.0, 1.0, j + 3u == tu)) * inv;
    }
    for (var j = v4; j < p.vocab; j++) {
        grad[base + j] = (exp(logits[base + j] - lse) - select(0.0, 1.0, j == tu)) * inv;
    }
    var l = 0.0;
    if (ok) {
        l = (lse - logits[base + tu]) * inv;
    }
    row_loss[r] = l;
}

// ce_rows4 (vocab % 4 == 0): ce_rows with the row read and its gradient written as whole vec4s, through vec4
// views of the same bindings; the same operations in the same order.
@group(0) @binding(1) var<storage, read> logitsv: array<vec4<f32>>;     // [rows, vocab / 4]
@group(0) @binding(4) var<storage, read_write> gradv: array<vec4<f32>>; // [rows, vocab / 4]

@compute @workgroup_size(8)
fn ce_rows4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = (wid.x + wid.y * nwg.x) * ROWS_WG + lid.x;
    if (r >= p.rows) {
        return;
    }
    let v4 = p.vocab / 4u;
    let base = r * v4;
    let t = targets[r];
    let ok = counted(t);
    let tu = select(NONE, u32(t), ok);
    let inv = select(0.0, inv_count(), ok);
    var m = logitsv[base].x;
    var s = 0.0;
    for (var j = 0u; j < v4; j++) {
        let x = logitsv[base + j];
        online(&m, &s, x.x);
        online(&m, &s, x.y);
        online(&m, &s, x.z);
        online(&m, &s, x.w);
    }
    let lse = m + log(s);
    for (var j = 0u; j < v4; j++) {
        let hit = vec4<u32>(4u * j) + vec4<u32>(0u, 1u, 2u, 3u) == vec4<u32>(tu);
        gradv[base + j] = (exp(logitsv[base + j] - lse) - select(vec4<f32>(0.0), vec4<f32>(1.0), hit)) * inv;
    }
    let tl = select(0u, tu, ok);
    row_loss[r] = select(0.0, (lse - logitsv[base + tl / 4u][tl % 4u]) * inv, ok);
}

// ce_rows_wg: one workgroup of 256 per row (long rows): strided online max/sum, then a tree of (max, sum) pairs.
@compute @workgroup_size(256)
fn ce_rows_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = wid.x + wid.y * nwg.x;
    let live = r < p.rows;   // uniform over the workgroup
    let tid = lid.x;
    let base = r * p.vocab;
    var m = -3.0e38;
    var s = 0.0;
    if (live) {
        for (var j = tid; j < p.vocab; j += WG) {
            let x = logits[base + j];
            if (x > m) {
                s = s * exp(m - x) + 1.0;
                m = x;
            } else {
                s += exp(x - m);
            }
        }
    }
    tree_m[tid] = m;
    tree_s[tid] = s;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (tid < h) {
            let m1 = tree_m[tid];
            let m2 = tree_m[tid + h];
            let mx = max(m1, m2);
            tree_s[tid] = tree_s[tid] * exp(m1 - mx) + tree_s[tid + h] * exp(m2 - mx);
            tree_m[tid] = mx;
        }
        workgroupBarrier();
    }
    if (!live) {
        return;
    }
    let lse = tree_m[0] + log(tree_s[0]);
    let t = targets[r];
    let ok = counted(t);
    let inv = select(0.0, inv_count(), ok);
    for (var j = tid; j < p.vocab; j += WG) {
        var g = 0.0;
        if (ok) {
            g = (exp(logits[base + j] - lse) - select(0.0, 1.0, j == u32(t))) * inv;
        }
        grad[base + j] = g;
    }
    if (tid == 0u) {
        var l = 0.0;
        if (ok) {
            l = (lse - logits[base + u32(t)]) * inv;
        }
        row_loss[r] = l;
    }
}

// ce_total (reads row_loss; writes loss)
@group(0) @binding(1) var<storage, read> row_loss_r: array<f32>;   // [rows]
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;   // [1]

// ce_total: loss[0] = sum of row_loss in a fixed order (each term already divided by count). One workgroup.
@compute @workgroup_size(256)
fn ce_total(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var acc = 0.0;
    for (var r = t; r < p.rows; r += WG) {
        acc += row_loss_r[r];
    }
    tree_m[t] = acc;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (t < h) {
            tree_m[t] += tree_m[t + h];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        loss[0] = tree_m[0];
    }
}
