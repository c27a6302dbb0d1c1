//! Contrastive views (`kernels::augment`) against an f64 reference of torchvision's steps with the same drawn
//! parameters: grey and RGB, odd sizes, views larger and smaller than the images, every step on and off.
mod common;
use common::*;
use pretext::data::views::{ViewPair, ViewRecipe};
use pretext::kernels::augment::{augment, ViewParams, ViewShape};
use pretext::rng::Rng as EngineRng;
use pretext::Tensor;

fn grey3(c: [f64; 3]) -> f64 {
    0.2989 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// torchvision's _rgb2hsv.
fn rgb2hsv(c: [f64; 3]) -> [f64; 3] {
    let maxc = c[0].max(c[1]).max(c[2]);
    let minc = c[0].min(c[1]).min(c[2]);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let div = if eqc { 1.0 } else { cr };
    let (rc, gc, bc) = ((maxc - c[0]) / div, (maxc - c[1]) / div, (maxc - c[2]) / div);
    let mut h = 0.0;
    if maxc == c[0] {
        h += bc - gc;
    }
    if maxc == c[1] && maxc != c[0] {
        h += 2.0 + rc - bc;
    }
    if maxc != c[1] && maxc != c[0] {
        h += 4.0 + gc - rc;
    }
    let hf = h / 6.0 + 1.0;
    [hf - hf.floor(), s, maxc]
}

/// torchvision's _hsv2rgb.
fn hsv2rgb(hsv: [f64; 3]) -> [f64; 3] {
    let (h, s, v) = (hsv[0], hsv[1], hsv[2]);
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (i as i64).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// One view in f64: the value of every output element, and where the solarize decision lies within 1e-5 of
/// the threshold (f32 rounding may decide it either way), the value the other decision gives.
fn view_ref(img: &[f64], ch: usize, h: usize, w: usize, p: &ViewParams, s: &ViewShape) -> Vec<(f64, Option<f64>)> {
    let (oh, ow) = (s.out_h, s.out_w);
    let plane = oh * ow;
    let mut x = vec![0f64; ch * plane];
    let [top, left, crop_h, crop_w] = p.crop.map(|v| v as f64);
    for oy in 0..oh {
        for ox0 in 0..ow {
            let ox = if p.flip != 0.0 { ow - 1 - ox0 } else { ox0 };
            let sy = ((oy as f64 + 0.5) * crop_h / oh as f64 - 0.5).clamp(0.0, crop_h - 1.0);
            let sx = ((ox as f64 + 0.5) * crop_w / ow as f64 - 0.5).clamp(0.0, crop_w - 1.0);
            let (y0, x0) = (sy.floor(), sx.floor());
            let (fy, fx) = (sy - y0, sx - x0);
            let r0 = (top + y0) as usize;
            let r1 = (top + (y0 + 1.0).min(crop_h - 1.0)) as usize;
            let c0 = (left + x0) as usize;
            let c1 = (left + (x0 + 1.0).min(crop_w - 1.0)) as usize;
            for c in 0..ch {
                let at = |r: usize, col: usize| img[c * h * w + r * w + col];
                let t = at(r0, c0) * (1.0 - fx) + at(r0, c1) * fx;
                let b = at(r1, c0) * (1.0 - fx) + at(r1, c1) * fx;
                x[c * plane + oy * ow + ox0] = t * (1.0 - fy) + b * fy;
            }
        }
    }
    let px = |x: &[f64], i: usize| [x[i], x[plane + i], x[2 * plane + i]];
    for op in p.order.map(|o| o as usize) {
        let mean = (0..plane).map(|i| if ch == 3 { grey3(px(&x, i)) } else { x[i] }).sum::<f64>() / plane as f64;
        for i in 0..plane {
            if ch == 3 {
                let c = px(&x, i);
                let f = |v: [f64; 3]| v.map(|e| e.clamp(0.0, 1.0));
                let out = match op {
                    0 => f(c.map(|e| e * p.brightness as f64)),
                    1 => f(c.map(|e| p.contrast as f64 * e + (1.0 - p.contrast as f64) * mean)),
                    2 => {
                        let g = grey3(c);
                        f(c.map(|e| p.saturation as f64 * e + (1.0 - p.saturation as f64) * g))
                    }
                    _ if p.hue != 0.0 => {
                        let mut hsv = rgb2hsv(c);
                        let hh = hsv[0] + p.hue as f64;
                        hsv[0] = hh - hh.floor();
                        hsv2rgb(hsv)
                    }
                    _ => c,
                };
                for k in 0..3 {
                    x[k * plane + i] = out[k];
                }
            } else if op == 0 {
                x[i] = (x[i] * p.brightness as f64).clamp(0.0, 1.0);
            } else if op == 1 {
                x[i] = (p.contrast as f64 * x[i] + (1.0 - p.contrast as f64) * mean).clamp(0.0, 1.0);
            }
        }
    }
    if ch == 3 && p.grey != 0.0 {
        for i in 0..plane {
            let g = grey3(px(&x, i));
            for k in 0..3 {
                x[k * plane + i] = g;
            }
        }
    }
    let r = s.radius as i64;
    let sigma = p.sigma as f64;
    let weight = |t: i64| if sigma <= 0.0 { (t == 0) as u8 as f64 } else { (-0.5 * (t as f64 / sigma).powi(2)).exp() };
    let wsum: f64 = (-r..=r).map(weight).sum();
    let reflect = |i: i64, n: usize| -> usize {
        let n = n as i64;
        let j = if i < 0 { -i } else { i };
        (if j >= n { 2 * (n - 1) - j } else { j }).clamp(0, n - 1) as usize
    };
    let mut rows = vec![0f64; ch * plane];
    for c in 0..ch {
        for oy in 0..oh {
            for ox in 0..ow {
                rows[c * plane + oy * ow + ox] =
                    (-r..=r).map(|t| weight(t) * x[c * plane + oy * ow + reflect(ox as i64 + t, ow)]).sum::<f64>() / wsum;
            }
        }
    }
    let (mean, std) = s.normalize.clone().unwrap_or((vec![0.0; ch], vec![1.0; ch]));
    let mut out = Vec::with_capacity(ch * plane);
    let t = s.threshold as f64;
    for c in 0..ch {
        let norm = |v: f64| (v - mean[c] as f64) / std[c] as f64;
        for oy in 0..oh {
            for ox in 0..ow {
                let v = (-r..=r).map(|tt| weight(tt) * rows[c * plane + reflect(oy as i64 + tt, oh) * ow + ox]).sum::<f64>() / wsum;
                if p.solarize != 0.0 {
                    let flipped = if v >= t { 1.0 - v } else { v };
                    let other = if v >= t { v } else { 1.0 - v };
                    out.push((norm(flipped), ((v - t).abs() < 1e-5).then(|| norm(other))));
                } else {
                    out.push((norm(v), None));
                }
            }
        }
    }
    out
}

fn check(label: &str, batch: usize, ch: usize, h: usize, w: usize, shape: &ViewShape, params: &[ViewParams], rng: &mut Rng) {
    let images: Vec<f32> = (0..batch * ch * h * w).map(|_| rng.uniform() as f32).collect();
    let t = Tensor::from_slice(gpu(), &images, &[batch, ch, h, w]).unwrap();
    let got = augment(gpu(), &t, params, shape).unwrap();
    assert_eq!(got.shape(), &[params.len(), ch, shape.out_h, shape.out_w], "{label}: shape");
    let got = got.to_vec::<f32>(gpu()).unwrap();
    let n = ch * shape.out_h * shape.out_w;
    let mut worst = 0f64;
    for (v, p) in params.iter().enumerate() {
        let b = v % batch;
        let img = f64s(&images[b * ch * h * w..(b + 1) * ch * h * w]);
        let want = view_ref(&img, ch, h, w, p, shape);
        for (i, (g, (a, alt))) in got[v * n..(v + 1) * n].iter().zip(&want).enumerate() {
            let err = (*g as f64 - a).abs().min(alt.map_or(f64::INFINITY, |o| (*g as f64 - o).abs()));
            assert!(g.is_finite() && err <= 2e-5, "{label}: view {v} element {i}: got {g}, want {a} (|err| {err:.2e} > 2e-5), params {p:?}");
            worst = worst.max(err);
        }
    }
    eprintln!("{label}: {} views, max |err| {worst:.2e}", params.len());
}

/// A recipe with every step likely, so each view mixes them.
fn busy() -> ViewRecipe {
    ViewRecipe {
        crop_scale: (0.1, 1.0),
        crop_ratio: (0.5, 2.0),
        flip_p: 0.5,
        jitter_p: 0.9,
        brightness: 0.8,
        contrast: 0.8,
        saturation: 0.8,
        hue: 0.5,
        grey_p: 0.3,
        blur_p: 0.7,
        sigma: (0.1, 2.0),
        solarize_p: 0.5,
    }
}

#[test]
fn views_match_the_f64_reference_grey_and_rgb_at_odd_sizes() {
    let mut rng = Rng::new(5);
    let mut draw = EngineRng::new(9);
    let recipe = busy();
    // (batch, channels, height, width, out_h, out_w, radius, views per image, normalise)
    let cases = [
        (3, 1, 28, 28, 28, 28, 1, 2, false),
        (2, 3, 13, 17, 13, 17, 2, 3, true),
        (1, 3, 9, 5, 11, 7, 3, 2, false),
        (2, 1, 31, 19, 7, 29, 0, 2, true),
        (1, 1, 1, 1, 1, 1, 0, 2, false),
        (5, 3, 32, 32, 32, 32, 11, 1, true),
    ];
    for (batch, ch, h, w, oh, ow, radius, per, norm) in cases {
        let shape = ViewShape {
            out_h: oh,
            out_w: ow,
            radius,
            threshold: 0.5,
            normalize: norm.then(|| ((0..ch).map(|c| 0.3 + 0.1 * c as f32).collect(), (0..ch).map(|c| 0.2 + 0.15 * c as f32).collect())),
        };
        let params: Vec<ViewParams> = (0..batch * per).map(|_| recipe.draw(h, w, &mut draw)).collect();
        check(&format!("{batch}x{ch}x{h}x{w} -> {oh}x{ow} r{radius}"), batch, ch, h, w, &shape, &params, &mut rng);
    }
}

#[test]
fn identity_parameters_copy_and_each_step_changes_the_view() {
    let mut rng = Rng::new(6);
    let (h, w) = (12, 10);
    let images: Vec<f32> = (0..3 * h * w).map(|_| rng.uniform() as f32).collect();
    let t = Tensor::from_slice(gpu(), &images, &[1, 3, h, w]).unwrap();
    let shape = ViewShape { out_h: h, out_w: w, radius: 1, threshold: 0.5, normalize: None };
    let id = ViewParams::identity(h, w);
    let steps: Vec<(&str, ViewParams)> = vec![
        ("identity", id),
        ("crop", ViewParams { crop: [2.0, 1.0, 7.0, 8.0], ..id }),
        ("flip", ViewParams { flip: 1.0, ..id }),
        ("brightness", ViewParams { brightness: 0.5, ..id }),
        ("contrast", ViewParams { contrast: 0.3, ..id }),
        ("saturation", ViewParams { saturation: 0.2, ..id }),
        ("hue", ViewParams { hue: 0.25, ..id }),
        ("order", ViewParams { brightness: 1.7, contrast: 0.4, order: [1.0, 0.0, 3.0, 2.0], ..id }),
        ("grey", ViewParams { grey: 1.0, ..id }),
        ("blur", ViewParams { sigma: 1.5, ..id }),
        ("solarize", ViewParams { solarize: 1.0, ..id }),
    ];
    let params: Vec<ViewParams> = steps.iter().map(|(_, p)| *p).collect();
    let got = augment(gpu(), &t, &params, &shape).unwrap().to_vec::<f32>(gpu()).unwrap();
    let n = 3 * h * w;
    assert_eq!(&got[..n], &images[..], "identity parameters must copy the image exactly");
    for (v, (name, p)) in steps.iter().enumerate().skip(1) {
        let view = &got[v * n..(v + 1) * n];
        let diff = view.iter().zip(&images).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff > 1e-3, "{name}: the view equals the image (max diff {diff})");
        let want = view_ref(&f64s(&images), 3, h, w, p, &shape);
        let err = view.iter().zip(&want).map(|(g, (a, _))| (*g as f64 - a).abs()).fold(0f64, f64::max);
        assert!(err <= 2e-5, "{name}: max |err| {err:.2e} > 2e-5");
    }
}

#[test]
fn method_pairs_draw_reproducibly_and_bad_input_is_an_error() {
    let pair = ViewPair::for_method("byol", 28).unwrap();
    let a = pair.draw(4, 28, 28, &mut EngineRng::new(1));
    let b = pair.draw(4, 28, 28, &mut EngineRng::new(1));
    assert_eq!(a, b, "the same seed draws the same views");
    assert_eq!(a.len(), 8);
    assert!(a[..4].iter().all(|v| v.sigma > 0.0), "BYOL's first views always blur");
    let t = Tensor::from_slice(gpu(), &vec![0.5f32; 2 * 28 * 28], &[2, 1, 28, 28]).unwrap();
    let shape = pair.shape(28, 28);
    let mut bad = a.clone();
    bad[0].crop = [20.0, 0.0, 10.0, 5.0];
    let e = augment(gpu(), &t, &bad, &shape).unwrap_err().to_string();
    assert!(e.contains("view 0") && e.contains("inside"), "{e}");
    let mut bad = a.clone();
    bad[1].order = [0.0, 0.0, 2.0, 3.0];
    assert!(augment(gpu(), &t, &bad, &shape).unwrap_err().to_string().contains("permutation"));
    let two = Tensor::from_slice(gpu(), &vec![0.5f32; 2 * 28 * 28], &[1, 2, 28, 28]).unwrap();
    assert!(augment(gpu(), &two, &a, &shape).unwrap_err().to_string().contains("2 channels"));
    let wide = ViewShape { radius: 28, ..shape };
    assert!(augment(gpu(), &t, &a, &wide).unwrap_err().to_string().contains("radius"));
}
