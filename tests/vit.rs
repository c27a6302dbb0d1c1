//! ViT parity with HuggingFace's `ViTForImageClassification` (fixtures by scripts/vit_fixtures.py): logits and
//! last hidden states of a random grey ViT of an odd shape (30x30 in patches of 5, 7 heads of 4), from given
//! pixels and from PNG files through its `preprocessor_config.json`; the library API's reconstructions of the
//! random ViT-MAE; mean pooling with `fc_norm`; the last blocks' pooled features concatenated.
mod common;
use common::gpu;
use pretext::autograd::Tape;
use pretext::checkpoint;
use pretext::data::images::ImageSet;
use pretext::models::vit::{Keep, ViTConfig, Vit};
use pretext::models::Encoder;
use pretext::pipeline::VitPipeline;
use pretext::rng::Rng;
use pretext::Tensor;
use std::path::{Path, PathBuf};

fn max_abs(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "length");
    got.iter().zip(want).map(|(a, b)| if a.is_finite() { (*a as f64 - *b as f64).abs() } else { f64::INFINITY }).fold(0.0, f64::max)
}

fn rows(v: &[f32], n: usize) -> Vec<Vec<f32>> {
    v.chunks(n).map(<[f32]>::to_vec).collect()
}

#[test]
fn classifier_logits_and_hidden_states_match_hf() {
    let g = gpu();
    let model = VitPipeline::load(g, Path::new("assets/fixtures/vit_cls_odd")).unwrap();
    assert_eq!((model.config.num_channels, model.config.patch_size, model.config.num_attention_heads), (1, 5, 7));
    assert!(model.report.unused.is_empty() && model.vit.train_positions, "a ViT's positions are learned: {:?}", model.report);
    let want = checkpoint::load(Path::new("assets/fixtures/vit_cls_odd_expected.safetensors")).unwrap();
    let px = &want.tensors["pixel_values"];
    let images = rows(&px.data, 900);
    let got: Vec<f32> = model.classify(g, &images).unwrap().into_iter().flat_map(|(_, p)| p).collect();
    let want_probs: Vec<f32> = rows(&want.tensors["logits"].data, 7).iter().flat_map(|r| pretext::pipeline::vit::softmax(r)).collect();
    let e = max_abs(&got, &want_probs);
    assert!(e <= 1e-5, "class probabilities: max |diff| {e:.2e} > 1e-5");

    let t = Tensor::from_slice(g, &px.data, &px.shape).unwrap();
    let mut tape = Tape::inference(g);
    let h = model.vit.forward(&mut tape, &t, &Keep::all(g, 3, 36).unwrap()).unwrap();
    let pooled = model.vit.pooled(&mut tape, &t).unwrap();
    let logits = model.classifier.as_ref().unwrap().forward(&mut tape, pooled, 0.0).unwrap();
    let (eh, el) = (
        max_abs(&tape.value(h).to_vec::<f32>(g).unwrap(), &want.tensors["last_hidden_state"].data),
        max_abs(&tape.value(logits).to_vec::<f32>(g).unwrap(), &want.tensors["logits"].data),
    );
    assert!(eh <= 1e-4 && el <= 1e-4, "last hidden state max |diff| {eh:.2e}, logits {el:.2e} (bound 1e-4)");

    // From PNG files through the model's preprocessor_config.json, as HF's ViTImageProcessor.
    let files: Vec<PathBuf> = (0..3).map(|i| PathBuf::from(format!("assets/fixtures/vit_images/grey{i}.png"))).collect();
    let images = model.preprocess(&ImageSet::load(&files).unwrap()).unwrap();
    let ep = max_abs(&images.concat(), &want.tensors["png_pixel_values"].data);
    assert!(ep <= 1e-6, "preprocessed PNG pixels: max |diff| {ep:.2e}");
    let mut tape = Tape::inference(g);
    let pooled = model.vit.encode(&mut tape, &images.iter().collect::<Vec<_>>()).unwrap();
    let logits = model.classifier.as_ref().unwrap().forward(&mut tape, pooled, 0.0).unwrap();
    let e = max_abs(&tape.value(logits).to_vec::<f32>(g).unwrap(), &want.tensors["png_logits"].data);
    assert!(e <= 1e-4, "PNG logits: max |diff| {e:.2e} > 1e-4");
}

#[test]
fn reconstructions_through_the_library_match_hf() {
    let g = gpu();
    let model = VitPipeline::load(g, Path::new("assets/fixtures/vit_mae_odd")).unwrap();
    let want = checkpoint::load(Path::new("assets/fixtures/vit_mae_odd_expected.safetensors")).unwrap();
    let images = rows(&want.tensors["pixel_values"].data, 3 * 900);
    let noise = rows(&want.tensors["noise"].data, 25);
    let recon = model.reconstruct(g, &images, Some(&noise), None, &mut Rng::new(0)).unwrap();
    let logits: Vec<f32> = recon.iter().flat_map(|r| r.logits.concat()).collect();
    let e = max_abs(&logits, &want.tensors["logits"].data);
    assert!(e <= 1e-4, "logits: max |diff| {e:.2e}");
    for (i, r) in recon.iter().enumerate() {
        let w = want.tensors["image_loss"].data[i] as f64;
        assert!(((r.loss - w) / w).abs() <= 1e-4, "image {i}: loss {} vs HF {w}", r.loss);
        let mask: Vec<f32> = r.mask.iter().map(|&m| m as f32).collect();
        assert_eq!(mask, want.tensors["mask"].data[i * 25..(i + 1) * 25], "image {i}: mask");
        assert_eq!(r.mask.iter().filter(|&&m| m == 0).count(), 6, "6 of 25 patches visible");
        // pictures: the original is the input un-normalised; masked pixels are NaN exactly where patches are removed;
        // pasted = original where visible, reconstruction where removed.
        let [orig, masked, rec, pasted] = &r.pictures;
        let unit = model.preprocessor.to_unit(&images[i], 3);
        assert!(max_abs(&orig.values, &unit) <= 1e-5, "image {i}: original picture");
        for (k, v) in masked.values.iter().enumerate() {
            let (y, x) = ((k % 900) / 30, k % 30);
            let removed = r.mask[(y / 6) * 5 + x / 6] == 1;
            assert_eq!(v.is_nan(), removed, "image {i}: masked picture pixel {k}");
            assert_eq!(pasted.values[k], if removed { rec.values[k] } else { orig.values[k] }, "image {i}: pasted pixel {k}");
        }
    }
}

#[test]
fn mean_pooling_is_fc_norm_of_the_mean_patch_token() {
    let g = gpu();
    let mut config = ViTConfig::from_file(Path::new("assets/fixtures/vit_cls_odd/config.json")).unwrap();
    config.classifier_pooling = "mean".into();
    let vit = Vit::new(g, &config, &mut pretext::rng::Rng::new(3)).unwrap();
    let fc = vit.fc_norm.as_ref().expect("mean pooling has fc_norm");
    // a non-trivial fc_norm
    g.upload(fc.weight.value.buffer(), bytemuck::cast_slice(&(0..28).map(|i| 0.5 + i as f32 * 0.05).collect::<Vec<_>>())).unwrap();
    let mut r = common::Rng::new(5);
    let images: Vec<Vec<f32>> = (0..2).map(|_| r.vec_f32(900)).collect();
    let t = Tensor::from_slice(g, &images.concat(), &[2, 1, 30, 30]).unwrap();
    let mut tape = Tape::inference(g);
    let blocks = vit.blocks(&mut tape, &t, &Keep::all(g, 2, 36).unwrap()).unwrap();
    let h = tape.value(blocks).to_vec::<f32>(g).unwrap();
    let pooled = vit.encode(&mut tape, &images.iter().collect::<Vec<_>>()).unwrap();
    let got = tape.value(pooled).to_vec::<f32>(g).unwrap();
    let w: Vec<f64> = (0..28).map(|i| 0.5 + i as f64 * 0.05).collect();
    let mut want = Vec::new();
    for b in 0..2 {
        let mean: Vec<f64> = (0..28).map(|d| (1..37).map(|t| h[(b * 37 + t) * 28 + d] as f64).sum::<f64>() / 36.0).collect();
        let mu = mean.iter().sum::<f64>() / 28.0;
        let var = mean.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / 28.0;
        want.extend((0..28).map(|d| ((mean[d] - mu) / (var + config.layer_norm_eps as f64).sqrt() * w[d]) as f32));
    }
    let e = max_abs(&got, &want);
    assert!(e <= 1e-4, "mean pooling: max |diff| {e:.2e}");
    // the final layernorm is not trained under mean pooling (MAE drops it), fc_norm is
    let names: Vec<&str> = vit.params().iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"fc_norm.weight") && !names.contains(&"layernorm.weight"), "{names:?}");
}

#[test]
fn pooled_blocks_concatenates_each_blocks_normalised_cls_row() {
    let g = gpu();
    let config = ViTConfig::from_file(Path::new("assets/fixtures/vit_cls_odd/config.json")).unwrap();
    let vit = Vit::new(g, &config, &mut Rng::new(4)).unwrap();
    let (b, d, depth) = (3, 28, config.num_hidden_layers);
    let mut r = common::Rng::new(6);
    let images: Vec<Vec<f32>> = (0..b).map(|_| r.vec_f32(900)).collect();
    let t = Tensor::from_slice(g, &images.concat(), &[b, 1, 30, 30]).unwrap();
    // each block's output, read back one by one
    let mut tape = Tape::inference(g);
    let mut x = vit.embed(&mut tape, &t, &Keep::all(g, b, 36).unwrap()).unwrap();
    let mut outs = Vec::new();
    for layer in &vit.layers {
        x = layer.forward(&mut tape, x, None).unwrap();
        outs.push(tape.value(x).to_vec::<f32>(g).unwrap());
    }
    let all = vit.pooled_blocks(&mut tape, &t, depth).unwrap();
    let got = tape.value(all).to_vec::<f32>(g).unwrap();
    assert_eq!(got.len(), b * depth * d, "[batch, blocks · hidden]");
    // a fresh final LayerNorm is weight 1, bias 0: feature j of image i is block j's [CLS] row normalised
    let mut want = Vec::new();
    for i in 0..b {
        for h in &outs {
            let row: Vec<f64> = (0..d).map(|k| h[i * 37 * d + k] as f64).collect();
            let mu = row.iter().sum::<f64>() / d as f64;
            let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / d as f64;
            want.extend(row.iter().map(|v| ((v - mu) / (var + config.layer_norm_eps as f64).sqrt()) as f32));
        }
    }
    let e = max_abs(&got, &want);
    assert!(e <= 1e-5, "pooled blocks: max |diff| {e:.2e} > 1e-5");
    // one block is the encoder's own output, bit for bit
    let one = vit.pooled_blocks(&mut tape, &t, 1).unwrap();
    let one = tape.value(one).to_vec::<f32>(g).unwrap();
    let enc = vit.encode(&mut tape, &images.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(one, tape.value(enc).to_vec::<f32>(g).unwrap());
    for n in [0, depth + 1] {
        let e = vit.pooled_blocks(&mut tape, &t, n).unwrap_err().to_string();
        assert!(e.contains(&format!("last {n} blocks of a {depth}-block encoder")), "{e}");
    }
}
