//! Noise on the device (`kernels::noise`): Philox-4x32-10 against its published known-answer vectors, standard
//! normals against an f64 Box-Muller of the same Philox words, their moments, exact repetition from (seed,
//! offset), and masking noise against dropout's keep decisions.
mod common;
use common::*;

use pretext::kernels::dropout::dropout;
use pretext::kernels::noise::{mask, normal};
use pretext::{Error, Tensor};

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox-4x32-10 (Salmon et al. 2011), the textbook rounds on 64-bit products.
fn philox(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (ctr, key);
    for _ in 0..10 {
        let p0 = M0 as u64 * c[0] as u64;
        let p1 = M1 as u64 * c[2] as u64;
        c = [(p1 >> 32) as u32 ^ c[1] ^ k[0], p1 as u32, (p0 >> 32) as u32 ^ c[3] ^ k[1], p0 as u32];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// Word `e % 4` of the Philox block `e / 4` under `seed`.
fn word(seed: u64, e: u64) -> u32 {
    let q = e / 4;
    philox([q as u32, (q >> 32) as u32, 0, 0], [seed as u32, (seed >> 32) as u32])[(e % 4) as usize]
}

/// The standard normal at stream position e, in f64 from the same words as the kernel.
fn normal_ref(seed: u64, e: u64) -> f64 {
    let base = e - e % 4;
    let pair = (e % 4) / 2 * 2; // words 0,1 or 2,3
    let (wa, wb) = (word(seed, base + pair), word(seed, base + pair + 1));
    let u1 = ((wa >> 8) as f64 + 0.5) / (1u64 << 24) as f64;
    let u2 = (wb >> 8) as f64 / (1u64 << 24) as f64;
    let r = (-2.0 * u1.ln()).sqrt();
    let t = std::f64::consts::TAU * u2;
    if e % 2 == 0 { r * t.cos() } else { r * t.sin() }
}

#[test]
fn philox_reference_matches_the_published_vectors() {
    // Random123's kat_vectors for philox4x32_10.
    assert_eq!(philox([0; 4], [0; 2]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
    assert_eq!(philox([u32::MAX; 4], [u32::MAX; 2]), [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]);
    assert_eq!(
        philox([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0]),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
}

#[test]
fn normal_matches_f64_box_muller_at_awkward_sizes_and_offsets() {
    let g = gpu();
    // sizes: one element, primes, more than one workgroup of blocks; offsets: every residue mod 4, and one whose
    // block index needs the high counter word (offset / 4 >= 2^32).
    for n in [1usize, 3, 7, 1001, 65_537] {
        for (seed, offset) in [(0u64, 0u64), (1, 1), (0xDEAD_BEEF_0123_4567, 2), (42, 3), (7, (1u64 << 34) + 5)] {
            let got = normal(g, &[n], seed, offset).unwrap().to_vec::<f32>(g).unwrap();
            let want: Vec<f64> = (0..n as u64).map(|i| normal_ref(seed, offset + i)).collect();
            // f32 arithmetic: within 2e-6 (1 + |z|); a wrong Philox word or pairing would be off by O(1).
            let (worst, at) = got.iter().zip(&want).map(|(g, w)| ((*g as f64 - w).abs() / (1.0 + w.abs()), *w)).fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
            assert!(
                worst <= 2e-6,
                "normal n={n} seed={seed:#x} offset={offset}: max |err|/(1+|z|) {worst:.2e} (at z = {at:.3}) > 2e-6 vs f64 Box-Muller"
            );
        }
    }
}

#[test]
fn normal_has_the_moments_of_a_standard_normal() {
    let g = gpu();
    let n = 1 << 20;
    let z = normal(g, &[1024, 1024], 2024, 0).unwrap().to_vec::<f32>(g).unwrap();
    let nf = n as f64;
    let mean = z.iter().map(|&v| v as f64).sum::<f64>() / nf;
    let m = |k: i32| z.iter().map(|&v| (v as f64 - mean).powi(k)).sum::<f64>() / nf;
    let (var, skew, kurt) = (m(2), m(3) / m(2).powf(1.5), m(4) / m(2).powi(2));
    let tail = z.iter().filter(|v| v.abs() > 1.959_964).count() as f64 / nf;
    // Standard errors at n = 2^20: mean 0.001, variance 0.0014, skewness 0.0024, kurtosis 0.0048, tail 0.0002;
    // the bounds are five of them.
    assert!(mean.abs() <= 0.005, "normal: mean {mean:.5} not within 0.005 of 0");
    assert!((var - 1.0).abs() <= 0.007, "normal: variance {var:.5} not within 0.007 of 1");
    assert!(skew.abs() <= 0.012, "normal: skewness {skew:.5} not within 0.012 of 0");
    assert!((kurt - 3.0).abs() <= 0.025, "normal: kurtosis {kurt:.5} not within 0.025 of 3");
    assert!((tail - 0.05).abs() <= 0.0011, "normal: P(|z| > 1.96) = {tail:.5}, not within 0.0011 of 0.05");
    // Consecutive pairs uncorrelated (the cos and sin of one Box-Muller pair).
    let corr = z.chunks_exact(2).map(|p| p[0] as f64 * p[1] as f64).sum::<f64>() / (nf / 2.0) / var;
    assert!(corr.abs() <= 0.007, "normal: lag-1 pair correlation {corr:.5} not within 0.007 of 0");
}

#[test]
fn normal_repeats_from_seed_and_offset() {
    let g = gpu();
    let a = normal(g, &[3, 333], 9, 64).unwrap().to_vec::<f32>(g).unwrap();
    let b = normal(g, &[999], 9, 64).unwrap().to_vec::<f32>(g).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "the same seed and offset must repeat bit for bit");
    // The stream is one sequence: offset 64 + 5 is the tail of offset 64.
    let c = normal(g, &[994], 9, 69).unwrap().to_vec::<f32>(g).unwrap();
    assert!(c.iter().zip(&a[5..]).all(|(x, y)| x.to_bits() == y.to_bits()), "offset 69 must continue offset 64's stream");
    let d = normal(g, &[999], 10, 64).unwrap().to_vec::<f32>(g).unwrap();
    assert!(a.iter().zip(&d).filter(|(x, y)| x == y).count() < 5, "another seed must give other numbers");
    assert_eq!(normal(g, &[0, 4], 1, 0).unwrap().shape(), &[0, 4]);
}

#[test]
fn mask_zeroes_dropouts_entries_and_keeps_the_rest_unscaled() {
    let g = gpu();
    let mut rng = Rng::new(70);
    for (n, p, seed, offset) in [(1usize, 0.5f32, 3u64, 0u64), (1001, 0.3, 11, 6), (65_537, 0.75, 5, 1 << 33), (4096, 0.05, 1, 3)] {
        let x: Vec<f32> = (0..n).map(|_| rng.range(0.5, 1.5) as f32).collect();
        let xt = Tensor::from_slice(g, &x, &[n]).unwrap();
        let got = mask(g, &xt, p, seed, offset).unwrap().to_vec::<f32>(g).unwrap();
        let drop = dropout(g, &xt, p, seed, offset).unwrap().to_vec::<f32>(g).unwrap();
        let threshold = (p as f64 * (1u64 << 24) as f64).ceil() as u32;
        for i in 0..n {
            let keep = (word(seed, offset + i as u64) >> 8) >= threshold;
            let want = if keep { x[i] } else { 0.0 };
            assert!(got[i].to_bits() == want.to_bits(), "mask n={n} p={p}: element {i} is {}, want {want}", got[i]);
            assert_eq!(got[i] == 0.0, drop[i] == 0.0, "mask n={n} p={p}: element {i} differs from dropout's keep decision");
        }
        if n >= 4096 {
            let frac = got.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
            let se = (p as f64 * (1.0 - p as f64) / n as f64).sqrt();
            assert!((frac - p as f64).abs() <= 5.0 * se, "mask n={n}: zeroed fraction {frac:.4} vs p {p} (5 s.e. = {:.4})", 5.0 * se);
        }
    }
    let x = Tensor::from_slice(g, &[1.0f32, 2.0, 3.0], &[3]).unwrap();
    assert_eq!(mask(g, &x, 0.0, 1, 0).unwrap().to_vec::<f32>(g).unwrap(), vec![1.0, 2.0, 3.0], "p = 0 keeps everything");
    assert_eq!(mask(g, &x, 1.0, 1, 0).unwrap().to_vec::<f32>(g).unwrap(), vec![0.0; 3], "p = 1 zeroes everything");
    assert!(matches!(mask(g, &x, 1.5, 1, 0), Err(Error::Invalid(m)) if m.contains("p = 1.5")));
}
