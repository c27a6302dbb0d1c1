// kl_normal.wgsl: the VAE's analytic KL divergence of a diagonal Gaussian posterior N(mu, exp(logvar))
// from the prior N(0, I) (Kingma & Welling 2014, appendix B), its gradient in the same pass, and a
// fixed-order total.
//   row_kl[r]      = 0.5 * sum_d (mu^2 + exp(lv) - 1 - lv)         (nats per row, unscaled)
//   loss           = scale * sum_r row_kl[r]                        (scale = beta/batch)
//   dmu[r, d]      = scale * mu
//   dlogvar[r, d]  = scale * 0.5 * (exp(lv) - 1)
// exp(lv) overflows to +inf past lv = 88.7, as in PyTorch: the loss is then inf, not clamped.
// Passes: kl_rows (one invocation per row) or kl_rows_wg (one workgroup per row) -> kl_total.
// imports: tree_sum

struct Params { rows: u32, dim: u32, scale: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;

// kl_rows / kl_rows_wg
@group(0) @binding(1) var<storage, read> mu: array<f32>;              // [rows, dim]
@group(0) @binding(2) var<storage, read> logvar: array<f32>;          // [rows, dim]
@group(0) @binding(3) var<storage, read_write> dmu: array<f32>;       // [rows, dim]
@group(0) @binding(4) var<storage, read_write> dlogvar: array<f32>;   // [rows, dim]
@group(0) @binding(5) var<storage, read_write> row_kl: array<f32>;    // [rows]

// kl_total
@group(0) @binding(1) var<storage, read> row_kl_in: array<f32>;       // [rows]
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;      // [1]

// The KL term of element i (unscaled), writing its two gradients.
fn kl_element(i: u32) -> f32 {
    let m = mu[i];
    let lv = logvar[i];
    let v = exp(lv);
    dmu[i] = p.scale * m;
    dlogvar[i] = p.scale * 0.5 * (v - 1.0);
    return 0.5 * (m * m + v - 1.0 - lv);
}

// kl_rows: one invocation per row (a CPU adapter with many rows).
@compute @workgroup_size(64)
fn kl_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = (wid.x + wid.y * nwg.x) * 64u + lid.x;
    if (r >= p.rows) {
        return;
    }
    var acc = 0.0;
    for (var d = 0u; d < p.dim; d++) {
        acc += kl_element(r * p.dim + d);
    }
    row_kl[r] = acc;
}

// kl_rows_wg: one workgroup of 128 per row (a GPU, few rows, or rows past lavapipe's loop limit).
@compute @workgroup_size(128)
fn kl_rows_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = min(wid.x + wid.y * nwg.x, p.rows - 1u);   // surplus workgroups redo the last row, writing the same values
    let t = lid.x;
    var acc = 0.0;
    for (var d = t; d < p.dim; d += WG) {
        acc += kl_element(r * p.dim + d);
    }
    let total = workgroup_sum(acc, t);
    if (t == 0u) {
        row_kl[r] = total;
    }
}

// kl_total: loss[0] = scale * sum of row_kl_in[0..rows], in a fixed order (one workgroup).
@compute @workgroup_size(128)
fn kl_total(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var r = lid.x; r < p.rows; r += WG) {
        acc += row_kl_in[r];
    }
    let s = workgroup_sum(acc, lid.x);
    if (lid.x == 0u) {
        loss[0] = p.scale * s;
    }
}
