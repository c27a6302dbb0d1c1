// philox.wgsl: the counter-based generator of dropout, attention-probability dropout and the autoencoders'
// noise, in one place so that all of them draw the same numbers from the same (seed, position). A library:
// no entry point; files that use it name it in `// imports:`.
//   philox(c, k) = Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
//     ten rounds of  c = (hi(M1 c.z) ^ c.y ^ k.x,  lo(M1 c.z),  hi(M0 c.x) ^ c.w ^ k.y,  lo(M0 c.x)),
//                    k = k + (W0, W1)
//     with M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85 (Random123's constants).
// WGSL has no 32x32 -> 64-bit multiply: mul_hi is built from 16-bit halves.

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
