//! Elementwise, broadcast, reductions, dropout and layout kernels against f64 references.
mod common;
use common::*;

use pretext::kernels::dropout::dropout;
use pretext::kernels::elementwise::{axpy, binary, unary, BinaryOp, UnaryOp};
use pretext::kernels::layout::{concat, gather_rows, permute, scatter_rows, slice};
use pretext::kernels::reduce::{reduce_to, ReduceOp};
use pretext::{Error, Tensor};

// ---------- f64 references ----------

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

/// Coordinates of flat index i in `shape`.
fn coords(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        c[k] = i % shape[k];
        i /= shape[k];
    }
    c
}

/// Flat index in `shape` (right-aligned, broadcast axes read index 0) of output coordinates `c`.
fn broadcast_index(c: &[usize], shape: &[usize]) -> usize {
    let lead = c.len() - shape.len();
    let st = strides(shape);
    (0..shape.len()).map(|k| if shape[k] == 1 { 0 } else { c[lead + k] * st[k] }).sum()
}

fn broadcast_shape_ref(a: &[usize], b: &[usize]) -> Vec<usize> {
    let r = a.len().max(b.len());
    let d = |s: &[usize], k: usize| if k + s.len() >= r { s[k + s.len() - r] } else { 1 };
    (0..r).map(|k| if d(a, k) == 1 { d(b, k) } else { d(a, k) }).collect()
}

fn binary_ref(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize], op: BinaryOp) -> Vec<f64> {
    let out = broadcast_shape_ref(sa, sb);
    (0..numel(&out))
        .map(|i| {
            let c = coords(i, &out);
            let (u, v) = (a[broadcast_index(&c, sa)], b[broadcast_index(&c, sb)]);
            match op {
                BinaryOp::Add => u + v,
                BinaryOp::Sub => u - v,
                BinaryOp::Mul => u * v,
                BinaryOp::Div => u / v,
            }
        })
        .collect()
}

/// Sum of x over the axes where `shape` is 1 or missing (the adjoint of broadcasting `shape` to xs).
fn reduce_ref(x: &[f64], xs: &[usize], shape: &[usize], mean: bool) -> Vec<f64> {
    let mut out = vec![0.0; numel(shape)];
    for (i, v) in x.iter().enumerate() {
        out[broadcast_index(&coords(i, xs), shape)] += v;
    }
    let count = (numel(xs) / numel(shape).max(1)) as f64;
    if mean {
        out.iter_mut().for_each(|v| *v /= count);
    }
    out
}

fn permute_ref<T: Copy>(x: &[T], xs: &[usize], perm: &[usize]) -> Vec<T> {
    let out_shape: Vec<usize> = perm.iter().map(|&a| xs[a]).collect();
    let st = strides(xs);
    (0..numel(&out_shape))
        .map(|i| {
            let c = coords(i, &out_shape);
            x[perm.iter().enumerate().map(|(k, &a)| c[k] * st[a]).sum::<usize>()]
        })
        .collect()
}

fn slice_ref(x: &[f32], xs: &[usize], axis: usize, start: usize, len: usize) -> Vec<f32> {
    let mut out_shape = xs.to_vec();
    out_shape[axis] = len;
    let st = strides(xs);
    (0..numel(&out_shape))
        .map(|i| {
            let mut c = coords(i, &out_shape);
            c[axis] += start;
            x[c.iter().zip(&st).map(|(a, b)| a * b).sum::<usize>()]
        })
        .collect()
}

fn gather_ref(x: &[f64], batch: usize, len: usize, dim: usize, index: &[i32], keep: usize) -> Vec<f64> {
    let mut out = vec![0.0; batch * keep * dim];
    for b in 0..batch {
        for k in 0..keep {
            let l = index[b * keep + k];
            if l >= 0 && (l as usize) < len {
                for e in 0..dim {
                    out[(b * keep + k) * dim + e] = x[(b * len + l as usize) * dim + e];
                }
            }
        }
    }
    out
}

fn scatter_ref(dy: &[f64], batch: usize, keep: usize, dim: usize, index: &[i32], len: usize) -> Vec<f64> {
    let mut out = vec![0.0; batch * len * dim];
    for b in 0..batch {
        for k in 0..keep {
            let l = index[b * keep + k];
            if l >= 0 && (l as usize) < len {
                for e in 0..dim {
                    out[(b * len + l as usize) * dim + e] += dy[(b * keep + k) * dim + e];
                }
            }
        }
    }
    out
}

// ---------- helpers ----------

fn upload(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(gpu(), data, shape).unwrap()
}

fn download(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>(gpu()).unwrap()
}

fn is_shape_err<T>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Shape(_)))
}

fn is_dtype_err<T>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::DType(_)))
}

// ---------- binary / unary / axpy ----------

#[test]
fn binary_broadcasts_like_numpy() {
    let mut rng = Rng::new(1);
    let cases: &[(&[usize], &[usize])] = &[
        (&[1], &[1]),
        (&[7], &[7]),
        (&[13, 17], &[13, 17]),
        (&[8, 16], &[8, 16]),
        (&[7, 5], &[5]),
        (&[5], &[7, 5]),
        (&[3, 1, 5], &[1, 4, 1]),
        (&[1, 4, 1], &[3, 1, 5]),
        (&[6, 8], &[1]),
        (&[1], &[6, 8]),
        (&[5, 1031 * 4], &[1]), // a single element splatted over vec4s, several workgroups
        (&[1], &[2, 2, 1030]),
        (&[4, 8], &[4, 1]),
        (&[3, 8], &[3, 1]),
        (&[2, 12, 8], &[12, 1]),
        (&[2, 3, 4, 8], &[3, 1, 8]),
        (&[2, 3, 5, 7, 11, 2], &[1, 3, 1, 7, 1, 2]),
        (&[2, 1, 3, 1, 5, 1], &[1, 4, 1, 6, 1, 7]),
        (&[0, 3], &[3]),
        (&[37 * 1024 + 3], &[37 * 1024 + 3]),
        (&[8192, 96], &[96]),
    ];
    for &(sa, sb) in cases {
        let a = rng.vec_f32(numel(sa));
        // Divisors kept away from 0: |b| in [0.5, 1.5).
        let b: Vec<f32> = (0..numel(sb)).map(|_| (rng.range(0.5, 1.5) * if rng.uniform() < 0.5 { -1.0 } else { 1.0 }) as f32).collect();
        let (ta, tb) = (upload(&a, sa), upload(&b, sb));
        for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div] {
            let out = binary(gpu(), &ta, &tb, op).unwrap();
            let want = binary_ref(&f64s(&a), sa, &f64s(&b), sb, op);
            assert_eq!(out.shape(), broadcast_shape_ref(sa, sb).as_slice(), "{op:?} {sa:?} {sb:?}: output shape");
            let err = rel_l2(&download(&out), &want);
            assert!(err <= 1e-6, "binary {op:?} {sa:?} op {sb:?}: rel L2 error {err:.2e} > 1e-6 (one f32 rounding)");
        }
    }
}

#[test]
fn binary_of_a_tensor_with_itself() {
    let x = Rng::new(2).vec_f32(103);
    let t = upload(&x, &[103]);
    let out = download(&binary(gpu(), &t, &t, BinaryOp::Mul).unwrap());
    let want: Vec<f64> = x.iter().map(|&v| v as f64 * v as f64).collect();
    let err = rel_l2(&out, &want);
    assert!(err <= 1e-6, "x * x with one buffer bound twice: rel L2 error {err:.2e} > 1e-6");
}

#[test]
fn binary_rejects_bad_inputs() {
    let a = upload(&[0.0; 6], &[2, 3]);
    let b = upload(&[0.0; 4], &[4]);
    assert!(is_shape_err(binary(gpu(), &a, &b, BinaryOp::Add)), "[2,3] + [4] must be a shape error");
    let c = upload(&[0.0; 6], &[3, 2]);
    assert!(is_shape_err(binary(gpu(), &a, &c, BinaryOp::Mul)), "[2,3] * [3,2] must be a shape error");
    let ids = Tensor::from_slice(gpu(), &[1i32, 2, 3], &[3]).unwrap();
    assert!(is_dtype_err(binary(gpu(), &a, &ids, BinaryOp::Add)), "an i32 operand must be a dtype error");
    assert!(is_dtype_err(unary(gpu(), &ids, UnaryOp::Neg)), "unary of i32 must be a dtype error");
}

fn unary_ref(v: f64, op: UnaryOp) -> f64 {
    match op {
        UnaryOp::Scale(s) => s as f64 * v,
        UnaryOp::AddScalar(s) => v + s as f64,
        UnaryOp::Neg => -v,
        UnaryOp::Exp => v.exp(),
        UnaryOp::Log => v.ln(),
        UnaryOp::Sqrt => v.sqrt(),
        UnaryOp::Rsqrt { eps } => 1.0 / (v + eps as f64).sqrt(),
        UnaryOp::Square => v * v,
        UnaryOp::Recip => 1.0 / v,
        UnaryOp::Abs => v.abs(),
        UnaryOp::Sign => if v == 0.0 { 0.0 } else { v.signum() },
    }
}

#[test]
fn unary_ops_match_f64() {
    let mut rng = Rng::new(3);
    let ops = [
        UnaryOp::Scale(-1.75),
        UnaryOp::AddScalar(0.3),
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt { eps: 1e-5 },
        UnaryOp::Square,
        UnaryOp::Recip,
    ];
    for n in [1, 7, 64, 1031, 40_000] {
        // Positive inputs in [0.1, 3) keep log, sqrt, rsqrt and recip in their domains.
        let x: Vec<f32> = (0..n).map(|_| rng.range(0.1, 3.0) as f32).collect();
        let t = upload(&x, &[n]);
        for op in ops {
            let out = download(&unary(gpu(), &t, op).unwrap());
            let want: Vec<f64> = x.iter().map(|&v| unary_ref(v as f64, op)).collect();
            let err = rel_l2(&out, &want);
            // exp/log/inverseSqrt are a few ulp on Vulkan, hence 1e-6 rather than one rounding.
            assert!(err <= 1e-6, "unary {op:?} n={n}: rel L2 error {err:.2e} > 1e-6");
        }
    }
    let empty = upload(&[], &[0, 4]);
    assert_eq!(unary(gpu(), &empty, UnaryOp::Exp).unwrap().shape(), &[0, 4]);
}

#[test]
fn abs_and_sign_are_exact_on_signed_inputs() {
    let mut rng = Rng::new(4);
    for n in [1, 7, 1031, 40_001] {
        let mut x: Vec<f32> = (0..n).map(|_| rng.range(-3.0, 3.0) as f32).collect();
        x[0] = 0.0;
        if n > 2 {
            x[1] = -0.0;
            x[2] = -1e-30;
        }
        let t = upload(&x, &[n]);
        for op in [UnaryOp::Abs, UnaryOp::Sign] {
            let out = download(&unary(gpu(), &t, op).unwrap());
            for (i, (&g, &v)) in out.iter().zip(&x).enumerate() {
                let want = unary_ref(v as f64, op);
                assert!(g as f64 == want, "unary {op:?} n={n}: element {i} ({v:e}) gave {g:e}, want {want:e} (exact)");
            }
        }
    }
}

#[test]
fn axpy_accumulates_in_place() {
    let mut rng = Rng::new(4);
    for n in [1, 7, 1024, 999, 50_001] {
        let (d, s) = (rng.vec_f32(n), rng.vec_f32(n));
        let (dst, src) = (upload(&d, &[n]), upload(&s, &[n]));
        axpy(gpu(), &dst, &src, -0.37).unwrap();
        let want: Vec<f64> = d.iter().zip(&s).map(|(&a, &b)| a as f64 - 0.37 * b as f64).collect();
        let err = rel_l2(&download(&dst), &want);
        assert!(err <= 1e-6, "axpy n={n}: rel L2 error {err:.2e} > 1e-6");
        // dst += alpha * dst with one tensor: (1 + alpha) * dst.
        axpy(gpu(), &src, &src, 0.5).unwrap();
        let want: Vec<f64> = s.iter().map(|&b| 1.5 * b as f64).collect();
        let err = rel_l2(&download(&src), &want);
        assert!(err <= 1e-6, "axpy(x, x) n={n}: rel L2 error {err:.2e} > 1e-6");
    }
    let (a, b) = (upload(&[0.0; 6], &[2, 3]), upload(&[0.0; 6], &[3, 2]));
    assert!(is_shape_err(axpy(gpu(), &a, &b, 1.0)), "axpy of [2,3] and [3,2] must be a shape error");
}

// ---------- reduce_to ----------

#[test]
fn reduce_to_sums_and_means_over_broadcast_axes() {
    let mut rng = Rng::new(5);
    let cases: &[(&[usize], &[usize])] = &[
        (&[8192, 33], &[33]),
        (&[5, 4099], &[5, 1]),
        (&[2, 3, 4], &[1, 3, 1]),
        (&[2, 3, 4], &[3, 1]),
        (&[2, 3, 4], &[4]),
        (&[2, 3, 4], &[2, 3, 4]),
        (&[2, 3, 4], &[]),
        (&[2, 3, 4], &[1]),
        (&[7, 1, 5], &[1, 1, 5]),
        (&[3, 4, 5, 6, 7, 2], &[1, 4, 1, 6, 1, 2]),
        (&[3, 4, 5, 6, 7, 2], &[3, 1, 5, 1, 7, 1]),
        (&[1], &[1]),
        (&[64, 1031], &[64, 1]),
        (&[97, 13, 5], &[13, 1]),
        (&[300_007], &[1]),
    ];
    for &(xs, shape) in cases {
        let x = rng.vec_f32(numel(xs));
        let t = upload(&x, xs);
        for (op, mean) in [(ReduceOp::Sum, false), (ReduceOp::Mean, true)] {
            let out = reduce_to(gpu(), &t, shape, op).unwrap();
            assert_eq!(out.shape(), shape, "reduce_to {xs:?} -> {shape:?}: output shape");
            let got = download(&out);
            let err = rel_l2(&got, &reduce_ref(&f64s(&x), xs, shape, mean));
            // f32 sums of up to 300k terms in chunks: 1e-5.
            assert!(err <= 1e-5, "reduce_to {op:?} {xs:?} -> {shape:?}: rel L2 error {err:.2e} > 1e-5");
            let again = download(&reduce_to(gpu(), &t, shape, op).unwrap());
            assert!(got.iter().zip(&again).all(|(a, b)| a.to_bits() == b.to_bits()), "reduce_to {xs:?} -> {shape:?} is not deterministic");
        }
    }
    // Reducing over an empty axis: a sum of nothing is 0.
    let empty = upload(&[], &[0, 3]);
    assert_eq!(download(&reduce_to(gpu(), &empty, &[3], ReduceOp::Sum).unwrap()), vec![0.0; 3]);
}

#[test]
fn reduce_ref_is_the_adjoint_of_broadcasting() {
    // <broadcast(b), y> == <b, reduce(y)>: the reference is the gradient of a broadcast.
    let mut rng = Rng::new(6);
    let (xs, bs): (&[usize], &[usize]) = (&[3, 4, 5], &[4, 1]);
    let b: Vec<f64> = (0..numel(bs)).map(|_| rng.normal()).collect();
    let y: Vec<f64> = (0..numel(xs)).map(|_| rng.normal()).collect();
    let zeros = vec![0.0; numel(xs)];
    let bb = binary_ref(&zeros, xs, &b, bs, BinaryOp::Add);
    let lhs: f64 = bb.iter().zip(&y).map(|(u, v)| u * v).sum();
    let rhs: f64 = b.iter().zip(reduce_ref(&y, xs, bs, false)).map(|(u, v)| u * v).sum();
    assert!((lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0), "broadcast/reduce adjoint: {lhs} vs {rhs}");
}

#[test]
fn reduce_to_rejects_bad_inputs() {
    let x = upload(&[0.0; 6], &[2, 3]);
    assert!(is_shape_err(reduce_to(gpu(), &x, &[3, 1], ReduceOp::Sum)), "[2,3] -> [3,1] must be a shape error");
    assert!(is_shape_err(reduce_to(gpu(), &x, &[1, 2, 3], ReduceOp::Sum)), "a longer target must be a shape error");
    assert!(is_shape_err(reduce_to(gpu(), &x, &[2], ReduceOp::Sum)), "[2,3] -> [2] (not a suffix) must be a shape error");
    let ids = Tensor::from_slice(gpu(), &[1i32, 2], &[2]).unwrap();
    assert!(is_dtype_err(reduce_to(gpu(), &ids, &[1], ReduceOp::Sum)), "i32 input must be a dtype error");
}

// ---------- dropout ----------

#[test]
fn philox_reference_matches_random123_known_answers() {
    // kat_vectors of Random123 for philox4x32 with 10 rounds.
    assert_eq!(philox_ref([0, 0, 0, 0], [0, 0]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
    assert_eq!(philox_ref([u32::MAX; 4], [u32::MAX; 2]), [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]);
    assert_eq!(
        philox_ref([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0]),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
}

#[test]
fn dropout_matches_philox_mask_and_scales_kept_values() {
    let mut rng = Rng::new(7);
    let seed = 0x0123_4567_89ab_cdef_u64;
    // 4-aligned offsets take the whole-vec4 entry (dropout4), the others the per-element one; the last crosses
    // the 32-bit boundary of the block counter.
    let cases = [(1, 0.5, 0u64), (7, 0.3, 5), (1031, 0.1, 3), (1031, 0.2, 8), (4096, 0.9, (1u64 << 32) * 4 - 6), (4099, 0.5, (1u64 << 32) * 4 - 8)];
    for (n, p, offset) in cases {
        // x never 0, so y == 0 exactly marks a dropped element.
        let x: Vec<f32> = (0..n).map(|_| rng.range(0.5, 1.5) as f32).collect();
        let y = download(&dropout(gpu(), &upload(&x, &[n]), p, seed, offset).unwrap());
        let want: Vec<f64> = (0..n)
            .map(|i| if keep_ref(seed, offset + i as u64, p as f64) { x[i] as f64 / (1.0 - p as f64) } else { 0.0 })
            .collect();
        for i in 0..n {
            assert_eq!(y[i] == 0.0, want[i] == 0.0, "dropout n={n} p={p} offset={offset}: element {i} mask differs from host Philox");
        }
        let err = rel_l2(&y, &want);
        assert!(err <= 1e-6, "dropout n={n} p={p}: rel L2 error of kept values {err:.2e} > 1e-6");
    }
}

#[test]
fn dropout_is_reproducible_and_keeps_one_minus_p() {
    let n = 100_000;
    let p = 0.25;
    let x: Vec<f32> = Rng::new(8).vec_f32(n).iter().map(|v| v + 2.0).collect(); // in [1, 3): never 0
    let t = upload(&x, &[n]);
    let a = download(&dropout(gpu(), &t, p, 42, 1000).unwrap());
    let b = download(&dropout(gpu(), &t, p, 42, 1000).unwrap());
    assert!(a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()), "same seed and offset must give identical output");
    let c = download(&dropout(gpu(), &t, p, 42, 1001).unwrap());
    let differ = a.iter().zip(&c).filter(|(u, v)| (**u == 0.0) != (**v == 0.0)).count();
    // Independent masks differ on 2p(1-p) = 37.5% of elements.
    assert!(differ > n / 4, "a different offset must give a different mask ({differ} of {n} differ)");
    let d = download(&dropout(gpu(), &t, p, 43, 1000).unwrap());
    let differ = a.iter().zip(&d).filter(|(u, v)| (**u == 0.0) != (**v == 0.0)).count();
    assert!(differ > n / 4, "a different seed must give a different mask ({differ} of {n} differ)");
    // Kept fraction: binomial std sqrt(p(1-p)/n) = 0.0014; tolerance 0.01 (7 std).
    let kept = a.iter().filter(|v| **v != 0.0).count() as f64 / n as f64;
    assert!((kept - (1.0 - p as f64)).abs() <= 0.01, "kept fraction {kept:.4}, expected {} +- 0.01", 1.0 - p);
    for (y, v) in a.iter().zip(&x) {
        if *y != 0.0 {
            let want = *v as f64 / (1.0 - p as f64);
            assert!((*y as f64 - want).abs() <= 1e-6 * want, "kept value {y} should be x / (1 - p) = {want}");
        }
    }
    // Backward: dropout(dy) with the same seed and offset drops the same elements.
    let dy: Vec<f32> = Rng::new(9).vec_f32(n).iter().map(|v| v - 2.0).collect(); // in [-3, -1)
    let g = download(&dropout(gpu(), &upload(&dy, &[n]), p, 42, 1000).unwrap());
    assert!(a.iter().zip(&g).all(|(u, v)| (*u == 0.0) == (*v == 0.0)), "dropout(dy) must reproduce the forward mask");
    // The stream is positional: elements 10.. of offset 1000 are elements 0.. of offset 1010.
    let tail = download(&dropout(gpu(), &upload(&x[10..], &[n - 10]), p, 42, 1010).unwrap());
    assert!(tail.iter().zip(&a[10..]).all(|(u, v)| u.to_bits() == v.to_bits()), "offset + i must address the same stream");
}

#[test]
fn dropout_edge_cases_and_errors() {
    let x = Rng::new(10).vec_f32(37);
    let t = upload(&x, &[37]);
    assert_eq!(download(&dropout(gpu(), &t, 0.0, 1, 0).unwrap()), x, "p = 0 copies");
    assert_eq!(download(&dropout(gpu(), &t, 1.0, 1, 0).unwrap()), vec![0.0; 37], "p = 1 drops everything");
    assert!(matches!(dropout(gpu(), &t, 1.5, 1, 0), Err(Error::Invalid(_))), "p = 1.5 must be rejected");
    assert!(matches!(dropout(gpu(), &t, f32::NAN, 1, 0), Err(Error::Invalid(_))), "p = NaN must be rejected");
    let ids = Tensor::from_slice(gpu(), &[1i32, 2], &[2]).unwrap();
    assert!(is_dtype_err(dropout(gpu(), &ids, 0.5, 1, 0)), "i32 input must be a dtype error");
}

// ---------- permute / slice / concat ----------

#[test]
fn permute_matches_reference() {
    let mut rng = Rng::new(11);
    let cases: &[(&[usize], &[usize])] = &[
        (&[2, 3, 5], &[0, 1, 2]),
        (&[2, 3, 5], &[0, 2, 1]),
        (&[2, 3, 5], &[1, 0, 2]),
        (&[2, 3, 5], &[1, 2, 0]),
        (&[2, 3, 5], &[2, 0, 1]),
        (&[2, 3, 5], &[2, 1, 0]),
        (&[2, 7, 3, 5], &[0, 2, 1, 3]),
        (&[2, 3, 7, 5], &[0, 2, 1, 3]),
        (&[2, 7, 3, 5], &[3, 1, 0, 2]),
        (&[1, 7, 1, 5], &[2, 3, 0, 1]),
        (&[2, 3, 1, 4, 2, 3], &[5, 4, 3, 2, 1, 0]),
        (&[2, 3, 1, 4, 2, 3], &[1, 0, 3, 2, 5, 4]),
        (&[2, 3, 5, 4, 2, 3], &[0, 2, 4, 1, 3, 5]),
        (&[4, 128, 12, 64], &[0, 2, 1, 3]),
        (&[13], &[0]),
        (&[0, 3], &[1, 0]),
    ];
    for &(xs, perm) in cases {
        let x = rng.vec_f32(numel(xs));
        let out = permute(gpu(), &upload(&x, xs), perm).unwrap();
        let want_shape: Vec<usize> = perm.iter().map(|&a| xs[a]).collect();
        assert_eq!(out.shape(), want_shape.as_slice(), "permute {xs:?} by {perm:?}: shape");
        assert_eq!(download(&out), permute_ref(&x, xs, perm), "permute {xs:?} by {perm:?}: values (an exact copy)");
    }
    // 32-bit integers move the same way.
    let ids: Vec<i32> = (0..30).collect();
    let out = permute(gpu(), &Tensor::from_slice(gpu(), &ids, &[2, 3, 5]).unwrap(), &[2, 0, 1]).unwrap();
    assert_eq!(out.to_vec::<i32>(gpu()).unwrap(), permute_ref(&ids, &[2, 3, 5], &[2, 0, 1]), "permute of i32");
}

#[test]
fn permute_rejects_bad_perms() {
    let x = upload(&[0.0; 24], &[2, 3, 4]);
    for perm in [&[0, 0, 1][..], &[0, 1], &[0, 1, 3], &[0, 1, 2, 3]] {
        assert!(is_shape_err(permute(gpu(), &x, perm)), "perm {perm:?} of a rank-3 tensor must be a shape error");
    }
    let h = Tensor::from_slice(gpu(), &[half::f16::ZERO; 4], &[2, 2]).unwrap();
    assert!(is_dtype_err(permute(gpu(), &h, &[1, 0])), "an f16 tensor must be a dtype error");
}

#[test]
fn slice_and_concat_round_trip() {
    let mut rng = Rng::new(12);
    let xs = [4, 10, 6];
    let x = rng.vec_f32(numel(&xs));
    let t = upload(&x, &xs);
    for axis in 0..3 {
        let n = xs[axis];
        let cuts = [0, 1, n / 2, n];
        let parts: Vec<Tensor> = cuts
            .windows(2)
            .map(|w| {
                let part = slice(gpu(), &t, axis, w[0], w[1] - w[0]).unwrap();
                assert_eq!(download(&part), slice_ref(&x, &xs, axis, w[0], w[1] - w[0]), "slice axis {axis} {}..{}", w[0], w[1]);
                part
            })
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        let back = concat(gpu(), &refs, axis).unwrap();
        assert_eq!(back.shape(), &xs, "concat along {axis}: shape");
        assert_eq!(download(&back), x, "concat of the slices along {axis} must give x back");
    }
    // Empty slice, and concat with an empty part.
    let empty = slice(gpu(), &t, 1, 10, 0).unwrap();
    assert_eq!(empty.shape(), &[4, 0, 6]);
    let back = concat(gpu(), &[&empty, &t], 1).unwrap();
    assert_eq!(download(&back), x);
    // A larger case: [64, 197, 96] split off the first row of each batch (a class token).
    let big = [64, 197, 96];
    let y = rng.vec_f32(numel(&big));
    let tb = upload(&y, &big);
    let (cls, rest) = (slice(gpu(), &tb, 1, 0, 1).unwrap(), slice(gpu(), &tb, 1, 1, 196).unwrap());
    assert_eq!(download(&rest), slice_ref(&y, &big, 1, 1, 196), "slice [64,197,96] axis 1 from 1");
    assert_eq!(download(&concat(gpu(), &[&cls, &rest], 1).unwrap()), y, "concat [64,1,96] and [64,196,96]");
}

#[test]
fn slice_and_concat_reject_bad_inputs() {
    let t = upload(&[0.0; 24], &[2, 3, 4]);
    assert!(is_shape_err(slice(gpu(), &t, 1, 2, 2)), "slice 2..4 of an axis of 3 must be a shape error");
    assert!(is_shape_err(slice(gpu(), &t, 3, 0, 1)), "slice on axis 3 of a rank-3 tensor must be a shape error");
    assert!(is_shape_err(slice(gpu(), &t, 0, usize::MAX, 2)), "an overflowing range must be a shape error");
    let u = upload(&[0.0; 8], &[2, 4]);
    assert!(is_shape_err(concat(gpu(), &[&t, &u], 1)), "concat of rank 3 and rank 2 must be a shape error");
    let v = upload(&[0.0; 10], &[2, 5]);
    assert!(is_shape_err(concat(gpu(), &[&u, &v], 0)), "concat [2,4] and [2,5] along 0 must be a shape error");
    assert!(is_shape_err(concat(gpu(), &[], 0)), "concat of nothing must be a shape error");
    let ids = Tensor::from_slice(gpu(), &[0i32; 8], &[2, 4]).unwrap();
    assert!(is_dtype_err(concat(gpu(), &[&u, &ids], 0)), "concat f32 with i32 must be a dtype error");
}

// ---------- gather_rows / scatter_rows ----------

#[test]
fn gather_and_scatter_rows_match_reference() {
    let mut rng = Rng::new(13);
    // (batch, len, dim, keep, repeats allowed)
    for (batch, len, dim, keep, repeats) in [(1, 1, 1, 1, false), (3, 11, 5, 4, true), (2, 7, 3, 7, true), (8, 196, 64, 49, false), (2, 5, 4, 0, false)] {
        let index: Vec<i32> = (0..batch)
            .flat_map(|_| {
                if repeats {
                    (0..keep).map(|_| rng.below(len) as i32).collect::<Vec<_>>()
                } else {
                    // A random subset, as MAE's visible patches.
                    let mut all: Vec<i32> = (0..len as i32).collect();
                    for i in (1..len).rev() {
                        all.swap(i, rng.below(i + 1));
                    }
                    all[..keep].to_vec()
                }
            })
            .collect();
        let x = rng.vec_f32(batch * len * dim);
        let ti = Tensor::from_slice(gpu(), &index, &[batch, keep]).unwrap();
        let g = download(&gather_rows(gpu(), &upload(&x, &[batch, len, dim]), &ti).unwrap());
        let want = gather_ref(&f64s(&x), batch, len, dim, &index, keep);
        assert_eq!(rel_l2(&g, &want), 0.0, "gather_rows {batch}x{len}x{dim} keep {keep}: must copy exactly");
        let dy = rng.vec_f32(batch * keep * dim);
        let s = scatter_rows(gpu(), &upload(&dy, &[batch, keep, dim]), &ti, len).unwrap();
        assert_eq!(s.shape(), &[batch, len, dim]);
        let err = rel_l2(&download(&s), &scatter_ref(&f64s(&dy), batch, keep, dim, &index, len));
        assert!(err <= 1e-6, "scatter_rows {batch}x{len}x{dim} keep {keep}: rel L2 error {err:.2e} > 1e-6");
    }
}

#[test]
fn scatter_sums_repeated_indices_in_order_and_ignores_out_of_range() {
    // index [[2, 0, 2, 2, -1, 9]]: row 2 gets dy0 + dy2 + dy3 in that order, -1 and 9 are outside [0, 4).
    let index = [2i32, 0, 2, 2, -1, 9];
    let ti = Tensor::from_slice(gpu(), &index, &[1, 6]).unwrap();
    let dy = [1.0f32, 2.0, 1e8, -1e8, 5.0, 7.0];
    let s = download(&scatter_rows(gpu(), &upload(&dy, &[1, 6, 1]), &ti, 4).unwrap());
    // In increasing k: (1 + 1e8) - 1e8 = 0 in f32 (1 is lost), which pins the order.
    assert_eq!(s, vec![2.0, 0.0, ((1.0f32 + 1e8) - 1e8), 0.0], "scatter of repeated indices must sum in increasing k");
    let x = [10.0f32, 11.0, 12.0, 13.0];
    let g = download(&gather_rows(gpu(), &upload(&x, &[1, 4, 1]), &ti).unwrap());
    assert_eq!(g, vec![12.0, 10.0, 12.0, 12.0, 0.0, 0.0], "gather of an out-of-range index gives a zero row");
}

#[test]
fn scatter_ref_is_the_adjoint_of_gather() {
    // <gather(x), dy> == <x, scatter(dy)>, with repeated indices.
    let mut rng = Rng::new(14);
    let (batch, len, dim, keep) = (2, 5, 3, 6);
    let index: Vec<i32> = (0..batch * keep).map(|_| rng.below(len) as i32).collect();
    let x: Vec<f64> = (0..batch * len * dim).map(|_| rng.normal()).collect();
    let dy: Vec<f64> = (0..batch * keep * dim).map(|_| rng.normal()).collect();
    let lhs: f64 = gather_ref(&x, batch, len, dim, &index, keep).iter().zip(&dy).map(|(a, b)| a * b).sum();
    let rhs: f64 = x.iter().zip(scatter_ref(&dy, batch, keep, dim, &index, len)).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0), "gather/scatter adjoint: {lhs} vs {rhs}");
}

#[test]
fn gather_and_scatter_reject_bad_inputs() {
    let x = upload(&[0.0; 24], &[2, 3, 4]);
    let f_index = upload(&[0.0; 4], &[2, 2]);
    assert!(is_dtype_err(gather_rows(gpu(), &x, &f_index)), "an f32 index must be a dtype error");
    let u_index = Tensor::from_slice(gpu(), &[0u32; 4], &[2, 2]).unwrap();
    assert!(is_dtype_err(gather_rows(gpu(), &x, &u_index)), "a u32 index must be a dtype error");
    let wrong_batch = Tensor::from_slice(gpu(), &[0i32; 6], &[3, 2]).unwrap();
    assert!(is_shape_err(gather_rows(gpu(), &x, &wrong_batch)), "index batch 3 vs x batch 2 must be a shape error");
    let flat = Tensor::from_slice(gpu(), &[0i32; 4], &[4]).unwrap();
    assert!(is_shape_err(gather_rows(gpu(), &x, &flat)), "a rank-1 index must be a shape error");
    let dy = upload(&[0.0; 16], &[2, 2, 4]);
    assert!(is_dtype_err(scatter_rows(gpu(), &dy, &f_index, 3)), "scatter with an f32 index must be a dtype error");
    assert!(is_shape_err(scatter_rows(gpu(), &dy, &wrong_batch, 3)), "scatter with index [3,2] for dy [2,2,4] must be a shape error");
}
