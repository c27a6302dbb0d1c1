//! Contrastive pretraining as `Task`s: SimCLR, MoCo v3 and BYOL on a ViT from two augmented views of each image
//! (made on the GPU, `kernels::augment`), and SimCSE on BERT (the same sentence twice, dropout the only
//! augmentation).
//!
//! - **SimCLR** (Chen et al. 2020): encoder (the ViT, pooled), projection MLP, NT-Xent over the 2N views with
//!   temperature τ (0.5).
//! - **MoCo v3** (Chen, Xie, He 2021): query encoder + projection (3 layers) + prediction MLP; a momentum key
//!   encoder + projection, an EMA of the query's with momentum from `momentum` to 1 on a cosine schedule;
//!   loss = ctr(q1, k2) + ctr(q2, k1), ctr(q, k) = 2τ·CE(q̂·k̂ᵀ/τ, labels = the diagonal), τ = 0.2.
//! - **BYOL** (Grill et al. 2020): online encoder + projection + prediction; target encoder + projection by EMA
//!   (0.996 → 1, cosine); loss = mean over the batch of (2 − 2 cos(p1, z2)) + (2 − 2 cos(p2, z1)).
//!
//! Each view's batch goes through the heads separately (BatchNorm statistics per view, as lightly's examples
//! pass x0 and x1 through the model one after the other); the encoder, which has no BatchNorm, takes both views
//! in one batch. The target network runs in training mode without gradients (its BatchNorm running statistics
//! follow its own batches, as a deep-copied PyTorch module in train mode) and is updated after each optimizer
//! step: target ← m·target + (1 − m)·online, m(k) = 1 − (1 − m₀)(1 + cos(πk/K))/2 at step k of K.
use crate::autograd::{ops, Tape, Var};
use crate::data::views::ViewPair;
use crate::gpu::Gpu;
use crate::kernels::augment::{augment, ViewParams};
use crate::models::bert::{Bert, BertBatch};
use crate::models::heads::MlpHead;
use crate::models::vit::{ViTConfig, Vit};
use crate::nn::Param;
use crate::optim::{ema_update, Optimizer, Rule};
use crate::rng::Rng;
use crate::plot::{self, Picture};
use crate::train::Task;
use crate::{Error, Result, Tensor};

/// Which contrastive method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    SimClr,
    MoCo,
    Byol,
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Method> {
        match s {
            "simclr" => Ok(Method::SimClr),
            "moco" => Ok(Method::MoCo),
            "byol" => Ok(Method::Byol),
            other => Err(Error::Invalid(format!("unknown method {other:?}: expected simclr, moco, byol (images) or simcse (text)"))),
        }
    }
}

impl Method {
    /// "simclr", "moco" or "byol".
    pub fn name(self) -> &'static str {
        match self {
            Method::SimClr => "simclr",
            Method::MoCo => "moco",
            Method::Byol => "byol",
        }
    }

    /// The paper's temperature (SimCLR 0.5, MoCo v3 0.2; BYOL has none).
    pub fn default_temperature(self) -> f32 {
        match self {
            Method::SimClr => 0.5,
            Method::MoCo => 0.2,
            Method::Byol => 1.0,
        }
    }

    /// The starting momentum of the target network (MoCo v3 0.99, BYOL 0.996), none for SimCLR.
    pub fn default_momentum(self) -> Option<f32> {
        match self {
            Method::SimClr => None,
            Method::MoCo => Some(0.99),
            Method::Byol => Some(0.996),
        }
    }
}

/// The heads' sizes and the method's constants.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContrastiveSpec {
    pub method: Method,
    /// NT-Xent / InfoNCE temperature (unused by BYOL).
    pub temperature: f32,
    pub proj_hidden: usize,
    pub proj_dim: usize,
    /// Hidden width of the prediction head (MoCo v3, BYOL).
    pub pred_hidden: usize,
    /// Starting momentum of the target network (MoCo v3, BYOL), raised to 1 on a cosine schedule.
    pub momentum: f32,
}

impl ContrastiveSpec {
    /// The method's defaults with heads of `proj_hidden` → `proj_dim` (prediction hidden = proj_hidden).
    pub fn new(method: Method, proj_hidden: usize, proj_dim: usize) -> ContrastiveSpec {
        ContrastiveSpec {
            method,
            temperature: method.default_temperature(),
            proj_hidden,
            proj_dim,
            pred_hidden: proj_hidden,
            momentum: method.default_momentum().unwrap_or(0.0),
        }
    }

    /// Errors for a temperature that is not positive, a momentum outside [0, 1], empty heads.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            crate::bail!(Invalid, "temperature {} must be positive", self.temperature);
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            crate::bail!(Invalid, "momentum {} must lie in [0, 1]", self.momentum);
        }
        if self.proj_hidden == 0 || self.proj_dim == 0 || self.pred_hidden == 0 {
            crate::bail!(Invalid, "head sizes must be positive (projection {} -> {}, prediction hidden {})", self.proj_hidden, self.proj_dim, self.pred_hidden);
        }
        Ok(())
    }

    /// The online projection head of this method over `d_in` features.
    pub fn projector(&self, gpu: &Gpu, name: &str, d_in: usize, rng: &mut Rng) -> Result<MlpHead> {
        match self.method {
            Method::SimClr => MlpHead::simclr_projection(gpu, name, d_in, self.proj_hidden, self.proj_dim, rng),
            Method::MoCo => MlpHead::moco_projection(gpu, name, d_in, self.proj_hidden, self.proj_dim, rng),
            Method::Byol => MlpHead::byol(gpu, name, d_in, self.proj_hidden, self.proj_dim, rng),
        }
    }

    /// The prediction head (MoCo v3, BYOL), None for SimCLR.
    pub fn predictor(&self, gpu: &Gpu, rng: &mut Rng) -> Result<Option<MlpHead>> {
        Ok(match self.method {
            Method::SimClr => None,
            Method::MoCo => Some(MlpHead::moco_prediction(gpu, "prediction_head", self.proj_dim, self.pred_hidden, self.proj_dim, rng)?),
            Method::Byol => Some(MlpHead::byol(gpu, "prediction_head", self.proj_dim, self.pred_hidden, self.proj_dim, rng)?),
        })
    }
}

/// m(k) = 1 − (1 − m₀)(1 + cos(πk/K))/2: m₀ at step 0, 1 at step K (BYOL's schedule, MoCo v3's too).
pub fn cosine_momentum(base: f32, step: u32, total: u32) -> f32 {
    let t = (step as f64 / total.max(1) as f64).clamp(0.0, 1.0);
    (1.0 - (1.0 - base as f64) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0) as f32
}

/// The target network of MoCo v3 and BYOL: a copy of the encoder and the projection head, moved by EMA.
#[derive(Debug, Clone)]
pub struct Target {
    pub encoder: Vit,
    pub projector: MlpHead,
}

/// Checkpoint prefix of the target encoder's tensors.
pub const TARGET_ENCODER: &str = "momentum_encoder.";

/// Copies the values of `from` into `to` pairwise (same shapes).
fn copy_params(gpu: &Gpu, to: &[&Param], from: &[&Param]) -> Result<()> {
    if to.len() != from.len() {
        crate::bail!(Shape, "copy: {} parameters into {}", from.len(), to.len());
    }
    for (t, f) in to.iter().zip(from) {
        t.value.copy_from(gpu, &f.value)?;
    }
    Ok(())
}

/// Features for the kNN monitor: called on the evaluation schedule with the encoder; returns named metrics.
pub type Monitor<E> = Box<dyn FnMut(&Gpu, &E) -> Result<Vec<(String, f64)>>>;

/// SimCLR, MoCo v3 or BYOL on a ViT over images held on the host.
pub struct ContrastiveTask {
    pub spec: ContrastiveSpec,
    pub encoder: Vit,
    pub projector: MlpHead,
    pub predictor: Option<MlpHead>,
    pub target: Option<Target>,
    pub views: ViewPair,
    /// Training images `[n, C, H, W]` flattened, values in [0, 1].
    pub images: Vec<f32>,
    pub batch: usize,
    /// Steps of the run (the momentum schedule's K).
    pub total_steps: u32,
    /// The kNN monitor (or any held-out measure) called by `evaluate`.
    pub monitor: Option<Monitor<Vit>>,
}

impl ContrastiveTask {
    /// A task for `spec` on `encoder` (the heads drawn from `rng`; the target, if any, a copy of the online
    /// network). `images`: `[n, C, H, W]` in [0, 1] matching the encoder's config.
    pub fn new(gpu: &Gpu, spec: ContrastiveSpec, encoder: Vit, images: Vec<f32>, batch: usize, total_steps: u32, rng: &mut Rng) -> Result<ContrastiveTask> {
        spec.validate()?;
        let c = &encoder.config;
        let per = c.num_channels * c.image_size * c.image_size;
        if batch < 2 {
            crate::bail!(Invalid, "{}: a batch of {batch} image has no negatives and no batch statistics: use --batch 2 or more", spec.method.name());
        }
        if images.is_empty() || images.len() % per != 0 {
            crate::bail!(Invalid, "{}: {} values are not whole images of {}x{}x{}", spec.method.name(), images.len(), c.num_channels, c.image_size, c.image_size);
        }
        let d = encoder.config.hidden_size;
        let projector = spec.projector(gpu, "projection_head", d, rng)?;
        let predictor = spec.predictor(gpu, rng)?;
        let target = match spec.method {
            Method::SimClr => None,
            Method::MoCo | Method::Byol => {
                let t = Target { encoder: Vit::new(gpu, &encoder.config, &mut Rng::new(0))?, projector: spec.projector(gpu, "momentum_projection_head", d, &mut Rng::new(0))? };
                copy_params(gpu, &t.encoder.all_params(), &encoder.all_params())?;
                copy_params(gpu, &t.projector.params(), &projector.params())?;
                Some(t)
            }
        };
        let views = ViewPair::for_method(spec.method.name(), c.image_size)?;
        Ok(ContrastiveTask { spec, encoder, projector, predictor, target, views, images, batch, total_steps, monitor: None })
    }

    /// The encoder's config.
    pub fn config(&self) -> &ViTConfig {
        &self.encoder.config
    }

    /// Number of trainable values.
    pub fn params_count(&self) -> usize {
        Task::params(self).iter().map(|p| p.numel()).sum()
    }

    /// Number of training images.
    pub fn len(&self) -> usize {
        let c = self.config();
        self.images.len() / (c.num_channels * c.image_size * c.image_size)
    }

    /// Whether there are no training images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch `picks` of the training images on the device, `[picks, C, H, W]`.
    pub fn upload(&self, gpu: &Gpu, picks: &[usize]) -> Result<Tensor> {
        let c = self.config();
        let per = c.num_channels * c.image_size * c.image_size;
        let mut data = Vec::with_capacity(picks.len() * per);
        for &i in picks {
            data.extend_from_slice(&self.images[i * per..(i + 1) * per]);
        }
        Tensor::from_slice(gpu, &data, &[picks.len(), c.num_channels, c.image_size, c.image_size])
    }

    /// The two views of a batch drawn with `rng`: (images, their views' parameters), views `[2·batch, C, H, W]`
    /// (every image's first view, then every second view).
    pub fn draw_views(&self, gpu: &Gpu, rng: &mut Rng) -> Result<(Tensor, Vec<ViewParams>)> {
        let n = self.len();
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.below(n)).collect();
        let s = self.config().image_size;
        let params = self.views.draw(self.batch, s, s, rng);
        let images = self.upload(gpu, &picks)?;
        let views = augment(gpu, &images, &params, &self.views.shape(s, s))?;
        Ok((views, params))
    }

    /// The loss of one step on given views `[2B, C, H, W]` (first views then second views): what `loss` computes
    /// after augmenting, and what the parity tests feed directly.
    pub fn loss_on_views(&self, tape: &mut Tape, views: &Tensor) -> Result<Var> {
        let [two_b, ..] = self.encoder.check_images(views)?;
        if two_b < 4 || two_b % 2 != 0 {
            crate::bail!(Invalid, "{}: {two_b} views: need two views of at least 2 images", self.spec.method.name());
        }
        let b = two_b / 2;
        let h = self.encoder.pooled(tape, views)?;
        let h1 = ops::slice(tape, h, 0, 0, b)?;
        let h2 = ops::slice(tape, h, 0, b, b)?;
        let z1 = self.projector.forward(tape, h1)?;
        let z2 = self.projector.forward(tape, h2)?;
        let tau = self.spec.temperature;
        match (self.spec.method, &self.predictor, &self.target) {
            (Method::SimClr, _, _) => {
                let z = ops::concat(tape, &[z1, z2], 0)?;
                let z = ops::l2_normalize(tape, z, 1e-12)?;
                ops::nt_xent(tape, z, tau)
            }
            (method, Some(pred), Some(target)) => {
                let p1 = pred.forward(tape, z1)?;
                let p2 = pred.forward(tape, z2)?;
                // The target branch: training mode, no gradient.
                let (k1, k2) = tape.no_grad(|t| {
                    let hk = target.encoder.pooled(t, views)?;
                    let hk1 = ops::slice(t, hk, 0, 0, b)?;
                    let hk2 = ops::slice(t, hk, 0, b, b)?;
                    Ok((target.projector.forward(t, hk1)?, target.projector.forward(t, hk2)?))
                })?;
                if method == Method::MoCo {
                    let l1 = infonce(tape, p1, k2, tau)?;
                    let l2 = infonce(tape, p2, k1, tau)?;
                    let l = ops::add(tape, l1, l2)?;
                    ops::scale(tape, l, 2.0 * tau)
                } else {
                    let l1 = byol_loss(tape, p1, k2)?;
                    let l2 = byol_loss(tape, p2, k1)?;
                    ops::add(tape, l1, l2)
                }
            }
            (m, ..) => crate::bail!(Invalid, "{}: the task lacks its prediction head or target network", m.name()),
        }
    }

    /// Pairs (target, online) of every tensor the EMA moves.
    fn ema_pairs(&self) -> Option<(Vec<&Param>, Vec<&Param>)> {
        let t = self.target.as_ref()?;
        let mut target = t.encoder.all_params();
        target.extend(t.projector.params());
        let mut online = self.encoder.all_params();
        online.extend(self.projector.params());
        Some((target, online))
    }
}

/// InfoNCE of queries q against keys k `[B, d]` (positives on the diagonal): CE(q̂·k̂ᵀ/τ, arange(B)), mean over B.
pub fn infonce(tape: &mut Tape, q: Var, k: Var, tau: f32) -> Result<Var> {
    let b = tape.shape(q)[0];
    let qn = ops::l2_normalize(tape, q, 1e-12)?;
    let kn = ops::l2_normalize(tape, k, 1e-12)?;
    let logits = ops::matmul(tape, qn, kn, false, true)?;
    let logits = ops::scale(tape, logits, 1.0 / tau)?;
    let labels: Vec<i32> = (0..b as i32).collect();
    let labels = Tensor::from_slice(tape.gpu(), &labels, &[b])?;
    ops::cross_entropy(tape, logits, &labels)
}

/// BYOL's normalised MSE: mean over the batch of ‖p̂ − ẑ‖² = 2 − 2·cos(p, z), for p, z `[B, d]`.
pub fn byol_loss(tape: &mut Tape, p: Var, z: Var) -> Result<Var> {
    let b = tape.shape(p)[0];
    let pn = ops::l2_normalize(tape, p, 1e-12)?;
    let zn = ops::l2_normalize(tape, z, 1e-12)?;
    let cos = ops::mul(tape, pn, zn)?;
    let cos = ops::sum(tape, cos)?; // Σ_b cos_b
    let l = ops::scale(tape, cos, -2.0 / b as f32)?;
    ops::unary(tape, l, crate::kernels::elementwise::UnaryOp::AddScalar(2.0))
}

impl Task for ContrastiveTask {
    fn params(&self) -> Vec<&Param> {
        let mut p = self.encoder.params();
        p.extend(self.projector.params());
        if let Some(pred) = &self.predictor {
            p.extend(pred.params());
        }
        p
    }

    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let (views, _) = self.draw_views(tape.gpu(), rng)?;
        self.loss_on_views(tape, &views)
    }

    fn evaluate(&mut self, gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        match &mut self.monitor {
            Some(m) => m(gpu, &self.encoder),
            None => Ok(Vec::new()),
        }
    }

    /// The encoder's tensors that are not trained, the heads' BatchNorm statistics, and the whole target network.
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        let trained: std::collections::BTreeSet<&str> = self.encoder.params().iter().map(|p| p.name.as_str()).collect();
        let mut out: Vec<(String, Tensor)> =
            self.encoder.all_params().into_iter().filter(|p| !trained.contains(p.name.as_str())).map(|p| (p.name.clone(), p.value.clone())).collect();
        out.extend(self.projector.buffers());
        if let Some(pred) = &self.predictor {
            out.extend(pred.buffers());
        }
        if let Some(t) = &self.target {
            out.extend(t.encoder.all_params().into_iter().map(|p| (format!("{TARGET_ENCODER}{}", p.name), p.value.clone())));
            out.extend(t.projector.params().into_iter().map(|p| (p.name.clone(), p.value.clone())));
            out.extend(t.projector.buffers());
        }
        out
    }

    fn after_update(&mut self, gpu: &Gpu, step: u32) -> Result<()> {
        let m = cosine_momentum(self.spec.momentum, step, self.total_steps);
        if let Some((target, online)) = self.ema_pairs() {
            ema_update(gpu, &target, &online, m)?;
        }
        Ok(())
    }
}

/// Unsupervised SimCSE (Gao, Yao, Chen 2021) on BERT: each sentence twice in one batch, dropout (hidden and
/// attention) the only augmentation, mean-pooled embeddings, NT-Xent over the 2N rows with τ (0.05).
pub struct SimCseTask {
    pub bert: Bert,
    /// Token ids of each sentence (with \[CLS\] and \[SEP\]).
    pub sentences: Vec<Vec<i32>>,
    pub batch: usize,
    pub temperature: f32,
    pub pad: i32,
    pub monitor: Option<Monitor<Bert>>,
}

impl SimCseTask {
    /// Checks the batch (2 or more) and the temperature.
    pub fn new(bert: Bert, sentences: Vec<Vec<i32>>, batch: usize, temperature: f32, pad: i32) -> Result<SimCseTask> {
        if batch < 2 {
            crate::bail!(Invalid, "simcse: a batch of {batch} sentence has no negatives: use --batch 2 or more");
        }
        if !(temperature > 0.0 && temperature.is_finite()) {
            crate::bail!(Invalid, "simcse: temperature {temperature} must be positive");
        }
        if sentences.is_empty() {
            crate::bail!(Invalid, "simcse: no sentences");
        }
        Ok(SimCseTask { bert, sentences, batch, temperature, pad, monitor: None })
    }

    /// The loss of the sentences `picks`, each twice.
    pub fn loss_on(&self, tape: &mut Tape, picks: &[usize]) -> Result<Var> {
        let seqs: Vec<Vec<i32>> = picks.iter().chain(picks).map(|&i| self.sentences[i].clone()).collect();
        let b = BertBatch::new(tape.gpu(), &seqs, self.pad)?;
        let hidden = self.bert.forward(tape, &b)?;
        let lengths: Vec<i32> = seqs.iter().map(|s| s.len() as i32).collect();
        let pooled = self.bert.mean_pool(tape, hidden, &lengths)?;
        let z = ops::l2_normalize(tape, pooled, 1e-12)?;
        ops::nt_xent(tape, z, self.temperature)
    }
}

impl Task for SimCseTask {
    fn params(&self) -> Vec<&Param> {
        self.bert.params().into_iter().filter(|p| !p.name.starts_with("pooler.")).collect()
    }

    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.below(self.sentences.len())).collect();
        self.loss_on(tape, &picks)
    }

    fn evaluate(&mut self, gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        match &mut self.monitor {
            Some(m) => m(gpu, &self.bert),
            None => Ok(Vec::new()),
        }
    }

    /// The pooler, which mean pooling leaves untouched, so a resumed run saves the same model.
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        self.bert.pooler.params().into_iter().map(|p| (p.name.clone(), p.value.clone())).collect()
    }
}

/// A plain ViT config (HF's `ViTModel`) for images of `channels` × `size` × `size`: a preset's sizes (tiny, small,
/// base) or a config.json as it is.
pub fn encoder_config(name: &str, channels: usize, size: usize, pooling: &str) -> Result<ViTConfig> {
    let mut c = ViTConfig::named(name)?;
    if !name.ends_with(".json") {
        c = ViTConfig {
            model_type: "vit".into(),
            decoder_num_attention_heads: None,
            decoder_hidden_size: None,
            decoder_num_hidden_layers: None,
            decoder_intermediate_size: None,
            mask_ratio: None,
            norm_pix_loss: None,
            encoder_stride: Some(c.patch_size),
            ..c
        }
        .for_images(channels, size)?;
    }
    if !matches!(pooling, "cls" | "mean") {
        crate::bail!(Invalid, "--pooling {pooling:?}: expected cls or mean");
    }
    c.classifier_pooling = pooling.into();
    c.architectures = Some(vec!["ViTModel".into()]);
    c.validate()?;
    Ok(c)
}

/// The optimizer by name, with its default learning rate and weight decay for a method (see the README).
pub fn optimizer(name: &str, method: &str, batch: usize, lr: Option<f32>, wd: Option<f32>) -> Result<(Optimizer, f32)> {
    let scale = batch as f32 / 256.0;
    Ok(match name {
        "lars" => {
            let base = if method == "byol" { 0.2 } else { 0.3 };
            let wd = wd.unwrap_or(if method == "byol" { 1.5e-6 } else { 1e-6 });
            (Optimizer::new(Rule::Lars { momentum: 0.9, eta: 0.001 }, wd), lr.unwrap_or(base * scale))
        }
        "adamw" => {
            let (base, default_wd) = if method == "simcse" { (3e-5 * 256.0 / 64.0, 0.0) } else { (1.5e-3, 0.1) };
            (Optimizer::new(Rule::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, wd.unwrap_or(default_wd)), lr.unwrap_or(base * scale))
        }
        other => crate::bail!(Invalid, "--optimizer {other:?}: expected adamw or lars"),
    })
}

/// Writes a grid of `images` (`[C, H, W]` each, values in [0, 1]) beside their two views under `method`'s
/// augmentations (drawn from `seed`): what `contrastive views` and the demo show.
pub fn write_views(gpu: &Gpu, path: &std::path::Path, images: &[Vec<f32>], shape: [usize; 3], method: &str, seed: u64, scale: u32) -> Result<()> {
    let [ch, h, w] = shape;
    let pair = ViewPair::for_method(method, h.min(w))?;
    let n = images.len();
    let params = pair.draw(n, h, w, &mut Rng::new(seed));
    let t = Tensor::from_slice(gpu, &images.concat(), &[n, ch, h, w])?;
    let v = augment(gpu, &t, &params, &pair.shape(h, w))?.to_vec::<f32>(gpu)?;
    let plane = ch * h * w;
    let pic = |values: &[f32]| Picture { channels: ch, height: h, width: w, values: values.to_vec() };
    let rows: Vec<Vec<Picture>> = (0..n).map(|i| vec![pic(&images[i]), pic(&v[i * plane..(i + 1) * plane]), pic(&v[(n + i) * plane..(n + i + 1) * plane])]).collect();
    plot::write_picture_grid(path, &rows, &["image", "view 1", "view 2"], scale)
}

/// Writes the encoder as an HF `ViTModel` directory (`config.json` with pretext's `init_seed`, bare tensor names,
/// `preprocessor_config.json`), whole or not at all.
pub fn save_encoder(gpu: &Gpu, dir: &std::path::Path, encoder: &Vit, init_seed: u64, pre: &crate::data::images::Preprocessor) -> Result<()> {
    let mut config = serde_json::to_value(&encoder.config).map_err(|e| Error::Invalid(e.to_string()))?;
    config["init_seed"] = serde_json::json!(init_seed);
    let tensors = crate::models::hf::NameMap::VIT.tensors(&encoder.all_params(), false);
    crate::checkpoint::commit_model_dir(dir, |tmp| {
        crate::models::hf::write_model(gpu, tmp, &config, &tensors)?;
        pre.save(tmp)
    })
}

