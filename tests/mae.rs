//! ViT-MAE parity with HuggingFace's `ViTMAEForPreTraining` (fixtures by scripts/vit_fixtures.py): a random model of
//! an unusual shape (RGB 30x30, patch 6, 3 heads, decoder narrower than the encoder) with fixed noise gives HF's
//! mask, ids_restore, loss, logits and encoder states; one training step gives its loss and every gradient;
//! the 2-D sin-cos position embeddings equal HF's.
mod common;
use common::gpu;
use pretext::autograd::Tape;
use pretext::checkpoint::{self, TensorFile};
use pretext::models::mae::{image_loss, Mae, Masking};
use pretext::models::vit::{sincos_2d, ViTConfig};
use pretext::Tensor;
use std::path::Path;

const DIR: &str = "assets/fixtures/vit_mae_odd";

fn load(name: &str) -> TensorFile {
    checkpoint::load(&Path::new("assets/fixtures").join(name)).unwrap()
}

fn max_abs(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "length");
    got.iter().zip(want).map(|(a, b)| if a.is_finite() { (*a as f64 - *b as f64).abs() } else { f64::INFINITY }).fold(0.0, f64::max)
}

fn rel(got: &[f32], want: &[f32]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
    let den: f64 = want.iter().map(|b| (*b as f64).powi(2)).sum();
    if got.iter().any(|x| !x.is_finite()) { f64::INFINITY } else { (num / den.max(1e-30)).sqrt() }
}

fn model() -> (Mae, ViTConfig) {
    let config = ViTConfig::from_file(&Path::new(DIR).join("config.json")).unwrap();
    assert_eq!((config.hidden_size, config.num_attention_heads, config.decoder().hidden, config.patch_size, config.image_size), (36, 3, 20, 6, 30));
    let file = checkpoint::load(&Path::new(DIR).join("model.safetensors")).unwrap();
    let (mae, report) = Mae::load(gpu(), file, &config).unwrap();
    assert!(report.unused.is_empty(), "tensors left unused: {:?}", report.unused);
    (mae, config)
}

fn batch(f: &TensorFile) -> (Tensor, Vec<f32>, usize) {
    let px = &f.tensors["pixel_values"];
    let b = px.shape[0];
    (Tensor::from_slice(gpu(), &px.data, &px.shape).unwrap(), f.tensors["noise"].data.clone(), b)
}

#[test]
fn sincos_position_embeddings_equal_hf() {
    let file = checkpoint::load(&Path::new(DIR).join("model.safetensors")).unwrap();
    for (name, dim) in [("vit.embeddings.position_embeddings", 36), ("decoder.decoder_pos_embed", 20)] {
        let want = &file.tensors[name].data;
        let err = max_abs(&sincos_2d(dim, 5), want);
        assert!(err <= 1e-6, "{name}: max |diff| {err:.2e} > 1e-6 against HF's get_2d_sincos_pos_embed");
    }
}

#[test]
fn forward_matches_hf_mask_ids_restore_loss_and_logits() {
    let g = gpu();
    let (mae, config) = model();
    let want = load("vit_mae_odd_expected.safetensors");
    let (images, noise, b) = batch(&want);
    let masking = Masking::from_noise(&noise, b, config.num_patches(), config.mask_ratio()).unwrap();
    assert_eq!(masking.keep, 6, "int(25 * 0.25)");
    let ids: Vec<f32> = masking.ids_restore.iter().flatten().map(|&i| i as f32).collect();
    assert_eq!(ids, want.tensors["ids_restore"].data, "ids_restore");
    let mask: Vec<f32> = masking.mask.iter().flatten().copied().collect();
    assert_eq!(mask, want.tensors["mask"].data, "mask");

    let mut tape = Tape::inference(g);
    let latent = mae.vit.forward(&mut tape, &images, &masking.visible(g).unwrap()).unwrap();
    let out = mae.forward(&mut tape, &images, &masking).unwrap();
    let h = tape.value(latent).to_vec::<f32>(g).unwrap();
    let logits = tape.value(out.logits).to_vec::<f32>(g).unwrap();
    let loss = tape.value(out.loss).to_vec::<f32>(g).unwrap()[0];
    let (eh, el) = (max_abs(&h, &want.tensors["last_hidden_state"].data), max_abs(&logits, &want.tensors["logits"].data));
    let want_loss = want.tensors["loss"].data[0];
    let eloss = ((loss - want_loss) / want_loss).abs() as f64;
    assert!(eh <= 1e-4 && el <= 1e-4 && eloss <= 1e-4, "encoder max |diff| {eh:.2e}, logits max |diff| {el:.2e}, loss rel {eloss:.2e} (bound 1e-4): {loss} vs {want_loss}");

    // Each image's own loss (what `mae reconstruct --json` prints), on the host from the GPU's predictions.
    let target = out.target.to_vec::<f32>(g).unwrap();
    let p = config.patch_dim() * config.num_patches();
    for i in 0..b {
        let got = image_loss(&logits[i * p..(i + 1) * p], &target[i * p..(i + 1) * p], &masking.mask[i], config.patch_dim(), true);
        let w = want.tensors["image_loss"].data[i] as f64;
        assert!(((got - w) / w).abs() <= 1e-4, "image {i}: loss {got} vs HF alone {w}");
    }
}

#[test]
fn one_training_step_matches_pytorch_loss_and_every_gradient() {
    let g = gpu();
    let (mae, config) = model();
    let want = load("vit_mae_step.safetensors");
    let (images, noise, b) = batch(&want);
    let masking = Masking::from_noise(&noise, b, config.num_patches(), config.mask_ratio()).unwrap();
    let mut tape = Tape::new(g, 1);
    let out = mae.forward(&mut tape, &images, &masking).unwrap();
    let loss = tape.value(out.loss).to_vec::<f32>(g).unwrap()[0];
    let want_loss = want.tensors["loss"].data[0];
    assert!(((loss - want_loss) / want_loss).abs() <= 1e-4, "loss {loss} vs PyTorch {want_loss}");
    let grads = tape.backward(out.loss).unwrap();
    let mut report = Vec::new();
    let params = mae.params();
    for p in &params {
        let hf = if p.name.starts_with("decoder.") { p.name.clone() } else { format!("vit.{}", p.name) };
        let w = want.tensors.get(&format!("grad.{hf}")).unwrap_or_else(|| panic!("PyTorch has no gradient for {hf}"));
        let got = grads.get(p.id).unwrap_or_else(|| panic!("no gradient for {}", p.name)).to_vec::<f32>(g).unwrap();
        let norm = w.data.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let e = rel(&got, &w.data);
        report.push(format!("{hf}: rel {e:.2e} (|grad| {norm:.2e})"));
        if norm < 1e-6 {
            // the key bias: zero in exact arithmetic (softmax ignores a per-row constant), rounding noise on both sides
            let diff = got.iter().zip(&w.data).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>().sqrt();
            assert!(diff <= 1e-6, "gradient of {hf}: |diff| {diff:.2e} for a mathematically zero gradient");
        } else {
            assert!(e <= 1e-4, "gradient of {hf}: relative L2 error {e:.2e} > 1e-4");
        }
    }
    let expected = want.tensors.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(params.len(), expected, "every PyTorch gradient is compared:\n{}", report.join("\n"));
    println!("{}", report.join("\n"));
}
