// matmul.wgsl: batched matrix product with optional transposes and a bias row.
//   C[bt, i, j] = sum_k op(A)[bt, i, k] * op(B)[bt, k, j] (+ bias[j])     i < m, j < n, k < k
//   op(A) = A ([m, k]) or Aᵀ (A stored [k, m]) by TRANS_A;  op(B) = B ([k, n]) or Bᵀ (B stored [n, k]) by TRANS_B.
//   Every operand is a strided view: row stride ld (A[i, k] at i·lda + k, or k·lda + i when transposed), and
//   batch bt = (bo, bi) = (bt / inner, bt % inner) at offset bo·outer + bi·inner. A stride of 0 shares an
//   operand across batches; the two-level batch lets attention read heads in place ([batch, seq, heads, dim]).
//   Edges in m, n and k are masked.
//
// Two variants, chosen by MatmulTiling::for_adapter (src/kernels/matmul.rs):
//   matmul_tile (this file) the portable kernel: each invocation computes an 8 x 4 register tile, 8 x 8
//               invocations per workgroup (a 64 x 32 tile of C), loads are vec4 where aligned.
//   matmul_sg8  (matmul_sg.wgsl, compiled only on adapters with subgroups) one 8-lane subgroup per 32 x 32
//               tile, A shared by subgroup broadcast; it imports this file's bindings and helpers, so an
//               epilogue added to store_row serves both.
// Loads: A and B are bound as arrays of vec4 (the binding is rounded up to 16 bytes by the launcher); the vec4
// paths (VEC_A: op(A) rows contiguous in k with k % 4 == 0; VEC_B: k % 4 == 0 when TRANS_B, n % 4 == 0 otherwise)
// read whole vec4s, the others read scalars `x[e >> 2][e & 3]`. Indices are clamped to the last valid row,
// column and k, so no load reads past a tensor; rows and columns past the edge only feed outputs that are not
// stored, and k past the edge is zeroed with select (never multiplied, so no NaN leaks in).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = false;
override VEC_B: bool = false;
override K_ALIGNED: bool = false; // k % 4 == 0: no partial step of k, loads need no k mask

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,    // outer · inner
    inner: u32,    // batches of the inner level
    lda: u32,      // row strides (elements) of A, B and C as stored
    ldb: u32,
    ldc: u32,
    a_outer: u32,  // A's offset per outer batch; 0 = shared
    a_inner: u32,  // A's offset per inner batch
    b_outer: u32,
    b_inner: u32,
    c_outer: u32,
    c_inner: u32,
    has_bias: u32,
    tiles_n: u32,  // tiles of C along n
    tiles_m: u32,  // tiles of C along m
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;      // A: [batch?, m, k] or [batch?, k, m], flat
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;      // B: [batch?, k, n] or [batch?, n, k], flat
@group(0) @binding(3) var<storage, read> bias: array<f32>;         // [n] (a 1-element dummy without bias)
@group(0) @binding(4) var<storage, read_write> c: array<f32>;      // C: [batch, m, n]

// Offset of batch bt of an operand with strides (outer, inner).
fn batch_offset(bt: u32, outer: u32, inner: u32) -> u32 {
    return (bt / p.inner) * outer + (bt % p.inner) * inner;
}

fn a_at(e: u32) -> f32 {
    return a[e >> 2u][e & 3u];
}

fn b_at(e: u32) -> f32 {
    return b[e >> 2u][e & 3u];
}

// op(A)[row, k0..k0+4] (row < m), zero where k >= p.k.
fn load_a(a_off: u32, row: u32, k0: u32) -> vec4<f32> {
    if (VEC_A) {
        return a[(a_off + row * p.lda + k0) >> 2u];
    }
    var v = vec4<f32>();
    for (var kk = 0u; kk < 4u; kk++) {
        let k = min(k0 + kk, p.k - 1u);
        var e = a_off + row * p.lda + k;
        if (TRANS_A) {
            e = a_off + k * p.lda + row;
        }
        v[kk] = select(0.0, a_at(e), k0 + kk < p.k);
    }
    return v;
}

// op(B)[k0 + kk, col0..col0+4] as element kk, zero where k >= p.k. In the VEC_B, !TRANS_B case the caller
// passes col0 <= n - 4; otherwise columns are clamped here.
fn load_b(b_off: u32, col0: u32, k0: u32) -> array<vec4<f32>, 4> {
    var r: array<vec4<f32>, 4>;
    if (VEC_B && !TRANS_B) {
        for (var kk = 0u; kk < 4u; kk++) {
            if (K_ALIGNED) {
                r[kk] = b[(b_off + (k0 + kk) * p.ldb + col0) >> 2u];
            } else {
                let k = min(k0 + kk, p.k - 1u);
                r[kk] = select(vec4<f32>(), b[(b_off + k * p.ldb + col0) >> 2u], k0 + kk < p.k);
            }
        }
        return r;
    }
    if (VEC_B && TRANS_B) {
        // k % 4 == 0 here, so k0..k0+4 is inside the row; one vec4 along k per column, transposed in registers.
        var v: array<vec4<f32>, 4>;
        for (var q = 0u; q < 4u; q++) {
            v[q] = b[(b_off + min(col0 + q, p.n - 1u) * p.ldb + k0) >> 2u];
        }
        for (var kk = 0u; kk < 4u; kk++) {
            r[kk] = vec4<f32>(v[0][kk], v[1][kk], v[2][kk], v[3][kk]);
        }
        return r;
    }
    for (var kk = 0u; kk < 4u; kk++) {
        let k = min(k0 + kk, p.k - 1u);
        for (var q = 0u; q < 4u; q++) {
            let col = min(col0 + q, p.n - 1u);
            var e = b_off + k * p.ldb + col;
            if (TRANS_B) {
                e = b_off + col * p.ldb + k;
            }
            r[kk][q] = select(0.0, b_at(e), k0 + kk < p.k);
        }
    }
    return r;
}

// acc + a.x * bf[0] + a.y * bf[1] + a.z * bf[2] + a.w * bf[3]: one row of C over four steps of k.
fn fma_row(acc: vec4<f32>, av: vec4<f32>, bf: array<vec4<f32>, 4>) -> vec4<f32> {
    return fma(vec4(av.w), bf[3], fma(vec4(av.z), bf[2], fma(vec4(av.y), bf[1], fma(vec4(av.x), bf[0], acc))));
}

// The column a lane reads B at: clamped so a vec4 row read stays inside the row.
fn b_col(col0: u32) -> u32 {
    if (VEC_B && !TRANS_B) {
        return min(col0, p.n - 4u);
    }
    return col0;
}

// Writes rows row0.. of a register tile (4 columns from col0), skipping the outside of C, adding the bias.
fn store_row(c_off: u32, row: u32, col0: u32, v: vec4<f32>) {
    if (row >= p.m) {
        return;
    }
    for (var q = 0u; q < 4u; q++) {
        let col = col0 + q;
        if (col < p.n) {
            var x = v[q];
            if (p.has_bias != 0u) {
                x += bias[col];
            }
            c[c_off + row * p.ldc + col] = x;
        }
    }
}

// C tile of 64 x 32 per workgroup of 8 x 8 invocations; invocation (x, y) owns rows 8y..8y+7 and
// columns 4x..4x+3 of the tile, all in registers.
@compute @workgroup_size(8, 8)
fn matmul_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.x + wid.y * nwg.x;
    let per_batch = p.tiles_m * p.tiles_n;
    if (t >= per_batch * p.batch) {
        return;
    }
    let bt = t / per_batch;
    let row0 = ((t % per_batch) % p.tiles_m) * 64u + 8u * lid.y;
    let col0 = ((t % per_batch) / p.tiles_m) * 32u + 4u * lid.x;
    let a_off = batch_offset(bt, p.a_outer, p.a_inner);
    let b_off = batch_offset(bt, p.b_outer, p.b_inner);
    let last = p.m - 1u;
    let cb = b_col(col0);
    var acc: array<vec4<f32>, 8>;
    for (var k0 = 0u; k0 < p.k; k0 += 4u) {
        let bf = load_b(b_off, cb, k0);
        for (var r = 0u; r < 8u; r++) {
            acc[r] = fma_row(acc[r], load_a(a_off, min(row0 + r, last), k0), bf);
        }
    }
    let c_off = batch_offset(bt, p.c_outer, p.c_inner);
    for (var r = 0u; r < 8u; r++) {
        store_row(c_off, row0 + r, col0, acc[r]);
    }
}
