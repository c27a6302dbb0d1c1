//! `bert_tiny_step`: one masked-LM training step (forward, backward, AdamW) of a tiny BERT: batch 16, seq 64,
//! vocab 8192, hidden 128, 2 layers, 2 heads, FFN 512, logits at the 15% masked positions.
//! `bert_tiny_first_step` is the first step's wall time, pipeline compilation included (run before any other
//! kernel benchmark, so no pipeline it needs is compiled yet).
use std::time::Instant;

use super::{median, Bench, Work};
use crate::data::mlm::MaskSpec;
use crate::models::bert::{Bert, BertConfig, MlmHead};
use crate::optim::{Optimizer, Schedule, ScheduleKind};
use crate::rng::Rng;
use crate::tasks::MlmTask;
use crate::train::{TrainConfig, Trainer};
use crate::Result;

/// Times the tiny BERT step.
pub fn run(b: &mut Bench) -> Result<()> {
    if !b.wants("bert_tiny_step") && !b.wants("bert_tiny_first_step") {
        return Ok(());
    }
    let gpu = b.gpu;
    let config = BertConfig { vocab_size: 8192, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512, max_position_embeddings: 64, attention_probs_dropout_prob: 0.0, ..BertConfig::default() };
    let (batch, seq) = (16, 64);
    let mut rng = Rng::new(1);
    let started = Instant::now();
    let bert = Bert::new(gpu, &config, &mut rng)?;
    let head = MlmHead::new(gpu, &config, &mut rng)?;
    let train: Vec<Vec<i32>> = (0..256).map(|_| (0..seq).map(|i| if i == 0 { 2 } else if i == seq - 1 { 3 } else { 5 + rng.below(8187) as i32 }).collect()).collect();
    let spec = MaskSpec { mask_id: 4, vocab: 8192, special: vec![0, 1, 2, 3, 4], prob: 0.15 };
    let mut task = MlmTask { bert, head, train, eval: Vec::new(), batch, spec, pad: 0, unigram: 5 };
    let cfg = TrainConfig {
        steps: 1000,
        schedule: Schedule { peak_lr: 1e-4, min_lr: 0.0, warmup: 0, total: 1000, kind: ScheduleKind::Constant },
        seed: 1,
        log_every: 1000,
        eval_every: 0,
        save_every: 0,
        keep_last: None,
        out_dir: None,
        progress: false,
        phase: "bench".into(),
    };
    let mut t = Trainer::new(gpu, cfg, Optimizer::adamw(0.01));
    t.step(&mut task, false)?;
    gpu.wait()?;
    let first = started.elapsed().as_secs_f64() * 1e3;
    if b.wants("bert_tiny_first_step") {
        b.record("bert_tiny_first_step", "16x64", first, Work::default());
    }
    if b.wants("bert_tiny_step") {
        let mut times = Vec::new();
        for _ in 0..b.reps.max(3) {
            let s = Instant::now();
            t.step(&mut task, false)?;
            gpu.wait()?;
            times.push(s.elapsed().as_secs_f64() * 1e3);
        }
        b.record("bert_tiny_step", "16x64", median(&mut times), Work::default());
    }
    Ok(())
}
