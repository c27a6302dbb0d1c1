//! The image commands end to end: `mae reconstruct --json` and `vit classify` / `vit embed` against HF's outputs on
//! PNG files; `mae pretrain` (metrics, pictures, HF directory, exact resume) → `mae reconstruct` → `vit finetune` →
//! `vit classify`, and from scratch; bad input exits non-zero with a message naming the file, never a panic.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pretext::checkpoint;
use pretext::data::images::{bundled, write_idx};

fn pretext(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretext"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run pretext")
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

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pretext-vit-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max)
}

const MAE: &str = "assets/fixtures/vit_mae_odd";
const CLS: &str = "assets/fixtures/vit_cls_odd";
const IMG: &str = "assets/fixtures/vit_images";

#[test]
fn reconstruct_json_matches_hf_on_png_files() {
    let want = checkpoint::load(Path::new("assets/fixtures/vit_mae_odd_expected.safetensors")).unwrap();
    let dir = tmp("recon");
    let noise: Vec<Vec<f32>> = want.tensors["png_noise"].data.chunks(25).map(<[f32]>::to_vec).collect();
    let noise_file = dir.join("noise.json");
    std::fs::write(&noise_file, serde_json::to_string(&noise).unwrap()).unwrap();
    let (a, b) = (format!("{IMG}/rgb0.png"), format!("{IMG}/rgb1.png"));
    let out = dir.join("pictures");
    let args = ["mae", "reconstruct", "--model", MAE, "--input", &a, &b, "--noise", noise_file.to_str().unwrap(), "--json", "--out", out.to_str().unwrap()];
    let rows = json_lines(&ok(&args));
    assert_eq!(rows.len(), 2);
    for (i, r) in rows.iter().enumerate() {
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["file", "ids_restore", "logits", "loss", "mask"], "exact keys");
        assert_eq!(r["file"], [&a, &b][i].as_str());
        let mask: Vec<f32> = r["mask"].as_array().unwrap().iter().map(|m| m.as_u64().unwrap() as f32).collect();
        assert_eq!(mask, want.tensors["png_mask"].data[i * 25..(i + 1) * 25], "image {i}: mask");
        let ids: Vec<f32> = floats(&r["ids_restore"]);
        assert_eq!(ids, want.tensors["png_ids_restore"].data[i * 25..(i + 1) * 25], "image {i}: ids_restore");
        let logits: Vec<f32> = r["logits"].as_array().unwrap().iter().flat_map(floats).collect();
        assert_eq!(r["logits"].as_array().unwrap().len(), 25, "a row per patch");
        let e = max_abs(&logits, &want.tensors["png_logits"].data[i * 2700..(i + 1) * 2700]);
        assert!(e <= 1e-4, "image {i}: logits max |diff| {e:.2e}");
        let (got, w) = (r["loss"].as_f64().unwrap(), want.tensors["png_loss"].data[i] as f64);
        assert!(((got - w) / w).abs() <= 1e-4, "image {i}: loss {got} vs HF {w}");
        // the PNG strip: four 30x30 pictures at 4x, a title row
        let png = image::open(out.join(format!("rgb{i}.png"))).expect("strip decodes");
        assert_eq!((png.width(), png.height()), (4 * (120 + 2) + 2, 9 + 4 + 120 + 4), "image {i}: strip size");
    }
    // without --json: a line per image naming the picture
    let text = ok(&["mae", "reconstruct", "--model", MAE, "--input", &a, "--out", out.to_str().unwrap(), "--seed", "3"]);
    assert!(text.contains("rgb0.png") && text.contains("19 of 25 patches removed"), "{text}");
}

#[test]
fn classify_and_embed_match_hf_on_png_files() {
    let want = checkpoint::load(Path::new("assets/fixtures/vit_cls_odd_expected.safetensors")).unwrap();
    let files: Vec<String> = (0..3).map(|i| format!("{IMG}/grey{i}.png")).collect();
    let mut args = vec!["vit", "classify", "--model", CLS, "--input"];
    args.extend(files.iter().map(String::as_str));
    let rows = json_lines(&ok(&args));
    assert_eq!(rows.len(), 3);
    for (i, r) in rows.iter().enumerate() {
        let logits = &want.tensors["png_logits"].data[i * 7..(i + 1) * 7];
        let probs = pretext::pipeline::vit::softmax(logits);
        let got: Vec<f32> = (0..7).map(|c| r["probs"][format!("c{c}")].as_f64().unwrap() as f32).collect();
        assert!(max_abs(&got, &probs) <= 1e-5, "image {i}: probs {got:?} vs {probs:?}");
        let best = (0..7).max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap();
        assert_eq!(r["label"], format!("c{best}"));
        assert_eq!(r["file"], files[i].as_str());
    }
    args[1] = "embed";
    let rows = json_lines(&ok(&args));
    for (i, r) in rows.iter().enumerate() {
        let e = floats(&r["embedding"]);
        let d = max_abs(&e, &want.tensors["png_embedding"].data[i * 28..(i + 1) * 28]);
        assert!(d <= 1e-4, "image {i}: embedding max |diff| {d:.2e}");
    }
}

/// A few bundled Fashion-MNIST images as IDX files with labels, and a tiny ViT-MAE config.
fn tiny_data(dir: &Path) -> (String, String, String) {
    let train = bundled::fashion_train().unwrap().per_class(4, 1).unwrap(); // 40 images
    let images = dir.join("train-images-idx3-ubyte");
    write_idx(&images, Some(&dir.join("train-labels-idx1-ubyte")), &train).unwrap();
    let test = bundled::fashion_test().unwrap().per_class(2, 1).unwrap(); // 20 images
    let test_images = dir.join("t10k-images-idx3-ubyte.gz");
    write_idx(&test_images, Some(&dir.join("t10k-labels-idx1-ubyte.gz")), &test).unwrap();
    let config = serde_json::json!({
        "model_type": "vit_mae", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 32, "image_size": 28, "patch_size": 7, "num_channels": 1, "layer_norm_eps": 1e-6,
        "decoder_hidden_size": 8, "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2,
        "decoder_intermediate_size": 16, "mask_ratio": 0.75, "norm_pix_loss": true
    });
    let cfg = dir.join("tiny.json");
    std::fs::write(&cfg, config.to_string()).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    (s(&images), s(&test_images), s(&cfg))
}

#[test]
fn pretrain_resume_reconstruct_finetune_classify() {
    let dir = tmp("train");
    let (train, test, cfg) = tiny_data(&dir);
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["mae", "pretrain", "--data", &train, "--eval", &test, "--out", out.to_str().unwrap(), "--config", &cfg];
        args.extend(["--steps", "4", "--batch", "8", "--lr", "1e-3", "--eval-every", "2", "--seed", "5"]);
        args.extend(extra);
        ok(&args)
    };
    let full = dir.join("mae");
    let text = run(&full, &["--save-every", "2"]);
    assert!(text.contains("held-out reconstruction loss"), "{text}");
    for f in ["config.json", "model.safetensors", "preprocessor_config.json", "reconstructions.png", "reconstructions-step-2.png", "loss.png", "step-2/trainer_state.json"] {
        assert!(full.join(f).exists(), "mae pretrain wrote no {f}");
    }
    let metrics: Vec<serde_json::Value> = json_lines(&std::fs::read_to_string(full.join("metrics.jsonl")).unwrap());
    let evals: Vec<f64> = metrics.iter().filter_map(|r| r["eval_recon_loss"].as_f64()).collect();
    assert_eq!(evals.len(), 2, "evaluated at steps 2 and 4: {metrics:?}");
    assert!(evals.iter().all(|l| l.is_finite() && *l > 0.0));
    let png = image::open(full.join("reconstructions.png")).unwrap();
    // cells 84 wide at 3x, widened to 87 by the title "reconstruction" (14 glyphs of 6 pixels, less one, plus 4)
    assert_eq!((png.width(), png.height()), (4 * (87 + 2) + 2, 9 + 4 + 8 * (84 + 2) + 2), "8 rows of four 28x28 pictures at 3x");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(full.join("config.json")).unwrap()).unwrap();
    assert_eq!((config["model_type"].as_str(), config["architectures"][0].as_str()), (Some("vit_mae"), Some("ViTMAEForPreTraining")));
    let names: Vec<String> = checkpoint::load(&full.join("model.safetensors")).unwrap().tensors.keys().cloned().collect();
    assert!(names.contains(&"vit.encoder.layer.0.attention.attention.query.weight".to_string()), "HF names: {names:?}");
    assert!(names.contains(&"decoder.decoder_layers.0.output.dense.bias".to_string()));

    // Exact resume: steps 3-4 from step-2 give the same weights as the uninterrupted run.
    let resumed = dir.join("resumed");
    let step2 = full.join("step-2");
    run(&resumed, &["--resume", step2.to_str().unwrap()]);
    let (a, b) = (checkpoint::load(&full.join("model.safetensors")).unwrap(), checkpoint::load(&resumed.join("model.safetensors")).unwrap());
    assert_eq!(a.tensors, b.tensors, "a resumed run must equal the uninterrupted one bit for bit");

    // The pretrained directory reconstructs and fine-tunes.
    let pics = dir.join("pics");
    let rows = json_lines(&ok(&["mae", "reconstruct", "--model", full.to_str().unwrap(), "--input", &test, "--json", "--out", pics.to_str().unwrap()]));
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[0]["mask"].as_array().unwrap().len(), 16);
    assert!(pics.join("t10k-images-idx3-ubyte-0.png").exists(), "a strip per IDX image");
    let ft = dir.join("ft");
    let text = ok(&[
        "vit", "finetune", "--model", full.to_str().unwrap(), "--train", &train, "--eval", &test, "--out", ft.to_str().unwrap(),
        "--labels-per-class", "2", "--steps", "3", "--batch", "8", "--layer-decay", "0.75",
    ]);
    assert!(text.contains("eval accuracy") && text.contains("confusion matrix"), "{text}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ft.join("eval.json")).unwrap()).unwrap();
    assert_eq!(report["train_images"], 20, "2 labels a class");
    let confusion: u64 = report["confusion"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|n| n.as_u64().unwrap())).sum();
    assert_eq!(confusion, 20, "every test image counted once");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ft.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "vit");
    assert_eq!(config["id2label"].as_object().unwrap().len(), 10);
    assert!(config.get("decoder_hidden_size").is_none(), "a ViTForImageClassification config has no decoder");
    let rows = json_lines(&ok(&["vit", "classify", "--model", ft.to_str().unwrap(), "--input", &test]));
    assert_eq!(rows.len(), 20);
    let p: f64 = rows[0]["probs"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
    assert!((p - 1.0).abs() < 1e-5, "probabilities sum to 1: {p}");
    // the same command's accuracy, recomputed from classify's labels
    let labels = pretext::data::images::ImageSet::load(&[PathBuf::from(&test)]).unwrap().labels.unwrap();
    let correct = rows.iter().zip(&labels).filter(|(r, l)| r["label"].as_str() == Some(&l.to_string())).count();
    assert!((correct as f64 / 20.0 - report["accuracy"].as_f64().unwrap()).abs() < 1e-9, "classify agrees with finetune's accuracy");

    // LP-FT with every step a probing step: only the head learns; the encoder leaves as it came, bit for bit.
    let lp = dir.join("lp");
    ok(&[
        "vit", "finetune", "--model", full.to_str().unwrap(), "--train", &train, "--eval", &test, "--out", lp.to_str().unwrap(),
        "--labels-per-class", "2", "--steps", "3", "--batch", "8", "--probe-steps", "3",
    ]);
    let (before, after) = (checkpoint::load(&full.join("model.safetensors")).unwrap(), checkpoint::load(&lp.join("model.safetensors")).unwrap());
    for name in ["vit.embeddings.patch_embeddings.projection.weight", "vit.encoder.layer.0.attention.attention.query.weight", "vit.encoder.layer.0.output.dense.weight"] {
        assert_eq!(after.tensors[name].data, before.tensors[name].data, "{name} changed while only the head was to learn");
    }
    let lp_report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(lp.join("eval.json")).unwrap()).unwrap();
    assert_eq!(lp_report["probe_steps"], 3, "eval.json records the recipe");

    // From scratch, mean pooling.
    let scratch = dir.join("scratch");
    ok(&["vit", "finetune", "--scratch", "--config", &cfg, "--train", &train, "--eval", &test, "--out", scratch.to_str().unwrap(), "--steps", "2", "--batch", "4", "--pooling", "mean"]);
    let names: Vec<String> = checkpoint::load(&scratch.join("model.safetensors")).unwrap().tensors.keys().cloned().collect();
    assert!(names.contains(&"vit.fc_norm.weight".to_string()) && names.contains(&"classifier.weight".to_string()), "{names:?}");
}

#[test]
fn bad_input_fails_cleanly_naming_the_file() {
    let dir = tmp("bad");
    let (train, _, cfg) = tiny_data(&dir);
    let d = |n: &str| dir.join(n).to_str().unwrap().to_string();
    // a truncated PNG and a file that is no image
    let png = std::fs::read(format!("{IMG}/grey0.png")).unwrap();
    std::fs::write(d("truncated.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(d("notes.png"), b"not an image at all").unwrap();
    for f in ["truncated.png", "notes.png"] {
        let err = fails(&["vit", "classify", "--model", CLS, "--input", &d(f)]);
        assert!(err.contains(f) && err.contains("not a readable image"), "{f}: {err}");
    }
    // IDX: a wrong magic number, a count that does not match the size, labels that do not match the images
    let mut bytes = std::fs::read(&train).unwrap();
    bytes[3] = 2;
    std::fs::write(d("bad-images-idx3-ubyte"), &bytes).unwrap();
    let err = fails(&["mae", "pretrain", "--data", &d("bad-images-idx3-ubyte"), "--out", &d("o1"), "--config", &cfg, "--steps", "1"]);
    assert!(err.contains("bad-images-idx3-ubyte") && err.contains("magic"), "{err}");
    let mut bytes = std::fs::read(&train).unwrap();
    bytes[7] += 1; // one more image than the file holds
    std::fs::write(d("short-images-idx3-ubyte"), &bytes).unwrap();
    let err = fails(&["mae", "pretrain", "--data", &d("short-images-idx3-ubyte"), "--out", &d("o2"), "--config", &cfg, "--steps", "1"]);
    assert!(err.contains("short-images-idx3-ubyte") && err.contains("holds"), "{err}");
    std::fs::copy(&train, d("mix-images-idx3-ubyte")).unwrap();
    let mut labels = std::fs::read(dir.join("train-labels-idx1-ubyte")).unwrap();
    labels[7] -= 1;
    labels.pop();
    std::fs::write(d("mix-labels-idx1-ubyte"), &labels).unwrap();
    let err = fails(&["vit", "finetune", "--scratch", "--config", &cfg, "--train", &d("mix-images-idx3-ubyte"), "--eval", &train, "--out", &d("o3")]);
    assert!(err.contains("mix-labels-idx1-ubyte") && err.contains("labels for the 40 images"), "{err}");
    // noise of the wrong length, and the wrong number of arrays
    let a = format!("{IMG}/rgb0.png");
    std::fs::write(d("short.json"), serde_json::to_string(&vec![vec![0.5f32; 24]]).unwrap()).unwrap();
    let err = fails(&["mae", "reconstruct", "--model", MAE, "--input", &a, "--noise", &d("short.json"), "--out", &d("o4")]);
    assert!(err.contains("short.json") && err.contains("24 numbers") && err.contains("25 patches"), "{err}");
    std::fs::write(d("two.json"), serde_json::to_string(&vec![vec![0.5f32; 25]; 2]).unwrap()).unwrap();
    let err = fails(&["mae", "reconstruct", "--model", MAE, "--input", &a, "--noise", &d("two.json"), "--out", &d("o4")]);
    assert!(err.contains("two.json") && err.contains("2 noise arrays for 1 images"), "{err}");
    std::fs::write(d("text.json"), "[[1, 2], \"x\"]").unwrap();
    let err = fails(&["mae", "reconstruct", "--model", MAE, "--input", &a, "--noise", &d("text.json"), "--out", &d("o4")]);
    assert!(err.contains("text.json"), "{err}");
    // an image that does not fit the model: 28x28 for a 30x30 model without resizing (no preprocessor_config.json)
    let bare = dir.join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(Path::new(MAE).join(f), bare.join(f)).unwrap();
    }
    let small = pretext::data::images::read_idx(Path::new(&train)).unwrap().images[0].clone();
    image::GrayImage::from_raw(28, 28, small.pixels).unwrap().save(d("small.png")).unwrap();
    let err = fails(&["mae", "reconstruct", "--model", bare.to_str().unwrap(), "--input", &d("small.png"), "--out", &d("o5")]);
    assert!(err.contains("small.png") && err.contains("28x28") && err.contains("30x30"), "{err}");
    // a model directory that is not an MAE one, a mask ratio outside [0, 1), a ViT without a head
    let err = fails(&["mae", "reconstruct", "--model", CLS, "--input", &a, "--out", &d("o6")]);
    assert!(err.contains("vit_cls_odd") && err.contains("not a ViT-MAE"), "{err}");
    let err = fails(&["mae", "reconstruct", "--model", MAE, "--input", &a, "--mask-ratio", "1.0", "--out", &d("o7")]);
    assert!(err.contains("mask-ratio"), "{err}");
    let err = fails(&["vit", "classify", "--model", MAE, "--input", &a]);
    assert!(err.contains("vit_mae_odd") && err.contains("no classification head"), "{err}");
    // fine-tuning without labels
    let err = fails(&["vit", "finetune", "--scratch", "--config", &cfg, "--train", &a, "--eval", &a, "--out", &d("o8")]);
    assert!(err.contains("needs labels") && err.contains("rgb0.png"), "{err}");
}
