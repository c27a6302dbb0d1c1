//! `mae_tiny_step`: one ViT-MAE pretraining step (forward, backward, AdamW) as the MAE issue sets it: batch 128
//! grey 28×28 images, patch 4 (49 patches), mask ratio 0.75 (12 visible); encoder hidden 128, 4 layers, 4 heads,
//! MLP 512; decoder hidden 64, 2 layers, 2 heads, MLP 256; norm-pix loss. Random images, fresh masks each step,
//! no augmentation. `gflops` counts the model's products (`step_flops`) over the wall time of a step.
//! `mae_tiny_first_step` is the first step on a freshly opened device (its own empty pipeline cache, so every
//! compile is included whatever ran before), set-up of the model included.
use std::time::Instant;

use super::{median, profile_step, time_steps, timing_config, Bench, Work};
use crate::gpu::{Gpu, GpuOptions};
use crate::models::mae::{len_keep, Mae};
use crate::models::vit::ViTConfig;
use crate::optim::{Optimizer, Rule};
use crate::rng::Rng;
use crate::tasks::MaeTask;
use crate::train::Trainer;
use crate::Result;

/// Images per step.
pub const BATCH: usize = 128;

/// The tiny ViT-MAE for 28×28 grey images.
pub fn tiny_config() -> Result<ViTConfig> {
    ViTConfig::preset("tiny")?.for_images(1, 28)
}

/// Model FLOPs of one training step of `config` on `batch` images: 2·M·N·K for every product of the forward pass
/// (patch embedding over all L patches, the encoder's projections, MLPs, Q·Kᵀ and P·V over 1 + keep tokens, the
/// decoder's embedding, blocks over 1 + L tokens, and its prediction), and twice that for the backward pass
/// (gradients of both operands), except the patch embedding, whose input (the images) needs no gradient.
pub fn step_flops(config: &ViTConfig, batch: usize) -> f64 {
    let (l, p, d, f) = (config.num_patches() as f64, config.patch_dim() as f64, config.hidden_size as f64, config.intermediate_size as f64);
    let dec = config.decoder();
    let (dd, fd) = (dec.hidden as f64, dec.intermediate as f64);
    let se = 1.0 + len_keep(config.num_patches(), config.mask_ratio()) as f64;
    let sd = 1.0 + l;
    // per sample: projections q, k, v, o; MLP up and down; scores and weighted values (summed over heads)
    let block = |s: f64, d: f64, f: f64| 4.0 * 2.0 * s * d * d + 2.0 * 2.0 * s * d * f + 2.0 * 2.0 * s * s * d;
    let encoder = config.num_hidden_layers as f64 * block(se, d, f);
    let decoder = dec.layers as f64 * block(sd, dd, fd) + 2.0 * se * d * dd + 2.0 * sd * dd * p;
    let patch = 2.0 * l * p * d;
    batch as f64 * (3.0 * (encoder + decoder) + 2.0 * patch)
}

fn trainer(gpu: &Gpu) -> Result<(Trainer<'_>, MaeTask)> {
    let config = tiny_config()?;
    let mut rng = Rng::new(1);
    let mae = Mae::new(gpu, &config, &mut rng)?;
    let train: Vec<Vec<f32>> = (0..512).map(|_| (0..784).map(|_| rng.uniform() as f32).collect()).collect();
    let mut task = MaeTask::new(mae, train, Vec::new(), BATCH);
    task.augment = false;
    let opt = Optimizer::new(Rule::AdamW { beta1: 0.9, beta2: 0.95, eps: 1e-8 }, 0.05);
    Ok((Trainer::new(gpu, timing_config(), opt), task))
}

/// Times the tiny MAE step.
pub fn run(b: &mut Bench) -> Result<()> {
    let shape = format!("{BATCH}x28x28");
    let flops = step_flops(&tiny_config()?, BATCH);
    if b.wants("mae_tiny_first_step") {
        let info = b.gpu.adapter_info();
        let opts = GpuOptions { backend: Some(format!("{:?}", info.backend).to_lowercase()), adapter_name: Some(info.name.clone()), profile: false, ..Default::default() };
        let started = Instant::now();
        let fresh = Gpu::new(&opts)?;
        let (mut t, mut task) = trainer(&fresh)?;
        t.step(&mut task, false)?;
        fresh.wait()?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        b.record("mae_tiny_first_step", &shape, ms, Work::default());
    }
    if b.wants("mae_tiny_step") {
        let gpu = b.gpu;
        let (mut t, mut task) = trainer(gpu)?;
        t.step(&mut task, false)?;
        gpu.wait()?;
        let mut times = time_steps(&mut t, &mut task, b.reps.max(3))?;
        b.record("mae_tiny_step", &shape, median(&mut times), Work::flops(flops));
        profile_step(b, "mae_tiny_step", &mut t, &mut task)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_the_tiny_step() {
        // forward: encoder 4 x (13·(4·2·128² + 2·2·128·512) + 4·13²·128), decoder 2 x (50·(4·2·64² + 2·2·64·256)
        // + 4·50²·64) + 2·13·128·64 + 2·50·64·16, patches 2·49·16·128; backward twice the forward except the patches.
        let enc = 4.0 * (13.0 * (8.0 * 16384.0 + 4.0 * 65536.0) + 4.0 * 169.0 * 128.0);
        let dec = 2.0 * (50.0 * (8.0 * 4096.0 + 4.0 * 16384.0) + 4.0 * 2500.0 * 64.0) + 2.0 * 13.0 * 128.0 * 64.0 + 2.0 * 50.0 * 64.0 * 16.0;
        let patch = 2.0 * 49.0 * 16.0 * 128.0;
        let want = 128.0 * (3.0 * (enc + dec) + 2.0 * patch);
        assert_eq!(step_flops(&tiny_config().unwrap(), 128), want);
        assert!((want / 1e9 - 12.42).abs() < 0.01, "{}", want / 1e9);
    }
}
