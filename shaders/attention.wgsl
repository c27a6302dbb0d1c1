// attention.wgsl: fused scaled-dot-product attention that never materialises the seq×seq scores.
// q, k, v, out, dout: [batch, heads, seq, head_dim] contiguous; one invocation per query row (fwd, dq) or per
// key row (dkdv), each row held in registers: no workgroup memory, no barrier (the cheap design on lavapipe).
//   len_b         = clamp(lengths[b], 0, seq), or seq without lengths          (key padding mask)
//   keys(i)       = { j : j < len_b  and  (not causal or j <= i) }
//   s_ij          = scale · q_i·k_j                                           (j in keys(i))
//   fwd:          lse_i = log Σ_j exp(s_ij),  o_i = Σ_j exp(s_ij − lse_i) · v_j
//                 by an online softmax over blocks of BLOCK keys (running max m, running sum l, rescaled o);
//                 a row with no key: o_i = 0, lse_i = −inf
//   bwd_stats:    delta_i = do_i·o_i,  stats_i = (lse_i, delta_i)
//   bwd_dq:       p_ij = exp(s_ij − lse_i),  ds_ij = p_ij · (do_i·v_j − delta_i),  dq_i = scale · Σ_j ds_ij k_j
//   bwd_dkdv:     dv_j = Σ_i p_ij do_i,  dk_j = scale · Σ_i ds_ij q_i      (sum over i with j in keys(i))
// dq and dk/dv are separate passes so every sum has a fixed order: deterministic, no atomics.

// The exact head_dim; rows are held as HEAD_VEC vec4 chunks (the last one zero-padded).
override HEAD_DIM: u32 = 64u;
override HEAD_VEC: u32 = (HEAD_DIM + 3u) / 4u;
const MAX_VEC: u32 = 32u;      // head_dim <= 128
const BLOCK: u32 = 8u;         // keys per online-softmax step
const WG: u32 = 64u;           // rows per workgroup
const NEG_BIG: f32 = -1.0e30;  // finite stand-in for −inf inside the running max

struct Params {
    rows: u32,        // batch · heads · seq
    seq: u32,
    heads: u32,
    causal: u32,      // 1: mask j > i
    has_lengths: u32, // 0: every key is valid (lengths is a dummy binding)
    scale: f32,
    neg_inf: f32,     // −inf, written as lse of a row with no key
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- forward ----------------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> q: array<f32>;          // [batch, heads, seq, head_dim]
@group(0) @binding(2) var<storage, read> k: array<f32>;          // [batch, heads, seq, head_dim]
@group(0) @binding(3) var<storage, read> v: array<f32>;          // [batch, heads, seq, head_dim]
@group(0) @binding(4) var<storage, read> lengths: array<i32>;    // [batch] valid keys per sequence
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // [batch, heads, seq, head_dim]
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;  // [batch, heads, seq]

// Chunk c (elements 4c..4c+3, zero past head_dim) of the row starting at `base`.
fn q4(base: u32, c: u32) -> vec4<f32> {
    let d = base + 4u * c;
    var r = vec4<f32>(q[d], 0.0, 0.0, 0.0);
    if (4u * c + 1u < HEAD_DIM) { r.y = q[d + 1u]; }
    if (4u * c + 2u < HEAD_DIM) { r.z = q[d + 2u]; }
    if (4u * c + 3u < HEAD_DIM) { r.w = q[d + 3u]; }
    return r;
}
fn k4(base: u32, c: u32) -> vec4<f32> {
    let d = base + 4u * c;
    var r = vec4<f32>(k[d], 0.0, 0.0, 0.0);
    if (4u * c + 1u < HEAD_DIM) { r.y = k[d + 1u]; }
    if (4u * c + 2u < HEAD_DIM) { r.z = k[d + 2u]; }
    if (4u * c + 3u < HEAD_DIM) { r.w = k[d + 3u]; }
    return r;
}
fn v4(base: u32, c: u32) -> vec4<f32> {
    let d = base + 4u * c;
    var r = vec4<f32>(v[d], 0.0, 0.0, 0.0);
    if (4u * c + 1u < HEAD_DIM) { r.y = v[d + 1u]; }
    if (4u * c + 2u < HEAD_DIM) { r.z = v[d + 2u]; }
    if (4u * c + 3u < HEAD_DIM) { r.w = v[d + 3u]; }
    return r;
}

// len_b: valid keys of batch b.
fn valid_keys(b: u32) -> u32 {
    if (p.has_lengths == 0u) {
        return p.seq;
    }
    return u32(clamp(lengths[b], 0, i32(p.seq)));
}

// Number of keys query i of batch b attends to (they are 0..n).
fn key_count(b: u32, i: u32) -> u32 {
    let n = valid_keys(b);
    if (p.causal != 0u) {
        return min(n, i + 1u);
    }
    return n;
}

fn hsum(x: vec4<f32>) -> f32 {
    return (x.x + x.y) + (x.z + x.w);
}

// out[row] = softmax_j(s_row,j) · v,  lse[row] = log Σ_j exp(s_row,j); one query row per invocation.
@compute @workgroup_size(WG)
fn attention_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG;
    if (row >= p.rows) {
        return;
    }
    let bh = row / p.seq;
    let i = row % p.seq;
    let n = key_count(bh / p.heads, i);
    let kv0 = bh * p.seq * HEAD_DIM; // start of key/value row 0 of this (batch, head)
    let row0 = row * HEAD_DIM;

    var qs: array<vec4<f32>, MAX_VEC>; // scale · q_i
    var o: array<vec4<f32>, MAX_VEC>;  // unnormalised Σ_j exp(s_ij − m) v_j
    for (var c = 0u; c < HEAD_VEC; c++) {
        qs[c] = p.scale * q4(row0, c);
        o[c] = vec4<f32>(0.0);
    }
    var m = NEG_BIG; // running max of the scores
    var l = 0.0;     // running Σ exp(s − m)
    for (var j0 = 0u; j0 < n; j0 += BLOCK) {
        var s: array<f32, BLOCK>;
        var m_block = NEG_BIG;
        for (var jj = 0u; jj < BLOCK; jj++) {
            let kb = kv0 + min(j0 + jj, n - 1u) * HEAD_DIM; // past the end: reload the last key, masked below
            var acc = vec4<f32>(0.0);
            for (var c = 0u; c < HEAD_VEC; c++) {
                acc = fma(qs[c], k4(kb, c), acc);
            }
            s[jj] = select(NEG_BIG, hsum(acc), j0 + jj < n);
            m_block = max(m_block, s[jj]);
        }
        let m_new = max(m, m_block);
        let correction = exp(m - m_new);
        l *= correction;
        for (var c = 0u; c < HEAD_VEC; c++) {
            o[c] *= correction;
        }
        for (var jj = 0u; jj < BLOCK; jj++) {
            let vb = kv0 + min(j0 + jj, n - 1u) * HEAD_DIM;
            let pj = select(0.0, exp(s[jj] - m_new), j0 + jj < n);
            l += pj;
            for (var c = 0u; c < HEAD_VEC; c++) {
                o[c] = fma(vec4<f32>(pj), v4(vb, c), o[c]);
            }
        }
        m = m_new;
    }
    let inv_l = select(0.0, 1.0 / l, l > 0.0);
    for (var c = 0u; c < HEAD_VEC; c++) {
        let r = o[c] * inv_l;
        let d = row0 + 4u * c;
        out[d] = r.x;
        if (4u * c + 1u < HEAD_DIM) { out[d + 1u] = r.y; }
        if (4u * c + 2u < HEAD_DIM) { out[d + 2u] = r.z; }
        if (4u * c + 3u < HEAD_DIM) { out[d + 3u] = r.w; }
    }
    lse[row] = select(p.neg_inf, m + log(l), l > 0.0);
}

// ---- backward -------------------------------------------------------------------------------------------
// Bindings 1-4 (q, k, v, lengths) are shared with the forward; the rest reuse slots 5.. per entry point.
@group(0) @binding(5) var<storage, read> dout: array<f32>;          // [batch, heads, seq, head_dim]   (dq, dkdv)
@group(0) @binding(6) var<storage, read> stats: array<f32>;         // [batch, heads, seq, 2] (lse, delta) (dq, dkdv)
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;      // [batch, heads, seq, head_dim]   (dq)
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;      // [batch, heads, seq, head_dim]   (dkdv)
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;      // [batch, heads, seq, head_dim]   (dkdv)

fn do4(base: u32, c: u32) -> vec4<f32> {
    let d = base + 4u * c;
    var r = vec4<f32>(dout[d], 0.0, 0.0, 0.0);
    if (4u * c + 1u < HEAD_DIM) { r.y = dout[d + 1u]; }
    if (4u * c + 2u < HEAD_DIM) { r.z = dout[d + 2u]; }
    if (4u * c + 3u < HEAD_DIM) { r.w = dout[d + 3u]; }
    return r;
}

// The stats pass's own bindings (reads: out, dout, lse; writes: stats).
@group(0) @binding(1) var<storage, read> stats_o: array<f32>;            // [batch, heads, seq, head_dim] forward out
@group(0) @binding(2) var<storage, read> stats_do: array<f32>;           // [batch, heads, seq, head_dim] dout
@group(0) @binding(3) var<storage, read> stats_lse: array<f32>;          // [batch, heads, seq] forward lse
@group(0) @binding(4) var<storage, read_write> stats_out: array<f32>;    // [batch, heads, seq, 2] (lse, delta)

// stats[row] = (lse_row, delta_row = do_row·o_row); one row per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG;
    if (row >= p.rows) {
        return;
    }
    let row0 = row * HEAD_DIM;
    var acc = vec4<f32>(0.0);
    var d = 0u;
    for (; d + 4u <= HEAD_DIM; d += 4u) {
        acc = fma(vec4<f32>(stats_do[row0 + d], stats_do[row0 + d + 1u], stats_do[row0 + d + 2u], stats_do[row0 + d + 3u]),
                  vec4<f32>(stats_o[row0 + d], stats_o[row0 + d + 1u], stats_o[row0 + d + 2u], stats_o[row0 + d + 3u]), acc);
    }
    for (; d < HEAD_DIM; d++) {
        acc.x = fma(stats_do[row0 + d], stats_o[row0 + d], acc.x);
    }
    stats_out[2u * row] = stats_lse[row];
    stats_out[2u * row + 1u] = hsum(acc);
}

// dq_i = scale · Σ_j p_ij (do_i·v_j − delta_i) k_j over the keys of query row i; one query row per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_dq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG;
    if (row >= p.rows) {
        return;
    }
    let bh = row / p.seq;
    let i = row % p.seq;
    let n = key_count(bh / p.heads, i);
    let kv0 = bh * p.seq * HEAD_DIM;
    let row0 = row * HEAD_DIM;

    var qs: array<vec4<f32>, MAX_VEC>;  // scale · q_i
    var dor: array<vec4<f32>, MAX_VEC>; // do_i
    var acc: array<vec4<f32>, MAX_VEC>; // Σ_j ds_ij k_j
    for (var c = 0u; c < HEAD_VEC; c++) {
        qs[c] = p.scale * q4(row0, c);
        dor[c] = do4(row0, c);
        acc[c] = vec4<f32>(0.0);
    }
    let lse_i = stats[2u * row];
    let delta_i = stats[2u * row + 1u];
    for (var j = 0u; j < n; j++) {
        let kb = kv0 + j * HEAD_DIM;
        var kr: array<vec4<f32>, MAX_VEC>;
        var s = vec4<f32>(0.0);
        var dp = vec4<f32>(0.0);
        for (var c = 0u; c < HEAD_VEC; c++) {
            kr[c] = k4(kb, c);
            s = fma(qs[c], kr[c], s);
            dp = fma(dor[c], v4(kb, c), dp);
        }
        let pij = exp(min(hsum(s) - lse_i, 0.0)); // s <= lse: the clamp only absorbs rounding
        let ds = pij * (hsum(dp) - delta_i);
        for (var c = 0u; c < HEAD_VEC; c++) {
            acc[c] = fma(vec4<f32>(ds), kr[c], acc[c]);
        }
    }
    for (var c = 0u; c < HEAD_VEC; c++) {
        let r = p.scale * acc[c];
        let d = row0 + 4u * c;
        dq[d] = r.x;
        if (4u * c + 1u < HEAD_DIM) { dq[d + 1u] = r.y; }
        if (4u * c + 2u < HEAD_DIM) { dq[d + 2u] = r.z; }
        if (4u * c + 3u < HEAD_DIM) { dq[d + 3u] = r.w; }
    }
}

// dv_j = Σ_i p_ij do_i,  dk_j = scale · Σ_i p_ij (do_i·v_j − delta_i) q_i over the queries that see key j;
// one key row per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_dkdv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG;
    if (row >= p.rows) {
        return;
    }
    let bh = row / p.seq;
    let j = row % p.seq;
    let row0 = row * HEAD_DIM;

    var ks: array<vec4<f32>, MAX_VEC>;  // scale · k_j
    var vr: array<vec4<f32>, MAX_VEC>;  // v_j
    var dka: array<vec4<f32>, MAX_VEC>; // Σ_i ds_ij q_i
    var dva: array<vec4<f32>, MAX_VEC>; // Σ_i p_ij do_i
    for (var c = 0u; c < HEAD_VEC; c++) {
        ks[c] = p.scale * k4(row0, c);
        vr[c] = v4(row0, c);
        dka[c] = vec4<f32>(0.0);
        dva[c] = vec4<f32>(0.0);
    }
    // Key j is seen by queries i in [i0, seq) when it is valid at all: i >= j under the causal mask.
    let n_rows = select(0u, p.seq, j < valid_keys(bh / p.heads));
    let i0 = select(0u, j, p.causal != 0u);
    for (var i = i0; i < n_rows; i++) {
        let qrow = bh * p.seq + i;
        let qb = qrow * HEAD_DIM;
        var qr: array<vec4<f32>, MAX_VEC>;
        var dor: array<vec4<f32>, MAX_VEC>;
        var s = vec4<f32>(0.0);
        var dp = vec4<f32>(0.0);
        for (var c = 0u; c < HEAD_VEC; c++) {
            qr[c] = q4(qb, c);
            dor[c] = do4(qb, c);
            s = fma(ks[c], qr[c], s);
            dp = fma(vr[c], dor[c], dp);
        }
        let pij = exp(min(hsum(s) - stats[2u * qrow], 0.0));
        let ds = pij * (hsum(dp) - stats[2u * qrow + 1u]);
        for (var c = 0u; c < HEAD_VEC; c++) {
            dva[c] = fma(vec4<f32>(pij), dor[c], dva[c]);
            dka[c] = fma(vec4<f32>(ds), qr[c], dka[c]);
        }
    }
    for (var c = 0u; c < HEAD_VEC; c++) {
        let rk = p.scale * dka[c];
        let rv = dva[c];
        let d = row0 + 4u * c;
        dk[d] = rk.x;
        dv[d] = rv.x;
        if (4u * c + 1u < HEAD_DIM) { dk[d + 1u] = rk.y; dv[d + 1u] = rv.y; }
        if (4u * c + 2u < HEAD_DIM) { dk[d + 2u] = rk.z; dv[d + 2u] = rv.z; }
        if (4u * c + 3u < HEAD_DIM) { dk[d + 3u] = rk.w; dv[d + 3u] = rv.w; }
    }
}
