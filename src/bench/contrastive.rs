//! `simclr_tiny_step`: one SimCLR pretraining step as the contrastive issue sets it: 256 grey 28×28 images, two
//! views each made on the GPU (SimCLR's augmentations, drawn from the seed), the tiny ViT of the MAE issue (hidden
//! 128, 4 layers, 4 heads, MLP 512, patch 4, all 49 patches and \[CLS\]), projection 128 → 128 → 128 with
//! BatchNorm, NT-Xent (τ 0.5), backward and AdamW. `gflops` counts the model's products (`step_flops`) over the
//! wall time of a step (augmentation included in the time, not in the count).
use super::{median, profile_step, time_steps, timing_config, Bench, Work};
use crate::gpu::Gpu;
use crate::models::vit::{ViTConfig, Vit};
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::tasks::contrastive::{ContrastiveSpec, ContrastiveTask, Method};
use crate::train::Trainer;
use crate::Result;

/// Images per step (each gives two views).
pub const BATCH: usize = 256;
/// Projection head: hidden and output width.
pub const PROJ: usize = 128;

/// The tiny ViT as a plain `ViTModel` config for 28×28 grey images.
pub fn tiny_config() -> Result<ViTConfig> {
    let c = ViTConfig::preset("tiny")?;
    ViTConfig { model_type: "vit".into(), decoder_hidden_size: None, decoder_num_hidden_layers: None, decoder_num_attention_heads: None,
                decoder_intermediate_size: None, mask_ratio: None, norm_pix_loss: None, ..c }
        .for_images(1, 28)
}

/// Model FLOPs of one SimCLR step of `config` on `batch` images (2·batch views): 2·M·N·K for every product of the
/// forward pass (patch embedding; per block the projections q, k, v, o, the MLP, Q·Kᵀ and P·V over 1 + L tokens;
/// the projection head's two linear maps; NT-Xent's logits Z·Zᵀ), twice that for the backward pass, except the
/// patch embedding (no gradient for the images: once) and NT-Xent (its gradient W·Z is one product).
pub fn step_flops(config: &ViTConfig, batch: usize, proj_hidden: usize, proj_dim: usize) -> f64 {
    let (l, p, d, f) = (config.num_patches() as f64, config.patch_dim() as f64, config.hidden_size as f64, config.intermediate_size as f64);
    let s = 1.0 + l;
    let block = 4.0 * 2.0 * s * d * d + 2.0 * 2.0 * s * d * f + 2.0 * 2.0 * s * s * d;
    let encoder = config.num_hidden_layers as f64 * block;
    let head = 2.0 * d * proj_hidden as f64 + 2.0 * proj_hidden as f64 * proj_dim as f64;
    let patch = 2.0 * l * p * d;
    let views = 2.0 * batch as f64;
    let ntxent = 2.0 * views * views * proj_dim as f64;
    views * (3.0 * (encoder + head) + 2.0 * patch) + 2.0 * ntxent
}

fn trainer(gpu: &Gpu) -> Result<(Trainer<'_>, ContrastiveTask)> {
    let config = tiny_config()?;
    let mut rng = Rng::new(1);
    let encoder = Vit::new(gpu, &config, &mut rng)?;
    let images: Vec<f32> = (0..4 * BATCH * 784).map(|_| rng.uniform() as f32).collect();
    let spec = ContrastiveSpec::new(Method::SimClr, PROJ, PROJ);
    let task = ContrastiveTask::new(gpu, spec, encoder, images, BATCH, 1000, &mut rng)?;
    Ok((Trainer::new(gpu, timing_config(), Optimizer::adamw(0.1)), task))
}

/// Times the tiny SimCLR step.
pub fn run(b: &mut Bench) -> Result<()> {
    if !b.wants("simclr_tiny_step") {
        return Ok(());
    }
    let shape = format!("{BATCH}x28x28");
    let flops = step_flops(&tiny_config()?, BATCH, PROJ, PROJ);
    let gpu = b.gpu;
    let (mut t, mut task) = trainer(gpu)?;
    t.step(&mut task, false)?;
    gpu.wait()?;
    let mut times = time_steps(&mut t, &mut task, b.reps.clamp(1, 3))?;
    b.record("simclr_tiny_step", &shape, median(&mut times), Work::flops(flops));
    profile_step(b, "simclr_tiny_step", &mut t, &mut task)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_the_tiny_step() {
        // per view: encoder 4 x (50·(8·128² + 4·128·512) + 4·50²·128), head 2·128·128·2, patches 2·49·16·128;
        // NT-Xent 2·512²·128 forward and as much for its gradient.
        let enc = 4.0 * (50.0 * (8.0 * 16384.0 + 4.0 * 65536.0) + 4.0 * 2500.0 * 128.0);
        let head = 4.0 * 16384.0;
        let patch = 2.0 * 49.0 * 16.0 * 128.0;
        let want = 512.0 * (3.0 * (enc + head) + 2.0 * patch) + 2.0 * (2.0 * 512.0 * 512.0 * 128.0);
        assert_eq!(step_flops(&tiny_config().unwrap(), 256, 128, 128), want);
        assert!((want / 1e9 - 129.1).abs() < 0.05, "{}", want / 1e9);
    }
}
