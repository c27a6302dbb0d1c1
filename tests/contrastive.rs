//! Contrastive methods: one training step of SimCLR, MoCo v3 and BYOL against their PyTorch twins
//! (scripts/contrastive_fixtures.py: loss, every gradient, the parameters after the optimizer step, the target
//! network after the EMA update, BatchNorm statistics), the momentum schedule, and bad input.
mod common;
use common::gpu;
use pretext::autograd::Tape;
use pretext::checkpoint::{self, TensorFile};
use pretext::models::vit::{ViTConfig, Vit};
use pretext::nn::Param;
use pretext::optim::{Optimizer, Rule};
use pretext::rng::Rng;
use pretext::tasks::contrastive::{cosine_momentum, ContrastiveSpec, ContrastiveTask, Method, TARGET_ENCODER};
use pretext::train::Task;
use pretext::Tensor;
use std::path::Path;

fn rel(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let num: f64 = got.iter().zip(want).map(|(a, b)| if a.is_finite() { (*a as f64 - *b as f64).powi(2) } else { f64::INFINITY }).sum();
    let den: f64 = want.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn load(f: &TensorFile, name: &str, dst: &Tensor) {
    f.load_into(gpu(), name, dst).unwrap_or_else(|e| panic!("{e}"));
}

fn check(label: &str, got: &Tensor, want: &[f32], tol: f64) -> f64 {
    let g = got.to_vec::<f32>(gpu()).unwrap();
    let err = rel(&g, want);
    assert!(err <= tol, "{label}: rel L2 error {err:.2e} > {tol:.0e}");
    err
}

/// One step of `method` against its twin's fixture.
fn step_parity(method: &str) {
    let g = gpu();
    let f = checkpoint::load(Path::new(&format!("assets/fixtures/contrastive_{method}_step.safetensors"))).unwrap();
    let config: ViTConfig = serde_json::from_str(&f.metadata["config"]).unwrap();
    let spec_json: serde_json::Value = serde_json::from_str(&f.metadata["spec"]).unwrap();
    let num = |k: &str| spec_json[k].as_f64().unwrap_or_else(|| panic!("spec {k}")) as f32;
    let m: Method = method.parse().unwrap();
    let mut spec = ContrastiveSpec::new(m, 20, 12);
    spec.pred_hidden = 18;
    spec.temperature = num("temperature");
    if m != Method::SimClr {
        spec.momentum = num("ema");
    }
    let encoder = Vit::new(g, &config, &mut Rng::new(5)).unwrap();
    let views_host = &f.tensors["views"];
    let views = Tensor::from_slice(g, &views_host.data, &views_host.shape).unwrap();
    let mut task = ContrastiveTask::new(g, spec, encoder, views_host.data.clone(), 5, 10, &mut Rng::new(6)).unwrap();
    // The twin's weights: online, the heads' BatchNorm statistics, the target network.
    for p in task.encoder.all_params().into_iter().chain(task.projector.params()).chain(task.predictor.iter().flat_map(|h| h.params())) {
        load(&f, &format!("init.{}", p.name), &p.value);
    }
    for (name, t) in task.projector.buffers().into_iter().chain(task.predictor.iter().flat_map(|h| h.buffers())) {
        load(&f, &format!("init.{name}"), &t);
    }
    if let Some(t) = &task.target {
        for p in t.encoder.all_params() {
            load(&f, &format!("target.{TARGET_ENCODER}{}", p.name), &p.value);
        }
        for p in t.projector.params() {
            load(&f, &format!("target.{}", p.name), &p.value);
        }
        for (name, b) in t.projector.buffers() {
            load(&f, &format!("target.{name}"), &b);
        }
    }
    let mut tape = Tape::new(g, 1);
    let loss = task.loss_on_views(&mut tape, &views).unwrap();
    let want_loss = f.tensors["loss"].data[0];
    let got_loss = tape.value(loss).to_vec::<f32>(g).unwrap()[0];
    let e = ((got_loss - want_loss) / want_loss).abs() as f64;
    assert!(e <= 1e-5, "{method}: loss {got_loss} vs PyTorch {want_loss} (rel error {e:.2e})");
    let grads = tape.backward(loss).unwrap();
    drop(tape);
    let params: Vec<Param> = task.params().into_iter().cloned().collect();
    // Some gradients are zero by construction: a key bias (softmax does not see a shift of all scores), and a
    // bias feeding a linear map then BatchNorm (the shift is normalised away). Both sides hold rounding noise
    // there, so those are checked to be tiny, not equal.
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let mut norms: Vec<f64> = params.iter().map(|p| norm(&f.tensors[&format!("grad.{}", p.name)].data)).collect();
    norms.sort_by(f64::total_cmp);
    let median = norms[norms.len() / 2];
    let zero = |p: &Param| norm(&f.tensors[&format!("grad.{}", p.name)].data) < 1e-5 * median;
    let mut worst = 0f64;
    let mut zeros = Vec::new();
    for p in &params {
        let grad = grads.get(p.id).unwrap_or_else(|| panic!("{method}: no gradient for {}", p.name));
        let want = &f.tensors[&format!("grad.{}", p.name)].data;
        if zero(p) {
            let got = norm(&grad.to_vec::<f32>(g).unwrap());
            assert!(got < 1e-5 * median, "{method}: grad.{} should be zero: |got| {got:.2e} (median gradient norm {median:.2e})", p.name);
            zeros.push(p.name.clone());
            continue;
        }
        worst = worst.max(check(&format!("{method}: grad.{}", p.name), grad, want, 1e-4));
    }
    assert!(zeros.len() <= 4, "{method}: {} gradients are zero in the fixture: {zeros:?}", zeros.len());
    let lr = num("lr");
    let adamw = spec_json["optimizer"].as_str() == Some("adamw");
    let mut opt = if adamw { Optimizer::adamw(num("weight_decay")) } else { Optimizer::new(Rule::Lars { momentum: num("momentum"), eta: num("eta") }, num("weight_decay")) };
    let refs: Vec<&Param> = params.iter().collect();
    opt.update(g, &refs, &grads, lr).unwrap();
    for p in &params {
        let want = &f.tensors[&format!("after.{}", p.name)].data;
        if zero(p) && adamw {
            // Adam normalises noise into a step of about lr: bounded, not equal.
            let got = p.value.to_vec::<f32>(g).unwrap();
            let init = &f.tensors[&format!("init.{}", p.name)].data;
            let step = got.iter().zip(init).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(step <= 1.01 * lr, "{method}: after.{}: a step of {step} on a zero gradient exceeds lr {lr}", p.name);
            continue;
        }
        check(&format!("{method}: after.{}", p.name), &p.value, want, 1e-4);
    }
    for (name, t) in task.projector.buffers().into_iter().chain(task.predictor.iter().flat_map(|h| h.buffers())) {
        check(&format!("{method}: BatchNorm statistics {name}"), &t, &f.tensors[&format!("after.{name}")].data, 1e-4);
    }
    // What the EMA must give from our own updated parameters (exact where the fixture's are noise).
    let momentum = cosine_momentum(spec_json["ema"].as_f64().unwrap_or(0.0) as f32, 1, 10);
    let own: std::collections::HashMap<String, Vec<f32>> =
        task.encoder.all_params().into_iter().chain(task.projector.params()).map(|p| (p.name.clone(), p.value.to_vec::<f32>(g).unwrap())).collect();
    let zero_names: std::collections::HashSet<String> = zeros.iter().cloned().collect();
    task.after_update(g, 1).unwrap();
    if let Some(t) = &task.target {
        let mut n = 0;
        let online_name = |target_name: &str| target_name.replacen("momentum_projection_head.", "projection_head.", 1);
        let params = t.encoder.all_params().into_iter().map(|p| (format!("{TARGET_ENCODER}{}", p.name), p.name.clone(), p))
            .chain(t.projector.params().into_iter().map(|p| (p.name.clone(), online_name(&p.name), p)));
        for (key, online, p) in params {
            let before = &f.tensors[&format!("target.{key}")].data;
            let want = &f.tensors[&format!("target_after.{key}")].data;
            // the EMA must show: the target moved well away from where it started
            assert!(rel(before, want) > 1e-3, "{method}: target_after.{key}: the fixture's EMA moved too little to test");
            if zero_names.contains(&online) && adamw {
                let expect: Vec<f32> = before.iter().zip(&own[&online]).map(|(t, o)| momentum * t + (1.0 - momentum) * o).collect();
                check(&format!("{method}: target_after.{key} (from our own update)"), &p.value, &expect, 1e-5);
            } else {
                check(&format!("{method}: target_after.{key}"), &p.value, want, 1e-4);
            }
            n += 1;
        }
        for (name, b) in t.projector.buffers() {
            check(&format!("{method}: target BatchNorm statistics {name}"), &b, &f.tensors[&format!("target_after.{name}")].data, 1e-4);
            n += 1;
        }
        assert!(n > 30, "{method}: only {n} target tensors checked");
    }
    eprintln!("{method}: loss {got_loss} (PyTorch {want_loss}), {} gradients, worst rel error {worst:.1e}", params.len());
}

#[test]
fn simclr_step_matches_pytorch() {
    step_parity("simclr");
}

#[test]
fn moco_v3_step_matches_pytorch() {
    step_parity("moco");
}

#[test]
fn byol_step_matches_pytorch() {
    step_parity("byol");
}

#[test]
fn momentum_follows_the_cosine_schedule_to_one() {
    assert!((cosine_momentum(0.996, 0, 100) - 0.996).abs() < 1e-7);
    assert!((cosine_momentum(0.996, 50, 100) - 0.998).abs() < 1e-7);
    assert_eq!(cosine_momentum(0.99, 100, 100), 1.0);
    assert_eq!(cosine_momentum(0.99, 200, 100), 1.0);
}

/// A tiny ViT and task for `method` on 12 random grey 8x8 images (the same for a given seed).
fn tiny_task(method: Method, total: u32) -> ContrastiveTask {
    let g = gpu();
    let config: ViTConfig = serde_json::from_value(serde_json::json!({
        "model_type": "vit", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 24,
        "image_size": 8, "patch_size": 4, "num_channels": 1, "layer_norm_eps": 1e-6
    }))
    .unwrap();
    let encoder = Vit::new(g, &config, &mut Rng::new(1)).unwrap();
    let mut rng = common::Rng::new(2);
    let images: Vec<f32> = (0..12 * 64).map(|_| rng.uniform() as f32).collect();
    let mut spec = ContrastiveSpec::new(method, 16, 8);
    spec.pred_hidden = 12;
    ContrastiveTask::new(g, spec, encoder, images, 4, total, &mut Rng::new(3)).unwrap()
}

/// Every tensor of a task (parameters and extra state: frozen encoder tensors, BatchNorm statistics, target).
fn snapshot(task: &ContrastiveTask) -> Vec<(String, Vec<f32>)> {
    let mut out: Vec<(String, Vec<f32>)> = task.params().iter().map(|p| (p.name.clone(), p.value.to_vec::<f32>(gpu()).unwrap())).collect();
    out.extend(task.extra_state().into_iter().map(|(n, t)| (n, t.to_vec::<f32>(gpu()).unwrap())));
    out
}

fn trainer_for(method: Method, out: &Path, steps: u32, total: u32) -> pretext::train::Trainer<'static> {
    use pretext::optim::{Schedule, ScheduleKind};
    use pretext::train::{TrainConfig, Trainer};
    let cfg = TrainConfig {
        steps,
        schedule: Schedule { peak_lr: 2e-3, min_lr: 0.0, warmup: 1, total, kind: ScheduleKind::Cosine },
        seed: 9,
        log_every: 1,
        eval_every: 0,
        save_every: 3,
        keep_last: None,
        out_dir: Some(out.to_path_buf()),
        progress: false,
        phase: "pretrain".into(),
    };
    let opt = if method == Method::MoCo { Optimizer::adamw(0.1) } else { Optimizer::new(Rule::Lars { momentum: 0.9, eta: 0.001 }, 1e-6) };
    Trainer::new(gpu(), cfg, opt)
}

#[test]
fn resume_reproduces_the_uninterrupted_run_bit_for_bit_target_network_included() {
    for method in [Method::SimClr, Method::MoCo, Method::Byol] {
        let root = std::env::temp_dir().join(format!("pretext-contrastive-resume-{}-{}", std::process::id(), method.name()));
        let _ = std::fs::remove_dir_all(&root);
        let (a, b) = (root.join("a"), root.join("b"));
        // uninterrupted: 6 steps
        let mut task = tiny_task(method, 6);
        let mut t = trainer_for(method, &a, 6, 6);
        t.run(&mut task).unwrap();
        let want = snapshot(&task);
        // interrupted after the checkpoint at step 3, then resumed by a fresh process-like start
        let mut task = tiny_task(method, 6);
        let mut t = trainer_for(method, &b, 3, 6);
        t.run(&mut task).unwrap();
        let mut task = tiny_task(method, 6);
        let mut t = trainer_for(method, &b, 6, 6);
        let r = t.resume(&b, &mut task).unwrap();
        assert_eq!(r.step, 3, "{method:?}: resumed from step {}", r.step);
        t.run(&mut task).unwrap();
        let got = snapshot(&task);
        assert_eq!(got.len(), want.len());
        let targets = want.iter().filter(|(n, _)| n.starts_with(TARGET_ENCODER) || n.starts_with("momentum_")).count();
        assert_eq!(targets > 0, method != Method::SimClr, "{method:?}: target tensors in the checkpoint: {targets}");
        for ((gn, gv), (wn, wv)) in got.iter().zip(&want) {
            assert_eq!(gn, wn);
            assert!(gv == wv, "{method:?}: {gn} differs after resuming (max |diff| {})", gv.iter().zip(wv).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max));
        }
        let metrics = |d: &Path| std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
        assert_eq!(metrics(&a), metrics(&b), "{method:?}: metrics.jsonl of the resumed run");
        assert_eq!(metrics(&a).lines().count(), 6);
        // the target moved away from the online network (the EMA ran), and the BatchNorm statistics from their init
        if method != Method::SimClr {
            let find = |n: &str| &want.iter().find(|(k, _)| k == n).unwrap().1;
            assert!(find("momentum_projection_head.layers.0.weight") != find("projection_head.layers.0.weight"), "{method:?}: target equals online");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let g = gpu();
    let config: ViTConfig = serde_json::from_value(serde_json::json!({
        "model_type": "vit", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
        "image_size": 8, "patch_size": 4, "num_channels": 1
    }))
    .unwrap();
    let enc = || Vit::new(g, &config, &mut Rng::new(1)).unwrap();
    let images = vec![0.5f32; 3 * 64];
    let e = ContrastiveTask::new(g, ContrastiveSpec::new(Method::SimClr, 8, 4), enc(), images.clone(), 1, 10, &mut Rng::new(1)).err().unwrap().to_string();
    assert!(e.contains("batch of 1") && e.contains("negatives"), "{e}");
    let mut spec = ContrastiveSpec::new(Method::MoCo, 8, 4);
    spec.temperature = 0.0;
    let e = ContrastiveTask::new(g, spec, enc(), images.clone(), 4, 10, &mut Rng::new(1)).err().unwrap().to_string();
    assert!(e.contains("temperature 0"), "{e}");
    let e = ContrastiveTask::new(g, ContrastiveSpec::new(Method::Byol, 8, 4), enc(), vec![0.5; 100], 4, 10, &mut Rng::new(1)).err().unwrap().to_string();
    assert!(e.contains("not whole images"), "{e}");
    let e = "swav".parse::<Method>().unwrap_err().to_string();
    assert!(e.contains("unknown method \"swav\""), "{e}");
}

fn pretext_cmd(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pretext")).args(args).output().expect("run pretext")
}

fn cli_ok(args: &[&str]) -> String {
    let o = pretext_cmd(args);
    assert!(o.status.success(), "pretext {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn cli_fails(args: &[&str]) -> String {
    let o = pretext_cmd(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "pretext {args:?} should fail");
    assert!(!err.contains("panicked"), "pretext {args:?} panicked: {err}");
    err
}

#[test]
fn cli_views_pretrain_embed_and_bad_input() {
    use pretext::data::images::{bundled, write_idx};
    let dir = std::env::temp_dir().join(format!("pretext-contrastive-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let set = bundled::fashion_train().unwrap().per_class(4, 1).unwrap(); // 40 labelled images
    let images = dir.join("train-images-idx3-ubyte");
    write_idx(&images, Some(&dir.join("train-labels-idx1-ubyte")), &set).unwrap();
    let images = images.to_str().unwrap().to_string();
    let cfg = dir.join("tiny.json");
    std::fs::write(&cfg, serde_json::json!({"model_type": "vit", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 24, "image_size": 28, "patch_size": 7, "num_channels": 1, "layer_norm_eps": 1e-6}).to_string()).unwrap();
    let cfg = cfg.to_str().unwrap().to_string();

    // views: a grid of 5 images, each with its two views
    let png = dir.join("views.png");
    cli_ok(&["contrastive", "views", "--data", &images, "--out", png.to_str().unwrap(), "--method", "byol", "--count", "5", "--scale", "2"]);
    let img = image::open(&png).unwrap();
    assert!(img.width() >= 3 * 56 && img.height() >= 5 * 56, "views.png is {}x{}", img.width(), img.height());

    // pretrain: the encoder directory, checkpoints, metrics with the kNN monitor, the curves
    let out = dir.join("byol");
    let o = out.to_str().unwrap();
    cli_ok(&["contrastive", "pretrain", "--method", "byol", "--data", &images, "--out", o, "--config", &cfg, "--steps", "4", "--batch", "8",
        "--proj-hidden", "16", "--proj-dim", "8", "--knn", "5", "--eval-every", "2", "--save-every", "2"]);
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "vit");
    assert_eq!(config["architectures"][0], "ViTModel");
    assert_eq!(config["init_seed"], 1);
    let weights = checkpoint::load(&out.join("model.safetensors")).unwrap();
    assert!(weights.tensors.contains_key("embeddings.cls_token") && weights.tensors.contains_key("encoder.layer.0.attention.attention.query.weight"));
    assert!(!weights.tensors.keys().any(|k| k.starts_with("vit.") || k.contains("head")), "a bare ViTModel: {:?}", weights.tensors.keys());
    assert!(out.join("preprocessor_config.json").is_file() && out.join("step-2/model.safetensors").is_file() && out.join("step-4/trainer_state.json").is_file());
    let step = checkpoint::load(&out.join("step-4/model.safetensors")).unwrap();
    for name in ["prediction_head.layers.0.weight", "projection_head.layers.1.running_var", "momentum_projection_head.layers.1.running_mean", "momentum_encoder.embeddings.cls_token"] {
        assert!(step.tensors.contains_key(name), "the training checkpoint lacks {name}");
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let knn: Vec<f64> = metrics.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["knn_accuracy"].as_f64()).collect();
    assert_eq!(knn.len(), 2, "kNN at steps 2 and 4: {metrics}");
    assert!(knn.iter().all(|a| (0.0..=1.0).contains(a)));
    let curves = image::open(out.join("loss.png")).unwrap();
    assert_eq!((curves.width(), curves.height()), (1600, 500), "loss and kNN panels");
    // the directory is a ViT the rest of the engine reads: embeddings of the hidden size
    let lines = cli_ok(&["vit", "embed", "--model", o, "--input", &images]);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["embedding"].as_array().unwrap().len(), 16);

    // bad input: clear errors, never a panic
    let e = cli_fails(&["contrastive", "pretrain", "--method", "simclr", "--data", &images, "--out", o, "--config", &cfg, "--steps", "2", "--batch", "1"]);
    assert!(e.contains("--batch 1") && e.contains("at least 2"), "{e}");
    let e = cli_fails(&["contrastive", "pretrain", "--method", "swav", "--data", &images, "--out", o]);
    assert!(e.contains("unknown method \"swav\""), "{e}");
    let e = cli_fails(&["contrastive", "pretrain", "--method", "moco", "--data", &images, "--out", o, "--temperature", "0"]);
    assert!(e.contains("temperature 0") && e.contains("positive"), "{e}");
    let e = cli_fails(&["contrastive", "pretrain", "--method", "simcse", "--model", o, "--corpus", "assets/austen.txt.gz", "--out", o]);
    assert!(e.contains("config.json") && e.contains("\"vit\"") && e.contains("not a BERT encoder"), "{e}");
    let e = cli_fails(&["contrastive", "pretrain", "--method", "simcse", "--model", dir.to_str().unwrap(), "--corpus", "assets/austen.txt.gz", "--out", o]);
    assert!(e.contains("config.json"), "{e}");
    let e = cli_fails(&["contrastive", "pretrain", "--method", "simclr", "--out", o]);
    assert!(e.contains("--data"), "{e}");
    for (flag, value) in [("--dropout", "1"), ("--attn-dropout", "-0.1"), ("--dropout", "NaN")] {
        let e = cli_fails(&["contrastive", "pretrain", "--method", "simcse", "--model", o, "--corpus", "assets/austen.txt.gz", "--out", o, &format!("{flag}={value}")]);
        assert!(e.contains(&format!("{flag} {value}")) && e.contains("[0, 1)"), "{flag} {value}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
