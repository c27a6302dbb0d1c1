// dropout.wgsl: inverted dropout with a counter-based generator; the mask is recomputed, never stored.
//   y[i] = keep(offset + i) ? x[i] / (1 - p) : 0,   keep(e) = (philox(seed, e) >> 8) >= threshold
// philox(seed, e): word e % 4 of Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011) with key (seed_lo, seed_hi) and counter (q_lo, q_hi, 0, 0), q = e / 4.
// The top 24 bits of the word are a uniform u in [0, 2^24); keep iff u >= threshold = ceil(p * 2^24),
// i.e. iff u / 2^24 >= p. Each invocation computes one Philox block (4 words) for the 4 stream positions
// 4q .. 4q+3 and writes those that fall inside [offset, offset + n). Calling it again on dy with the same
// seed and offset reproduces the mask for the backward pass.
// WGSL has no 32x32 -> 64-bit multiply: mul_hi is built from 16-bit halves.

struct Params {
    n: u32,            // elements of x
    blocks: u32,       // Philox blocks to compute: ceil((offset % 4 + n) / 4)
    key_lo: u32,       // seed
    key_hi: u32,
    q_lo: u32,         // first block: offset / 4, as two words
    q_hi: u32,
    skip: u32,         // offset % 4: stream positions of the first block before element 0
    threshold: u32,    // ceil(p * 2^24)
    scale: f32,        // 1 / (1 - p)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// High 32 bits of the 64-bit product a * b.
fn mul_hi(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xFFFFu) + lo_hi;  // <= 0xFFFFFFFF, no overflow
    return hi_hi + (hi_lo >> 16u) + (cross >> 16u);
}

// Philox-4x32-10 of counter c under key k.
fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let hi0 = mul_hi(PHILOX_M0, c.x);
        let lo0 = PHILOX_M0 * c.x;
        let hi1 = mul_hi(PHILOX_M1, c.z);
        let lo1 = PHILOX_M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

// y[i] = keep(offset + i) * x[i] * scale for the 4 positions of Philox block q = offset / 4 + g.
@compute @workgroup_size(256)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 256u;
    if (g >= p.blocks) {
        return;
    }
    let q_lo = p.q_lo + g;
    let q_hi = p.q_hi + select(0u, 1u, q_lo < g);  // carry of the 64-bit add
    let words = philox(vec4<u32>(q_lo, q_hi, 0u, 0u), vec2<u32>(p.key_lo, p.key_hi));
    for (var j = 0u; j < 4u; j++) {
        let pos = g * 4u + j;  // stream position relative to 4 * (offset / 4)
        if (pos >= p.skip && pos - p.skip < p.n) {
            let i = pos - p.skip;
            let keep = (words[j] >> 8u) >= p.threshold;
            y[i] = select(0.0, x[i] * p.scale, keep);
        }
    }
}
