// matmul_sg.wgsl: the subgroup variant of matmul.wgsl (same math, bindings and Params; matmul_core.wgsl).
//   C[bt, i, j] = sum_k op(A)[bt, i, k] * op(B)[bt, k, j] (+ bias[j]);  sums[bt, i] = sum_k op(A)[bt, i, k]
// requires: subgroups, shader-int64
// imports: matmul_core
//
// matmul_sg8: one subgroup of 8 lanes per workgroup computes a 32 x 32 tile of C. Lane l owns columns
// 4l..4l+3 (one vec4) of all 32 rows. Each 4-wide step of k, every lane loads four vec4s of op(A) (xa[0..4])
// and op(B)[k..k+4, its 4 columns]; subgroupBroadcast hands every lane the A values of all 32 rows. Which row
// lane s's xa[i] holds: row 8i + s untransposed (one vec4 along k per row), row 4s + i with TRANS_A && VEC_A
// (one vec4 along m per step of k, transposed in registers by load_a_cols); accumulator 8i + s holds that row
// either way, and tile_row maps it back when storing. On llvmpipe every storage load is a loop over the 8
// lanes, so the cost is the number of load instructions: this layout makes each loaded float feed 16 FMAs and
// uses no workgroup memory and no barrier (measured: 8 rows per tile 26, 16 rows 31-34, 32 rows 39-46
// GFLOP/s at 1024^3 on a quiet machine; see BENCHMARKS.md for the losers). Chosen when the subgroup is
// exactly 8 lanes wide and the adapter has 64-bit integers (the launcher checks).

// A and B are bound as arrays of vec2<u64> and each vec4<f32> is read as two 64-bit words: llvmpipe loads
// storage one lane and one component at a time, so 2 components cost less than 4 for the same bytes (measured
// on lavapipe: the bench's products 5-15% faster, the three training steps' kernel time 11-18% less;
// BENCHMARKS.md). A single element is read as the one word that holds it.
// Every index stays a vec4 index, so alignment and masking are matmul_core's.
@group(0) @binding(1) var<storage, read> a: array<vec2<u64>>; // A: [batch?, m, k] or [batch?, k, m], flat
@group(0) @binding(2) var<storage, read> b: array<vec2<u64>>; // B: [batch?, k, n] or [batch?, n, k], flat

// The four f32s in two 64-bit words (little-endian: the low word first).
fn unpack(x: vec2<u64>) -> vec4<f32> {
    let h = x >> vec2<u32>(32u);
    return bitcast<vec4<f32>>(vec4<u32>(u32(x.x & 0xfffffffflu), u32(h.x), u32(x.y & 0xfffffffflu), u32(h.y)));
}

// The f32 at element e of a word pair: the low or the high half of word (e / 2) % 2.
fn half_of(w: u64, e: u32) -> f32 {
    return bitcast<f32>(u32((w >> (32u * (e & 1u))) & 0xfffffffflu));
}

// A's (B's) vec4 at vec4 index i, and element e (one 64-bit word loaded, not two).
fn la(i: u32) -> vec4<f32> {
    return unpack(a[i]);
}

fn lb(i: u32) -> vec4<f32> {
    return unpack(b[i]);
}

fn a_at(e: u32) -> f32 {
    return half_of(a[e >> 2u][(e >> 1u) & 1u], e);
}

fn b_at(e: u32) -> f32 {
    return half_of(b[e >> 2u][(e >> 1u) & 1u], e);
}

// The row of the tile that accumulator 8i + s holds (see the header).
fn tile_row(i: u32, s: u32) -> u32 {
    if (TRANS_A && VEC_A) {
        return 4u * s + i;
    }
    return 8u * i + s;
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
    let tile_col = (t % per_batch) / p.tiles_m;
    let row0 = ((t % per_batch) % p.tiles_m) * 32u;
    let col0 = tile_col * 32u + 4u * lane;
    let a_off = batch_offset(bt, p.a_outer, p.a_inner);
    let b_off = batch_offset(bt, p.b_outer, p.b_inner);
    let last = p.m - 1u;
    let cb = b_col(col0);
    var acc: array<vec4<f32>, 32>;
    var rs: array<vec4<f32>, 4>; // row sums of op(A) of this lane's rows, TRANS_A only
    for (var k0 = 0u; k0 < p.k; k0 += 4u) {
        var xa: array<vec4<f32>, 4>;
        if (TRANS_A && VEC_A) {
            xa = load_a_cols(a_off, row0 + 4u * lane, k0);
        } else {
            for (var i = 0u; i < 4u; i++) {
                xa[i] = load_a(a_off, min(row0 + 8u * i + lane, last), k0);
            }
        }
        if (TRANS_A) {
            for (var i = 0u; i < 4u; i++) {
                rs[i] += xa[i];
            }
        }
        let bf = load_b(b_off, cb, k0);
        acc[0] = fma_row(acc[0], subgroupBroadcast(xa[0], 0u), bf);
        acc[1] = fma_row(acc[1], subgroupBroadcast(xa[0], 1u), bf);
        acc[2] = fma_row(acc[2], subgroupBroadcast(xa[0], 2u), bf);
        acc[3] = fma_row(acc[3], subgroupBroadcast(xa[0], 3u), bf);
        acc[4] = fma_row(acc[4], subgroupBroadcast(xa[0], 4u), bf);
        acc[5] = fma_row(acc[5], subgroupBroadcast(xa[0], 5u), bf);
        acc[6] = fma_row(acc[6], subgroupBroadcast(xa[0], 6u), bf);
        acc[7] = fma_row(acc[7], subgroupBroadcast(xa[0], 7u), bf);
        acc[8] = fma_row(acc[8], subgroupBroadcast(xa[1], 0u), bf);
        acc[9] = fma_row(acc[9], subgroupBroadcast(xa[1], 1u), bf);
        acc[10] = fma_row(acc[10], subgroupBroadcast(xa[1], 2u), bf);
        acc[11] = fma_row(acc[11], subgroupBroadcast(xa[1], 3u), bf);
        acc[12] = fma_row(acc[12], subgroupBroadcast(xa[1], 4u), bf);
        acc[13] = fma_row(acc[13], subgroupBroadcast(xa[1], 5u), bf);
        acc[14] = fma_row(acc[14], subgroupBroadcast(xa[1], 6u), bf);
        acc[15] = fma_row(acc[15], subgroupBroadcast(xa[1], 7u), bf);
        acc[16] = fma_row(acc[16], subgroupBroadcast(xa[2], 0u), bf);
        acc[17] = fma_row(acc[17], subgroupBroadcast(xa[2], 1u), bf);
        acc[18] = fma_row(acc[18], subgroupBroadcast(xa[2], 2u), bf);
        acc[19] = fma_row(acc[19], subgroupBroadcast(xa[2], 3u), bf);
        acc[20] = fma_row(acc[20], subgroupBroadcast(xa[2], 4u), bf);
        acc[21] = fma_row(acc[21], subgroupBroadcast(xa[2], 5u), bf);
        acc[22] = fma_row(acc[22], subgroupBroadcast(xa[2], 6u), bf);
        acc[23] = fma_row(acc[23], subgroupBroadcast(xa[2], 7u), bf);
        acc[24] = fma_row(acc[24], subgroupBroadcast(xa[3], 0u), bf);
        acc[25] = fma_row(acc[25], subgroupBroadcast(xa[3], 1u), bf);
        acc[26] = fma_row(acc[26], subgroupBroadcast(xa[3], 2u), bf);
        acc[27] = fma_row(acc[27], subgroupBroadcast(xa[3], 3u), bf);
        acc[28] = fma_row(acc[28], subgroupBroadcast(xa[3], 4u), bf);
        acc[29] = fma_row(acc[29], subgroupBroadcast(xa[3], 5u), bf);
        acc[30] = fma_row(acc[30], subgroupBroadcast(xa[3], 6u), bf);
        acc[31] = fma_row(acc[31], subgroupBroadcast(xa[3], 7u), bf);
    }
    let c_off = batch_offset(bt, p.c_outer, p.c_inner);
    let bv = bias_vec(col0);
    // constant indices keep acc in registers (a loop over r would index it dynamically)
    store_row(c_off, row0 + tile_row(0u, 0u), col0, acc[0] + bv);
    store_row(c_off, row0 + tile_row(0u, 1u), col0, acc[1] + bv);
    store_row(c_off, row0 + tile_row(0u, 2u), col0, acc[2] + bv);
    store_row(c_off, row0 + tile_row(0u, 3u), col0, acc[3] + bv);
    store_row(c_off, row0 + tile_row(0u, 4u), col0, acc[4] + bv);
    store_row(c_off, row0 + tile_row(0u, 5u), col0, acc[5] + bv);
    store_row(c_off, row0 + tile_row(0u, 6u), col0, acc[6] + bv);
    store_row(c_off, row0 + tile_row(0u, 7u), col0, acc[7] + bv);
    store_row(c_off, row0 + tile_row(1u, 0u), col0, acc[8] + bv);
    store_row(c_off, row0 + tile_row(1u, 1u), col0, acc[9] + bv);
    store_row(c_off, row0 + tile_row(1u, 2u), col0, acc[10] + bv);
    store_row(c_off, row0 + tile_row(1u, 3u), col0, acc[11] + bv);
    store_row(c_off, row0 + tile_row(1u, 4u), col0, acc[12] + bv);
    store_row(c_off, row0 + tile_row(1u, 5u), col0, acc[13] + bv);
    store_row(c_off, row0 + tile_row(1u, 6u), col0, acc[14] + bv);
    store_row(c_off, row0 + tile_row(1u, 7u), col0, acc[15] + bv);
    store_row(c_off, row0 + tile_row(2u, 0u), col0, acc[16] + bv);
    store_row(c_off, row0 + tile_row(2u, 1u), col0, acc[17] + bv);
    store_row(c_off, row0 + tile_row(2u, 2u), col0, acc[18] + bv);
    store_row(c_off, row0 + tile_row(2u, 3u), col0, acc[19] + bv);
    store_row(c_off, row0 + tile_row(2u, 4u), col0, acc[20] + bv);
    store_row(c_off, row0 + tile_row(2u, 5u), col0, acc[21] + bv);
    store_row(c_off, row0 + tile_row(2u, 6u), col0, acc[22] + bv);
    store_row(c_off, row0 + tile_row(2u, 7u), col0, acc[23] + bv);
    store_row(c_off, row0 + tile_row(3u, 0u), col0, acc[24] + bv);
    store_row(c_off, row0 + tile_row(3u, 1u), col0, acc[25] + bv);
    store_row(c_off, row0 + tile_row(3u, 2u), col0, acc[26] + bv);
    store_row(c_off, row0 + tile_row(3u, 3u), col0, acc[27] + bv);
    store_row(c_off, row0 + tile_row(3u, 4u), col0, acc[28] + bv);
    store_row(c_off, row0 + tile_row(3u, 5u), col0, acc[29] + bv);
    store_row(c_off, row0 + tile_row(3u, 6u), col0, acc[30] + bv);
    store_row(c_off, row0 + tile_row(3u, 7u), col0, acc[31] + bv);
    if (TRANS_A && p.row_sums != 0u && tile_col == 0u) { // the first column tile writes the sums
        for (var i = 0u; i < 4u; i++) {
            store_sum(bt, row0 + tile_row(i, lane), rs[i]);
        }
    }
}
