// batchnorm.wgsl: BatchNorm1d over the rows of x[rows, dim], per column d, as torch.nn.BatchNorm1d:
//   training:  mu_d = sum_n x[n, d] / rows      var_d = sum_n (x[n, d] - mu_d)^2 / rows   (biased, two passes)
//              running_mean_d = (1 - m) running_mean_d + m mu_d
//              running_var_d  = (1 - m) running_var_d  + m var_d · rows / (rows - 1)      (unbiased; when tracked)
//   eval:      mu_d = running_mean_d, var_d = running_var_d
//   both:      r_d = 1 / sqrt(var_d + eps)   xh = (x - mu_d) r_d   y = xh gamma_d + beta_d   (gamma = 1, beta = 0
//              without affine)
//   bwd (training): g = dy gamma_d   dx = r_d (g - sum_n g / rows - xh sum_n (g xh) / rows)
//   bwd (eval):     dx = r_d dy gamma_d
//   dgamma_d = sum_n dy xh,  dbeta_d = sum_n dy   (affine only)
// One invocation per column: each sum runs over the rows in a fixed order (deterministic, no atomics), and
// neighbouring invocations read neighbouring columns. Sums are blocked (BLOCK rows at a time, then the
// blocks) so rounding grows with rows/BLOCK + BLOCK. mean and rstd are kept for the backward pass.

struct Params {
    rows: u32,
    dim: u32,
    eps: f32,
    momentum: f32,
    training: u32,  // 1: batch statistics; 0: running statistics
    affine: u32,    // 1: gamma and beta are real
    track: u32,     // 1 (training): update the running statistics in place
    _pad: u32,
}

const BLOCK: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;

// bn_fwd (reads x, gamma, beta; writes y, mean, rstd, running_mean, running_var)
@group(0) @binding(1) var<storage, read> x: array<f32>;                   // [rows, dim]
@group(0) @binding(2) var<storage, read> gamma: array<f32>;               // [dim] (a dummy without affine)
@group(0) @binding(3) var<storage, read> beta: array<f32>;                // [dim] (a dummy without affine)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;             // [rows, dim]
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;          // [dim], kept for bwd
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;          // [dim], kept for bwd
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;  // [dim] (a dummy when untracked)
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;   // [dim] (a dummy when untracked)

fn column(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 64u;
}

// bn_fwd: y, mean, rstd of column d (and its running statistics).
@compute @workgroup_size(64)
fn bn_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let d = column(gid, nwg);
    if (d >= p.dim) {
        return;
    }
    var mu: f32;
    var var_b: f32;
    if (p.training != 0u) {
        var total = 0.0;
        for (var n0 = 0u; n0 < p.rows; n0 += BLOCK) {
            var acc = 0.0;
            for (var n = n0; n < min(n0 + BLOCK, p.rows); n++) {
                acc += x[n * p.dim + d];
            }
            total += acc;
        }
        mu = total / f32(p.rows);
        var sq = 0.0;
        for (var n0 = 0u; n0 < p.rows; n0 += BLOCK) {
            var acc = 0.0;
            for (var n = n0; n < min(n0 + BLOCK, p.rows); n++) {
                let c = x[n * p.dim + d] - mu;
                acc += c * c;
            }
            sq += acc;
        }
        var_b = sq / f32(p.rows);
        if (p.track != 0u) {
            let unbiased = sq / f32(max(p.rows, 2u) - 1u);
            running_mean[d] = (1.0 - p.momentum) * running_mean[d] + p.momentum * mu;
            running_var[d] = (1.0 - p.momentum) * running_var[d] + p.momentum * unbiased;
        }
    } else {
        mu = running_mean[d];
        var_b = running_var[d];
    }
    let r = 1.0 / sqrt(var_b + p.eps);
    mean[d] = mu;
    rstd[d] = r;
    var g = 1.0;
    var b = 0.0;
    if (p.affine != 0u) {
        g = gamma[d];
        b = beta[d];
    }
    for (var n = 0u; n < p.rows; n++) {
        y[n * p.dim + d] = (x[n * p.dim + d] - mu) * r * g + b;
    }
}

// bn_bwd (reads dy, x, gamma, mean, rstd; writes dx, dgamma, dbeta)
@group(0) @binding(1) var<storage, read> dy: array<f32>;                  // [rows, dim]
@group(0) @binding(2) var<storage, read> x_b: array<f32>;                 // [rows, dim]
@group(0) @binding(3) var<storage, read> gamma_b: array<f32>;             // [dim] (a dummy without affine)
@group(0) @binding(4) var<storage, read> saved_mean: array<f32>;          // [dim]
@group(0) @binding(5) var<storage, read> saved_rstd: array<f32>;          // [dim]
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;            // [rows, dim]
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>;        // [dim] (a dummy without affine)
@group(0) @binding(8) var<storage, read_write> dbeta: array<f32>;         // [dim] (a dummy without affine)

// bn_bwd: dx of column d, and dgamma_d, dbeta_d.
@compute @workgroup_size(64)
fn bn_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let d = column(gid, nwg);
    if (d >= p.dim) {
        return;
    }
    let mu = saved_mean[d];
    let r = saved_rstd[d];
    var g = 1.0;
    if (p.affine != 0u) {
        g = gamma_b[d];
    }
    var sum_dy = 0.0;
    var sum_dy_xh = 0.0;
    for (var n0 = 0u; n0 < p.rows; n0 += BLOCK) {
        var a = 0.0;
        var b = 0.0;
        for (var n = n0; n < min(n0 + BLOCK, p.rows); n++) {
            let e = n * p.dim + d;
            a += dy[e];
            b += dy[e] * (x_b[e] - mu) * r;
        }
        sum_dy += a;
        sum_dy_xh += b;
    }
    if (p.affine != 0u) {
        dgamma[d] = sum_dy_xh;
        dbeta[d] = sum_dy;
    }
    let inv_rows = 1.0 / f32(p.rows);
    for (var n = 0u; n < p.rows; n++) {
        let e = n * p.dim + d;
        if (p.training != 0u) {
            let xh = (x_b[e] - mu) * r;
            dx[e] = g * r * (dy[e] - sum_dy * inv_rows - xh * sum_dy_xh * inv_rows);
        } else {
            dx[e] = g * r * dy[e];
        }
    }
}
