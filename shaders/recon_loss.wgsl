// recon_loss.wgsl: MAE's reconstruction loss (facebookresearch/mae, models_mae.py forward_loss) and d loss / d pred.
//   rows r = (batch, patch) of pred, target [rows, dim]; mask [rows] (1 = masked patch, counted)
//   norm_pix: mu = mean(t)   var = sum((t - mu)^2) / (dim - 1)   (unbiased, torch.var)   t' = (t - mu) / sqrt(var + 1e-6)
//   mse_r = sum_d (pred - t')^2 / dim        loss = sum_r mse_r * mask_r / msum,   msum = sum_r mask_r
//   grad[r, d] = 2 (pred - t') / dim * mask_r / msum                 (loss 0 and zero gradient when msum == 0)
// Passes: recon_mask_sum (one workgroup) -> recon_rows or recon_rows_wg -> recon_total (one workgroup),
// every sum in a fixed order.
// imports: tree_sum

struct Params { rows: u32, dim: u32, norm_pix: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;

// recon_mask_sum (reads mask; writes msum) and recon_total (reads row_loss; writes loss): one workgroup each.
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> sum_out: array<f32>;   // [1]

// recon_sum: sum_out[0] = sum of values[0..rows] in a fixed order (mask sum, then the total of row losses).
@compute @workgroup_size(128)
fn recon_sum(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var r = lid.x; r < p.rows; r += WG) {
        acc += values[r];
    }
    let s = workgroup_sum(acc, lid.x);
    if (lid.x == 0u) {
        sum_out[0] = s;
    }
}

// recon_rows / recon_rows_wg (reads pred, target, mask, msum; writes grad, row_loss)
@group(0) @binding(1) var<storage, read> pred: array<f32>;          // [rows, dim]
@group(0) @binding(2) var<storage, read> target_px: array<f32>;     // [rows, dim]
@group(0) @binding(3) var<storage, read> mask: array<f32>;          // [rows]
@group(0) @binding(4) var<storage, read> msum: array<f32>;          // [1]
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;    // [rows, dim]
@group(0) @binding(6) var<storage, read_write> row_loss: array<f32>; // [rows], mse_r * mask_r / msum

// mask_r / msum, or 0 when no patch is counted.
fn row_weight(r: u32) -> f32 {
    let total = msum[0];
    return select(0.0, mask[r] / total, total != 0.0);
}

// recon_rows: one invocation per row (a CPU adapter with many rows).
@compute @workgroup_size(64)
fn recon_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = (wid.x + wid.y * nwg.x) * 64u + lid.x;
    if (r >= p.rows) {
        return;
    }
    let base = r * p.dim;
    let dimf = f32(p.dim);
    var mu = 0.0;
    var sd = 1.0;
    if (p.norm_pix != 0u) {
        var s = 0.0;
        for (var d = 0u; d < p.dim; d++) {
            s += target_px[base + d];
        }
        mu = s / dimf;
        var q = 0.0;
        for (var d = 0u; d < p.dim; d++) {
            let c = target_px[base + d] - mu;
            q += c * c;
        }
        sd = sqrt(q / (dimf - 1.0) + 1e-6);
    }
    let w = row_weight(r);
    let gscale = 2.0 * w / dimf;
    var se = 0.0;
    for (var d = 0u; d < p.dim; d++) {
        let diff = pred[base + d] - (target_px[base + d] - mu) / sd;
        se += diff * diff;
        grad[base + d] = gscale * diff;
    }
    row_loss[r] = se / dimf * w;
}

// recon_rows_wg: one workgroup of 128 per row (a GPU, or few rows): strided sums, fixed trees.
@compute @workgroup_size(128)
fn recon_rows_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = min(wid.x + wid.y * nwg.x, p.rows - 1u);   // surplus workgroups redo the last row, writing the same values
    let t = lid.x;
    let base = r * p.dim;
    let dimf = f32(p.dim);
    var mu = 0.0;
    var sd = 1.0;
    if (p.norm_pix != 0u) {   // uniform
        var s = 0.0;
        for (var d = t; d < p.dim; d += WG) {
            s += target_px[base + d];
        }
        mu = workgroup_sum(s, t) / dimf;
        var q = 0.0;
        for (var d = t; d < p.dim; d += WG) {
            let c = target_px[base + d] - mu;
            q += c * c;
        }
        sd = sqrt(workgroup_sum(q, t) / (dimf - 1.0) + 1e-6);
    }
    let w = row_weight(r);
    let gscale = 2.0 * w / dimf;
    var se = 0.0;
    for (var d = t; d < p.dim; d += WG) {
        let diff = pred[base + d] - (target_px[base + d] - mu) / sd;
        se += diff * diff;
        grad[base + d] = gscale * diff;
    }
    let total = workgroup_sum(se, t);
    if (t == 0u) {
        row_loss[r] = total / dimf * w;
    }
}
