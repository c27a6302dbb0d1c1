//! Autoencoders on images: an MLP encoder to a code and an MLP decoder back to pixels, in four kinds.
//!
//! - `ae`: reconstruct the input from its code.
//! - `dae` (denoising; Vincent et al. 2008): the encoder sees a corrupted input (masking noise: a fraction of
//!   the pixels zeroed; or Gaussian noise), the loss compares with the clean image.
//! - `sparse`: an L1 penalty on the code, or the KL sparsity penalty pulling each code unit's mean activation
//!   over the batch towards a target ρ (Ng's sparse-autoencoder notes): Σ_j ρ log(ρ/ρ̂_j) + (1−ρ) log((1−ρ)/(1−ρ̂_j)).
//! - `vae` (Kingma & Welling 2014): the encoder gives the mean and log-variance of a diagonal Gaussian posterior;
//!   z = μ + exp(½ logvar)·ε with ε drawn on the device (Philox, Box-Muller; `kernels::noise`); the loss is the
//!   negative ELBO, reconstruction plus β·KL(q(z|x) ‖ N(0, I)) in closed form.
//!
//! The reconstruction term is a negative log-likelihood summed over the pixels of an image and averaged over
//! the batch (nats per image), for every kind: Bernoulli (binary cross-entropy with the decoder's logits,
//! pixels in [0, 1]) or Gaussian with a fixed standard deviation σ (½ Σ (x − μ)²/σ² + D·ln(σ√(2π))).
//!
//! A model directory holds `config.json` (the schema of [`AutoencoderConfig`], `model_type`
//! `"pretext_autoencoder"`), `model.safetensors` (every parameter under its name below) and
//! `preprocessor_config.json` (HF's image-processor semantics: pixels scaled to [0, 1], normalised when the
//! config gives `image_mean`/`image_std`). Parameter names: `encoder.layers.{i}.{weight,bias}`, then
//! `encoder.code` (ae, dae, sparse) or `encoder.mean` and `encoder.logvar` (vae), `decoder.layers.{i}`,
//! `decoder.out`; weights `[out, in]` as PyTorch's `nn.Linear`. Initialisation: Xavier-uniform weights and
//! zero biases drawn in that order from `init_seed`, so the initial model is reproducible from its config.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::autograd::{ops, Tape, Var};
use crate::checkpoint;
use crate::gpu::Gpu;
use crate::kernels::activation::Activation;
use crate::kernels::{noise, elementwise::UnaryOp};
use crate::models::{hf, Encoder};
use crate::nn::{Init, Linear, Param};
use crate::rng::Rng;
use crate::{Error, Result, Tensor};

/// `model_type` in an autoencoder's `config.json`.
pub const MODEL_TYPE: &str = "pretext_autoencoder";

/// Which autoencoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Plain autoencoder.
    Ae,
    /// Denoising autoencoder.
    Dae,
    /// Sparse autoencoder.
    Sparse,
    /// Variational autoencoder.
    Vae,
}

impl std::str::FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Kind> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| Error::Invalid(format!("unknown autoencoder kind {s:?}: expected ae, dae, sparse or vae")))
    }
}

impl Kind {
    /// The lower-case name ("ae", "dae", "sparse", "vae").
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ae => "ae",
            Kind::Dae => "dae",
            Kind::Sparse => "sparse",
            Kind::Vae => "vae",
        }
    }
}

/// The decoder's output distribution over each pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Bernoulli with the decoder's output as logits; pixels must lie in [0, 1].
    Bernoulli,
    /// Gaussian with the decoder's output as mean and a fixed standard deviation `sigma`.
    Gaussian,
}

/// The denoising autoencoder's corruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// A fraction `level` of the pixels set to 0 (fresh each step), the rest unchanged.
    Mask,
    /// Gaussian noise of standard deviation `level` added to every pixel.
    Gaussian,
}

/// `noise` in the config (dae).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    #[serde(rename = "type")]
    pub kind: NoiseKind,
    /// Mask: the fraction zeroed; Gaussian: the standard deviation. In [0, 1).
    pub level: f32,
}

/// The sparse autoencoder's penalty on the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Penalty {
    /// weight · Σ_j |code_j|, averaged over the batch.
    L1,
    /// weight · Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the batch mean of unit j (a sigmoid code).
    Kl,
}

/// `sparsity` in the config (sparse).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparsityConfig {
    pub penalty: Penalty,
    /// Its weight beside the reconstruction loss (nats per image).
    pub weight: f32,
    /// ρ, the target mean activation of the KL penalty, in (0, 1).
    pub target: f32,
}

/// `config.json` of an autoencoder directory: its documented schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderConfig {
    /// Always "pretext_autoencoder".
    pub model_type: String,
    pub kind: Kind,
    /// Image channels (1 grey, 3 RGB), height and width; the input has channels·height·width values.
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Hidden widths of the encoder, input side first (e.g. `[512, 256]` for 784-512-256-latent); the decoder
    /// mirrors them.
    pub widths: Vec<usize>,
    /// Width of the code (the VAE: of z).
    pub latent: usize,
    /// Activation after every hidden layer: "relu", "gelu", "tanh" or "sigmoid".
    pub activation: String,
    /// Activation of the code: "none", "relu", "tanh" or "sigmoid" (the KL sparsity penalty needs "sigmoid";
    /// the VAE's mean and log-variance are always linear).
    pub code_activation: String,
    pub likelihood: Likelihood,
    /// The Gaussian likelihood's standard deviation (in pixel units).
    pub sigma: f32,
    /// Corruption of the input (dae only; null otherwise).
    pub noise: Option<NoiseConfig>,
    /// Penalty on the code (sparse only; null otherwise).
    pub sparsity: Option<SparsityConfig>,
    /// Weight of the KL term (vae; β-VAE when ≠ 1).
    pub beta: f32,
    /// Threshold pixels at 0.5 to {0, 1} before training and evaluation (static binarisation).
    pub binarize: bool,
    /// Per-channel normalisation `(x − mean)/std` after scaling to [0, 1] (empty: none). Not with Bernoulli.
    pub image_mean: Vec<f32>,
    pub image_std: Vec<f32>,
    /// Seed of the initial weights (the `init` baseline rebuilds them from it).
    pub init_seed: u64,
}

impl AutoencoderConfig {
    /// The defaults of `kind`: 1×28×28 images, widths [512, 256], latent 32, ReLU, Bernoulli;
    /// dae: masking noise 0.3; sparse: KL penalty, weight 1, target 0.05, sigmoid code; vae: β = 1.
    pub fn defaults(kind: Kind) -> AutoencoderConfig {
        AutoencoderConfig {
            model_type: MODEL_TYPE.into(),
            kind,
            channels: 1,
            height: 28,
            width: 28,
            widths: vec![512, 256],
            latent: 32,
            activation: "relu".into(),
            code_activation: if kind == Kind::Sparse { "sigmoid".into() } else { "none".into() },
            likelihood: Likelihood::Bernoulli,
            sigma: 0.1,
            noise: (kind == Kind::Dae).then_some(NoiseConfig { kind: NoiseKind::Mask, level: 0.3 }),
            sparsity: (kind == Kind::Sparse).then_some(SparsityConfig { penalty: Penalty::Kl, weight: 1.0, target: 0.05 }),
            beta: 1.0,
            binarize: false,
            image_mean: Vec::new(),
            image_std: Vec::new(),
            init_seed: 0,
        }
    }

    /// `defaults(kind)` with the fields of the JSON object `partial` laid over it (a `--config` file may give
    /// only what it changes); `source` names it in errors.
    pub fn from_partial(kind: Kind, partial: &serde_json::Value, source: &str) -> Result<AutoencoderConfig> {
        let mut v = serde_json::to_value(AutoencoderConfig::defaults(kind)).map_err(|e| Error::Invalid(e.to_string()))?;
        let Some(obj) = partial.as_object() else {
            crate::bail!(Invalid, "{source}: an autoencoder config must be a JSON object");
        };
        if let Some(k) = obj.get("kind").and_then(|k| k.as_str()) {
            if k != kind.name() {
                crate::bail!(Invalid, "{source}: \"kind\" is {k:?} but --kind is {:?}", kind.name());
            }
        }
        if let Some(dst) = v.as_object_mut() {
            for (k, val) in obj {
                dst.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(v).map_err(|e| Error::Invalid(format!("{source}: {e}")))
    }

    /// Reads a complete `config.json`; a directory of another family is an error naming it.
    pub fn from_file(path: &Path) -> Result<AutoencoderConfig> {
        let v: serde_json::Value = hf::read_config(path)?;
        let mt = v.get("model_type").and_then(|m| m.as_str()).unwrap_or("(none)");
        if mt != MODEL_TYPE {
            crate::bail!(Invalid, "{}: model_type {mt:?} is not an autoencoder (expected {MODEL_TYPE:?})", path.display());
        }
        let c: AutoencoderConfig = serde_json::from_value(v).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        c.validate().map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// Values per image: channels · height · width.
    pub fn input_dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Errors when a setting makes no sense; the message names the field and its value.
    pub fn validate(&self) -> Result<()> {
        if self.model_type != MODEL_TYPE {
            crate::bail!(Invalid, "model_type is {:?}, expected {MODEL_TYPE:?}", self.model_type);
        }
        if self.latent == 0 {
            crate::bail!(Invalid, "latent must be at least 1 (got 0)");
        }
        if self.channels == 0 || self.height == 0 || self.width == 0 {
            crate::bail!(Invalid, "channels, height and width must be positive (got {}x{}x{})", self.channels, self.height, self.width);
        }
        if let Some(i) = self.widths.iter().position(|&w| w == 0) {
            crate::bail!(Invalid, "widths[{i}] is 0; every hidden width must be positive (widths {:?})", self.widths);
        }
        activation(&self.activation, false).map_err(|e| Error::Invalid(format!("activation: {e}")))?;
        activation(&self.code_activation, true).map_err(|e| Error::Invalid(format!("code_activation: {e}")))?;
        if self.likelihood == Likelihood::Gaussian && !(self.sigma > 0.0 && self.sigma.is_finite()) {
            crate::bail!(Invalid, "sigma must be positive for the Gaussian likelihood (got {})", self.sigma);
        }
        match (self.kind, &self.noise) {
            (Kind::Dae, None) => crate::bail!(Invalid, "kind dae needs \"noise\": {{\"type\": \"mask\" or \"gaussian\", \"level\": F}}"),
            (Kind::Dae, Some(n)) if !(0.0..1.0).contains(&n.level) => {
                crate::bail!(Invalid, "noise level {} is outside [0, 1)", n.level)
            }
            (k, Some(_)) if k != Kind::Dae => crate::bail!(Invalid, "\"noise\" applies to kind dae only (this is kind {})", k.name()),
            _ => {}
        }
        match (self.kind, &self.sparsity) {
            (Kind::Sparse, None) => crate::bail!(Invalid, "kind sparse needs \"sparsity\": {{\"penalty\": \"l1\" or \"kl\", \"weight\": F, \"target\": F}}"),
            (Kind::Sparse, Some(s)) => {
                if !(s.weight >= 0.0 && s.weight.is_finite()) {
                    crate::bail!(Invalid, "sparsity weight must be non-negative (got {})", s.weight);
                }
                if s.penalty == Penalty::Kl {
                    if !(s.target > 0.0 && s.target < 1.0) {
                        crate::bail!(Invalid, "sparsity target must be in (0, 1) for the KL penalty (got {})", s.target);
                    }
                    if self.code_activation != "sigmoid" {
                        crate::bail!(Invalid, "the KL sparsity penalty needs code_activation \"sigmoid\" (got {:?})", self.code_activation);
                    }
                }
            }
            (k, Some(_)) => crate::bail!(Invalid, "\"sparsity\" applies to kind sparse only (this is kind {})", k.name()),
            _ => {}
        }
        if self.kind == Kind::Vae && !(self.beta >= 0.0 && self.beta.is_finite()) {
            crate::bail!(Invalid, "beta must be non-negative (got {})", self.beta);
        }
        if self.image_mean.len() != self.image_std.len() || (!self.image_mean.is_empty() && self.image_mean.len() != self.channels) {
            crate::bail!(
                Invalid,
                "image_mean {:?} and image_std {:?} must be empty or have one value per channel ({})",
                self.image_mean,
                self.image_std,
                self.channels
            );
        }
        if self.image_std.iter().any(|s| !(*s > 0.0)) {
            crate::bail!(Invalid, "image_std {:?} must be positive", self.image_std);
        }
        if self.likelihood == Likelihood::Bernoulli && !self.image_mean.is_empty() {
            crate::bail!(
                Invalid,
                "likelihood \"bernoulli\" needs pixels in [0, 1], but image_mean {:?} / image_std {:?} move them out of it; use \"gaussian\"",
                self.image_mean,
                self.image_std
            );
        }
        Ok(())
    }

    /// The range the likelihood needs the (preprocessed) pixels in, if any.
    pub fn pixel_range(&self) -> Option<(f32, f32)> {
        (self.likelihood == Likelihood::Bernoulli).then_some((0.0, 1.0))
    }
}

/// The activation named `name` ("none" only where `allow_none`).
fn activation(name: &str, allow_none: bool) -> Result<Option<Activation>> {
    Ok(match name {
        "relu" => Some(Activation::Relu),
        "gelu" => Some(Activation::GeluErf),
        "tanh" => Some(Activation::Tanh),
        "sigmoid" => Some(Activation::Sigmoid),
        "none" if allow_none => None,
        other => crate::bail!(Invalid, "unknown activation {other:?}: expected {}relu, gelu, tanh or sigmoid", if allow_none { "none, " } else { "" }),
    })
}

/// The pieces of one forward pass, for the loss, evaluation and pictures.
pub struct Forward {
    /// The decoder's output `[batch, pixels]`: logits (Bernoulli) or means (Gaussian).
    pub out: Var,
    /// The code `[batch, latent]` (the VAE: the sampled z).
    pub code: Var,
    /// The VAE's posterior mean and log-variance.
    pub posterior: Option<(Var, Var)>,
    /// The input the encoder saw (corrupted for the DAE).
    pub input: Tensor,
}

/// The loss of one batch and its parts (all `[1]`, nats per image).
pub struct Loss {
    /// What training minimises: reconstruction + penalty (sparse) + β·KL (vae).
    pub total: Var,
    pub recon: Var,
    /// KL(q(z|x) ‖ N(0, I)) per image, without β.
    pub kl: Option<Var>,
    /// The sparsity penalty, weighted.
    pub penalty: Option<Var>,
    pub forward: Forward,
}

/// An MLP autoencoder of any kind.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    pub config: AutoencoderConfig,
    /// `encoder.layers.{i}`.
    pub encoder: Vec<Linear>,
    /// `encoder.code`, or the VAE's `encoder.mean`.
    pub code: Linear,
    /// The VAE's `encoder.logvar`.
    pub logvar: Option<Linear>,
    /// `decoder.layers.{i}`.
    pub decoder: Vec<Linear>,
    /// `decoder.out`: logits or means of every pixel.
    pub output: Linear,
    act: Activation,
    code_act: Option<Activation>,
}

impl Autoencoder {
    /// A model with the initial weights of `config.init_seed` (validated first).
    pub fn new(gpu: &Gpu, config: &AutoencoderConfig) -> Result<Autoencoder> {
        config.validate()?;
        let mut rng = Rng::new(config.init_seed);
        let init = Init::XavierUniform;
        let mut dims = vec![config.input_dim()];
        dims.extend(&config.widths);
        let encoder = dims
            .windows(2)
            .enumerate()
            .map(|(i, d)| Linear::new(gpu, &format!("encoder.layers.{i}"), d[0], d[1], true, init, &mut rng))
            .collect::<Result<Vec<_>>>()?;
        let hidden = *dims.last().unwrap_or(&config.input_dim());
        let vae = config.kind == Kind::Vae;
        let code = Linear::new(gpu, if vae { "encoder.mean" } else { "encoder.code" }, hidden, config.latent, true, init, &mut rng)?;
        let logvar = if vae { Some(Linear::new(gpu, "encoder.logvar", hidden, config.latent, true, init, &mut rng)?) } else { None };
        let mut back = vec![config.latent];
        back.extend(config.widths.iter().rev());
        let decoder = back
            .windows(2)
            .enumerate()
            .map(|(i, d)| Linear::new(gpu, &format!("decoder.layers.{i}"), d[0], d[1], true, init, &mut rng))
            .collect::<Result<Vec<_>>>()?;
        let last = *back.last().unwrap_or(&config.latent);
        let output = Linear::new(gpu, "decoder.out", last, config.input_dim(), true, init, &mut rng)?;
        let act = activation(&config.activation, false)?.unwrap_or(Activation::Relu);
        let code_act = if vae { None } else { activation(&config.code_activation, true)? };
        Ok(Autoencoder { config: config.clone(), encoder, code, logvar, decoder, output, act, code_act })
    }

    /// Loads a model directory written by `save`: `config.json` (checked to be an autoencoder's) and, unless
    /// `init_only`, the weights of `model.safetensors` (every tensor required, shapes checked).
    pub fn load(gpu: &Gpu, dir: &Path, init_only: bool) -> Result<Autoencoder> {
        let config = AutoencoderConfig::from_file(&dir.join("config.json"))?;
        let model = Autoencoder::new(gpu, &config)?;
        if !init_only {
            let file = checkpoint::load(&dir.join("model.safetensors"))?;
            for p in model.params() {
                file.load_into(gpu, &p.name, &p.value)?;
            }
        }
        Ok(model)
    }

    /// Writes `config.json` and `model.safetensors` into `dir` as they are (no commit: `tasks::autoencoder::save`
    /// commits them whole with the preprocessor file).
    pub fn write(&self, gpu: &Gpu, dir: &Path) -> Result<()> {
        let tensors: Vec<(String, Tensor)> = self.params().iter().map(|p| (p.name.clone(), p.value.clone())).collect();
        hf::write_model(gpu, dir, &self.config, &tensors)
    }

    /// Every parameter: encoder, code layer(s), decoder.
    pub fn params(&self) -> Vec<&Param> {
        let mut p: Vec<&Param> = self.encoder_params();
        p.extend(self.logvar.iter().flat_map(|l| l.params()));
        p.extend(self.decoder.iter().flat_map(|l| l.params()));
        p.extend(self.output.params());
        p
    }

    /// The parameters that map an image to its code (the VAE: to its mean).
    pub fn encoder_params(&self) -> Vec<&Param> {
        let mut p: Vec<&Param> = self.encoder.iter().flat_map(|l| l.params()).collect();
        p.extend(self.code.params());
        p
    }

    /// Stacks images (each `input_dim` values) into a `[batch, pixels]` tensor; a wrong size names the image.
    pub fn batch_tensor(&self, gpu: &Gpu, images: &[&Vec<f32>]) -> Result<Tensor> {
        let d = self.config.input_dim();
        let mut data = Vec::with_capacity(images.len() * d);
        for (i, x) in images.iter().enumerate() {
            if x.len() != d {
                crate::bail!(
                    Shape,
                    "autoencoder: image {i} of the batch has {} values, the model takes {}x{}x{} = {d}",
                    x.len(),
                    self.config.channels,
                    self.config.height,
                    self.config.width
                );
            }
            data.extend_from_slice(x);
        }
        Tensor::from_slice(gpu, &data, &[images.len(), d])
    }

    /// The last hidden layer of the encoder.
    fn hidden(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let mut h = x;
        for l in &self.encoder {
            h = l.forward(tape, h)?;
            h = ops::activation(tape, h, self.act)?;
        }
        Ok(h)
    }

    /// The code of `x` `[batch, pixels]`: the code layer and its activation (the VAE: the posterior mean).
    pub fn encode_tensor(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let h = self.hidden(tape, x)?;
        let c = self.code.forward(tape, h)?;
        match self.code_act {
            Some(a) => ops::activation(tape, c, a),
            None => Ok(c),
        }
    }

    /// The VAE's posterior (mean, log-variance) of `x`.
    pub fn posterior(&self, tape: &mut Tape, x: Var) -> Result<(Var, Var)> {
        let Some(lv_layer) = &self.logvar else {
            crate::bail!(Invalid, "posterior: a kind {} autoencoder has no posterior (kind vae has)", self.config.kind.name());
        };
        let h = self.hidden(tape, x)?;
        let mu = self.code.forward(tape, h)?;
        let lv = lv_layer.forward(tape, h)?;
        Ok((mu, lv))
    }

    /// The decoder's output `[batch, pixels]` for codes `z` `[batch, latent]`: logits or means.
    pub fn decode(&self, tape: &mut Tape, z: Var) -> Result<Var> {
        let mut h = z;
        for l in &self.decoder {
            h = l.forward(tape, h)?;
            h = ops::activation(tape, h, self.act)?;
        }
        self.output.forward(tape, h)
    }

    /// Pixels from the decoder's output: sigmoid of the logits (Bernoulli means) or the Gaussian means as they are.
    pub fn to_pixels(&self, tape: &mut Tape, out: Var) -> Result<Var> {
        match self.config.likelihood {
            Likelihood::Bernoulli => ops::sigmoid(tape, out),
            Likelihood::Gaussian => Ok(out),
        }
    }

    /// The DAE's corruption of `x`, drawn at stream position `offset` under `seed` (others: `x` itself).
    pub fn corrupt(&self, gpu: &Gpu, x: &Tensor, seed: u64, offset: u64) -> Result<Tensor> {
        match self.config.noise {
            Some(NoiseConfig { kind: NoiseKind::Mask, level }) => noise::mask(gpu, x, level, seed, offset),
            Some(NoiseConfig { kind: NoiseKind::Gaussian, level }) => {
                let n = noise::normal(gpu, x.shape(), seed, offset)?;
                let n = crate::kernels::elementwise::unary(gpu, &n, UnaryOp::Scale(level))?;
                crate::kernels::elementwise::binary(gpu, x, &n, crate::kernels::elementwise::BinaryOp::Add)
            }
            None => Ok(x.clone()),
        }
    }

    /// One forward pass on clean images `x` `[batch, pixels]`. The DAE's noise and the VAE's ε are drawn from
    /// the tape's seed at the tape's next generator offsets, unless `eps` (`[batch, latent]`) is given; with
    /// `deterministic` the DAE sees `x` uncorrupted and the VAE decodes its posterior mean.
    pub fn forward(&self, tape: &mut Tape, x: &Tensor, eps: Option<&Tensor>, deterministic: bool) -> Result<Forward> {
        let gpu = tape.gpu();
        let input = if self.config.kind == Kind::Dae && !deterministic {
            let offset = tape.next_rng_offset(x.numel() as u64);
            self.corrupt(gpu, x, tape.seed, offset)?
        } else {
            x.clone()
        };
        let xin = tape.constant(input.clone());
        if self.config.kind != Kind::Vae {
            let code = self.encode_tensor(tape, xin)?;
            let out = self.decode(tape, code)?;
            return Ok(Forward { out, code, posterior: None, input });
        }
        let (mu, lv) = self.posterior(tape, xin)?;
        let z = if deterministic {
            mu
        } else {
            let b = x.shape()[0];
            let eps = match eps {
                Some(e) => {
                    e.expect_shape("autoencoder forward", "eps", &[b, self.config.latent])?;
                    e.clone()
                }
                None => {
                    let offset = tape.next_rng_offset((b * self.config.latent) as u64);
                    noise::normal(gpu, &[b, self.config.latent], tape.seed, offset)?
                }
            };
            // z = mu + exp(lv / 2) * eps
            let half = ops::scale(tape, lv, 0.5)?;
            let std = ops::unary(tape, half, UnaryOp::Exp)?;
            let e = tape.constant(eps);
            let spread = ops::mul(tape, std, e)?;
            ops::add(tape, mu, spread)?
        };
        let out = self.decode(tape, z)?;
        Ok(Forward { out, code: z, posterior: Some((mu, lv)), input })
    }

    /// The reconstruction negative log-likelihood of `target` under the decoder's output, per image averaged
    /// over the batch (nats per image).
    pub fn recon_loss(&self, tape: &mut Tape, out: Var, target: &Tensor) -> Result<Var> {
        let [b, d] = target.dims::<2>("autoencoder loss", "target")?;
        match self.config.likelihood {
            Likelihood::Bernoulli => ops::bce_with_logits(tape, out, target, 1.0 / b.max(1) as f32),
            Likelihood::Gaussian => {
                // ½ Σ (x − μ)²/σ² + D ln(σ √(2π)), through the fused squared error (mean over pixels and images).
                let sigma = self.config.sigma as f64;
                let gpu = tape.gpu();
                let pred = ops::reshape(tape, out, &[b, 1, d])?;
                let mask = crate::kernels::fill::full(gpu, &[b, 1], 1.0)?;
                let mse = ops::recon_loss(tape, pred, &target.reshape(&[b, 1, d])?, &mask, false)?;
                let sq = ops::scale(tape, mse, (d as f64 / (2.0 * sigma * sigma)) as f32)?;
                let constant = d as f64 * (sigma.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln());
                ops::unary(tape, sq, UnaryOp::AddScalar(constant as f32))
            }
        }
    }

    /// The sparse autoencoder's weighted penalty on codes `[batch, latent]`.
    fn sparsity_penalty(&self, tape: &mut Tape, code: Var, s: &SparsityConfig) -> Result<Var> {
        let b = tape.shape(code)[0].max(1);
        match s.penalty {
            Penalty::L1 => {
                let a = ops::unary(tape, code, UnaryOp::Abs)?;
                let total = ops::sum(tape, a)?;
                ops::scale(tape, total, s.weight / b as f32)
            }
            Penalty::Kl => {
                // Σ_j ρ log(ρ/ρ̂_j) + (1−ρ) log((1−ρ)/(1−ρ̂_j)) = Σ_j [−ρ log ρ̂_j − (1−ρ) log(1−ρ̂_j)] + latent·(ρ log ρ + (1−ρ) log(1−ρ))
                let latent = tape.shape(code)[1];
                let rho = s.target as f64;
                let mean = ops::mean_to(tape, code, &[1, latent])?;
                let log_mean = ops::unary(tape, mean, UnaryOp::Log)?;
                let one_minus = ops::scale(tape, mean, -1.0)?;
                let one_minus = ops::unary(tape, one_minus, UnaryOp::AddScalar(1.0))?;
                let log_one_minus = ops::unary(tape, one_minus, UnaryOp::Log)?;
                let a = ops::scale(tape, log_mean, -(rho as f32))?;
                let c = ops::scale(tape, log_one_minus, -(1.0 - rho) as f32)?;
                let per_unit = ops::add(tape, a, c)?;
                let total = ops::sum(tape, per_unit)?;
                let constant = latent as f64 * (rho * rho.ln() + (1.0 - rho) * (1.0 - rho).ln());
                let kl = ops::unary(tape, total, UnaryOp::AddScalar(constant as f32))?;
                ops::scale(tape, kl, s.weight)
            }
        }
    }

    /// The training loss of clean images `x` `[batch, pixels]` (see `forward` for the noise and `eps`).
    pub fn loss(&self, tape: &mut Tape, x: &Tensor, eps: Option<&Tensor>) -> Result<Loss> {
        let f = self.forward(tape, x, eps, false)?;
        let recon = self.recon_loss(tape, f.out, x)?;
        let b = x.shape()[0].max(1) as f32;
        let (mut total, mut kl, mut penalty) = (recon, None, None);
        if let Some(s) = &self.config.sparsity {
            let p = self.sparsity_penalty(tape, f.code, s)?;
            total = ops::add(tape, total, p)?;
            penalty = Some(p);
        }
        if let Some((mu, lv)) = f.posterior {
            let k = ops::kl_normal(tape, mu, lv, 1.0 / b)?;
            let weighted = ops::scale(tape, k, self.config.beta)?;
            total = ops::add(tape, total, weighted)?;
            kl = Some(k);
        }
        Ok(Loss { total, recon, kl, penalty, forward: f })
    }
}

impl Encoder for Autoencoder {
    type Example = Vec<f32>;

    /// The code of each image (the VAE: its posterior mean), `[batch, latent]`; binarised first when the
    /// config says so (as training saw the images).
    fn encode(&self, tape: &mut Tape, batch: &[&Vec<f32>]) -> Result<Var> {
        let x = if self.config.binarize {
            let b: Vec<Vec<f32>> = batch.iter().map(|x| x.iter().map(|&v| if v >= 0.5 { 1.0 } else { 0.0 }).collect()).collect();
            self.batch_tensor(tape.gpu(), &b.iter().collect::<Vec<_>>())?
        } else {
            self.batch_tensor(tape.gpu(), batch)?
        };
        let x = tape.constant(x);
        self.encode_tensor(tape, x)
    }

    fn dim(&self) -> usize {
        self.config.latent
    }

    fn params(&self) -> Vec<&Param> {
        self.encoder_params()
    }
}
