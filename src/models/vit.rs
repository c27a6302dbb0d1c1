//! The Vision Transformer encoder, numerically HuggingFace's `ViTModel` / `ViTMAEModel`: a stride-p patch
//! embedding (the conv weight `[hidden, C, p, p]` applied as one matmul over patches in its (c, p, q) order),
//! a \[CLS\] token, position embeddings (fixed 2-D sin-cos as `get_2d_sincos_pos_embed` for MAE, learned for
//! ViT), pre-LN blocks with the config's `layer_norm_eps`, a final LayerNorm. Tokens can be a per-sample
//! subset of the patches (MAE's visible ones). Pooling for a classifier is stated in the config
//! (`classifier_pooling`): "cls" = HF's `ViTForImageClassification` (the \[CLS\] row after the final
//! LayerNorm), "mean" = MAE's fine-tuning recipe (the mean of the patch tokens before the final LayerNorm,
//! then a fresh LayerNorm `fc_norm`; transformers has no such head, so only "cls" directories load there
//! with the same outputs).
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::autograd::{ops, Tape, Var};
use crate::checkpoint::TensorFile;
use crate::gpu::Gpu;
use crate::kernels::activation::Activation;
use crate::kernels::patch::PatchOrder;
use crate::models::hf::{self, LoadReport, NameMap};
use crate::models::Encoder;
use crate::nn::{init_tensor, BlockConfig, BlockNames, Init, LayerNorm, Param, TransformerBlock};
use crate::rng::Rng;
use crate::{Error, Result, Tensor};

/// `config.json` of a HuggingFace ViT (`model_type` "vit") or ViT-MAE ("vit_mae"); unknown fields are ignored,
/// missing ones take HF's defaults. The decoder fields are ViTMAEConfig's and absent from a ViT config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ViTConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub hidden_dropout_prob: f32,
    pub attention_probs_dropout_prob: f32,
    pub initializer_range: f32,
    pub layer_norm_eps: f32,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
    pub qkv_bias: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder_num_attention_heads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder_hidden_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder_num_hidden_layers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder_intermediate_size: Option<usize>,
    /// Fraction of patches MAE removes (f64, as Python computes `int(L * (1 - mask_ratio))`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm_pix_loss: Option<bool>,
    /// ViTConfig's (unused here; kept so a ViT config round-trips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder_stride: Option<usize>,
    /// Class names for image classification (index order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    pub model_type: String,
    /// How a classifier pools: "cls" (HF's ViTForImageClassification) or "mean" (MAE's mean of the patch
    /// tokens, then `fc_norm`). pretext's own; absent from HF configs (then "cls").
    #[serde(skip_serializing_if = "is_cls")]
    pub classifier_pooling: String,
}

fn is_cls(s: &String) -> bool {
    s == "cls"
}

impl Default for ViTConfig {
    /// HF's `ViTMAEConfig()` (vit-mae-base), with `model_type` "vit_mae".
    fn default() -> Self {
        ViTConfig {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            image_size: 224,
            patch_size: 16,
            num_channels: 3,
            qkv_bias: true,
            decoder_num_attention_heads: None,
            decoder_hidden_size: None,
            decoder_num_hidden_layers: None,
            decoder_intermediate_size: None,
            mask_ratio: None,
            norm_pix_loss: None,
            encoder_stride: None,
            id2label: None,
            label2id: None,
            architectures: None,
            model_type: "vit_mae".into(),
            classifier_pooling: "cls".into(),
        }
    }
}

/// The MAE decoder's sizes, with ViTMAEConfig's defaults for absent fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoderSizes {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
}

impl ViTConfig {
    /// A named size: "nano" (hidden 64, 4 layers, 4 heads, MLP 128, patch 7: 16 patches of a 28x28 image; decoder
    /// 32, 1 layer, 2 heads, MLP 128: the demo's contrastive encoder), "micro" (hidden 64, 4 layers, 4 heads, MLP 256, patch 4; decoder 32, 1 layer, 2 heads, MLP
    /// 128: a quarter of tiny's work per image, the README's results), "tiny" (the MAE issue's bench model:
    /// hidden 128, 4 layers, 4 heads, MLP 512, patch 4; decoder 64, 2 layers, 2 heads, MLP 256), "small" (256,
    /// 6, 8, 1024; decoder 128, 2, 4, 512) or "base" (vit-mae-base: 768, 12, 12, 3072, patch 16; decoder 512, 8,
    /// 16, 2048). All are ViT-MAE configs with norm-pix loss, mask ratio 0.75 and LayerNorm eps 1e-6 (the MAE
    /// code's); micro, tiny and small are for 28x28 grey images, base for 224x224 RGB: `for_images` adapts
    /// them to the data.
    pub fn preset(name: &str) -> Result<ViTConfig> {
        let (hidden, layers, heads, mlp, patch, dec, image, channels) = match name {
            "nano" => (64, 4, 4, 128, 7, (32, 1, 2, 128), 28, 1),
            "micro" => (64, 4, 4, 256, 4, (32, 1, 2, 128), 28, 1),
            "tiny" => (128, 4, 4, 512, 4, (64, 2, 2, 256), 28, 1),
            "small" => (256, 6, 8, 1024, 4, (128, 2, 4, 512), 28, 1),
            "base" => (768, 12, 12, 3072, 16, (512, 8, 16, 2048), 224, 3),
            other => crate::bail!(Invalid, "unknown ViT preset {other:?}: expected nano, micro, tiny, small, base or a config.json"),
        };
        Ok(ViTConfig {
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: mlp,
            layer_norm_eps: 1e-6,
            image_size: image,
            patch_size: patch,
            num_channels: channels,
            decoder_hidden_size: Some(dec.0),
            decoder_num_hidden_layers: Some(dec.1),
            decoder_num_attention_heads: Some(dec.2),
            decoder_intermediate_size: Some(dec.3),
            mask_ratio: Some(0.75),
            norm_pix_loss: Some(true),
            architectures: Some(vec!["ViTMAEForPreTraining".into()]),
            ..ViTConfig::default()
        })
    }

    /// A preset (or FILE.json) by name: a name ending in .json is read as a config file.
    pub fn named(name: &str) -> Result<ViTConfig> {
        if name.ends_with(".json") { ViTConfig::from_file(Path::new(name)) } else { ViTConfig::preset(name) }
    }

    /// This config for images of `channels` x `size` x `size`: the sizes of a preset follow the data.
    pub fn for_images(mut self, channels: usize, size: usize) -> Result<ViTConfig> {
        self.num_channels = channels;
        self.image_size = size;
        self.validate()?;
        Ok(self)
    }

    /// Reads and checks a `config.json`; errors name the file.
    pub fn from_file(path: &Path) -> Result<ViTConfig> {
        let c: ViTConfig = hf::read_config(path)?;
        c.validate().map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// Errors when the sizes do not make sense together.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if !matches!(self.model_type.as_str(), "vit" | "vit_mae") {
            return bad(format!("model_type {:?} is not a ViT (vit or vit_mae)", self.model_type));
        }
        let heads_ok = |hidden: usize, heads: usize, what: &str| -> Result<()> {
            if hidden == 0 || heads == 0 || hidden % heads != 0 {
                crate::bail!(Invalid, "{what} hidden size {hidden} is not a positive multiple of its {heads} heads");
            }
            if hidden / heads > 128 {
                crate::bail!(Invalid, "{what} head size {} exceeds the fused attention kernel's 128", hidden / heads);
            }
            Ok(())
        };
        heads_ok(self.hidden_size, self.num_attention_heads, "encoder")?;
        if self.patch_size == 0 || self.image_size == 0 || self.image_size % self.patch_size != 0 {
            return bad(format!("image_size {} is not a positive multiple of patch_size {}", self.image_size, self.patch_size));
        }
        if self.num_channels == 0 || self.intermediate_size == 0 {
            return bad("num_channels and intermediate_size must be positive".into());
        }
        if !self.qkv_bias {
            return bad("qkv_bias false is not supported (the attention projections always carry biases)".into());
        }
        if !matches!(self.hidden_act.as_str(), "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu") {
            return bad(format!("hidden_act {:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)", self.hidden_act));
        }
        if !matches!(self.classifier_pooling.as_str(), "cls" | "mean") {
            return bad(format!("classifier_pooling {:?} must be cls or mean", self.classifier_pooling));
        }
        if !(self.layer_norm_eps > 0.0) {
            return bad(format!("layer_norm_eps {} must be positive", self.layer_norm_eps));
        }
        if self.is_mae() {
            if self.hidden_size % 4 != 0 {
                return bad(format!("hidden_size {} must be a multiple of 4 for 2-D sin-cos position embeddings", self.hidden_size));
            }
            let d = self.decoder();
            heads_ok(d.hidden, d.heads, "decoder")?;
            if d.hidden % 4 != 0 || d.intermediate == 0 {
                return bad(format!("decoder_hidden_size {} must be a multiple of 4 and decoder_intermediate_size positive", d.hidden));
            }
            let r = self.mask_ratio();
            if !(0.0..1.0).contains(&r) {
                return bad(format!("mask_ratio {r} must lie in [0, 1)"));
            }
        }
        Ok(())
    }

    /// Whether this is a ViT-MAE config (fixed sin-cos position embeddings, a decoder).
    pub fn is_mae(&self) -> bool {
        self.model_type == "vit_mae"
    }

    /// The decoder's sizes (ViTMAEConfig's defaults: 512, 8 layers, 16 heads, 2048).
    pub fn decoder(&self) -> DecoderSizes {
        DecoderSizes {
            hidden: self.decoder_hidden_size.unwrap_or(512),
            layers: self.decoder_num_hidden_layers.unwrap_or(8),
            heads: self.decoder_num_attention_heads.unwrap_or(16),
            intermediate: self.decoder_intermediate_size.unwrap_or(2048),
        }
    }

    /// MAE's mask ratio (default 0.75).
    pub fn mask_ratio(&self) -> f64 {
        self.mask_ratio.unwrap_or(0.75)
    }

    /// Whether MAE's loss normalises each target patch (default false, as HF).
    pub fn norm_pix_loss(&self) -> bool {
        self.norm_pix_loss.unwrap_or(false)
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patches per image, L.
    pub fn num_patches(&self) -> usize {
        self.grid() * self.grid()
    }

    /// Values per patch, p·p·C.
    pub fn patch_dim(&self) -> usize {
        self.patch_size * self.patch_size * self.num_channels
    }

    /// The activation of the MLPs.
    pub fn activation(&self) -> Activation {
        match self.hidden_act.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            _ => Activation::GeluErf,
        }
    }

    /// Class names in index order (from id2label), empty without.
    pub fn labels(&self) -> Vec<String> {
        let Some(m) = &self.id2label else { return Vec::new() };
        let mut v: Vec<(usize, String)> = m.iter().filter_map(|(k, v)| k.parse().ok().map(|k: usize| (k, v.clone()))).collect();
        v.sort();
        v.into_iter().map(|(_, l)| l).collect()
    }

    /// The same encoder as a ViTForImageClassification config over `labels` (decoder fields dropped).
    pub fn for_classification(&self, labels: &[String]) -> ViTConfig {
        ViTConfig {
            decoder_num_attention_heads: None,
            decoder_hidden_size: None,
            decoder_num_hidden_layers: None,
            decoder_intermediate_size: None,
            mask_ratio: None,
            norm_pix_loss: None,
            encoder_stride: Some(self.patch_size),
            id2label: Some(labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone())).collect()),
            label2id: Some(labels.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect()),
            architectures: Some(vec!["ViTForImageClassification".into()]),
            model_type: "vit".into(),
            ..self.clone()
        }
    }

    pub(crate) fn block(&self, hidden: usize, heads: usize, intermediate: usize) -> BlockConfig {
        BlockConfig {
            d_model: hidden,
            heads,
            d_ff: intermediate,
            eps: self.layer_norm_eps,
            pre_ln: true,
            dropout: self.hidden_dropout_prob,
            attn_dropout: self.attention_probs_dropout_prob,
            act: self.activation(),
            init: Init::XavierUniform,
        }
    }
}

/// HF's fixed 2-D sin-cos position embeddings `[1 + grid², dim]` (row 0, the \[CLS\] row, all zeros), computed
/// in f64 as transformers' `build_2d_sinusoidal_position_embedding` with its halves swapped to the original
/// MAE layout: for patch (i, j) = (row, column), with ω_k = 1/10000^(k/(dim/4)), k < dim/4, the row is
/// `[sin(j·ω) | cos(j·ω) | sin(i·ω) | cos(i·ω)]`: the first half encodes the column (the "w goes first" meshgrid).
pub fn sincos_2d(dim: usize, grid: usize) -> Vec<f32> {
    let q = dim / 4;
    let mut out = vec![0f32; (1 + grid * grid) * dim];
    for i in 0..grid {
        for j in 0..grid {
            let row = &mut out[(1 + i * grid + j) * dim..(2 + i * grid + j) * dim];
            for k in 0..q {
                let omega = 1.0 / 10000f64.powf(k as f64 / q as f64);
                let (w, h) = (j as f64 * omega, i as f64 * omega);
                row[k] = w.sin() as f32;
                row[q + k] = w.cos() as f32;
                row[2 * q + k] = h.sin() as f32;
                row[3 * q + k] = h.cos() as f32;
            }
        }
    }
    out
}

/// Which patches a batch keeps, per sample: the encoder's input tokens.
#[derive(Debug, Clone)]
pub struct Keep {
    /// `[batch, 1 + keep]` I32: -1 (the \[CLS\] slot) then the kept patch indices in order.
    pub index: Tensor,
    pub keep: usize,
}

impl Keep {
    /// Every patch, in order.
    pub fn all(gpu: &Gpu, batch: usize, patches: usize) -> Result<Keep> {
        let row: Vec<i32> = std::iter::once(-1).chain(0..patches as i32).collect();
        let index: Vec<i32> = (0..batch).flat_map(|_| row.iter().copied()).collect();
        Ok(Keep { index: Tensor::from_slice(gpu, &index, &[batch, 1 + patches])?, keep: patches })
    }

    /// The patches `ids[b]` of each sample (each `keep` long).
    pub fn of(gpu: &Gpu, ids: &[Vec<usize>]) -> Result<Keep> {
        let keep = ids.first().map(|r| r.len()).unwrap_or(0);
        let mut index = Vec::with_capacity(ids.len() * (1 + keep));
        for r in ids {
            if r.len() != keep {
                crate::bail!(Shape, "keep: rows of {} and {keep} patches", r.len());
            }
            index.push(-1);
            index.extend(r.iter().map(|&i| i as i32));
        }
        Ok(Keep { index: Tensor::from_slice(gpu, &index, &[ids.len(), 1 + keep])?, keep })
    }
}

/// The encoder. Parameter names as HF's `ViTModel` (stored under `vit.` in task checkpoints).
#[derive(Debug, Clone)]
pub struct Vit {
    pub config: ViTConfig,
    /// `embeddings.cls_token` `[1, 1, hidden]`.
    pub cls_token: Param,
    /// `embeddings.position_embeddings` `[1, 1 + L, hidden]`.
    pub position_embeddings: Param,
    /// Whether the position embeddings are trained (ViT) or fixed (MAE's sin-cos, `requires_grad=False`).
    pub train_positions: bool,
    /// `embeddings.patch_embeddings.projection.weight` `[hidden, C, p, p]`.
    pub patch_weight: Param,
    /// `embeddings.patch_embeddings.projection.bias` `[hidden]`.
    pub patch_bias: Param,
    pub layers: Vec<TransformerBlock>,
    /// `layernorm`, after the last block.
    pub layernorm: LayerNorm,
    /// `fc_norm`: the LayerNorm after mean pooling ("mean" pooling only).
    pub fc_norm: Option<LayerNorm>,
}

impl Vit {
    /// A fresh encoder initialised as MAE does (facebookresearch/mae `initialize_weights`): Xavier-uniform
    /// linear layers and patch embedding (over its `[hidden, C·p·p]` view), zero biases, unit LayerNorms,
    /// \[CLS\] normal(0.02), 2-D sin-cos position embeddings (fixed for "vit_mae", a starting point for "vit").
    pub fn new(gpu: &Gpu, config: &ViTConfig, rng: &mut Rng) -> Result<Vit> {
        config.validate()?;
        let c = config;
        let (d, l) = (c.hidden_size, c.num_patches());
        let block = c.block(d, c.num_attention_heads, c.intermediate_size);
        let cls = init_tensor(gpu, &[1, 1, d], Init::Normal(c.initializer_range), rng)?;
        let pos = if d % 4 == 0 {
            Tensor::from_slice(gpu, &sincos_2d(d, c.grid()), &[1, 1 + l, d])?
        } else {
            init_tensor(gpu, &[1, 1 + l, d], Init::Normal(c.initializer_range), rng)?
        };
        let w = init_tensor(gpu, &[d, c.patch_dim()], Init::XavierUniform, rng)?.reshape(&[d, c.num_channels, c.patch_size, c.patch_size])?;
        let fc_norm = if c.classifier_pooling == "mean" { Some(LayerNorm::new(gpu, "fc_norm", d, c.layer_norm_eps)?) } else { None };
        Ok(Vit {
            config: c.clone(),
            cls_token: Param::new("embeddings.cls_token", cls, false),
            position_embeddings: Param::new("embeddings.position_embeddings", pos, false),
            train_positions: !c.is_mae(),
            patch_weight: Param::new("embeddings.patch_embeddings.projection.weight", w, true),
            patch_bias: Param::new("embeddings.patch_embeddings.projection.bias", init_tensor(gpu, &[d], Init::Zeros, rng)?, false),
            layers: (0..c.num_hidden_layers)
                .map(|i| TransformerBlock::new(gpu, &BlockNames::vit(&format!("encoder.layer.{i}")), &block, rng))
                .collect::<Result<_>>()?,
            layernorm: LayerNorm::new(gpu, "layernorm", d, c.layer_norm_eps)?,
            fc_norm,
        })
    }

    /// Checks that a batch of images fits the model; the error names the shape.
    pub fn check_images(&self, images: &Tensor) -> Result<[usize; 4]> {
        let c = &self.config;
        let [b, ch, h, w] = images.dims::<4>("vit", "images")?;
        if ch != c.num_channels || h != c.image_size || w != c.image_size {
            crate::bail!(
                Shape,
                "vit: images are {ch}x{h}x{w} (channels x height x width), the model takes {}x{}x{}",
                c.num_channels,
                c.image_size,
                c.image_size
            );
        }
        Ok([b, ch, h, w])
    }

    /// Patch embeddings plus positions, `[batch, L, hidden]`, of images `[batch, C, H, W]`.
    fn patch_tokens(&self, tape: &mut Tape, images: &Tensor, positions: Var) -> Result<Var> {
        let c = &self.config;
        let [b, ..] = self.check_images(images)?;
        let x = tape.constant(images.clone());
        let patches = ops::patchify(tape, x, c.patch_size, PatchOrder::Cpq)?; // [b, L, C·p·p]
        let w = self.patch_weight.var(tape);
        let w = ops::reshape(tape, w, &[c.hidden_size, c.patch_dim()])?;
        let bias = self.patch_bias.var(tape);
        let x = ops::linear(tape, patches, w, Some(bias))?;
        let pos = ops::slice(tape, positions, 1, 1, c.num_patches())?; // [1, L, hidden]
        let x = ops::add(tape, x, pos)?;
        debug_assert_eq!(tape.shape(x), &[b, c.num_patches(), c.hidden_size]);
        Ok(x)
    }

    /// The position embeddings on the tape: a parameter when trained, a constant when fixed.
    fn positions(&self, tape: &mut Tape) -> Var {
        if self.train_positions { self.position_embeddings.var(tape) } else { tape.constant(self.position_embeddings.value.clone()) }
    }

    /// The token sequence `[batch, 1 + keep, hidden]`: \[CLS\] + its position, then the kept patches' embeddings
    /// plus their positions (positions added before masking, as HF).
    pub fn embed(&self, tape: &mut Tape, images: &Tensor, keep: &Keep) -> Result<Var> {
        let d = self.config.hidden_size;
        let positions = self.positions(tape);
        let x = self.patch_tokens(tape, images, positions)?;
        let x = ops::gather_rows(tape, x, &keep.index)?; // row 0 is zeros (index -1)
        let cls = self.cls_token.var(tape);
        let cls_pos = ops::slice(tape, positions, 1, 0, 1)?;
        let cls = ops::add(tape, cls, cls_pos)?; // [1, 1, hidden]
        let head = if keep.keep > 0 {
            let zeros = tape.constant(crate::kernels::fill::full(tape.gpu(), &[1, keep.keep, d], 0.0)?);
            ops::concat(tape, &[cls, zeros], 1)?
        } else {
            cls
        };
        ops::add(tape, x, head)
    }

    /// The last block's output `[batch, 1 + keep, hidden]`, before the final LayerNorm.
    pub fn blocks(&self, tape: &mut Tape, images: &Tensor, keep: &Keep) -> Result<Var> {
        let mut x = self.embed(tape, images, keep)?;
        for layer in &self.layers {
            x = layer.forward(tape, x, None)?;
        }
        Ok(x)
    }

    /// HF's `last_hidden_state`: the final LayerNorm of `blocks`.
    pub fn forward(&self, tape: &mut Tape, images: &Tensor, keep: &Keep) -> Result<Var> {
        let x = self.blocks(tape, images, keep)?;
        self.layernorm.forward(tape, x)
    }

    /// Pooled features `[batch, hidden]` of every patch, as `classifier_pooling` says.
    pub fn pooled(&self, tape: &mut Tape, images: &Tensor) -> Result<Var> {
        self.pooled_blocks(tape, images, 1)
    }

    /// The outputs of the last `n` blocks, each pooled as `classifier_pooling` says (with "cls", the final
    /// LayerNorm of its \[CLS\] row; with "mean", `fc_norm` of its patches' mean), concatenated `[batch, n·hidden]`,
    /// earliest block first: DINO's linear-probe feature for ViTs reads the last 4 (`get_intermediate_layers`).
    pub fn pooled_blocks(&self, tape: &mut Tape, images: &Tensor, n: usize) -> Result<Var> {
        let depth = self.layers.len();
        if n == 0 || n > depth {
            crate::bail!(Invalid, "vit: cannot pool the last {n} blocks of a {depth}-block encoder (1 to {depth})");
        }
        let [b, ..] = self.check_images(images)?;
        let (d, l) = (self.config.hidden_size, self.config.num_patches());
        let keep = Keep::all(tape.gpu(), b, l)?;
        let mut x = self.embed(tape, images, &keep)?;
        let mut pooled = Vec::with_capacity(n);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(tape, x, None)?;
            if i + n >= depth {
                pooled.push(self.pool(tape, x, b, d, l)?);
            }
        }
        if pooled.len() == 1 { Ok(pooled[0]) } else { ops::concat(tape, &pooled, 1) }
    }

    /// One block's output `[batch, 1 + L, hidden]` pooled to `[batch, hidden]` as `classifier_pooling` says.
    fn pool(&self, tape: &mut Tape, h: Var, b: usize, d: usize, l: usize) -> Result<Var> {
        match &self.fc_norm {
            None => {
                let cls = ops::slice(tape, h, 1, 0, 1)?;
                let cls = ops::reshape(tape, cls, &[b, d])?;
                self.layernorm.forward(tape, cls)
            }
            Some(norm) => {
                let patches = ops::slice(tape, h, 1, 1, l)?;
                let mean = ops::mean_to(tape, patches, &[b, 1, d])?;
                let mean = ops::reshape(tape, mean, &[b, d])?;
                norm.forward(tape, mean)
            }
        }
    }

    /// The parameters fine-tuning updates (the position embeddings only when trained; `layernorm` only when it is
    /// used, that is with "cls" pooling).
    pub fn params(&self) -> Vec<&Param> {
        let mut p = vec![&self.cls_token];
        if self.train_positions {
            p.push(&self.position_embeddings);
        }
        p.extend([&self.patch_weight, &self.patch_bias]);
        p.extend(self.layers.iter().flat_map(|l| l.params()));
        match &self.fc_norm {
            Some(n) => p.extend(n.params()),
            None => p.extend(self.layernorm.params()),
        }
        p
    }

    /// Every tensor of the encoder, for saving: all parameters, fixed ones included.
    pub fn all_params(&self) -> Vec<&Param> {
        let mut p = vec![&self.cls_token, &self.position_embeddings, &self.patch_weight, &self.patch_bias];
        p.extend(self.layers.iter().flat_map(|l| l.params()));
        p.extend(self.layernorm.params());
        if let Some(n) = &self.fc_norm {
            p.extend(n.params());
        }
        p
    }

    /// The layer-wise learning-rate decay group of a parameter (BEiT / MAE fine-tuning): 0 for the embeddings,
    /// i + 1 for block i, `layers + 1` for everything after the blocks (norms and heads).
    pub fn layer_id(&self, name: &str) -> usize {
        if name.starts_with("embeddings.") {
            return 0;
        }
        if let Some(rest) = name.strip_prefix("encoder.layer.") {
            if let Some(i) = rest.split('.').next().and_then(|s| s.parse::<usize>().ok()) {
                return i + 1;
            }
        }
        self.layers.len() + 1
    }
}

impl Encoder for Vit {
    type Example = Vec<f32>;

    /// One preprocessed image each, channel-first `[C, H, W]`; pooled as `classifier_pooling` says.
    fn encode(&self, tape: &mut Tape, batch: &[&Vec<f32>]) -> Result<Var> {
        self.encode_blocks(tape, batch, 1)
    }

    /// `pooled_blocks` of the last `blocks` blocks.
    fn encode_blocks(&self, tape: &mut Tape, batch: &[&Vec<f32>], blocks: usize) -> Result<Var> {
        let images = stack_images(tape.gpu(), batch, &self.config)?;
        self.pooled_blocks(tape, &images, blocks)
    }

    fn dim(&self) -> usize {
        self.config.hidden_size
    }

    fn params(&self) -> Vec<&Param> {
        Vit::params(self)
    }
}

/// Stacks preprocessed images `[C, H, W]` into one device tensor `[batch, C, H, W]` for `config`; an image of
/// the wrong size is an error naming its position in the batch.
pub fn stack_images(gpu: &Gpu, images: &[&Vec<f32>], config: &ViTConfig) -> Result<Tensor> {
    let (c, s) = (config.num_channels, config.image_size);
    let n = c * s * s;
    let mut data = Vec::with_capacity(images.len() * n);
    for (i, im) in images.iter().enumerate() {
        if im.len() != n {
            crate::bail!(Shape, "vit: image {i} of the batch has {} values, the model takes {c}x{s}x{s} = {n}", im.len());
        }
        data.extend_from_slice(im);
    }
    Tensor::from_slice(gpu, &data, &[images.len(), c, s, s])
}

/// A HF checkpoint with the decoder layers under the name transformers 5 writes (`decoder.decoder_encoder.layer.N`)
/// renamed to the original `decoder.decoder_layers.N`, so both load.
pub fn canonical_names(file: TensorFile) -> TensorFile {
    let tensors = file
        .tensors
        .into_iter()
        .map(|(k, v)| (k.replacen("decoder.decoder_encoder.layer.", "decoder.decoder_layers.", 1), v))
        .collect();
    TensorFile { tensors, ..file }
}

/// Loads parameters from a HF safetensors file (names with or without `vit.`).
pub fn load_params(gpu: &Gpu, file: &TensorFile, params: &[&Param]) -> Result<LoadReport> {
    hf::load_params(gpu, file, params, &NameMap::VIT)
}

/// Writes the model directory `dir` whole: `config.json` and `model.safetensors` with the encoder's names under
/// `vit.` (heads as they are), as HF's `ViTMAEForPreTraining` and `ViTForImageClassification` save them.
pub fn save_model(gpu: &Gpu, dir: &Path, config: &ViTConfig, params: &[&Param]) -> Result<()> {
    hf::save_model(gpu, dir, config, &NameMap::VIT.tensors(params, true))
}

/// Writes `config.json` and `model.safetensors` into `dir` as they are (for a commit that adds
/// `preprocessor_config.json`: call `checkpoint::commit_model_dir` with this and the extra write).
pub fn write_model(gpu: &Gpu, dir: &Path, config: &ViTConfig, params: &[&Param]) -> Result<()> {
    hf::write_model(gpu, dir, config, &NameMap::VIT.tensors(params, true))
}
