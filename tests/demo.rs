//! A shortened `pretext demo all` end to end: summary.json's schema, metrics.jsonl of every phase, the
//! checkpoints, every picture decoding, report.html naming every picture; and the text recipe's layer surgery.
mod common;
use common::gpu;
use pretext::demo::{self, text::TextConfig, Demo, Overrides};

/// Settings that make every recipe a few steps long.
const SHORT: &[&str] = &[
    "pretrain_steps=12",
    "finetune_steps=6",
    "text.max_test=48",
    "ae.steps=12",
    "ae.batch=32",
    "contrastive.steps=3",
    "contrastive.batch=16",
    "mae.pretrain_batch=16",
    "mae.finetune_batch=8",
    "train_images=200",
    "test_images=100",
    "labels_per_class=5",
    "seeds=2",
    "probe_steps=30",
];

#[test]
fn a_short_demo_writes_its_summary_metrics_checkpoints_pictures_and_report() {
    let g = gpu();
    let out = std::env::temp_dir().join(format!("pretext-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let d = Demo { gpu: g, out: out.clone(), preset: "tiny".into(), progress: false };
    let sets: Vec<String> = SHORT.iter().map(|s| s.to_string()).collect();
    let s = demo::run(&d, "all", &Overrides::parse(&sets).unwrap()).unwrap();

    // summary.json: the schema of the issue, one entry per recipe.
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["device"].is_string() && summary["seconds"].as_f64().is_some_and(|t| t > 0.0), "{summary}");
    assert!(summary["peak_fma_gflops"].as_f64().is_some_and(|p| p > 0.0), "{summary}");
    assert!(summary["peak_copy_gbps"].as_f64().is_some_and(|p| p > 0.0), "{summary}");
    let families = summary["families"].as_object().unwrap();
    let names: Vec<&str> = demo::RECIPES.iter().map(|r| r.name).collect();
    assert_eq!(families.keys().map(String::as_str).collect::<Vec<_>>(), { let mut n = names.clone(); n.sort(); n });
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for (name, f) in families {
        assert!(f["metric"].is_string() && f["seconds"].as_f64().is_some_and(|t| t > 0.0), "{name}: {f}");
        for k in ["pretrained", "baseline"] {
            assert!(f[k].as_f64().is_some_and(|v| v.is_finite()), "{name}.{k}: {f}");
        }
        assert!(["scratch", "init", "raw"].contains(&f["baseline_kind"].as_str().unwrap()), "{name}: {f}");
        assert!(f["labels_per_class"].is_null() || f["labels_per_class"].as_u64().is_some(), "{name}: {f}");
        assert!(f["command"].as_str().unwrap().starts_with(&format!("pretext demo {name} ")), "{name}: {f}");
        assert!(html.contains(&format!("id=\"{name}\"")), "report.html has no section for {name}");
        let pictures = f["pictures"].as_array().unwrap();
        assert!(!pictures.is_empty(), "{name} shows no picture");
        for p in pictures {
            let file = p["file"].as_str().unwrap();
            let img = image::open(out.join(file)).unwrap_or_else(|e| panic!("{file} does not decode: {e}"));
            assert!(img.width() >= 100 && img.height() >= 100, "{file} is {}x{}", img.width(), img.height());
            assert!(html.contains(&format!("src=\"{file}\"")), "report.html does not show {file}");
        }
    }

    // The text recipe: an accuracy is a count of right answers over the test passages.
    let text = &s.families["text"];
    let n = text.extra["test_passages"].as_u64().unwrap() as f64;
    for acc in [text.pretrained, text.baseline] {
        assert!(((acc * n).round() - acc * n).abs() < 1e-6 && (0.0..=1.0).contains(&acc), "accuracy {acc} is not k/{n}");
    }
    let phases: std::collections::BTreeSet<String> = std::fs::read_to_string(out.join("text/metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["phase"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(phases.into_iter().collect::<Vec<_>>(), vec!["finetune_pretrained", "finetune_scratch", "pretrain"]);
    for dir in ["pretrain", "finetune_pretrained", "finetune_scratch"] {
        let d = out.join("text").join(dir);
        assert!(d.join("model.safetensors").exists() && d.join("config.json").exists(), "text/{dir} checkpoint");
    }
    // The fine-tuned checkpoint is a usable HF-format classifier.
    let model = pretext::pipeline::BertPipeline::load(g, &out.join("text/finetune_pretrained")).unwrap();
    let labels = model.classify(g, &["It is a truth universally acknowledged.".to_string()]).unwrap();
    assert!(pretext::data::austen::NOVELS.contains(&labels[0].0.as_str()));

    // The image recipes: every figure is a mean over the two labelled draws, each draw's accuracy a count of
    // right answers over the 100 test images; the model directories load again.
    let is_count = |a: f64| ((a * 100.0).round() - a * 100.0).abs() < 1e-6 && (0.0..=1.0).contains(&a);
    let mean = |v: &serde_json::Value| -> f64 {
        let v: Vec<f64> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(v.len(), 2, "one figure per seed: {v:?}");
        assert!(v.iter().all(|a| is_count(*a)), "{v:?} are not k/100");
        v.iter().sum::<f64>() / 2.0
    };
    let mae = &s.families["mae"];
    assert!((mae.pretrained - mean(&mae.extra["pretrained_seeds"])).abs() < 1e-12 && (mae.baseline - mean(&mae.extra["scratch_seeds"])).abs() < 1e-12, "{:?}", mae.extra);
    assert!(mae.extra["held_out_recon_loss"].as_f64().is_some_and(|l| l.is_finite() && l > 0.0));
    let mae_config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("mae/pretrain/config.json")).unwrap()).unwrap();
    assert_eq!(mae_config["model_type"], "vit_mae");
    for name in ["contrastive", "ae"] {
        let f = &s.families[name];
        assert!((f.pretrained - mean(&f.extra["pretrained_linear_seeds"])).abs() < 1e-12, "{name}: {:?}", f.extra);
        assert!((f.baseline - mean(&f.extra["init_linear_seeds"])).abs() < 1e-12, "{name}: {:?}", f.extra);
        for k in ["raw_linear_seeds", "pretrained_knn_seeds", "init_knn_seeds", "raw_knn_seeds"] {
            mean(&f.extra[k]);
        }
        assert_eq!(f.labels_per_class, Some(5));
        let enc = pretext::models::load_image_encoder(g, &out.join(name).join("model"), pretext::models::Weights::Trained).unwrap();
        assert_eq!((enc.channels, enc.height, enc.width), (1, 28, 28), "{name}/model");
    }
    let ae_phases = std::fs::read_to_string(out.join("ae/metrics.jsonl")).unwrap();
    assert!(ae_phases.lines().any(|l| l.contains("eval_neg_elbo")), "the VAE's held-out ELBO is logged");

    // A setting no recipe has is an error before anything runs; so is one qualified with an unknown family.
    let e = demo::run(&d, "all", &Overrides::parse(&["no_such_setting=1".to_string()]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("no_such_setting"), "{e}");
    assert!(Overrides::parse(&["nosuch.seed=1".to_string()]).unwrap_err().to_string().contains("nosuch"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn reinit_layers_leaves_only_the_pretrained_embeddings_different() {
    // With no fine-tuning steps, the saved models are the starting points of the two fine-tunings: with every
    // encoder layer re-initialised they share all layer weights (the from-scratch init) and differ in the
    // embeddings that pretraining learned; with none re-initialised they differ in the layers too.
    let g = gpu();
    for reinit in [2usize, 0] {
        let out = std::env::temp_dir().join(format!("pretext-demo-reinit{reinit}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let mut c = TextConfig::preset("tiny").unwrap();
        (c.pretrain_steps, c.finetune_steps, c.max_test, c.reinit_layers) = (5, 0, 12, reinit);
        let d = Demo { gpu: g, out: out.clone(), preset: "tiny".into(), progress: false };
        demo::text::run(&d, &c).unwrap();
        let load = |d: &str| pretext::checkpoint::load(&out.join("text").join(d).join("model.safetensors")).unwrap();
        let (pre, scr) = (load("finetune_pretrained"), load("finetune_scratch"));
        let (mut layers_same, mut layers_differ, mut emb_differ) = (0, 0, false);
        for (name, t) in &pre.tensors {
            let same = scr.tensors.get(name).unwrap_or_else(|| panic!("{name} missing from finetune_scratch")) == t;
            if name.contains("encoder.layer.") {
                if same { layers_same += 1 } else { layers_differ += 1 }
            }
            if name.contains("word_embeddings") {
                emb_differ = !same;
            }
        }
        assert!(emb_differ, "reinit_layers={reinit}: the pretrained word embeddings must differ from the initial ones");
        match reinit {
            2 => assert!(layers_differ == 0 && layers_same > 0, "reinit_layers=2: {layers_differ} layer tensors differ from the from-scratch init"),
            _ => assert!(layers_differ > layers_same, "reinit_layers=0: only {layers_differ} of {} layer tensors were pretrained", layers_same + layers_differ),
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}
