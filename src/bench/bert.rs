//! Whole training steps (forward, backward, clipping-free AdamW update; one submit, waited for), wall-clock:
//!   `bert_tiny_first_step`      a tiny BERT's first masked-LM step, pipeline compilation included (run before
//!                               any other kernel benchmark, so no pipeline it needs is compiled yet)
//!   `bert_tiny_step`            its later steps: batch 16, seq 64, vocab 8192, hidden 128, 2 layers, 2 heads,
//!                               FFN 512, logits at the 15% masked positions
//!   `bert_tiny_cold_first_step` `bert_tiny_first_step` in a fresh child process with the driver's shader cache
//!                               and pretext's pipeline cache disabled: what a new user's first step costs
//!   `bert_base_step`            BERT-base (hidden 768, 12 layers, 12 heads, FFN 3072, vocab 30522) masked-LM,
//!                               batch 8, seq 128; with the peak bytes of live device tensors
//!   `minilm_finetune_step`      all-MiniLM-L6-v2 (`data/minilm`) fine-tuned for 2-class sequence
//!                               classification, batch 16, seq 64
//! Each step row's `gflops` is the model's product FLOPs (`bench::flops`) over the step's median time, and
//! `pct_peak` compares that with the same run's `peak_fma`. With `pretext --profile bench`, the per-kernel
//! breakdown of one step of each row is printed to stderr.
use std::path::Path;
use std::time::Instant;

use super::flops::{bert_classify_step, bert_mlm_step, StepFlops};
use super::{median, profile_step, time_steps, timing_config, Bench, Work};
use crate::data::mlm::MaskSpec;
use crate::gpu::Gpu;
use crate::models::bert::{load_params, Bert, BertConfig, MlmHead};
use crate::models::heads::Classifier;
use crate::nn::Init;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::tasks::{ClassifyTask, MlmTask};
use crate::train::Trainer;
use crate::Result;

/// The environment variable that disables (`off`) or relocates pretext's pipeline cache (see `gpu::disk_cache`).
use crate::gpu::disk_cache::ENV as PIPELINE_CACHE_ENV;

/// Runs every whole-step row the filter wants.
pub fn run(b: &mut Bench) -> Result<()> {
    tiny(b)?;
    cold(b)?;
    base(b)?;
    minilm(b)
}

fn trainer(gpu: &Gpu) -> Trainer<'_> {
    Trainer::new(gpu, timing_config(), Optimizer::adamw(0.01))
}

/// A masked-LM task on random sequences ([CLS] = 2, [SEP] = 3, words from 5 up) and the expected number of
/// masked positions per batch (15% of the non-special tokens).
fn mlm_task(gpu: &Gpu, config: &BertConfig, batch: usize, seq: usize) -> Result<(MlmTask, f64)> {
    let mut rng = Rng::new(1);
    let bert = Bert::new(gpu, config, &mut rng)?;
    let head = MlmHead::new(gpu, config, &mut rng)?;
    let vocab = config.vocab_size;
    let train: Vec<Vec<i32>> = (0..256)
        .map(|_| (0..seq).map(|i| if i == 0 { 2 } else if i == seq - 1 { 3 } else { 5 + rng.below(vocab - 5) as i32 }).collect())
        .collect();
    let spec = MaskSpec { mask_id: 4, vocab, special: vec![0, 1, 2, 3, 4], prob: 0.15 };
    let masked = spec.prob * (batch * (seq - 2)) as f64;
    Ok((MlmTask { bert, head, train, eval: Vec::new(), batch, spec, pad: 0, unigram: 5 }, masked))
}

/// Records a step row: median time, model GFLOP/s and % of peak, optionally the peak live bytes; with
/// `b.profile`, prints one more step's per-kernel breakdown.
fn step_row(b: &mut Bench, name: &str, shape: &str, flops: StepFlops, times: &mut [f64], peak_bytes: Option<u64>) {
    let ms = median(times);
    b.record_with_memory(name, shape, ms, Work::flops(flops.total()), peak_bytes);
}

/// `bert_tiny_first_step` and `bert_tiny_step`.
fn tiny(b: &mut Bench) -> Result<()> {
    if !b.wants("bert_tiny_step") && !b.wants("bert_tiny_first_step") {
        return Ok(());
    }
    let gpu = b.gpu;
    let config = BertConfig { vocab_size: 8192, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512, max_position_embeddings: 64, ..BertConfig::default() };
    let (batch, seq) = (16, 64);
    let started = Instant::now();
    let (mut task, masked) = mlm_task(gpu, &config, batch, seq)?;
    let mut t = trainer(gpu);
    t.step(&mut task, false)?;
    gpu.wait()?;
    let first = started.elapsed().as_secs_f64() * 1e3;
    if b.wants("bert_tiny_first_step") {
        b.record("bert_tiny_first_step", "16x64", first, Work::default());
    }
    if b.wants("bert_tiny_step") {
        let mut times = time_steps(&mut t, &mut task, b.reps.max(3))?;
        step_row(b, "bert_tiny_step", "16x64", bert_mlm_step(&config, batch, seq, masked), &mut times, None);
        profile_step(b, "bert_tiny_step", &mut t, &mut task)?;
    }
    Ok(())
}

/// `bert_tiny_cold_first_step`: `pretext bench --filter bert_tiny_first_step` in a child process on the same
/// adapter, with Mesa's and NVIDIA's shader disk caches and pretext's pipeline cache turned off.
fn cold(b: &mut Bench) -> Result<()> {
    const ROW: &str = "bert_tiny_cold_first_step";
    if !b.wants(ROW) {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| crate::Error::Invalid(format!("{ROW}: cannot find this program: {e}")))?;
    if exe.file_stem().and_then(|s| s.to_str()) != Some("pretext") {
        eprintln!("{ROW}: measured only from the pretext command (this program is {})", exe.display());
        return Ok(());
    }
    let info = b.gpu.adapter_info();
    let out = std::process::Command::new(&exe)
        .args(["bench", "--filter", "bert_tiny_first_step", "--json", "--reps", "1"])
        .env("MESA_SHADER_CACHE_DISABLE", "true")
        .env("__GL_SHADER_DISK_CACHE", "0")
        .env(PIPELINE_CACHE_ENV, "off")
        .env("WGPU_ADAPTER_NAME", &info.name)
        .env("WGPU_BACKEND", format!("{:?}", info.backend).to_lowercase())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| crate::Error::Invalid(format!("{ROW}: could not run {}: {e}", exe.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ms = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["kernel"] == "bert_tiny_first_step")
        .and_then(|r| r["ms"].as_f64());
    match ms {
        Some(ms) if out.status.success() => {
            b.record(ROW, "16x64", ms, Work::default());
            Ok(())
        }
        _ => crate::bail!(Invalid, "{ROW}: the child process ({}) printed no bert_tiny_first_step row: {stdout}", out.status),
    }
}

/// `bert_base_step`: BERT-base masked-LM, batch 8, seq 128 (3 timed steps on a CPU adapter).
fn base(b: &mut Bench) -> Result<()> {
    if !b.wants("bert_base_step") {
        return Ok(());
    }
    let gpu = b.gpu;
    let config = BertConfig::default();
    let (batch, seq) = (8, 128);
    let (mut task, masked) = mlm_task(gpu, &config, batch, seq)?;
    let mut t = trainer(gpu);
    time_steps(&mut t, &mut task, 1)?;
    gpu.pool().reset_peak();
    let reps = if gpu.is_cpu() { b.reps.clamp(1, 3) } else { b.reps.max(3) };
    let mut times = time_steps(&mut t, &mut task, reps)?;
    let peak = gpu.memory().peak_live_bytes;
    step_row(b, "bert_base_step", "8x128", bert_mlm_step(&config, batch, seq, masked), &mut times, Some(peak));
    profile_step(b, "bert_base_step", &mut t, &mut task)
}

/// all-MiniLM-L6-v2's configuration, for when `data/minilm` has not been fetched (the timing does not
/// depend on the weights).
fn minilm_config() -> BertConfig {
    BertConfig { hidden_size: 384, num_hidden_layers: 6, num_attention_heads: 12, intermediate_size: 1536, ..BertConfig::default() }
}

/// `minilm_finetune_step`: all-MiniLM-L6-v2, 2-class sequence classification (pooler, dropout, linear head),
/// batch 16, seq 64 ([CLS] 101, random words, [SEP] 102).
fn minilm(b: &mut Bench) -> Result<()> {
    if !b.wants("minilm_finetune_step") {
        return Ok(());
    }
    let gpu = b.gpu;
    let dir = Path::new("data/minilm");
    let fetched = dir.join("model.safetensors").is_file();
    let config = if fetched { BertConfig::from_file(&dir.join("config.json"))? } else { minilm_config() };
    let mut rng = Rng::new(1);
    let bert = Bert::new(gpu, &config, &mut rng)?;
    if fetched {
        load_params(gpu, &crate::checkpoint::load(&dir.join("model.safetensors"))?, &bert.params())?;
    } else {
        eprintln!("minilm_finetune_step: {} not found (scripts/fetch.sh): timing a randomly initialised model of its shape", dir.display());
    }
    let head = Classifier::new(gpu, "classifier", config.hidden_size, 2, Init::Normal(config.initializer_range), &mut rng)?;
    let (batch, seq) = (16, 64);
    let train: Vec<(Vec<i32>, usize)> = (0..256)
        .map(|i| ((0..seq).map(|j| if j == 0 { 101 } else if j == seq - 1 { 102 } else { 1000 + rng.below(29000) as i32 }).collect(), i % 2))
        .collect();
    let mut task = ClassifyTask::new(bert, head, train, Vec::new(), batch, 0.1);
    let mut t = trainer(gpu);
    time_steps(&mut t, &mut task, 1)?;
    let reps = if gpu.is_cpu() { b.reps.clamp(1, 5) } else { b.reps.max(3) };
    let mut times = time_steps(&mut t, &mut task, reps)?;
    step_row(b, "minilm_finetune_step", "16x64", bert_classify_step(&task.encoder.config, batch, seq, 2), &mut times, None);
    profile_step(b, "minilm_finetune_step", &mut t, &mut task)
}
