//! Layer norm, softmax and activations against f64 references: both row mappings, awkward shapes, backward
//! passes against analytic f64 gradients (themselves checked by central differences), erf accuracy, bad input.
mod common;
use common::*;
use pretext::kernels::activation::{activation_bwd, activation_fwd, erf, Activation};
use pretext::kernels::layernorm::{layernorm_bwd, layernorm_bwd_mapped, layernorm_fwd, layernorm_fwd_mapped, RowMap};
use pretext::kernels::softmax::{softmax_bwd, softmax_bwd_mapped, softmax_fwd, softmax_fwd_mapped};
use pretext::{DType, Error, Tensor};

/// (rows, dim): one element, primes, one vec4 per row, a BERT-width row, a prime width past 4096, a vocabulary row, and many
/// rows of a small dim (enough blocks for both stages of the dγ/dβ reduction).
const SHAPES: [(usize, usize); 8] = [(1, 1), (3, 7), (3, 4), (17, 768), (5, 4099), (2, 30522), (1000, 32), (333, 65)];
/// One invocation per row, and a workgroup per row at the sizes that take each path of the reduction
/// (one leaf of 8, 2 leaves of 16, 16 leaves of 16; 8 is lavapipe's pick, 256 a GPU's).
const MAPS: [RowMap; 4] = [RowMap::PerInvocation, RowMap::PerWorkgroup(8), RowMap::PerWorkgroup(32), RowMap::PerWorkgroup(256)];
const EPS: f64 = 1e-5;

fn upload(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(gpu(), data, shape).unwrap()
}

fn download(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>(gpu()).unwrap()
}

/// A row with an offset and a scale, so a one-pass variance would cancel.
fn row_data(rng: &mut Rng, rows: usize, dim: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(rows * dim);
    for _ in 0..rows {
        let (offset, scale) = (rng.range(-4.0, 4.0), rng.range(0.1, 3.0));
        v.extend((0..dim).map(|_| (offset + scale * rng.normal()) as f32));
    }
    v
}

// ---------------------------------------------------------------- layer norm

/// f64 layer norm: (y, mean, rstd).
fn layernorm_ref(x: &[f64], gamma: &[f64], beta: &[f64], dim: usize, eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut y, mut mean, mut rstd) = (Vec::new(), Vec::new(), Vec::new());
    for row in x.chunks(dim) {
        let mu = row.iter().sum::<f64>() / dim as f64;
        let r = 1.0 / (row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / dim as f64 + eps).sqrt();
        y.extend(row.iter().zip(gamma).zip(beta).map(|((v, g), b)| (v - mu) * r * g + b));
        mean.push(mu);
        rstd.push(r);
    }
    (y, mean, rstd)
}

/// The analytic gradient of sum(dy ⊙ layernorm(x)) in f64: (dx, dgamma, dbeta).
fn layernorm_bwd_ref(dy: &[f64], x: &[f64], gamma: &[f64], dim: usize, eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (_, mean, rstd) = layernorm_ref(x, gamma, &vec![0.0; dim], dim, eps);
    let (mut dx, mut dgamma, mut dbeta) = (Vec::new(), vec![0.0; dim], vec![0.0; dim]);
    for (r, (xr, dyr)) in x.chunks(dim).zip(dy.chunks(dim)).enumerate() {
        let xh: Vec<f64> = xr.iter().map(|v| (v - mean[r]) * rstd[r]).collect();
        let g: Vec<f64> = dyr.iter().zip(gamma).map(|(d, w)| d * w).collect();
        let mg = g.iter().sum::<f64>() / dim as f64;
        let mgx = g.iter().zip(&xh).map(|(a, b)| a * b).sum::<f64>() / dim as f64;
        dx.extend(g.iter().zip(&xh).map(|(gj, xj)| rstd[r] * (gj - mg - xj * mgx)));
        for j in 0..dim {
            dgamma[j] += dyr[j] * xh[j];
            dbeta[j] += dyr[j];
        }
    }
    (dx, dgamma, dbeta)
}

#[test]
fn layernorm_fwd_matches_f64_for_both_row_maps() {
    let mut rng = Rng::new(11);
    for (rows, dim) in SHAPES {
        let x = row_data(&mut rng, rows, dim);
        let gamma: Vec<f32> = (0..dim).map(|_| rng.range(0.5, 1.5) as f32).collect();
        let beta = rng.vec_f32(dim);
        let (want_y, want_mean, want_rstd) = layernorm_ref(&f64s(&x), &f64s(&gamma), &f64s(&beta), dim, EPS);
        let (xt, gt, bt) = (upload(&x, &[rows, dim]), upload(&gamma, &[dim]), upload(&beta, &[dim]));
        for map in MAPS {
            let out = layernorm_fwd_mapped(gpu(), &xt, &gt, &bt, EPS as f32, map).unwrap();
            for (name, got, want) in [("y", &out.y, &want_y), ("mean", &out.mean, &want_mean), ("rstd", &out.rstd, &want_rstd)] {
                let err = rel_l2(&download(got), want);
                assert!(err <= 1e-5, "layernorm_fwd {rows}x{dim} {map:?}: {name} rel L2 error {err:.2e} > 1e-5");
            }
        }
        let out = layernorm_fwd(gpu(), &xt, &gt, &bt, EPS as f32).unwrap();
        let err = rel_l2(&download(&out.y), &want_y);
        assert!(err <= 1e-5, "layernorm_fwd {rows}x{dim} (launcher's map): y rel L2 error {err:.2e} > 1e-5");
    }
}

#[test]
fn layernorm_fwd_keeps_leading_dims_and_handles_a_folded_grid() {
    let g = gpu();
    let mut rng = Rng::new(12);
    // Rank 3: rows = 2*3, mean and rstd are [rows].
    let x = row_data(&mut rng, 6, 5);
    let (gamma, beta) = (rng.vec_f32(5), rng.vec_f32(5));
    let out = layernorm_fwd(g, &upload(&x, &[2, 3, 5]), &upload(&gamma, &[5]), &upload(&beta, &[5]), 1e-5).unwrap();
    assert_eq!(out.y.shape(), &[2, 3, 5]);
    assert_eq!(out.mean.shape(), &[6]);
    let (want, _, _) = layernorm_ref(&f64s(&x), &f64s(&gamma), &f64s(&beta), 5, EPS);
    let err = rel_l2(&download(&out.y), &want);
    assert!(err <= 1e-5, "layernorm_fwd [2,3,5]: rel L2 error {err:.2e} > 1e-5");

    // More rows than one grid dimension holds: the wide kernel's grid is folded into x and y with spare
    // workgroups, which must skip their row yet reach every barrier.
    let rows = g.limits().max_compute_workgroups_per_dimension as usize + 2;
    let x = row_data(&mut rng, rows, 2);
    let (gamma, beta) = (rng.vec_f32(2), rng.vec_f32(2));
    let (want, _, _) = layernorm_ref(&f64s(&x), &f64s(&gamma), &f64s(&beta), 2, EPS);
    let out =
        layernorm_fwd_mapped(g, &upload(&x, &[rows, 2]), &upload(&gamma, &[2]), &upload(&beta, &[2]), 1e-5, RowMap::PerWorkgroup(256))
            .unwrap();
    let err = rel_l2(&download(&out.y), &want);
    assert!(err <= 1e-5, "layernorm_fwd {rows}x2 wide (folded grid): rel L2 error {err:.2e} > 1e-5");
}

#[test]
fn layernorm_bwd_matches_the_analytic_f64_gradient() {
    let mut rng = Rng::new(13);
    for (rows, dim) in SHAPES {
        let x = row_data(&mut rng, rows, dim);
        let gamma: Vec<f32> = (0..dim).map(|_| rng.range(0.5, 1.5) as f32).collect();
        let beta = rng.vec_f32(dim);
        let dy = rng.vec_f32(rows * dim);
        let (want_dx, want_dg, want_db) = layernorm_bwd_ref(&f64s(&dy), &f64s(&x), &f64s(&gamma), dim, EPS);
        let (xt, gt, bt, dyt) = (upload(&x, &[rows, dim]), upload(&gamma, &[dim]), upload(&beta, &[dim]), upload(&dy, &[rows, dim]));
        let fwd = layernorm_fwd(gpu(), &xt, &gt, &bt, EPS as f32).unwrap();
        for map in MAPS {
            let grads = layernorm_bwd_mapped(gpu(), &dyt, &xt, &gt, &fwd.mean, &fwd.rstd, map).unwrap();
            for (name, got, want) in [("dx", &grads.dx, &want_dx), ("dgamma", &grads.dgamma, &want_dg), ("dbeta", &grads.dbeta, &want_db)] {
                let got = download(got);
                // dx of a one-element row is exactly 0 (y = beta whatever x is): compare absolutely.
                let err = if dim == 1 && name == "dx" { max_abs(&got, want) } else { rel_l2(&got, want) };
                assert!(err <= 1e-5, "layernorm_bwd {rows}x{dim} {map:?}: {name} error {err:.2e} > 1e-5");
            }
        }
        let grads = layernorm_bwd(gpu(), &dyt, &xt, &gt, &fwd.mean, &fwd.rstd).unwrap();
        let err = rel_l2(&download(&grads.dx), &want_dx);
        assert!(dim == 1 || err <= 1e-5, "layernorm_bwd {rows}x{dim} (launcher's map): dx rel L2 error {err:.2e} > 1e-5");
    }
}

#[test]
fn rows_past_lavapipes_loop_limit_are_complete() {
    // lavapipe stops an invocation's loops after 65535 iterations in all, silently; one invocation per row of
    // 100003 elements would need about 75000. The launchers must pick a mapping that finishes every row
    // (and a forced one that cannot must be refused on a CPU adapter, not computed in part).
    let g = gpu();
    let mut rng = Rng::new(16);
    let (rows, dim) = (2, 100_003);
    let x = row_data(&mut rng, rows, dim);
    let gamma: Vec<f32> = (0..dim).map(|_| rng.range(0.5, 1.5) as f32).collect();
    let beta = rng.vec_f32(dim);
    let dy = rng.vec_f32(rows * dim);
    let (xt, gt, bt, dyt) = (upload(&x, &[rows, dim]), upload(&gamma, &[dim]), upload(&beta, &[dim]), upload(&dy, &[rows, dim]));
    let fwd = layernorm_fwd(g, &xt, &gt, &bt, EPS as f32).unwrap();
    let (want_y, _, _) = layernorm_ref(&f64s(&x), &f64s(&gamma), &f64s(&beta), dim, EPS);
    let err = rel_l2(&download(&fwd.y), &want_y);
    assert!(err <= 1e-5, "layernorm_fwd {rows}x{dim}: rel L2 error {err:.2e} > 1e-5");
    let grads = layernorm_bwd(g, &dyt, &xt, &gt, &fwd.mean, &fwd.rstd).unwrap();
    let (want_dx, _, _) = layernorm_bwd_ref(&f64s(&dy), &f64s(&x), &f64s(&gamma), dim, EPS);
    let err = rel_l2(&download(&grads.dx), &want_dx);
    assert!(err <= 1e-5, "layernorm_bwd {rows}x{dim}: dx rel L2 error {err:.2e} > 1e-5");
    let y = softmax_fwd(g, &xt).unwrap();
    let got_y = download(&y);
    let err = rel_l2(&got_y, &softmax_ref(&f64s(&x), dim));
    assert!(err <= 1e-5, "softmax_fwd {rows}x{dim}: rel L2 error {err:.2e} > 1e-5");
    let dx = softmax_bwd(g, &y, &dyt).unwrap();
    let err = rel_l2(&download(&dx), &softmax_bwd_ref(&f64s(&got_y), &f64s(&dy), dim));
    assert!(err <= 1e-5, "softmax_bwd {rows}x{dim}: rel L2 error {err:.2e} > 1e-5");
    if g.is_cpu() {
        let forced = softmax_fwd_mapped(g, &xt, RowMap::PerInvocation);
        assert!(matches!(&forced, Err(Error::Invalid(m)) if m.contains("loop iterations")), "a forced row-per-invocation softmax of {dim} must be refused");
    }
}

#[test]
fn layernorm_reference_gradient_agrees_with_central_differences() {
    let mut rng = Rng::new(14);
    let (rows, dim) = (3, 5);
    let x: Vec<f64> = (0..rows * dim).map(|_| rng.normal()).collect();
    let gamma: Vec<f64> = (0..dim).map(|_| rng.range(0.5, 1.5)).collect();
    let beta: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let w: Vec<f64> = (0..rows * dim).map(|_| rng.normal()).collect(); // loss = sum(w ⊙ y), so dy = w
    let loss = |x: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
        layernorm_ref(x, gamma, beta, dim, EPS).0.iter().zip(&w).map(|(a, b)| a * b).sum()
    };
    let (dx, dgamma, dbeta) = layernorm_bwd_ref(&w, &x, &gamma, dim, EPS);
    let h = 1e-6;
    let central = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
    for i in 0..x.len() {
        let fd = central(&|d| {
            let mut xp = x.clone();
            xp[i] += d;
            loss(&xp, &gamma, &beta)
        });
        assert!((fd - dx[i]).abs() <= 1e-6 * (1.0 + fd.abs()), "layernorm ref dx[{i}]: analytic {} vs central difference {fd}", dx[i]);
    }
    for j in 0..dim {
        let fd = central(&|d| {
            let mut gp = gamma.clone();
            gp[j] += d;
            loss(&x, &gp, &beta)
        });
        assert!((fd - dgamma[j]).abs() <= 1e-6 * (1.0 + fd.abs()), "layernorm ref dgamma[{j}]: {} vs {fd}", dgamma[j]);
        let fd = central(&|d| {
            let mut bp = beta.clone();
            bp[j] += d;
            loss(&x, &gamma, &bp)
        });
        assert!((fd - dbeta[j]).abs() <= 1e-6 * (1.0 + fd.abs()), "layernorm ref dbeta[{j}]: {} vs {fd}", dbeta[j]);
    }
}

#[test]
fn layernorm_bwd_is_deterministic_and_handles_empty_shapes() {
    let g = gpu();
    let mut rng = Rng::new(15);
    let (rows, dim) = (700, 33); // 11 blocks of 64 rows in stage 1
    let x = upload(&row_data(&mut rng, rows, dim), &[rows, dim]);
    let gamma = upload(&rng.vec_f32(dim), &[dim]);
    let beta = upload(&rng.vec_f32(dim), &[dim]);
    let dy = upload(&rng.vec_f32(rows * dim), &[rows, dim]);
    let fwd = layernorm_fwd(g, &x, &gamma, &beta, 1e-5).unwrap();
    let a = layernorm_bwd(g, &dy, &x, &gamma, &fwd.mean, &fwd.rstd).unwrap();
    let b = layernorm_bwd(g, &dy, &x, &gamma, &fwd.mean, &fwd.rstd).unwrap();
    for (name, p, q) in [("dx", &a.dx, &b.dx), ("dgamma", &a.dgamma, &b.dgamma), ("dbeta", &a.dbeta, &b.dbeta)] {
        let (p, q): (Vec<u32>, Vec<u32>) = (download(p).iter().map(|v| v.to_bits()).collect(), download(q).iter().map(|v| v.to_bits()).collect());
        assert!(p == q, "layernorm_bwd {rows}x{dim}: {name} differs bitwise between two runs");
    }

    // Zero rows: empty y, dx; dgamma and dbeta are sums over no rows, so zeros.
    let x = upload(&[], &[0, 4]);
    let (gamma, beta) = (upload(&[1.0; 4], &[4]), upload(&[0.0; 4], &[4]));
    let fwd = layernorm_fwd(g, &x, &gamma, &beta, 1e-5).unwrap();
    assert_eq!((fwd.y.shape(), fwd.mean.shape()), (&[0usize, 4][..], &[0usize][..]));
    let grads = layernorm_bwd(g, &x, &x, &gamma, &fwd.mean, &fwd.rstd).unwrap();
    assert_eq!(download(&grads.dgamma), vec![0.0; 4], "layernorm_bwd over zero rows: dgamma must be zeros");
    assert_eq!(download(&grads.dbeta), vec![0.0; 4], "layernorm_bwd over zero rows: dbeta must be zeros");
}

#[test]
fn layernorm_rejects_bad_input() {
    let g = gpu();
    let x = upload(&[0.0; 12], &[3, 4]);
    let (g4, g5) = (upload(&[1.0; 4], &[4]), upload(&[1.0; 5], &[5]));
    let shape_err = |r: Result<_, Error>, want: &str| match r {
        Err(Error::Shape(m)) => assert!(m.contains(want), "message {m:?} should contain {want:?}"),
        Err(e) => panic!("expected a shape error containing {want:?}, got {e}"),
        Ok(_) => panic!("expected a shape error containing {want:?}, got Ok"),
    };
    shape_err(layernorm_fwd(g, &x, &g5, &g4, 1e-5).map(|_| ()), "layernorm_fwd: gamma has shape [5], expected [4]");
    shape_err(layernorm_fwd(g, &x, &g4, &g5, 1e-5).map(|_| ()), "layernorm_fwd: beta has shape [5], expected [4]");
    shape_err(layernorm_fwd(g, &upload(&[1.0], &[]), &g4, &g4, 1e-5).map(|_| ()), "layernorm_fwd: x has shape []");
    let xi = Tensor::from_slice(g, &[0i32; 12], &[3, 4]).unwrap();
    assert!(matches!(layernorm_fwd(g, &xi, &g4, &g4, 1e-5), Err(Error::DType(m)) if m.contains("layernorm_fwd: x is i32")));
    assert!(matches!(layernorm_fwd(g, &x, &g4, &g4, -1.0), Err(Error::Invalid(m)) if m.contains("eps")));
    let odd = RowMap::PerWorkgroup(48);
    assert!(matches!(layernorm_fwd_mapped(g, &x, &g4, &g4, 1e-5, odd), Err(Error::Invalid(m)) if m.contains("layernorm_fwd: a workgroup per row of 48")));

    let fwd = layernorm_fwd(g, &x, &g4, &g4, 1e-5).unwrap();
    let dy_bad = upload(&[0.0; 12], &[4, 3]);
    shape_err(layernorm_bwd(g, &dy_bad, &x, &g4, &fwd.mean, &fwd.rstd).map(|_| ()), "layernorm_bwd: dy has shape [4, 3], expected [3, 4]");
    shape_err(layernorm_bwd(g, &x, &x, &g5, &fwd.mean, &fwd.rstd).map(|_| ()), "layernorm_bwd: gamma has shape [5], expected [4]");
    shape_err(layernorm_bwd(g, &x, &x, &g4, &g4, &fwd.rstd).map(|_| ()), "layernorm_bwd: mean has shape [4], expected [3]");
    let rstd_i = Tensor::from_slice(g, &[0i32; 3], &[3]).unwrap();
    assert!(matches!(layernorm_bwd(g, &x, &x, &g4, &fwd.mean, &rstd_i), Err(Error::DType(m)) if m.contains("layernorm_bwd: rstd is i32")));
}

// ---------------------------------------------------------------- softmax

fn softmax_ref(x: &[f64], dim: usize) -> Vec<f64> {
    x.chunks(dim)
        .flat_map(|row| {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
            row.iter().map(move |v| (v - m).exp() / s)
        })
        .collect()
}

/// The analytic gradient of sum(dy ⊙ softmax(x)): dx = y ⊙ (dy − sum(dy ⊙ y)) per row.
fn softmax_bwd_ref(y: &[f64], dy: &[f64], dim: usize) -> Vec<f64> {
    y.chunks(dim)
        .zip(dy.chunks(dim))
        .flat_map(|(yr, dr)| {
            let dot: f64 = yr.iter().zip(dr).map(|(a, b)| a * b).sum();
            yr.iter().zip(dr).map(move |(a, b)| a * (b - dot))
        })
        .collect()
}

#[test]
fn softmax_fwd_and_bwd_match_f64_for_both_row_maps() {
    let mut rng = Rng::new(21);
    for (rows, dim) in SHAPES.into_iter().chain([(64, 128)]) {
        // Scores of a wide range, plus a large common offset per row: the max subtraction must handle both.
        let mut x: Vec<f32> = (0..rows * dim).map(|_| (4.0 * rng.normal()) as f32).collect();
        for r in 0..rows {
            let offset = rng.range(-1000.0, 1000.0) as f32;
            x[r * dim..(r + 1) * dim].iter_mut().for_each(|v| *v += offset);
        }
        let dy = rng.vec_f32(rows * dim);
        // References from the f32 inputs as uploaded.
        let want_y = softmax_ref(&f64s(&x), dim);
        let (xt, dyt) = (upload(&x, &[rows, dim]), upload(&dy, &[rows, dim]));
        for map in MAPS {
            let y = softmax_fwd_mapped(gpu(), &xt, map).unwrap();
            let got_y = download(&y);
            let err = rel_l2(&got_y, &want_y);
            assert!(err <= 1e-5, "softmax_fwd {rows}x{dim} {map:?}: rel L2 error {err:.2e} > 1e-5");
            let want_dx = softmax_bwd_ref(&f64s(&got_y), &f64s(&dy), dim);
            let dx = softmax_bwd_mapped(gpu(), &y, &dyt, map).unwrap();
            let got = download(&dx);
            let err = if dim == 1 { max_abs(&got, &want_dx) } else { rel_l2(&got, &want_dx) };
            assert!(err <= 1e-5, "softmax_bwd {rows}x{dim} {map:?}: rel L2 error {err:.2e} > 1e-5");
        }
        let y = softmax_fwd(gpu(), &xt).unwrap();
        let err = rel_l2(&download(&y), &want_y);
        assert!(err <= 1e-5, "softmax_fwd {rows}x{dim} (launcher's map): rel L2 error {err:.2e} > 1e-5");
        let dx = softmax_bwd(gpu(), &y, &dyt).unwrap();
        assert!(download(&dx).iter().all(|v| v.is_finite()), "softmax_bwd {rows}x{dim} (launcher's map): non-finite dx");
    }
}

#[test]
fn softmax_handles_masked_entries_and_empty_rows() {
    let g = gpu();
    // -1e30 (a mask value) and -inf entries get probability 0; the rest is a softmax of the others.
    let x = [1.0f32, -1e30, 2.0, f32::NEG_INFINITY, 0.5, -1e30, f32::NEG_INFINITY, 3.0];
    let want = softmax_ref(&[1.0, -1e300, 2.0, -1e300, 0.5, -1e300, -1e300, 3.0], 4);
    for map in MAPS {
        let got = download(&softmax_fwd_mapped(g, &upload(&x, &[2, 4]), map).unwrap());
        let err = max_abs(&got, &want);
        assert!(err <= 1e-6, "softmax_fwd with masked entries {map:?}: max abs error {err:.2e} > 1e-6, got {got:?}");
    }
    let y = softmax_fwd(g, &upload(&[], &[3, 0])).unwrap();
    assert_eq!(y.shape(), &[3, 0]);
    let y = softmax_fwd(g, &upload(&[], &[0, 5])).unwrap();
    assert_eq!(softmax_bwd(g, &y, &y).unwrap().shape(), &[0, 5]);
}

#[test]
fn softmax_reference_gradient_agrees_with_central_differences() {
    let mut rng = Rng::new(22);
    let (rows, dim) = (2, 6);
    let x: Vec<f64> = (0..rows * dim).map(|_| 2.0 * rng.normal()).collect();
    let w: Vec<f64> = (0..rows * dim).map(|_| rng.normal()).collect(); // loss = sum(w ⊙ softmax(x))
    let loss = |x: &[f64]| -> f64 { softmax_ref(x, dim).iter().zip(&w).map(|(a, b)| a * b).sum() };
    let dx = softmax_bwd_ref(&softmax_ref(&x, dim), &w, dim);
    let h = 1e-6;
    for i in 0..x.len() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += h;
        xm[i] -= h;
        let fd = (loss(&xp) - loss(&xm)) / (2.0 * h);
        assert!((fd - dx[i]).abs() <= 1e-7 * (1.0 + fd.abs()), "softmax ref dx[{i}]: analytic {} vs central difference {fd}", dx[i]);
    }
}

#[test]
fn softmax_rejects_bad_input() {
    let g = gpu();
    let y = upload(&[0.25; 8], &[2, 4]);
    let dy = upload(&[0.0; 8], &[4, 2]);
    assert!(matches!(softmax_bwd(g, &y, &dy), Err(Error::Shape(m)) if m == "softmax_bwd: dy has shape [4, 2], expected [2, 4]"));
    let yi = Tensor::from_slice(g, &[0i32; 8], &[2, 4]).unwrap();
    assert!(matches!(softmax_fwd(g, &yi), Err(Error::DType(m)) if m.contains("softmax_fwd: x is i32")));
    assert!(matches!(softmax_bwd(g, &y, &yi), Err(Error::DType(m)) if m.contains("softmax_bwd: dy is i32")));
    assert!(matches!(softmax_fwd(g, &upload(&[1.0], &[])), Err(Error::Shape(m)) if m.contains("softmax_fwd: x has shape []")));
}

// ---------------------------------------------------------------- activations and erf

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// erf in f64: the series 2/√π·e^{−x²}·Σ 2ⁿx^{2n+1}/(1·3·…·(2n+1)) (positive terms, no cancellation) for
/// |x| < 3, else 1 − erfc by the continued fraction.
fn erf64(x: f64) -> f64 {
    if x.abs() >= 3.0 {
        return x.signum() * (1.0 - erfc64(x.abs()));
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= 2.0 * x * x / (2 * n + 1) as f64;
        sum += term;
        if term.abs() < 1e-18 * sum.abs() {
            break;
        }
    }
    FRAC_2_SQRT_PI * (-x * x).exp() * sum
}

/// erfc in f64 for x > 0: for x >= 3, e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) (A&S 7.1.14),
/// evaluated from the tail; below 3, 1 − the series.
fn erfc64(x: f64) -> f64 {
    if x < 3.0 {
        return 1.0 - erf64(x);
    }
    let mut t = x;
    for n in (1..=300).rev() {
        t = x + (n as f64 / 2.0) / t;
    }
    0.5 * FRAC_2_SQRT_PI * (-x * x).exp() / t
}

/// Φ(x) in f64, from erfc in the lower tail so small values keep their relative accuracy.
fn normal_cdf64(x: f64) -> f64 {
    let a = x / std::f64::consts::SQRT_2;
    if a < -0.5 { 0.5 * erfc64(-a) } else { 0.5 * (1.0 + erf64(a)) }
}

fn act_ref(act: Activation, x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    match act {
        Activation::GeluErf => x * normal_cdf64(x),
        Activation::GeluTanh => 0.5 * x * (1.0 + (c * (x + 0.044715 * x.powi(3))).tanh()),
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
    }
}

fn act_grad_ref(act: Activation, x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    match act {
        Activation::GeluErf => normal_cdf64(x) + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt(),
        Activation::GeluTanh => {
            let t = (c * (x + 0.044715 * x.powi(3))).tanh();
            let sech2 = if t.abs() == 1.0 { 0.0 } else { 1.0 - t * t };
            0.5 * (1.0 + t) + 0.5 * x * sech2 * c * (1.0 + 3.0 * 0.044715 * x * x)
        }
        Activation::Relu => (x > 0.0) as u8 as f64,
        Activation::Tanh => 1.0 - x.tanh().powi(2),
        Activation::Sigmoid => {
            let e = (-x.abs()).exp();
            e / (1.0 + e).powi(2)
        }
    }
}

const ACTS: [Activation; 5] = [Activation::GeluErf, Activation::GeluTanh, Activation::Relu, Activation::Tanh, Activation::Sigmoid];

#[test]
fn f64_references_are_right() {
    // erf64 against published values, and the two branches meeting at 3.
    for (x, want) in [(0.5, 0.5204998778130465), (1.0, 0.8427007929497149), (2.0, 0.9953222650189527), (-0.1, -0.1124629160182849)] {
        assert!((erf64(x) - want).abs() <= 1e-15, "erf64({x}) = {} vs {want}", erf64(x));
    }
    for (x, want) in [(3.0, 2.209049699858544e-05), (5.0, 1.537_459_794_428_035e-12), (10.0, 2.088487583762545e-45)] {
        assert!((erfc64(x) / want - 1.0).abs() <= 1e-13, "erfc64({x}) = {:e} vs {want:e}", erfc64(x));
    }
    let (below, above) = (erf64(3.0 - 1e-12), 1.0 - erfc64(3.0));
    assert!((below - above).abs() <= 1e-14, "erf64 branches disagree at 3: {below} vs {above}");
    // Each analytic derivative against central differences.
    let h = 1e-6;
    for act in ACTS {
        for x in [-7.5, -3.0, -1.3, -0.2, 0.3, 0.9, 2.2, 4.0, 9.0] {
            let fd = (act_ref(act, x + h) - act_ref(act, x - h)) / (2.0 * h);
            let an = act_grad_ref(act, x);
            assert!((fd - an).abs() <= 1e-7 * (1.0 + fd.abs()), "{act:?}'({x}): analytic {an} vs central difference {fd}");
        }
    }
}

#[test]
fn erf_is_accurate_to_about_1e_7_absolute() {
    let g = gpu();
    // Every 1/8192 over [-6, 6], plus points either side of the branch points 0.9277 and 2.
    let mut x: Vec<f32> = (-6 * 8192..=6 * 8192).map(|i| i as f32 / 8192.0).collect();
    for c in [475.0f32 / 512.0, 2.0, 10.0] {
        for s in [-1.0f32, 1.0] {
            let mut v = c;
            for _ in 0..4 {
                x.push(s * v);
                v = f32::from_bits(v.to_bits() + 1);
            }
            let mut v = c;
            for _ in 0..4 {
                v = f32::from_bits(v.to_bits() - 1);
                x.push(s * v);
            }
        }
    }
    x.extend([0.0, -0.0, 1e-30, -1e-30, 20.0, -20.0, 100.0, -100.0, 1e30, -1e30, f32::MAX, f32::MIN]);
    let want: Vec<f64> = x.iter().map(|&v| erf64(v as f64)).collect();
    let got = download(&erf(g, &upload(&x, &[x.len()])).unwrap());
    let (worst, at) = got.iter().zip(&want).zip(&x).map(|((g, w), v)| ((*g as f64 - w).abs(), *v)).fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
    assert!(worst <= 2e-7, "erf: max abs error {worst:.2e} at x = {at} > 2e-7 (f32 spacing near 1 is 6e-8)");
    eprintln!("erf: max abs error {worst:.2e} at x = {at} over {} points", x.len());
}

#[test]
fn activations_match_f64() {
    let g = gpu();
    let mut rng = Rng::new(31);
    for n in [1usize, 7, 1000, 65_539] {
        let x: Vec<f32> = (0..n).map(|_| (3.0 * rng.normal()) as f32).collect();
        let dy = rng.vec_f32(n);
        let (xt, dyt) = (upload(&x, &[n]), upload(&dy, &[n]));
        for act in ACTS {
            let want: Vec<f64> = x.iter().map(|&v| act_ref(act, v as f64)).collect();
            let err = rel_l2(&download(&activation_fwd(g, &xt, act).unwrap()), &want);
            assert!(err <= 1e-5, "activation_fwd {act:?} x{n}: rel L2 error {err:.2e} > 1e-5");
            let want: Vec<f64> = x.iter().zip(&dy).map(|(&v, &d)| d as f64 * act_grad_ref(act, v as f64)).collect();
            let err = rel_l2(&download(&activation_bwd(g, &xt, &dyt, act).unwrap()), &want);
            assert!(err <= 1e-5, "activation_bwd {act:?} x{n}: rel L2 error {err:.2e} > 1e-5");
        }
    }
}

#[test]
fn activations_stay_finite_and_right_at_large_inputs() {
    let g = gpu();
    let x = [0.0f32, -0.0, 1e-6, -1e-6, 5.0, -5.0, 9.0, -9.0, 20.0, -20.0, 100.0, -100.0, 1e4, -1e4, 1e20, -1e20, f32::MAX, f32::MIN];
    let dy: Vec<f32> = (0..x.len()).map(|i| 1.0 - 0.1 * i as f32).collect();
    let (xt, dyt) = (upload(&x, &[x.len()]), upload(&dy, &[x.len()]));
    // Each element within 1e-6 absolute + 1e-5 relative of the f64 value (x·Φ(x) = x to f32 precision for
    // x >= 6, 0 for x <= -14).
    let close = |got: f32, want: f64| got.is_finite() && (got as f64 - want).abs() <= 1e-6 + 1e-5 * want.abs();
    for act in ACTS {
        let got = download(&activation_fwd(g, &xt, act).unwrap());
        for (i, (&gv, &v)) in got.iter().zip(&x).enumerate() {
            let want = act_ref(act, v as f64);
            assert!(close(gv, want), "activation_fwd {act:?}({v:e}) = {gv:e}, want {want:e} (element {i})");
        }
        let got = download(&activation_bwd(g, &xt, &dyt, act).unwrap());
        for (i, ((&gv, &v), &d)) in got.iter().zip(&x).zip(&dy).enumerate() {
            let want = d as f64 * act_grad_ref(act, v as f64);
            assert!(close(gv, want), "activation_bwd {act:?}'({v:e}) * {d} = {gv:e}, want {want:e} (element {i})");
        }
    }
    // ReLU's derivative at exactly 0 is 0.
    let got = download(&activation_bwd(g, &upload(&[0.0, -0.0], &[2]), &upload(&[1.0, 1.0], &[2]), Activation::Relu).unwrap());
    assert_eq!(got, vec![0.0, 0.0], "relu'(0) must be 0");
}

#[test]
fn gelu_erf_and_its_derivative_are_accurate_to_a_few_f32_roundings() {
    // Every 1/1024 over [-8, 8]: x·Φ(x) within 2e-7 of |x|·Φ(|x|) (Φ's error relative to its larger side,
    // f32's spacing at 1 being 1.2e-7), and Φ(x) + x·φ(x) within 3e-7 absolute, against f64.
    let x: Vec<f32> = (-8 * 1024..=8 * 1024).map(|i| i as f32 / 1024.0).collect();
    let ones = vec![1.0f32; x.len()];
    let (xt, dyt) = (upload(&x, &[x.len()]), upload(&ones, &[x.len()]));
    let fwd = download(&activation_fwd(gpu(), &xt, Activation::GeluErf).unwrap());
    let bwd = download(&activation_bwd(gpu(), &xt, &dyt, Activation::GeluErf).unwrap());
    let (mut worst_f, mut worst_b) = ((0.0f64, 0.0f32), (0.0f64, 0.0f32));
    for ((&f, &b), &v) in fwd.iter().zip(&bwd).zip(&x) {
        let v64 = v as f64;
        let ef = (f as f64 - act_ref(Activation::GeluErf, v64)).abs() / (v64.abs() * normal_cdf64(v64.abs())).max(1e-30);
        let eb = (b as f64 - act_grad_ref(Activation::GeluErf, v64)).abs();
        if ef > worst_f.0 {
            worst_f = (ef, v);
        }
        if eb > worst_b.0 {
            worst_b = (eb, v);
        }
    }
    eprintln!("gelu_erf: max error {:.2e} at x = {} (relative to |x|Φ(|x|)); derivative {:.2e} at x = {}", worst_f.0, worst_f.1, worst_b.0, worst_b.1);
    assert!(worst_f.0 <= 2e-7, "gelu_erf: error {:.2e} of |x|Φ(|x|) at x = {} > 2e-7", worst_f.0, worst_f.1);
    assert!(worst_b.0 <= 3e-7, "gelu_erf': absolute error {:.2e} at x = {} > 3e-7", worst_b.0, worst_b.1);
}

#[test]
fn gelu_erf_keeps_relative_accuracy_in_the_lower_tail() {
    // x·Φ(x) for x in [-12, -1]: values down to 1e-32, each within a relative 2e-5 (PyTorch's 1 + erf form
    // loses everything below about -5.3, where 1 + erf rounds to 0 in f32).
    let x: Vec<f32> = (0..1100).map(|i| -1.0 - i as f32 / 100.0).collect();
    let got = download(&activation_fwd(gpu(), &upload(&x, &[x.len()]), Activation::GeluErf).unwrap());
    for (g, v) in got.iter().zip(&x) {
        let want = act_ref(Activation::GeluErf, *v as f64);
        let rel = (*g as f64 / want - 1.0).abs();
        assert!(rel <= 2e-5, "gelu_erf({v}) = {g:e}, want {want:e}: relative error {rel:.2e} > 2e-5");
    }
}

#[test]
fn activations_reject_bad_input_and_handle_empty() {
    let g = gpu();
    let x = upload(&[0.0; 6], &[2, 3]);
    let dy = upload(&[0.0; 6], &[3, 2]);
    assert!(matches!(activation_bwd(g, &x, &dy, Activation::Relu), Err(Error::Shape(m)) if m == "activation_bwd: dy has shape [3, 2], expected [2, 3]"));
    let xi = Tensor::from_slice(g, &[0i32; 6], &[2, 3]).unwrap();
    assert!(matches!(activation_fwd(g, &xi, Activation::Tanh), Err(Error::DType(m)) if m.contains("activation_fwd: x is i32")));
    assert!(matches!(activation_bwd(g, &x, &xi, Activation::Tanh), Err(Error::DType(m)) if m.contains("activation_bwd: dy is i32")));
    let e = upload(&[], &[0, 3]);
    assert_eq!(activation_fwd(g, &e, Activation::GeluErf).unwrap().shape(), &[0, 3]);
    assert_eq!(activation_bwd(g, &e, &e, Activation::GeluErf).unwrap().dtype(), DType::F32);
}

// ---------------------------------------------------------------- batch norm

/// f64 BatchNorm1d over rows, per column: (y, mean, rstd, running mean, running var after the update).
#[allow(clippy::type_complexity)]
fn batchnorm_ref(x: &[f64], rows: usize, dim: usize, gamma: &[f64], beta: &[f64], running: (&[f64], &[f64]), training: bool, m: f64, eps: f64)
    -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut mean, mut rstd, mut rm, mut rv) = (vec![0.0; dim], vec![0.0; dim], running.0.to_vec(), running.1.to_vec());
    for d in 0..dim {
        let (mu, var) = if training {
            let mu = (0..rows).map(|n| x[n * dim + d]).sum::<f64>() / rows as f64;
            let ss = (0..rows).map(|n| (x[n * dim + d] - mu).powi(2)).sum::<f64>();
            rm[d] = (1.0 - m) * rm[d] + m * mu;
            rv[d] = (1.0 - m) * rv[d] + m * ss / (rows - 1) as f64;
            (mu, ss / rows as f64)
        } else {
            (running.0[d], running.1[d])
        };
        mean[d] = mu;
        rstd[d] = 1.0 / (var + eps).sqrt();
    }
    let y = (0..rows * dim).map(|e| (x[e] - mean[e % dim]) * rstd[e % dim] * gamma[e % dim] + beta[e % dim]).collect();
    (y, mean, rstd, rm, rv)
}

/// The analytic gradient of Σ dy ⊙ batchnorm(x) in f64: (dx, dgamma, dbeta).
fn batchnorm_bwd_ref(dy: &[f64], x: &[f64], rows: usize, dim: usize, gamma: &[f64], mean: &[f64], rstd: &[f64], training: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut dx, mut dg, mut db) = (vec![0.0; rows * dim], vec![0.0; dim], vec![0.0; dim]);
    for d in 0..dim {
        let xh: Vec<f64> = (0..rows).map(|n| (x[n * dim + d] - mean[d]) * rstd[d]).collect();
        let sdy: f64 = (0..rows).map(|n| dy[n * dim + d]).sum();
        let sdyx: f64 = (0..rows).map(|n| dy[n * dim + d] * xh[n]).sum();
        dg[d] = sdyx;
        db[d] = sdy;
        for n in 0..rows {
            let g = dy[n * dim + d];
            dx[n * dim + d] = gamma[d] * rstd[d] * if training { g - sdy / rows as f64 - xh[n] * sdyx / rows as f64 } else { g };
        }
    }
    (dx, dg, db)
}

#[test]
fn batchnorm_matches_f64_in_train_and_eval_with_and_without_affine() {
    use pretext::kernels::batchnorm::{batchnorm_bwd, batchnorm_fwd};
    let mut rng = Rng::new(31);
    for (rows, dim) in [(2, 1), (3, 7), (17, 128), (256, 33), (1000, 5), (5, 300), (129, 64)] {
        // columns with an offset and a scale, so a one-pass variance would cancel
        let mut x = vec![0f32; rows * dim];
        for d in 0..dim {
            let (off, sc) = (rng.range(-4.0, 4.0), rng.range(0.1, 3.0));
            for n in 0..rows {
                x[n * dim + d] = (off + sc * rng.normal()) as f32;
            }
        }
        let dy = rng.vec_f32(rows * dim);
        let gamma: Vec<f32> = (0..dim).map(|_| rng.range(0.5, 1.5) as f32).collect();
        let beta = rng.vec_f32(dim);
        let rm0 = rng.vec_f32(dim);
        let rv0: Vec<f32> = (0..dim).map(|_| rng.range(0.5, 2.0) as f32).collect();
        for training in [true, false] {
            for affine in [true, false] {
                let label = format!("batchnorm {rows}x{dim} training={training} affine={affine}");
                let (g64, b64) = if affine { (f64s(&gamma), f64s(&beta)) } else { (vec![1.0; dim], vec![0.0; dim]) };
                let (wy, wmean, wrstd, wrm, wrv) = batchnorm_ref(&f64s(&x), rows, dim, &g64, &b64, (&f64s(&rm0), &f64s(&rv0)), training, 0.1, 1e-5);
                let xt = upload(&x, &[rows, dim]);
                let (gt, bt) = (upload(&gamma, &[dim]), upload(&beta, &[dim]));
                let (rmt, rvt) = (upload(&rm0, &[dim]), upload(&rv0, &[dim]));
                let f = batchnorm_fwd(gpu(), &xt, affine.then_some((&gt, &bt)), Some((&rmt, &rvt)), training, 0.1, 1e-5).unwrap();
                for (name, got, want, tol) in [("y", &f.y, &wy, 1e-5), ("mean", &f.mean, &wmean, 1e-5), ("rstd", &f.rstd, &wrstd, 1e-5), ("running_mean", &rmt, &wrm, 1e-6), ("running_var", &rvt, &wrv, 1e-6)] {
                    let err = rel_l2(&download(got), want);
                    assert!(err <= tol, "{label}: {name} rel L2 error {err:.2e} > {tol:.0e}");
                }
                let (wdx, wdg, wdb) = batchnorm_bwd_ref(&f64s(&dy), &f64s(&x), rows, dim, &g64, &wmean, &wrstd, training);
                let g = batchnorm_bwd(gpu(), &upload(&dy, &[rows, dim]), &xt, affine.then_some(&gt), &f.mean, &f.rstd, training).unwrap();
                // Relative to |γ·r·dy|: with few rows dx is a near-total cancellation of that scale (2 rows: ~0).
                let got = download(&g.dx);
                let scale = (0..rows * dim).map(|e| (g64[e % dim] * wrstd[e % dim] * dy[e] as f64).powi(2)).sum::<f64>().sqrt();
                let err = got.iter().zip(&wdx).map(|(a, b)| (*a as f64 - b).powi(2)).sum::<f64>().sqrt() / scale;
                assert!(err <= 1e-5, "{label}: dx L2 error {err:.2e} of |gamma*rstd*dy| > 1e-5");
                assert_eq!(g.dgamma.is_some(), affine, "{label}: dgamma only with affine");
                if let (Some(dg), Some(db)) = (&g.dgamma, &g.dbeta) {
                    for (name, got, want) in [("dgamma", dg, &wdg), ("dbeta", db, &wdb)] {
                        let err = rel_l2(&download(got), want);
                        assert!(err <= 1e-5, "{label}: {name} rel L2 error {err:.2e} > 1e-5");
                    }
                }
            }
        }
    }
}

#[test]
fn batchnorm_backward_reference_matches_finite_differences() {
    let mut rng = Rng::new(32);
    let (rows, dim) = (5, 3);
    let x: Vec<f64> = (0..rows * dim).map(|_| rng.normal()).collect();
    let dy: Vec<f64> = (0..rows * dim).map(|_| rng.normal()).collect();
    let gamma = vec![0.7, 1.3, -0.4];
    let beta = vec![0.1, 0.0, -0.2];
    let (rm, rv) = (vec![0.0; dim], vec![1.0; dim]);
    let loss = |x: &[f64]| -> f64 {
        let (y, ..) = batchnorm_ref(x, rows, dim, &gamma, &beta, (&rm, &rv), true, 0.1, 1e-5);
        y.iter().zip(&dy).map(|(a, b)| a * b).sum()
    };
    let (_, mean, rstd, ..) = batchnorm_ref(&x, rows, dim, &gamma, &beta, (&rm, &rv), true, 0.1, 1e-5);
    let (dx, ..) = batchnorm_bwd_ref(&dy, &x, rows, dim, &gamma, &mean, &rstd, true);
    for i in 0..rows * dim {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += 1e-6;
        down[i] -= 1e-6;
        let numeric = (loss(&up) - loss(&down)) / 2e-6;
        assert!((numeric - dx[i]).abs() < 1e-6, "dx[{i}]: analytic {} vs numeric {numeric}", dx[i]);
    }
}

#[test]
fn batchnorm1d_matches_torch_in_train_and_eval_mode() {
    use pretext::autograd::{ParamId, Tape};
    use pretext::nn::BatchNorm1d;
    let fix = pretext::checkpoint::load(std::path::Path::new("assets/fixtures/batchnorm.safetensors")).unwrap();
    let t = |name: &str| fix.tensors[name].data.clone();
    let (rows, dim) = (13, 7);
    let close = |label: &str, got: &[f32], want: &[f32]| {
        let err = rel_l2(got, &f64s(want));
        assert!(err <= 1e-5, "torch parity: {label}: rel L2 error {err:.2e} > 1e-5");
    };
    for affine in [true, false] {
        let bn = BatchNorm1d::new(gpu(), "bn", dim, affine).unwrap();
        if affine {
            gpu().upload(bn.weight.as_ref().unwrap().value.buffer(), bytemuck::cast_slice(&t("weight"))).unwrap();
            gpu().upload(bn.bias.as_ref().unwrap().value.buffer(), bytemuck::cast_slice(&t("bias"))).unwrap();
        }
        gpu().upload(bn.running_mean.buffer(), bytemuck::cast_slice(&t("running_mean0"))).unwrap();
        gpu().upload(bn.running_var.buffer(), bytemuck::cast_slice(&t("running_var0"))).unwrap();
        for training in [true, false] {
            if !affine && !training {
                continue;
            }
            let mut tape = Tape::new(gpu(), 1);
            tape.training = training;
            let x = tape.param(ParamId(77), &upload(&t("x"), &[rows, dim]));
            let y = bn.forward(&mut tape, x).unwrap();
            let yv = download(tape.value(y));
            let grads = tape.backward_with(y, upload(&t("dy"), &[rows, dim])).unwrap();
            let dx = download(grads.get(ParamId(77)).unwrap());
            let (mode, suffix) = match (affine, training) {
                (true, true) => ("train", "_train"),
                (true, false) => ("eval", "_eval"),
                _ => ("plain", "_plain"),
            };
            close(&format!("{mode} y"), &yv, &t(&format!("y{suffix}")));
            close(&format!("{mode} dx"), &dx, &t(&format!("dx{suffix}")));
            if affine {
                let dw = download(grads.get(bn.weight.as_ref().unwrap().id).unwrap());
                let db = download(grads.get(bn.bias.as_ref().unwrap().id).unwrap());
                close(&format!("{mode} dweight"), &dw, &t(&format!("dweight{suffix}")));
                close(&format!("{mode} dbias"), &db, &t(&format!("dbias{suffix}")));
            }
            if training {
                let (m, v) = if affine { ("running_mean1", "running_var1") } else { ("running_mean_plain", "running_var_plain") };
                close(&format!("{mode} running_mean"), &download(&bn.running_mean), &t(m));
                close(&format!("{mode} running_var"), &download(&bn.running_var), &t(v));
            }
        }
    }
}

#[test]
fn batchnorm_bad_input_is_an_error() {
    use pretext::kernels::batchnorm::batchnorm_fwd;
    let x = upload(&[1.0, 2.0, 3.0], &[1, 3]);
    let e = batchnorm_fwd(gpu(), &x, None, None, true, 0.1, 1e-5).unwrap_err().to_string();
    assert!(e.contains("at least 2 rows"), "{e}");
    let e = batchnorm_fwd(gpu(), &x, None, None, false, 0.1, 1e-5).unwrap_err().to_string();
    assert!(e.contains("running statistics"), "{e}");
    let g = upload(&[1.0, 2.0], &[2]);
    let e = batchnorm_fwd(gpu(), &upload(&[0.0; 6], &[2, 3]), Some((&g, &g)), None, true, 0.1, 1e-5).unwrap_err().to_string();
    assert!(e.contains("gamma") && e.contains("[2]"), "{e}");
}
