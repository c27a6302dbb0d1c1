// matmul_sg.wgsl: the subgroup variant of matmul.wgsl (same math, bindings and Params; imports its helpers).
//   C[bt, i, j] = sum_k op(A)[bt, i, k] * op(B)[bt, k, j] (+ bias[j])
// requires: subgroups
// imports: matmul
//
// matmul_sg8: one subgroup of 8 lanes per workgroup computes a 32 x 32 tile of C. Lane l owns columns
// 4l..4l+3 (one vec4) of all 32 rows. Each 4-wide step of k, lane l loads the vec4 op(A)[row, k..k+4] of rows
// l, l+8, l+16, l+24 and op(B)[k..k+4, its 4 columns]; subgroupBroadcast hands every lane the A values of all
// 32 rows. On llvmpipe every storage load is a loop over the 8 lanes, so the cost is the number of load
// instructions: this layout makes each loaded float feed 16 FMAs and uses no workgroup memory and no barrier
// (measured: 8 rows per tile 26, 16 rows 31-34, 32 rows 39-46 GFLOP/s at 1024^3 on a quiet machine; see
// BENCHMARKS.md for the losers). Chosen when the subgroup is exactly 8 lanes wide (the launcher checks).

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
