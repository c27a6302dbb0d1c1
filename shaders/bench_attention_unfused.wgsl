// bench_attention_unfused.wgsl: the unfused attention baseline for `pretext bench` (not used in training).
// Materialises the [bh, seq, seq] scores, one invocation per output element, each a register-held dot product
// (four partial sums):
//   fwd: S = scale·Q·Kᵀ (qkt)   P = softmax_rows(S) (softmax, in place)   O = P·V (pv)
//   bwd: dP = dO·Vᵀ (qkt, scale 1)   dS = P∘(dP − rowsum(dP∘P)) (softmax_bwd, in place)
//        dQ = scale·dS·K (pv)   dK = scale·dSᵀ·Q (ptx)   dV = Pᵀ·dO (ptx)
// Each entry point names its own bindings (reads first, then writes, as `kernels::launch` lays them out).

struct Params {
    bh: u32,      // batch · heads
    seq: u32,
    head_dim: u32,
    alpha: f32,   // output scale
}

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read> lhs: array<f32>;         // qkt: Q or dO; pv, ptx: P or dS  [bh, seq, *]
@group(0) @binding(2) var<storage, read> rhs: array<f32>;         // qkt: K or V;  pv, ptx: V, K, Q or dO  [bh, seq, head_dim]
@group(0) @binding(3) var<storage, read_write> res: array<f32>;   // qkt: [bh, seq, seq]; pv, ptx: [bh, seq, head_dim]

@group(0) @binding(1) var<storage, read_write> scores: array<f32>;  // softmax: S in, P out  [bh, seq, seq]
@group(0) @binding(1) var<storage, read> probs: array<f32>;         // softmax_bwd: P  [bh, seq, seq]
@group(0) @binding(2) var<storage, read_write> dprobs: array<f32>;  // softmax_bwd: dP in, dS out  [bh, seq, seq]

const WG: u32 = 256u;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// res[b, i, j] = alpha · Σ_d lhs[b, i, d] · rhs[b, j, d]
@compute @workgroup_size(WG)
fn unfused_qkt(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = flat(gid, nwg);
    if (e >= p.bh * p.seq * p.seq) {
        return;
    }
    let j = e % p.seq;
    let bi = e / p.seq; // b · seq + i
    let b = bi / p.seq;
    let a0 = bi * p.head_dim;
    let b0 = (b * p.seq + j) * p.head_dim;
    var acc = vec4<f32>(0.0);
    var d = 0u;
    for (; d + 4u <= p.head_dim; d += 4u) {
        acc = fma(vec4<f32>(lhs[a0 + d], lhs[a0 + d + 1u], lhs[a0 + d + 2u], lhs[a0 + d + 3u]),
                  vec4<f32>(rhs[b0 + d], rhs[b0 + d + 1u], rhs[b0 + d + 2u], rhs[b0 + d + 3u]), acc);
    }
    for (; d < p.head_dim; d++) {
        acc.x = fma(lhs[a0 + d], rhs[b0 + d], acc.x);
    }
    res[e] = p.alpha * ((acc.x + acc.y) + (acc.z + acc.w));
}

// scores[r, :] = softmax(scores[r, :]), one row per invocation
@compute @workgroup_size(WG)
fn unfused_softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.bh * p.seq) {
        return;
    }
    let r0 = r * p.seq;
    var m = -3.0e38;
    for (var j = 0u; j < p.seq; j++) {
        m = max(m, scores[r0 + j]);
    }
    var z = 0.0;
    for (var j = 0u; j < p.seq; j++) {
        let e = exp(scores[r0 + j] - m);
        scores[r0 + j] = e;
        z += e;
    }
    let inv = 1.0 / z;
    for (var j = 0u; j < p.seq; j++) {
        scores[r0 + j] *= inv;
    }
}

// dprobs[r, :] = probs[r, :] ∘ (dprobs[r, :] − Σ_j dprobs[r, j] probs[r, j]), one row per invocation
@compute @workgroup_size(WG)
fn unfused_softmax_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.bh * p.seq) {
        return;
    }
    let r0 = r * p.seq;
    var dot = 0.0;
    for (var j = 0u; j < p.seq; j++) {
        dot = fma(dprobs[r0 + j], probs[r0 + j], dot);
    }
    for (var j = 0u; j < p.seq; j++) {
        dprobs[r0 + j] = probs[r0 + j] * (dprobs[r0 + j] - dot);
    }
}

// res[b, i, d] = alpha · Σ_j lhs[b, i, j] · rhs[b, j, d]
@compute @workgroup_size(WG)
fn unfused_pv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = flat(gid, nwg);
    if (e >= p.bh * p.seq * p.head_dim) {
        return;
    }
    let d = e % p.head_dim;
    let bi = e / p.head_dim; // b · seq + i
    let b = bi / p.seq;
    let a0 = bi * p.seq;
    let b0 = b * p.seq * p.head_dim + d;
    let hd = p.head_dim;
    var acc = vec4<f32>(0.0);
    var j = 0u;
    for (; j + 4u <= p.seq; j += 4u) {
        acc = fma(vec4<f32>(lhs[a0 + j], lhs[a0 + j + 1u], lhs[a0 + j + 2u], lhs[a0 + j + 3u]),
                  vec4<f32>(rhs[b0 + j * hd], rhs[b0 + (j + 1u) * hd], rhs[b0 + (j + 2u) * hd], rhs[b0 + (j + 3u) * hd]), acc);
    }
    for (; j < p.seq; j++) {
        acc.x = fma(lhs[a0 + j], rhs[b0 + j * hd], acc.x);
    }
    res[e] = p.alpha * ((acc.x + acc.y) + (acc.z + acc.w));
}

// res[b, j, d] = alpha · Σ_i lhs[b, i, j] · rhs[b, i, d]
@compute @workgroup_size(WG)
fn unfused_ptx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = flat(gid, nwg);
    if (e >= p.bh * p.seq * p.head_dim) {
        return;
    }
    let d = e % p.head_dim;
    let bj = e / p.head_dim; // b · seq + j
    let b = bj / p.seq;
    let j = bj % p.seq;
    let a0 = b * p.seq * p.seq + j;
    let b0 = b * p.seq * p.head_dim + d;
    let n = p.seq;
    let hd = p.head_dim;
    var acc = vec4<f32>(0.0);
    var i = 0u;
    for (; i + 4u <= n; i += 4u) {
        acc = fma(vec4<f32>(lhs[a0 + i * n], lhs[a0 + (i + 1u) * n], lhs[a0 + (i + 2u) * n], lhs[a0 + (i + 3u) * n]),
                  vec4<f32>(rhs[b0 + i * hd], rhs[b0 + (i + 1u) * hd], rhs[b0 + (i + 2u) * hd], rhs[b0 + (i + 3u) * hd]), acc);
    }
    for (; i < n; i++) {
        acc.x = fma(lhs[a0 + i * n], rhs[b0 + i * hd], acc.x);
    }
    res[e] = p.alpha * ((acc.x + acc.y) + (acc.z + acc.w));
}
