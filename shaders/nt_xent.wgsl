// nt_xent.wgsl: SimCLR's NT-Xent (InfoNCE) over z[N = 2n, dim] (rows already L2-normalised), and d loss / d z.
//   S_ij = z_i . z_j / t   (t = temperature)      pos(i) = (i + n) mod N      the diagonal j = i is excluded
//   lse_i = log sum_{j != i} exp(S_ij)           loss = (1/N) sum_i (lse_i - S_i,pos(i))
//   P_ij = exp(S_ij - lse_i) (j != i, P_ii = 0); S is symmetric and pos is an involution, so
//   dz_k = (1/(N t)) [ sum_j (P_kj + P_jk) z_j - 2 z_pos(k) ] = sum_j W_kj z_j,
//   W_kj = (P_kj + P_jk - 2 [j == pos(k)]) / (N t)
// Passes: ntx_logits (S = z zT / t, 4x4 register tiles; ntx_logits4 with vec4 loads and symmetry) -> ntx_rows (lse_i, loss_i) -> ntx_weights (S -> W in
// place) -> ntx_grad (dz = W z, 4 rows x 4 columns per invocation;
// ntx_grad4 with vec4 loads) -> ntx_total (fixed-order sum).
// S is materialised: N*N*4 bytes must fit a storage binding.

struct Params { rows: u32, dim: u32, half: u32, _pad0: u32, inv_t: f32, scale: f32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;

fn flat(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.x + wid.y * nwg.x) * 64u + lid.x;
}

fn positive(i: u32) -> u32 {
    return select(i + p.half, i - p.half, i >= p.half);
}

// ntx_logits (reads z; writes s)
@group(0) @binding(1) var<storage, read> z: array<f32>;               // [rows, dim]
@group(0) @binding(2) var<storage, read_write> s_out: array<f32>;     // [rows, rows]

// ntx_logits: S[i0..i0+4, j0..j0+4] = z_i . z_j * inv_t, one 4x4 tile per invocation.
@compute @workgroup_size(64)
fn ntx_logits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tiles = (p.rows + 3u) / 4u;
    let e = flat(wid, nwg, lid);
    if (e >= tiles * tiles) {
        return;
    }
    let i0 = (e / tiles) * 4u;
    let j0 = (e % tiles) * 4u;
    let last = p.rows - 1u;
    let a = vec4<u32>(min(i0, last), min(i0 + 1u, last), min(i0 + 2u, last), min(i0 + 3u, last)) * p.dim;
    let b = vec4<u32>(min(j0, last), min(j0 + 1u, last), min(j0 + 2u, last), min(j0 + 3u, last)) * p.dim;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var d = 0u; d < p.dim; d++) {
        let zb = vec4<f32>(z[b.x + d], z[b.y + d], z[b.z + d], z[b.w + d]);
        acc0 += z[a.x + d] * zb;
        acc1 += z[a.y + d] * zb;
        acc2 += z[a.z + d] * zb;
        acc3 += z[a.w + d] * zb;
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var k = 0u; k < 4u; k++) {
        let i = i0 + k;
        if (i < p.rows) {
            for (var l = 0u; l < 4u; l++) {
                if (j0 + l < p.rows) {
                    s_out[i * p.rows + j0 + l] = accs[k][l] * p.inv_t;
                }
            }
        }
    }
}

// ntx_logits4 (reads z as vec4; writes s): dim % 4 == 0.
@group(0) @binding(1) var<storage, read> z4: array<vec4<f32>>;       // [rows, dim/4]

// ntx_logits4: as ntx_logits with vec4 loads along dim; S is symmetric, so only tiles with j0 >= i0 are
// computed, each written to both halves.
@compute @workgroup_size(64)
fn ntx_logits4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tiles = (p.rows + 3u) / 4u;
    let e = flat(wid, nwg, lid);
    if (e >= tiles * tiles) {
        return;
    }
    let ti = e / tiles;
    let tj = e % tiles;
    if (tj < ti) {
        return;
    }
    let i0 = ti * 4u;
    let j0 = tj * 4u;
    let last = p.rows - 1u;
    let d4 = p.dim / 4u;
    let a = vec4<u32>(min(i0, last), min(i0 + 1u, last), min(i0 + 2u, last), min(i0 + 3u, last)) * d4;
    let b = vec4<u32>(min(j0, last), min(j0 + 1u, last), min(j0 + 2u, last), min(j0 + 3u, last)) * d4;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var d = 0u; d < d4; d++) {
        let b0 = z4[b.x + d];
        let b1 = z4[b.y + d];
        let b2 = z4[b.z + d];
        let b3 = z4[b.w + d];
        let a0 = z4[a.x + d];
        let a1 = z4[a.y + d];
        let a2 = z4[a.z + d];
        let a3 = z4[a.w + d];
        acc0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
        acc1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
        acc2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
        acc3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var k = 0u; k < 4u; k++) {
        let i = i0 + k;
        if (i < p.rows) {
            for (var l = 0u; l < 4u; l++) {
                let j = j0 + l;
                if (j < p.rows) {
                    let v = accs[k][l] * p.inv_t;
                    s_out[i * p.rows + j] = v;
                    s_out[j * p.rows + i] = v;
                }
            }
        }
    }
}

// ntx_rows (reads s; writes lse, row_loss)
@group(0) @binding(1) var<storage, read> s_in: array<f32>;            // [rows, rows]
@group(0) @binding(2) var<storage, read_write> lse_out: array<f32>;   // [rows]
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;  // [rows], loss_i / N

// ntx_rows: lse_i = log sum_{j != i} exp(S_ij) (online max), row_loss_i = (lse_i - S_i,pos(i)) / N.
@compute @workgroup_size(64)
fn ntx_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat(wid, nwg, lid);
    if (i >= p.rows) {
        return;
    }
    let base = i * p.rows;
    let pos = positive(i);
    var m = s_in[base + pos];
    var s = 0.0;
    for (var j = 0u; j < p.rows; j++) {
        let x = s_in[base + j];
        if (j == i) {
            continue;
        }
        if (x > m) {
            s = s * exp(m - x) + 1.0;
            m = x;
        } else {
            s += exp(x - m);
        }
    }
    let lse = m + log(s);
    lse_out[i] = lse;
    row_loss[i] = (lse - s_in[base + pos]) / f32(p.rows);
}

// ntx_weights (reads lse; writes w, the S buffer overwritten in place)
@group(0) @binding(1) var<storage, read> lse: array<f32>;             // [rows]
@group(0) @binding(2) var<storage, read_write> w: array<f32>;         // [rows, rows]: S in, W out

// ntx_weights: W_ij = (exp(S_ij - lse_i) + exp(S_ij - lse_j) - 2 [j == pos(i)]) * scale, W_ii = 0.
@compute @workgroup_size(64)
fn ntx_weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = flat(wid, nwg, lid);
    if (e >= p.rows * p.rows) {
        return;
    }
    let i = e / p.rows;
    let j = e - i * p.rows;
    var v = 0.0;
    if (i != j) {
        let sij = w[e];
        v = exp(sij - lse[i]) + exp(sij - lse[j]) - select(0.0, 2.0, j == positive(i));
    }
    w[e] = v * p.scale;
}

// ntx_grad (reads w, z; writes dz)
@group(0) @binding(1) var<storage, read> w_in: array<f32>;            // [rows, rows]
@group(0) @binding(2) var<storage, read> z_g: array<f32>;             // [rows, dim]
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;        // [rows, dim]

// ntx_grad: dz[i0..i0+4, d0..d0+4] = sum_j W[i, j] z[j, d], one 4x4 tile per invocation.
@compute @workgroup_size(64)
fn ntx_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row_tiles = (p.rows + 3u) / 4u;
    let col_tiles = (p.dim + 3u) / 4u;
    let e = flat(wid, nwg, lid);
    if (e >= row_tiles * col_tiles) {
        return;
    }
    let i0 = (e / col_tiles) * 4u;
    let d0 = (e % col_tiles) * 4u;
    let last_row = p.rows - 1u;
    let last_col = p.dim - 1u;
    let a = vec4<u32>(min(i0, last_row), min(i0 + 1u, last_row), min(i0 + 2u, last_row), min(i0 + 3u, last_row)) * p.rows;
    let c = vec4<u32>(d0, min(d0 + 1u, last_col), min(d0 + 2u, last_col), min(d0 + 3u, last_col));
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var j = 0u; j < p.rows; j++) {
        let row = j * p.dim;
        let zj = vec4<f32>(z_g[row + c.x], z_g[row + c.y], z_g[row + c.z], z_g[row + c.w]);
        acc0 += w_in[a.x + j] * zj;
        acc1 += w_in[a.y + j] * zj;
        acc2 += w_in[a.z + j] * zj;
        acc3 += w_in[a.w + j] * zj;
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var k = 0u; k < 4u; k++) {
        let i = i0 + k;
        if (i < p.rows) {
            for (var l = 0u; l < 4u; l++) {
                if (d0 + l < p.dim) {
                    dz[i * p.dim + d0 + l] = accs[k][l];
                }
            }
        }
    }
}

// ntx_grad4 (reads w, z as vec4; writes dz as vec4): rows % 4 == 0 and dim % 4 == 0.
@group(0) @binding(1) var<storage, read> w4: array<vec4<f32>>;        // [rows, rows/4]
@group(0) @binding(2) var<storage, read> z4_g: array<vec4<f32>>;      // [rows, dim/4]
@group(0) @binding(3) var<storage, read_write> dz4: array<vec4<f32>>; // [rows, dim/4]

// ntx_grad4: as ntx_grad with vec4 loads: four j per iteration, W[i, j..j+4] and z[j.., d0..d0+4].
@compute @workgroup_size(64)
fn ntx_grad4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r4 = p.rows / 4u;
    let d4 = p.dim / 4u;
    let e = flat(wid, nwg, lid);
    if (e >= r4 * d4) {
        return;
    }
    let i0 = (e / d4) * 4u;
    let c = e % d4;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var jb = 0u; jb < r4; jb++) {
        let j = jb * 4u;
        let z0 = z4_g[j * d4 + c];
        let z1 = z4_g[(j + 1u) * d4 + c];
        let z2 = z4_g[(j + 2u) * d4 + c];
        let z3 = z4_g[(j + 3u) * d4 + c];
        let w0 = w4[i0 * r4 + jb];
        let w1 = w4[(i0 + 1u) * r4 + jb];
        let w2 = w4[(i0 + 2u) * r4 + jb];
        let w3 = w4[(i0 + 3u) * r4 + jb];
        acc0 += w0.x * z0 + w0.y * z1 + w0.z * z2 + w0.w * z3;
        acc1 += w1.x * z0 + w1.y * z1 + w1.z * z2 + w1.w * z3;
        acc2 += w2.x * z0 + w2.y * z1 + w2.z * z2 + w2.w * z3;
        acc3 += w3.x * z0 + w3.y * z1 + w3.z * z2 + w3.w * z3;
    }
    dz4[i0 * d4 + c] = acc0;
    dz4[(i0 + 1u) * d4 + c] = acc1;
    dz4[(i0 + 2u) * d4 + c] = acc2;
    dz4[(i0 + 3u) * d4 + c] = acc3;
}

// ntx_total (reads row_loss; writes loss)
@group(0) @binding(1) var<storage, read> row_loss_in: array<f32>;    // [rows]
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;     // [1]
var<workgroup> tree: array<f32, 64>;

// ntx_total: loss[0] = sum of row_loss in a fixed order. One workgroup.
@compute @workgroup_size(64)
fn ntx_total(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var acc = 0.0;
    for (var r = t; r < p.rows; r += 64u) {
        acc += row_loss_in[r];
    }
    tree[t] = acc;
    workgroupBarrier();
    for (var h = 32u; h > 0u; h >>= 1u) {
        if (t < h) {
            tree[t] += tree[t + h];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        loss[0] = tree[0];
    }
}
