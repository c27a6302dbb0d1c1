// attention.wgsl: fused scaled-dot-product attention that never materialises the seq×seq scores.
// q, k, v, out, dout: one layout, element (b, h, i, d) at b·stride_b + h·stride_h + i·stride_s + d: either
// [batch, heads, seq, head_dim] or [batch, seq, heads, head_dim] (a linear layer's output, no permute needed).
// lse and stats are [batch, heads, seq] whatever the layout. Each invocation owns ROWS query rows (fwd, dq)
// or key rows (dkdv), lid + r·WG within its workgroup's WG·ROWS rows of one (batch, head), and walks the other
// side in blocks of BLOCK rows: every chunk it loads serves its ROWS rows. No workgroup memory, no barrier (the
// cheap design on lavapipe, where every storage load is a gather: loads per flop is what counts). Only the
// ROWS×BLOCK scores live in registers; the head_dim-long rows stream through in vec4 chunks, and each row's
// accumulator (o, dq, dk, dv) is kept in its output buffer, read and rewritten once per block: registers and
// compile time do not grow with head_dim, and one pipeline serves every head_dim.
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
// Dropout on the probabilities (override DROPOUT; off, the code is compiled out): O = (P ⊙ D) V with
// D_ij = keep_ij / (1 − p), keep_ij = philox(seed, base + (bh·seq + i)·seq + j) as in dropout.wgsl (the mask of
// `dropout` over the [batch, heads, seq, seq] probabilities at stream offset base), regenerated in every pass,
// never stored. lse stays the undropped normaliser; then delta_i = do_i·o_i still equals Σ_j p_ij D_ij do_i·v_j,
// and the backward reads  ds_ij = p_ij (D_ij do_i·v_j − delta_i),  dv_j = Σ_i p_ij D_ij do_i.
// imports: philox

const BLOCK: u32 = 16u;        // keys (fwd, dq) or queries (dkdv) per step
const ROWS: u32 = 4u;          // rows per invocation: each loaded chunk of the other side serves ROWS rows
override WG: u32 = 32u;        // invocations per workgroup; it owns WG · ROWS consecutive rows (the launcher
                               // shrinks it for short sequences, so that few of those rows lie past seq)
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
    stride_b: u32,    // elements between batches of q, k, v, out, dout, dq, dk, dv
    stride_h: u32,    // elements between heads
    stride_s: u32,    // elements between sequence positions (rows of one head)
    _pad0: u32,
    key_lo: u32,      // dropout: Philox key (the seed)
    key_hi: u32,
    base_lo: u32,     // dropout: stream position of element (0, 0, 0)
    base_hi: u32,
    threshold: u32,   // dropout: keep iff (word >> 8) >= threshold = ceil(p · 2^24)
    keep_scale: f32,  // dropout: 1 / (1 − p)
    _pad1: u32,
    _pad2: u32,
}

override DROPOUT: bool = false; // dropout on the probabilities (the launcher sets it only when p > 0)

// D_ij of (batch·head bh, query i, key j): 1 / (1 − p) where kept, 0 where dropped. Stream position
// e = base + (bh·seq + i)·seq + j (the launcher keeps (bh·seq + i)·seq + j below 2^32); word e % 4 of the Philox
// block e / 4.
fn drop_factor(bh: u32, i: u32, j: u32) -> f32 {
    let local = (bh * p.seq + i) * p.seq + j;
    let lo = p.base_lo + local;
    let hi = p.base_hi + select(0u, 1u, lo < local);
    let words = philox(vec4<u32>((lo >> 2u) | (hi << 30u), hi >> 2u, 0u, 0u), vec2<u32>(p.key_lo, p.key_hi));
    return select(0.0, p.keep_scale, (words[lo & 3u] >> 8u) >= p.threshold);
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- forward ----------------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> q: array<f32>;          // the layout (see the header)
@group(0) @binding(2) var<storage, read> k: array<f32>;          // the layout (see the header)
@group(0) @binding(3) var<storage, read> v: array<f32>;          // the layout (see the header)
@group(0) @binding(4) var<storage, read> lengths: array<i32>;    // [batch] valid keys per sequence
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // the layout
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

// The rows a workgroup owns: WG · ROWS consecutive rows from `first` of head `bh` (invocation lid takes rows
// first + lid + r · WG); `live` is false for the grid's padding.
struct Block {
    bh: u32,
    first: u32,
    live: bool,
}

fn block_of(wid: vec3<u32>, nwg: vec3<u32>) -> Block {
    let w = wid.x + wid.y * nwg.x;
    let blocks = (p.seq + WG * ROWS - 1u) / (WG * ROWS);
    return Block(w / blocks, (w % blocks) * WG * ROWS, w < p.bh_count * blocks);
}

// Element offset of row 0 (position 0, d = 0) of (batch, head) bh.
fn head_base(bh: u32) -> u32 {
    return (bh / p.heads) * p.stride_b + (bh % p.heads) * p.stride_h;
}

fn hsum(x: vec4<f32>) -> f32 {
    return (x.x + x.y) + (x.z + x.w);
}

// out[row] = softmax_j(s_row,j) · v,  lse[row] = log Σ_j exp(s_row,j); ROWS query rows per invocation.
@compute @workgroup_size(WG)
fn attention_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live || blk.first + lid >= p.seq) {
        return;
    }
    let len = valid_keys(blk.bh / p.heads);
    let kv0 = head_base(blk.bh); // start of key/value row 0 of this (batch, head)
    var live: array<bool, ROWS>;
    var n: array<u32, ROWS>;      // row r sees keys 0..n[r] (0 for a row past seq)
    var row: array<u32, ROWS>;    // row r of lse (clamped to the last one past seq)
    var row0: array<u32, ROWS>;   // start of row r
    var m: array<f32, ROWS>;      // running max of the scores
    var l: array<f32, ROWS>;      // running Σ exp(s − m); out holds Σ exp(s − m) v
    var n_hi = 0u;
    for (var r = 0u; r < ROWS; r++) {
        let i = blk.first + lid + r * WG;
        live[r] = i < p.seq;
        let ic = min(i, p.seq - 1u);
        n[r] = select(0u, select(len, min(len, ic + 1u), p.causal != 0u), live[r]);
        row[r] = blk.bh * p.seq + ic;
        row0[r] = kv0 + ic * p.stride_s;
        m[r] = NEG_BIG;
        l[r] = 0.0;
        n_hi = max(n_hi, n[r]);
    }
    for (var j0 = 0u; j0 < n_hi; j0 += BLOCK) {
        var s: array<f32, ROWS * BLOCK>; // s[r · BLOCK + jj]
        for (var e = 0u; e < ROWS * BLOCK; e++) {
            s[e] = 0.0;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var qc: array<vec4<f32>, ROWS>;
            for (var r = 0u; r < ROWS; r++) {
                qc[r] = p.scale * q4(row0[r], c);
            }
            for (var jj = 0u; jj < BLOCK; jj++) {
                let kc = k4(kv0 + min(j0 + jj, n_hi - 1u) * p.stride_s, c); // past n: masked below
                for (var r = 0u; r < ROWS; r++) {
                    s[r * BLOCK + jj] += dot(qc[r], kc);
                }
            }
        }
        var correction: array<f32, ROWS>;
        for (var r = 0u; r < ROWS; r++) {
            var m_new = m[r];
            for (var jj = 0u; jj < BLOCK; jj++) {
                m_new = max(m_new, select(NEG_BIG, s[r * BLOCK + jj], j0 + jj < n[r]));
            }
            correction[r] = exp(m[r] - m_new);
            l[r] *= correction[r];
            for (var jj = 0u; jj < BLOCK; jj++) {
                let e = r * BLOCK + jj;
                s[e] = select(0.0, exp(s[e] - m_new), j0 + jj < n[r]); // p_ij · exp(lse_i − m_new)
                l[r] += s[e];
                if (DROPOUT) {
                    s[e] *= drop_factor(blk.bh, row[r] % p.seq, j0 + jj); // l keeps the undropped sum
                }
            }
            m[r] = m_new;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var o: array<vec4<f32>, ROWS>;
            for (var r = 0u; r < ROWS; r++) {
                o[r] = vec4<f32>(0.0);
                if (live[r] && j0 > 0u) {
                    o[r] = correction[r] * out4(row0[r], c);
                }
            }
            for (var jj = 0u; jj < BLOCK; jj++) {
                let vc = v4(kv0 + min(j0 + jj, n_hi - 1u) * p.stride_s, c);
                for (var r = 0u; r < ROWS; r++) {
                    o[r] = fma(vec4<f32>(s[r * BLOCK + jj]), vc, o[r]);
                }
            }
            for (var r = 0u; r < ROWS; r++) {
                if (live[r]) {
                    store_out4(row0[r], c, o[r]);
                }
            }
        }
    }
    // Normalise (a row with no key was never written: zeros).
    for (var r = 0u; r < ROWS; r++) {
        if (live[r]) {
            let inv_l = select(0.0, 1.0 / l[r], l[r] > 0.0);
            for (var c = 0u; c < p.head_vec; c++) {
                store_out4(row0[r], c, select(vec4<f32>(0.0), inv_l * out4(row0[r], c), n[r] > 0u));
            }
            lse[row[r]] = select(p.neg_inf, m[r] + log(l[r]), l[r] > 0.0);
        }
    }
}

// ---- backward -------------------------------------------------------------------------------------------
// Bindings 1-4 (q, k, v, lengths) are shared with the forward; the rest reuse slots 5.. per entry point.
@group(0) @binding(5) var<storage, read> dout: array<f32>;          // the layout                      (dq, dkdv)
@group(0) @binding(6) var<storage, read> stats: array<f32>;         // [batch, heads, seq, 2] (lse, delta) (dq, dkdv)
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;      // the layout                      (dq)
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;      // the layout                      (dkdv)
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;      // the layout                      (dkdv)

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
@group(0) @binding(1) var<storage, read> stats_o: array<f32>;            // the layout: forward out
@group(0) @binding(2) var<storage, read> stats_do: array<f32>;           // the layout: dout
@group(0) @binding(3) var<storage, read> stats_lse: array<f32>;          // [batch, heads, seq] forward lse
@group(0) @binding(4) var<storage, read_write> stats_out: array<f32>;    // [batch, heads, seq, 2] (lse, delta)

// stats[row] = (lse_row, delta_row = do_row·o_row); one row per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG;
    if (row >= p.rows) {
        return;
    }
    let row0 = head_base(row / p.seq) + (row % p.seq) * p.stride_s;
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

// dq_i = scale · Σ_j p_ij (do_i·v_j − delta_i) k_j over the keys of query row i; ROWS query rows per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live || blk.first + lid >= p.seq) {
        return;
    }
    let len = valid_keys(blk.bh / p.heads);
    let kv0 = head_base(blk.bh);
    var live: array<bool, ROWS>;
    var n: array<u32, ROWS>;
    var row0: array<u32, ROWS>;
    var lse_i: array<f32, ROWS>;
    var delta_i: array<f32, ROWS>;
    var row_i: array<u32, ROWS>;  // query index of row r (clamped)
    var n_hi = 0u;
    for (var r = 0u; r < ROWS; r++) {
        let i = blk.first + lid + r * WG;
        live[r] = i < p.seq;
        let ic = min(i, p.seq - 1u);
        row_i[r] = ic;
        n[r] = select(0u, select(len, min(len, ic + 1u), p.causal != 0u), live[r]);
        let row = blk.bh * p.seq + ic;
        row0[r] = kv0 + ic * p.stride_s;
        lse_i[r] = stats[2u * row];
        delta_i[r] = stats[2u * row + 1u];
        n_hi = max(n_hi, n[r]);
    }
    for (var j0 = 0u; j0 < n_hi; j0 += BLOCK) {
        var s: array<f32, ROWS * BLOCK>;  // s[r · BLOCK + jj], then scale · ds
        var dp: array<f32, ROWS * BLOCK>; // do_i·v_j
        for (var e = 0u; e < ROWS * BLOCK; e++) {
            s[e] = 0.0;
            dp[e] = 0.0;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var qc: array<vec4<f32>, ROWS>;
            var dc: array<vec4<f32>, ROWS>;
            for (var r = 0u; r < ROWS; r++) {
                qc[r] = p.scale * q4(row0[r], c);
                dc[r] = do4(row0[r], c);
            }
            for (var jj = 0u; jj < BLOCK; jj++) {
                let kb = kv0 + min(j0 + jj, n_hi - 1u) * p.stride_s;
                let kc = k4(kb, c);
                let vc = v4(kb, c);
                for (var r = 0u; r < ROWS; r++) {
                    s[r * BLOCK + jj] += dot(qc[r], kc);
                    dp[r * BLOCK + jj] += dot(dc[r], vc);
                }
            }
        }
        for (var r = 0u; r < ROWS; r++) {
            for (var jj = 0u; jj < BLOCK; jj++) {
                // s <= lse: the clamp only absorbs rounding (and keeps a masked row's exp finite).
                let e = r * BLOCK + jj;
                let pij = select(0.0, exp(min(s[e] - lse_i[r], 0.0)), j0 + jj < n[r]);
                var dpij = dp[e];
                if (DROPOUT) {
                    dpij *= drop_factor(blk.bh, row_i[r], j0 + jj);
                }
                s[e] = p.scale * pij * (dpij - delta_i[r]);
            }
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var acc: array<vec4<f32>, ROWS>;
            for (var r = 0u; r < ROWS; r++) {
                acc[r] = vec4<f32>(0.0);
                if (live[r] && j0 > 0u) {
                    acc[r] = dq4(row0[r], c);
                }
            }
            for (var jj = 0u; jj < BLOCK; jj++) {
                let kc = k4(kv0 + min(j0 + jj, n_hi - 1u) * p.stride_s, c);
                for (var r = 0u; r < ROWS; r++) {
                    acc[r] = fma(vec4<f32>(s[r * BLOCK + jj]), kc, acc[r]);
                }
            }
            for (var r = 0u; r < ROWS; r++) {
                if (live[r]) {
                    store_dq4(row0[r], c, acc[r]);
                }
            }
        }
    }
    if (n_hi == 0u) { // no key for any row (len = 0): zeros
        for (var r = 0u; r < ROWS; r++) {
            if (live[r]) {
                for (var c = 0u; c < p.head_vec; c++) {
                    store_dq4(row0[r], c, vec4<f32>(0.0));
                }
            }
        }
    }
}

// dv_j = Σ_i p_ij do_i,  dk_j = scale · Σ_i p_ij (do_i·v_j − delta_i) q_i over the queries that see key j;
// ROWS key rows per invocation.
@compute @workgroup_size(WG)
fn attention_bwd_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let blk = block_of(wid, nwg);
    if (!blk.live || blk.first + lid >= p.seq) {
        return;
    }
    let len = valid_keys(blk.bh / p.heads);
    let q0 = blk.bh * p.seq; // row of query 0 of this (batch, head) in stats
    let h0 = head_base(blk.bh);
    var live: array<bool, ROWS>;
    var j: array<u32, ROWS>;
    var row0: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        let jr = blk.first + lid + r * WG;
        live[r] = jr < p.seq;
        j[r] = min(jr, p.seq - 1u);
        row0[r] = h0 + j[r] * p.stride_s;
    }
    // Key j is seen by the queries i in [0, seq) when j < len, only i >= j under the causal mask. This
    // invocation walks queries from its first key (causal) or 0; the masks below sort out each row.
    let i_start = select(0u, j[0], p.causal != 0u);
    let i_end = select(0u, p.seq, j[0] < len);

    for (var i0 = i_start; i0 < i_end; i0 += BLOCK) {
        var s: array<f32, ROWS * BLOCK>;  // s[r · BLOCK + ii], then scale · ds
        var dp: array<f32, ROWS * BLOCK>; // do_i·v_j, then p_ij
        for (var e = 0u; e < ROWS * BLOCK; e++) {
            s[e] = 0.0;
            dp[e] = 0.0;
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var kc: array<vec4<f32>, ROWS>;
            var vc: array<vec4<f32>, ROWS>;
            for (var r = 0u; r < ROWS; r++) {
                kc[r] = p.scale * k4(row0[r], c);
                vc[r] = v4(row0[r], c);
            }
            for (var ii = 0u; ii < BLOCK; ii++) {
                let qb = h0 + min(i0 + ii, i_end - 1u) * p.stride_s; // past the end: masked below
                let qc = q4(qb, c);
                let dc = do4(qb, c);
                for (var r = 0u; r < ROWS; r++) {
                    s[r * BLOCK + ii] += dot(kc[r], qc);
                    dp[r * BLOCK + ii] += dot(vc[r], dc);
                }
            }
        }
        for (var ii = 0u; ii < BLOCK; ii++) {
            let i = i0 + ii;
            let qrow = q0 + min(i, i_end - 1u);
            let lse_i = stats[2u * qrow];
            let delta_i = stats[2u * qrow + 1u];
            for (var r = 0u; r < ROWS; r++) {
                let e = r * BLOCK + ii;
                let seen = live[r] && i < i_end && j[r] < len && (p.causal == 0u || i >= j[r]);
                let pij = select(0.0, exp(min(s[e] - lse_i, 0.0)), seen);
                var dij = 1.0;
                if (DROPOUT) {
                    dij = drop_factor(blk.bh, min(i, p.seq - 1u), j[r]);
                }
                s[e] = p.scale * pij * (dij * dp[e] - delta_i);
                dp[e] = pij * dij;
            }
        }
        for (var c = 0u; c < p.head_vec; c++) {
            var acc_k: array<vec4<f32>, ROWS>;
            var acc_v: array<vec4<f32>, ROWS>;
            for (var r = 0u; r < ROWS; r++) {
                acc_k[r] = vec4<f32>(0.0);
                acc_v[r] = vec4<f32>(0.0);
                if (live[r] && i0 > i_start) {
                    acc_k[r] = dk4(row0[r], c);
                    acc_v[r] = dv4(row0[r], c);
                }
            }
            for (var ii = 0u; ii < BLOCK; ii++) {
                let qb = h0 + min(i0 + ii, i_end - 1u) * p.stride_s;
                let qc = q4(qb, c);
                let dc = do4(qb, c);
                for (var r = 0u; r < ROWS; r++) {
                    acc_k[r] = fma(vec4<f32>(s[r * BLOCK + ii]), qc, acc_k[r]);
                    acc_v[r] = fma(vec4<f32>(dp[r * BLOCK + ii]), dc, acc_v[r]);
                }
            }
            for (var r = 0u; r < ROWS; r++) {
                if (live[r]) {
                    store_dkdv4(row0[r], c, acc_k[r], acc_v[r]);
                }
            }
        }
    }
    if (i_start >= i_end) { // no valid key among this invocation's rows: zeros
        for (var r = 0u; r < ROWS; r++) {
            if (live[r]) {
                for (var c = 0u; c < p.head_vec; c++) {
                    store_dkdv4(row0[r], c, vec4<f32>(0.0), vec4<f32>(0.0));
                }
            }
        }
    }
}

// ---- the matmul path ------------------------------------------------------------------------------------------
// Where the scores fit a memory budget, the launcher may compute the products with the matmul kernels (S = Q·Kᵀ,
// O = P·V, and in the backward dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q, dV = Pᵀ·dO) and only the row-wise softmax
// steps here: it materialises [batch·heads, seq, seq], but the matmul kernels share loads across lanes, which
// the per-row kernels above cannot. One invocation per row (bh, i) of scores.
@group(0) @binding(1) var<storage, read> probs_s: array<f32>;          // [batch·heads, seq, seq] S = Q·Kᵀ
@group(0) @binding(2) var<storage, read> probs_lengths: array<i32>;    // [batch]
@group(0) @binding(3) var<storage, read_write> probs_p: array<f32>;    // [batch·heads, seq, seq] P
@group(0) @binding(4) var<storage, read_write> probs_lse: array<f32>;  // [batch·heads, seq]

// Keys row i of (batch, head) bh sees: j < n (masked by length, and by i under the causal mask). Both
// attention_probs_* entry points bind the lengths at slot 2.
fn probs_keys(bh: u32, i: u32) -> u32 {
    var len = p.seq;
    if (p.has_lengths != 0u) {
        len = u32(clamp(probs_lengths[bh / p.heads], 0, i32(p.seq)));
    }
    return select(len, min(len, i + 1u), p.causal != 0u);
}

// p_ij = exp(scale·s_ij − lse_i) for j < n, 0 elsewhere;  lse_i = log Σ_{j<n} exp(scale·s_ij) (−inf if n = 0).
@compute @workgroup_size(64)
fn attention_probs_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if (row >= p.rows) {
        return;
    }
    let n = probs_keys(row / p.seq, row % p.seq);
    let base = row * p.seq;
    var m = NEG_BIG;
    for (var j = 0u; j < n; j++) {
        m = max(m, p.scale * probs_s[base + j]);
    }
    var l = 0.0;
    for (var j = 0u; j < n; j++) {
        let e = exp(p.scale * probs_s[base + j] - m);
        probs_p[base + j] = e;
        l += e;
    }
    let inv_l = select(0.0, 1.0 / l, n > 0u);
    for (var j = 0u; j < p.seq; j++) {
        var pj = select(0.0, probs_p[base + j] * inv_l, j < n);
        if (DROPOUT) {
            pj *= drop_factor(row / p.seq, row % p.seq, j);
        }
        probs_p[base + j] = pj;
    }
    probs_lse[row] = select(p.neg_inf, m + log(l), n > 0u);
}

// Backward, in place: from S (in s_p) and dP = dO·Vᵀ (in dp_ds), with p_ij recomputed from lse,
//   s_p   ← p_ij
//   dp_ds ← ds_ij = scale · p_ij · (dp_ij − delta_i),  delta_i = Σ_j p_ij dp_ij   (0 for masked keys)
// Slot 2 holds the lengths (probs_lengths), as in the forward.
@group(0) @binding(1) var<storage, read> grad_lse: array<f32>;          // [batch·heads, seq]
@group(0) @binding(3) var<storage, read_write> s_p: array<f32>;         // [batch·heads, seq, seq]
@group(0) @binding(4) var<storage, read_write> dp_ds: array<f32>;       // [batch·heads, seq, seq]

@compute @workgroup_size(64)
fn attention_probs_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if (row >= p.rows) {
        return;
    }
    let n = probs_keys(row / p.seq, row % p.seq);
    let base = row * p.seq;
    let lse = grad_lse[row];
    var delta = 0.0;
    if (DROPOUT) {
        // With D (see the header): s_p <- p_ij D_ij (what dV = (P ⊙ D)T dO reads), dp_ds <- scale p_ij (D_ij dp_ij -
        // delta), delta = Σ_j p_ij D_ij dp_ij. The first loop keeps p_ij with its sign marking a dropped entry,
        // so the mask is generated once.
        for (var j = 0u; j < p.seq; j++) {
            let pij = select(0.0, exp(min(p.scale * s_p[base + j] - lse, 0.0)), j < n);
            let dij = drop_factor(row / p.seq, row % p.seq, j);
            s_p[base + j] = select(-pij, pij, dij != 0.0);
            delta += pij * dij * dp_ds[base + j];
        }
        for (var j = 0u; j < p.seq; j++) {
            let sp = s_p[base + j];
            let pij = abs(sp);
            let dij = select(0.0, p.keep_scale, sp >= 0.0);
            s_p[base + j] = pij * dij;
            dp_ds[base + j] = p.scale * pij * (dij * dp_ds[base + j] - delta);
        }
        return;
    }
    for (var j = 0u; j < p.seq; j++) {
        // s <= lse: the clamp only absorbs rounding
        let pij = select(0.0, exp(min(p.scale * s_p[base + j] - lse, 0.0)), j < n);
        s_p[base + j] = pij;
        delta += pij * dp_ds[base + j];
    }
    for (var j = 0u; j < p.seq; j++) {
        dp_ds[base + j] = p.scale * s_p[base + j] * (dp_ds[base + j] - delta);
    }
}
