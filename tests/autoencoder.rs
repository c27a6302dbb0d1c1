//! Autoencoders: one training step of the VAE (Bernoulli and Gaussian) and of the sparse autoencoder (KL and
//! L1 penalties) against the PyTorch twin (scripts/ae_twin.py), the initial weights rebuilt bit for bit from
//! the config's seed, a 200-step VAE run on the bundled Fashion-MNIST ending within 1% of the twin's held-out
//! ELBO, exact resume, the Encoder trait and the model-directory dispatch, and config errors.
mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pretext::autograd::Tape;
use pretext::checkpoint::{self, TensorFile};
use pretext::data::images::bundled;
use pretext::models::autoencoder::{Autoencoder, AutoencoderConfig, Kind, NoiseConfig, NoiseKind};
use pretext::models::{load_image_encoder, Encoder, Weights};
use pretext::optim::{Optimizer, Schedule, ScheduleKind};
use pretext::tasks::autoencoder::{self as ae, AutoencoderTask};
use pretext::train::{Task, TrainConfig, Trainer};
use pretext::{Error, Tensor};

fn fixture() -> TensorFile {
    checkpoint::load(Path::new("assets/fixtures/ae_step.safetensors")).expect("assets/fixtures/ae_step.safetensors (scripts/ae_twin.py step)")
}

fn tensor(f: &TensorFile, name: &str) -> Tensor {
    f.to_device(gpu(), name).unwrap_or_else(|e| panic!("{e}"))
}

fn host(f: &TensorFile, name: &str) -> Vec<f64> {
    f64s(&f.tensors.get(name).unwrap_or_else(|| panic!("fixture lacks {name}")).data)
}

fn scalar(gpu_value: &Tensor) -> f64 {
    gpu_value.to_vec::<f32>(gpu()).unwrap()[0] as f64
}

#[test]
fn one_step_matches_the_pytorch_twin() {
    let f = fixture();
    let configs: BTreeMap<String, serde_json::Value> = serde_json::from_str(&f.metadata["config"]).unwrap();
    assert_eq!(configs.len(), 4, "the fixture holds four cases");
    for (case, cv) in &configs {
        let config: AutoencoderConfig = serde_json::from_value(cv.clone()).unwrap_or_else(|e| panic!("{case}: {e}"));
        let model = Autoencoder::new(gpu(), &config).unwrap();
        let pre = format!("{case}.");
        // The initial weights, rebuilt from init_seed, equal the twin's bit for bit.
        for p in model.params() {
            let got = p.value.to_vec::<f32>(gpu()).unwrap();
            let want = &f.tensors[&format!("{pre}init.{}", p.name)].data;
            assert!(got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()), "{case}: initial {} differs from the twin's", p.name);
        }
        for p in model.params() {
            f.load_into(gpu(), &format!("{pre}param.{}", p.name), &p.value).unwrap();
        }
        let x = tensor(&f, &format!("{pre}x"));
        let eps = (config.kind == Kind::Vae).then(|| tensor(&f, &format!("{pre}eps")));
        let mut tape = Tape::new(gpu(), 0);
        let loss = model.loss(&mut tape, &x, eps.as_ref()).unwrap();
        let mut named = vec![("loss", loss.total), ("recon", loss.recon)];
        named.extend(loss.kl.map(|k| ("kl", k)));
        named.extend(loss.penalty.map(|p| ("penalty", p)));
        for (name, var) in named {
            let (got, want) = (scalar(tape.value(var)), host(&f, &format!("{pre}{name}"))[0]);
            let rel = (got - want).abs() / want.abs();
            assert!(rel <= 1e-4, "{case}: {name} {got} vs twin {want}: relative error {rel:.2e} > 1e-4");
        }
        let grads = tape.backward(loss.total).unwrap();
        for p in model.params() {
            let g = grads.get(p.id).unwrap_or_else(|| panic!("{case}: no gradient for {}", p.name)).to_vec::<f32>(gpu()).unwrap();
            let want = host(&f, &format!("{pre}grad.{}", p.name));
            let e = rel_l2(&g, &want);
            assert!(e <= 1e-4, "{case}: gradient of {}: rel L2 error {e:.2e} > 1e-4 (max |diff| {:.2e})", p.name, max_abs(&g, &want));
        }
    }
}

fn trainer(steps: u32, lr: f32, seed: u64, save_every: u32, out_dir: Option<PathBuf>) -> TrainConfig {
    TrainConfig {
        steps,
        schedule: Schedule { peak_lr: lr, min_lr: 0.0, warmup: 0, total: steps, kind: ScheduleKind::Cosine },
        seed,
        log_every: 10,
        eval_every: 0,
        save_every,
        keep_last: None,
        out_dir,
        progress: false,
        phase: "ae".into(),
    }
}

#[test]
fn a_200_step_vae_run_ends_within_1_percent_of_the_twins_held_out_elbo() {
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string("assets/fixtures/vae_run.json").unwrap()).unwrap();
    let config: AutoencoderConfig = serde_json::from_value(run["config"].clone()).unwrap();
    let (steps, batch) = (run["steps"].as_u64().unwrap() as u32, run["batch"].as_u64().unwrap() as usize);
    let (lr, seed) = (run["lr"].as_f64().unwrap() as f32, run["seed"].as_u64().unwrap());
    assert_eq!(run["schedule"], "cosine");
    let train = ae::prepare(&config, &bundled::fashion_train().unwrap()).unwrap();
    let test = ae::prepare(&config, &bundled::fashion_test().unwrap()).unwrap();
    assert_eq!((train.len(), test.len()), (run["train_images"].as_u64().unwrap() as usize, run["eval_images"].as_u64().unwrap() as usize));
    let model = Autoencoder::new(gpu(), &config).unwrap();
    // `ae train`'s recipe (optimizer, schedule, seeds), evaluated once at the end.
    let mut task = AutoencoderTask::new(model, train, Vec::new(), batch).unwrap();
    let (config, optimizer) = ae::recipe(steps, lr, seed, None, "vae");
    let mut t = Trainer::new(gpu(), config, optimizer);
    t.run(&mut task).unwrap();
    // The first step sees the same weights, batch and noise: the same loss to f32 rounding.
    let twin_losses: Vec<(u32, f64)> = run["losses"].as_array().unwrap().iter().map(|r| (r[0].as_u64().unwrap() as u32, r[1].as_f64().unwrap())).collect();
    let first = t.history.iter().find(|r| r.step == 1).unwrap().loss;
    assert!((first - twin_losses[0].1).abs() / twin_losses[0].1 <= 1e-5, "step 1 loss {first} vs twin {}", twin_losses[0].1);
    let h = ae::held_out(gpu(), &task.model, &test).unwrap();
    let (got, want) = (h.neg_elbo.unwrap(), run["neg_elbo"].as_f64().unwrap());
    let rel = (got - want).abs() / want;
    eprintln!("after {steps} steps: held-out -ELBO {got:.3} (recon {:.3}, KL {:.3}) vs twin {want:.3}: {:.3}%", h.recon_loss, h.kl.unwrap(), 100.0 * rel);
    assert!(rel <= 0.01, "held-out -ELBO {got:.4} vs twin {want:.4}: {:.3}% apart > 1%", 100.0 * rel);
    let start = twin_losses[0].1;
    assert!(want < 0.7 * start, "the run must learn: -ELBO {want} from a first loss of {start}");
}

fn tiny(kind: Kind) -> AutoencoderConfig {
    let mut c = AutoencoderConfig::defaults(kind);
    c.widths = vec![24];
    c.latent = 5;
    c.init_seed = 3;
    if kind == Kind::Dae {
        c.noise = Some(NoiseConfig { kind: NoiseKind::Gaussian, level: 0.2 });
    }
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pretext-ae-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn resume_reproduces_the_uninterrupted_run_bit_for_bit() {
    let images = ae::prepare(&tiny(Kind::Vae), &bundled::fashion_test().unwrap().take(200)).unwrap();
    for kind in [Kind::Vae, Kind::Dae] {
        let config = tiny(kind);
        let dir = tmp(&format!("resume-{}", kind.name()));
        let run = |steps: u32, save: u32, resume: Option<&Path>| {
            let mut task = AutoencoderTask::new(Autoencoder::new(gpu(), &config).unwrap(), images.clone(), Vec::new(), 16).unwrap();
            let mut t = Trainer::new(gpu(), trainer(6, 3e-3, 9, save, Some(dir.clone())), Optimizer::adamw(0.0));
            if let Some(r) = resume {
                t.resume(r, &mut task).unwrap();
            }
            t.config.steps = steps;
            t.run(&mut task).unwrap();
            task.params().iter().map(|p| p.value.to_vec::<f32>(gpu()).unwrap()).collect::<Vec<_>>()
        };
        let full = run(6, 3, None);
        let resumed = run(6, 0, Some(&dir.join("step-3")));
        assert!(full.iter().flatten().zip(resumed.iter().flatten()).all(|(a, b)| a.to_bits() == b.to_bits()), "{kind:?}: a resumed run differs from the uninterrupted one");
        let again = run(6, 0, None);
        assert!(full.iter().flatten().zip(again.iter().flatten()).all(|(a, b)| a.to_bits() == b.to_bits()), "{kind:?}: one seed must give one run");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_encoder_is_the_code_and_the_directory_dispatch_finds_it() {
    let images = ae::prepare(&tiny(Kind::Vae), &bundled::fashion_test().unwrap().take(7)).unwrap();
    let refs: Vec<&Vec<f32>> = images.iter().collect();
    for kind in [Kind::Ae, Kind::Dae, Kind::Sparse, Kind::Vae] {
        let config = tiny(kind);
        let model = Autoencoder::new(gpu(), &config).unwrap();
        let mut tape = Tape::inference(gpu());
        let code = model.encode(&mut tape, &refs).unwrap();
        assert_eq!(tape.shape(code), &[7, 5], "{kind:?}: codes are [batch, latent]");
        let code = tape.value(code).to_vec::<f32>(gpu()).unwrap();
        if kind == Kind::Vae {
            let x = model.batch_tensor(gpu(), &refs).unwrap();
            let xv = tape.constant(x);
            let (mu, _) = model.posterior(&mut tape, xv).unwrap();
            assert_eq!(code, tape.value(mu).to_vec::<f32>(gpu()).unwrap(), "the VAE's code is its posterior mean");
        }
        if kind == Kind::Sparse {
            assert!(code.iter().all(|v| *v > 0.0 && *v < 1.0), "the KL-sparse code is a sigmoid");
        }
        assert_eq!(Encoder::params(&model).len(), 2 * (1 + 1), "{kind:?}: the encoder's parameters are its layers and code layer");
        // A saved directory loads through the one dispatch, trained or at its initial weights.
        let dir = tmp(&format!("dispatch-{}", kind.name()));
        for p in model.params() {
            let v: Vec<f32> = p.value.to_vec::<f32>(gpu()).unwrap().iter().map(|x| x + 0.01).collect();
            gpu().upload(p.value.buffer(), bytemuck::cast_slice(&v)).unwrap();
        }
        ae::save(gpu(), &model, &dir).unwrap();
        for (weights, want) in [(Weights::Trained, &model), (Weights::Init, &Autoencoder::new(gpu(), &config).unwrap())] {
            let loaded = load_image_encoder(gpu(), &dir, weights).unwrap();
            assert_eq!((loaded.model_type.as_str(), loaded.channels, loaded.height, loaded.width, loaded.encoder.dim()), ("pretext_autoencoder", 1, 28, 28, 5));
            let mut t1 = Tape::inference(gpu());
            let a = loaded.encoder.encode(&mut t1, &refs).unwrap();
            let mut t2 = Tape::inference(gpu());
            let b = want.encode(&mut t2, &refs).unwrap();
            assert_eq!(t1.value(a).to_vec::<f32>(gpu()).unwrap(), t2.value(b).to_vec::<f32>(gpu()).unwrap(), "{kind:?} {weights:?}: loaded codes differ");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Another family's directory, and no directory at all: errors naming the file.
    let e = load_image_encoder(gpu(), Path::new("assets/fixtures/bert_odd"), Weights::Trained).err().unwrap();
    assert!(matches!(&e, Error::Invalid(m) if m.contains("bert_odd/config.json") && m.contains("\"bert\"") && m.contains("not an image encoder")), "{e}");
    let e = Autoencoder::load(gpu(), Path::new("assets/fixtures/bert_odd"), false).unwrap_err();
    assert!(e.to_string().contains("is not an autoencoder"), "{e}");
    let e = load_image_encoder(gpu(), Path::new("no/such/dir"), Weights::Trained).err().unwrap();
    assert!(e.to_string().contains("no/such/dir/config.json"), "{e}");
}

#[test]
fn samples_and_interpolations_are_pictures_and_end_where_they_should() {
    let config = tiny(Kind::Vae);
    let model = Autoencoder::new(gpu(), &config).unwrap();
    let s = ae::sample(gpu(), &model, 9, 4).unwrap();
    assert_eq!((s.len(), s[0].len()), (9, 784));
    assert!(s.iter().flatten().all(|v| (0.0..=1.0).contains(v)), "samples are pixels in [0, 1]");
    assert_eq!(s, ae::sample(gpu(), &model, 9, 4).unwrap(), "one seed, one set of samples");
    let images = ae::prepare(&config, &bundled::fashion_test().unwrap().take(2)).unwrap();
    let row = ae::interpolate(gpu(), &model, &images[0], &images[1], 5).unwrap();
    let rec = ae::reconstruction_rows(gpu(), &model, &images).unwrap();
    assert_eq!(rec.len(), 2, "originals and reconstructions");
    for (got, want) in [(&row[0], &rec[1][0]), (&row[4], &rec[1][1])] {
        let e = max_abs(got, &f64s(want));
        assert!(e <= 1e-5, "the interpolation's endpoints are the two reconstructions (max |diff| {e:.2e})");
    }
    let e = ae::sample(gpu(), &Autoencoder::new(gpu(), &tiny(Kind::Ae)).unwrap(), 4, 1).unwrap_err();
    assert!(e.to_string().contains("sampling needs a VAE"), "{e}");
    let dae = Autoencoder::new(gpu(), &tiny(Kind::Dae)).unwrap();
    assert_eq!(ae::reconstruction_rows(gpu(), &dae, &images).unwrap().len(), 3, "the DAE's pictures show the noisy input too");
}

#[test]
fn bad_configs_are_clear_errors() {
    let check = |patch: serde_json::Value, kind: Kind, want: &str| {
        let e = AutoencoderConfig::from_partial(kind, &patch, "cfg.json").and_then(|c| c.validate().map(|_| c)).unwrap_err();
        assert!(e.to_string().contains(want), "{patch}: error {e:?} lacks {want:?}");
    };
    check(serde_json::json!({"latent": 0}), Kind::Ae, "latent must be at least 1 (got 0)");
    check(serde_json::json!({"noise": {"type": "mask", "level": 1.0}}), Kind::Dae, "noise level 1 is outside [0, 1)");
    check(serde_json::json!({"noise": {"type": "mask", "level": -0.1}}), Kind::Dae, "outside [0, 1)");
    check(serde_json::json!({"image_mean": [0.5], "image_std": [0.5]}), Kind::Vae, "likelihood \"bernoulli\" needs pixels in [0, 1]");
    check(serde_json::json!({"code_activation": "none"}), Kind::Sparse, "needs code_activation \"sigmoid\"");
    check(serde_json::json!({"widths": [64, 0]}), Kind::Ae, "widths[1] is 0");
    check(serde_json::json!({"activation": "swish"}), Kind::Ae, "unknown activation \"swish\"");
    check(serde_json::json!({"laten": 3}), Kind::Ae, "cfg.json: unknown field `laten`");
    check(serde_json::json!({"kind": "vae"}), Kind::Ae, "\"kind\" is \"vae\" but --kind is \"ae\"");
    check(serde_json::json!({"noise": {"type": "mask", "level": 0.2}}), Kind::Vae, "\"noise\" applies to kind dae only");
    assert!(matches!("vea".parse::<Kind>(), Err(Error::Invalid(m)) if m.contains("unknown autoencoder kind \"vea\"")));
}
