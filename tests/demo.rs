//! A shortened `pretext demo` end to end: summary.json, metrics.jsonl, checkpoints and the loss plot.
mod common;
use common::gpu;
use pretext::demo::{self, DemoConfig};

#[test]
fn a_short_demo_writes_its_summary_metrics_checkpoints_and_plot() {
    let g = gpu();
    let out = std::env::temp_dir().join(format!("pretext-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut c = DemoConfig::preset("tiny").unwrap();
    c.pretrain_steps = 12;
    c.finetune_steps = 6;
    c.max_test = 48;
    let s = demo::run(g, &c, &out, false).unwrap();
    assert!((0.0..=1.0).contains(&s.pretrained_accuracy) && (0.0..=1.0).contains(&s.scratch_accuracy));

    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for k in ["pretrained_accuracy", "scratch_accuracy", "mlm_accuracy", "seconds"] {
        assert!(summary[k].is_f64(), "summary.json lacks {k}: {summary}");
    }
    assert!(summary["device"].is_string());

    let phases: std::collections::BTreeSet<String> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["phase"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(phases.into_iter().collect::<Vec<_>>(), vec!["finetune_pretrained", "finetune_scratch", "pretrain"]);

    let png = image::open(out.join("loss.png")).expect("loss.png decodes");
    assert_eq!((png.width(), png.height()), (1200, 480));
    for dir in ["pretrain", "finetune_pretrained", "finetune_scratch"] {
        assert!(out.join(dir).join("model.safetensors").exists() && out.join(dir).join("config.json").exists(), "{dir} checkpoint");
    }
    // The fine-tuned checkpoint is a usable HF-format classifier.
    let model = pretext::pipeline::BertPipeline::load(g, &out.join("finetune_pretrained")).unwrap();
    let labels = model.classify(g, &["It is a truth universally acknowledged.".to_string()]).unwrap();
    assert!(pretext::data::austen::NOVELS.contains(&labels[0].0.as_str()));
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
        let mut c = DemoConfig::preset("tiny").unwrap();
        (c.pretrain_steps, c.finetune_steps, c.max_test, c.reinit_layers) = (5, 0, 12, reinit);
        demo::run(g, &c, &out, false).unwrap();
        let load = |d: &str| pretext::checkpoint::load(&out.join(d).join("model.safetensors")).unwrap();
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
