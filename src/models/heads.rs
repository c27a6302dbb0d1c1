//! Heads that any encoder can carry; they take sizes, never a model's config: a linear classifier, and the
//! projection and prediction MLPs of contrastive methods.
use crate::autograd::{ops, Tape, Var};
use crate::gpu::Gpu;
use crate::nn::{BatchNorm1d, Init, Linear, Param};
use crate::rng::Rng;
use crate::{Result, Tensor};

/// A linear classifier on pooled features: `{name}.weight` [classes, d_in], `{name}.bias` \[classes\].
#[derive(Debug, Clone)]
pub struct Classifier {
    pub linear: Linear,
}

impl Classifier {
    /// A fresh classifier of `classes` classes over `d_in` features (HF calls it `classifier`).
    pub fn new(gpu: &Gpu, name: &str, d_in: usize, classes: usize, init: Init, rng: &mut Rng) -> Result<Classifier> {
        Ok(Classifier { linear: Linear::new(gpu, name, d_in, classes, true, init, rng)? })
    }

    /// Logits [batch, classes] from pooled features [batch, d_in] (dropout first while training, as HF).
    pub fn forward(&self, tape: &mut Tape, pooled: Var, dropout: f32) -> Result<Var> {
        let x = ops::dropout(tape, pooled, dropout)?;
        self.linear.forward(tape, x)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.linear.d_out()
    }

    /// The parameters.
    pub fn params(&self) -> Vec<&Param> {
        self.linear.params()
    }
}

/// One layer of an `MlpHead`: a linear map, then optionally BatchNorm1d and a ReLU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadLayer {
    pub d_in: usize,
    pub d_out: usize,
    /// The linear map carries a bias (lightly: only when no BatchNorm follows).
    pub bias: bool,
    /// BatchNorm1d after the linear map: Some(affine), or None.
    pub batch_norm: Option<bool>,
    pub relu: bool,
}

impl HeadLayer {
    /// Linear (no bias), BatchNorm1d with affine, ReLU: a hidden layer of every head below.
    pub fn hidden(d_in: usize, d_out: usize) -> HeadLayer {
        HeadLayer { d_in, d_out, bias: false, batch_norm: Some(true), relu: true }
    }
}

/// One built layer of an `MlpHead`.
#[derive(Debug, Clone)]
pub struct MlpLayer {
    pub linear: Linear,
    pub norm: Option<BatchNorm1d>,
    pub relu: bool,
}

/// The projection and prediction MLPs of contrastive methods, with BatchNorm1d between layers, built from layer
/// sizes (never a model's config). Names follow lightly's `ProjectionHead` (an `nn.Sequential` counting every
/// module): `{name}.layers.{k}.weight` for the linear map at index k, `{name}.layers.{k+1}.*` for its BatchNorm
/// (weight, bias, running_mean, running_var), so a PyTorch twin loads the same state dict.
#[derive(Debug, Clone)]
pub struct MlpHead {
    pub layers: Vec<MlpLayer>,
}

impl MlpHead {
    /// A head of `layers` under `name`; linear weights Xavier-uniform, biases zero, BatchNorm γ = 1, β = 0.
    pub fn new(gpu: &Gpu, name: &str, layers: &[HeadLayer], rng: &mut Rng) -> Result<MlpHead> {
        if layers.is_empty() {
            crate::bail!(Invalid, "{name}: a head needs at least one layer");
        }
        if let Some(w) = layers.windows(2).find(|w| w[0].d_out != w[1].d_in) {
            crate::bail!(Shape, "{name}: a layer of {} outputs feeds one of {} inputs", w[0].d_out, w[1].d_in);
        }
        let mut k = 0;
        let mut built = Vec::with_capacity(layers.len());
        for l in layers {
            if l.d_in == 0 || l.d_out == 0 {
                crate::bail!(Invalid, "{name}: layer sizes {} -> {} must be positive", l.d_in, l.d_out);
            }
            let linear = Linear::new(gpu, &format!("{name}.layers.{k}"), l.d_in, l.d_out, l.bias, Init::XavierUniform, rng)?;
            k += 1;
            let norm = match l.batch_norm {
                Some(affine) => {
                    let n = BatchNorm1d::new(gpu, &format!("{name}.layers.{k}"), l.d_out, affine)?;
                    k += 1;
                    Some(n)
                }
                None => None,
            };
            k += l.relu as usize;
            built.push(MlpLayer { linear, norm, relu: l.relu });
        }
        Ok(MlpHead { layers: built })
    }

    /// SimCLR's projection (lightly's `SimCLRProjectionHead`, SimCLR v2): d_in → hidden (BN, ReLU) → out (BN).
    pub fn simclr_projection(gpu: &Gpu, name: &str, d_in: usize, hidden: usize, out: usize, rng: &mut Rng) -> Result<MlpHead> {
        let last = HeadLayer { d_in: hidden, d_out: out, bias: false, batch_norm: Some(true), relu: false };
        MlpHead::new(gpu, name, &[HeadLayer::hidden(d_in, hidden), last], rng)
    }

    /// MoCo v3's projection (three layers for a ViT): d_in → hidden (BN, ReLU) → hidden (BN, ReLU) → out (BN
    /// without affine), no biases.
    pub fn moco_projection(gpu: &Gpu, name: &str, d_in: usize, hidden: usize, out: usize, rng: &mut Rng) -> Result<MlpHead> {
        let last = HeadLayer { d_in: hidden, d_out: out, bias: false, batch_norm: Some(false), relu: false };
        MlpHead::new(gpu, name, &[HeadLayer::hidden(d_in, hidden), HeadLayer::hidden(hidden, hidden), last], rng)
    }

    /// MoCo v3's prediction head: d_in → hidden (BN, ReLU) → out (BN without affine), no biases.
    pub fn moco_prediction(gpu: &Gpu, name: &str, d_in: usize, hidden: usize, out: usize, rng: &mut Rng) -> Result<MlpHead> {
        let last = HeadLayer { d_in: hidden, d_out: out, bias: false, batch_norm: Some(false), relu: false };
        MlpHead::new(gpu, name, &[HeadLayer::hidden(d_in, hidden), last], rng)
    }

    /// BYOL's projection and prediction heads (lightly's `BYOLProjectionHead` / `BYOLPredictionHead`): d_in →
    /// hidden (BN, ReLU) → out, the last linear map with a bias.
    pub fn byol(gpu: &Gpu, name: &str, d_in: usize, hidden: usize, out: usize, rng: &mut Rng) -> Result<MlpHead> {
        let last = HeadLayer { d_in: hidden, d_out: out, bias: true, batch_norm: None, relu: false };
        MlpHead::new(gpu, name, &[HeadLayer::hidden(d_in, hidden), last], rng)
    }

    /// Applies the layers to x `[rows, d_in]` (BatchNorm statistics over these rows while training).
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let mut h = x;
        for l in &self.layers {
            h = l.linear.forward(tape, h)?;
            if let Some(n) = &l.norm {
                h = n.forward(tape, h)?;
            }
            if l.relu {
                h = ops::relu(tape, h)?;
            }
        }
        Ok(h)
    }

    /// Output features.
    pub fn d_out(&self) -> usize {
        self.layers.last().map_or(0, |l| l.linear.d_out())
    }

    /// The trainable parameters.
    pub fn params(&self) -> Vec<&Param> {
        self.layers.iter().flat_map(|l| l.linear.params().into_iter().chain(l.norm.iter().flat_map(|n| n.params()))).collect()
    }

    /// The BatchNorm running statistics under their names.
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        self.layers.iter().filter_map(|l| l.norm.as_ref()).flat_map(|n| n.buffers()).collect()
    }
}
