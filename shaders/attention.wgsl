// attention.wgsl: fused scaled-dot-product attention that never materialises the seq×seq scores.
// q, k, v, out, dout: [batch, heads, seq, head_dim] contiguous; one invocation per query row (fwd, dq) or per
// key row (dkdv): no workgroup memory, no barrier (the cheap design on lavapipe). Only a block of BLOCK scores
// lives in registers; the head_dim-long rows stream through in vec4 chunks, and each row's accumulator (o, dq,
// dk, dv) is kept in its output buffer, read and rewritten once per block of keys: the kernel's registers and
// compile time do not grow with head_dim, and one pipeline serves every head_dim.
// A workgroup takes WG consecutive rows of one (batch, head) and walks the other side's rows in lockstep up to
// the block's largest count, masking per invocation: every k/v (or q/do) address is then workgroup-uniform,
// which lavapipe turns into one broadcast load instead of a gather.
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

const BLOCK: u32 = 16u;        // keys (fwd, dq) or queries (dkdv) per step
const WG: u32 = 64u;           // rows per workgroup
const NEG_BIG: f32 = -1.0e30;  // finite stand-in for −inf inside the running max

struct Params {
    rows: u32,        // batch · heads · seq
    bh_count: u32,    // batch · heads
    seq: u32,
    heads: u32,
    head_dim: u32,
    head_vec: u32,    // ceil(head_dim / 4): vec4 chunks per row, the last one zero-padded
    causal: u32,      // 1: mask j > i
    has_lengths: u32, // 0: every key is valid (lengths is a dummy binding)
    scale: f32,
    neg_inf: f32,     // −inf, written as lse of a row with no key
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- forward ----------------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> q: array<f32>;          // [batch, heads, seq, head_dim]
@group(0) @binding(2) var<storage, read> k: array<f32>;          // [batch, heads, seq, head_dim]
@group(0) @binding(3) var<storage, read> v: array<f32>;          // [batch, heads, seq, head_dim]
@group(0) @binding(4) var<storage, read> lengths: array<i32>;    // [batch] valid keys per sequence
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // [batch, heads, seq, head_dim]
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;  // [batch, heads, seq]

// Indices of chunk c (elements 4c..4c+3) of the row at `base`, clamped to the row; `tail_mask` zeroes the lanes
// past head_dim.
fn chunk_index(base: u32, c: u32) -> vec4<u32> {
    return base + min(vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.head_dim - 1u));
}
fn tail_mask(c: u32) -> vec4<bool> {
    return vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.head_dim);
}
fn q4(base: u32, c: u32) -> vec4<f32> {
    let x = chunk_index(base, c);
    return select(vec4<f32>(0.0), vec4<f32>(q[x.x], q[x.y], q[x.z], q[x.w]), tail_mask(c));
}
fn k4(base: u32, c: u32) -> vec4<f32> {
    let x = chunk_index(base, c);
    return select(vec4<f32>(0.0), vec4<f32>(k[x.x], k[x.y], k[x.z], k[x.w]), tail_mask(c));
}
fn v4(base: u32, c: u32) -> vec4<f32> {
    let x = chunk_index(base, c);
    return select(vec4<f32>(0.0), vec4<f32>(v[x.x], v[x.y], v[x.z], v[x.w]), tail_mask(c));
}
fn out4(base: u32, c: u32) -> vec4<f32> {
    let x = chunk_index(base, c);
    return vec4<f32>(out[x.x], out[x.y], out[x.z], out[x.w]);
}
fn store_out4(base: u32, c: u32, r: vec4<f32>) {
    let d = base + 4u * c;
    out[d] = r.x;
    if (4u * c + 1u < p.head_dim) { out[d + 1u] = r.y; }
    if (4u * c + 2u < p.head_dim) { out[d + 2u] = r.z; }
    if (4u * c + 3u < p.head_dim) { out[d + 3u] = r.w; }
}

// len_b: valid keys of batch b.
fn valid_keys(b: u32) -> u32 {
    if (p.has_lengths == 0u) {
        return p.seq;
    }
    return u32(clamp(lengths[b], 0, i32(p.seq)));
}

// The rows a workgroup owns: WG consecutive rows from `first` of head `bh`; `live` is false for the grid's padding.
struct Block {
    bh: u32,
    first: u32,
    live: bool,
}

fn block_of(wid: vec3<u32>, nwg: vec3<u32>) -> Block {
    let w = wid.x + wid.y * nwg.x;
    let blocks = (p.seq + WG - 1u) / WG;
    return Block(w / blocks, (w % blocks) * WG, w < p.bh_count * blocks);
}

fn hsum(x: vec4<f32>) -> f32 {
    return (x.x + x.y) + (x.z + x.w);
}

// out[row] = softmax_j(s_row,j) · v,  lse[row] = log Σ_j exp(s_row,j); one query row per invocation.
@compute @workgroup_size(WG)
fn attention_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live || blk.first + lid >= p.seq) {
        return;
    }
    let i = blk.first + lid;
    let row = blk.bh * p.seq + i;
    let len = valid_keys(blk.bh / p.heads);
    let n = select(len, min(len, i + 1u), p.causal != 0u); // this row's keys: 0..n
    let kv0 = blk.bh * p.seq * p.head_dim;                 // start of key/value row 0 of this (batch, head)
    let row0 = row * p.head_dim;

    var m = NEG_BIG; // running max of the scores
    var l = 0.0;     // running Σ exp(s − m); out[row] holds Σ exp(s − m) v
    for (var j0 = 0u; j0 < n; j0 += BLOCK) {
        var s: array<f32, BLOCK>;
        for (var jj = 0u; jj < BLOCK; jj++) {
            s[jj] = 0.0;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            let qc = p.scale * q4(row0, c);
            for (var jj = 0u; jj < BLOCK; jj++) {
                s[jj] += dot(qc, k4(kv0 + min(j0 + jj, n - 1u) * p.head_dim, c)); // past n: masked below
            }
        }
        var m_block = NEG_BIG;
        for (var jj = 0u; jj < BLOCK; jj++) {
            s[jj] = select(NEG_BIG, s[jj], j0 + jj < n);
            m_block = max(m_block, s[jj]);
        }
        let m_new = max(m, m_block);
        let correction = exp(m - m_new);
        l *= correction;
        for (var jj = 0u; jj < BLOCK; jj++) {
            s[jj] = select(0.0, exp(s[jj] - m_new), j0 + jj < n); // now p_ij · exp(lse − m_new)
            l += s[jj];
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var o = select(vec4<f32>(0.0), correction * out4(row0, c), j0 > 0u);
            for (var jj = 0u; jj < BLOCK; jj++) {
                o = fma(vec4<f32>(s[jj]), v4(kv0 + min(j0 + jj, n - 1u) * p.head_dim, c), o);
            }
            store_out4(row0, c, o);
        }
        m = m_new;
    }
    // Normalise (a row with no key was never written: zeros).
    let inv_l = select(0.0, 1.0 / l, l > 0.0);
    for (var c = 0u; c < p.head_vec; c++) {
        store_out4(row0, c, select(vec4<f32>(0.0), inv_l * out4(row0, c), n > 0u));
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
    let x = chunk_index(base, c);
    return select(vec4<f32>(0.0), vec4<f32>(dout[x.x], dout[x.y], dout[x.z], dout[x.w]), tail_mask(c));
}
fn dq4(base: u32, c: u32) -> vec4<f32> {
    let x = chunk_index(base, c);
    return vec4<f32>(dq[x.x], dq[x.y], dq[x.z], dq[x.w]);
}
fn store_dq4(base: u32, c: u32, r: vec4<f32>) {
    let d = base + 4u * c;
    dq[d] = r.x;
    if (4u * c + 1u < p.head_dim) { dq[d + 1u] = r.y; }
    if (4u * c + 2u < p.head_dim) { dq[d + 2u] = r.z; }
    if (4u * c + 3u < p.head_dim) { dq[d + 3u] = r.w; }
}
fn dk4(base: u32, c: u32) -> vec4<f32> {
    let x = chunk_index(base, c);
    return vec4<f32>(dk[x.x], dk[x.y], dk[x.z], dk[x.w]);
}
fn dv4(base: u32, c: u32) -> vec4<f32> {
    let x = chunk_index(base, c);
    return vec4<f32>(dv[x.x], dv[x.y], dv[x.z], dv[x.w]);
}
fn store_dkdv4(base: u32, c: u32, rk: vec4<f32>, rv: vec4<f32>) {
    let d = base + 4u * c;
    dk[d] = rk.x;
    dv[d] = rv.x;
    if (4u * c + 1u < p.head_dim) { dk[d + 1u] = rk.y; dv[d + 1u] = rv.y; }
    if (4u * c + 2u < p.head_dim) { dk[d + 2u] = rk.z; dv[d + 2u] = rv.z; }
    if (4u * c + 3u < p.head_dim) { dk[d + 3u] = rk.w; dv[d + 3u] = rv.w; }
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
    let row0 = row * p.head_dim;
    var acc = vec4<f32>(0.0);
    var d = 0u;
    for (; d + 4u <= p.head_dim; d += 4u) {
        acc = fma(vec4<f32>(stats_do[row0 + d], stats_do[row0 + d + 1u], stats_do[row0 + d + 2u], stats_do[row0 + d + 3u]),
                  vec4<f32>(stats_o[row0 + d], stats_o[row0 + d + 1u], stats_o[row0 + d + 2u], stats_o[row0 + d + 3u]), acc);
    }
    for (; d < p.head_dim; d++) {
        acc.x = fma(stats_do[row0 + d], stats_o[row0 + d], acc.x);
    }
    stats_out[2u * row] = stats_lse[row];
    stats_out[2u * row + 1u] = hsum(acc);
}

// dq_i = scale · Σ_j p_ij (do_i·v_j − delta_i) k_j over the keys of query row i; one query row per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live || blk.first + lid >= p.seq) {
        return;
    }
    let i = blk.first + lid;
    let row = blk.bh * p.seq + i;
    let len = valid_keys(blk.bh / p.heads);
    let n = select(len, min(len, i + 1u), p.causal != 0u);
    let kv0 = blk.bh * p.seq * p.head_dim;
    let row0 = row * p.head_dim;
    let lse_i = stats[2u * row];
    let delta_i = stats[2u * row + 1u];

    for (var j0 = 0u; j0 < n; j0 += BLOCK) {
        var s: array<f32, BLOCK>;
        var dp: array<f32, BLOCK>;
        for (var jj = 0u; jj < BLOCK; jj++) {
            s[jj] = 0.0;
            dp[jj] = 0.0;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            let qc = p.scale * q4(row0, c);
            let dc = do4(row0, c);
            for (var jj = 0u; jj < BLOCK; jj++) {
                let kb = kv0 + min(j0 + jj, n - 1u) * p.head_dim;
                s[jj] += dot(qc, k4(kb, c));
                dp[jj] += dot(dc, v4(kb, c));
            }
        }
        for (var jj = 0u; jj < BLOCK; jj++) {
            // s <= lse: the clamp only absorbs rounding. s[jj] becomes scale · ds_ij.
            let pij = select(0.0, exp(min(s[jj] - lse_i, 0.0)), j0 + jj < n);
            s[jj] = p.scale * pij * (dp[jj] - delta_i);
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var acc = select(vec4<f32>(0.0), dq4(row0, c), j0 > 0u);
            for (var jj = 0u; jj < BLOCK; jj++) {
                acc = fma(vec4<f32>(s[jj]), k4(kv0 + min(j0 + jj, n - 1u) * p.head_dim, c), acc);
            }
            store_dq4(row0, c, acc);
        }
    }
    if (n == 0u) {
        for (var c = 0u; c < p.head_vec; c++) {
            store_dq4(row0, c, vec4<f32>(0.0));
        }
    }
}

// dv_j = Σ_i p_ij do_i,  dk_j = scale · Σ_i p_ij (do_i·v_j − delta_i) q_i over the queries that see key j;
// one key row per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live || blk.first + lid >= p.seq) {
        return;
    }
    let j = blk.first + lid;
    let row = blk.bh * p.seq + j;
    let row0 = row * p.head_dim;
    let q0 = blk.bh * p.seq; // row of query 0 of this (batch, head)
    // Key j is seen by the queries i in [i_start, seq): all when j < len, only i >= j under the causal mask.
    let i_start = select(0u, j, p.causal != 0u);
    let i_end = select(0u, p.seq, j < valid_keys(blk.bh / p.heads));

    for (var i0 = i_start; i0 < i_end; i0 += BLOCK) {
        var s: array<f32, BLOCK>;
        var dp: array<f32, BLOCK>;
        for (var ii = 0u; ii < BLOCK; ii++) {
            s[ii] = 0.0;
            dp[ii] = 0.0;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            let kc = p.scale * k4(row0, c);
            let vc = v4(row0, c);
            for (var ii = 0u; ii < BLOCK; ii++) {
                let qb = (q0 + min(i0 + ii, i_end - 1u)) * p.head_dim; // past the end: masked below
                s[ii] += dot(kc, q4(qb, c));
                dp[ii] += dot(vc, do4(qb, c));
            }
        }
        for (var ii = 0u; ii < BLOCK; ii++) {
            let qrow = q0 + min(i0 + ii, i_end - 1u);
            let pij = select(0.0, exp(min(s[ii] - stats[2u * qrow], 0.0)), i0 + ii < i_end);
            s[ii] = p.scale * pij * (dp[ii] - stats[2u * qrow + 1u]); // scale · ds_ij
            dp[ii] = pij;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var acc_k = select(vec4<f32>(0.0), dk4(row0, c), i0 > i_start);
            var acc_v = select(vec4<f32>(0.0), dv4(row0, c), i0 > i_start);
            for (var ii = 0u; ii < BLOCK; ii++) {
                let qb = (q0 + min(i0 + ii, i_end - 1u)) * p.head_dim;
                acc_k = fma(vec4<f32>(s[ii]), q4(qb, c), acc_k);
                acc_v = fma(vec4<f32>(dp[ii]), do4(qb, c), acc_v);
            }
            store_dkdv4(row0, c, acc_k, acc_v);
        }
    }
    if (i_start >= i_end) {
        for (var c = 0u; c < p.head_vec; c++) {
            store_dkdv4(row0, c, vec4<f32>(0.0), vec4<f32>(0.0));
        }
    }
}
