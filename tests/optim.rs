//! Optimizer kernels vs f64 references of the PyTorch update rules, over several steps.
mod common;
use common::*;

use pretext::kernels::optim::{adamw, clip_scale, ema, sgd, sum_squares, AdamW};
use pretext::{DType, Error, Tensor};

const SIZES: [usize; 5] = [1, 7, 1031, 4099, (1 << 20) + 3];

fn up(v: &[f32]) -> Tensor {
    Tensor::from_slice(gpu(), v, &[v.len()]).unwrap()
}

fn down(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>(gpu()).unwrap()
}

/// PyTorch AdamW (foreach=False) in f64: decay, lerp, second moment, bias-corrected step.
fn adamw_ref(p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], h: &AdamW, scale: f64) {
    let (b1, b2, lr, wd, eps) = (h.beta1 as f64, h.beta2 as f64, h.lr as f64, h.weight_decay as f64, h.eps as f64);
    let bc1 = 1.0 - b1.powi(h.step as i32);
    let bc2 = 1.0 - b2.powi(h.step as i32);
    for i in 0..p.len() {
        let gi = g[i] * scale;
        p[i] *= 1.0 - lr * wd;
        m[i] = b1 * m[i] + (1.0 - b1) * gi;
        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
        p[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + eps);
    }
}

#[test]
fn adamw_matches_f64_reference_over_steps() {
    let mut rng = Rng::new(1);
    for &n in &SIZES {
        for scaled in [false, true] {
            let p0 = rng.vec_f32(n);
            let (param, m, v) = (up(&p0), up(&vec![0.0; n]), up(&vec![0.0; n]));
            let (mut pr, mut mr, mut vr) = (f64s(&p0), vec![0.0; n], vec![0.0; n]);
            for step in 1..=4u32 {
                let g = rng.vec_f32(n);
                let s = 0.37f32;
                let scale_t = up(&[s]);
                let h = AdamW { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.05, step };
                adamw(gpu(), &param, &up(&g), &m, &v, &h, scaled.then_some(&scale_t)).unwrap();
                adamw_ref(&mut pr, &f64s(&g), &mut mr, &mut vr, &h, if scaled { s as f64 } else { 1.0 });
            }
            let (ep, em, ev) = (rel_l2(&down(&param), &pr), rel_l2(&down(&m), &mr), rel_l2(&down(&v), &vr));
            assert!(ep <= 1e-6, "adamw n={n} scaled={scaled}: param rel L2 {ep:.2e} > 1e-6");
            assert!(em <= 1e-5 && ev <= 1e-5, "adamw n={n} scaled={scaled}: m {em:.2e}, v {ev:.2e} > 1e-5");
            // the change itself, not just the parameter (which is dominated by its start value)
            let dp: Vec<f32> = down(&param).iter().zip(&p0).map(|(a, b)| a - b).collect();
            let dr: Vec<f64> = pr.iter().zip(&p0).map(|(a, b)| a - *b as f64).collect();
            let e = rel_l2(&dp, &dr);
            assert!(e <= 1e-4, "adamw n={n} scaled={scaled}: update rel L2 {e:.2e} > 1e-4 (f32 rounding of p near 1)");
        }
    }
}

#[test]
fn adamw_rejects_bad_input() {
    let x = up(&[1.0, 2.0]);
    let h = AdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, step: 0 };
    assert!(matches!(adamw(gpu(), &x, &up(&[1.0, 1.0]), &up(&[0.0; 2]), &up(&[0.0; 2]), &h, None), Err(Error::Invalid(_))));
    let h = AdamW { step: 1, ..h };
    let e = adamw(gpu(), &x, &up(&[1.0]), &up(&[0.0; 2]), &up(&[0.0; 2]), &h, None).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("adamw") && m.contains("grad")), "{e}");
    let ids = Tensor::from_slice(gpu(), &[1i32], &[1]).unwrap();
    let e = adamw(gpu(), &x, &up(&[1.0, 1.0]), &up(&[0.0; 2]), &up(&[0.0; 2]), &h, Some(&ids)).unwrap_err();
    assert!(matches!(&e, Error::DType(m) if m.contains("grad_scale")), "{e}");
    // size 0 is a no-op
    let empty = Tensor::empty(gpu(), &[0], DType::F32).unwrap();
    adamw(gpu(), &empty, &empty.clone(), &empty.clone(), &empty.clone(), &h, None).unwrap();
}

#[test]
fn sum_squares_and_clip_scale() {
    let mut rng = Rng::new(2);
    let xs: Vec<Vec<f32>> = SIZES.iter().map(|&n| rng.vec_f32(n)).collect();
    let ts: Vec<Tensor> = xs.iter().map(|x| up(x)).collect();
    let empty = Tensor::empty(gpu(), &[0], DType::F32).unwrap();
    let mut refs: Vec<&Tensor> = ts.iter().collect();
    refs.insert(2, &empty);
    let want: f64 = xs.iter().flatten().map(|&v| (v as f64).powi(2)).sum();
    let got = sum_squares(gpu(), &refs).unwrap();
    let g = down(&got)[0] as f64;
    assert!((g - want).abs() / want <= 1e-5, "sum_squares: {g} vs {want}, rel error > 1e-5");
    // deterministic: a second run gives the same bits
    let again = down(&sum_squares(gpu(), &refs).unwrap())[0];
    assert_eq!(again.to_bits(), (g as f32).to_bits(), "sum_squares is not deterministic");
    for single in [&ts[0], &ts[1]] {
        let x = down(single);
        let w: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
        let s = down(&sum_squares(gpu(), &[single]).unwrap())[0] as f64;
        assert!((s - w).abs() <= 1e-6 * w.max(1e-30), "sum_squares of {} values: {s} vs {w}", x.len());
    }
    assert_eq!(down(&sum_squares(gpu(), &[]).unwrap()), vec![0.0], "sum_squares of nothing is 0");

    for max_norm in [1.0f32, 1e6] {
        let c = down(&clip_scale(gpu(), &got, max_norm).unwrap())[0] as f64;
        let want_c = (max_norm as f64 / (want.sqrt() + 1e-6)).min(1.0);
        assert!((c - want_c).abs() <= 1e-6 * want_c, "clip_scale max_norm {max_norm}: {c} vs {want_c}");
    }
    assert!(clip_scale(gpu(), &ts[1], 1.0).is_err(), "clip_scale takes a [1] sum of squares");
}

#[test]
fn ema_matches_reference() {
    let mut rng = Rng::new(3);
    for &n in &SIZES {
        let (t0, o) = (rng.vec_f32(n), rng.vec_f32(n));
        let t = up(&t0);
        ema(gpu(), &t, &up(&o), 0.996).unwrap();
        let want: Vec<f64> = t0.iter().zip(&o).map(|(&a, &b)| 0.996 * a as f64 + 0.004 * b as f64).collect();
        let e = rel_l2(&down(&t), &want);
        assert!(e <= 1e-6, "ema n={n}: rel L2 {e:.2e} > 1e-6");
    }
    assert!(ema(gpu(), &up(&[1.0]), &up(&[1.0, 2.0]), 0.9).is_err());
}

/// SGD (+ LARS) in f64: d = g*s + wd*p; trust as documented; buf = mom*buf + trust*d; p -= lr*buf.
#[allow(clippy::too_many_arguments)]
fn sgd_ref(p: &mut [f64], g: &[f64], buf: &mut [f64], lr: f64, mom: f64, wd: f64, lars: Option<f64>, s: f64) {
    let trust = match lars {
        None => 1.0,
        Some(eta) => {
            let pn = p.iter().map(|v| v * v).sum::<f64>().sqrt();
            let gn = s * g.iter().map(|v| v * v).sum::<f64>().sqrt();
            if pn > 0.0 && gn > 0.0 { eta * pn / (gn + wd * pn) } else { 1.0 }
        }
    };
    for i in 0..p.len() {
        let d = g[i] * s + wd * p[i];
        buf[i] = mom * buf[i] + trust * d;
        p[i] -= lr * buf[i];
    }
}

#[test]
fn sgd_momentum_and_lars_match_reference() {
    let mut rng = Rng::new(4);
    for &n in &SIZES {
        for (lars, scaled, mom) in [(None, false, 0.9), (None, true, 0.0), (Some(0.001f32), false, 0.9), (Some(0.02), true, 0.9)] {
            let p0 = rng.vec_f32(n);
            let (param, buf) = (up(&p0), up(&vec![0.0; n]));
            let (mut pr, mut br) = (f64s(&p0), vec![0.0; n]);
            for _ in 0..3 {
                let g = rng.vec_f32(n);
                let s = 0.5f32;
                let st = up(&[s]);
                sgd(gpu(), &param, &up(&g), &buf, 0.1, mom, 1e-4, lars, scaled.then_some(&st)).unwrap();
                let sc = if scaled { s as f64 } else { 1.0 };
                sgd_ref(&mut pr, &f64s(&g), &mut br, 0.1, mom as f64, 1e-4, lars.map(|e| e as f64), sc);
            }
            let (ep, eb) = (rel_l2(&down(&param), &pr), rel_l2(&down(&buf), &br));
            assert!(ep <= 1e-5 && eb <= 1e-5, "sgd n={n} lars={lars:?} scaled={scaled}: param {ep:.2e}, buf {eb:.2e} > 1e-5");
        }
    }
    // LARS with a zero parameter: trust 1
    let (param, buf) = (up(&[0.0; 5]), up(&[0.0; 5]));
    sgd(gpu(), &param, &up(&[1.0; 5]), &buf, 0.1, 0.9, 0.0, Some(0.001), None).unwrap();
    assert_eq!(down(&param), vec![-0.1f32; 5], "LARS trust must be 1 when |p| = 0");
    assert!(sgd(gpu(), &param, &up(&[1.0; 4]), &buf, 0.1, 0.9, 0.0, None, None).is_err());
}
