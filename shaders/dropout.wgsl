// dropout.wgsl: inverted dropout with a counter-based generator; the mask is recomputed, never stored.
//   y[i] = keep(offset + i) ? x[i] / (1 - p) : 0,   keep(e) = (philox(seed, e) >> 8) >= threshold
// philox(seed, e): word e % 4 of Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011) with key (seed_lo, seed_hi) and counter (q_lo, q_hi, 0, 0), q = e / 4.
// The top 24 bits of the word are a uniform u in [0, 2^24); keep iff u >= threshold = ceil(p * 2^24),
// i.e. iff u / 2^24 >= p. Each invocation computes one Philox block (4 words) for the 4 stream positions
// 4q .. 4q+3 and writes those that fall inside [offset, offset + n). Calling it again on dy with the same
// seed and offset reproduces the mask for the backward pass.
// dropout4: the same when offset % 4 == 0, so that block g is element vec4 g, loaded and stored whole (the tensors
// bound rounded up to whole vec4s, Tensor::binding; the last vec4 may run into the buffers' padding).
// imports: philox

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
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;

// The 4 words of Philox block q = offset / 4 + g (a 64-bit add with carry).
fn block_words(g: u32) -> vec4<u32> {
    let q_lo = p.q_lo + g;
    let q_hi = p.q_hi + select(0u, 1u, q_lo < g);
    return philox(vec4<u32>(q_lo, q_hi, 0u, 0u), vec2<u32>(p.key_lo, p.key_hi));
}

// y[i] = keep(offset + i) * x[i] * scale for the 4 positions of Philox block q = offset / 4 + g.
@compute @workgroup_size(256)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 256u;
    if (g >= p.blocks) {
        return;
    }
    let words = block_words(g);
    for (var j = 0u; j < 4u; j++) {
        let pos = g * 4u + j;  // stream position relative to 4 * (offset / 4)
        if (pos >= p.skip && pos - p.skip < p.n) {
            let i = pos - p.skip;
            let keep = (words[j] >> 8u) >= p.threshold;
            y[i] = select(0.0, x[i] * p.scale, keep);
        }
    }
}

// y4[g] = keep4 * x4[g] * scale: block g covers elements 4g .. 4g+3 (offset % 4 == 0).
@compute @workgroup_size(256)
fn dropout4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 256u;
    if (g >= p.blocks) {
        return;
    }
    let keep = (block_words(g) >> vec4<u32>(8u)) >= vec4<u32>(p.threshold);
    y4[g] = select(vec4<f32>(0.0), x4[g] * p.scale, keep);
}
