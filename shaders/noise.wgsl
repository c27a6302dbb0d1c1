// noise.wgsl: counter-based random numbers for the autoencoders, keyed by (seed, stream position); nothing
// stored, the same (seed, offset) gives the same numbers on every device.
// imports: dropout, log_series
// The generator is dropout.wgsl's, imported whole (appended to this file): its Philox-4x32-10 `philox`, its
// parameter block `p` (n, blocks, the seed as key, first block q = offset / 4, skip = offset % 4, threshold,
// scale), `block_words` (the 4 words of block q = offset / 4 + g) and its entry points.
//   normal: z_out[i] = z(offset + i), the standard normal by Box-Muller on the words of block q = e / 4:
//             u1 = ((w0 >> 8) + 0.5) / 2^24 in (0, 1),  u2 = (w1 >> 8) / 2^24 in [0, 1),  r = sqrt(-2 ln u1)
//             z(4q) = r cos(2 pi u2),  z(4q + 1) = r sin(2 pi u2);  z(4q + 2), z(4q + 3) likewise from (w2, w3)
//           (curand's normal4 layout: one Philox block gives four normals). |z| <= sqrt(2 ln 2^25) = 5.9.
//           cos and sin of 2 pi u2 come from sincos_2pi below, not the built-ins: some back ends' cos is accurate
//           only to ~1e-5 absolute near its zeros (lavapipe), and this way every device computes the same
//           polynomial. Likewise -ln u1 for u1 >= 1/2 is 2 atanh(v / (2 - v)), v = 1 - u1 (exact), by its series:
//           a built-in log accurate only in absolute terms near 1 (lavapipe: ~1e-7) would put an error of
//           1e-7 / r into the rare small radii.
//   mask:   masking noise, y[i] = keep(offset + i) ? x[i] : 0, is the imported `dropout` (or `dropout4`) entry with scale 1: the
//           same keep decision as dropout(x, p, seed, offset), the kept entries unscaled.
// Each invocation computes one Philox block (4 words) for the stream positions 4q .. 4q+3 and writes those
// inside [offset, offset + n).

// normal
@group(0) @binding(1) var<storage, read_write> z_out: array<f32>;   // [n]

const TWO_PI: f32 = 6.283185307179586;
const INV_2_24: f32 = 5.9604644775390625e-8;   // 2^-24

// Invocation index over a grid folded into x and y (Gpu::grid_1d).
fn block_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// (cos 2 pi u, sin 2 pi u) for u in [0, 1): the quadrant k = round(4u) is split off exactly (f = u - k/4 in
// [-1/8, 1/8] has no rounding error for u with 24 fraction bits), then x = 2 pi f in [-pi/4, pi/4] goes
// through Taylor polynomials to x^9 and x^10 (truncation below 2e-9), and the quadrant rotates the pair.
fn sincos_2pi(u: f32) -> vec2<f32> {
    let k = round(4.0 * u);
    let x = TWO_PI * (u - 0.25 * k);
    let x2 = x * x;
    var s = fma(x2, 1.0 / 362880.0, -1.0 / 5040.0);
    s = fma(s, x2, 1.0 / 120.0);
    s = fma(s, x2, -1.0 / 6.0);
    s = fma(s * x2, x, x);
    var c = fma(x2, -1.0 / 3628800.0, 1.0 / 40320.0);
    c = fma(c, x2, -1.0 / 720.0);
    c = fma(c, x2, 1.0 / 24.0);
    c = fma(c, x2, -0.5);
    c = fma(c, x2, 1.0);
    switch (u32(k) & 3u) {
        case 0u: { return vec2<f32>(c, s); }
        case 1u: { return vec2<f32>(-s, c); }
        case 2u: { return vec2<f32>(-c, -s); }
        default: { return vec2<f32>(s, -c); }
    }
}

// -ln(u1) for u1 = (m + 0.5) / 2^24, m < 2^24: the built-in log below 1/2; above, with v = 1 - u1 computed
// exactly, -ln(1 - v) = two_atanh(v / (2 - v)) (log_series.wgsl; v / (2 - v) <= 1/3).
fn neg_log_unit(m: u32) -> f32 {
    let u1 = (f32(m) + 0.5) * INV_2_24;
    let v = (f32(0xFFFFFFu - m) + 0.5) * INV_2_24;
    return select(-log(u1), two_atanh(v / (2.0 - v)), u1 >= 0.5);
}

// Two standard normals (r cos t, r sin t), r = sqrt(-2 ln u1), t = 2 pi u2, from two words by Box-Muller.
fn box_muller(w_a: u32, w_b: u32) -> vec2<f32> {
    let r = sqrt(2.0 * neg_log_unit(w_a >> 8u));
    let u2 = f32(w_b >> 8u) * INV_2_24;
    return r * sincos_2pi(u2);
}

// normal: z_out[i] = z(offset + i) for the 4 positions of block q = offset / 4 + g.
@compute @workgroup_size(256)
fn normal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = block_index(gid, nwg);
    if (g >= p.blocks) {
        return;
    }
    let w = block_words(g);
    let z01 = box_muller(w.x, w.y);
    let z23 = box_muller(w.z, w.w);
    let z = vec4<f32>(z01.x, z01.y, z23.x, z23.y);
    for (var j = 0u; j < 4u; j++) {
        let pos = g * 4u + j;  // stream position relative to 4 * (offset / 4)
        if (pos >= p.skip && pos - p.skip < p.n) {
            z_out[pos - p.skip] = z[j];
        }
    }
}
