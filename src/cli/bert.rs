//! `pretext embed`, `fill-mask` and `bert pretrain|finetune|classify`: thin commands over the library.
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::data::corpus::{pack, read_lines, read_tsv};
use crate::data::mlm::MaskSpec;
use crate::data::tokenizer::Tokenizer;
use crate::data::vocab;
use crate::gpu::Gpu;
use super::{create_out_dir, CheckpointArgs};
use crate::checkpoint::commit::TempDir;
use crate::models::bert::{load_params, write_model, Bert, BertConfig, MlmHead};
use crate::models::heads::Classifier;
use crate::nn::Init;
use crate::optim::{Optimizer, Schedule, ScheduleKind};
use crate::pipeline::{BertPipeline, Pooling};
use crate::rng::Rng;
use crate::tasks::{most_frequent, ClassifyTask, MlmTask};
use crate::train::{TrainConfig, Trainer};
use crate::{checkpoint, Error, Result};

/// `pretext embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// A HuggingFace BERT directory (config.json, model.safetensors, tokenizer.json or vocab.txt).
    #[arg(long)]
    pub model: PathBuf,
    /// mean, cls or none (every token's state).
    #[arg(long, default_value = "mean")]
    pub pooling: String,
    /// L2-normalise each vector.
    #[arg(long)]
    pub normalize: bool,
    /// One text per line (default: standard input).
    #[arg(long)]
    pub input: Option<PathBuf>,
}

/// `pretext fill-mask`.
#[derive(Args, Debug)]
pub struct FillMaskArgs {
    /// A HuggingFace BERT directory with a masked-LM head.
    #[arg(long)]
    pub model: PathBuf,
    /// Predictions per \[MASK\].
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// One text per line (default: standard input).
    #[arg(long)]
    pub input: Option<PathBuf>,
}

/// `pretext bert …`.
#[derive(Subcommand, Debug)]
pub enum BertCommand {
    /// Pretrain with masked-language modelling on text files (.txt or .txt.gz).
    Pretrain(PretrainArgs),
    /// Fine-tune for sequence classification on `label<TAB>text` files.
    Finetune(FinetuneArgs),
    /// Label each input line with a fine-tuned model.
    Classify(ClassifyArgs),
}

/// `pretext bert pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    #[arg(long, num_args = 1.., required = true)]
    pub corpus: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from a HuggingFace BERT directory (its tokenizer and weights).
    #[arg(long, conflicts_with = "config")]
    pub model: Option<PathBuf>,
    /// tiny, mini, small or a config.json (a vocabulary is built from the corpus).
    #[arg(long)]
    pub config: Option<String>,
    #[arg(long, default_value_t = 1000)]
    pub steps: u32,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    /// Vocabulary size when building one from the corpus.
    #[arg(long, default_value_t = 8192)]
    pub vocab: usize,
}

/// `pretext bert finetune`.
#[derive(Args, Debug)]
pub struct FinetuneArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub train: PathBuf,
    #[arg(long)]
    pub eval: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 3.0)]
    pub epochs: f32,
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f32,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Longest input in tokens (longer texts are truncated).
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
}

/// `pretext bert classify`.
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// One text per line (default: standard input).
    #[arg(long)]
    pub input: Option<PathBuf>,
}

/// The input texts: one per line of the file, or of standard input.
pub fn input_lines(input: &Option<PathBuf>) -> Result<Vec<String>> {
    let lines: Vec<String> = match input {
        Some(p) => crate::data::corpus::read_text(p)?.lines().map(|l| l.trim_end_matches('\r').to_string()).collect(),
        None => std::io::stdin().lock().lines().collect::<std::io::Result<_>>().map_err(|e| Error::Io(format!("stdin: {e}")))?,
    };
    Ok(lines)
}

fn json_line(out: &mut impl Write, v: &serde_json::Value) -> Result<()> {
    writeln!(out, "{v}").map_err(|e| Error::Io(format!("stdout: {e}")))
}

/// Runs `pretext embed`.
pub fn embed(gpu: &Gpu, a: &EmbedArgs) -> Result<()> {
    let pooling: Pooling = a.pooling.parse()?;
    let model = BertPipeline::load(gpu, &a.model)?;
    let texts = input_lines(&a.input)?;
    let h = model.bert.config.hidden_size;
    let mut out = std::io::stdout().lock();
    for (text, (ids, v)) in texts.iter().zip(model.embed(gpu, &texts, pooling, a.normalize)?) {
        let line = if pooling == Pooling::None {
            let rows: Vec<&[f32]> = v.chunks(h).collect();
            serde_json::json!({"text": text, "ids": ids, "hidden": rows})
        } else {
            serde_json::json!({"text": text, "ids": ids, "embedding": v})
        };
        json_line(&mut out, &line)?;
    }
    Ok(())
}

/// Runs `pretext fill-mask`.
pub fn fill_mask(gpu: &Gpu, a: &FillMaskArgs) -> Result<()> {
    let model = BertPipeline::load(gpu, &a.model)?;
    let texts = input_lines(&a.input)?;
    let mut out = std::io::stdout().lock();
    for (text, (ids, masks)) in texts.iter().zip(model.fill_mask(gpu, &texts, a.top_k.max(1))?) {
        json_line(&mut out, &serde_json::json!({"text": text, "ids": ids, "masks": masks}))?;
    }
    Ok(())
}

/// Runs `pretext bert classify`.
pub fn classify(gpu: &Gpu, a: &ClassifyArgs) -> Result<()> {
    let model = BertPipeline::load(gpu, &a.model)?;
    let texts = input_lines(&a.input)?;
    let mut out = std::io::stdout().lock();
    for (text, (label, probs)) in texts.iter().zip(model.classify(gpu, &texts)?) {
        let p: serde_json::Map<String, serde_json::Value> = model.labels.iter().zip(&probs).map(|(l, p)| (l.clone(), serde_json::json!(p))).collect();
        json_line(&mut out, &serde_json::json!({"text": text, "label": label, "probs": p}))?;
    }
    Ok(())
}

/// Copies the tokenizer files a BERT directory has (vocab.txt, tokenizer.json, ...) into another.
pub(crate) fn copy_tokenizer_files(from: &Path, to: &Path) -> Result<()> {
    for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
        let src = from.join(f);
        if src.exists() {
            std::fs::copy(&src, to.join(f)).map_err(|e| Error::io(&src, e))?;
        }
    }
    Ok(())
}

fn schedule(steps: u32, lr: f32) -> Schedule {
    Schedule { peak_lr: lr, min_lr: 0.0, warmup: steps / 10, total: steps, kind: ScheduleKind::Linear }
}

/// Runs `pretext bert pretrain`.
pub fn pretrain(gpu: &Gpu, a: &PretrainArgs) -> Result<()> {
    if a.steps == 0 || a.batch == 0 || a.seq < 8 {
        crate::bail!(Invalid, "bert pretrain: --steps and --batch must be positive and --seq at least 8");
    }
    create_out_dir(&a.out)?;
    let lines = read_lines(&a.corpus)?;
    let mut rng = Rng::new(a.seed);
    // The vocabulary built from the corpus goes into the model directory with the model, in one commit.
    let mut words: Option<Vec<String>> = None;
    let (tok, config, file) = match &a.model {
        Some(dir) => {
            let tok = Tokenizer::from_dir(dir)?;
            (tok, BertConfig::from_file(&dir.join("config.json"))?, Some(checkpoint::load(&dir.join("model.safetensors"))?))
        }
        None => {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let built = vocab::build(&refs, a.vocab);
            let scratch = TempDir::new(&a.out.join("vocab"))?; // removed at the end of this block
            vocab::write(scratch.path(), &built)?;
            let tok = Tokenizer::from_dir(scratch.path())?;
            words = Some(built);
            let name = a.config.as_deref().unwrap_or("tiny");
            let mut c = if name.ends_with(".json") { BertConfig::from_file(Path::new(name))? } else { BertConfig::preset(name, tok.vocab_size())? };
            c.vocab_size = tok.vocab_size();
            c.max_position_embeddings = c.max_position_embeddings.max(a.seq);
            (tok, c, None)
        }
    };
    if a.seq > config.max_position_embeddings {
        crate::bail!(Invalid, "bert pretrain: --seq {} exceeds the model's max_position_embeddings {}", a.seq, config.max_position_embeddings);
    }
    let ids: Vec<Vec<i32>> = lines
        .iter()
        .map(|l| tok.encode(l).map(|v| v[1..v.len().saturating_sub(1)].to_vec()))
        .collect::<Result<_>>()?;
    let seqs = pack(&ids, a.seq, tok.cls_id(), tok.sep_id());
    if seqs.len() < 2 {
        crate::bail!(Invalid, "bert pretrain: the corpus gives only {} sequences of {} tokens; give more text", seqs.len(), a.seq);
    }
    // Every 20th sequence is held out for evaluation.
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for (i, s) in seqs.into_iter().enumerate() {
        if i % 20 == 19 { eval.push(s) } else { train.push(s) }
    }
    let bert = Bert::new(gpu, &config, &mut rng)?;
    let head = MlmHead::new(gpu, &config, &mut rng)?;
    if let Some(f) = &file {
        let mut p = bert.params();
        p.extend(head.params());
        let r = load_params(gpu, f, &p)?;
        if !r.missing.is_empty() {
            eprintln!("initialised fresh (not in {}): {}", f.path.display(), r.missing.join(", "));
        }
    }
    let special = tok.special_ids();
    let spec = MaskSpec { mask_id: tok.mask_id(), vocab: config.vocab_size, special: special.clone(), prob: 0.15 };
    let unigram = most_frequent(&train, &special, config.vocab_size);
    let mut task = MlmTask { bert, head, train, eval, batch: a.batch, spec, pad: tok.pad_id(), unigram };
    let mut opt = Optimizer::adamw(0.01);
    opt.max_grad_norm = Some(1.0);
    let mut cfg = TrainConfig {
        steps: a.steps,
        schedule: schedule(a.steps, a.lr),
        seed: a.seed,
        log_every: 10,
        eval_every: (a.steps / 5).max(1),
        save_every: 0,
        keep_last: None,
        out_dir: Some(a.out.clone()),
        progress: true,
        phase: "pretrain".into(),
    };
    a.checkpoint.configure(&mut cfg);
    let mut trainer = Trainer::new(gpu, cfg, opt);
    a.checkpoint.resume(&mut trainer, &mut task)?;
    let last = trainer.run(&mut task)?; // evaluated at the last step
    let get = |k: &str| last.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap_or(f64::NAN);
    let (loss, acc, uni) = (get("eval_mlm_loss"), get("eval_mlm_accuracy"), get("unigram_accuracy"));
    let mut params = task.bert.params();
    params.extend(task.head.params());
    let mut config = config;
    config.architectures = Some(vec!["BertForMaskedLM".into()]);
    checkpoint::commit_model_dir(&a.out, |tmp| {
        write_model(gpu, tmp, &config, &params, true)?;
        match (&words, &a.model) {
            (Some(words), _) => vocab::write(tmp, words),
            (None, Some(dir)) => copy_tokenizer_files(dir, tmp),
            (None, None) => Ok(()),
        }
    })?;
    println!("held-out masked-LM loss {loss:.4}, masked-token accuracy {:.2}% (unigram baseline {:.2}%)", 100.0 * acc, 100.0 * uni);
    println!("wrote {}", a.out.display());
    Ok(())
}

/// Runs `pretext bert finetune`.
pub fn finetune(gpu: &Gpu, a: &FinetuneArgs) -> Result<()> {
    if a.batch == 0 || !(a.epochs > 0.0) {
        crate::bail!(Invalid, "bert finetune: --batch and --epochs must be positive");
    }
    create_out_dir(&a.out)?;
    let model = BertPipeline::load(gpu, &a.model)?;
    let train = read_tsv(&a.train)?;
    let eval = read_tsv(&a.eval)?;
    let mut labels: Vec<String> = train.iter().map(|e| e.label.clone()).collect();
    labels.sort();
    labels.dedup();
    if labels.len() < 2 {
        crate::bail!(Invalid, "{}: fine-tuning needs at least 2 classes, found {labels:?}", a.train.display());
    }
    let encode = |text: &str| -> Result<Vec<i32>> {
        let mut ids = model.encode(text)?;
        if ids.len() > a.max_len {
            ids.truncate(a.max_len - 1);
            ids.push(model.tokenizer.sep_id());
        }
        Ok(ids)
    };
    let index = |path: &Path, l: &str| -> Result<usize> {
        labels.iter().position(|x| x == l).ok_or_else(|| Error::Invalid(format!("{}: label {l:?} does not occur in the training file", path.display())))
    };
    let train_ex: Vec<(Vec<i32>, usize)> = train.iter().map(|e| Ok((encode(&e.text)?, index(&a.train, &e.label)?))).collect::<Result<_>>()?;
    let eval_ex: Vec<(Vec<i32>, usize)> = eval.iter().map(|e| Ok((encode(&e.text)?, index(&a.eval, &e.label)?))).collect::<Result<_>>()?;
    let mut rng = Rng::new(a.seed);
    let c = &model.bert.config;
    let head = Classifier::new(gpu, "classifier", c.hidden_size, labels.len(), Init::Normal(c.initializer_range), &mut rng)?;
    let mut task = ClassifyTask::new(model.bert.clone(), head, train_ex, eval_ex, a.batch, c.hidden_dropout_prob);
    let steps = ((a.epochs as f64) * (task.train.len() as f64 / a.batch as f64)).ceil().max(1.0) as u32;
    let mut opt = Optimizer::adamw(0.01);
    opt.max_grad_norm = Some(1.0);
    let mut cfg = TrainConfig {
        steps,
        schedule: schedule(steps, a.lr),
        seed: a.seed,
        log_every: 10,
        eval_every: 0,
        save_every: 0,
        keep_last: None,
        out_dir: Some(a.out.clone()),
        progress: true,
        phase: "finetune".into(),
    };
    a.checkpoint.configure(&mut cfg);
    let mut trainer = Trainer::new(gpu, cfg, opt);
    a.checkpoint.resume(&mut trainer, &mut task)?;
    trainer.run(&mut task)?;
    let e = task.held_out(gpu)?;
    let mut config = model.bert.config.clone();
    config.id2label = Some(labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone())).collect());
    config.architectures = Some(vec!["BertForSequenceClassification".into()]);
    checkpoint::commit_model_dir(&a.out, |tmp| {
        write_model(gpu, tmp, &config, &task.all_params(), true)?;
        copy_tokenizer_files(&a.model, tmp)
    })?;
    let report = serde_json::json!({"accuracy": e.accuracy, "macro_f1": e.macro_f1, "labels": labels, "confusion": e.confusion, "steps": steps});
    checkpoint::write_atomic(&a.out.join("eval.json"), report.to_string().as_bytes())?;
    println!("eval accuracy {:.2}%  macro-F1 {:.4}  ({} examples)", 100.0 * e.accuracy, e.macro_f1, task.eval.len());
    super::print_confusion(&labels, &e.confusion);
    println!("wrote {}", a.out.display());
    Ok(())
}
