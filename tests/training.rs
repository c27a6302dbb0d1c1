//! Models learn: an MLP and a 2-layer transformer classifier reach ≥ 95% on synthetic non-linear tasks;
//! a resumed run equals the uninterrupted one bit for bit; one seed gives identical losses; memory stays flat.
mod common;
use common::gpu;
use pretext::autograd::{ops, Tape, Var};
use pretext::kernels::activation::Activation;
use pretext::nn::{BlockConfig, BlockNames, Embedding, Init, Linear, Param, TransformerBlock};
use pretext::optim::{Optimizer, Schedule, ScheduleKind};
use pretext::rng::Rng;
use pretext::train::{Task, TrainConfig, Trainer};
use pretext::{Gpu, Result, Tensor};

/// Points in [-1, 1]²; the class is (inside the ring r < 0.6) XOR (x·y > 0): four curved regions.
fn ring_xor(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<i32>) {
    let mut xs = Vec::with_capacity(2 * n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let (x, y) = (rng.uniform() * 2.0 - 1.0, rng.uniform() * 2.0 - 1.0);
        xs.extend([x as f32, y as f32]);
        ys.push((((x * x + y * y).sqrt() < 0.6) ^ (x * y > 0.0)) as i32);
    }
    (xs, ys)
}

struct Mlp {
    layers: Vec<Linear>,
    batch: usize,
}

impl Mlp {
    fn new(gpu: &Gpu, seed: u64) -> Mlp {
        let mut rng = Rng::new(seed);
        let dims = [2, 64, 64, 2];
        let layers = dims.windows(2).enumerate().map(|(i, d)| Linear::new(gpu, &format!("fc{i}"), d[0], d[1], true, Init::XavierUniform, &mut rng).unwrap()).collect();
        Mlp { layers, batch: 256 }
    }
    fn logits(&self, tape: &mut Tape, x: &Tensor) -> Result<Var> {
        let mut h = tape.constant(x.clone());
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(tape, h)?;
            if i + 1 < self.layers.len() {
                h = ops::gelu(tape, h)?;
            }
        }
        Ok(h)
    }
}

impl Task for Mlp {
    fn params(&self) -> Vec<&Param> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }
    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let (x, y) = ring_xor(rng, self.batch);
        let g = tape.gpu();
        let x = Tensor::from_slice(g, &x, &[self.batch, 2])?;
        let y = Tensor::from_slice(g, &y, &[self.batch])?;
        let logits = self.logits(tape, &x)?;
        ops::cross_entropy(tape, logits, &y)
    }
}

fn accuracy(gpu: &Gpu, logits: &Tensor, labels: &[i32]) -> f64 {
    let l = logits.to_vec::<f32>(gpu).unwrap();
    let c = l.len() / labels.len();
    let correct = labels
        .iter()
        .enumerate()
        .filter(|(i, y)| {
            let row = &l[i * c..(i + 1) * c];
            let arg = (0..c).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            arg as i32 == **y
        })
        .count();
    correct as f64 / labels.len() as f64
}

fn config(steps: u32, lr: f32, seed: u64) -> TrainConfig {
    TrainConfig {
        steps,
        schedule: Schedule { peak_lr: lr, min_lr: 0.0, warmup: steps / 20, total: steps, kind: ScheduleKind::Cosine },
        seed,
        log_every: 1,
        eval_every: 0,
        save_every: 0,
        keep_last: None,
        out_dir: None,
        progress: false,
        phase: "test".into(),
    }
}

#[test]
fn an_mlp_learns_a_nonlinear_task() {
    let g = gpu();
    let mut mlp = Mlp::new(g, 1);
    let mut t = Trainer::new(g, config(1500, 2e-2, 1), Optimizer::adamw(0.0));
    t.run(&mut mlp).unwrap();
    let (x, y) = ring_xor(&mut Rng::new(12345), 2000);
    let x = Tensor::from_slice(g, &x, &[2000, 2]).unwrap();
    let mut tape = Tape::inference(g);
    let logits = mlp.logits(&mut tape, &x).unwrap();
    let acc = accuracy(g, tape.value(logits), &y);
    let first = t.history.first().unwrap().loss;
    let last = t.history.last().unwrap().loss;
    assert!(acc >= 0.95, "MLP held-out accuracy {acc:.3} < 0.95 (loss {first:.3} -> {last:.3})");
}

/// Sequences of tokens 1..=6 of length 10; the class says whether the first and last tokens are equal
/// (balanced): the answer needs attention between two distant positions.
fn first_equals_last(rng: &mut Rng, n: usize, len: usize) -> (Vec<i32>, Vec<i32>) {
    let mut ids = Vec::with_capacity(n * len);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s: Vec<i32> = (0..len).map(|_| 1 + rng.below(6) as i32).collect();
        let same = rng.uniform() < 0.5;
        if same {
            s[len - 1] = s[0];
        } else {
            while s[len - 1] == s[0] {
                s[len - 1] = 1 + rng.below(6) as i32;
            }
        }
        ids.extend(s);
        labels.push(same as i32);
    }
    (ids, labels)
}

struct SeqClassifier {
    tokens: Embedding,
    positions: Embedding,
    blocks: Vec<TransformerBlock>,
    head: Linear,
    batch: usize,
    len: usize,
}

impl SeqClassifier {
    fn new(gpu: &Gpu, seed: u64) -> SeqClassifier {
        let mut rng = Rng::new(seed);
        let d = 32;
        let cfg = BlockConfig { d_model: d, heads: 2, d_ff: 64, eps: 1e-5, pre_ln: true, dropout: 0.0, attn_dropout: 0.0, act: Activation::GeluErf, init: Init::Normal(0.1) };
        SeqClassifier {
            tokens: Embedding::new(gpu, "tok", 8, d, Init::Normal(0.5), &mut rng).unwrap(),
            positions: Embedding::new(gpu, "pos", 10, d, Init::Normal(0.5), &mut rng).unwrap(),
            blocks: (0..2).map(|i| TransformerBlock::new(gpu, &BlockNames::vit(&format!("layer.{i}")), &cfg, &mut rng).unwrap()).collect(),
            head: Linear::new(gpu, "head", d, 2, true, Init::Normal(0.1), &mut rng).unwrap(),
            batch: 64,
            len: 10,
        }
    }
    fn logits(&self, tape: &mut Tape, ids: &[i32], n: usize) -> Result<Var> {
        let g = tape.gpu();
        let ids = Tensor::from_slice(g, ids, &[n * self.len])?;
        let pos: Vec<i32> = (0..n * self.len).map(|i| (i % self.len) as i32).collect();
        let pos = Tensor::from_slice(g, &pos, &[n * self.len])?;
        let t = self.tokens.forward(tape, &ids)?;
        let p = self.positions.forward(tape, &pos)?;
        let h = ops::add(tape, t, p)?;
        let mut h = ops::reshape(tape, h, &[n, self.len, 32])?;
        for b in &self.blocks {
            h = b.forward(tape, h, None)?;
        }
        let pooled = ops::mean_to(tape, h, &[n, 1, 32])?;
        let pooled = ops::reshape(tape, pooled, &[n, 32])?;
        self.head.forward(tape, pooled)
    }
}

impl Task for SeqClassifier {
    fn params(&self) -> Vec<&Param> {
        let mut p = self.tokens.params();
        p.extend(self.positions.params());
        p.extend(self.blocks.iter().flat_map(|b| b.params()));
        p.extend(self.head.params());
        p
    }
    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let (ids, y) = first_equals_last(rng, self.batch, self.len);
        let y = Tensor::from_slice(tape.gpu(), &y, &[self.batch])?;
        let logits = self.logits(tape, &ids, self.batch)?;
        ops::cross_entropy(tape, logits, &y)
    }
}

#[test]
fn a_two_layer_transformer_learns_a_sequence_task() {
    let g = gpu();
    let mut model = SeqClassifier::new(g, 3);
    let mut t = Trainer::new(g, config(500, 3e-3, 3), Optimizer::adamw(0.01));
    t.run(&mut model).unwrap();
    let (ids, y) = first_equals_last(&mut Rng::new(777), 1000, 10);
    let mut tape = Tape::inference(g);
    let logits = model.logits(&mut tape, &ids, 1000).unwrap();
    let acc = accuracy(g, tape.value(logits), &y);
    assert!(acc >= 0.95, "transformer held-out accuracy {acc:.3} < 0.95 (final loss {:.3})", t.history.last().unwrap().loss);
}

fn losses(history: &[pretext::train::LogRow]) -> Vec<f64> {
    history.iter().map(|r| r.loss).collect()
}

#[test]
fn one_seed_gives_identical_losses_and_resume_is_exact() {
    let g = gpu();
    let dir = std::env::temp_dir().join(format!("pretext-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // Uninterrupted, twice.
    let run = |steps: u32| {
        let mut m = Mlp::new(g, 5);
        let mut t = Trainer::new(g, config(steps, 1e-2, 5), Optimizer::adamw(0.01));
        t.run(&mut m).unwrap();
        losses(&t.history)
    };
    let a = run(30);
    let b = run(30);
    assert_eq!(a, b, "same seed, same device: identical losses");

    // Interrupted at step 12 (checkpoint written by --save-every), then resumed in a fresh model.
    let mut m = Mlp::new(g, 5);
    let mut c = config(30, 1e-2, 5);
    c.save_every = 12;
    c.out_dir = Some(dir.clone());
    c.steps = 12;
    let mut t = Trainer::new(g, c.clone(), Optimizer::adamw(0.01));
    t.run(&mut m).unwrap();
    let head = losses(&t.history);
    assert!(dir.join("step-12/model.safetensors").exists() && dir.join("step-12/trainer_state.json").exists());
    assert!(dir.join("metrics.jsonl").exists());

    let mut fresh = Mlp::new(g, 77); // different init: everything must come from the checkpoint
    c.steps = 30;
    let mut t2 = Trainer::new(g, c, Optimizer::adamw(0.01));
    let from = t2.resume(&dir, &mut fresh).unwrap(); // the output directory: its newest complete checkpoint
    assert_eq!(from, pretext::train::Resumed { dir: dir.join("step-12"), step: 12 });
    assert_eq!(t2.step, 12);
    t2.run(&mut fresh).unwrap();
    let mut resumed = head;
    resumed.extend(losses(&t2.history));
    assert_eq!(resumed, a, "a run resumed at step 12 reaches the same losses bit for bit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_gpu_bytes_stay_flat_over_training() {
    let g = Gpu::new(&pretext::GpuOptions::default()).unwrap();
    let mut model = SeqClassifier::new(&g, 9);
    let mut t = Trainer::new(&g, config(20, 1e-3, 9), Optimizer::adamw(0.01));
    let mut live = Vec::new();
    for _ in 0..20 {
        t.step(&mut model, false).unwrap();
        g.wait().unwrap();
        live.push(g.memory().live_bytes);
    }
    // After the first step creates the optimizer state, nothing grows.
    assert!(live[1..].iter().all(|&b| b == live[1]), "live bytes per step: {live:?}");
    let m = g.memory();
    assert!(m.reuse_hits > m.allocations, "the pool serves most requests: {m:?}");
}
