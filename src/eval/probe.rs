//! Frozen-feature evaluation of any image encoder: a linear probe trained on the GPU and a kNN classifier, the
//! two measures self-supervised features are read by (lightly, solo-learn).
//!
//! - **Features**: the encoder's output for each preprocessed image, computed once with no gradient (the
//!   encoder is frozen), or the pixels themselves (`raw`), or the same encoder at its initial weights (`init`).
//! - **Linear probe**: features standardised with the training set's per-dimension mean and standard deviation
//!   (a dimension that never varies is only centred), then a linear layer (`Classifier`, zero-initialised:
//!   softmax regression is convex, so the result depends on the seed only through the batches) trained with
//!   cross-entropy by AdamW (β 0.9/0.999, ε 1e-8; lr 1e-3 with cosine decay to 0, no warm-up; weight decay
//!   5e-4 on the weight, none on the bias; no dropout) for 3000 steps of batches of 256 drawn with
//!   replacement: about 13 epochs of 60,000 images, or 770 of 1,000 (100 a class). On the bundled
//!   Fashion-MNIST pixels lr 1e-3 did best of 1e-3, 3e-3 and 1e-2 (0.852 / 0.846 / 0.834 with all 10,000
//!   labels), and weight decay 5e-4 against 5e-2 made no difference.
//! - **Weight decay chosen by validation** (`WeightDecay::Validated`, `pretext probe --weight-decay auto`): with
//!   few labels the pixels want far more decay than the default (100 Fashion-MNIST images a class: 78.0% at
//!   5e-4, 79.8% at 10), while an encoder's 128 features do not; comparing feature sets fairly means each gets
//!   its own. Every value of `WEIGHT_DECAY_GRID` trains the probe on four fifths of the labelled training
//!   features (a fifth of each class held out, drawn with the seed), the one most accurate on the held-out
//!   fifth wins (ties: the smaller), and the probe is trained again on all of them with it.
//! - **kNN**: lightly's `knn_predict` (k = 200, temperature 0.1): features L2-normalised (not standardised),
//!   cosine similarity to every training feature (products on the GPU), the k most similar, each voting for
//!   its class with weight exp(sim / t); the class with the largest sum wins (ties: the lower class index).
use crate::autograd::{ops, Tape, Var};
use crate::gpu::Gpu;
use crate::kernels::matmul::matmul;
use crate::models::heads::Classifier;
use crate::models::Encoder;
use crate::nn::{Init, Param};
use crate::optim::{Optimizer, Schedule, ScheduleKind};
use crate::rng::Rng;
use crate::train::{metrics, Task, TrainConfig, Trainer};
use crate::{Error, Result, Tensor};

/// Which features a probe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// The trained encoder's output.
    Model,
    /// The preprocessed pixels.
    Raw,
    /// The same encoder at its initial weights.
    Init,
}

impl std::str::FromStr for FeatureKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<FeatureKind> {
        match s {
            "model" => Ok(FeatureKind::Model),
            "raw" => Ok(FeatureKind::Raw),
            "init" => Ok(FeatureKind::Init),
            other => Err(Error::Invalid(format!("unknown --features {other:?}: expected model, raw or init"))),
        }
    }
}

impl FeatureKind {
    /// "model", "raw" or "init".
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Model => "model",
            FeatureKind::Raw => "raw",
            FeatureKind::Init => "init",
        }
    }
}

/// Feature vectors on the host, `[n, dim]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub data: Vec<f32>,
    pub dim: usize,
}

impl Features {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector i.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The vectors at `index`, in that order.
    pub fn subset(&self, index: &[usize]) -> Features {
        Features { data: index.iter().flat_map(|&i| self.row(i).iter().copied()).collect(), dim: self.dim }
    }

    /// The pixels of preprocessed images as features.
    pub fn raw(images: &[Vec<f32>]) -> Result<Features> {
        let dim = images.first().map_or(0, Vec::len);
        if let Some(i) = images.iter().position(|x| x.len() != dim) {
            crate::bail!(Shape, "raw features: image {i} has {} values, image 0 has {dim}", images[i].len());
        }
        Ok(Features { data: images.concat(), dim })
    }

    /// The encoder's output for every image, in batches of `batch`, with no gradient recorded.
    pub fn extract(gpu: &Gpu, encoder: &dyn Encoder<Example = Vec<f32>>, images: &[Vec<f32>], batch: usize) -> Result<Features> {
        Features::extract_blocks(gpu, encoder, images, batch, 1)
    }

    /// The encoder's pooled features of its last `blocks` blocks, concatenated (`Encoder::encode_blocks`), for
    /// every image.
    pub fn extract_blocks(gpu: &Gpu, encoder: &dyn Encoder<Example = Vec<f32>>, images: &[Vec<f32>], batch: usize, blocks: usize) -> Result<Features> {
        let dim = encoder.dim() * blocks;
        let mut data = Vec::with_capacity(images.len() * dim);
        for chunk in images.chunks(batch.max(1)) {
            let refs: Vec<&Vec<f32>> = chunk.iter().collect();
            let mut tape = Tape::inference(gpu);
            let f = encoder.encode_blocks(&mut tape, &refs, blocks)?;
            let v = tape.value(f);
            v.expect_shape("probe features", "encoder output", &[chunk.len(), dim])?;
            data.extend(v.to_vec::<f32>(gpu)?);
        }
        Ok(Features { data, dim })
    }
}

/// How the linear probe trains (the defaults are the ones the module doc states).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearProbe {
    pub steps: u32,
    pub batch: usize,
    pub lr: f32,
    pub weight_decay: WeightDecay,
    /// Standardise features with the training set's statistics first.
    pub standardize: bool,
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
}

impl Default for LinearProbe {
    fn default() -> Self {
        LinearProbe { steps: 3000, batch: 256, lr: 1e-3, weight_decay: WeightDecay::Fixed(5e-4), standardize: true, seed: 0, progress: false }
    }
}

impl LinearProbe {
    /// The weight decay this probe trains with on these training features: the fixed value, or the one
    /// `choose_weight_decay` picks.
    pub fn weight_decay_for(&self, gpu: &Gpu, train: &Features, train_labels: &[usize], classes: usize) -> Result<f32> {
        match self.weight_decay {
            WeightDecay::Fixed(wd) => Ok(wd),
            WeightDecay::Validated => Ok(choose_weight_decay(gpu, train, train_labels, classes, self)?.0),
        }
    }
}

/// The linear probe's AdamW weight decay (on the weight; the bias is not decayed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightDecay {
    /// This value.
    Fixed(f32),
    /// The value of `WEIGHT_DECAY_GRID` most accurate on a held-out fifth of the labelled training features.
    Validated,
}

impl std::str::FromStr for WeightDecay {
    type Err = Error;
    /// "auto" or a number ≥ 0.
    fn from_str(s: &str) -> Result<WeightDecay> {
        if s == "auto" {
            return Ok(WeightDecay::Validated);
        }
        match s.parse::<f32>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(WeightDecay::Fixed(v)),
            _ => Err(Error::Invalid(format!("weight decay {s:?}: expected \"auto\" or a number of at least 0"))),
        }
    }
}

/// The weight decays `WeightDecay::Validated` chooses among: decades from 1e-3 to 100.
pub const WEIGHT_DECAY_GRID: [f32; 6] = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0];

/// Indices of `labels` split into (fit, held out): a fifth of each class (rounded up; none of a class with a
/// single example) held out, drawn with `seed`; both lists sorted.
pub fn holdout_split(labels: &[usize], seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    Rng::new(seed ^ 0x40_1D0F).shuffle(&mut order);
    let mut quota = vec![0usize; labels.iter().max().map_or(0, |m| m + 1)];
    labels.iter().for_each(|&l| quota[l] += 1);
    quota.iter_mut().for_each(|q| *q = if *q < 2 { 0 } else { q.div_ceil(5) });
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for i in order {
        if quota[labels[i]] > 0 {
            quota[labels[i]] -= 1;
            held.push(i);
        } else {
            fit.push(i);
        }
    }
    fit.sort_unstable();
    held.sort_unstable();
    (fit, held)
}

/// `WeightDecay::Validated`'s choice for these training features: every value of `WEIGHT_DECAY_GRID` with its
/// held-out accuracy, and the chosen value (the most accurate; ties: the smaller).
pub fn choose_weight_decay(gpu: &Gpu, train: &Features, train_labels: &[usize], classes: usize, cfg: &LinearProbe) -> Result<(f32, Vec<(f32, f64)>)> {
    check_labels("linear probe", train, train_labels, train, train_labels, classes)?;
    let (fit, held) = holdout_split(train_labels, cfg.seed);
    if held.is_empty() || fit.is_empty() {
        crate::bail!(Invalid, "linear probe: choosing the weight decay holds out a fifth of each class, and no class here has 2 labelled examples");
    }
    let pick = |idx: &[usize]| (train.subset(idx), idx.iter().map(|&i| train_labels[i]).collect::<Vec<_>>());
    let ((ff, fl), (hf, hl)) = (pick(&fit), pick(&held));
    let mut scores = Vec::with_capacity(WEIGHT_DECAY_GRID.len());
    for wd in WEIGHT_DECAY_GRID {
        let c = LinearProbe { weight_decay: WeightDecay::Fixed(wd), progress: false, ..*cfg };
        scores.push((wd, linear_probe(gpu, &ff, &fl, &hf, &hl, classes, &c)?));
    }
    let best = scores.iter().fold(scores[0], |b, &s| if s.1 > b.1 { s } else { b });
    Ok((best.0, scores))
}

/// Per-dimension (mean, 1/std) of `f` (1/std = 1 where a dimension does not vary).
fn moments(f: &Features) -> (Vec<f32>, Vec<f32>) {
    let (n, d) = (f.len().max(1) as f64, f.dim);
    let mut mean = vec![0f64; d];
    for i in 0..f.len() {
        for (m, v) in mean.iter_mut().zip(f.row(i)) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0f64; d];
    for i in 0..f.len() {
        for ((s, v), m) in var.iter_mut().zip(f.row(i)).zip(&mean) {
            *s += (*v as f64 - m).powi(2);
        }
    }
    let inv: Vec<f32> = var.iter().map(|s| (s / n).sqrt()).map(|sd| if sd > 1e-6 { (1.0 / sd) as f32 } else { 1.0 }).collect();
    (mean.iter().map(|m| *m as f32).collect(), inv)
}

fn standardized(f: &Features, mean: &[f32], inv: &[f32]) -> Features {
    let data = f.data.chunks(f.dim.max(1)).flat_map(|r| r.iter().zip(mean).zip(inv).map(|((v, m), s)| (v - m) * s)).collect();
    Features { data, dim: f.dim }
}

/// The probe's training task: batches of features and labels uploaded each step.
struct ProbeTask<'a> {
    head: Classifier,
    feats: &'a Features,
    labels: &'a [usize],
    batch: usize,
}

impl Task for ProbeTask<'_> {
    fn params(&self) -> Vec<&Param> {
        self.head.params()
    }

    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.below(self.labels.len())).collect();
        let mut x = Vec::with_capacity(self.batch * self.feats.dim);
        for &i in &picks {
            x.extend_from_slice(self.feats.row(i));
        }
        let y: Vec<i32> = picks.iter().map(|&i| self.labels[i] as i32).collect();
        let gpu = tape.gpu();
        let xv = tape.constant(Tensor::from_slice(gpu, &x, &[self.batch, self.feats.dim])?);
        let logits = self.head.forward(tape, xv, 0.0)?;
        ops::cross_entropy(tape, logits, &Tensor::from_slice(gpu, &y, &[y.len()])?)
    }
}

/// Trains a linear classifier on `train` (labels in [0, classes)) and returns its accuracy on `eval`.
pub fn linear_probe(
    gpu: &Gpu,
    train: &Features,
    train_labels: &[usize],
    eval: &Features,
    eval_labels: &[usize],
    classes: usize,
    cfg: &LinearProbe,
) -> Result<f64> {
    check_labels("linear probe", train, train_labels, eval, eval_labels, classes)?;
    let weight_decay = cfg.weight_decay_for(gpu, train, train_labels, classes)?;
    let (train, eval) = if cfg.standardize {
        let (mean, inv) = moments(train);
        (standardized(train, &mean, &inv), standardized(eval, &mean, &inv))
    } else {
        (train.clone(), eval.clone())
    };
    let mut rng = Rng::new(cfg.seed ^ 0x9E0B_E5EE);
    let head = Classifier::new(gpu, "classifier", train.dim, classes, Init::Zeros, &mut rng)?;
    let mut task = ProbeTask { head, feats: &train, labels: train_labels, batch: cfg.batch.max(1) };
    let tc = TrainConfig {
        steps: cfg.steps,
        schedule: Schedule { peak_lr: cfg.lr, min_lr: 0.0, warmup: 0, total: cfg.steps, kind: ScheduleKind::Cosine },
        seed: cfg.seed,
        log_every: 100,
        eval_every: 0,
        save_every: 0,
        keep_last: None,
        out_dir: None,
        progress: cfg.progress,
        phase: "probe".into(),
    };
    let mut trainer = Trainer::new(gpu, tc, Optimizer::adamw(weight_decay));
    trainer.run(&mut task)?;
    let mut preds = Vec::with_capacity(eval.len());
    for start in (0..eval.len()).step_by(1024) {
        let n = (eval.len() - start).min(1024);
        let x = Tensor::from_slice(gpu, &eval.data[start * eval.dim..(start + n) * eval.dim], &[n, eval.dim])?;
        let mut tape = Tape::inference(gpu);
        let xv = tape.constant(x);
        let logits = task.head.forward(&mut tape, xv, 0.0)?;
        preds.extend(metrics::argmax_rows(&tape.value(logits).to_vec::<f32>(gpu)?, classes));
    }
    Ok(metrics::accuracy(eval_labels, &preds))
}

fn check_labels(op: &str, train: &Features, train_labels: &[usize], eval: &Features, eval_labels: &[usize], classes: usize) -> Result<()> {
    if train.is_empty() || eval.is_empty() {
        crate::bail!(Invalid, "{op}: needs training and evaluation features (got {} and {})", train.len(), eval.len());
    }
    if train.dim != eval.dim {
        crate::bail!(Shape, "{op}: training features have {} dimensions, evaluation features {}", train.dim, eval.dim);
    }
    if train_labels.len() != train.len() || eval_labels.len() != eval.len() {
        crate::bail!(
            Invalid,
            "{op}: {} training labels for {} features, {} evaluation labels for {}",
            train_labels.len(),
            train.len(),
            eval_labels.len(),
            eval.len()
        );
    }
    if let Some(l) = train_labels.iter().chain(eval_labels).find(|&&l| l >= classes) {
        crate::bail!(Invalid, "{op}: label {l} is outside the {classes} classes");
    }
    Ok(())
}

/// L2-normalised rows (a zero row stays zero).
fn normalized(f: &Features) -> Vec<f32> {
    f.data
        .chunks(f.dim.max(1))
        .flat_map(|r| {
            let norm = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            let s = if norm > 0.0 { (1.0 / norm) as f32 } else { 0.0 };
            r.iter().map(move |v| v * s)
        })
        .collect()
}

/// lightly's `knn_predict`: the predicted class of every `eval` vector from its `k` most cosine-similar
/// `train` vectors, each voting exp(sim / temperature) for its label.
pub fn knn_predict(
    gpu: &Gpu,
    train: &Features,
    train_labels: &[usize],
    eval: &Features,
    classes: usize,
    k: usize,
    temperature: f32,
) -> Result<Vec<usize>> {
    knn_predict_blocks(gpu, train, train_labels, eval, classes, k, temperature, 64 << 20)
}

/// `knn_predict` with the training bank split into pieces, and the queries into chunks, of at most
/// `max_bytes` (and at most the adapter's storage binding) each; the result does not depend on it.
#[allow(clippy::too_many_arguments)]
pub fn knn_predict_blocks(
    gpu: &Gpu,
    train: &Features,
    train_labels: &[usize],
    eval: &Features,
    classes: usize,
    k: usize,
    temperature: f32,
    max_bytes: usize,
) -> Result<Vec<usize>> {
    if k == 0 || !(temperature > 0.0) {
        crate::bail!(Invalid, "knn: k must be at least 1 and the temperature positive (got k {k}, t {temperature})");
    }
    let dummy: Vec<usize> = vec![0; eval.len()];
    check_labels("knn", train, train_labels, eval, &dummy, classes)?;
    let (n, d) = (train.len(), train.dim);
    let k = k.min(n);
    let bank = normalized(train);
    let queries = normalized(eval);
    // Bank pieces and query chunks small enough for one storage binding (and 64 MiB of similarities).
    let max_bytes = (gpu.limits().max_storage_buffer_binding_size as usize).min(max_bytes).max(4);
    let piece = (max_bytes / (4 * d.max(1))).clamp(1, n);
    let pieces: Vec<(usize, Tensor)> = (0..n)
        .step_by(piece)
        .map(|s| {
            let m = (n - s).min(piece);
            Ok((s, Tensor::from_slice(gpu, &bank[s * d..(s + m) * d], &[m, d])?))
        })
        .collect::<Result<_>>()?;
    let chunk = (max_bytes / (4 * piece.max(d))).clamp(1, 256);
    let mut preds = Vec::with_capacity(eval.len());
    let mut sims = vec![0f32; chunk * n];
    for q0 in (0..eval.len()).step_by(chunk) {
        let m = (eval.len() - q0).min(chunk);
        let q = Tensor::from_slice(gpu, &queries[q0 * d..(q0 + m) * d], &[m, d])?;
        for (s, p) in &pieces {
            let w = p.shape()[0];
            let block = matmul(gpu, &q, p, false, true, None)?.to_vec::<f32>(gpu)?; // [m, w]
            for r in 0..m {
                sims[r * n + s..r * n + s + w].copy_from_slice(&block[r * w..(r + 1) * w]);
            }
        }
        let mut order: Vec<usize> = Vec::with_capacity(n);
        for r in 0..m {
            let row = &sims[r * n..(r + 1) * n];
            order.clear();
            order.extend(0..n);
            // the k largest similarities (ties broken by the lower index, for a deterministic result)
            let cmp = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
            if k < n {
                order.select_nth_unstable_by(k - 1, cmp);
            }
            let mut votes = vec![0f64; classes];
            for &j in &order[..k] {
                votes[train_labels[j]] += (row[j] as f64 / temperature as f64).exp();
            }
            let best = (0..classes).fold(0, |b, c| if votes[c] > votes[b] { c } else { b });
            preds.push(best);
        }
    }
    Ok(preds)
}

/// kNN accuracy on `eval` (see `knn_predict`).
#[allow(clippy::too_many_arguments)]
pub fn knn_accuracy(
    gpu: &Gpu,
    train: &Features,
    train_labels: &[usize],
    eval: &Features,
    eval_labels: &[usize],
    classes: usize,
    k: usize,
    temperature: f32,
) -> Result<f64> {
    check_labels("knn", train, train_labels, eval, eval_labels, classes)?;
    let preds = knn_predict(gpu, train, train_labels, eval, classes, k, temperature)?;
    Ok(metrics::accuracy(eval_labels, &preds))
}

/// What `pretext probe` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeResult {
    pub linear_accuracy: f64,
    pub knn_accuracy: f64,
    /// The labelled training images per class, or null for all.
    pub labels_per_class: Option<usize>,
    /// "model", "raw" or "init".
    pub features: String,
    /// The encoder blocks whose pooled features were concatenated (1: the encoder's output alone).
    pub blocks: usize,
    /// The linear probe's weight decay (with `WeightDecay::Validated`, the value it chose).
    pub weight_decay: f32,
}

/// Everything `pretext probe` takes.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    /// A model directory the engine wrote (any image family `models::load_image_encoder` knows).
    pub model: std::path::PathBuf,
    /// Labelled training images (an IDX file with its labels beside it, or an ImageFolder directory).
    pub train: Vec<std::path::PathBuf>,
    /// Labelled evaluation images.
    pub eval: Vec<std::path::PathBuf>,
    /// Train on this many images per class (drawn with `seed`) instead of all.
    pub labels_per_class: Option<usize>,
    /// Neighbours of the kNN classifier.
    pub knn: usize,
    pub features: FeatureKind,
    /// Concatenate the pooled features of the encoder's last `blocks` blocks (1: its output alone; DINO's
    /// protocol for ViTs: 4); must be 1 for raw features.
    pub blocks: usize,
    pub seed: u64,
    /// How the linear probe trains.
    pub linear: LinearProbe,
}

/// Loads the encoder and the images, computes the features and runs both probes.
pub fn probe(gpu: &Gpu, r: &ProbeRequest) -> Result<ProbeResult> {
    use crate::data::images::{ImageSet, Preprocessor};
    use crate::models::{load_image_encoder, Weights};
    if r.features == FeatureKind::Raw && r.blocks != 1 {
        crate::bail!(Invalid, "--blocks {} reads encoder blocks; raw features have none (use --blocks 1)", r.blocks);
    }
    let weights = if r.features == FeatureKind::Model { Weights::Trained } else { Weights::Init };
    let enc = load_image_encoder(gpu, &r.model, weights)?;
    let pre = Preprocessor::from_dir(&r.model, enc.height, enc.width)?;
    let mut train = ImageSet::load(&r.train)?;
    train.labels("pretext probe --train")?;
    if let Some(n) = r.labels_per_class {
        if n == 0 {
            crate::bail!(Invalid, "--labels-per-class must be at least 1");
        }
        train = train.per_class(n, r.seed)?;
    }
    let eval = ImageSet::load(&r.eval)?;
    let (train_labels, eval_labels) = (train.labels("pretext probe --train")?.to_vec(), eval.labels("pretext probe --eval")?.to_vec());
    let classes = train.classes.len().max(eval.classes.len()).max(train_labels.iter().chain(&eval_labels).max().map_or(0, |m| m + 1));
    let (xt, xe) = (pre.apply_all(&train, enc.channels)?, pre.apply_all(&eval, enc.channels)?);
    let (ft, fe) = match r.features {
        FeatureKind::Raw => (Features::raw(&xt)?, Features::raw(&xe)?),
        _ => {
            let e = enc.encoder.as_ref();
            (Features::extract_blocks(gpu, e, &xt, 256, r.blocks)?, Features::extract_blocks(gpu, e, &xe, 256, r.blocks)?)
        }
    };
    let cfg = LinearProbe { seed: r.seed, ..r.linear };
    let weight_decay = cfg.weight_decay_for(gpu, &ft, &train_labels, classes)?;
    let cfg = LinearProbe { weight_decay: WeightDecay::Fixed(weight_decay), ..cfg };
    let linear_accuracy = linear_probe(gpu, &ft, &train_labels, &fe, &eval_labels, classes, &cfg)?;
    let knn_accuracy = knn_accuracy(gpu, &ft, &train_labels, &fe, &eval_labels, classes, r.knn, 0.1)?;
    Ok(ProbeResult { linear_accuracy, knn_accuracy, labels_per_class: r.labels_per_class, features: r.features.name().into(), blocks: r.blocks, weight_decay })
}

/// Probe accuracies over several labelled draws (one entry per seed).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Draws {
    pub linear: Vec<f64>,
    pub knn: Vec<f64>,
}

impl Draws {
    /// The mean linear-probe accuracy.
    pub fn linear_mean(&self) -> f64 {
        mean(&self.linear)
    }

    /// The mean kNN accuracy.
    pub fn knn_mean(&self) -> f64 {
        mean(&self.knn)
    }
}

/// The mean of `v` (0 when empty).
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// Both probes of frozen features once per seed: the seed draws `per_class` labelled training examples of
/// every class (None: all of them, the seed then only seeds the linear probe) and trains the linear probe.
#[allow(clippy::too_many_arguments)]
pub fn probe_draws(
    gpu: &Gpu,
    train: &Features,
    train_labels: &[usize],
    eval: &Features,
    eval_labels: &[usize],
    classes: usize,
    per_class: Option<usize>,
    seeds: &[u64],
    cfg: &LinearProbe,
    k: usize,
) -> Result<Draws> {
    let mut d = Draws { linear: Vec::new(), knn: Vec::new() };
    for &seed in seeds {
        let (ft, lt) = match per_class {
            Some(n) => {
                let idx = crate::data::images::per_class_index(train_labels, classes, n, seed)
                    .map_err(|(c, have)| crate::Error::Invalid(format!("class {c} has only {have} labelled examples, fewer than the {n} per class asked for")))?;
                (train.subset(&idx), idx.iter().map(|&i| train_labels[i]).collect::<Vec<_>>())
            }
            None => (train.clone(), train_labels.to_vec()),
        };
        d.linear.push(linear_probe(gpu, &ft, &lt, eval, eval_labels, classes, &LinearProbe { seed, ..*cfg })?);
        d.knn.push(knn_accuracy(gpu, &ft, &lt, eval, eval_labels, classes, k, 0.1)?);
    }
    Ok(d)
}
