//! matmul against an f64 reference: every transpose combination, awkward shapes, batches with a shared
//! operand, bias, every kernel the adapter has (`matmul_sg8`, `matmul_tile`) whatever it picks, a clear error
//! for a kernel it lacks, and bad inputs.
mod common;
use common::*;

use pretext::kernels::matmul::{matmul, matmul_row_sums_with, matmul_strided, matmul_strided_with, matmul_with, MatView, MatmulTiling};
use pretext::gpu::Dispatch;
use pretext::{DType, Error, Gpu, GpuOptions, Tensor};

/// C[bt, i, j] = sum_k op(A)[bt, i, k] * op(B)[bt, k, j] + bias[j], in f64. `a`/`b` are stored as the kernel
/// receives them (transposed layouts when trans_*); a_batch/b_batch = false means shared by every batch.
#[allow(clippy::too_many_arguments)]
fn matmul_ref(
    a: &[f32], b: &[f32], bias: Option<&[f32]>, batch: usize, m: usize, n: usize, k: usize,
    trans_a: bool, trans_b: bool, a_batch: bool, b_batch: bool,
) -> Vec<f64> {
    let mut c = vec![0.0f64; batch * m * n];
    for bt in 0..batch {
        let ao = if a_batch { bt * m * k } else { 0 };
        let bo = if b_batch { bt * k * n } else { 0 };
        for i in 0..m {
            for j in 0..n {
                let mut s = bias.map_or(0.0, |v| v[j] as f64);
                for kk in 0..k {
                    let av = if trans_a { a[ao + kk * m + i] } else { a[ao + i * k + kk] };
                    let bv = if trans_b { b[bo + j * k + kk] } else { b[bo + kk * n + j] };
                    s += av as f64 * bv as f64;
                }
                c[(bt * m + i) * n + j] = s;
            }
        }
    }
    c
}

struct Case {
    batch: Option<usize>, // None: both rank 2
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    a_batched: bool,
    b_batched: bool,
    bias: bool,
}

/// The tilings this adapter runs: always the portable one, the subgroup one where `check` allows it (a forced
/// tiling the adapter lacks is an error: `a_tiling_the_adapter_lacks_is_a_clear_error`).
fn tilings() -> Vec<MatmulTiling> {
    let t: Vec<MatmulTiling> = MatmulTiling::ALL.into_iter().filter(|t| t.check(gpu()).is_ok()).collect();
    assert!(t.contains(&MatmulTiling::Invocation), "the portable tiling must run everywhere");
    t
}

/// Runs one case with every kernel the adapter has and returns the worse rel L2 error.
fn run(c: &Case, seed: u64) -> f64 {
    let g = gpu();
    let mut rng = Rng::new(seed);
    let bt = c.batch.unwrap_or(1);
    let (a_rows, a_cols) = if c.trans_a { (c.k, c.m) } else { (c.m, c.k) };
    let (b_rows, b_cols) = if c.trans_b { (c.n, c.k) } else { (c.k, c.n) };
    let a_batch = c.batch.is_some() && c.a_batched;
    let b_batch = c.batch.is_some() && c.b_batched;
    let a_shape: Vec<usize> = if a_batch { vec![bt, a_rows, a_cols] } else { vec![a_rows, a_cols] };
    let b_shape: Vec<usize> = if b_batch { vec![bt, b_rows, b_cols] } else { vec![b_rows, b_cols] };
    let a = rng.vec_f32(a_shape.iter().product());
    let b = rng.vec_f32(b_shape.iter().product());
    let bias = c.bias.then(|| rng.vec_f32(c.n));
    let want = matmul_ref(&a, &b, bias.as_deref(), bt, c.m, c.n, c.k, c.trans_a, c.trans_b, a_batch, b_batch);
    let ta = Tensor::from_slice(g, &a, &a_shape).unwrap();
    let tb = Tensor::from_slice(g, &b, &b_shape).unwrap();
    let tbias = bias.as_ref().map(|v| Tensor::from_slice(g, v, &[c.n]).unwrap());
    let want_shape: Vec<usize> = match c.batch {
        Some(bt) => vec![bt, c.m, c.n],
        None => vec![c.m, c.n],
    };
    let mut worst = 0.0f64;
    for tiling in tilings() {
        let out = matmul_with(g, &ta, &tb, c.trans_a, c.trans_b, tbias.as_ref(), tiling).unwrap();
        assert_eq!(out.shape(), want_shape.as_slice());
        let got = out.to_vec::<f32>(g).unwrap();
        let err = if want.iter().all(|&w| w == 0.0) { max_abs(&got, &want) } else { rel_l2(&got, &want) };
        worst = worst.max(err);
    }
    worst
}

fn case(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Case {
    Case { batch: None, m, n, k, trans_a, trans_b, a_batched: true, b_batched: true, bias: false }
}

#[test]
fn all_transposes_on_awkward_shapes() {
    // 1x1x1, primes, K = 1, multiples of 4 (vec4 paths), non-multiples of the 32 x 32 / 64 x 32 tiles.
    // m % 4 == 0 takes the vec4 loads along m of a transposed A (with a partial step of k at 12x5x9 and 40x36x7).
    let shapes = [(1, 1, 1), (7, 13, 29), (67, 31, 131), (5, 9, 1), (33, 40, 12), (64, 32, 16), (3, 4, 8), (40, 36, 7), (12, 5, 9)];
    let mut seed = 1;
    for &(m, n, k) in &shapes {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            seed += 1;
            let err = run(&case(m, n, k, ta, tb), seed);
            assert!(err <= 1e-5, "matmul {m}x{n}x{k} trans_a={ta} trans_b={tb}: rel L2 error {err:.2e} > 1e-5");
        }
    }
}

#[test]
fn bias_is_added_to_every_row() {
    for (m, n, k, ta, tb) in [(7, 13, 29, false, false), (33, 12, 16, false, true), (2, 5, 3, true, true)] {
        let c = Case { bias: true, ..case(m, n, k, ta, tb) };
        let err = run(&c, 100 + m as u64);
        assert!(err <= 1e-5, "matmul+bias {m}x{n}x{k} trans_a={ta} trans_b={tb}: rel L2 error {err:.2e} > 1e-5");
    }
}

#[test]
fn batched_with_a_shared_operand_on_either_side() {
    // (a batched, b batched): both, only A (B = shared weight), only B (A shared).
    for (ab, bb, ta, tb) in [(true, true, false, false), (true, false, false, true), (false, true, true, false), (true, true, true, true)] {
        let c = Case { batch: Some(3), a_batched: ab, b_batched: bb, bias: true, ..case(19, 37, 24, ta, tb) };
        let err = run(&c, 200 + ab as u64 * 2 + bb as u64);
        assert!(err <= 1e-5, "batched matmul a_batched={ab} b_batched={bb} trans_a={ta} trans_b={tb}: rel L2 {err:.2e} > 1e-5");
    }
}

#[test]
fn k_zero_gives_bias_and_empty_shapes_give_empty_outputs() {
    let err = run(&Case { bias: true, ..case(5, 6, 0, false, false) }, 300);
    assert!(err <= 1e-6, "matmul with k = 0 must give the bias exactly: max |err| {err:.2e}");
    let g = gpu();
    let a = Tensor::from_slice::<f32>(g, &[], &[0, 4]).unwrap();
    let b = Tensor::from_slice(g, &[0.0f32; 12], &[4, 3]).unwrap();
    assert_eq!(matmul(g, &a, &b, false, false, None).unwrap().shape(), &[0, 3]);
}

#[test]
fn large_case() {
    // 257x511x384: k = 384 f32 products per output; accumulated in f32 the rounding error grows like
    // sqrt(k) * 2^-24 relative, about 1e-6 here, so the 1e-5 bound still holds; we allow 2e-5 to leave room
    // for the different summation order of the two kernels.
    for (ta, tb) in [(false, false), (false, true), (true, false)] {
        let err = run(&case(257, 511, 384, ta, tb), 400 + ta as u64 + 2 * tb as u64);
        assert!(err <= 2e-5, "matmul 257x511x384 trans_a={ta} trans_b={tb}: rel L2 error {err:.2e} > 2e-5");
    }
}

#[test]
fn row_sums_of_a_transposed_a_come_with_the_product() {
    // C = Aᵀ·op(B) and sums[bt, i] = Σ_k A[bt, k, i]: a linear layer's dW = dYᵀ·X and db = Σ_rows dY in one pass.
    // Shapes: 1x1x1, m % 4 == 0 with and without a partial step of k, primes past the 32- and 64-row tiles,
    // more than one column tile (only the first writes the sums), a batch with B shared.
    let g = gpu();
    let cases = [(None, 1, 1, 1, false), (None, 12, 5, 9, false), (None, 40, 36, 8, true), (None, 67, 71, 131, false), (Some(3), 20, 8, 13, false), (Some(2), 7, 3, 2, true)];
    for (i, &(batch, m, n, k, tb)) in cases.iter().enumerate() {
        let mut rng = Rng::new(500 + i as u64);
        let bt = batch.unwrap_or(1);
        let a = rng.vec_f32(bt * k * m);
        let b = rng.vec_f32(k * n);
        let a_shape: Vec<usize> = match batch { Some(x) => vec![x, k, m], None => vec![k, m] };
        let ta = Tensor::from_slice(g, &a, &a_shape).unwrap();
        let b_shape = if tb { [n, k] } else { [k, n] };
        let tb_t = Tensor::from_slice(g, &b, &b_shape).unwrap();
        let want = matmul_ref(&a, &b, None, bt, m, n, k, true, tb, true, false);
        let want_sums: Vec<f64> = (0..bt * m).map(|r| (0..k).map(|kk| a[(r / m) * k * m + kk * m + r % m] as f64).sum()).collect();
        for tiling in tilings() {
            let (c, sums) = matmul_row_sums_with(g, &ta, &tb_t, tb, tiling).unwrap();
            let sum_shape: Vec<usize> = match batch { Some(x) => vec![x, m], None => vec![m] };
            assert_eq!(sums.shape(), sum_shape.as_slice());
            let err = rel_l2(&c.to_vec::<f32>(g).unwrap(), &want);
            let serr = rel_l2(&sums.to_vec::<f32>(g).unwrap(), &want_sums);
            assert!(err <= 1e-5 && serr <= 1e-5, "{tiling:?} batch {batch:?} {m}x{n}x{k} trans_b={tb}: product rel L2 {err:.2e}, row sums {serr:.2e} (bound 1e-5)");
        }
    }
}

/// Element (o, i, r, c) of a strided view: offset o·outer + i·inner + r·ld + c.
fn at(x: &[f32], v: (usize, usize, usize), o: usize, i: usize, r: usize, c: usize) -> f64 {
    x[o * v.0 + i * v.1 + r * v.2 + c] as f64
}

/// A view of [rows, cols] matrices at strides (outer, inner, ld).
fn view(t: &Tensor, rows: usize, cols: usize, (outer, inner, ld): (usize, usize, usize)) -> MatView<'_> {
    MatView { t, rows, cols, ld, outer, inner }
}

#[test]
fn strided_views_with_a_two_level_batch() {
    // Attention's products over q, k, v stored [batch, seq, heads, dim] (read in place, strides heads·dim) and
    // scores [batch·heads, seq, seq]: S = Q·Kᵀ, O = P·V written back into [batch, seq, heads, dim], and
    // dK = dSᵀ·Q (trans_a). dim 8 takes the vec4 paths, dim 7 the scalar ones; seq 33 crosses a tile edge.
    let g = gpu();
    for (bsz, heads, seq, dim) in [(2, 3, 33, 8), (3, 2, 5, 7), (1, 1, 1, 4)] {
        let mut rng = Rng::new((bsz * 100 + seq * 10 + dim) as u64);
        let (n_x, n_s) = (bsz * seq * heads * dim, bsz * heads * seq * seq);
        let (q, k, p) = (rng.vec_f32(n_x), rng.vec_f32(n_x), rng.vec_f32(n_s));
        let (tq, tk, tp) = (
            Tensor::from_slice(g, &q, &[bsz, seq, heads, dim]).unwrap(),
            Tensor::from_slice(g, &k, &[bsz, seq, heads, dim]).unwrap(),
            Tensor::from_slice(g, &p, &[bsz * heads, seq, seq]).unwrap(),
        );
        let xs = (seq * heads * dim, dim, heads * dim); // (outer, inner, ld) of q and k
        let ss = (heads * seq * seq, seq * seq, seq); // of scores
        for tiling in tilings() {
            // S = Q·Kᵀ
            let s = Tensor::from_slice(g, &vec![f32::NAN; n_s], &[bsz * heads, seq, seq]).unwrap();
            matmul_strided_with(g, &view(&tq, seq, dim, xs), &view(&tk, seq, dim, xs), false, true, &view(&s, seq, seq, ss), [bsz, heads], tiling).unwrap();
            // O = P·V (V = k here), into [batch, seq, heads, dim]
            let o = Tensor::from_slice(g, &vec![f32::NAN; n_x], &[bsz, seq, heads, dim]).unwrap();
            matmul_strided_with(g, &view(&tp, seq, seq, ss), &view(&tk, seq, dim, xs), false, false, &view(&o, seq, dim, xs), [bsz, heads], tiling).unwrap();
            // dK = Pᵀ·Q
            let dk = Tensor::from_slice(g, &vec![f32::NAN; n_x], &[bsz, seq, heads, dim]).unwrap();
            matmul_strided_with(g, &view(&tp, seq, seq, ss), &view(&tq, seq, dim, xs), true, false, &view(&dk, seq, dim, xs), [bsz, heads], tiling).unwrap();
            let (mut s_ref, mut o_ref, mut dk_ref) = (vec![0.0; n_s], vec![0.0; n_x], vec![0.0; n_x]);
            for b in 0..bsz {
                for h in 0..heads {
                    for i in 0..seq {
                        for j in 0..seq {
                            s_ref[b * ss.0 + h * ss.1 + i * ss.2 + j] = (0..dim).map(|d| at(&q, xs, b, h, i, d) * at(&k, xs, b, h, j, d)).sum();
                        }
                        for d in 0..dim {
                            o_ref[b * xs.0 + h * xs.1 + i * xs.2 + d] = (0..seq).map(|j| at(&p, ss, b, h, i, j) * at(&k, xs, b, h, j, d)).sum();
                            dk_ref[b * xs.0 + h * xs.1 + i * xs.2 + d] = (0..seq).map(|j| at(&p, ss, b, h, j, i) * at(&q, xs, b, h, j, d)).sum();
                        }
                    }
                }
            }
            for (name, t, want) in [("S = Q·Kᵀ", &s, &s_ref), ("O = P·V", &o, &o_ref), ("dK = Pᵀ·Q", &dk, &dk_ref)] {
                let err = rel_l2(&t.to_vec::<f32>(g).unwrap(), want);
                assert!(err <= 1e-5, "{name} [{bsz}, {seq}, {heads}, {dim}] {tiling:?}: rel L2 error {err:.2e} > 1e-5 (NaN: an element not written)");
            }
        }
    }
}

#[test]
fn strided_views_that_do_not_fit_are_errors() {
    let g = gpu();
    let t = Tensor::from_slice(g, &[0.0f32; 24], &[2, 3, 4]).unwrap();
    let c = Tensor::from_slice(g, &[0.0f32; 18], &[2, 3, 3]).unwrap();
    let v = MatView { t: &t, rows: 3, cols: 4, ld: 4, outer: 12, inner: 0 };
    let cv = MatView { t: &c, rows: 3, cols: 3, ld: 3, outer: 9, inner: 0 };
    matmul_strided(g, &v, &v, false, true, &cv, [2, 1]).unwrap();
    let e = matmul_strided(g, &v, &v, false, true, &cv, [3, 1]).unwrap_err();
    assert!(matches!(e, Error::Shape(ref m) if m.contains("matmul_strided: a view of 3 x 4") && m.contains("[2, 3, 4]")), "{e}");
    let e = matmul_strided(g, &v, &v, false, false, &cv, [2, 1]).unwrap_err();
    assert!(matches!(e, Error::Shape(ref m) if m.contains("op(b) is 3 x 4")), "{e}");
    let shared = MatView { outer: 0, ..cv };
    let e = matmul_strided(g, &v, &v, false, true, &shared, [2, 1]).unwrap_err();
    assert!(matches!(e, Error::Shape(ref m) if m.contains("overwrite")), "{e}");
}

#[test]
fn a_tiling_the_adapter_lacks_is_a_clear_error() {
    // The shared device if it has no subgroups (OpenGL), else a second one opened as if it had none.
    let opened;
    let g: &Gpu = if gpu().subgroup_size().is_none() {
        gpu()
    } else {
        opened = Gpu::new(&GpuOptions { disable: wgpu::Features::SUBGROUP, ..Default::default() }).unwrap();
        &opened
    };
    assert_eq!(g.subgroup_size(), None);
    assert!(!g.supports("matmul_sg") && g.supports("matmul"), "matmul_sg needs subgroups, matmul nothing");
    assert_eq!(MatmulTiling::for_adapter(g), MatmulTiling::Invocation);
    let mut rng = Rng::new(500);
    let (av, bv) = (rng.vec_f32(5 * 7), rng.vec_f32(7 * 3));
    let a = Tensor::from_slice(g, &av, &[5, 7]).unwrap();
    let b = Tensor::from_slice(g, &bv, &[7, 3]).unwrap();
    let e = matmul_with(g, &a, &b, false, false, None, MatmulTiling::Subgroup8).unwrap_err();
    assert!(
        matches!(e, Error::Gpu(ref m) if m.contains("matmul_sg8") && m.contains("subgroups") && m.contains("Invocation")),
        "forcing the subgroup tiling without subgroups: {e}"
    );
    // The pipeline cache refuses the module whoever asks, before wgpu would reject its subgroup builtins.
    let c = Tensor::empty(g, &[5, 3], DType::F32).unwrap();
    let e = g
        .dispatch(&Dispatch {
            shader: "matmul_sg",
            entry: "matmul_sg8",
            constants: &[],
            params: &[0u8; 80],
            reads: &[a.binding(), b.binding(), b.binding()],
            writes: &[c.binding()],
            groups: [1, 1, 1],
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::Gpu(ref m) if m.contains("shaders/matmul_sg.wgsl requires the adapter feature(s)") && m.contains("subgroups")),
        "dispatching the subgroup module without subgroups: {e}"
    );
    // The default takes the portable kernel, which gives the product on this device.
    let got = matmul(g, &a, &b, false, false, None).unwrap().to_vec::<f32>(g).unwrap();
    let want = matmul_ref(&av, &bv, None, 1, 5, 3, 7, false, false, false, false);
    let err = rel_l2(&got, &want);
    assert!(err <= 1e-5, "portable matmul on a device without subgroups: rel L2 error {err:.2e} > 1e-5");

    // matmul_sg8 reads A and B as 64-bit words: a device without 64-bit integers (opened so here; OpenGL has
    // none) gets the portable kernel too, and forcing the subgroup tiling names the missing feature.
    let g = Gpu::new(&GpuOptions { disable: wgpu::Features::SHADER_INT64, ..Default::default() }).unwrap();
    assert!(!g.supports("matmul_sg") && g.supports("matmul"), "matmul_sg needs 64-bit integers");
    assert_eq!(MatmulTiling::for_adapter(&g), MatmulTiling::Invocation);
    let a = Tensor::from_slice(&g, &av, &[5, 7]).unwrap();
    let b = Tensor::from_slice(&g, &bv, &[7, 3]).unwrap();
    let e = matmul_with(&g, &a, &b, false, false, None, MatmulTiling::Subgroup8).unwrap_err();
    assert!(matches!(e, Error::Gpu(ref m) if m.contains("shader-int64")), "forcing the subgroup tiling without 64-bit integers: {e}");
    let got = matmul(&g, &a, &b, false, false, None).unwrap().to_vec::<f32>(&g).unwrap();
    let err = rel_l2(&got, &want);
    assert!(err <= 1e-5, "portable matmul on a device without 64-bit integers: rel L2 error {err:.2e} > 1e-5");
}

#[test]
fn bad_inputs_are_errors() {
    let g = gpu();
    let a = Tensor::from_slice(g, &[0.0f32; 12], &[3, 4]).unwrap();
    let b = Tensor::from_slice(g, &[0.0f32; 15], &[5, 3]).unwrap();
    let e = matmul(g, &a, &b, false, false, None).unwrap_err();
    assert!(matches!(e, Error::Shape(ref m) if m.contains("matmul: b has shape [5, 3]")), "K mismatch: {e}");
    let b = Tensor::from_slice(g, &[0.0f32; 8], &[4, 2]).unwrap();
    let bias = Tensor::from_slice(g, &[0.0f32; 3], &[3]).unwrap();
    let e = matmul(g, &a, &b, false, false, Some(&bias)).unwrap_err();
    assert!(matches!(e, Error::Shape(ref m) if m.contains("bias has shape [3], expected [2]")), "bias size: {e}");
    let ai = Tensor::from_slice(g, &[0i32; 12], &[3, 4]).unwrap();
    let e = matmul(g, &ai, &b, false, false, None).unwrap_err();
    assert!(matches!(e, Error::DType(ref m) if m.contains("matmul: a is i32")), "dtype: {e}");
    let a3 = Tensor::from_slice(g, &[0.0f32; 24], &[2, 3, 4]).unwrap();
    let b3 = Tensor::from_slice(g, &[0.0f32; 24], &[3, 4, 2]).unwrap();
    let e = matmul(g, &a3, &b3, false, false, None).unwrap_err();
    assert!(matches!(e, Error::Shape(ref m) if m.contains("batch sizes 2 and 3")), "batch mismatch: {e}");
    let a4 = Tensor::from_slice(g, &[0.0f32; 24], &[1, 2, 3, 4]).unwrap();
    let e = matmul(g, &a4, &b, false, false, None).unwrap_err();
    assert!(matches!(e, Error::Shape(ref m) if m.contains("expected rank 2 or 3")), "rank: {e}");
    let _ = DType::F32;
}
