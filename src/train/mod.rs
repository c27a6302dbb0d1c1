//! The training loop the models share: one submit per step, a progress bar, `metrics.jsonl`, evaluation on a
//! schedule, `--save-every` checkpoints (each `OUT/step-K/` appears whole or not at all, the oldest pruned
//! with `keep_last`) and exact resume from a checkpoint or from a run's output directory.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::autograd::{Tape, Var};
use crate::checkpoint;
use crate::gpu::Gpu;
use crate::nn::Param;
use crate::optim::{Optimizer, Schedule};
use crate::rng::Rng;
use crate::{Error, Result, Tensor};

pub mod metrics;

/// What a model must provide to be trained by `Trainer`.
pub trait Task {
    /// The trainable parameters, in a fixed order, with unique names.
    fn params(&self) -> Vec<&Param>;
    /// Records the forward pass of one step's batch (drawn with `rng`) and returns the scalar loss.
    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var>;
    /// Held-out metrics (name, value); called on the evaluation schedule. Default: none.
    fn evaluate(&mut self, _gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }
    /// Extra tensors to save with the model (e.g. a momentum encoder); default none.
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// Told the 1-based number of the step about to run (for schedules inside the task); default ignores it.
    fn set_step(&mut self, _step: u32) {}
    /// Called after each optimizer update (e.g. an EMA of a target network).
    fn after_update(&mut self, _gpu: &Gpu, _step: u32) -> Result<()> {
        Ok(())
    }
}

/// How to train.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub steps: u32,
    pub schedule: Schedule,
    pub seed: u64,
    /// Log loss (a read-back) every this many steps.
    pub log_every: u32,
    /// Evaluate every this many steps and at the last step (0: never).
    pub eval_every: u32,
    /// Write `OUT/step-K/` every K steps (0: never).
    pub save_every: u32,
    /// Keep only the newest N `step-K/` checkpoints (None: all); older ones are deleted once a newer one is complete.
    #[serde(default)]
    pub keep_last: Option<usize>,
    pub out_dir: Option<PathBuf>,
    /// Show a progress bar.
    pub progress: bool,
    /// A label for the progress bar and metrics ("pretrain", "finetune").
    pub phase: String,
}

/// The trainer state's file in a checkpoint directory.
pub const STATE_FILE: &str = "trainer_state.json";

/// Saved beside the model and optimizer files in a checkpoint directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    pub step: u32,
    pub schedule: Schedule,
    pub seed: u64,
    /// The data generator's state: the data position.
    pub rng: Rng,
    pub phase: String,
}

/// One logged step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogRow {
    pub phase: String,
    pub step: u32,
    pub loss: f64,
    pub lr: f64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, f64>,
}

/// The loop; holds the optimizer and the data generator.
pub struct Trainer<'g> {
    pub gpu: &'g Gpu,
    pub config: TrainConfig,
    pub optimizer: Optimizer,
    pub rng: Rng,
    pub step: u32,
    /// Every logged row, in order.
    pub history: Vec<LogRow>,
}

/// Where `Trainer::resume` resumed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    /// The checkpoint directory read (`step-K/`).
    pub dir: PathBuf,
    /// The step it was written after: training continues at the next one.
    pub step: u32,
}

/// The checkpoint directory `path` names: `path` itself when it holds `trainer_state.json` (a `step-K/`), else
/// the newest complete `step-K/` inside it (a run's output directory). The error says what is missing.
pub fn find_checkpoint(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        crate::bail!(Io, "{}: no such checkpoint or output directory", path.display());
    }
    if path.join(STATE_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    if let Some((_, dir)) = checkpoint::steps::latest(path, STATE_FILE)? {
        return Ok(dir);
    }
    let named_step = path.file_name().and_then(|n| checkpoint::steps::parse_step_name(&n.to_string_lossy())).is_some();
    if named_step {
        crate::bail!(Invalid, "{}: not a complete checkpoint (no {STATE_FILE}); resume from its output directory to take the newest complete one", path.display());
    }
    crate::bail!(Invalid, "{}: holds no complete checkpoint (no step-K/ with {STATE_FILE})", path.display())
}

/// Rewrites `metrics.jsonl` without the rows a resumed (or restarted) run will log again: those of `phase` after
/// `step`, and any line a killed run left torn. Other phases' rows are kept as they were.
fn trim_metrics(path: &Path, phase: &str, step: u32) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let keep = |line: &str| match serde_json::from_str::<serde_json::Value>(line) {
        Ok(row) => row["phase"].as_str() != Some(phase) || row["step"].as_u64().is_some_and(|s| s <= step as u64),
        Err(_) => false,
    };
    let kept: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
    if kept.len() == text.lines().count() && (text.is_empty() || text.ends_with('\n')) {
        return Ok(());
    }
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    checkpoint::write_atomic(path, out.as_bytes())
}

/// Named device tensors of the model's parameters.
pub fn param_tensors(params: &[&Param]) -> Vec<(String, Tensor)> {
    params.iter().map(|p| (p.name.clone(), p.value.clone())).collect()
}

impl<'g> Trainer<'g> {
    /// A trainer starting at step 0 with the data generator seeded from `config.seed`.
    pub fn new(gpu: &'g Gpu, config: TrainConfig, optimizer: Optimizer) -> Trainer<'g> {
        let rng = Rng::new(config.seed);
        Trainer { gpu, config, optimizer, rng, step: 0, history: Vec::new() }
    }

    /// One step: forward, backward, update, all recorded and submitted once. Reads the loss back only when `read_loss`.
    pub fn step(&mut self, task: &mut dyn Task, read_loss: bool) -> Result<Option<f64>> {
        let gpu = self.gpu;
        let step = self.step + 1;
        let lr = self.config.schedule.lr(step);
        let loss_t;
        {
            let mut tape = Tape::new(gpu, self.config.seed.wrapping_mul(0x9E37_79B9).wrapping_add(step as u64));
            task.set_step(step);
            let loss = task.loss(&mut tape, &mut self.rng)?;
            loss_t = tape.value(loss).clone();
            let grads = tape.backward(loss)?;
            drop(tape); // frees saved activations before the update
            let params = task.params();
            self.optimizer.update(gpu, &params, &grads, lr)?;
        }
        task.after_update(gpu, step)?;
        self.step = step;
        if read_loss {
            let l = loss_t.to_vec::<f32>(gpu)?[0] as f64;
            if !l.is_finite() {
                crate::bail!(Invalid, "{}: loss became {l} at step {step} (lr {lr}); lower the learning rate", self.config.phase);
            }
            Ok(Some(l))
        } else {
            gpu.flush()?;
            Ok(None)
        }
    }

    /// Trains until `config.steps`, logging, evaluating and saving on schedule; returns the last evaluation.
    /// With an output directory, first removes the temporaries a killed run left there and the `metrics.jsonl`
    /// rows of this phase after the current step (a resumed run logs them again).
    pub fn run(&mut self, task: &mut dyn Task) -> Result<Vec<(String, f64)>> {
        let c = self.config.clone();
        if c.keep_last == Some(0) {
            crate::bail!(Invalid, "{}: keep_last must be at least 1 (None keeps every checkpoint)", c.phase);
        }
        let bar = if c.progress {
            let b = indicatif::ProgressBar::new(c.steps as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({per_sec}, eta {eta})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(c.phase.clone());
            b.set_position(self.step as u64);
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut metrics = match &c.out_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
                checkpoint::commit::clean_temporaries(d)?;
                let p = d.join("metrics.jsonl");
                trim_metrics(&p, &c.phase, self.step)?;
                Some((std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| Error::io(&p, e))?, p))
            }
            None => None,
        };
        let mut last_eval = Vec::new();
        let start = self.step;
        while self.step < c.steps {
            let next = self.step + 1;
            let log = next % c.log_every.max(1) == 0 || next == c.steps || next == 1;
            let loss = self.step(task, log)?;
            let mut extra = BTreeMap::new();
            let eval_now = c.eval_every > 0 && (next % c.eval_every == 0 || next == c.steps);
            if eval_now {
                last_eval = task.evaluate(self.gpu)?;
                for (k, v) in &last_eval {
                    extra.insert(k.clone(), *v);
                }
            }
            if let Some(l) = loss {
                let row = LogRow { phase: c.phase.clone(), step: next, loss: l, lr: c.schedule.lr(next) as f64, extra };
                bar.set_message(format!("loss {l:.4} lr {:.2e}", row.lr));
                if let Some((f, p)) = &mut metrics {
                    let line = serde_json::to_string(&row).map_err(|e| Error::Invalid(e.to_string()))? + "\n";
                    f.write_all(line.as_bytes()).map_err(|e| Error::io(&*p, e))?; // one write: a kill tears no line
                }
                self.history.push(row);
            }
            bar.set_position(next as u64);
            if c.save_every > 0 && next % c.save_every == 0 {
                if let Some(d) = &c.out_dir {
                    self.save(&checkpoint::steps::step_dir(d, next), task)?;
                    if let Some(keep) = c.keep_last {
                        checkpoint::steps::retain_last(d, keep)?;
                    }
                }
            }
        }
        bar.finish_and_clear();
        if c.eval_every > 0 && self.step == start {
            last_eval = task.evaluate(self.gpu)?; // resumed at the last step: report the final evaluation all the same
        }
        Ok(last_eval)
    }

    /// Writes a training checkpoint directory, whole or not at all (`checkpoint::commit_dir`):
    /// `model.safetensors` (parameters and the task's extra state), `optimizer.safetensors`, `trainer_state.json`.
    pub fn save(&self, dir: &Path, task: &dyn Task) -> Result<()> {
        let mut tensors = param_tensors(&task.params());
        tensors.extend(task.extra_state());
        let state = TrainerState {
            step: self.step,
            schedule: self.config.schedule,
            seed: self.config.seed,
            rng: self.rng.clone(),
            phase: self.config.phase.clone(),
        };
        let json = serde_json::to_string_pretty(&state).map_err(|e| Error::Invalid(e.to_string()))?;
        checkpoint::commit_dir(dir, |tmp| {
            checkpoint::save(self.gpu, &tmp.join("model.safetensors"), &tensors, None)?;
            checkpoint::save(self.gpu, &tmp.join("optimizer.safetensors"), &self.optimizer.state_tensors(), None)?;
            checkpoint::write_atomic(&tmp.join(STATE_FILE), json.as_bytes())
        })
    }

    /// Restores a checkpoint written by `save` into `task`'s parameters, the optimizer and the loop position.
    /// `path` is a checkpoint directory (`OUT/step-K`) or a run's output directory, whose newest complete
    /// checkpoint is taken (see `find_checkpoint`). Returns which checkpoint and step; prints nothing.
    pub fn resume(&mut self, path: &Path, task: &mut dyn Task) -> Result<Resumed> {
        let dir = find_checkpoint(path)?;
        let dir = dir.as_path();
        let state_path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: TrainerState =
            serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", state_path.display())))?;
        let model = checkpoint::load(&dir.join("model.safetensors"))?;
        for p in task.params() {
            model.load_into(self.gpu, &p.name, &p.value)?;
        }
        for (name, t) in task.extra_state() {
            model.load_into(self.gpu, &name, &t)?;
        }
        let opt = checkpoint::load(&dir.join("optimizer.safetensors"))?;
        let mut tensors = BTreeMap::new();
        for name in opt.tensors.keys() {
            tensors.insert(name.clone(), opt.to_device(self.gpu, name)?);
        }
        self.optimizer.load_state(&task.params(), &tensors, state.step)?;
        self.step = state.step;
        self.rng = state.rng;
        self.config.schedule = state.schedule;
        self.config.seed = state.seed;
        Ok(Resumed { dir: dir.to_path_buf(), step: state.step })
    }
}
