//! `pretext contrastive pretrain | views`: SimCLR, MoCo v3 and BYOL pretraining of a ViT on images (views made on
//! the GPU), SimCSE on a BERT directory, and a picture of the views a method trains on.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::CheckpointArgs;
use crate::data::corpus::read_lines;
use crate::data::images::{ImageSet, Preprocessor};
use crate::eval::probe::{knn_predict, Features};
use crate::gpu::Gpu;
use crate::models::vit::Vit;
use crate::optim::{Schedule, ScheduleKind};
use crate::pipeline::BertPipeline;
use crate::plot::{self, Panel, Series};
use crate::rng::Rng;
use crate::tasks::contrastive::{optimizer, write_views, ContrastiveSpec, ContrastiveTask, Method, Monitor, SimCseTask};
use crate::train::{metrics, LogRow, TrainConfig, Trainer};
use crate::{Error, Result};

/// `pretext contrastive …`.
#[derive(Subcommand, Debug)]
pub enum ContrastiveCommand {
    /// Contrastive pretraining: SimCLR, MoCo v3 or BYOL of a ViT on images; SimCSE of a BERT directory on sentences.
    Pretrain(PretrainArgs),
    /// A PNG of image pairs: each image beside its two augmented views, as a method draws them.
    Views(ViewsArgs),
}

/// `pretext contrastive pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// simclr, moco, byol (images: --data) or simcse (text: --model, --corpus).
    #[arg(long)]
    pub method: String,
    /// Training images (no labels needed): an IDX images file, an ImageFolder directory, or image files.
    #[arg(long, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Labelled held-out images for the kNN monitor (default: every 20th image of --data, at most 1000, held
    /// out of pretraining; the monitor runs when the images have labels).
    #[arg(long, num_args = 1..)]
    pub eval: Vec<PathBuf>,
    /// simcse: the BERT directory to start from.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// simcse: text files, one sentence per line (.txt or .txt.gz).
    #[arg(long, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// The encoder: tiny, small or base (a plain ViT of those sizes, its image size and channels following the
    /// data) or a ViT config.json.
    #[arg(long, default_value = "tiny")]
    pub config: String,
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u32>,
    /// Passes over the training images or sentences (default 1 when --steps is not given).
    #[arg(long)]
    pub epochs: Option<f64>,
    /// Images (or sentences) per step; each gives two views.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate (default: the method's, see the README).
    #[arg(long)]
    pub lr: Option<f32>,
    /// adamw or lars (default: lars for simclr and byol, adamw for moco and simcse).
    #[arg(long)]
    pub optimizer: Option<String>,
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Warm-up steps (default: 10% of the steps), then cosine decay to 0.
    #[arg(long)]
    pub warmup: Option<u32>,
    /// NT-Xent / InfoNCE temperature (default: simclr 0.5, moco 0.2, simcse 0.05).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Starting momentum of the target network (default: moco 0.99, byol 0.996), raised to 1 on a cosine schedule.
    #[arg(long)]
    pub momentum: Option<f32>,
    /// Hidden width of the projection head (and of the prediction head).
    #[arg(long, default_value_t = 512)]
    pub proj_hidden: usize,
    /// Output width of the projection head.
    #[arg(long, default_value_t = 128)]
    pub proj_dim: usize,
    /// The encoder's features: cls (the `[CLS]` row after the final LayerNorm, HF's ViTModel) or mean (the mean of
    /// the patch tokens, then fc_norm).
    #[arg(long, default_value = "cls")]
    pub pooling: String,
    /// Smallest crop area of the random resized crop (default: the method's recipe, 0.2 at 28x28).
    #[arg(long)]
    pub crop_min: Option<f64>,
    /// Neighbours of the kNN monitor (0: no monitor).
    #[arg(long, default_value_t = 200)]
    pub knn: usize,
    /// Evaluate (kNN monitor) every this many steps (default: 10 times in the run).
    #[arg(long)]
    pub eval_every: Option<u32>,
    /// simcse: longest sentence in tokens (`[CLS]` and `[SEP]` included).
    #[arg(long, default_value_t = 32)]
    pub max_len: usize,
    /// simcse: dropout on the hidden states while training (SimCSE's BERT: 0.1), whatever the model's config says.
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f32,
    /// simcse: dropout on the attention probabilities while training (SimCSE's BERT: 0.1).
    #[arg(long, default_value_t = 0.1)]
    pub attn_dropout: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
}

/// `pretext contrastive views`.
#[derive(Args, Debug)]
pub struct ViewsArgs {
    /// Images: an IDX images file, an ImageFolder directory, or image files.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// simclr, moco or byol: whose views (moco uses BYOL's).
    #[arg(long, default_value = "simclr")]
    pub method: String,
    /// How many images (the first ones).
    #[arg(long, default_value_t = 8)]
    pub count: usize,
    /// Pixels per image pixel in the PNG.
    #[arg(long, default_value_t = 4)]
    pub scale: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The kNN monitor's data: a labelled bank of training images and labelled held-out queries.
struct KnnData {
    bank: Vec<Vec<f32>>,
    bank_labels: Vec<usize>,
    queries: Vec<Vec<f32>>,
    query_labels: Vec<usize>,
    classes: usize,
    k: usize,
}

/// Most bank images the kNN monitor encodes at each evaluation.
const MONITOR_BANK: usize = 5000;
/// kNN temperature (lightly's `knn_predict`).
pub const KNN_TEMPERATURE: f32 = 0.1;

impl KnnData {
    fn monitor(self) -> Monitor<Vit> {
        Box::new(move |gpu: &Gpu, encoder: &Vit| {
            let bank = Features::extract(gpu, encoder, &self.bank, 256)?;
            let queries = Features::extract(gpu, encoder, &self.queries, 256)?;
            let preds = knn_predict(gpu, &bank, &self.bank_labels, &queries, self.classes, self.k, KNN_TEMPERATURE)?;
            Ok(vec![("knn_accuracy".into(), metrics::accuracy(&self.query_labels, &preds))])
        })
    }
}

pub use crate::tasks::contrastive::encoder_config;

pub use crate::tasks::contrastive::save_encoder;

/// The seed the encoder's initial weights are drawn from (`Vit::new` with `Rng::new(init_seed)`): the run's seed.
pub fn init_seed(seed: u64) -> u64 {
    seed
}

fn steps_for(steps: Option<u32>, epochs: Option<f64>, n: usize, batch: usize) -> Result<u32> {
    match (steps, epochs) {
        (Some(0), _) => crate::bail!(Invalid, "--steps must be positive"),
        (Some(s), _) => Ok(s),
        (None, Some(e)) if !(e > 0.0) => crate::bail!(Invalid, "--epochs must be positive"),
        (None, e) => Ok(((e.unwrap_or(1.0) * n as f64 / batch.max(1) as f64).ceil() as u32).max(1)),
    }
}


/// Runs `pretext contrastive pretrain`.
pub fn pretrain(gpu: &Gpu, a: &PretrainArgs) -> Result<()> {
    if a.method == "simcse" {
        return pretrain_text(gpu, a);
    }
    let method: Method = a.method.parse()?;
    if a.data.is_empty() {
        crate::bail!(Invalid, "--method {}: give training images with --data", a.method);
    }
    if a.model.is_some() || !a.corpus.is_empty() {
        crate::bail!(Invalid, "--model and --corpus are for --method simcse; image methods train a fresh ViT on --data");
    }
    if let Some(t) = a.temperature {
        if !(t > 0.0 && t.is_finite()) {
            crate::bail!(Invalid, "--temperature {t} must be positive");
        }
    }
    let batch = a.batch.unwrap_or(256);
    if batch < 2 {
        crate::bail!(Invalid, "--batch {batch}: contrastive learning needs at least 2 images per step (the other images are the negatives, and BatchNorm needs a batch)");
    }
    super::create_out_dir(&a.out)?;
    let data = ImageSet::load(&a.data)?;
    let first = data.images.first().ok_or_else(|| Error::Invalid(format!("{}: no images", a.data[0].display())))?;
    if first.height != first.width {
        crate::bail!(Invalid, "{}: the image is {}x{}; the ViT presets take square images", data.sources[0], first.height, first.width);
    }
    let config = encoder_config(&a.config, first.channels, first.height, &a.pooling)?;
    let (ch, size) = (config.num_channels, config.image_size);
    let mut pre = Preprocessor::raw(size, size);
    pre.do_resize = true;
    let images = pre.apply_all(&data, ch)?;
    let labels = data.labels.clone();
    // The held-out split: --eval, or every 20th image (at most 1000) kept out of pretraining.
    let (mut train, mut train_labels, held, held_labels) = if a.eval.is_empty() {
        let (mut tr, mut trl, mut he, mut hel) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, x) in images.into_iter().enumerate() {
            let y = labels.as_ref().map(|l| l[i]);
            if i % 20 == 19 && he.len() < 1000 {
                he.push(x);
                hel.extend(y);
            } else {
                tr.push(x);
                trl.extend(y);
            }
        }
        (tr, trl, he, hel)
    } else {
        let e = ImageSet::load(&a.eval)?;
        let el = e.labels.clone().unwrap_or_default();
        (images, labels.clone().unwrap_or_default(), pre.apply_all(&e, ch)?, el)
    };
    if train.len() < 2 {
        crate::bail!(Invalid, "{}: {} training images left; contrastive learning needs at least 2", a.data[0].display(), train.len());
    }
    let classes = data.classes.len().max(train_labels.iter().chain(&held_labels).max().map_or(0, |m| m + 1));
    let knn = if a.knn > 0 && train_labels.len() == train.len() && !held.is_empty() && held_labels.len() == held.len() {
        let every = train.len().div_ceil(MONITOR_BANK);
        let bank: Vec<Vec<f32>> = train.iter().step_by(every).cloned().collect();
        let bank_labels: Vec<usize> = train_labels.iter().step_by(every).copied().collect();
        Some(KnnData { bank, bank_labels, queries: held, query_labels: held_labels, classes, k: a.knn })
    } else {
        None
    };
    train_labels.clear(); // pretraining sees no labels
    let n_train = train.len();
    let steps = steps_for(a.steps, a.epochs, n_train, batch)?;
    let opt_name = a.optimizer.clone().unwrap_or_else(|| if method == Method::MoCo { "adamw".into() } else { "lars".into() });
    let (opt, lr) = optimizer(&opt_name, method.name(), batch, a.lr, a.weight_decay)?;
    let warmup = a.warmup.unwrap_or(steps / 10).min(steps);

    let mut spec = ContrastiveSpec::new(method, a.proj_hidden, a.proj_dim);
    if let Some(t) = a.temperature {
        spec.temperature = t;
    }
    if let Some(m) = a.momentum {
        spec.momentum = m;
    }
    spec.validate()?;
    let encoder = Vit::new(gpu, &config, &mut Rng::new(init_seed(a.seed)))?;
    let flat: Vec<f32> = std::mem::take(&mut train).concat();
    let mut task = ContrastiveTask::new(gpu, spec, encoder, flat, batch, steps, &mut Rng::new(a.seed ^ 0x4EAD_5EED))?;
    if let Some(m) = a.crop_min {
        for r in [&mut task.views.first, &mut task.views.second] {
            r.crop_scale.0 = m;
            r.validate()?;
        }
    }
    let has_knn = knn.is_some();
    task.monitor = knn.map(KnnData::monitor);
    let cfg = TrainConfig {
        steps,
        schedule: Schedule { peak_lr: lr, min_lr: 0.0, warmup, total: steps, kind: ScheduleKind::Cosine },
        seed: a.seed,
        log_every: 10,
        eval_every: if has_knn { a.eval_every.unwrap_or((steps / 10).max(1)) } else { 0 },
        save_every: 0,
        keep_last: None,
        out_dir: Some(a.out.clone()),
        progress: true,
        phase: format!("{}_pretrain", method.name()),
    };
    let mut cfg = cfg;
    a.checkpoint.configure(&mut cfg);
    let params: usize = task.params_count();
    eprintln!(
        "contrastive pretrain: {} on {n_train} images of {ch}x{size}x{size} ({}), {params} trainable parameters, {steps} steps of {batch} at lr {lr:.2e} ({opt_name})",
        method.name(),
        if has_knn { "kNN monitor on the held-out split" } else { "no labels: no kNN monitor" },
    );
    let mut trainer = Trainer::new(gpu, cfg, opt);
    a.checkpoint.resume(&mut trainer, &mut task)?;
    // The monitor on the initial weights: where the curve starts (the `init` baseline of the kNN).
    let mut init_knn = None;
    if has_knn && trainer.step == 0 {
        let m = crate::train::Task::evaluate(&mut task, gpu)?;
        init_knn = m.iter().find(|(k, _)| k == "knn_accuracy").map(|(_, v)| *v);
        if let Some(v) = init_knn {
            eprintln!("held-out kNN accuracy at the initial weights: {:.2}%", 100.0 * v);
        }
    }
    let started = std::time::Instant::now();
    let last = trainer.run(&mut task)?;
    let seconds = started.elapsed().as_secs_f64();
    save_encoder(gpu, &a.out, &task.encoder, init_seed(a.seed), &pre)?;
    write_curves(&a.out.join("loss.png"), method.name(), &trainer.history, init_knn)?;
    let knn_acc = last.iter().find(|(k, _)| k == "knn_accuracy").map(|(_, v)| *v);
    match knn_acc {
        Some(acc) => println!("{}: held-out kNN accuracy {:.2}% after {steps} steps ({seconds:.0} s)", method.name(), 100.0 * acc),
        None => println!("{}: trained {steps} steps ({seconds:.0} s)", method.name()),
    }
    println!("wrote {} (the encoder as an HF ViTModel directory, metrics.jsonl, loss.png)", a.out.display());
    Ok(())
}

/// loss.png: the training loss and, when monitored, the held-out kNN accuracy against the step (from the initial
/// weights' at step 0 when known).
fn write_curves(path: &Path, method: &str, history: &[LogRow], init_knn: Option<f64>) -> Result<()> {
    let loss: Vec<(f64, f64)> = history.iter().map(|r| (r.step as f64, r.loss)).collect();
    let knn: Vec<(f64, f64)> =
        init_knn.map(|v| (0.0, v)).into_iter().chain(history.iter().filter_map(|r| r.extra.get("knn_accuracy").map(|v| (r.step as f64, *v)))).collect();
    let mut panels = vec![Panel {
        title: format!("{method} pretraining"),
        x_label: "step".into(),
        y_label: "loss".into(),
        series: vec![Series { label: "training batch".into(), points: loss, color: plot::PALETTE[0] }],
        log_y: false,
    }];
    if !knn.is_empty() {
        panels.push(Panel {
            title: "held-out kNN accuracy (k 200, t 0.1)".into(),
            x_label: "step".into(),
            y_label: "accuracy".into(),
            series: vec![Series { label: "kNN".into(), points: knn, color: plot::PALETTE[1] }],
            log_y: false,
        });
    }
    plot::write_png(path, &panels, 800 * panels.len() as u32, 500)
}

/// SimCSE: the BERT directory --model, sentences from --corpus, NT-Xent with τ 0.05 (default).
fn pretrain_text(gpu: &Gpu, a: &PretrainArgs) -> Result<()> {
    let Some(model_dir) = &a.model else {
        crate::bail!(Invalid, "--method simcse needs --model DIR (a BERT directory) and --corpus FILE...");
    };
    if a.corpus.is_empty() {
        crate::bail!(Invalid, "--method simcse needs --corpus FILE... (one sentence per line)");
    }
    if !a.data.is_empty() {
        crate::bail!(Invalid, "--data is for image methods; --method simcse reads --corpus");
    }
    for (flag, p) in [("--dropout", a.dropout), ("--attn-dropout", a.attn_dropout)] {
        if !(0.0..1.0).contains(&p) {
            crate::bail!(Invalid, "{flag} {p}: a dropout probability must lie in [0, 1) (SimCSE's BERT: 0.1)");
        }
    }
    let config_path = model_dir.join("config.json");
    let config: serde_json::Value = crate::models::hf::read_config(&config_path)?;
    let model_type = config.get("model_type").and_then(|m| m.as_str()).unwrap_or("(none)");
    if model_type != "bert" {
        crate::bail!(Invalid, "{}: model_type {model_type:?} is not a BERT encoder; --method simcse needs a BERT directory", config_path.display());
    }
    let temperature = a.temperature.unwrap_or(0.05);
    let batch = a.batch.unwrap_or(64);
    let mut model = BertPipeline::load(gpu, model_dir)?;
    let lines = read_lines(&a.corpus)?;
    let max_len = a.max_len.clamp(3, model.bert.config.max_position_embeddings);
    let sep = model.tokenizer.sep_id();
    let sentences: Vec<Vec<i32>> = lines
        .iter()
        .map(|l| {
            let mut ids = model.encode(l)?;
            if ids.len() > max_len {
                ids.truncate(max_len - 1);
                ids.push(sep);
            }
            Ok(ids)
        })
        .collect::<Result<_>>()?;
    super::create_out_dir(&a.out)?;
    let steps = steps_for(a.steps, a.epochs, sentences.len(), batch)?;
    let (opt, lr) = optimizer(a.optimizer.as_deref().unwrap_or("adamw"), "simcse", batch, a.lr, a.weight_decay)?;
    let warmup = a.warmup.unwrap_or(0).min(steps);
    let pad = model.tokenizer.pad_id();
    // dropout is SimCSE's augmentation: the two copies of a sentence differ only by their masks
    let mut bert = model.bert.clone();
    bert.config.hidden_dropout_prob = a.dropout;
    bert.config.attention_probs_dropout_prob = a.attn_dropout;
    for l in &mut bert.layers {
        l.dropout = a.dropout;
        l.attn_dropout = a.attn_dropout;
    }
    let n = sentences.len();
    let mut task = SimCseTask::new(bert, sentences, batch, temperature, pad)?;
    let mut cfg = TrainConfig {
        steps,
        schedule: Schedule { peak_lr: lr, min_lr: 0.0, warmup, total: steps, kind: ScheduleKind::Linear },
        seed: a.seed,
        log_every: 10,
        eval_every: 0,
        save_every: 0,
        keep_last: None,
        out_dir: Some(a.out.clone()),
        progress: true,
        phase: "simcse_pretrain".into(),
    };
    a.checkpoint.configure(&mut cfg);
    eprintln!(
        "contrastive pretrain: simcse on {n} sentences, {steps} steps of {batch} (each twice) at lr {lr:.2e}, temperature {temperature}, dropout {} (attention {})",
        a.dropout, a.attn_dropout
    );
    let mut trainer = Trainer::new(gpu, cfg, opt);
    a.checkpoint.resume(&mut trainer, &mut task)?;
    let started = std::time::Instant::now();
    trainer.run(&mut task)?;
    let seconds = started.elapsed().as_secs_f64();
    model.bert = task.bert;
    let mut config = model.bert.config.clone();
    config.architectures = Some(vec!["BertModel".into()]);
    config.classifier_pooling = "mean".into();
    let params = model.bert.params();
    crate::checkpoint::commit_model_dir(&a.out, |tmp| {
        crate::models::bert::write_model(gpu, tmp, &config, &params, false)?;
        super::bert::copy_tokenizer_files(model_dir, tmp)
    })?;
    write_curves(&a.out.join("loss.png"), "simcse", &trainer.history, None)?;
    println!("simcse: trained {steps} steps ({seconds:.0} s); wrote {} (a BERT directory, mean pooling)", a.out.display());
    Ok(())
}

/// Runs `pretext contrastive views`.
pub fn views(gpu: &Gpu, a: &ViewsArgs) -> Result<()> {
    if a.count == 0 {
        crate::bail!(Invalid, "--count must be at least 1");
    }
    let set = ImageSet::load(&a.data)?;
    let set = set.take(a.count.min(set.len()));
    let first = set.images.first().ok_or_else(|| Error::Invalid(format!("{}: no images", a.data[0].display())))?;
    let (ch, h, w) = (first.channels, first.height, first.width);
    let images = Preprocessor::raw(h, w).apply_all(&set, ch)?;
    let n = images.len();
    write_views(gpu, &a.out, &images, [ch, h, w], &a.method, a.seed, a.scale)?;
    println!("wrote {} ({n} images and their {} views)", a.out.display(), a.method);
    Ok(())
}
