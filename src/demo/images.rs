//! What the image recipes share: the bundled Fashion-MNIST subset (10,000 training images whose labels
//! pretraining never sees, 2,000 test images), and the frozen-feature probes of a pretrained encoder against
//! the same encoder at its initial weights (`init`) and the pixels (`raw`), over several labelled draws.
use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::data::images::{bundled, ImageSet, Preprocessor};
use crate::eval::probe::{mean, probe_draws, Draws, Features, LinearProbe};
use crate::gpu::Gpu;
use crate::models::Encoder;
use crate::Result;

/// The bundled images, preprocessed to [0, 1] grey 28×28, with their labels.
pub struct Bundled {
    pub train: Vec<Vec<f32>>,
    pub train_labels: Vec<usize>,
    pub test: Vec<Vec<f32>>,
    pub test_labels: Vec<usize>,
    pub classes: Vec<String>,
}

impl Bundled {
    /// Loads and preprocesses `assets/fashion-mnist/`: `train_images` and `test_images` of it, as many of every
    /// class (0: all).
    pub fn load(train_images: usize, test_images: usize) -> Result<Bundled> {
        let (train, test) = (even(bundled::fashion_train()?, train_images)?, even(bundled::fashion_test()?, test_images)?);
        let pre = Preprocessor::raw(28, 28);
        let labels = |s: &ImageSet, what: &str| -> Result<Vec<usize>> { Ok(s.labels(what)?.to_vec()) };
        Ok(Bundled {
            train: pre.apply_all(&train, 1)?,
            train_labels: labels(&train, "the bundled training images")?,
            test: pre.apply_all(&test, 1)?,
            test_labels: labels(&test, "the bundled test images")?,
            classes: train.classes.clone(),
        })
    }

    /// The number of classes.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }
}

/// `n` images of `set`, as many of every class (all when `n` is 0 or more than the set holds).
fn even(set: ImageSet, n: usize) -> Result<ImageSet> {
    let classes = set.classes.len().max(1);
    if n == 0 || n >= set.len() {
        return Ok(set);
    }
    set.per_class((n / classes).max(1), 0)
}

/// How the image recipes probe: labels per class (None: all), the draws' seeds, the kNN's k, the linear probe.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub labels_per_class: Option<usize>,
    pub seeds: Vec<u64>,
    pub knn: usize,
    pub linear: LinearProbe,
}

impl ProbeSpec {
    /// Probes with `labels_per_class` (0: all), `count` draws seeded from `seed`, k neighbours, `steps` of the
    /// linear probe.
    pub fn new(labels_per_class: usize, seed: u64, count: usize, knn: usize, steps: u32) -> ProbeSpec {
        ProbeSpec {
            labels_per_class: (labels_per_class > 0).then_some(labels_per_class),
            seeds: seeds(seed, count),
            knn,
            linear: LinearProbe { steps, ..LinearProbe::default() },
        }
    }
}

/// The pretrained encoder's probes against the same encoder at its initial weights and against the pixels,
/// printed: the pretrained figures and the summary's extra keys.
pub fn probe_against_baselines(
    gpu: &Gpu,
    data: &Bundled,
    model: &dyn Encoder<Example = Vec<f32>>,
    init: &dyn Encoder<Example = Vec<f32>>,
    spec: &ProbeSpec,
) -> Result<(Draws, Draws, BTreeMap<String, Value>)> {
    let trained = probe(gpu, data, Some(model), spec)?;
    let initial = probe(gpu, data, Some(init), spec)?;
    let raw = probe(gpu, data, None, spec)?;
    println!(
        "probe       linear {:.1}% (init {:.1}%, raw {:.1}%), kNN {:.1}% (init {:.1}%, raw {:.1}%), mean of {} draws",
        100.0 * trained.linear_mean(),
        100.0 * initial.linear_mean(),
        100.0 * raw.linear_mean(),
        100.0 * trained.knn_mean(),
        100.0 * initial.knn_mean(),
        100.0 * raw.knn_mean(),
        spec.seeds.len()
    );
    let extra = probe_extra(&trained, &initial, &raw);
    Ok((trained, initial, extra))
}

/// `count` seeds from `first`.
pub fn seeds(first: u64, count: usize) -> Vec<u64> {
    (0..count.max(1) as u64).map(|i| first + i).collect()
}

/// Both probes of `encoder`'s frozen features (`None`: the pixels) over the draws.
pub fn probe(gpu: &Gpu, data: &Bundled, encoder: Option<&dyn Encoder<Example = Vec<f32>>>, spec: &ProbeSpec) -> Result<Draws> {
    let (train, test) = match encoder {
        Some(e) => (Features::extract(gpu, e, &data.train, 256)?, Features::extract(gpu, e, &data.test, 256)?),
        None => (Features::raw(&data.train)?, Features::raw(&data.test)?),
    };
    probe_draws(gpu, &train, &data.train_labels, &test, &data.test_labels, data.class_count(), spec.labels_per_class, &spec.seeds, &spec.linear, spec.knn)
}

/// The pretrained encoder's probes against `init` and `raw`: the summary's extra keys (per-seed figures and
/// means of both probes for all three).
pub fn probe_extra(model: &Draws, init: &Draws, raw: &Draws) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for (name, d) in [("pretrained", model), ("init", init), ("raw", raw)] {
        m.insert(format!("{name}_linear_seeds"), json!(d.linear));
        m.insert(format!("{name}_knn_seeds"), json!(d.knn));
        m.insert(format!("{name}_knn"), json!(d.knn_mean()));
    }
    m.insert("raw_linear".into(), json!(raw.linear_mean()));
    m.insert("init_linear".into(), json!(init.linear_mean()));
    m
}

/// The smallest per-seed gain of `a` over `b` (seed by seed), to state beside the mean.
pub fn min_gain(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x - y).fold(f64::INFINITY, f64::min)
}

/// Mean of per-seed figures, re-exported for the recipes.
pub fn average(v: &[f64]) -> f64 {
    mean(v)
}
