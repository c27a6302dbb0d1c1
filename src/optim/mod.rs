//! Optimizers (AdamW, SGD with momentum, LARS), learning-rate schedules, global-norm clipping, EMA.
//! State lives on the device, keyed by parameter name, and round-trips through checkpoints.
pub mod schedule;

pub use schedule::{Schedule, ScheduleKind};

use std::collections::BTreeMap;

use crate::autograd::Grads;
use crate::gpu::Gpu;
use crate::kernels::{self, optim as ko};
use crate::nn::Param;
use crate::{Error, Result, Tensor};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Rule {
    /// Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    AdamW { beta1: f32, beta2: f32, eps: f32 },
    /// SGD with (heavy-ball) momentum.
    Sgd { momentum: f32 },
    /// SGD with momentum and a layer-wise trust ratio (You et al. 2017).
    Lars { momentum: f32, eta: f32 },
}

/// An optimizer over named parameters; weight decay applies only to parameters with `decay` set
/// (the usual groups: none on biases and norm weights).
pub struct Optimizer {
    pub rule: Rule,
    pub weight_decay: f32,
    /// Clip gradients to this global L2 norm first (None: no clipping).
    pub max_grad_norm: Option<f32>,
    /// Steps taken.
    pub step: u32,
    /// Per-parameter state by name: AdamW (m, v); SGD/LARS (momentum buffer).
    state: BTreeMap<String, Vec<Tensor>>,
    /// The squared global gradient norm of the last step, on the device (read it only when logging).
    pub last_grad_sumsq: Option<Tensor>,
    /// Per-parameter multipliers of the learning rate, by name (layer-wise decay); absent means 1.
    pub lr_scale: BTreeMap<String, f32>,
}

impl Optimizer {
    /// AdamW with PyTorch's defaults for betas and eps.
    pub fn adamw(weight_decay: f32) -> Optimizer {
        Optimizer::new(Rule::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, weight_decay)
    }

    /// An optimizer with this rule and decoupled weight decay.
    pub fn new(rule: Rule, weight_decay: f32) -> Optimizer {
        Optimizer { rule, weight_decay, max_grad_norm: None, step: 0, state: BTreeMap::new(), last_grad_sumsq: None, lr_scale: BTreeMap::new() }
    }

    /// One update of every parameter that has a gradient, at learning rate `lr`; all recorded, nothing read back.
    pub fn update(&mut self, gpu: &Gpu, params: &[&Param], grads: &Grads, lr: f32) -> Result<()> {
        self.step += 1;
        let with_grad: Vec<(&Param, &Tensor)> = params.iter().filter_map(|p| grads.get(p.id).map(|g| (*p, g))).collect();
        let scale = match self.max_grad_norm {
            Some(max_norm) => {
                let gs: Vec<&Tensor> = with_grad.iter().map(|(_, g)| *g).collect();
                let sumsq = ko::sum_squares(gpu, &gs)?;
                let s = ko::clip_scale(gpu, &sumsq, max_norm)?;
                self.last_grad_sumsq = Some(sumsq);
                Some(s)
            }
            None => None,
        };
        for (p, g) in with_grad {
            g.expect_shape("optimizer", &p.name, p.value.shape())?;
            let wd = if p.decay { self.weight_decay } else { 0.0 };
            let lr = lr * self.lr_scale.get(&p.name).copied().unwrap_or(1.0);
            let n_state = match self.rule {
                Rule::AdamW { .. } => 2,
                _ => 1,
            };
            if !self.state.contains_key(&p.name) {
                let s = (0..n_state).map(|_| kernels::fill::full(gpu, p.value.shape(), 0.0)).collect::<Result<Vec<_>>>()?;
                self.state.insert(p.name.clone(), s);
            }
            let st = &self.state[&p.name];
            match self.rule {
                Rule::AdamW { beta1, beta2, eps } => {
                    let h = ko::AdamW { lr, beta1, beta2, eps, weight_decay: wd, step: self.step };
                    ko::adamw(gpu, &p.value, g, &st[0], &st[1], &h, scale.as_ref())?;
                }
                Rule::Sgd { momentum } => ko::sgd(gpu, &p.value, g, &st[0], lr, momentum, wd, None, scale.as_ref())?,
                Rule::Lars { momentum, eta } => {
                    // LARS conventionally skips the trust ratio (and decay) for biases and norm weights.
                    let lars = if p.decay { Some(eta) } else { None };
                    ko::sgd(gpu, &p.value, g, &st[0], lr, momentum, wd, lars, scale.as_ref())?
                }
            }
        }
        Ok(())
    }

    /// The state tensors with checkpoint names: `{param}.exp_avg`, `{param}.exp_avg_sq` (AdamW) or `{param}.momentum_buffer`.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let names: &[&str] = match self.rule {
            Rule::AdamW { .. } => &["exp_avg", "exp_avg_sq"],
            _ => &["momentum_buffer"],
        };
        let mut out = Vec::new();
        for (p, ts) in &self.state {
            for (n, t) in names.iter().zip(ts) {
                out.push((format!("{p}.{n}"), t.clone()));
            }
        }
        out
    }

    /// Restores state saved by `state_tensors` (for the given parameters); `step` comes from the trainer state.
    pub fn load_state(&mut self, params: &[&Param], tensors: &BTreeMap<String, Tensor>, step: u32) -> Result<()> {
        let names: &[&str] = match self.rule {
            Rule::AdamW { .. } => &["exp_avg", "exp_avg_sq"],
            _ => &["momentum_buffer"],
        };
        self.state.clear();
        for p in params {
            let found: Vec<Option<&Tensor>> = names.iter().map(|n| tensors.get(&format!("{}.{n}", p.name))).collect();
            if found.iter().all(|t| t.is_none()) {
                continue; // never updated (no gradient yet)
            }
            let mut st = Vec::new();
            for (n, t) in names.iter().zip(found) {
                let t = t.ok_or_else(|| Error::Invalid(format!("optimizer state: missing tensor \"{}.{n}\"", p.name)))?;
                t.expect_shape("optimizer state", &format!("{}.{n}", p.name), p.value.shape())?;
                st.push(t.clone());
            }
            self.state.insert(p.name.clone(), st);
        }
        self.step = step;
        Ok(())
    }
}

/// target ← m·target + (1 − m)·online for each pair (momentum encoders: MoCo, BYOL).
pub fn ema_update(gpu: &Gpu, target: &[&Param], online: &[&Param], momentum: f32) -> Result<()> {
    if target.len() != online.len() {
        crate::bail!(Shape, "ema: {} target parameters, {} online", target.len(), online.len());
    }
    for (t, o) in target.iter().zip(online) {
        ko::ema(gpu, &t.value, &o.value, momentum)?;
    }
    Ok(())
}
