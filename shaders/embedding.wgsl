// embedding.wgsl: rows of table[vocab, dim] looked up by ids[n] (i32), and the adjoint, without float atomics.
//   fwd:  out[i, d] = table[ids[i], d], or 0 when ids[i] is outside [0, vocab)
//   bwd:  dtable[v, d] = sum over i with ids[i] == v of dy[i, d], summed in increasing i (deterministic)
//         1. span[2v] = min{i : ids[i] == v}, span[2v+1] = ~max{i : ids[i] == v}  (integer atomicMin,
//            order-free; span starts all ones)
//         2. next[i] = min{j > i : ids[j] == ids[i]} (or NONE): scans j from i+1 up to the id's last occurrence
//            and stops at the first match, so its cost is the gap to the next repeat
//         3. dtable[v, d..d+4] = walk the chain span[2v] -> next -> ... adding dy rows; 0 for unseen v.
//            One invocation per (v, 4 columns): every element of dtable is written exactly once.
// Ids outside [0, vocab) are skipped by the backward pass, as the forward pass reads them as zero rows.
// embedding_fwd4 and embedding_bwd4 are fwd and bwd for dim % 4 == 0, every row a whole number of vec4s read and
// written whole through vec4 views of the same bindings: one vec4 per invocation.

struct Params { n: u32, vocab: u32, dim: u32, col_blocks: u32 }

const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;

fn flat(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid.x;
}

fn valid(id: i32) -> bool {
    return id >= 0 && u32(id) < p.vocab;
}

// embedding_fwd (reads table, ids; writes out)
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids_fwd: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// embedding_fwd: out[i, d] = table[ids[i], d] (0 for an id outside [0, vocab)); one element per invocation.
@compute @workgroup_size(256)
fn embedding_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = flat(wid, nwg, lid);
    if (e >= p.n * p.dim) {
        return;
    }
    let i = e / p.dim;
    let d = e - i * p.dim;
    let id = ids_fwd[i];
    var v = 0.0;
    if (valid(id)) {
        v = table[u32(id) * p.dim + d];
    }
    out[e] = v;
}

// embedding_fwd4 views: rows of dim / 4 = col_blocks vec4s
@group(0) @binding(1) var<storage, read> table4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;

// embedding_fwd4: out4[i, c] = table4[ids[i], c] (0 for an id outside [0, vocab)); one vec4 per invocation.
@compute @workgroup_size(256)
fn embedding_fwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = flat(wid, nwg, lid);
    if (e >= p.n * p.col_blocks) {
        return;
    }
    let i = e / p.col_blocks;
    let c = e - i * p.col_blocks;
    let id = ids_fwd[i];
    var v = vec4<f32>(0.0);
    if (valid(id)) {
        v = table4[u32(id) * p.col_blocks + c];
    }
    out4[e] = v;
}

// embedding_span (reads ids; writes span)
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> span_atomic: array<atomic<u32>>;   // [2*vocab]

// embedding_span: span[2v] = min i, span[2v+1] = ~(max i) over tokens i with ids[i] == v (span starts NONE).
@compute @workgroup_size(256)
fn embedding_span(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let id = ids[i];
    if (valid(id)) {
        atomicMin(&span_atomic[2u * u32(id)], i);
        atomicMin(&span_atomic[2u * u32(id) + 1u], ~i);
    }
}

// embedding_next (reads ids, span; writes next)
@group(0) @binding(2) var<storage, read> span: array<u32>;          // [2*vocab]
@group(0) @binding(3) var<storage, read_write> next: array<u32>;    // [n]

// embedding_next: next[i] = the next token j > i with the same id, or NONE (also for skipped ids).
@compute @workgroup_size(256)
fn embedding_next(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let id = ids[i];
    var j = NONE;
    if (valid(id)) {
        let last = ~span[2u * u32(id) + 1u];
        for (var k = i + 1u; k <= last; k++) {
            if (ids[k] == id) {
                j = k;
                break;
            }
        }
    }
    next[i] = j;
}

// embedding_bwd (reads dy, span, next; writes dtable)
@group(0) @binding(1) var<storage, read> dy: array<f32>;            // [n, dim]
@group(0) @binding(2) var<storage, read> span_b: array<u32>;        // [2*vocab]
@group(0) @binding(3) var<storage, read> next_b: array<u32>;        // [n]
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>;  // [vocab, dim]

// embedding_bwd: dtable[v, c..c+4] = sum of dy[i, c..c+4] along v's chain of tokens, in increasing i.
@compute @workgroup_size(256)
fn embedding_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = flat(wid, nwg, lid);
    if (e >= p.vocab * p.col_blocks) {
        return;
    }
    let v = e / p.col_blocks;
    let c = (e - v * p.col_blocks) * 4u;
    let w = min(4u, p.dim - c);
    var acc = vec4<f32>(0.0);
    var i = span_b[2u * v];
    while (i != NONE) {
        let row = i * p.dim + c;
        if (w == 4u) {
            acc += vec4<f32>(dy[row], dy[row + 1u], dy[row + 2u], dy[row + 3u]);
        } else {
            for (var k = 0u; k < w; k++) {
                acc[k] += dy[row + k];
            }
        }
        i = next_b[i];
    }
    let base = v * p.dim + c;
    for (var k = 0u; k < w; k++) {
        dtable[base + k] = acc[k];
    }
}

// embedding_bwd4 views: rows of dim / 4 = col_blocks vec4s
@group(0) @binding(1) var<storage, read> dy4: array<vec4<f32>>;            // [n, dim / 4]
@group(0) @binding(4) var<storage, read_write> dtable4: array<vec4<f32>>;  // [vocab, dim / 4]

// embedding_bwd4: dtable4[v, c] = sum of dy4[i, c] along v's chain of tokens, in increasing i.
@compute @workgroup_size(256)
fn embedding_bwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = flat(wid, nwg, lid);
    if (e >= p.vocab * p.col_blocks) {
        return;
    }
    let v = e / p.col_blocks;
    let c = e - v * p.col_blocks;
    var acc = vec4<f32>(0.0);
    var i = span_b[2u * v];
    while (i != NONE) {
        acc += dy4[i * p.col_blocks + c];
        i = next_b[i];
    }
    dtable4[e] = acc;
}
