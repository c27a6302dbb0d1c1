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
