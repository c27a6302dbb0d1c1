// matmul.wgsl: the portable matrix product, matmul_tile (the math, the variants and the shared helpers are in
// matmul_core.wgsl). A and B are bound as arrays of vec4<f32>.
// imports: matmul_core

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>; // A: [batch?, m, k] or [batch?, k, m], flat
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>; // B: [batch?, k, n] or [batch?, n, k], flat

// A's (B's) vec4 at vec4 index i, and element e.
fn la(i: u32) -> vec4<f32> {
    return a[i];
}

fn lb(i: u32) -> vec4<f32> {
    return b[i];
}

fn a_at(e: u32) -> f32 {
    return a[e >> 2u][e & 3u];
}

fn b_at(e: u32) -> f32 {
    return b[e >> 2u][e & 3u];
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
    let tile_col = (t % per_batch) / p.tiles_m;
    let row0 = ((t % per_batch) % p.tiles_m) * 64u + 8u * lid.y;
    let col0 = tile_col * 32u + 4u * lid.x;
    let a_off = batch_offset(bt, p.a_outer, p.a_inner);
    let b_off = batch_offset(bt, p.b_outer, p.b_inner);
    let last = p.m - 1u;
    let cb = b_col(col0);
    var acc: array<vec4<f32>, 8>;
    var rs: array<vec4<f32>, 8>; // row sums of op(A), TRANS_A only
    for (var k0 = 0u; k0 < p.k; k0 += 4u) {
        let bf = load_b(b_off, cb, k0);
        var av: array<vec4<f32>, 8>;
        if (TRANS_A && VEC_A) {
            let lo = load_a_cols(a_off, row0, k0);
            let hi = load_a_cols(a_off, row0 + 4u, k0);
            for (var j = 0u; j < 4u; j++) {
                av[j] = lo[j];
                av[j + 4u] = hi[j];
            }
        } else {
            for (var r = 0u; r < 8u; r++) {
                av[r] = load_a(a_off, min(row0 + r, last), k0);
            }
        }
        for (var r = 0u; r < 8u; r++) {
            acc[r] = fma_row(acc[r], av[r], bf);
            if (TRANS_A) {
                rs[r] += av[r];
            }
        }
    }
    let c_off = batch_offset(bt, p.c_outer, p.c_inner);
    let bv = bias_vec(col0);
    for (var r = 0u; r < 8u; r++) {
        store_row(c_off, row0 + r, col0, acc[r] + bv);
    }
    if (TRANS_A && p.row_sums != 0u && tile_col == 0u && lid.x == 0u) { // one invocation per row writes its sum
        for (var r = 0u; r < 8u; r++) {
            store_sum(bt, row0 + r, rs[r]);
        }
    }
}
