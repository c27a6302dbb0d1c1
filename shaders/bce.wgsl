// bce.wgsl: binary cross-entropy with logits (the Bernoulli likelihood of a decoder's logits z against
// targets t in [0, 1]), its gradient in the same pass, and a fixed-order total.
//   l(z, t) = -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)) = max(z, 0) - z t + log1p(exp(-|z|))
//             (never exp of a positive number: no overflow, and no log(0) for saturated logits);
//             max(z, 0) - z t is taken as z (1 - t) for z >= 0 and -z t below, so that a target near 1 does not
//             cancel two large terms
//   row_loss[r] = sum_d l(z[r, d], t[r, d])                      (nats per row, unscaled)
//   loss        = scale * sum_r row_loss[r]                        (scale = 1/batch: nats per image)
//   grad[r, d]  = scale * (sigmoid(z) - t), taken as (1 - t) - e/(1 + e) for z >= 0 and e/(1 + e) - t below,
//                 e = exp(-|z|): sigmoid(z) = 1 - e/(1 + e) for z >= 0, and a target of 1 then gives -e/(1 + e)
//                 to full relative accuracy instead of the rounding of sigmoid(z) near 1
// log1p(u) for u = exp(-|z|) in (0, 1] is log_series.wgsl's two_atanh(u / (2 + u)): relative accuracy for tiny u.
// Passes: bce_rows (one invocation per row) or bce_rows_wg (one workgroup per row) -> bce_total.
// imports: tree_sum, log_series

struct Params { rows: u32, dim: u32, scale: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;

// bce_rows / bce_rows_wg
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // [rows, dim]
@group(0) @binding(2) var<storage, read> target_px: array<f32>;       // [rows, dim]
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;      // [rows, dim]
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;  // [rows]

// bce_total
@group(0) @binding(1) var<storage, read> row_loss_in: array<f32>;     // [rows]
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;      // [1]

// Loss and d loss / d z of one element, unscaled: (l, sigmoid(z) - t).
fn bce(z: f32, t: f32) -> vec2<f32> {
    let e = exp(-abs(z));
    let l = select(-z * t, z * (1.0 - t), z >= 0.0) + two_atanh(e / (2.0 + e));   // log(1 + e)
    let small = e / (1.0 + e);   // sigmoid(-|z|)
    return vec2<f32>(l, select(small - t, (1.0 - t) - small, z >= 0.0));
}

// bce_rows: one invocation per row (a CPU adapter with many rows).
@compute @workgroup_size(64)
fn bce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = (wid.x + wid.y * nwg.x) * 64u + lid.x;
    if (r >= p.rows) {
        return;
    }
    let base = r * p.dim;
    var acc = 0.0;
    for (var d = 0u; d < p.dim; d++) {
        let lg = bce(logits[base + d], target_px[base + d]);
        acc += lg.x;
        grad[base + d] = p.scale * lg.y;
    }
    row_loss[r] = acc;
}

// bce_rows_wg: one workgroup of 128 per row (a GPU, few rows, or rows past lavapipe's loop limit).
@compute @workgroup_size(128)
fn bce_rows_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = min(wid.x + wid.y * nwg.x, p.rows - 1u);   // surplus workgroups redo the last row, writing the same values
    let t = lid.x;
    let base = r * p.dim;
    var acc = 0.0;
    for (var d = t; d < p.dim; d += WG) {
        let lg = bce(logits[base + d], target_px[base + d]);
        acc += lg.x;
        grad[base + d] = p.scale * lg.y;
    }
    let total = workgroup_sum(acc, t);
    if (t == 0u) {
        row_loss[r] = total;
    }
}

// bce_total: loss[0] = scale * sum of row_loss_in[0..rows], in a fixed order (one workgroup).
@compute @workgroup_size(128)
fn bce_total(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var r = lid.x; r < p.rows; r += WG) {
        acc += row_loss_in[r];
    }
    let s = workgroup_sum(acc, lid.x);
    if (lid.x == 0u) {
        loss[0] = p.scale * s;
    }
}
