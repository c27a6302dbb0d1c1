//! patchify / unpatchify (`shaders/patch.wgsl`) against an f64 reference at awkward shapes, both orders:
//! exact copies (a permutation), NaN-poisoned outputs, inverse of each other, and clear shape errors.
mod common;
use common::{f64s, gpu, rel_l2, Rng};
use pretext::kernels::patch::{patchify, unpatchify, PatchOrder};
use pretext::{Error, Tensor};

/// patches[b, l, e] = images[b, c, i*p + u, j*p + v], e = (u*p + v)*C + c (Pqc) or (c*p + u)*p + v (Cpq).
fn patchify_ref(x: &[f64], [batch, c, h, w]: [usize; 4], p: usize, order: PatchOrder) -> Vec<f64> {
    let (gh, gw) = (h / p, w / p);
    let dim = p * p * c;
    let mut out = vec![f64::NAN; batch * gh * gw * dim];
    for b in 0..batch {
        for i in 0..gh {
            for j in 0..gw {
                let l = i * gw + j;
                for ch in 0..c {
                    for u in 0..p {
                        for v in 0..p {
                            let e = match order {
                                PatchOrder::Pqc => (u * p + v) * c + ch,
                                PatchOrder::Cpq => (ch * p + u) * p + v,
                            };
                            out[(b * gh * gw + l) * dim + e] = x[((b * c + ch) * h + i * p + u) * w + j * p + v];
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn patchify_and_unpatchify_match_reference() {
    let g = gpu();
    let mut rng = Rng::new(21);
    // (batch, C, H, W, p): size 1, one patch, primes, rectangles, MAE's 28x28/4 and a 224x224/16 RGB batch.
    for (batch, c, h, w, p) in [
        (1, 1, 1, 1, 1),
        (1, 1, 5, 5, 5),
        (2, 3, 30, 30, 6),
        (3, 3, 30, 30, 5),
        (2, 1, 7, 21, 7),
        (1, 2, 6, 4, 2),
        (5, 1, 28, 28, 4),
        (3, 7, 13, 26, 13),
        (4, 3, 224, 224, 16),
    ] {
        let x = rng.vec_f32(batch * c * h * w);
        let images = Tensor::from_slice(g, &x, &[batch, c, h, w]).unwrap();
        for order in [PatchOrder::Pqc, PatchOrder::Cpq] {
            let patches = patchify(g, &images, p, order).unwrap();
            let l = (h / p) * (w / p);
            assert_eq!(patches.shape(), &[batch, l, p * p * c]);
            let got = patches.to_vec::<f32>(g).unwrap();
            let want = patchify_ref(&f64s(&x), [batch, c, h, w], p, order);
            let err = rel_l2(&got, &want);
            assert_eq!(err, 0.0, "patchify {order:?} {batch}x{c}x{h}x{w} p {p}: must copy exactly (rel L2 {err:.2e})");
            // unpatchify of fresh patches against the reference's inverse, and of patchify's output: the identity.
            let y = rng.vec_f32(batch * l * p * p * c);
            let back = unpatchify(g, &Tensor::from_slice(g, &y, &[batch, l, p * p * c]).unwrap(), c, h, w, p, order).unwrap();
            assert_eq!(back.shape(), &[batch, c, h, w]);
            let back = back.to_vec::<f32>(g).unwrap();
            let again = patchify_ref(&f64s(&back), [batch, c, h, w], p, order);
            assert_eq!(rel_l2(&y, &again), 0.0, "unpatchify {order:?} {batch}x{c}x{h}x{w} p {p}: patchify_ref(unpatchify(y)) != y");
            let round = unpatchify(g, &patches, c, h, w, p, order).unwrap().to_vec::<f32>(g).unwrap();
            assert_eq!(round, x, "unpatchify(patchify(x)) != x for {order:?} {batch}x{c}x{h}x{w} p {p}");
        }
    }
}

#[test]
fn the_two_orders_agree_for_one_channel_and_move_integers() {
    let g = gpu();
    // With C = 1 the (p, q, c) and (c, p, q) orders coincide.
    let x: Vec<f32> = (0..2 * 36).map(|i| i as f32).collect();
    let t = Tensor::from_slice(g, &x, &[2, 1, 6, 6]).unwrap();
    let a = patchify(g, &t, 3, PatchOrder::Pqc).unwrap().to_vec::<f32>(g).unwrap();
    let b = patchify(g, &t, 3, PatchOrder::Cpq).unwrap().to_vec::<f32>(g).unwrap();
    assert_eq!(a, b);
    // patch 1 of image 0 is columns 3..5 of rows 0..2
    assert_eq!(&a[9..18], &[3.0, 4.0, 5.0, 9.0, 10.0, 11.0, 15.0, 16.0, 17.0]);
    // i32 words move unchanged
    let ids: Vec<i32> = (0..2 * 2 * 4 * 4).collect();
    let t = Tensor::from_slice(g, &ids, &[2, 2, 4, 4]).unwrap();
    let p = patchify(g, &t, 2, PatchOrder::Pqc).unwrap();
    let want: Vec<i32> = patchify_ref(&ids.iter().map(|&v| v as f64).collect::<Vec<_>>(), [2, 2, 4, 4], 2, PatchOrder::Pqc).iter().map(|&v| v as i32).collect();
    assert_eq!(p.to_vec::<i32>(g).unwrap(), want);
}

#[test]
fn patch_shapes_are_checked() {
    let g = gpu();
    let shape_err = |r: Result<Tensor, Error>, what: &str| match r {
        Err(Error::Shape(m)) => m,
        Err(e) => panic!("{what}: expected a shape error, got {e}"),
        Ok(t) => panic!("{what}: expected a shape error, got a tensor {:?}", t.shape()),
    };
    let x = Tensor::from_slice(g, &[0.0f32; 2 * 30 * 28], &[2, 1, 30, 28]).unwrap();
    let m = shape_err(patchify(g, &x, 4, PatchOrder::Pqc), "30x28 in patches of 4");
    assert!(m.contains("30x28") && m.contains("4x4"), "{m}");
    shape_err(patchify(g, &x, 0, PatchOrder::Pqc), "patch 0");
    let flat = Tensor::from_slice(g, &[0.0f32; 16], &[4, 4]).unwrap();
    let m = shape_err(patchify(g, &flat, 2, PatchOrder::Pqc), "rank 2 images");
    assert!(m.contains("rank 4"), "{m}");
    let p = Tensor::from_slice(g, &[0.0f32; 2 * 9 * 16], &[2, 9, 16]).unwrap();
    let m = shape_err(unpatchify(g, &p, 1, 12, 12, 5, PatchOrder::Pqc), "12x12 in patches of 5");
    assert!(m.contains("12x12"), "{m}");
    let m = shape_err(unpatchify(g, &p, 2, 12, 12, 4, PatchOrder::Pqc), "patches of 16 values for 2 channels of 4x4");
    assert!(m.contains("[2, 9, 32]"), "{m}");
    let half = Tensor::from_slice(g, &[half::f16::ZERO; 16], &[1, 1, 4, 4]).unwrap();
    assert!(matches!(patchify(g, &half, 2, PatchOrder::Pqc), Err(Error::DType(_))), "f16 images must be a dtype error");
}
