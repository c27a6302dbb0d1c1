//! The text recipe: pretrain a tiny BERT with masked-LM on Jane Austen's novels (training chapters only),
//! then fine-tune it to tell which novel a passage comes from, against the same model fine-tuned from random
//! init with the same budget. Test passages come from held-out chapters.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use super::{Demo, FamilyReport, PhaseSpec, Picture, Recipe};

use crate::data::austen::{self, Chapter};
use crate::data::corpus::pack;
use crate::data::mlm::MaskSpec;
use crate::data::tokenizer::Tokenizer;
use crate::data::vocab;
use crate::gpu::Gpu;
use crate::models::bert::{write_model, Bert, BertConfig, MlmHead};
use crate::models::heads::Classifier;
use crate::nn::Init;
use crate::plot::{self, Panel, Series};
use crate::rng::Rng;
use crate::tasks::{most_frequent, ClassifyTask, MlmTask};
use crate::train::LogRow;
use crate::{Error, Result};

/// The bundled corpus (public domain).
const AUSTEN: &[u8] = include_bytes!("../../assets/austen.txt.gz");

/// The recipe: `pretext demo text`.
pub const RECIPE: Recipe = Recipe {
    name: "text",
    about: "masked-LM on Austen's novels, then which novel a passage comes from (BERT)",
    settings: settings,
    run: run_settings,
};

fn settings(preset: &str) -> crate::Result<Value> {
    super::to_settings(TextConfig::preset(preset)?)
}

fn run_settings(demo: &Demo, v: Value) -> crate::Result<FamilyReport> {
    run(demo, &super::from_settings::<TextConfig>("text", v)?)
}

/// Sizes and budgets of the text recipe.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TextConfig {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    /// Width of the feed-forward layer (BERT's intermediate_size).
    pub ffn: usize,
    pub vocab: usize,
    pub seq: usize,
    pub batch: usize,
    pub pretrain_steps: u32,
    pub pretrain_lr: f32,
    /// Standard deviation of the initial weights (BERT's initializer_range).
    pub init_std: f32,
    pub finetune_steps: u32,
    pub finetune_batch: usize,
    pub finetune_lr: f32,
    pub passage_words: usize,
    /// Labelled training passages per novel for fine-tuning (an even sample; 0 = all): few labels, much text.
    pub labelled_per_novel: usize,
    /// Fine-tuning steps that train only the head first (LP-FT), for both models alike.
    pub probe_steps: u32,
    /// Re-initialise the pretrained model's top N encoder layers before fine-tuning (Zhang et al., 2021), to the
    /// from-scratch model's initial weights: with N = layers only the pretrained embeddings differ.
    pub reinit_layers: usize,
    /// Skip pretraining and fine-tune this pretrained directory instead (a demo's `pretrain/`); "" = pretrain now.
    pub pretrained_from: String,
    /// At most this many test passages (an even sample), to bound evaluation time.
    pub max_test: usize,
    pub seed: u64,
}

impl TextConfig {
    /// "tiny" (CPU adapters), "small" (a discrete GPU) or "base".
    pub fn preset(name: &str) -> Result<TextConfig> {
        // Sized for a CPU adapter's 10 minutes (about 8 on lavapipe with 2 cores), from a search in PyTorch
        // (scripts/demo_reference.py; README, "What transfers"): a wider model (hidden 128; a 2x FFN costs less
        // than 4x for the same masked-token accuracy), a short fine-tuning on many labels (200 steps of 32 over
        // all training passages), and the pretrained encoder layers re-initialised: at this scale what masked-LM
        // pretraining gives this task is its word embeddings; its layers, kept, cost as much as they give.
        let tiny = TextConfig {
            hidden: 128,
            layers: 2,
            heads: 2,
            ffn: 256,
            vocab: 2048,
            seq: 32,
            batch: 64,
            pretrain_steps: 1600,
            pretrain_lr: 2e-3,
            init_std: 0.05,
            finetune_steps: 200,
            finetune_batch: 32,
            finetune_lr: 3e-3,
            passage_words: 24,
            labelled_per_novel: 0,
            probe_steps: 0,
            reinit_layers: 2,
            pretrained_from: String::new(),
            max_test: 1500,
            seed: 1,
        };
        Ok(match name {
            "tiny" => tiny,
            "small" => TextConfig { hidden: 256, layers: 4, heads: 4, ffn: 1024, vocab: 8192, seq: 128, batch: 32, passage_words: 96, pretrain_steps: 4000, pretrain_lr: 1e-3, init_std: 0.02, finetune_steps: 600, finetune_batch: 32, finetune_lr: 3e-4, max_test: 4000, reinit_layers: 0, ..tiny },
            "base" => TextConfig { hidden: 512, layers: 8, heads: 8, ffn: 2048, vocab: 8192, seq: 128, batch: 64, passage_words: 96, pretrain_steps: 10000, pretrain_lr: 5e-4, init_std: 0.02, finetune_steps: 1500, finetune_batch: 32, finetune_lr: 1e-4, max_test: 100000, reinit_layers: 0, ..tiny },
            other => crate::bail!(Invalid, "unknown demo preset {other:?}: expected tiny, small or base"),
        })
    }
}

fn bert_config(c: &TextConfig) -> BertConfig {
    BertConfig {
        vocab_size: c.vocab,
        hidden_size: c.hidden,
        num_hidden_layers: c.layers,
        num_attention_heads: c.heads,
        intermediate_size: c.ffn,
        max_position_embeddings: c.seq.max(64),
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.0,
        classifier_pooling: "mean".into(),
        initializer_range: c.init_std,
        ..BertConfig::default()
    }
}

/// Writes a model directory with `vocab.txt` from `vocab_dir`, in one commit (complete once config.json exists).
fn save_with_vocab(gpu: &Gpu, dir: &Path, config: &BertConfig, params: &[&crate::nn::Param], vocab_dir: &Path) -> Result<()> {
    crate::checkpoint::commit_model_dir(dir, |tmp| {
        write_model(gpu, tmp, config, params, true)?;
        let vocab = vocab_dir.join("vocab.txt");
        std::fs::copy(&vocab, tmp.join("vocab.txt")).map(|_| ()).map_err(|e| Error::io(&vocab, e))
    })
}

fn examples(tok: &Tokenizer, chapters: &[&Chapter], c: &TextConfig) -> Result<Vec<(Vec<i32>, usize)>> {
    let mut out = Vec::new();
    for ch in chapters {
        for p in austen::passages(&ch.text, c.passage_words) {
            let mut ids = tok.encode(&p)?;
            if ids.len() > c.seq {
                ids.truncate(c.seq - 1);
                ids.push(tok.sep_id());
            }
            out.push((ids, ch.novel));
        }
    }
    Ok(out)
}

/// Runs the text recipe into `demo.out/text/`: pretraining, both fine-tunings, the loss plot; returns its report.
pub fn run(demo: &Demo, c: &TextConfig) -> Result<FamilyReport> {
    let started = Instant::now();
    let gpu = demo.gpu;
    let out = demo.dir("text")?;
    let metrics = out.join("metrics.jsonl");
    if metrics.exists() {
        std::fs::remove_file(&metrics).map_err(|e| Error::io(&metrics, e))?;
    }
    let text = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(AUSTEN).read_to_string(&mut s).map_err(|e| Error::Invalid(format!("bundled austen corpus: {e}")))?;
        s
    };
    let chapters = austen::chapters(&text, Path::new("assets/austen.txt.gz"))?;
    let (test_ch, train_ch): (Vec<&Chapter>, Vec<&Chapter>) = chapters.iter().partition(|c| austen::is_test_chapter(c));

    // A vocabulary from the training chapters only.
    let vocab_dir = out.join("vocab");
    let texts: Vec<&str> = train_ch.iter().map(|c| c.text.as_str()).collect();
    vocab::write(&vocab_dir, &vocab::build(&texts, c.vocab))?;
    let tok = Tokenizer::from_dir(&vocab_dir)?;
    let settings = super::to_settings(c)?;
    let mut c = c.clone();
    c.vocab = tok.vocab_size();
    let special: Vec<i32> = tok.special_ids();

    // Pretraining data: training chapters packed into sequences; held-out MLM on the test chapters.
    let encode_all = |chs: &[&Chapter]| -> Result<Vec<Vec<i32>>> {
        chs.iter()
            .map(|ch| {
                let ids = tok.encode(&ch.text)?;
                Ok(ids[1..ids.len().saturating_sub(1)].to_vec())
            })
            .collect()
    };
    let train_seqs = pack(&encode_all(&train_ch)?, c.seq, tok.cls_id(), tok.sep_id());
    let mut eval_seqs = pack(&encode_all(&test_ch)?, c.seq, tok.cls_id(), tok.sep_id());
    let step = (eval_seqs.len() / 1024).max(1); // about 1000 sequences, 5000 masked tokens
    eval_seqs = eval_seqs.into_iter().step_by(step).collect();

    let config = bert_config(&c);
    let spec = MaskSpec { mask_id: tok.mask_id(), vocab: c.vocab, special: special.clone(), prob: 0.15 };
    let unigram = most_frequent(&train_seqs, &special, c.vocab);
    let mut rng = Rng::new(c.seed);
    let init_state = rng.clone();
    let bert = Bert::new(gpu, &config, &mut rng)?;
    let head = MlmHead::new(gpu, &config, &mut rng)?;
    let mut mlm = MlmTask { bert, head, train: train_seqs, eval: eval_seqs, batch: c.batch, spec, pad: tok.pad_id(), unigram };
    println!("data        {} training chapters, {} test chapters; {} pretraining sequences of {} tokens", train_ch.len(), test_ch.len(), mlm.train.len(), c.seq);

    let pre_dir = out.join("pretrain");
    let pretrain_history = if c.pretrained_from.is_empty() {
        let mut spec = PhaseSpec::adamw(c.pretrain_steps, c.pretrain_lr, c.seed);
        spec.save_every = 100;
        demo.train("text", "pretrain", &mut mlm, spec)?.history
    } else {
        let file = crate::checkpoint::load(&Path::new(&c.pretrained_from).join("model.safetensors"))?;
        let mut params = mlm.bert.params();
        params.extend(mlm.head.params());
        crate::models::bert::load_params(gpu, &file, &params)?;
        Vec::new()
    };
    let (mlm_loss, mlm_acc, uni_acc) = mlm.held_out(gpu)?;
    let mut params = mlm.bert.params();
    params.extend(mlm.head.params());
    save_with_vocab(gpu, &pre_dir, &config, &params, &vocab_dir)?;
    let secs_pre = started.elapsed().as_secs_f64();

    // Fine-tuning data.
    let mut train_ex = examples(&tok, &train_ch, &c)?;
    if c.labelled_per_novel > 0 {
        // An even sample of each novel's training passages: the labelled set is small, the unlabelled text is not.
        let mut kept = Vec::new();
        for novel in 0..austen::NOVELS.len() {
            let of: Vec<_> = train_ex.iter().filter(|(_, y)| *y == novel).cloned().collect();
            let stride = (of.len() / c.labelled_per_novel).max(1);
            kept.extend(of.into_iter().step_by(stride).take(c.labelled_per_novel));
        }
        train_ex = kept;
    }
    let mut test_ex = examples(&tok, &test_ch, &c)?;
    let stride = (test_ex.len() / c.max_test.max(1)).max(1);
    test_ex = test_ex.into_iter().step_by(stride).collect();

    let finetune = |name: &str, bert: Bert| -> Result<(f64, f64, Vec<LogRow>, f64)> {
        let mut hrng = Rng::new(c.seed ^ 0xF1);
        let head = Classifier::new(gpu, "classifier", config.hidden_size, austen::NOVELS.len(), Init::Normal(config.initializer_range), &mut hrng)?;
        let mut task = ClassifyTask::new(bert, head, train_ex.clone(), test_ex.clone(), c.finetune_batch, 0.1);
        task.probe_steps = c.probe_steps;
        let phase = demo.train("text", name, &mut task, PhaseSpec::adamw(c.finetune_steps, c.finetune_lr, c.seed))?;
        let e = task.held_out(gpu)?;
        let dir = out.join(name);
        let mut cfg = config.clone();
        cfg.id2label = Some(austen::NOVELS.iter().enumerate().map(|(i, n)| (i.to_string(), n.to_string())).collect());
        save_with_vocab(gpu, &dir, &cfg, &task.all_params(), &vocab_dir)?;
        Ok((e.accuracy, e.macro_f1, phase.history, phase.seconds))
    };
    // Re-initialised layers get the from-scratch model's initial weights, in tensors of their own (training
    // updates parameters in place, so the two models must share none).
    let mut pretrained = mlm.bert.clone();
    let fresh = Bert::new(gpu, &config, &mut init_state.clone())?;
    let n = pretrained.layers.len();
    for i in n - c.reinit_layers.min(n)..n {
        pretrained.layers[i] = fresh.layers[i].clone();
    }
    let (pre_acc, pre_f1, pre_hist, secs_ft_pre) = finetune("finetune_pretrained", pretrained)?;
    let scratch = Bert::new(gpu, &config, &mut init_state.clone())?; // the same initial weights pretraining started from
    let (scr_acc, scr_f1, scr_hist, secs_ft_scr) = finetune("finetune_scratch", scratch)?;

    let points = |h: &[LogRow]| -> Vec<(f64, f64)> { h.iter().map(|r| (r.step as f64, r.loss)).collect() };
    plot::write_png(
        &out.join("loss.png"),
        &[
            Panel { title: "MLM pretraining".into(), x_label: "step".into(), y_label: "loss".into(), series: vec![Series { label: "masked-LM loss".into(), points: points(&pretrain_history), color: plot::PALETTE[0] }], log_y: false },
            Panel {
                title: "Fine-tuning: which novel?".into(),
                x_label: "step".into(),
                y_label: "loss".into(),
                series: vec![
                    Series { label: "pretrained".into(), points: points(&pre_hist), color: plot::PALETTE[1] },
                    Series { label: "from scratch".into(), points: points(&scr_hist), color: plot::PALETTE[2] },
                ],
                log_y: false,
            },
        ],
        1200,
        480,
    )?;
    println!(
        "text        held-out masked-token accuracy {:.1}% (unigram baseline {:.1}%); novel accuracy {:.1}% pretrained, {:.1}% from scratch{}",
        100.0 * mlm_acc,
        100.0 * uni_acc,
        100.0 * pre_acc,
        100.0 * scr_acc,
        if c.reinit_layers > 0 { format!(" (top {} of {} encoder layers re-initialised before fine-tuning)", c.reinit_layers.min(c.layers), c.layers) } else { String::new() }
    );
    let extra: BTreeMap<String, Value> = [
        ("mlm_accuracy", json!(mlm_acc)),
        ("mlm_unigram_accuracy", json!(uni_acc)),
        ("mlm_loss", json!(mlm_loss)),
        ("pretrained_macro_f1", json!(pre_f1)),
        ("baseline_macro_f1", json!(scr_f1)),
        ("seconds_pretrain", json!(secs_pre)),
        ("seconds_finetune_pretrained", json!(secs_ft_pre)),
        ("seconds_finetune_scratch", json!(secs_ft_scr)),
        ("train_passages", json!(train_ex.len())),
        ("test_passages", json!(test_ex.len())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok(FamilyReport {
        metric: "held-out novel accuracy".into(),
        pretrained: pre_acc,
        baseline: scr_acc,
        baseline_kind: "scratch".into(),
        labels_per_class: (c.labelled_per_novel > 0).then_some(c.labelled_per_novel),
        seconds: started.elapsed().as_secs_f64(),
        command: demo.command("text", &settings)?,
        pictures: vec![Picture { file: "text/loss.png".into(), caption: "Masked-LM pretraining loss, and the two fine-tunings' losses".into() }],
        settings,
        extra,
    })
}
