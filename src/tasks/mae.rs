//! MAE pretraining: each step draws a batch, augments it as MAE does (random resized crop with scale 0.2–1 and a
//! horizontal flip), masks it with fresh noise, and returns HF's `forward_loss`. Evaluation: the reconstruction
//! loss on held-out images at masks fixed by a constant seed (the same every evaluation), and a PNG of the
//! reconstructions of the first held-out images. Also the reconstruction pictures the CLI and library draw.
use std::path::PathBuf;

use crate::autograd::{Tape, Var};
use crate::data::augment::random_resized_crop_flip;
use crate::data::images::Preprocessor;
use crate::gpu::Gpu;
use crate::kernels::patch::{unpatchify, PatchOrder};
use crate::models::mae::{image_loss, patch_stats, Mae, Masking};
use crate::models::vit::stack_images;
use crate::nn::Param;
use crate::plot::{write_picture_grid, Picture};
use crate::rng::Rng;
use crate::train::Task;
use crate::{Result, Tensor};

/// One image's reconstruction by MAE.
#[derive(Debug, Clone)]
pub struct Reconstruction {
    /// HF's `forward_loss` of this image alone.
    pub loss: f64,
    /// Per patch: 0 visible, 1 removed.
    pub mask: Vec<u8>,
    /// HF's `ids_restore`.
    pub ids_restore: Vec<usize>,
    /// The decoder's prediction, a row of p·p·C values per patch (HF's `logits`).
    pub logits: Vec<Vec<f32>>,
    /// original | masked | reconstruction | reconstruction with the visible patches pasted back, in [0, 1]
    /// (predictions un-normalised with each target patch's own mean and variance when `norm_pix_loss`).
    pub pictures: [Picture; 4],
}

/// Titles of the four pictures of a reconstruction.
pub const RECONSTRUCTION_TITLES: [&str; 4] = ["original", "masked", "reconstruction", "pasted"];

/// Reconstructions of `images` (preprocessed, `[C, H, W]`) under `masking`; `preprocessor` maps them back to
/// [0, 1] for the pictures.
pub fn reconstruct(gpu: &Gpu, mae: &Mae, preprocessor: &Preprocessor, images: &[&Vec<f32>], masking: &Masking) -> Result<Vec<Reconstruction>> {
    let c = mae.config();
    let (l, pd, b) = (c.num_patches(), c.patch_dim(), images.len());
    let images_t = stack_images(gpu, images, c)?;
    let mut tape = Tape::inference(gpu);
    let o = mae.forward(&mut tape, &images_t, masking)?;
    let logits = tape.value(o.logits).to_vec::<f32>(gpu)?;
    let target = o.target.to_vec::<f32>(gpu)?;
    drop(tape);
    // The four pictures assembled as patches on the host, put back into images by `unpatchify`.
    let mut patches = vec![0f32; 4 * b * l * pd]; // [4 pictures][b][L][P]
    let at = |k: usize, i: usize, p: usize| ((k * b + i) * l + p) * pd;
    for i in 0..b {
        for p in 0..l {
            let t = &target[(i * l + p) * pd..(i * l + p + 1) * pd];
            let pred = &logits[(i * l + p) * pd..(i * l + p + 1) * pd];
            let (mu, sd) = if c.norm_pix_loss() { patch_stats(t) } else { (0.0, 1.0) };
            let removed = masking.mask[i][p] != 0.0;
            for e in 0..pd {
                let rec = (pred[e] as f64 * sd + mu) as f32;
                patches[at(0, i, p) + e] = t[e];
                patches[at(1, i, p) + e] = if removed { f32::NAN } else { t[e] };
                patches[at(2, i, p) + e] = rec;
                patches[at(3, i, p) + e] = if removed { rec } else { t[e] };
            }
        }
    }
    let (ch, s) = (c.num_channels, c.image_size);
    let t = Tensor::from_slice(gpu, &patches, &[4 * b, l, pd])?;
    let pixels = unpatchify(gpu, &t, ch, s, s, c.patch_size, PatchOrder::Pqc)?.to_vec::<f32>(gpu)?;
    let n = ch * s * s;
    let picture = |k: usize, i: usize| Picture { channels: ch, height: s, width: s, values: preprocessor.to_unit(&pixels[(k * b + i) * n..(k * b + i + 1) * n], ch) };
    Ok((0..b)
        .map(|i| {
            let (lg, tg) = (&logits[i * l * pd..(i + 1) * l * pd], &target[i * l * pd..(i + 1) * l * pd]);
            Reconstruction {
                loss: image_loss(lg, tg, &masking.mask[i], pd, c.norm_pix_loss()),
                mask: masking.mask[i].iter().map(|&m| m as u8).collect(),
                ids_restore: masking.ids_restore[i].clone(),
                logits: lg.chunks(pd).map(<[f32]>::to_vec).collect(),
                pictures: [picture(0, i), picture(1, i), picture(2, i), picture(3, i)],
            }
        })
        .collect())
}

/// Writes reconstructions as a PNG grid: a row per image, the four pictures as columns, each pixel `scale`².
pub fn write_reconstructions(path: &std::path::Path, recons: &[Reconstruction], scale: u32) -> Result<()> {
    let rows: Vec<Vec<Picture>> = recons.iter().map(|r| r.pictures.to_vec()).collect();
    write_picture_grid(path, &rows, &RECONSTRUCTION_TITLES, scale)
}

/// MAE pretraining on preprocessed images `[C, H, W]`.
pub struct MaeTask {
    pub mae: Mae,
    pub train: Vec<Vec<f32>>,
    pub eval: Vec<Vec<f32>>,
    pub batch: usize,
    /// Random resized crop (scale `crop_scale`) and flip on each training image.
    pub augment: bool,
    pub crop_scale: (f64, f64),
    /// Where each evaluation writes `reconstructions.png` (and `reconstructions-step-K.png`), with the
    /// preprocessor that maps images back to pixels; None: no pictures.
    pub pictures: Option<(PathBuf, Preprocessor)>,
    /// Held-out images drawn in the pictures.
    pub picture_count: usize,
    /// The step being run (set by the trainer).
    pub step: u32,
}

/// The seed of the held-out masks: the same masks at every evaluation and in every run.
const EVAL_SEED: u64 = 0x4D41_45;

impl MaeTask {
    /// A task with MAE's augmentation, pictures off.
    pub fn new(mae: Mae, train: Vec<Vec<f32>>, eval: Vec<Vec<f32>>, batch: usize) -> MaeTask {
        MaeTask { mae, train, eval, batch, augment: true, crop_scale: (0.2, 1.0), pictures: None, picture_count: 8, step: 0 }
    }

    /// Mean held-out reconstruction loss over the eval images (each image's masked patches weigh equally).
    pub fn held_out(&self, gpu: &Gpu) -> Result<f64> {
        let c = self.mae.config();
        let mut rng = Rng::new(EVAL_SEED);
        let (mut sum, mut n) = (0.0, 0usize);
        for chunk in self.eval.chunks(self.batch.max(1)) {
            let masking = Masking::random(&mut rng, chunk.len(), c.num_patches(), c.mask_ratio())?;
            let refs: Vec<&Vec<f32>> = chunk.iter().collect();
            let images = stack_images(gpu, &refs, c)?;
            let mut tape = Tape::inference(gpu);
            let out = self.mae.forward(&mut tape, &images, &masking)?;
            sum += tape.value(out.loss).to_vec::<f32>(gpu)?[0] as f64 * chunk.len() as f64;
            n += chunk.len();
        }
        Ok(sum / n.max(1) as f64)
    }

    /// Reconstructions of the first `picture_count` held-out images at fixed masks.
    pub fn held_out_reconstructions(&self, gpu: &Gpu, preprocessor: &Preprocessor) -> Result<Vec<Reconstruction>> {
        let c = self.mae.config();
        let k = self.picture_count.min(self.eval.len());
        let masking = Masking::random(&mut Rng::new(EVAL_SEED ^ 1), k, c.num_patches(), c.mask_ratio())?;
        let refs: Vec<&Vec<f32>> = self.eval[..k].iter().collect();
        reconstruct(gpu, &self.mae, preprocessor, &refs, &masking)
    }
}

impl Task for MaeTask {
    fn params(&self) -> Vec<&Param> {
        self.mae.params()
    }

    fn extra_state(&self) -> Vec<(String, Tensor)> {
        // The fixed sin-cos position embeddings: saved so a checkpoint holds every tensor of the model.
        vec![
            (self.mae.vit.position_embeddings.name.clone(), self.mae.vit.position_embeddings.value.clone()),
            (self.mae.decoder.pos_embed.name.clone(), self.mae.decoder.pos_embed.value.clone()),
        ]
    }

    fn set_step(&mut self, step: u32) {
        self.step = step;
    }

    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let c = self.mae.config().clone();
        let (ch, s) = (c.num_channels, c.image_size);
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.below(self.train.len())).collect();
        let batch: Vec<Vec<f32>> = picks
            .iter()
            .map(|&i| if self.augment { random_resized_crop_flip(&self.train[i], ch, s, s, self.crop_scale, rng) } else { self.train[i].clone() })
            .collect();
        let refs: Vec<&Vec<f32>> = batch.iter().collect();
        let images = stack_images(tape.gpu(), &refs, &c)?;
        let masking = Masking::random(rng, self.batch, c.num_patches(), c.mask_ratio())?;
        Ok(self.mae.forward(tape, &images, &masking)?.loss)
    }

    fn evaluate(&mut self, gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        if self.eval.is_empty() {
            return Ok(Vec::new());
        }
        let loss = self.held_out(gpu)?;
        if let Some((dir, pre)) = &self.pictures {
            let recons = self.held_out_reconstructions(gpu, pre)?;
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
            write_reconstructions(&dir.join(format!("reconstructions-step-{}.png", self.step)), &recons, 3)?;
            write_reconstructions(&dir.join("reconstructions.png"), &recons, 3)?;
        }
        Ok(vec![("eval_recon_loss".into(), loss)])
    }
}
