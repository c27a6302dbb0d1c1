//! SimCSE on the demo's tiny BERT: the sentences to train on, and the novel-attribution linear probe that reads
//! what SimCSE did to the sentence embeddings. Both use the demo's split of Austen's novels (every fifth chapter
//! of each novel held out).
//!
//!     cargo run --release --example simcse_austen -- sentences OUT.txt     # training chapters, one sentence a line
//!     cargo run --release --example simcse_austen -- probe MODEL_DIR       # prints one JSON object
//!
//! `probe`: the demo's passages (24 words, truncated to the model's positions) of the training chapters (an even
//! sample of 3000 of the 24,454, to keep the embedding affordable on lavapipe) and of the held-out ones (every
//! ⌊N/1500⌋-th, as the demo tests on: 1,805), each embedded by MODEL_DIR's BERT with mean pooling over its tokens
//! (frozen), then `eval::probe::linear_probe` (standardised features, a linear classifier trained by AdamW on the
//! GPU) on the training sample, accuracy on the held-out one.
use std::path::Path;

use pretext::data::austen;
use pretext::eval::probe::{linear_probe, Features, LinearProbe};
use pretext::pipeline::{BertPipeline, Pooling};
use pretext::{Gpu, GpuOptions, Result};

fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
        let end = w.trim_end_matches(['"', '\'', ')', '_']);
        if end.ends_with('.') || end.ends_with('!') || end.ends_with('?') {
            if cur.split_whitespace().count() >= 4 {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    out
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chapters = austen::load(Path::new("assets/austen.txt.gz"))?;
    let (test, train): (Vec<&austen::Chapter>, Vec<&austen::Chapter>) = chapters.iter().partition(|c| austen::is_test_chapter(c));
    match args.first().map(String::as_str) {
        Some("sentences") => {
            let out = args.get(1).ok_or_else(|| pretext::Error::Invalid("sentences OUT.txt".into()))?;
            let lines: Vec<String> = train.iter().flat_map(|c| sentences(&c.text)).collect();
            std::fs::write(out, lines.join("\n") + "\n").map_err(|e| pretext::Error::io(Path::new(out), e))?;
            println!("wrote {} sentences of the {} training chapters to {out}", lines.len(), train.len());
            Ok(())
        }
        Some("probe") => {
            let dir = args.get(1).ok_or_else(|| pretext::Error::Invalid("probe MODEL_DIR".into()))?;
            let gpu = Gpu::new(&GpuOptions::default())?;
            let model = BertPipeline::load(&gpu, Path::new(dir))?;
            let passages = |chs: &[&austen::Chapter]| -> Vec<(String, usize)> {
                chs.iter().flat_map(|c| austen::passages(&c.text, 24).into_iter().map(move |p| (p, c.novel))).collect()
            };
            let train_all = passages(&train);
            let train_p: Vec<(String, usize)> = train_all.iter().step_by((train_all.len() / 3000).max(1)).take(3000).cloned().collect();
            let test_all = passages(&test);
            let stride = (test_all.len() / 1500).max(1);
            let test_p: Vec<(String, usize)> = test_all.into_iter().step_by(stride).collect();
            let embed = |ps: &[(String, usize)]| -> Result<Features> {
                let texts: Vec<String> = ps.iter().map(|(t, _)| t.clone()).collect();
                let data = model.embed(&gpu, &texts, Pooling::Mean, false)?.into_iter().flat_map(|(_, e)| e).collect();
                Ok(Features { dim: model.bert.config.hidden_size, data })
            };
            let (ftr, fte) = (embed(&train_p)?, embed(&test_p)?);
            let ytr: Vec<usize> = train_p.iter().map(|(_, y)| *y).collect();
            let yte: Vec<usize> = test_p.iter().map(|(_, y)| *y).collect();
            let acc = linear_probe(&gpu, &ftr, &ytr, &fte, &yte, austen::NOVELS.len(), &LinearProbe::default())?;
            println!("{}", serde_json::json!({"model": dir, "linear_accuracy": acc, "train_passages": ytr.len(), "test_passages": yte.len()}));
            Ok(())
        }
        _ => Err(pretext::Error::Invalid("usage: simcse_austen sentences OUT.txt | probe MODEL_DIR".into())),
    }
}
