//! Frozen-feature probes (`eval::probe`): kNN against an f64 transcription of lightly's `knn_predict` with the
//! bank in one piece and in many, the linear probe on separable data and through standardisation, and a whole
//! probe of an autoencoder directory (model, raw and init features; errors); the weight decay chosen on a held-out
//! fifth of the labels.
mod common;
use common::*;

use std::path::PathBuf;

use pretext::data::images::{bundled, write_idx};
use pretext::eval::probe::{
    self, choose_weight_decay, holdout_split, knn_accuracy, knn_predict_blocks, linear_probe, FeatureKind, Features, LinearProbe, ProbeRequest, WeightDecay,
    WEIGHT_DECAY_GRID,
};
use pretext::models::autoencoder::{Autoencoder, AutoencoderConfig, Kind};
use pretext::tasks::autoencoder as ae;

/// lightly's `knn_predict` in f64: normalise, similarities, top-k (ties: lower index), exp(sim / t) votes.
fn knn_ref(train: &Features, labels: &[usize], eval: &Features, classes: usize, k: usize, t: f64) -> Vec<usize> {
    let norm = |r: &[f32]| -> Vec<f64> {
        let n = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        r.iter().map(|v| if n > 0.0 { *v as f64 / n } else { 0.0 }).collect()
    };
    let bank: Vec<Vec<f64>> = (0..train.len()).map(|i| norm(train.row(i))).collect();
    (0..eval.len())
        .map(|q| {
            let e = norm(eval.row(q));
            let mut sims: Vec<(f64, usize)> = bank.iter().enumerate().map(|(j, b)| (b.iter().zip(&e).map(|(x, y)| x * y).sum(), j)).collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut votes = vec![0.0; classes];
            for &(s, j) in sims.iter().take(k) {
                votes[labels[j]] += (s / t).exp();
            }
            (0..classes).fold(0, |b, c| if votes[c] > votes[b] { c } else { b })
        })
        .collect()
}

/// `n` points of `classes` Gaussian clusters in `dim` dimensions (centres spread by `sep`), with labels.
fn clusters(rng: &mut Rng, n: usize, dim: usize, classes: usize, sep: f64, centres: &[Vec<f64>]) -> (Features, Vec<usize>) {
    let mut data = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.below(classes);
        labels.push(c);
        data.extend((0..dim).map(|d| (sep * centres[c][d] + rng.normal()) as f32));
    }
    (Features { data, dim }, labels)
}

#[test]
fn knn_matches_lightlys_knn_predict_in_one_piece_and_many() {
    let mut rng = Rng::new(80);
    for (n_train, n_eval, dim, classes, k) in [(1, 3, 1, 1, 200), (37, 11, 5, 3, 7), (600, 97, 13, 10, 200), (301, 50, 33, 4, 1)] {
        let centres: Vec<Vec<f64>> = (0..classes).map(|_| (0..dim).map(|_| rng.normal()).collect()).collect();
        let (train, labels) = clusters(&mut rng, n_train, dim, classes, 1.0, &centres);
        let (eval, _) = clusters(&mut rng, n_eval, dim, classes, 1.0, &centres);
        let want = knn_ref(&train, &labels, &eval, classes, k, 0.1);
        // 64 MiB blocks (one piece), and blocks of 1 KiB: many bank pieces and query chunks.
        for max_bytes in [64 << 20, 1024] {
            let got = knn_predict_blocks(gpu(), &train, &labels, &eval, classes, k, 0.1, max_bytes).unwrap();
            let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            // f32 similarities may reorder two near-equal neighbours: allow one flip in a hundred.
            assert!(differ * 100 <= n_eval, "knn {n_train}x{dim}, {n_eval} queries, k={k}, blocks {max_bytes}: {differ} predictions differ from the f64 reference");
        }
    }
    let (f, l) = (Features { data: vec![1.0, 0.0], dim: 2 }, vec![0]);
    assert!(knn_accuracy(gpu(), &f, &l, &f, &l, 1, 0, 0.1).unwrap_err().to_string().contains("k must be at least 1"));
    assert!(knn_accuracy(gpu(), &f, &l, &f, &[3], 2, 5, 0.1).unwrap_err().to_string().contains("label 3 is outside the 2 classes"));
}

#[test]
fn the_linear_probe_separates_separable_classes_at_any_scale() {
    let mut rng = Rng::new(81);
    let (dim, classes) = (20, 5);
    let centres: Vec<Vec<f64>> = (0..classes).map(|_| (0..dim).map(|_| rng.normal()).collect()).collect();
    let (mut train, tl) = clusters(&mut rng, 500, dim, classes, 3.0, &centres);
    let (mut eval, el) = clusters(&mut rng, 300, dim, classes, 3.0, &centres);
    let cfg = LinearProbe { steps: 300, ..LinearProbe::default() };
    let acc = linear_probe(gpu(), &train, &tl, &eval, &el, classes, &cfg).unwrap();
    assert!(acc >= 0.95, "linear probe on separated clusters: accuracy {acc} < 0.95");
    // Features offset by 1000 and scaled by 50 per dimension: standardisation makes it the same problem.
    for f in [&mut train, &mut eval] {
        for (i, v) in f.data.iter_mut().enumerate() {
            *v = 1000.0 + 50.0 * (1 + i % dim) as f32 * *v;
        }
    }
    let acc2 = linear_probe(gpu(), &train, &tl, &eval, &el, classes, &cfg).unwrap();
    assert!(acc2 >= 0.95, "linear probe on offset and scaled features: accuracy {acc2} < 0.95");
    let e = linear_probe(gpu(), &train, &tl[..10], &eval, &el, classes, &cfg).unwrap_err();
    assert!(e.to_string().contains("10 training labels for 500 features"), "{e}");
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pretext-probe-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn probing_an_autoencoder_directory() {
    let dir = tmp("dir");
    // 30 training images of each class, 20 held out, written as IDX files with their labels.
    let train_set = bundled::fashion_train().unwrap().per_class(30, 1).unwrap();
    let eval_set = bundled::fashion_test().unwrap().per_class(20, 1).unwrap();
    let (ti, tl, ei, el) = (dir.join("train-images-idx3-ubyte"), dir.join("train-labels-idx1-ubyte"), dir.join("t10k-images-idx3-ubyte"), dir.join("t10k-labels-idx1-ubyte"));
    write_idx(&ti, Some(&tl), &train_set).unwrap();
    write_idx(&ei, Some(&el), &eval_set).unwrap();
    let mut config = AutoencoderConfig::defaults(Kind::Vae);
    config.widths = vec![48];
    config.latent = 6;
    let model = Autoencoder::new(gpu(), &config).unwrap();
    let mdir = dir.join("model");
    ae::save(gpu(), &model, &mdir).unwrap();
    let request = |features: FeatureKind, labels_per_class: Option<usize>| ProbeRequest {
        model: mdir.clone(),
        train: vec![ti.clone()],
        eval: vec![ei.clone()],
        labels_per_class,
        knn: 20,
        features,
        blocks: 1,
        seed: 2,
        linear: LinearProbe { steps: 150, ..LinearProbe::default() },
    };
    let model_result = probe::probe(gpu(), &request(FeatureKind::Model, None)).unwrap();
    let init_result = probe::probe(gpu(), &request(FeatureKind::Init, None)).unwrap();
    // The directory holds the initial weights here, so model and init features are the same features.
    assert_eq!(model_result.linear_accuracy, init_result.linear_accuracy, "the init baseline rebuilds the saved initial weights");
    assert_eq!(model_result.knn_accuracy, init_result.knn_accuracy);
    let raw = probe::probe(gpu(), &request(FeatureKind::Raw, Some(10))).unwrap();
    assert_eq!((raw.labels_per_class, raw.features.as_str()), (Some(10), "raw"));
    for r in [&model_result, &raw] {
        // ten classes: chance is 0.1; even 10 labels a class of raw pixels do far better.
        assert!(r.linear_accuracy > 0.3 && r.knn_accuracy > 0.3, "{r:?}: accuracies near chance");
    }
    let e = probe::probe(gpu(), &ProbeRequest { model: PathBuf::from("assets/fixtures/bert_odd"), ..request(FeatureKind::Model, None) }).unwrap_err();
    assert!(e.to_string().contains("not an image encoder"), "{e}");
    // only an encoder with blocks concatenates several; the pixels have none
    let e = probe::probe(gpu(), &ProbeRequest { blocks: 2, ..request(FeatureKind::Model, Some(10)) }).unwrap_err();
    assert!(e.to_string().contains("no blocks to concatenate"), "{e}");
    let e = probe::probe(gpu(), &ProbeRequest { blocks: 2, ..request(FeatureKind::Raw, Some(10)) }).unwrap_err();
    assert!(e.to_string().contains("raw features have none"), "{e}");
    assert_eq!(raw.blocks, 1);
    // Weight decay chosen on a held-out fifth: the probe reports the value, and its accuracy is that of the probe
    // trained on all the labels with that value given outright.
    let auto = probe::probe(gpu(), &ProbeRequest { linear: LinearProbe { steps: 150, weight_decay: WeightDecay::Validated, ..LinearProbe::default() }, ..request(FeatureKind::Raw, Some(10)) }).unwrap();
    assert!(WEIGHT_DECAY_GRID.contains(&auto.weight_decay), "{auto:?}");
    let fixed = probe::probe(gpu(), &ProbeRequest { linear: LinearProbe { steps: 150, weight_decay: WeightDecay::Fixed(auto.weight_decay), ..LinearProbe::default() }, ..request(FeatureKind::Raw, Some(10)) }).unwrap();
    assert_eq!((auto.linear_accuracy, auto.knn_accuracy), (fixed.linear_accuracy, fixed.knn_accuracy));
    assert_eq!(fixed.weight_decay, auto.weight_decay);
    assert_eq!(raw.weight_decay, 5e-4, "the default weight decay");
    let e = probe::probe(gpu(), &request(FeatureKind::Raw, Some(31))).unwrap_err();
    assert!(e.to_string().contains("fewer than the 31 per class"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_held_out_fifth_is_drawn_per_class() {
    // class 0: 10 examples, class 1: 7, class 2: 1 (too few to hold one out), class 3: 5
    let labels: Vec<usize> = [vec![0; 10], vec![1; 7], vec![2], vec![3; 5]].concat();
    // interleaved: position i holds example 7i mod 23
    let shuffled: Vec<usize> = (0..labels.len()).map(|i| labels[7 * i % labels.len()]).collect();
    for seed in [0, 1] {
        let (fit, held) = holdout_split(&shuffled, seed);
        let per_class = |idx: &[usize]| (0..4).map(|c| idx.iter().filter(|&&i| shuffled[i] == c).count()).collect::<Vec<_>>();
        assert_eq!(per_class(&held), [2, 2, 0, 1], "a fifth of each class, rounded up");
        assert_eq!(per_class(&fit), [8, 5, 1, 4]);
        let mut all = [fit.clone(), held.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..shuffled.len()).collect::<Vec<_>>(), "the two parts cover every example once");
        assert!(fit.windows(2).all(|w| w[0] < w[1]) && held.windows(2).all(|w| w[0] < w[1]));
    }
    assert_ne!(holdout_split(&shuffled, 0).1, holdout_split(&shuffled, 1).1, "the seed draws the held-out examples");
    assert_eq!(holdout_split(&shuffled, 3), holdout_split(&shuffled, 3));
}

#[test]
fn the_weight_decay_is_the_most_accurate_on_the_held_out_fifth() {
    let mut rng = Rng::new(12);
    let (dim, classes) = (30, 4);
    let centres: Vec<Vec<f64>> = (0..classes).map(|_| (0..dim).map(|_| rng.normal()).collect()).collect();
    let (train, labels) = clusters(&mut rng, 60, dim, classes, 0.4, &centres);
    let cfg = LinearProbe { steps: 100, seed: 5, ..LinearProbe::default() };
    let (chosen, scores) = choose_weight_decay(gpu(), &train, &labels, classes, &cfg).unwrap();
    assert_eq!(scores.iter().map(|s| s.0).collect::<Vec<_>>(), WEIGHT_DECAY_GRID.to_vec());
    let best = scores.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    let first_best = scores.iter().find(|s| s.1 == best).unwrap().0;
    assert_eq!(chosen, first_best, "the most accurate, the smaller on a tie: {scores:?}");
    // each score is the probe fitted on the four fifths and read on the held-out fifth
    let (fit, held) = holdout_split(&labels, cfg.seed);
    let part = |idx: &[usize]| (train.subset(idx), idx.iter().map(|&i| labels[i]).collect::<Vec<_>>());
    let ((ff, fl), (hf, hl)) = (part(&fit), part(&held));
    for &(wd, acc) in &scores {
        let direct = linear_probe(gpu(), &ff, &fl, &hf, &hl, classes, &LinearProbe { weight_decay: WeightDecay::Fixed(wd), ..cfg }).unwrap();
        assert_eq!(acc, direct, "weight decay {wd}");
    }
    // no class with two examples: nothing to hold out
    let one = Features { data: vec![0.0, 1.0, 1.0, 0.0], dim: 2 };
    let e = choose_weight_decay(gpu(), &one, &[0, 1], 2, &cfg).unwrap_err();
    assert!(e.to_string().contains("no class here has 2 labelled examples"), "{e}");
    for (text, ok) in [("auto", Some(WeightDecay::Validated)), ("0", Some(WeightDecay::Fixed(0.0))), ("1e-3", Some(WeightDecay::Fixed(1e-3))), ("-1", None), ("NaN", None), ("lots", None)] {
        let parsed = text.parse::<WeightDecay>();
        match ok {
            Some(w) => assert_eq!(parsed.unwrap(), w),
            None => assert!(parsed.unwrap_err().to_string().contains(&format!("weight decay \"{text}\"")), "{text}"),
        }
    }
}
