//! Fine-tuning a ViT to classify images (`vit finetune` and the demo's mae recipe): the classification
//! model's config (labels, pooling, positions trained as HF's ViT), a linear head, MAE's fine-tuning
//! augmentation (random resized crop and flip) and layer-wise learning-rate decay.
use crate::data::augment::random_resized_crop_flip;
use crate::gpu::Gpu;
use crate::models::heads::Classifier;
use crate::models::vit::Vit;
use crate::nn::{Init, LayerNorm};
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::tasks::ClassifyTask;
use crate::Result;

/// How a ViT is fine-tuned.
#[derive(Debug, Clone)]
pub struct VitFinetune {
    /// "cls" or "mean" (None: the config's `classifier_pooling`).
    pub pooling: Option<String>,
    /// Block i of L learns at lr·decay^(L−i) (1: no decay).
    pub layer_decay: f32,
    /// Random resized crop with scale in [crop_min, 1] and a flip (1: no augmentation).
    pub crop_min: f64,
    pub batch: usize,
    pub weight_decay: f32,
    /// Linear probing first (LP-FT): for this many steps only the head learns on the detached pooled features
    /// (0: plain fine-tuning).
    pub probe_steps: u32,
}

/// A classification task for `vit` over `classes` (examples preprocessed for `vit.config`), with its
/// optimizer: AdamW, gradients clipped to norm 1, the layer decay as lr scales.
pub fn finetune_task(
    gpu: &Gpu,
    mut vit: Vit,
    classes: &[String],
    train: Vec<(Vec<f32>, usize)>,
    eval: Vec<(Vec<f32>, usize)>,
    f: &VitFinetune,
    rng: &mut Rng,
) -> Result<(ClassifyTask<Vit>, Optimizer)> {
    if !(f.layer_decay > 0.0 && f.layer_decay <= 1.0) || !(f.crop_min > 0.0 && f.crop_min <= 1.0) || f.batch == 0 {
        crate::bail!(Invalid, "vit fine-tuning: layer decay {} and crop min {} must lie in (0, 1], batch {} be positive", f.layer_decay, f.crop_min, f.batch);
    }
    let pooling = f.pooling.clone().unwrap_or_else(|| vit.config.classifier_pooling.clone());
    vit.config = vit.config.for_classification(classes);
    vit.config.classifier_pooling = pooling;
    vit.config.validate()?;
    vit.train_positions = true;
    vit.fc_norm = match (vit.config.classifier_pooling.as_str(), vit.fc_norm.take()) {
        ("mean", Some(n)) => Some(n),
        ("mean", None) => Some(LayerNorm::new(gpu, "fc_norm", vit.config.hidden_size, vit.config.layer_norm_eps)?),
        _ => None,
    };
    let (c, s) = (vit.config.num_channels, vit.config.image_size);
    let head = Classifier::new(gpu, "classifier", vit.config.hidden_size, classes.len(), Init::Normal(vit.config.initializer_range), rng)?;
    let mut task = ClassifyTask::new(vit, head, train, eval, f.batch, 0.0);
    task.probe_steps = f.probe_steps;
    if f.crop_min < 1.0 {
        let scale = (f.crop_min, 1.0);
        task.augment = Some(Box::new(move |x: &Vec<f32>, r: &mut Rng| random_resized_crop_flip(x, c, s, s, scale, r)));
    }
    let mut opt = Optimizer::adamw(f.weight_decay);
    opt.max_grad_norm = Some(1.0);
    if f.layer_decay < 1.0 {
        let depth = task.encoder.layers.len() as i32 + 1;
        for p in task.all_params() {
            let id = task.encoder.layer_id(&p.name) as i32;
            opt.lr_scale.insert(p.name.clone(), f.layer_decay.powi(depth - id));
        }
    }
    Ok((task, opt))
}
