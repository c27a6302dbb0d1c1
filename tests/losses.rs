//! Embedding, cross-entropy, MAE reconstruction loss, NT-Xent, binary cross-entropy with logits and the VAE's
//! KL term vs f64 references; every reference gradient
//! is itself checked by central differences on a tiny case.
mod common;
use common::*;

use pretext::kernels::bce::bce_with_logits;
use pretext::kernels::cross_entropy::cross_entropy;
use pretext::kernels::kl_normal::kl_normal;
use pretext::kernels::embedding::{embedding_bwd, embedding_fwd};
use pretext::kernels::nt_xent::nt_xent;
use pretext::kernels::recon_loss::recon_loss;
use pretext::{DType, Error, Tensor};

fn up(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(gpu(), v, shape).unwrap()
}

fn up_i32(v: &[i32]) -> Tensor {
    Tensor::from_slice(gpu(), v, &[v.len()]).unwrap()
}

fn down(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>(gpu()).unwrap()
}

/// Central differences of `f` at `x`, step h.
fn numeric_grad(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[i] += h;
            b[i] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}

fn rel_l2_f64(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

// ---------------- embedding ----------------

/// Ids with repeats, a frequent "padding" id and out-of-range ids (-1, vocab, -100).
fn make_ids(rng: &mut Rng, n: usize, vocab: usize) -> Vec<i32> {
    (0..n)
        .map(|_| match rng.below(10) {
            0 => 0,
            1 => -1,
            2 => vocab as i32,
            3 => -100,
            4 => rng.below(vocab.min(4)) as i32,
            _ => rng.below(vocab) as i32,
        })
        .collect()
}

fn embedding_fwd_ref(table: &[f64], ids: &[i32], vocab: usize, dim: usize) -> Vec<f64> {
    ids.iter()
        .flat_map(|&id| (0..dim).map(move |d| if id >= 0 && (id as usize) < vocab { table[id as usize * dim + d] } else { 0.0 }))
        .collect()
}

fn embedding_bwd_ref(dy: &[f64], ids: &[i32], vocab: usize, dim: usize) -> Vec<f64> {
    let mut dt = vec![0.0; vocab * dim];
    for (i, &id) in ids.iter().enumerate() {
        if id >= 0 && (id as usize) < vocab {
            for d in 0..dim {
                dt[id as usize * dim + d] += dy[i * dim + d];
            }
        }
    }
    dt
}

const EMB_SHAPES: [(usize, usize, usize); 6] = [(1, 1, 1), (5, 3, 17), (13, 4, 64), (97, 13, 211), (30522, 7, 300), (1000, 128, 2048)];

#[test]
fn embedding_fwd_gathers_rows_and_zeroes_bad_ids() {
    let mut rng = Rng::new(10);
    for (vocab, dim, n) in EMB_SHAPES {
        let table = rng.vec_f32(vocab * dim);
        let ids = make_ids(&mut rng, n, vocab);
        let out = embedding_fwd(gpu(), &up(&table, &[vocab, dim]), &up_i32(&ids)).unwrap();
        assert_eq!(out.shape(), &[n, dim]);
        let want = embedding_fwd_ref(&f64s(&table), &ids, vocab, dim);
        let e = max_abs(&down(&out), &want);
        assert!(e == 0.0, "embedding_fwd {vocab}x{dim}, {n} ids: max |err| {e:.2e} != 0 (a gather is exact)");
    }
}

#[test]
fn embedding_bwd_sums_repeats_in_order() {
    let mut rng = Rng::new(11);
    for (vocab, dim, n) in EMB_SHAPES {
        let dy = rng.vec_f32(n * dim);
        let ids = make_ids(&mut rng, n, vocab);
        let (dyt, idt) = (up(&dy, &[n, dim]), up_i32(&ids));
        let got = down(&embedding_bwd(gpu(), &dyt, &idt, vocab).unwrap());
        let want = embedding_bwd_ref(&f64s(&dy), &ids, vocab, dim);
        let e = rel_l2(&got, &want);
        assert!(e <= 1e-6, "embedding_bwd {vocab}x{dim}, {n} ids: rel L2 {e:.2e} > 1e-6");
        // summed in increasing token order in f32: bit-identical to the sequential f32 sum, run after run
        let mut seq = vec![0.0f32; vocab * dim];
        for (i, &id) in ids.iter().enumerate() {
            if id >= 0 && (id as usize) < vocab {
                for d in 0..dim {
                    seq[id as usize * dim + d] += dy[i * dim + d];
                }
            }
        }
        assert!(got.iter().zip(&seq).all(|(a, b)| a.to_bits() == b.to_bits()), "embedding_bwd {vocab}x{dim}: not the in-order f32 sum");
        let again = down(&embedding_bwd(gpu(), &dyt, &idt, vocab).unwrap());
        assert!(got.iter().zip(&again).all(|(a, b)| a.to_bits() == b.to_bits()), "embedding_bwd is not deterministic");
    }
    // no tokens: a zero table gradient
    let dy = Tensor::empty(gpu(), &[0, 3], DType::F32).unwrap();
    let got = down(&embedding_bwd(gpu(), &dy, &Tensor::empty(gpu(), &[0], DType::I32).unwrap(), 4).unwrap());
    assert_eq!(got, vec![0.0; 12], "embedding_bwd with no tokens");
}

#[test]
fn embedding_reference_gradient_matches_finite_differences() {
    // L = sum(out * w): dL/dtable = embedding_bwd(w)
    let (vocab, dim) = (4, 3);
    let ids = [2, 0, 2, 7, -1, 2];
    let mut rng = Rng::new(12);
    let w = f64s(&rng.vec_f32(ids.len() * dim));
    let table = f64s(&rng.vec_f32(vocab * dim));
    let f = |t: &[f64]| embedding_fwd_ref(t, &ids, vocab, dim).iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
    let e = rel_l2_f64(&embedding_bwd_ref(&w, &ids, vocab, dim), &numeric_grad(&table, 1e-4, f));
    assert!(e <= 1e-8, "embedding reference gradient vs central differences: {e:.2e} > 1e-8");
}

#[test]
fn embedding_rejects_bad_input() {
    let table = up(&[0.0; 6], &[3, 2]);
    let e = embedding_fwd(gpu(), &table, &up(&[0.0], &[1])).unwrap_err();
    assert!(matches!(&e, Error::DType(m) if m.contains("embedding_fwd") && m.contains("ids")), "{e}");
    let e = embedding_fwd(gpu(), &up(&[0.0; 6], &[6]), &up_i32(&[0])).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("table")), "{e}");
    let e = embedding_bwd(gpu(), &up(&[0.0; 6], &[3, 2]), &up_i32(&[0, 1]), 5).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("dy")), "{e}");
}

// ---------------- cross-entropy ----------------

/// (loss, grad) of mean cross-entropy over counted rows (target in [0, vocab)), f64.
fn ce_ref(x: &[f64], t: &[i32], vocab: usize) -> (f64, Vec<f64>) {
    let count = t.iter().filter(|&&v| v >= 0 && (v as usize) < vocab).count();
    let mut grad = vec![0.0; x.len()];
    let mut loss = 0.0;
    if count == 0 {
        return (0.0, grad);
    }
    for (r, &tr) in t.iter().enumerate() {
        if tr < 0 || tr as usize >= vocab {
            continue;
        }
        let row = &x[r * vocab..(r + 1) * vocab];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss += lse - row[tr as usize];
        for j in 0..vocab {
            grad[r * vocab + j] = ((row[j] - lse).exp() - if j == tr as usize { 1.0 } else { 0.0 }) / count as f64;
        }
    }
    (loss / count as f64, grad)
}

fn check_ce(rows: usize, vocab: usize, targets: &[i32], rng: &mut Rng, spread: f64) {
    let x: Vec<f32> = (0..rows * vocab).map(|_| (rng.normal() * spread) as f32).collect();
    let out = cross_entropy(gpu(), &up(&x, &[rows, vocab]), &up_i32(targets)).unwrap();
    let (lr, gr) = ce_ref(&f64s(&x), targets, vocab);
    let l = down(&out.loss)[0] as f64;
    let el = (l - lr).abs() / lr.abs().max(1e-3);
    assert!(el <= 1e-5, "cross_entropy {rows}x{vocab}: loss {l} vs {lr}, rel error {el:.2e} > 1e-5");
    let g = down(&out.grad);
    let eg = if gr.iter().all(|&v| v == 0.0) { max_abs(&g, &gr) } else { rel_l2(&g, &gr) };
    assert!(eg <= 1e-5, "cross_entropy {rows}x{vocab}: grad error {eg:.2e} > 1e-5");
}

#[test]
fn cross_entropy_matches_reference() {
    let mut rng = Rng::new(20);
    // (rows, vocab): vocab 1, tiny, per-row kernel (rows >= 16; whole vec4s where vocab % 4 == 0: 100, 1000) and
    // workgroup-per-row kernel (long rows, few rows)
    for (rows, vocab) in [(1, 1), (3, 1), (5, 7), (33, 100), (40, 1000), (9, 300), (5, 30522), (64, 30522)] {
        let targets: Vec<i32> = (0..rows)
            .map(|r| match r % 7 {
                3 => -100,
                5 if rows > 5 => vocab as i32 + 2, // out of range: ignored like -100
                _ => rng.below(vocab) as i32,
            })
            .collect();
        check_ce(rows, vocab, &targets, &mut rng, 3.0);
    }
}

#[test]
fn cross_entropy_all_ignored_and_extreme_logits() {
    let mut rng = Rng::new(21);
    for (rows, vocab) in [(4, 10), (3, 500), (20, 12)] {
        check_ce(rows, vocab, &vec![-100; rows], &mut rng, 1.0);
    }
    // large logits must not overflow (max-subtracted)
    let targets: Vec<i32> = (0..20).map(|_| rng.below(50) as i32).collect();
    check_ce(20, 50, &targets, &mut rng, 60.0);
    let targets: Vec<i32> = (0..3).map(|_| rng.below(400) as i32).collect();
    check_ce(3, 400, &targets, &mut rng, 60.0);
}

#[test]
fn cross_entropy_reference_gradient_matches_finite_differences() {
    let (rows, vocab) = (3, 4);
    let t = [1, -100, 3];
    let x = f64s(&Rng::new(22).vec_f32(rows * vocab));
    let e = rel_l2_f64(&ce_ref(&x, &t, vocab).1, &numeric_grad(&x, 1e-5, |x| ce_ref(x, &t, vocab).0));
    assert!(e <= 1e-7, "cross-entropy reference gradient vs central differences: {e:.2e} > 1e-7");
}

#[test]
fn cross_entropy_rejects_bad_input() {
    let x = up(&[0.0; 6], &[2, 3]);
    let e = cross_entropy(gpu(), &x, &up_i32(&[0, 1, 2])).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("cross_entropy") && m.contains("targets")), "{e}");
    let e = cross_entropy(gpu(), &x, &up(&[0.0, 1.0], &[2])).unwrap_err();
    assert!(matches!(&e, Error::DType(m) if m.contains("targets")), "{e}");
    assert!(cross_entropy(gpu(), &up(&[0.0; 6], &[6]), &up_i32(&[0; 6])).is_err());
}

// ---------------- MAE reconstruction loss ----------------

/// (loss, d loss / d pred) of models_mae.py forward_loss, f64.
fn recon_ref(pred: &[f64], target: &[f64], mask: &[f64], dim: usize, norm_pix: bool) -> (f64, Vec<f64>) {
    let msum: f64 = mask.iter().sum();
    let mut loss = 0.0;
    let mut grad = vec![0.0; pred.len()];
    for (r, &m) in mask.iter().enumerate() {
        let t = &target[r * dim..(r + 1) * dim];
        let (mu, sd) = if norm_pix {
            let mu = t.iter().sum::<f64>() / dim as f64;
            let var = t.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (dim as f64 - 1.0);
            (mu, (var + 1e-6).sqrt())
        } else {
            (0.0, 1.0)
        };
        let w = if msum == 0.0 { 0.0 } else { m / msum };
        let mut se = 0.0;
        for d in 0..dim {
            let diff = pred[r * dim + d] - (t[d] - mu) / sd;
            se += diff * diff;
            grad[r * dim + d] = 2.0 * diff / dim as f64 * w;
        }
        loss += se / dim as f64 * w;
    }
    (loss, grad)
}

#[test]
fn recon_loss_matches_reference() {
    let mut rng = Rng::new(30);
    // rows < 16 take the workgroup-per-row kernel on a CPU adapter, the others one invocation per row
    for (batch, patches, dim) in [(1, 1, 2), (2, 3, 5), (1, 7, 300), (3, 7, 48), (4, 49, 768), (2, 5, 1)] {
        for norm_pix in [false, true] {
            if norm_pix && dim < 2 {
                continue;
            }
            let rows = batch * patches;
            let pred = rng.vec_f32(rows * dim);
            let target: Vec<f32> = (0..rows * dim).map(|_| (rng.normal() * 2.0 + 0.5) as f32).collect();
            let mut mask: Vec<f32> = (0..rows).map(|_| rng.below(4).min(1) as f32).collect();
            mask[0] = 1.0;
            let out = recon_loss(gpu(), &up(&pred, &[batch, patches, dim]), &up(&target, &[batch, patches, dim]),
                                 &up(&mask, &[batch, patches]), norm_pix).unwrap();
            let (lr, gr) = recon_ref(&f64s(&pred), &f64s(&target), &f64s(&mask), dim, norm_pix);
            let l = down(&out.loss)[0] as f64;
            let el = (l - lr).abs() / lr.abs();
            assert!(el <= 1e-5, "recon_loss {batch}x{patches}x{dim} norm_pix={norm_pix}: loss {l} vs {lr}, rel {el:.2e} > 1e-5");
            let eg = rel_l2(&down(&out.grad), &gr);
            assert!(eg <= 1e-5, "recon_loss {batch}x{patches}x{dim} norm_pix={norm_pix}: grad rel L2 {eg:.2e} > 1e-5");
        }
    }
}

#[test]
fn recon_loss_empty_mask_and_patch_dim_one() {
    let (pred, target) = (up(&[0.5; 6], &[1, 3, 2]), up(&[1.5; 6], &[1, 3, 2]));
    let out = recon_loss(gpu(), &pred, &target, &up(&[0.0; 3], &[1, 3]), true).unwrap();
    assert_eq!((down(&out.loss), down(&out.grad)), (vec![0.0], vec![0.0; 6]), "mask summing to 0: loss 0, zero grad (torch: NaN)");
    let p1 = up(&[0.5; 3], &[1, 3, 1]);
    let e = recon_loss(gpu(), &p1, &up(&[1.0; 3], &[1, 3, 1]), &up(&[1.0; 3], &[1, 3]), true).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("norm_pix")), "{e}");
    let e = recon_loss(gpu(), &pred, &target, &up(&[1.0; 2], &[1, 2]), false).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("mask")), "{e}");
}

#[test]
fn recon_reference_gradient_matches_finite_differences() {
    let mut rng = Rng::new(31);
    let dim = 3;
    let (pred, target) = (f64s(&rng.vec_f32(4 * dim)), f64s(&rng.vec_f32(4 * dim)));
    let mask = [1.0, 0.0, 1.0, 1.0];
    for norm_pix in [false, true] {
        let num = numeric_grad(&pred, 1e-5, |p| recon_ref(p, &target, &mask, dim, norm_pix).0);
        let e = rel_l2_f64(&recon_ref(&pred, &target, &mask, dim, norm_pix).1, &num);
        assert!(e <= 1e-7, "recon reference gradient (norm_pix={norm_pix}) vs central differences: {e:.2e} > 1e-7");
    }
}

// ---------------- NT-Xent ----------------

/// (loss, dz) of NT-Xent over z [2n, dim] (z taken as given), f64, written from the definition.
fn nt_xent_ref(z: &[f64], rows: usize, dim: usize, t: f64) -> (f64, Vec<f64>) {
    let half = rows / 2;
    let s = |i: usize, j: usize| (0..dim).map(|d| z[i * dim + d] * z[j * dim + d]).sum::<f64>() / t;
    let mut loss = 0.0;
    let mut dz = vec![0.0; rows * dim];
    for i in 0..rows {
        let pos = (i + half) % rows;
        let m = (0..rows).filter(|&j| j != i).map(|j| s(i, j)).fold(f64::NEG_INFINITY, f64::max);
        let lse = m + (0..rows).filter(|&j| j != i).map(|j| (s(i, j) - m).exp()).sum::<f64>().ln();
        loss += (lse - s(i, pos)) / rows as f64;
        // d loss_i / d S_ij = (P_ij - [j == pos]) / N; dS_ij/dz_i = z_j / t, dS_ij/dz_j = z_i / t
        for j in (0..rows).filter(|&j| j != i) {
            let c = ((s(i, j) - lse).exp() - if j == pos { 1.0 } else { 0.0 }) / rows as f64 / t;
            for d in 0..dim {
                dz[i * dim + d] += c * z[j * dim + d];
                dz[j * dim + d] += c * z[i * dim + d];
            }
        }
    }
    (loss, dz)
}

fn normalised_rows(rng: &mut Rng, rows: usize, dim: usize) -> Vec<f32> {
    let mut z: Vec<f64> = (0..rows * dim).map(|_| rng.normal()).collect();
    for r in z.chunks_mut(dim) {
        let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        r.iter_mut().for_each(|v| *v /= n);
    }
    z.iter().map(|&v| v as f32).collect()
}

#[test]
fn nt_xent_matches_reference() {
    let mut rng = Rng::new(40);
    // dim % 4 == 0 takes the vec4 logits kernel, and with 2n % 4 == 0 the vec4 gradient kernel
    for (n, dim) in [(1, 4), (3, 5), (2, 8), (3, 16), (6, 16), (64, 33), (256, 128)] {
        for t in [0.1, 0.5] {
            let rows = 2 * n;
            let z = normalised_rows(&mut rng, rows, dim);
            let out = nt_xent(gpu(), &up(&z, &[rows, dim]), t as f32).unwrap();
            if rows > 128 {
                // the O(N^2 dim) reference is slow in a debug build: check the loss only, and the gradient of a few rows
                let (lr, _) = nt_xent_ref_loss_only(&f64s(&z), rows, dim, t);
                let l = down(&out.loss)[0] as f64;
                assert!((l - lr).abs() / lr <= 1e-5, "nt_xent 2n={rows} dim={dim} t={t}: loss {l} vs {lr}");
                continue;
            }
            let (lr, gr) = nt_xent_ref(&f64s(&z), rows, dim, t);
            let l = down(&out.loss)[0] as f64;
            let el = (l - lr).abs() / lr.abs().max(1e-6);
            // n = 1: each row has only its positive, the loss is 0 and so is the gradient
            let el = if n == 1 { (l - lr).abs() } else { el };
            assert!(el <= 1e-5, "nt_xent 2n={rows} dim={dim} t={t}: loss {l} vs {lr}, error {el:.2e} > 1e-5");
            let g = down(&out.grad);
            let eg = if n == 1 { max_abs(&g, &gr) } else { rel_l2(&g, &gr) };
            assert!(eg <= 1e-5, "nt_xent 2n={rows} dim={dim} t={t}: grad error {eg:.2e} > 1e-5");
        }
    }
}

/// The loss alone, O(N^2 dim) once (for the large case).
fn nt_xent_ref_loss_only(z: &[f64], rows: usize, dim: usize, t: f64) -> (f64, ()) {
    let half = rows / 2;
    let mut s = vec![0.0; rows * rows];
    for i in 0..rows {
        for j in 0..rows {
            s[i * rows + j] = (0..dim).map(|d| z[i * dim + d] * z[j * dim + d]).sum::<f64>() / t;
        }
    }
    let mut loss = 0.0;
    for i in 0..rows {
        let row = &s[i * rows..(i + 1) * rows];
        let m = (0..rows).filter(|&j| j != i).map(|j| row[j]).fold(f64::NEG_INFINITY, f64::max);
        let lse = m + (0..rows).filter(|&j| j != i).map(|j| (row[j] - m).exp()).sum::<f64>().ln();
        loss += lse - row[(i + half) % rows];
    }
    (loss / rows as f64, ())
}

#[test]
fn nt_xent_reference_gradient_matches_finite_differences() {
    let mut rng = Rng::new(41);
    for (rows, t) in [(4, 0.5), (6, 0.1)] {
        let z = f64s(&normalised_rows(&mut rng, rows, 3));
        let num = numeric_grad(&z, 1e-5, |z| nt_xent_ref(z, rows, 3, t).0);
        let e = rel_l2_f64(&nt_xent_ref(&z, rows, 3, t).1, &num);
        assert!(e <= 1e-7, "nt_xent reference gradient (2n={rows}, t={t}) vs central differences: {e:.2e} > 1e-7");
        // and the closed form the kernel uses: dz_k = (1/(N t)) (sum_j (P_kj + P_jk) z_j - 2 z_pos(k))
        let dim = 3;
        let s = |i: usize, j: usize| (0..dim).map(|d| z[i * dim + d] * z[j * dim + d]).sum::<f64>() / t;
        let lse: Vec<f64> = (0..rows)
            .map(|i| (0..rows).filter(|&j| j != i).map(|j| s(i, j).exp()).sum::<f64>().ln())
            .collect();
        let mut closed = vec![0.0; rows * dim];
        for k in 0..rows {
            for j in (0..rows).filter(|&j| j != k) {
                let w = (s(k, j) - lse[k]).exp() + (s(k, j) - lse[j]).exp() - if j == (k + rows / 2) % rows { 2.0 } else { 0.0 };
                for d in 0..dim {
                    closed[k * dim + d] += w * z[j * dim + d] / (rows as f64 * t);
                }
            }
        }
        let e = rel_l2_f64(&closed, &num);
        assert!(e <= 1e-7, "nt_xent closed-form gradient vs central differences: {e:.2e} > 1e-7");
    }
}

#[test]
fn nt_xent_rejects_bad_input() {
    let e = nt_xent(gpu(), &up(&[0.0; 9], &[3, 3]), 0.1).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("nt_xent") && m.contains("2n")), "{e}");
    assert!(matches!(nt_xent(gpu(), &up(&[0.0; 4], &[2, 2]), 0.0), Err(Error::Invalid(_))));
    assert!(nt_xent(gpu(), &up(&[0.0; 4], &[4]), 0.1).is_err());
}


// ---------------- binary cross-entropy with logits ----------------

/// (scaled total, per-row sums, scaled gradient) of -t log σ(z) - (1-t) log(1-σ(z)), written as the textbook
/// logs of σ computed in f64 (σ from exp of a negative number only, so no overflow).
fn bce_ref(z: &[f64], t: &[f64], dim: usize, scale: f64) -> (f64, Vec<f64>, Vec<f64>) {
    let sig = |v: f64| if v >= 0.0 { 1.0 / (1.0 + (-v).exp()) } else { v.exp() / (1.0 + v.exp()) };
    // log σ(v) = -log(1 + e^{-v}); log(1 - σ(v)) = log σ(-v)
    let log_sig = |v: f64| if v >= 0.0 { -(-v).exp().ln_1p() } else { v - v.exp().ln_1p() };
    let elem: Vec<f64> = z.iter().zip(t).map(|(&v, &y)| -y * log_sig(v) - (1.0 - y) * log_sig(-v)).collect();
    let rows: Vec<f64> = elem.chunks(dim.max(1)).map(|r| r.iter().sum()).collect();
    let grad = z.iter().zip(t).map(|(&v, &y)| scale * (sig(v) - y)).collect();
    (scale * rows.iter().sum::<f64>(), rows, grad)
}

/// Logits spread by `spread`, with some saturated ones; targets in [0, 1] with exact 0s and 1s.
fn bce_inputs(rng: &mut Rng, n: usize, spread: f64) -> (Vec<f32>, Vec<f32>) {
    let z = (0..n)
        .map(|_| match rng.below(20) {
            0 => 40.0,
            1 => -40.0,
            2 => 0.0,
            _ => (spread * rng.normal()) as f32,
        })
        .collect();
    let t = (0..n)
        .map(|_| match rng.below(4) {
            0 => 0.0,
            1 => 1.0,
            _ => rng.uniform() as f32,
        })
        .collect();
    (z, t)
}

#[test]
fn bce_with_logits_matches_reference() {
    let mut rng = Rng::new(60);
    // (rows, dim): single element, primes, a batch of 28x28 images, few rows (workgroup path), and a row long
    // enough to take the workgroup path on a CPU adapter.
    for (rows, dim) in [(1, 1), (3, 7), (17, 784), (129, 13), (2, 5), (5, 40_003)] {
        for spread in [1.0, 8.0] {
            let (z, t) = bce_inputs(&mut rng, rows * dim, spread);
            let scale = 1.0 / rows as f32;
            let out = bce_with_logits(gpu(), &up(&z, &[rows, dim]), &up(&t, &[rows, dim]), scale).unwrap();
            let (lr, rr, gr) = bce_ref(&f64s(&z), &f64s(&t), dim, scale as f64);
            let l = down(&out.loss)[0] as f64;
            let el = (l - lr).abs() / lr.abs().max(1e-30);
            assert!(el <= 1e-5, "bce_with_logits {rows}x{dim} spread {spread}: loss {l} vs {lr}, rel error {el:.2e} > 1e-5");
            let er = rel_l2(&down(&out.row_loss), &rr);
            assert!(er <= 1e-5, "bce_with_logits {rows}x{dim} spread {spread}: row losses rel L2 {er:.2e} > 1e-5");
            let eg = rel_l2(&down(&out.grad), &gr);
            assert!(eg <= 1e-5, "bce_with_logits {rows}x{dim} spread {spread}: grad rel L2 {eg:.2e} > 1e-5");
        }
    }
}

#[test]
fn bce_with_logits_is_exact_at_saturated_logits() {
    // log(1 + e^{-|z|}) must keep its value where 1 + e^{-|z|} rounds to 1 (|z| > 17 in f32), and nothing
    // may overflow at |z| = 1e30.
    let z = [20.0f32, 30.0, -30.0, 1e30, -1e30, 88.0, -88.0, 17.5];
    let t = [1.0f32, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
    let out = bce_with_logits(gpu(), &up(&z, &[1, 8]), &up(&t, &[1, 8]), 1.0).unwrap();
    let (_, rr, gr) = bce_ref(&f64s(&z), &f64s(&t), 8, 1.0);
    let got = down(&out.row_loss)[0] as f64;
    assert!((got - rr[0]).abs() <= 1e-6 * rr[0], "bce row loss at saturated logits: {got:e} vs {:e}", rr[0]);
    let g = down(&out.grad);
    assert!(g.iter().zip(&gr).all(|(a, b)| a.is_finite() && (*a as f64 - b).abs() <= 1e-7), "bce grad at saturated logits: {g:?} vs {gr:?}");
    // Each element alone: a loss of 2e-9 (z = 20, t = 1) is 2e-9, not 0.
    for (&zv, &tv) in z.iter().zip(&t) {
        let o = bce_with_logits(gpu(), &up(&[zv], &[1, 1]), &up(&[tv], &[1, 1]), 1.0).unwrap();
        let (want, _, _) = bce_ref(&[zv as f64], &[tv as f64], 1, 1.0);
        let got = down(&o.loss)[0] as f64;
        assert!((got - want).abs() <= 1e-5 * want.abs() + 1e-30, "bce({zv}, {tv}) = {got:e}, want {want:e}");
    }
}

#[test]
fn bce_reference_gradient_matches_finite_differences() {
    let mut rng = Rng::new(61);
    let (z, t) = bce_inputs(&mut rng, 12, 2.0);
    let (z, t) = (f64s(&z), f64s(&t));
    let (_, _, grad) = bce_ref(&z, &t, 4, 0.25);
    let numeric = numeric_grad(&z, 1e-6, |zz| bce_ref(zz, &t, 4, 0.25).0);
    let e = rel_l2_f64(&grad, &numeric);
    assert!(e <= 1e-7, "bce reference gradient vs central differences: {e:.2e} > 1e-7");
}

#[test]
fn bce_with_logits_empty_and_bad_input() {
    let out = bce_with_logits(gpu(), &up(&[], &[0, 5]), &up(&[], &[0, 5]), 1.0).unwrap();
    assert_eq!(down(&out.loss), vec![0.0], "bce of no rows is 0");
    let e = bce_with_logits(gpu(), &up(&[0.0; 6], &[2, 3]), &up(&[0.0; 6], &[3, 2]), 1.0).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m == "bce_with_logits: targets has shape [3, 2], expected [2, 3]"), "{e}");
    let e = bce_with_logits(gpu(), &up(&[0.0; 6], &[6]), &up(&[0.0; 6], &[6]), 1.0).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m.contains("logits") && m.contains("rank 2")), "{e}");
}

// ---------------- KL(N(mu, exp(logvar)) || N(0, I)) ----------------

/// (scaled total, per-row KL, dmu, dlogvar) by the closed form.
fn kl_ref(mu: &[f64], lv: &[f64], dim: usize, scale: f64) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    let elem: Vec<f64> = mu.iter().zip(lv).map(|(&m, &l)| 0.5 * (m * m + l.exp() - 1.0 - l)).collect();
    let rows: Vec<f64> = elem.chunks(dim.max(1)).map(|r| r.iter().sum()).collect();
    let dmu = mu.iter().map(|m| scale * m).collect();
    let dlv = lv.iter().map(|l| scale * 0.5 * (l.exp() - 1.0)).collect();
    (scale * rows.iter().sum::<f64>(), rows, dmu, dlv)
}

/// The KL of two diagonal Gaussians by numerical integration over one dimension, to check the closed form.
fn kl_numeric_1d(m: f64, lv: f64) -> f64 {
    let s = (0.5 * lv).exp();
    let (n, lo, hi) = (200_000, m - 12.0 * s, m + 12.0 * s);
    let h = (hi - lo) / n as f64;
    let logq = |x: f64| -0.5 * ((x - m) / s).powi(2) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
    let logp = |x: f64| -0.5 * x * x - 0.5 * (2.0 * std::f64::consts::PI).ln();
    (0..n).map(|i| lo + (i as f64 + 0.5) * h).map(|x| logq(x).exp() * (logq(x) - logp(x)) * h).sum()
}

#[test]
fn kl_normal_matches_reference() {
    let mut rng = Rng::new(62);
    for (rows, dim) in [(1, 1), (3, 7), (128, 32), (2, 5), (9, 40_001)] {
        let n = rows * dim;
        let mu: Vec<f32> = (0..n).map(|_| rng.range(-2.0, 2.0) as f32).collect();
        let lv: Vec<f32> = (0..n).map(|_| rng.range(-4.0, 3.0) as f32).collect();
        let scale = 0.7 / rows as f32;
        let out = kl_normal(gpu(), &up(&mu, &[rows, dim]), &up(&lv, &[rows, dim]), scale).unwrap();
        let (lr, rr, dmr, dlr) = kl_ref(&f64s(&mu), &f64s(&lv), dim, scale as f64);
        let l = down(&out.loss)[0] as f64;
        let el = (l - lr).abs() / lr.abs();
        assert!(el <= 1e-5, "kl_normal {rows}x{dim}: loss {l} vs {lr}, rel error {el:.2e} > 1e-5");
        for (name, got, want) in [("row_kl", &out.row_kl, &rr), ("dmu", &out.dmu, &dmr), ("dlogvar", &out.dlogvar, &dlr)] {
            let e = rel_l2(&down(got), want);
            assert!(e <= 1e-5, "kl_normal {rows}x{dim}: {name} rel L2 {e:.2e} > 1e-5");
        }
    }
}

#[test]
fn kl_reference_is_the_kl_and_its_gradient() {
    // The closed form against numerical integration of E_q[log q - log p] ...
    for (m, lv) in [(0.0, 0.0), (1.3, -1.0), (-0.4, 1.2)] {
        let (closed, _, _, _) = kl_ref(&[m], &[lv], 1, 1.0);
        let num = kl_numeric_1d(m, lv);
        assert!((closed - num).abs() <= 1e-6, "KL closed form {closed} vs integration {num} at mu {m}, logvar {lv}");
    }
    // ... and its gradients against central differences.
    let mut rng = Rng::new(63);
    let mu: Vec<f64> = (0..6).map(|_| rng.range(-1.0, 1.0)).collect();
    let lv: Vec<f64> = (0..6).map(|_| rng.range(-1.0, 1.0)).collect();
    let (_, _, dmu, dlv) = kl_ref(&mu, &lv, 3, 0.5);
    let e = rel_l2_f64(&dmu, &numeric_grad(&mu, 1e-6, |m| kl_ref(m, &lv, 3, 0.5).0));
    assert!(e <= 1e-7, "kl reference dmu vs central differences: {e:.2e} > 1e-7");
    let e = rel_l2_f64(&dlv, &numeric_grad(&lv, 1e-6, |l| kl_ref(&mu, l, 3, 0.5).0));
    assert!(e <= 1e-7, "kl reference dlogvar vs central differences: {e:.2e} > 1e-7");
}

#[test]
fn kl_normal_empty_and_bad_input() {
    let out = kl_normal(gpu(), &up(&[], &[0, 4]), &up(&[], &[0, 4]), 1.0).unwrap();
    assert_eq!(down(&out.loss), vec![0.0], "KL of no rows is 0");
    let e = kl_normal(gpu(), &up(&[0.0; 6], &[2, 3]), &up(&[0.0; 6], &[1, 6]), 1.0).unwrap_err();
    assert!(matches!(&e, Error::Shape(m) if m == "kl_normal: logvar has shape [1, 6], expected [2, 3]"), "{e}");
}
