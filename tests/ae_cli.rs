//! `pretext ae train|reconstruct|sample|eval` and `pretext probe` end to end on a small Fashion-MNIST subset:
//! the files they write, the JSON they print, resume through the command line, and clear errors (non-zero
//! exit, no panic) for bad input.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pretext::data::images::{bundled, write_idx};

fn pretext(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretext")).args(args).output().expect("run pretext")
}

fn ok(args: &[&str]) -> String {
    let o = pretext(args);
    assert!(o.status.success(), "pretext {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf-8 stdout")
}

/// Runs a command that must fail cleanly; returns its stderr.
fn fails(args: &[&str]) -> String {
    let o = pretext(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "pretext {args:?} should fail");
    assert!(!err.contains("panicked"), "pretext {args:?} panicked: {err}");
    err
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pretext-aecli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// 20 labelled images a class (200) as IDX files in `dir`; returns the images file.
fn subset(dir: &Path) -> PathBuf {
    let set = bundled::fashion_train().unwrap().per_class(20, 3).unwrap();
    let images = dir.join("train-images-idx3-ubyte.gz");
    write_idx(&images, Some(&dir.join("train-labels-idx1-ubyte.gz")), &set).unwrap();
    images
}

/// A small model: one hidden layer of 32, a code of 4.
fn tiny_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("tiny.json");
    std::fs::write(&p, format!("{{\"widths\": [32], \"latent\": 4{extra}}}")).unwrap();
    p
}

fn png_size(p: &Path) -> (u32, u32) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (img.width(), img.height())
}

#[test]
fn a_vae_trains_and_every_command_reads_its_directory() {
    let dir = tmp("vae");
    let data = subset(&dir);
    let out = dir.join("vae");
    let cfg = tiny_config(&dir, "");
    let text = ok(&["ae", "train", "--kind", "vae", "--data", s(&data), "--out", s(&out), "--config", s(&cfg), "--steps", "20", "--batch", "16", "--lr", "3e-3"]);
    assert!(text.contains("negative ELBO") && text.contains("20 steps"), "{text}");
    for f in ["config.json", "model.safetensors", "preprocessor_config.json", "metrics.jsonl", "reconstructions-step-20.png"] {
        assert!(out.join(f).is_file(), "ae train did not write {f}");
    }
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!((config["model_type"].as_str(), config["kind"].as_str(), config["latent"].as_u64()), (Some("pretext_autoencoder"), Some("vae"), Some(4)));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = rows.last().unwrap();
    assert_eq!(last["step"], 20);
    for k in ["loss", "lr", "eval_recon_loss", "eval_kl", "eval_neg_elbo"] {
        assert!(last[k].is_number(), "metrics.jsonl's last row lacks {k}: {last}");
    }
    // 10 held-out images, originals over reconstructions, 3x scale with 6-pixel gaps.
    assert_eq!(png_size(&out.join("reconstructions-step-20.png")), (10 * 90 + 6, 2 * 90 + 6));

    let j: serde_json::Value = serde_json::from_str(ok(&["ae", "eval", "--model", s(&out), "--data", s(&data)]).trim()).unwrap();
    let (r, kl, e) = (j["recon_loss"].as_f64().unwrap(), j["kl"].as_f64().unwrap(), j["elbo_nats_per_image"].as_f64().unwrap());
    assert!(r > 0.0 && kl >= 0.0 && (e - (r + kl)).abs() < 1e-6 * e, "ae eval: {j}");
    assert_eq!(j.as_object().unwrap().len(), 3, "ae eval prints exactly recon_loss, kl, elbo_nats_per_image: {j}");

    let pic = dir.join("rec.png");
    ok(&["ae", "reconstruct", "--model", s(&out), "--input", s(&data), "--out", s(&pic)]);
    assert_eq!(png_size(&pic), (64 * 90 + 6, 2 * 90 + 6), "the first 64 images over their reconstructions");
    let grid = dir.join("samples.png");
    ok(&["ae", "sample", "--model", s(&out), "--count", "10", "--seed", "3", "--out", s(&grid)]);
    assert_eq!(png_size(&grid), (4 * 90 + 6, 3 * 90 + 6), "10 samples in rows of 4");
    // Interpolation between two image files.
    let set = bundled::fashion_test().unwrap().take(2);
    let (a, b) = (dir.join("a.png"), dir.join("b.png"));
    for (img, p) in set.images.iter().zip([&a, &b]) {
        image::GrayImage::from_raw(28, 28, img.pixels.clone()).unwrap().save(p).unwrap();
    }
    let row = dir.join("row.png");
    ok(&["ae", "sample", "--model", s(&out), "--interpolate", s(&a), s(&b), "--count", "7", "--out", s(&row)]);
    assert_eq!(png_size(&row), (7 * 90 + 6, 90 + 6));

    let j: serde_json::Value = serde_json::from_str(ok(&["probe", "--model", s(&out), "--train", s(&data), "--eval", s(&data), "--knn", "5"]).trim()).unwrap();
    assert_eq!(j.as_object().unwrap().len(), 6, "{j}");
    assert_eq!(j["blocks"].as_u64(), Some(1), "{j}");
    assert_eq!(j["weight_decay"].as_f64(), Some(5e-4), "the default weight decay: {j}");
    assert!(j["linear_accuracy"].as_f64().unwrap() > 0.1 && j["knn_accuracy"].as_f64().unwrap() > 0.1, "{j}");
    assert_eq!((j["labels_per_class"].is_null(), j["features"].as_str()), (true, Some("model")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resuming_through_the_command_line_gives_the_same_model() {
    let dir = tmp("resume");
    let data = subset(&dir);
    let cfg = tiny_config(&dir, "");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let args = |out: &Path| -> Vec<String> {
        ["ae", "train", "--kind", "dae", "--data", s(&data), "--config", s(&cfg), "--steps", "8", "--batch", "8", "--noise", "0.4", "--out", s(out)]
            .iter()
            .map(|x| x.to_string())
            .collect()
    };
    let mut first = args(&a);
    first.extend(["--save-every".into(), "4".into()]);
    ok(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let mut second = args(&b);
    second.extend(["--resume".into(), a.join("step-4").display().to_string()]);
    ok(&second.iter().map(String::as_str).collect::<Vec<_>>());
    let (ma, mb) = (std::fs::read(a.join("model.safetensors")).unwrap(), std::fs::read(b.join("model.safetensors")).unwrap());
    assert!(ma == mb, "a run resumed from step 4 must end with the uninterrupted run's model, bit for bit");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["noise"], serde_json::json!({"type": "mask", "level": 0.4}));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tmp("bad");
    let data = subset(&dir);
    let d = s(&data);
    let out = dir.join("out");
    let o = s(&out);
    let train = |extra: &[&str]| -> String {
        let mut args = vec!["ae", "train", "--data", d, "--out", o, "--steps", "1"];
        args.extend(extra);
        fails(&args)
    };
    assert!(train(&["--kind", "vae", "--latent", "0"]).contains("latent must be at least 1 (got 0)"));
    assert!(train(&["--kind", "dae", "--noise", "1.0"]).contains("noise level 1 is outside [0, 1)"));
    assert!(train(&["--kind", "dae", "--noise=-0.5"]).contains("outside [0, 1)"));
    assert!(train(&["--kind", "vae", "--noise", "0.5"]).contains("--noise applies to --kind dae only"));
    assert!(train(&["--kind", "ae", "--beta", "2"]).contains("--beta applies to --kind vae only"));
    assert!(train(&["--kind", "auto"]).contains("unknown autoencoder kind \"auto\""));
    let normalised = tiny_config(&dir, ", \"image_mean\": [0.5], \"image_std\": [0.25]");
    let e = train(&["--kind", "vae", "--config", s(&normalised)]);
    assert!(e.contains("likelihood \"bernoulli\" needs pixels in [0, 1]"), "{e}");
    let e = fails(&["ae", "train", "--kind", "ae", "--data", "no/such-images-idx3-ubyte", "--out", o]);
    assert!(e.contains("no/such-images-idx3-ubyte"), "{e}");
    // A directory of another family, for every command that reads one.
    let bert = "assets/fixtures/bert_odd";
    for args in [
        vec!["ae", "eval", "--model", bert, "--data", d],
        vec!["ae", "reconstruct", "--model", bert, "--input", d, "--out", "x.png"],
        vec!["ae", "sample", "--model", bert, "--out", "x.png"],
    ] {
        let e = fails(&args);
        assert!(e.contains("bert_odd/config.json") && e.contains("is not an autoencoder"), "{args:?}: {e}");
    }
    let e = fails(&["probe", "--model", bert, "--train", d, "--eval", d]);
    assert!(e.contains("not an image encoder"), "{e}");
    // Sampling a plain autoencoder; an unknown feature kind.
    let ae_dir = dir.join("ae");
    ok(&["ae", "train", "--kind", "ae", "--data", d, "--out", s(&ae_dir), "--config", s(&tiny_config(&dir, "")), "--steps", "2", "--batch", "4"]);
    assert!(fails(&["ae", "sample", "--model", s(&ae_dir), "--out", "x.png"]).contains("sampling needs a VAE"));
    assert!(fails(&["probe", "--model", s(&ae_dir), "--train", d, "--eval", d, "--features", "pixels"]).contains("unknown --features \"pixels\""));
    assert!(fails(&["probe", "--model", s(&ae_dir), "--train", d, "--eval", d, "--weight-decay=-1"]).contains("weight decay \"-1\""));
    let _ = std::fs::remove_dir_all(&dir);
}
