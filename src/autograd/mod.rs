//! Reverse-mode autograd: a tape of operations on tensors, walked backwards from a scalar loss.
//!
//! Nodes sit in a `Vec` in recording order; `backward` walks it in reverse (the same order every run).
//! Each op records a closure that maps the gradient of its output to the gradients of its inputs,
//! using only kernels (no host round trips). Gradients add up where a value is used more than once.
//! A closure's saved tensors are freed as soon as it has run.
pub mod ops;

use std::collections::HashMap;

use crate::gpu::Gpu;
use crate::kernels::{self, elementwise::BinaryOp};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// A value on the tape (an index into its nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

/// Maps the gradient of an op's output to the gradients of its inputs; `needs[i]` says whether input i wants one.
pub type BackwardFn = Box<dyn FnOnce(&Gpu, &Tensor, &[bool]) -> Result<Vec<Option<Tensor>>>>;

struct Node {
    value: Tensor,
    requires_grad: bool,
    parents: Vec<Var>,
    backward: Option<BackwardFn>,
    /// Set for leaves that are parameters: their gradient is returned by `backward`.
    param: Option<ParamId>,
    op: &'static str,
}

/// Identifies a trainable parameter across steps (see `nn::Param`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u64);

/// The gradients of one backward pass, by parameter.
#[derive(Default)]
pub struct Grads {
    map: HashMap<ParamId, Tensor>,
}

impl Grads {
    /// The gradient of a parameter, if it took part in the loss.
    pub fn get(&self, id: ParamId) -> Option<&Tensor> {
        self.map.get(&id)
    }

    /// Number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no parameter got a gradient.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds `other` into these gradients (gradient accumulation over micro-batches).
    pub fn accumulate(&mut self, gpu: &Gpu, other: Grads) -> Result<()> {
        for (id, g) in other.map {
            match self.map.get(&id) {
                Some(mine) => {
                    let sum = kernels::elementwise::binary(gpu, mine, &g, BinaryOp::Add)?;
                    self.map.insert(id, sum);
                }
                None => {
                    self.map.insert(id, g);
                }
            }
        }
        Ok(())
    }

    /// Multiplies every gradient by `s` (e.g. 1/micro-batches).
    pub fn scale(&mut self, gpu: &Gpu, s: f32) -> Result<()> {
        for g in self.map.values_mut() {
            *g = kernels::elementwise::unary(gpu, g, kernels::elementwise::UnaryOp::Scale(s))?;
        }
        Ok(())
    }

    /// Inserts or replaces a gradient.
    pub fn insert(&mut self, id: ParamId, g: Tensor) {
        self.map.insert(id, g);
    }
}

/// The tape of one forward pass.
pub struct Tape<'g> {
    gpu: &'g Gpu,
    nodes: Vec<Node>,
    grad_enabled: bool,
    /// Training mode (dropout active).
    pub training: bool,
    /// Seed and running offset for dropout masks, so a step is reproducible.
    pub seed: u64,
    rng_offset: u64,
}

impl<'g> Tape<'g> {
    /// An empty tape on `gpu`, recording gradients, in training mode, with dropout seed `seed`.
    pub fn new(gpu: &'g Gpu, seed: u64) -> Tape<'g> {
        Tape { gpu, nodes: Vec::new(), grad_enabled: true, training: true, seed, rng_offset: 0 }
    }

    /// An empty tape that records no gradients and disables dropout (evaluation, inference).
    pub fn inference(gpu: &'g Gpu) -> Tape<'g> {
        Tape { gpu, nodes: Vec::new(), grad_enabled: false, training: false, seed: 0, rng_offset: 0 }
    }

    /// The device.
    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Runs `f` with gradient recording off (values only).
    pub fn no_grad<T>(&mut self, f: impl FnOnce(&mut Tape<'g>) -> Result<T>) -> Result<T> {
        let was = self.grad_enabled;
        self.grad_enabled = false;
        let out = f(self);
        self.grad_enabled = was;
        out
    }

    /// Whether ops record gradients now.
    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled
    }

    /// Reserves `n` counter values of the dropout generator; returns the first.
    pub fn next_rng_offset(&mut self, n: u64) -> u64 {
        let o = self.rng_offset;
        self.rng_offset += n.next_multiple_of(4);
        o
    }

    /// A constant input (no gradient).
    pub fn constant(&mut self, value: Tensor) -> Var {
        self.push(value, false, vec![], None, None, "constant")
    }

    /// A leaf that wants a gradient, returned by `backward` under `id`.
    pub fn param(&mut self, id: ParamId, value: &Tensor) -> Var {
        let rg = self.grad_enabled;
        self.push(value.clone(), rg, vec![], None, Some(id), "param")
    }

    /// A new leaf with the same value and no gradient history.
    pub fn detach(&mut self, x: Var) -> Var {
        let v = self.value(x).clone();
        self.constant(v)
    }

    /// The value of `x`.
    pub fn value(&self, x: Var) -> &Tensor {
        &self.nodes[x.0].value
    }

    /// The shape of `x`'s value.
    pub fn shape(&self, x: Var) -> &[usize] {
        self.nodes[x.0].value.shape()
    }

    /// Whether `x` carries gradient history.
    pub fn requires_grad(&self, x: Var) -> bool {
        self.nodes[x.0].requires_grad
    }

    /// Number of nodes recorded.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Records the result of an op: `out` computed from `parents`; `backward` runs only if a parent needs a gradient.
    pub fn record(&mut self, op: &'static str, out: Tensor, parents: &[Var], backward: BackwardFn) -> Result<Var> {
        let rg = self.grad_enabled && parents.iter().any(|p| self.nodes[p.0].requires_grad);
        let bw = if rg { Some(backward) } else { None };
        Ok(self.push(out, rg, parents.to_vec(), bw, None, op))
    }

    fn push(&mut self, value: Tensor, requires_grad: bool, parents: Vec<Var>, backward: Option<BackwardFn>, param: Option<ParamId>, op: &'static str) -> Var {
        self.nodes.push(Node { value, requires_grad, parents, backward, param, op });
        Var(self.nodes.len() - 1)
    }

    /// Back-propagates from `loss` (a one-element tensor) and returns the parameters' gradients.
    pub fn backward(&mut self, loss: Var) -> Result<Grads> {
        let shape = self.shape(loss).to_vec();
        if shape.iter().product::<usize>() != 1 {
            return Err(Error::Shape(format!("backward: loss has shape {shape:?}, expected one element")));
        }
        let seed = kernels::fill::full(self.gpu, &shape, 1.0)?;
        self.backward_with(loss, seed)
    }

    /// Back-propagates the gradient `dout` of `out` (any shape).
    pub fn backward_with(&mut self, out: Var, dout: Tensor) -> Result<Grads> {
        dout.expect_shape("backward", "gradient", self.shape(out))?;
        let gpu = self.gpu;
        let mut grads: Vec<Option<Tensor>> = vec![None; out.0 + 1];
        grads[out.0] = Some(dout);
        let mut result = Grads::default();
        for i in (0..=out.0).rev() {
            let Some(g) = grads[i].take() else { continue };
            let node = &mut self.nodes[i];
            if let Some(id) = node.param {
                match result.map.remove(&id) {
                    Some(prev) => {
                        result.map.insert(id, kernels::elementwise::binary(gpu, &prev, &g, BinaryOp::Add)?);
                    }
                    None => {
                        result.map.insert(id, g);
                    }
                }
                continue;
            }
            let Some(backward) = node.backward.take() else { continue };
            let parents = node.parents.clone();
            let op = node.op;
            let needs: Vec<bool> = parents.iter().map(|p| self.nodes[p.0].requires_grad).collect();
            let pgrads = backward(gpu, &g, &needs)?;
            if pgrads.len() != parents.len() {
                return Err(Error::Gpu(format!("backward of {op}: {} gradients for {} inputs", pgrads.len(), parents.len())));
            }
            for ((p, pg), need) in parents.iter().zip(pgrads).zip(needs) {
                let Some(pg) = pg else { continue };
                if !need {
                    continue;
                }
                let want = self.nodes[p.0].value.shape();
                if pg.shape() != want {
                    return Err(Error::Shape(format!("backward of {op}: gradient {:?} for an input of shape {want:?}", pg.shape())));
                }
                grads[p.0] = Some(match grads[p.0].take() {
                    Some(prev) => kernels::elementwise::binary(gpu, &prev, &pg, BinaryOp::Add)?,
                    None => pg,
                });
            }
        }
        Ok(result)
    }
}
