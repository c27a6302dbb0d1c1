// matmul_core.wgsl: batched matrix product with optional transposes, a bias row, and the row sums of op(A).
//   C[bt, i, j] = sum_k op(A)[bt, i, k] * op(B)[bt, k, j] (+ bias[j])     i < m, j < n, k < k
//   sums[bt, i] = sum_k op(A)[bt, i, k]          (only with TRANS_A and p.row_sums != 0: the weight gradient
//                                                 of a linear layer dW = dYᵀ·X brings its bias gradient Σ_rows dY)
//   op(A) = A ([m, k]) or Aᵀ (A stored [k, m]) by TRANS_A;  op(B) = B ([k, n]) or Bᵀ (B stored [n, k]) by TRANS_B.
//   Every operand is a strided view: row stride ld (A[i, k] at i·lda + k, or k·lda + i when transposed), and
//   batch bt = (bo, bi) = (bt / inner, bt % inner) at offset bo·outer + bi·inner. A stride of 0 shares an
//   operand across batches; the two-level batch lets attention read heads in place ([batch, seq, heads, dim]).
//   Edges in m, n and k are masked.
//
// Two variants, chosen by MatmulTiling::for_adapter (src/kernels/matmul.rs), each a module that imports this
// library (no entry point) of what they share, so an epilogue added to store_row serves both:
//   matmul_tile (matmul.wgsl) the portable kernel: each invocation computes an 8 x 4 register tile, 8 x 8
//               invocations per workgroup (a 64 x 32 tile of C), loads are vec4 where aligned.
//   matmul_sg8  (matmul_sg.wgsl, compiled only on adapters with subgroups and 64-bit integers) one 8-lane
//               subgroup per 32 x 32 tile, A shared by subgroup broadcast.
// The importer declares A and B (bindings 1 and 2) and reads them through la(i) and lb(i), the vec4 at vec4
// index i, and a_at(e) and b_at(e), the element at index e: matmul.wgsl binds arrays of vec4<f32>,
// matmul_sg.wgsl arrays of vec2<u64> (the same bytes in half the load components; see its header).
// Loads: A and B are read as vec4s (the binding is rounded up to 16 bytes by the launcher); the vec4 paths
// read whole vec4s, the others read scalars:
//   VEC_A, !TRANS_A: op(A) rows contiguous in k, k % 4 == 0: one vec4 along k per row.
//   VEC_A, TRANS_A:  A's rows (k) contiguous in m, aligned: one vec4 along m per k (4 rows of op(A)), four
//                    steps of k transposed in registers (load_a_cols) - as fast as the untransposed path.
//   VEC_B:           k % 4 == 0 when TRANS_B (transposed in registers), n % 4 == 0 otherwise.
// Indices are clamped to the last valid row, column and k, so no load reads past a tensor; rows and columns
// past the edge only feed outputs that are not stored. k past the edge is zeroed in op(A) with select (every
// path of A that can have a partial step of k), so the clamped B values beside it are multiplied by 0 (B
// itself is not masked on its vec4 path: only an infinite B value at row k - 1 could turn a 0 into NaN).
// Stores: C is bound as vec4s too; VEC_C (n % 4 == 0, aligned) stores a row's 4 columns as one vec4, else one
// component at a time. The bias is loaded once per invocation, not per row: the store epilogue is most of the
// compile time of these unrolled kernels on llvmpipe (one per-column masked scatter per row took 5x longer to
// compile than the whole k loop).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = false;
override VEC_B: bool = false;
override VEC_C: bool = false;

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
    row_sums: u32, // write sums (TRANS_A only)
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> bias: array<f32>;         // [n] (a 1-element dummy without bias)
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>; // C: [batch, m, n], flat
@group(0) @binding(5) var<storage, read_write> sums: array<f32>;     // [batch, m] (a 1-element dummy without row_sums)

// Offset of batch bt of an operand with strides (outer, inner).
fn batch_offset(bt: u32, outer: u32, inner: u32) -> u32 {
    return (bt / p.inner) * outer + (bt % p.inner) * inner;
}

// op(A)[row, k0..k0+4] (row < m), zero where k >= p.k.
fn load_a(a_off: u32, row: u32, k0: u32) -> vec4<f32> {
    if (VEC_A) {
        return la((a_off + row * p.lda + k0) >> 2u);
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

// Rows row0..row0+4 of op(A) over k0..k0+4 (element j: row row0 + j) for TRANS_A && VEC_A: four vec4 loads
// along m (A[k0 + kk, row0..row0+4]), transposed in registers; zero where k >= p.k. row0 is a multiple of 4,
// clamped so the vec4 stays inside A's row (rows past m only feed outputs that are not stored).
fn load_a_cols(a_off: u32, row0: u32, k0: u32) -> array<vec4<f32>, 4> {
    let rb = min(row0, (p.m - 1u) & ~3u);
    var v: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < 4u; kk++) {
        let k = min(k0 + kk, p.k - 1u);
        v[kk] = select(vec4<f32>(), la((a_off + k * p.lda + rb) >> 2u), k0 + kk < p.k);
    }
    var r: array<vec4<f32>, 4>;
    for (var j = 0u; j < 4u; j++) {
        r[j] = vec4<f32>(v[0][j], v[1][j], v[2][j], v[3][j]);
    }
    return r;
}

// op(B)[k0 + kk, col0..col0+4] as element kk, zero where k >= p.k. In the VEC_B, !TRANS_B case the caller
// passes col0 <= n - 4; otherwise columns are clamped here.
fn load_b(b_off: u32, col0: u32, k0: u32) -> array<vec4<f32>, 4> {
    var r: array<vec4<f32>, 4>;
    if (VEC_B && !TRANS_B) {
        // rows past k are clamped, not zeroed: op(A) is zero there (see the header)
        for (var kk = 0u; kk < 4u; kk++) {
            r[kk] = lb((b_off + min(k0 + kk, p.k - 1u) * p.ldb + col0) >> 2u);
        }
        return r;
    }
    if (VEC_B && TRANS_B) {
        // k % 4 == 0 here, so k0..k0+4 is inside the row; one vec4 along k per column, transposed in registers.
        var v: array<vec4<f32>, 4>;
        for (var q = 0u; q < 4u; q++) {
            v[q] = lb((b_off + min(col0 + q, p.n - 1u) * p.ldb + k0) >> 2u);
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

// bias[col0..col0+4] (columns past n clamped), or zero without a bias: added to every row of a tile.
fn bias_vec(col0: u32) -> vec4<f32> {
    var v = vec4<f32>();
    if (p.has_bias != 0u) {
        for (var q = 0u; q < 4u; q++) {
            v[q] = bias[min(col0 + q, p.n - 1u)];
        }
    }
    return v;
}

// Writes C[row, col0..col0+4] = v, skipping the outside of C.
fn store_row(c_off: u32, row: u32, col0: u32, v: vec4<f32>) {
    if (row >= p.m) {
        return;
    }
    if (VEC_C) {
        if (col0 < p.n) {
            c[(c_off + row * p.ldc + col0) >> 2u] = v;
        }
        return;
    }
    for (var q = 0u; q < 4u; q++) {
        let col = col0 + q;
        if (col < p.n) {
            let e = c_off + row * p.ldc + col;
            c[e >> 2u][e & 3u] = v[q];
        }
    }
}

// sums[bt, row] = the components of s added up (a row's sum of op(A) over k), inside m.
fn store_sum(bt: u32, row: u32, s: vec4<f32>) {
    if (row < p.m) {
        sums[bt * p.m + row] = (s.x + s.y) + (s.z + s.w);
    }
}
