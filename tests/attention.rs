//! Fused attention (forward O and lse, backward dQ, dK, dV) against a plain f64 softmax-attention reference,
//! whose analytic gradient is itself checked by central finite differences.
mod common;
use common::*;
use pretext::kernels::attention::{attention_bwd, attention_fwd, AttentionPath, AttnDropout, Layout};
use pretext::{DType, Error, Tensor};

/// One test case: [batch, heads, seq, head_dim], optional key lengths per batch, causal flag, and the memory
/// layout the device sees (the reference always works in [batch, heads, seq, head_dim]).
#[derive(Clone, Debug)]
struct Case {
    dims: [usize; 4],
    lengths: Option<Vec<i32>>,
    causal: bool,
    layout: Layout,
    /// Dropout on the probabilities: (p, seed, offset).
    dropout: Option<(f32, u64, u64)>,
}

impl Case {
    /// D_ij of (b, h, i, j): 1/(1 − p) where the host Philox keeps the entry, 0 where it drops it, 1 without dropout.
    fn drop_factor(&self, b: usize, h: usize, i: usize, j: usize) -> f64 {
        let [_, heads, seq, _] = self.dims;
        match self.dropout {
            None => 1.0,
            Some((p, seed, offset)) => {
                let e = offset + (((b * heads + h) * seq + i) * seq + j) as u64;
                if keep_ref(seed, e, p as f64) { 1.0 / (1.0 - p as f64) } else { 0.0 }
            }
        }
    }

    fn attn_dropout(&self) -> Option<AttnDropout> {
        self.dropout.map(|(p, seed, offset)| AttnDropout { p, seed, offset })
    }
}

/// Swaps axes 1 and 2 of a [d0, d1, d2, d3] array: [batch, heads, seq, dim] <-> [batch, seq, heads, dim].
fn swap12<T: Copy>(x: &[T], [d0, d1, d2, d3]: [usize; 4]) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for a in 0..d0 {
        for c in 0..d2 {
            for b in 0..d1 {
                out.extend_from_slice(&x[((a * d1 + b) * d2 + c) * d3..][..d3]);
            }
        }
    }
    out
}

/// Keys query i of batch b sees: j < len_b and (not causal or j <= i).
fn visible(case: &Case, b: usize, i: usize, j: usize) -> bool {
    let seq = case.dims[2];
    let len = case.lengths.as_ref().map_or(seq, |l| (l[b].max(0) as usize).min(seq));
    j < len && (!case.causal || j <= i)
}

/// Plain softmax attention in f64: (o [b,h,t,d], lse [b,h,t]); a row with no visible key gives o = 0, lse = -inf.
fn attention_ref(case: &Case, q: &[f64], k: &[f64], v: &[f64], scale: f64) -> (Vec<f64>, Vec<f64>) {
    let [batch, heads, seq, dim] = case.dims;
    let mut o = vec![0.0; q.len()];
    let mut lse = vec![f64::NEG_INFINITY; batch * heads * seq];
    for b in 0..batch {
        for h in 0..heads {
            let base = (b * heads + h) * seq;
            for i in 0..seq {
                let keys: Vec<usize> = (0..seq).filter(|&j| visible(case, b, i, j)).collect();
                if keys.is_empty() {
                    continue;
                }
                let s: Vec<f64> = keys
                    .iter()
                    .map(|&j| scale * (0..dim).map(|d| q[(base + i) * dim + d] * k[(base + j) * dim + d]).sum::<f64>())
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                lse[base + i] = m + z.ln();
                for (&j, sj) in keys.iter().zip(&s) {
                    let pij = (sj - m).exp() / z * case.drop_factor(b, h, i, j);
                    for d in 0..dim {
                        o[(base + i) * dim + d] += pij * v[(base + j) * dim + d];
                    }
                }
            }
        }
    }
    (o, lse)
}

/// The analytic gradient of Σ o·dout: (dq, dk, dv), with P recomputed from scratch.
fn attention_grad_ref(case: &Case, q: &[f64], k: &[f64], v: &[f64], dout: &[f64], scale: f64) -> [Vec<f64>; 3] {
    let [batch, heads, seq, dim] = case.dims;
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; q.len()], vec![0.0; q.len()]);
    let (_, lse) = attention_ref(case, q, k, v, scale);
    let dot = |a: &[f64], ia: usize, b: &[f64], ib: usize| (0..dim).map(|d| a[ia * dim + d] * b[ib * dim + d]).sum::<f64>();
    for b in 0..batch {
        for h in 0..heads {
            let base = (b * heads + h) * seq;
            for i in 0..seq {
                let keys: Vec<usize> = (0..seq).filter(|&j| visible(case, b, i, j)).collect();
                let p: Vec<f64> = keys.iter().map(|&j| (scale * dot(q, base + i, k, base + j) - lse[base + i]).exp()).collect();
                // with dropout D: o = (p ⊙ D) v, so dp_ij = D_ij do_i·v_j and dv_j = Σ_i p_ij D_ij do_i
                let dmask: Vec<f64> = keys.iter().map(|&j| case.drop_factor(b, h, i, j)).collect();
                let dp: Vec<f64> = keys.iter().zip(&dmask).map(|(&j, dm)| dm * dot(dout, base + i, v, base + j)).collect();
                let delta: f64 = p.iter().zip(&dp).map(|(a, b)| a * b).sum();
                for (n, &j) in keys.iter().enumerate() {
                    let ds = p[n] * (dp[n] - delta);
                    for d in 0..dim {
                        dq[(base + i) * dim + d] += scale * ds * k[(base + j) * dim + d];
                        dk[(base + j) * dim + d] += scale * ds * q[(base + i) * dim + d];
                        dv[(base + j) * dim + d] += p[n] * dmask[n] * dout[(base + i) * dim + d];
                    }
                }
            }
        }
    }
    [dq, dk, dv]
}

/// Runs forward and backward on the device, by both paths, and compares every output with the f64 reference.
fn check_case(case: &Case, seed: u64) {
    for path in [AttentionPath::Fused, AttentionPath::Matmul] {
        check_path(case, seed, path);
    }
}

fn check_path(case: &Case, seed: u64, path: AttentionPath) {
    let g = gpu();
    let mut rng = Rng::new(seed);
    let [batch, heads, seq, dim] = case.dims;
    let n = batch * heads * seq * dim;
    let (q, k, v, dout) = (rng.vec_f32(n), rng.vec_f32(n), rng.vec_f32(n), rng.vec_f32(n));
    let scale = 1.0 / (dim.max(1) as f32).sqrt() * 1.7; // != 1/sqrt(d), so a dropped scale shows
    // The device's copy of a [batch, heads, seq, dim] array, and a device result back in that order.
    let seq_first = case.layout == Layout::SeqFirst;
    let t = |x: &[f32]| match seq_first {
        false => Tensor::from_slice(g, x, &case.dims).unwrap(),
        true => Tensor::from_slice(g, &swap12(x, case.dims), &[batch, seq, heads, dim]).unwrap(),
    };
    let back = |x: &Tensor| {
        let v = x.to_vec::<f32>(g).unwrap();
        if seq_first { swap12(&v, [batch, seq, heads, dim]) } else { v }
    };
    let (qt, kt, vt, dt) = (t(&q), t(&k), t(&v), t(&dout));
    let lens = case.lengths.as_ref().map(|l| Tensor::from_slice(g, l, &[batch]).unwrap());
    let fwd = attention_fwd(g, &qt, &kt, &vt, lens.as_ref(), case.causal, scale, case.layout, case.attn_dropout(), Some(path)).unwrap();
    let grads = attention_bwd(g, &qt, &kt, &vt, &fwd.out, &fwd.lse, &dt, lens.as_ref(), case.causal, scale, case.layout, case.attn_dropout(), Some(path)).unwrap();

    let (q64, k64, v64, d64) = (f64s(&q), f64s(&k), f64s(&v), f64s(&dout));
    let (o_ref, lse_ref) = attention_ref(case, &q64, &k64, &v64, scale as f64);
    let [dq_ref, dk_ref, dv_ref] = attention_grad_ref(case, &q64, &k64, &v64, &d64, scale as f64);

    let o = back(&fwd.out);
    let err = rel_l2(&o, &o_ref);
    eprintln!("{path:?} {:?} lengths {:?} causal {}: out error {err:.1e}", case.dims, case.lengths, case.causal);
    assert!(err <= 1e-5, "attention_fwd {path:?} {case:?}: out rel L2 error {err:.2e} > 1e-5");
    // lse: finite rows compared; rows with no visible key must be exactly -inf.
    let lse = fwd.lse.to_vec::<f32>(g).unwrap();
    for (r, (&got, &want)) in lse.iter().zip(&lse_ref).enumerate() {
        if want == f64::NEG_INFINITY {
            assert!(got == f32::NEG_INFINITY, "attention_fwd {path:?} {case:?}: lse[{r}] = {got}, expected -inf (no visible key)");
        } else {
            let e = (got as f64 - want).abs() / want.abs().max(1.0);
            assert!(e <= 1e-5, "attention_fwd {path:?} {case:?}: lse[{r}] = {got}, want {want}: error {e:.2e} > 1e-5");
        }
    }
    for (name, got, want) in [("dq", &grads.dq, &dq_ref), ("dk", &grads.dk, &dk_ref), ("dv", &grads.dv, &dv_ref)] {
        let got = back(got);
        assert!(got.iter().all(|x| x.is_finite()), "attention_bwd {path:?} {case:?}: {name} has a non-finite value");
        let err = if want.iter().all(|&x| x == 0.0) { max_abs(&got, want) } else { rel_l2(&got, want) };
        eprintln!("{path:?} {:?} lengths {:?} causal {}: {name} error {err:.1e}", case.dims, case.lengths, case.causal);
        assert!(err <= 1e-5, "attention_bwd {path:?} {case:?}: {name} rel L2 error {err:.2e} > 1e-5");
    }
}

fn case(dims: [usize; 4], lengths: Option<Vec<i32>>, causal: bool) -> Case {
    Case { dims, lengths, causal, layout: Layout::HeadsFirst, dropout: None }
}

#[test]
fn reference_gradient_matches_finite_differences() {
    // Loss L = Σ o·w, with lengths (one fully masked batch), the causal mask and dropout, on a tiny case.
    let c = Case { dropout: Some((0.3, 5, 12)), ..case([2, 2, 5, 3], Some(vec![4, 0]), true) };
    assert!((0..2).any(|h| (0..5).any(|j| c.drop_factor(0, h, 4, j) == 0.0)), "the mask drops something");
    let mut rng = Rng::new(11);
    let n = 2 * 2 * 5 * 3;
    let mut x: Vec<Vec<f64>> = (0..3).map(|_| (0..n).map(|_| rng.range(-1.0, 1.0)).collect()).collect();
    let w: Vec<f64> = (0..n).map(|_| rng.range(-1.0, 1.0)).collect();
    let scale = 0.7;
    let loss = |x: &[Vec<f64>]| attention_ref(&c, &x[0], &x[1], &x[2], scale).0.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
    let grads = attention_grad_ref(&c, &x[0], &x[1], &x[2], &w, scale);
    let h = 1e-5;
    for (t, name) in ["dq", "dk", "dv"].iter().enumerate() {
        for e in 0..n {
            let orig = x[t][e];
            x[t][e] = orig + h;
            let up = loss(&x);
            x[t][e] = orig - h;
            let down = loss(&x);
            x[t][e] = orig;
            let fd = (up - down) / (2.0 * h);
            let err = (fd - grads[t][e]).abs();
            assert!(err <= 1e-8, "reference {name}[{e}]: analytic {} vs finite difference {fd}: |diff| {err:.2e} > 1e-8", grads[t][e]);
        }
    }
}

#[test]
fn matches_reference_at_awkward_shapes() {
    let cases = [
        case([1, 1, 1, 1], None, false),
        case([2, 3, 7, 8], None, false),
        case([1, 2, 37, 31], None, false),
        case([2, 1, 13, 1], None, false),
        case([1, 2, 9, 64], None, false),
        case([1, 1, 11, 128], None, false),
        case([3, 2, 33, 8], None, false),
        case([1, 1, 300, 16], None, false),
    ];
    for (s, c) in cases.iter().enumerate() {
        check_case(c, 100 + s as u64);
    }
}

#[test]
fn key_lengths_mask_padding_and_empty_rows_are_zero() {
    let cases = [
        case([3, 2, 7, 8], Some(vec![0, 5, 7]), false),
        case([4, 1, 37, 31], Some(vec![37, 1, 0, 20]), false),
        case([2, 2, 13, 128], Some(vec![13, 6]), false),
        // Out-of-range lengths are clamped to [0, seq].
        case([2, 1, 5, 4], Some(vec![-3, 99]), false),
    ];
    for (s, c) in cases.iter().enumerate() {
        check_case(c, 200 + s as u64);
    }
}

#[test]
fn causal_mask_with_and_without_lengths() {
    let cases = [
        case([1, 1, 1, 5], None, true),
        case([2, 2, 37, 16], None, true),
        case([3, 1, 11, 31], Some(vec![0, 4, 11]), true),
        case([1, 1, 64, 128], None, true),
    ];
    for (s, c) in cases.iter().enumerate() {
        check_case(c, 300 + s as u64);
    }
}

#[test]
fn seq_first_layout_reads_heads_in_place() {
    // [batch, seq, heads, head_dim], as a projection reshaped: the same results, rows at stride heads·head_dim.
    let cases = [
        case([1, 1, 1, 1], None, false),
        case([2, 3, 7, 8], Some(vec![0, 5]), false),
        case([3, 2, 33, 64], Some(vec![33, 20, 1]), false),
        case([2, 4, 37, 31], None, true),
    ];
    for (s, c) in cases.into_iter().enumerate() {
        check_case(&Case { layout: Layout::SeqFirst, ..c }, 400 + s as u64);
    }
}

#[test]
fn empty_shapes_give_empty_outputs() {
    let g = gpu();
    for dims in [[0, 2, 3, 4], [2, 0, 3, 4], [2, 2, 0, 4]] {
        let x = Tensor::empty(g, &dims, DType::F32).unwrap();
        let f = attention_fwd(g, &x, &x, &x, None, false, 1.0, Layout::HeadsFirst, None, None).unwrap();
        assert_eq!(f.out.shape(), &dims);
        assert_eq!(f.lse.shape(), &dims[..3]);
        let gr = attention_bwd(g, &x, &x, &x, &f.out, &f.lse, &x, None, false, 1.0, Layout::HeadsFirst, None, None).unwrap();
        assert_eq!(gr.dq.shape(), &dims);
    }
}

#[test]
fn bad_inputs_are_errors() {
    let g = gpu();
    let t = |shape: &[usize]| Tensor::from_slice(g, &vec![0.5f32; shape.iter().product()], shape).unwrap();
    let (q, k, v) = (t(&[2, 2, 5, 8]), t(&[2, 2, 5, 8]), t(&[2, 2, 5, 8]));
    let shape_err = |r: Result<pretext::kernels::attention::AttentionOut, Error>, what: &str| match r {
        Err(Error::Shape(m)) => assert!(m.contains("attention_fwd") && m.contains(what), "{m}"),
        Err(e) => panic!("expected a shape error naming {what}, got {e}"),
        Ok(_) => panic!("expected a shape error naming {what}"),
    };
    shape_err(attention_fwd(g, &q, &t(&[2, 2, 6, 8]), &v, None, false, 1.0, Layout::HeadsFirst, None, None), "k");
    shape_err(attention_fwd(g, &q, &k, &t(&[2, 2, 5, 7]), None, false, 1.0, Layout::HeadsFirst, None, None), "v");
    shape_err(attention_fwd(g, &t(&[2, 5, 8]), &k, &v, None, false, 1.0, Layout::HeadsFirst, None, None), "q");
    let big = t(&[1, 1, 2, 129]);
    shape_err(attention_fwd(g, &big, &big, &big, None, false, 1.0, Layout::HeadsFirst, None, None), "head_dim");
    let lens3 = Tensor::from_slice(g, &[1i32, 2, 3], &[3]).unwrap();
    shape_err(attention_fwd(g, &q, &k, &v, Some(&lens3), false, 1.0, Layout::HeadsFirst, None, None), "lengths");
    let lens_f = Tensor::from_slice(g, &[1.0f32, 2.0], &[2]).unwrap();
    match attention_fwd(g, &q, &k, &v, Some(&lens_f), false, 1.0, Layout::HeadsFirst, None, None) {
        Err(Error::DType(m)) => assert!(m.contains("lengths"), "{m}"),
        _ => panic!("f32 lengths must be a dtype error"),
    }
    let qi = Tensor::from_slice(g, &vec![1i32; 2 * 2 * 5 * 8], &[2, 2, 5, 8]).unwrap();
    assert!(matches!(attention_fwd(g, &qi, &k, &v, None, false, 1.0, Layout::HeadsFirst, None, None), Err(Error::DType(_))), "i32 q must be a dtype error");

    let f = attention_fwd(g, &q, &k, &v, None, false, 1.0, Layout::HeadsFirst, None, None).unwrap();
    let bwd_err = |r: Result<pretext::kernels::attention::AttentionGrads, Error>, what: &str| match r {
        Err(Error::Shape(m)) => assert!(m.contains("attention_bwd") && m.contains(what), "{m}"),
        Err(e) => panic!("expected a shape error naming {what}, got {e}"),
        Ok(_) => panic!("expected a shape error naming {what}"),
    };
    bwd_err(attention_bwd(g, &q, &k, &v, &f.out, &f.lse, &t(&[2, 2, 5, 4]), None, false, 1.0, Layout::HeadsFirst, None, None), "dout");
    bwd_err(attention_bwd(g, &q, &k, &v, &f.out, &t(&[2, 2, 4]), &q, None, false, 1.0, Layout::HeadsFirst, None, None), "lse");
    bwd_err(attention_bwd(g, &q, &k, &v, &t(&[2, 2, 5]), &f.lse, &q, None, false, 1.0, Layout::HeadsFirst, None, None), "out");
    bwd_err(attention_bwd(g, &q, &t(&[2, 1, 5, 8]), &v, &f.out, &f.lse, &q, None, false, 1.0, Layout::HeadsFirst, None, None), "k");
    bwd_err(attention_bwd(g, &q, &k, &v, &f.out, &f.lse, &q, Some(&lens3), false, 1.0, Layout::HeadsFirst, None, None), "lengths");
}

#[test]
fn unfused_bench_baseline_matches_reference() {
    // The bench's baseline must compute the same thing, or its timings mean nothing.
    use pretext::bench::attention::{unfused_bwd, unfused_fwd};
    let g = gpu();
    let c = case([2, 2, 9, 6], None, false);
    let mut rng = Rng::new(400);
    let n = 2 * 2 * 9 * 6;
    let (q, k, v, dout) = (rng.vec_f32(n), rng.vec_f32(n), rng.vec_f32(n), rng.vec_f32(n));
    let t = |x: &[f32]| Tensor::from_slice(g, x, &c.dims).unwrap();
    let (qt, kt, vt, dt) = (t(&q), t(&k), t(&v), t(&dout));
    let (o, probs) = unfused_fwd(g, &qt, &kt, &vt, 0.6).unwrap();
    let grads = unfused_bwd(g, &qt, &kt, &vt, &probs, &dt, 0.6).unwrap();
    let (q64, k64, v64, d64) = (f64s(&q), f64s(&k), f64s(&v), f64s(&dout));
    let (o_ref, _) = attention_ref(&c, &q64, &k64, &v64, 0.6);
    let err = rel_l2(&o.to_vec::<f32>(g).unwrap(), &o_ref);
    assert!(err <= 1e-5, "attention_unfused_fwd: rel L2 error {err:.2e} > 1e-5");
    let want = attention_grad_ref(&c, &q64, &k64, &v64, &d64, 0.6);
    for (name, got, want) in [("dq", &grads[0], &want[0]), ("dk", &grads[1], &want[1]), ("dv", &grads[2], &want[2])] {
        let err = rel_l2(&got.to_vec::<f32>(g).unwrap(), want);
        assert!(err <= 1e-5, "attention_unfused_bwd: {name} rel L2 error {err:.2e} > 1e-5");
    }
}


#[test]
fn dropout_on_the_probabilities_both_paths_match_the_reference_with_the_same_mask() {
    // Both layouts, lengths, causal, an offset that is not a multiple of 4, a large p; each path against the
    // f64 reference drawing the mask with the host Philox, and so against each other.
    let cases = [
        Case { dropout: Some((0.1, 7, 0)), ..case([2, 3, 7, 8], None, false) },
        Case { dropout: Some((0.5, 0x1234_5678_9abc, 13)), ..case([3, 2, 33, 16], Some(vec![33, 20, 0]), false) },
        Case { dropout: Some((0.9, 3, 1 << 33)), ..case([1, 2, 37, 31], None, true) },
        Case { dropout: Some((0.25, 11, 6)), layout: Layout::SeqFirst, ..case([2, 4, 21, 16], Some(vec![21, 9]), false) },
    ];
    for (s, c) in cases.iter().enumerate() {
        check_case(c, 500 + s as u64);
    }
}

#[test]
fn dropout_p_zero_is_no_dropout_and_bad_p_is_an_error() {
    let g = gpu();
    let mut rng = Rng::new(9);
    let dims = [2, 2, 9, 8];
    let x = Tensor::from_slice(g, &rng.vec_f32(2 * 2 * 9 * 8), &dims).unwrap();
    for path in [AttentionPath::Fused, AttentionPath::Matmul] {
        let plain = attention_fwd(g, &x, &x, &x, None, false, 0.5, Layout::HeadsFirst, None, Some(path)).unwrap();
        let zero = AttnDropout { p: 0.0, seed: 3, offset: 0 };
        let p0 = attention_fwd(g, &x, &x, &x, None, false, 0.5, Layout::HeadsFirst, Some(zero), Some(path)).unwrap();
        assert_eq!(plain.out.to_vec::<f32>(g).unwrap(), p0.out.to_vec::<f32>(g).unwrap(), "{path:?}: p = 0 must equal no dropout");
        let bad = AttnDropout { p: 1.0, seed: 3, offset: 0 };
        let e = attention_fwd(g, &x, &x, &x, None, false, 0.5, Layout::HeadsFirst, Some(bad), Some(path)).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("dropout") && e.contains("[0, 1)"), "{e}");
    }
}
