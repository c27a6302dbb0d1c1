// patch.wgsl: images <-> the square patches of a Vision Transformer (a permutation of 32-bit words both ways).
//   images [batch, C, H, W]; side p; grid gh = H/p by gw = W/p; L = gh*gw patches, P = p*p*C values each;
//   patch l covers rows i*p .. i*p+p-1 and columns j*p .. j*p+p-1 of every channel, (i, j) = (l / gw, l % gw).
//   patchify:   patches[b, l, e(c, u, v)] = images[b, c, i*p + u, j*p + v]
//   unpatchify: images[b, c, y, x] = patches[b, (y/p)*gw + x/p, e(c, y%p, x%p)]   (the inverse permutation)
//   e(c, u, v) = (u*p + v)*C + c  when PQC: HuggingFace's (p, q, c) order (einsum "nchpwq->nhwpqc", MAE targets)
//              = (c*p + u)*p + v  otherwise: the (c, p, q) order of a conv weight [hidden, C, p, p] viewed as
//                                 [hidden, C*p*p], so the stride-p patch-embedding convolution is one matmul
// Each invocation moves one run of p values along an image row (v = 0..p-1): contiguous in the image, and
// contiguous in a patch in the (c, p, q) order; the run's integer div/mod is paid once (slow on llvmpipe).

struct Params {
    runs: u32,       // batch*L*C*p (patchify) or batch*C*H*gw (unpatchify)
    channels: u32,
    height: u32,
    width: u32,
    side: u32,       // p
    grid_w: u32,     // gw
    patches: u32,    // L
    pqc: u32,        // 1: (p, q, c) order, 0: (c, p, q)
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;        // patchify: images; unpatchify: patches
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;  // patchify: patches; unpatchify: images

fn run_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// Offset of value (c, u, v) inside a patch of P values.
fn in_patch(c: u32, u: u32, v: u32) -> u32 {
    let p = prm.side;
    if (prm.pqc != 0u) {
        return (u * p + v) * prm.channels + c;
    }
    return (c * p + u) * p + v;
}

// One run per (b, l, c, u): patches[b, l, e(c, u, v)] = images[b, c, i*p + u, j*p + v] for v < p.
@compute @workgroup_size(256)
fn patchify(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = run_id(gid, nwg);
    if (r >= prm.runs) {
        return;
    }
    let p = prm.side;
    let u = r % p;
    let t = r / p;
    let c = t % prm.channels;
    let t2 = t / prm.channels;
    let l = t2 % prm.patches;
    let b = t2 / prm.patches;
    let i = l / prm.grid_w;
    let j = l % prm.grid_w;
    let image_row = ((b * prm.channels + c) * prm.height + i * p + u) * prm.width + j * p;
    let patch_base = (b * prm.patches + l) * p * p * prm.channels;
    for (var v = 0u; v < p; v++) {
        dst[patch_base + in_patch(c, u, v)] = src[image_row + v];
    }
}

// One run per (b, c, y, j): images[b, c, y, j*p + v] = patches[b, (y/p)*gw + j, e(c, y%p, v)] for v < p.
@compute @workgroup_size(256)
fn unpatchify(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = run_id(gid, nwg);
    if (r >= prm.runs) {
        return;
    }
    let p = prm.side;
    let j = r % prm.grid_w;
    let t = r / prm.grid_w;
    let y = t % prm.height;
    let t2 = t / prm.height;
    let c = t2 % prm.channels;
    let b = t2 / prm.channels;
    let l = (y / p) * prm.grid_w + j;
    let u = y % p;
    let image_row = ((b * prm.channels + c) * prm.height + y) * prm.width + j * p;
    let patch_base = (b * prm.patches + l) * p * p * prm.channels;
    for (var v = 0u; v < p; v++) {
        dst[image_row + v] = src[patch_base + in_patch(c, u, v)];
    }
}
