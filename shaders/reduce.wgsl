// reduce.wgsl: sums (or means) of x over a set of axes, deterministic (fixed order, no atomics).
//   reduce: dst[c * n_out + o] = scale * sum_{r in chunk c} x[base(o) + roff(r)]
//     o: an output element, its kept coordinates (k0, k1, k2) give base(o) = k0*ks0 + k1*ks1 + k2*ks2;
//     r: a position in the reduced index space (r0, r1, r2), roff(r) = r0*rs0 + r1*rs1 + r2*rs2;
//     chunk c covers r in [c*chunk, min((c+1)*chunk, r_total)).
// The launcher collapses x's axes into alternating kept / reduced groups (at most 3 of each), so one
// entry covers column sums ([rows, dim] -> [dim]: reduced stride dim, adjacent invocations read adjacent
// columns), row sums ([rows, dim] -> [rows, 1]) and anything between. Two stages when the reduced extent
// is large: stage 1 writes n_chunks partial sums per output (scale 1), stage 2 is this same entry on the
// partials viewed as [n_chunks, n_out] -> [n_out] (scale 1 or 1/count for a mean).
// Each invocation walks its chunk with an odometer: the innermost reduced coordinate steps by rs2 and
// carries into r1 and r0 by precomputed offsets (wrapping u32 arithmetic; the sum lands in range).

struct Params {
    n_items: u32,            // invocations with work: n_out * n_chunks
    n_out: u32,
    chunk: u32,              // reduced positions per invocation
    r_total: u32,            // size of the reduced index space
    kept_dims: vec4<u32>,    // (k0, k1, k2, _) extents of the kept groups, outermost first
    kept_strides: vec4<u32>, // their strides in x
    red_dims: vec4<u32>,     // (r0, r1, r2, _) extents of the reduced groups
    red_strides: vec4<u32>,  // (rs0, rs1, rs2, _) their strides in x
    carry: vec4<u32>,        // (rs0 - r1*rs1, rs1 - r2*rs2, _, _) mod 2^32: offset steps when r1 / r0 advance
    scale: f32,              // 1, or 1/count for the last stage of a mean
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;  // [n_chunks, n_out] partials, or the output

// dst[g] = scale * (sum over chunk g / n_out of x at output g % n_out), summed in increasing r.
@compute @workgroup_size(256)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 256u;
    if (g >= p.n_items) {
        return;
    }
    let o = g % p.n_out;
    let c = g / p.n_out;
    let kd = p.kept_dims;
    let k2 = o % kd.z;
    let k1 = (o / kd.z) % kd.y;
    let k0 = o / (kd.z * kd.y);
    var off = k0 * p.kept_strides.x + k1 * p.kept_strides.y + k2 * p.kept_strides.z;

    let start = c * p.chunk;
    let end = min(start + p.chunk, p.r_total);
    let rd = p.red_dims;
    let rs = p.red_strides;
    var i2 = start % rd.z;
    var i1 = (start / rd.z) % rd.y;
    let i0 = start / (rd.z * rd.y);
    off += i0 * rs.x + i1 * rs.y + i2 * rs.z;
    var acc = 0.0;
    for (var r = start; r < end; r++) {
        acc += x[off];
        off += rs.z;
        i2 += 1u;
        if (i2 == rd.z) {
            i2 = 0u;
            off += p.carry.y;
            i1 += 1u;
            if (i1 == rd.y) {
                i1 = 0u;
                off += p.carry.x;
            }
        }
    }
    dst[g] = acc * p.scale;
}
