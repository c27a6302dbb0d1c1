// matmul.wgsl: batched matrix product with optional transposes and a bias row.
//   C[bt, i, j] = sum_k op(A)[bt, i, k] * op(B)[bt, k, j] (+ bias[j])     i < m, j < n, k < k
//   op(A) = A ([m, k]) or Aᵀ (A stored [k, m]) by TRANS_A;  op(B) = B ([k, n]) or Bᵀ (B stored [n, k]) by TRANS_B.
//   Every operand is a strided view: row stride ld (A[i, k] at i·lda + k, or k·lda + i when transposed), and
//   batch bt = (bo, bi) = (bt / inner, bt % inner) at offset bo·outer + bi·inner. A stride of 0 shares an
//   operand across batches; the two-level batch lets attention read heads in place ([batch, seq, heads, dim]).
//   Edges in m, n and k are masked.
//
// Why two entry points:
//   matmul_sg8  one subgroup of 8 lanes per workgroup computes a 32 x 32 tile of C. Lane l owns columns
//               4l..4l+3 (one vec4) of all 32 rows. Each 4-wide step of k, lane l loads the vec4 op(A)[row, k..k+4]
//               of rows l, l+8, l+16, l+24 and op(B)[k..k+4, its 4 columns]; subgroupBroadcast hands every lane the
//               A values of all 32 rows. On llvmpipe every storage load is a loop over the 8 lanes, so the cost
//               is the number of load instructions: this layout makes each loaded float feed 16 FMAs and uses
//               no workgroup memory and no barrier (measured: 8 rows per tile 26, 16 rows 31-34, 32 rows
//               39-46 GFLOP/s at 1024^3 on a quiet machine; see BENCHMARKS.md for the losers). Chosen when the subgroup is
//               exactly 8 lanes wide.
//   matmul_tile the portable fallback (no subgroups): each invocation computes an 8 x 4 register tile, 8 x 8
//               invocations per workgroup (a 64 x 32 tile of C), loads are vec4 where aligned.
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

// C tile of 32 x 32 at (tile_m, tile_n) of batch bt, one subgroup of exactly 8 lanes (see the header).
@compute @workgroup_size(8)
fn matmul_sg8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(subgroup_invocation_id) lane: u32) {
    let t = wid.x + wid.y * nwg.x;
    let per_batch = p.tiles_m * p.tiles_n;
    if (t >= per_batch * p.batch) {
        return; // whole subgroup leaves together
    }
    let bt = t / per_batch;
    // tiles run down a column strip of C first: consecutive workgroups share the same strip of B
    // (measured 1.4-2.6x faster at 1024^3 than row-major tile order, which streams all of B per tile row)
    let row0 = ((t % per_batch) % p.tiles_m) * 32u;
    let col0 = ((t % per_batch) / p.tiles_m) * 32u + 4u * lane;
    let a_off = batch_offset(bt, p.a_outer, p.a_inner);
    let b_off = batch_offset(bt, p.b_outer, p.b_inner);
    let last = p.m - 1u;
    let r0 = min(row0 + lane, last);
    let r1 = min(row0 + 8u + lane, last);
    let r2 = min(row0 + 16u + lane, last);
    let r3 = min(row0 + 24u + lane, last);
    let cb = b_col(col0);
    var acc: array<vec4<f32>, 32>;
    for (var k0 = 0u; k0 < p.k; k0 += 4u) {
        let a0 = load_a(a_off, r0, k0);
        let a1 = load_a(a_off, r1, k0);
        let a2 = load_a(a_off, r2, k0);
        let a3 = load_a(a_off, r3, k0);
        let bf = load_b(b_off, cb, k0);
        acc[0] = fma_row(acc[0], subgroupBroadcast(a0, 0u), bf);
        acc[1] = fma_row(acc[1], subgroupBroadcast(a0, 1u), bf);
        acc[2] = fma_row(acc[2], subgroupBroadcast(a0, 2u), bf);
        acc[3] = fma_row(acc[3], subgroupBroadcast(a0, 3u), bf);
        acc[4] = fma_row(acc[4], subgroupBroadcast(a0, 4u), bf);
        acc[5] = fma_row(acc[5], subgroupBroadcast(a0, 5u), bf);
        acc[6] = fma_row(acc[6], subgroupBroadcast(a0, 6u), bf);
        acc[7] = fma_row(acc[7], subgroupBroadcast(a0, 7u), bf);
        acc[8] = fma_row(acc[8], subgroupBroadcast(a1, 0u), bf);
        acc[9] = fma_row(acc[9], subgroupBroadcast(a1, 1u), bf);
        acc[10] = fma_row(acc[10], subgroupBroadcast(a1, 2u), bf);
        acc[11] = fma_row(acc[11], subgroupBroadcast(a1, 3u), bf);
        acc[12] = fma_row(acc[12], subgroupBroadcast(a1, 4u), bf);
        acc[13] = fma_row(acc[13], subgroupBroadcast(a1, 5u), bf);
        acc[14] = fma_row(acc[14], subgroupBroadcast(a1, 6u), bf);
        acc[15] = fma_row(acc[15], subgroupBroadcast(a1, 7u), bf);
        acc[16] = fma_row(acc[16], subgroupBroadcast(a2, 0u), bf);
        acc[17] = fma_row(acc[17], subgroupBroadcast(a2, 1u), bf);
        acc[18] = fma_row(acc[18], subgroupBroadcast(a2, 2u), bf);
        acc[19] = fma_row(acc[19], subgroupBroadcast(a2, 3u), bf);
        acc[20] = fma_row(acc[20], subgroupBroadcast(a2, 4u), bf);
        acc[21] = fma_row(acc[21], subgroupBroadcast(a2, 5u), bf);
        acc[22] = fma_row(acc[22], subgroupBroadcast(a2, 6u), bf);
        acc[23] = fma_row(acc[23], subgroupBroadcast(a2, 7u), bf);
        acc[24] = fma_row(acc[24], subgroupBroadcast(a3, 0u), bf);
        acc[25] = fma_row(acc[25], subgroupBroadcast(a3, 1u), bf);
        acc[26] = fma_row(acc[26], subgroupBroadcast(a3, 2u), bf);
        acc[27] = fma_row(acc[27], subgroupBroadcast(a3, 3u), bf);
        acc[28] = fma_row(acc[28], subgroupBroadcast(a3, 4u), bf);
        acc[29] = fma_row(acc[29], subgroupBroadcast(a3, 5u), bf);
        acc[30] = fma_row(acc[30], subgroupBroadcast(a3, 6u), bf);
        acc[31] = fma_row(acc[31], subgroupBroadcast(a3, 7u), bf);
    }
    let c_off = batch_offset(bt, p.c_outer, p.c_inner);
    // constant indices keep acc in registers (a loop over r would index it dynamically)
    store_row(c_off, row0 + 0u, col0, acc[0]);
    store_row(c_off, row0 + 1u, col0, acc[1]);
    store_row(c_off, row0 + 2u, col0, acc[2]);
    store_row(c_off, row0 + 3u, col0, acc[3]);
    store_row(c_off, row0 + 4u, col0, acc[4]);
    store_row(c_off, row0 + 5u, col0, acc[5]);
    store_row(c_off, row0 + 6u, col0, acc[6]);
    store_row(c_off, row0 + 7u, col0, acc[7]);
    store_row(c_off, row0 + 8u, col0, acc[8]);
    store_row(c_off, row0 + 9u, col0, acc[9]);
    store_row(c_off, row0 + 10u, col0, acc[10]);
    store_row(c_off, row0 + 11u, col0, acc[11]);
    store_row(c_off, row0 + 12u, col0, acc[12]);
    store_row(c_off, row0 + 13u, col0, acc[13]);
    store_row(c_off, row0 + 14u, col0, acc[14]);
    store_row(c_off, row0 + 15u, col0, acc[15]);
    store_row(c_off, row0 + 16u, col0, acc[16]);
    store_row(c_off, row0 + 17u, col0, acc[17]);
    store_row(c_off, row0 + 18u, col0, acc[18]);
    store_row(c_off, row0 + 19u, col0, acc[19]);
    store_row(c_off, row0 + 20u, col0, acc[20]);
    store_row(c_off, row0 + 21u, col0, acc[21]);
    store_row(c_off, row0 + 22u, col0, acc[22]);
    store_row(c_off, row0 + 23u, col0, acc[23]);
    store_row(c_off, row0 + 24u, col0, acc[24]);
    store_row(c_off, row0 + 25u, col0, acc[25]);
    store_row(c_off, row0 + 26u, col0, acc[26]);
    store_row(c_off, row0 + 27u, col0, acc[27]);
    store_row(c_off, row0 + 28u, col0, acc[28]);
    store_row(c_off, row0 + 29u, col0, acc[29]);
    store_row(c_off, row0 + 30u, col0, acc[30]);
    store_row(c_off, row0 + 31u, col0, acc[31]);
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
