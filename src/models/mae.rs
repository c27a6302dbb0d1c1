//! Masked autoencoder (He et al., *Masked Autoencoders Are Scalable Vision Learners*), numerically HF's
//! `ViTMAEForPreTraining`: random masking from per-sample noise, the ViT encoder on the visible patches, a light
//! decoder (embed, mask tokens, unshuffle, \[CLS\], fixed sin-cos positions, pre-LN blocks, norm, a prediction
//! of p·p·C values per patch), and `forward_loss` (per-patch MSE against targets patchified in (p, q, c) order,
//! normalised per patch with the unbiased variance and eps 1e-6 when `norm_pix_loss`, mean over masked patches).
//!
//! The masking's argsort runs on the host (a few hundred indices per image); the gathers run on the GPU. The
//! decoder's "append mask tokens, unshuffle, prepend \[CLS\]" is one `gather_rows` with index -1 (a zero row) at
//! masked positions, plus `mask · mask_token`: the same values as HF's cat + gather + cat.
use std::path::Path;

use crate::autograd::{ops, Tape, Var};
use crate::checkpoint::TensorFile;
use crate::gpu::Gpu;
use crate::kernels::patch::PatchOrder;
use crate::models::hf::LoadReport;
use crate::models::vit::{self, sincos_2d, Keep, ViTConfig, Vit};
use crate::nn::{init_tensor, BlockNames, Init, LayerNorm, Linear, Param, TransformerBlock};
use crate::rng::Rng;
use crate::{Error, Result, Tensor};

/// One batch's random masking, as HF's `random_masking` (mask 1 = removed).
#[derive(Debug, Clone, PartialEq)]
pub struct Masking {
    pub batch: usize,
    /// Patches per image, L.
    pub patches: usize,
    /// Visible patches per image: `int(L · (1 − mask_ratio))`.
    pub keep: usize,
    /// `argsort(noise)` per image, `[batch][L]`: the first `keep` are visible.
    pub ids_shuffle: Vec<Vec<usize>>,
    /// `argsort(ids_shuffle)` per image, `[batch][L]`.
    pub ids_restore: Vec<Vec<usize>>,
    /// `[batch][L]`: 0 kept, 1 removed.
    pub mask: Vec<Vec<f32>>,
}

/// HF's `len_keep = int(L * (1 - mask_ratio))`, in f64 as Python computes it.
pub fn len_keep(patches: usize, mask_ratio: f64) -> usize {
    (patches as f64 * (1.0 - mask_ratio)) as usize
}

impl Masking {
    /// From per-sample noise `[batch * L]` (HF's `noise` argument): `ids_shuffle = argsort(noise)` (stable; ties
    /// never occur with continuous noise), `ids_restore = argsort(ids_shuffle)`.
    pub fn from_noise(noise: &[f32], batch: usize, patches: usize, mask_ratio: f64) -> Result<Masking> {
        if noise.len() != batch * patches {
            crate::bail!(Shape, "mae: noise has {} values, expected {batch} images x {patches} patches", noise.len());
        }
        if noise.iter().any(|x| !x.is_finite()) {
            crate::bail!(Invalid, "mae: noise must be finite numbers");
        }
        let keep = len_keep(patches, mask_ratio);
        let mut ids_shuffle = Vec::with_capacity(batch);
        let mut ids_restore = Vec::with_capacity(batch);
        let mut mask = Vec::with_capacity(batch);
        for row in noise.chunks(patches.max(1)).take(batch) {
            let mut order: Vec<usize> = (0..patches).collect();
            order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            let mut restore = vec![0; patches];
            for (rank, &l) in order.iter().enumerate() {
                restore[l] = rank;
            }
            mask.push(restore.iter().map(|&r| if r < keep { 0.0 } else { 1.0 }).collect());
            ids_shuffle.push(order);
            ids_restore.push(restore);
        }
        Ok(Masking { batch, patches, keep, ids_shuffle, ids_restore, mask })
    }

    /// Uniform noise in [0, 1) from `rng` (as `torch.rand`), then `from_noise`.
    pub fn random(rng: &mut Rng, batch: usize, patches: usize, mask_ratio: f64) -> Result<Masking> {
        let noise: Vec<f32> = (0..batch * patches).map(|_| rng.uniform() as f32).collect();
        Masking::from_noise(&noise, batch, patches, mask_ratio)
    }

    /// The encoder's tokens: the visible patches of each image, in `ids_shuffle` order.
    pub fn visible(&self, gpu: &Gpu) -> Result<Keep> {
        let ids: Vec<Vec<usize>> = self.ids_shuffle.iter().map(|r| r[..self.keep].to_vec()).collect();
        Keep::of(gpu, &ids)
    }

    /// The decoder's unshuffle `[batch, 1 + L]` I32 into its input `[batch, 1 + keep, ..]`: 0 (\[CLS\]), then for
    /// patch l the row 1 + ids_restore\[l\] when visible, -1 (a zero row, filled by the mask token) when removed.
    pub fn unshuffle_index(&self, gpu: &Gpu) -> Result<Tensor> {
        let mut index = Vec::with_capacity(self.batch * (1 + self.patches));
        for r in &self.ids_restore {
            index.push(0);
            index.extend(r.iter().map(|&k| if k < self.keep { 1 + k as i32 } else { -1 }));
        }
        Tensor::from_slice(gpu, &index, &[self.batch, 1 + self.patches])
    }

    /// The mask as a device tensor `[batch, L]` f32.
    pub fn mask_tensor(&self, gpu: &Gpu) -> Result<Tensor> {
        let flat: Vec<f32> = self.mask.iter().flatten().copied().collect();
        Tensor::from_slice(gpu, &flat, &[self.batch, self.patches])
    }

    /// The mask with a leading 0 for \[CLS\], `[batch, 1 + L, 1]`: where the decoder puts mask tokens.
    fn mask_with_cls(&self, gpu: &Gpu) -> Result<Tensor> {
        let flat: Vec<f32> = self.mask.iter().flat_map(|r| std::iter::once(0.0).chain(r.iter().copied())).collect();
        Tensor::from_slice(gpu, &flat, &[self.batch, 1 + self.patches, 1])
    }
}

/// The decoder: `decoder.decoder_embed`, `decoder.mask_token`, `decoder.decoder_pos_embed` (fixed),
/// `decoder.decoder_layers.N`, `decoder.decoder_norm`, `decoder.decoder_pred`.
#[derive(Debug, Clone)]
pub struct MaeDecoder {
    pub embed: Linear,
    pub mask_token: Param,
    pub pos_embed: Param,
    pub layers: Vec<TransformerBlock>,
    pub norm: LayerNorm,
    pub pred: Linear,
}

impl MaeDecoder {
    /// A fresh decoder for `config` (Xavier-uniform linear layers, mask token normal(0.02), sin-cos positions).
    pub fn new(gpu: &Gpu, config: &ViTConfig, rng: &mut Rng) -> Result<MaeDecoder> {
        let c = config;
        let d = c.decoder();
        let block = c.block(d.hidden, d.heads, d.intermediate);
        Ok(MaeDecoder {
            embed: Linear::new(gpu, "decoder.decoder_embed", c.hidden_size, d.hidden, true, Init::XavierUniform, rng)?,
            mask_token: Param::new("decoder.mask_token", init_tensor(gpu, &[1, 1, d.hidden], Init::Normal(c.initializer_range), rng)?, false),
            pos_embed: Param::new(
                "decoder.decoder_pos_embed",
                Tensor::from_slice(gpu, &sincos_2d(d.hidden, c.grid()), &[1, 1 + c.num_patches(), d.hidden])?,
                false,
            ),
            layers: (0..d.layers)
                .map(|i| TransformerBlock::new(gpu, &BlockNames::vit(&format!("decoder.decoder_layers.{i}")), &block, rng))
                .collect::<Result<_>>()?,
            norm: LayerNorm::new(gpu, "decoder.decoder_norm", d.hidden, c.layer_norm_eps)?,
            pred: Linear::new(gpu, "decoder.decoder_pred", d.hidden, c.patch_dim(), true, Init::XavierUniform, rng)?,
        })
    }

    /// Predictions `[batch, L, p·p·C]` from the encoder's output `[batch, 1 + keep, hidden]`.
    pub fn forward(&self, tape: &mut Tape, latent: Var, masking: &Masking) -> Result<Var> {
        let gpu = tape.gpu();
        let x = self.embed.forward(tape, latent)?; // [b, 1 + keep, dd]
        let x = ops::gather_rows(tape, x, &masking.unshuffle_index(gpu)?)?; // [b, 1 + L, dd], zeros at masked rows
        let m = tape.constant(masking.mask_with_cls(gpu)?);
        let token = self.mask_token.var(tape);
        let fill = ops::mul(tape, m, token)?; // [b, 1 + L, dd]: the mask token at masked rows
        let x = ops::add(tape, x, fill)?;
        let pos = tape.constant(self.pos_embed.value.clone());
        let mut x = ops::add(tape, x, pos)?;
        for layer in &self.layers {
            x = layer.forward(tape, x, None)?;
        }
        let x = self.norm.forward(tape, x)?;
        let logits = self.pred.forward(tape, x)?;
        ops::slice(tape, logits, 1, 1, masking.patches)
    }

    /// The trainable parameters (the position embeddings are fixed).
    pub fn params(&self) -> Vec<&Param> {
        let mut p = self.embed.params();
        p.push(&self.mask_token);
        p.extend(self.layers.iter().flat_map(|l| l.params()));
        p.extend(self.norm.params());
        p.extend(self.pred.params());
        p
    }

    /// Every tensor, for saving.
    pub fn all_params(&self) -> Vec<&Param> {
        let mut p = self.params();
        p.insert(2, &self.pos_embed);
        p
    }
}

/// The encoder and the decoder: HF's `ViTMAEForPreTraining`.
#[derive(Debug, Clone)]
pub struct Mae {
    pub vit: Vit,
    pub decoder: MaeDecoder,
}

/// One forward pass: the loss, the predictions and the masking used.
pub struct MaeOutput {
    /// `forward_loss`, `[1]`.
    pub loss: Var,
    /// Predictions `[batch, L, p·p·C]` (HF's `logits`).
    pub logits: Var,
    /// Targets `[batch, L, p·p·C]` in (p, q, c) order, not normalised.
    pub target: Tensor,
    pub masking: Masking,
}

impl Mae {
    /// A fresh model for a ViT-MAE `config`.
    pub fn new(gpu: &Gpu, config: &ViTConfig, rng: &mut Rng) -> Result<Mae> {
        if !config.is_mae() {
            crate::bail!(Invalid, "mae: model_type {:?} has no decoder (expected vit_mae)", config.model_type);
        }
        let vit = Vit::new(gpu, config, rng)?;
        let decoder = MaeDecoder::new(gpu, config, rng)?;
        Ok(Mae { vit, decoder })
    }

    /// The config.
    pub fn config(&self) -> &ViTConfig {
        &self.vit.config
    }

    /// Loss and predictions of images `[batch, C, H, W]` under `masking`.
    pub fn forward(&self, tape: &mut Tape, images: &Tensor, masking: &Masking) -> Result<MaeOutput> {
        let c = self.config();
        let [b, ..] = self.vit.check_images(images)?;
        if masking.batch != b || masking.patches != c.num_patches() {
            crate::bail!(Shape, "mae: masking of {}x{} patches for {b} images of {} patches", masking.batch, masking.patches, c.num_patches());
        }
        let latent = self.vit.forward(tape, images, &masking.visible(tape.gpu())?)?;
        let logits = self.decoder.forward(tape, latent, masking)?;
        let target = crate::kernels::patch::patchify(tape.gpu(), images, c.patch_size, PatchOrder::Pqc)?;
        let mask = masking.mask_tensor(tape.gpu())?;
        let loss = ops::recon_loss(tape, logits, &target, &mask, c.norm_pix_loss())?;
        Ok(MaeOutput { loss, logits, target, masking: masking.clone() })
    }

    /// The trainable parameters (fixed position embeddings excluded).
    pub fn params(&self) -> Vec<&Param> {
        let mut p = self.vit.params();
        p.extend(self.decoder.params());
        p
    }

    /// Every tensor, for saving.
    pub fn all_params(&self) -> Vec<&Param> {
        let mut p = self.vit.all_params();
        p.extend(self.decoder.all_params());
        p
    }

    /// Loads a HF directory's weights (`vit.` prefix or not; either decoder layer naming).
    pub fn load(gpu: &Gpu, file: TensorFile, config: &ViTConfig) -> Result<(Mae, LoadReport)> {
        let mut rng = Rng::new(0);
        let mae = Mae::new(gpu, config, &mut rng)?;
        let file = vit::canonical_names(file);
        let report = vit::load_params(gpu, &file, &mae.all_params())?;
        if !report.missing.is_empty() {
            crate::bail!(Invalid, "{}: missing tensors of a ViT-MAE model: {:?}", file.path.display(), report.missing);
        }
        Ok((mae, report))
    }

    /// Writes a HF `ViTMAEForPreTraining` directory (config.json with architectures set, model.safetensors).
    pub fn save(&self, gpu: &Gpu, dir: &Path) -> Result<()> {
        let mut config = self.config().clone();
        config.architectures = Some(vec!["ViTMAEForPreTraining".into()]);
        vit::save_model(gpu, dir, &config, &self.all_params())
    }
}

/// HF's `forward_loss` of one image on the host (f64): per-patch MSE against the target patch (normalised with
/// its mean and unbiased variance, eps 1e-6, when `norm_pix`), mean over the masked patches (0 when none).
pub fn image_loss(pred: &[f32], target: &[f32], mask: &[f32], patch_dim: usize, norm_pix: bool) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for ((p, t), &m) in pred.chunks(patch_dim).zip(target.chunks(patch_dim)).zip(mask) {
        let (mu, sd) = if norm_pix { patch_stats(t) } else { (0.0, 1.0) };
        let mse = p.iter().zip(t).map(|(&p, &t)| (p as f64 - (t as f64 - mu) / sd).powi(2)).sum::<f64>() / patch_dim as f64;
        num += mse * m as f64;
        den += m as f64;
    }
    if den == 0.0 { 0.0 } else { num / den }
}

/// (mean, sqrt(unbiased variance + 1e-6)) of one target patch: how norm-pix predictions are un-normalised.
pub fn patch_stats(t: &[f32]) -> (f64, f64) {
    let n = t.len() as f64;
    let mu = t.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = t.iter().map(|&x| (x as f64 - mu).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mu, (var + 1e-6).sqrt())
}

/// The error for a model directory that is not a ViT-MAE one.
pub fn not_mae(dir: &Path, config: &ViTConfig) -> Error {
    Error::Invalid(format!("{}: model_type {:?} is not a ViT-MAE model (vit_mae)", dir.display(), config.model_type))
}
