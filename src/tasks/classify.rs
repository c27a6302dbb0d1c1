//! Classification fine-tuning of any `Encoder` (BERT on token ids, a ViT on images): a linear head on the
//! pooled features, cross-entropy on labelled examples, accuracy, macro-F1 and the confusion matrix held out.
use crate::autograd::{ops, Tape, Var};
use crate::gpu::Gpu;
use crate::models::heads::Classifier;
use crate::models::Encoder;
use crate::nn::Param;
use crate::rng::Rng;
use crate::train::{metrics, Task};
use crate::{Result, Tensor};

/// Fine-tunes `encoder` and `head` on (example, class) pairs.
pub struct ClassifyTask<E: Encoder> {
    pub encoder: E,
    pub head: Classifier,
    pub train: Vec<(E::Example, usize)>,
    pub eval: Vec<(E::Example, usize)>,
    pub batch: usize,
    /// Dropout on the pooled features while training.
    pub dropout: f32,
    /// Linear probing first (LP-FT, Kumar et al. 2022): for this many steps only the head learns (the pooled
    /// features are detached), then everything is fine-tuned. 0 = plain fine-tuning.
    pub probe_steps: u32,
    /// The step being run (set by the trainer).
    pub step: u32,
    /// A random transformation of each training example, drawn from the step's generator (image augmentation);
    /// None: examples as they are.
    pub augment: Option<Augment<E::Example>>,
}

/// A random transformation of one example, drawn from the generator it is given.
pub type Augment<X> = Box<dyn Fn(&X, &mut Rng) -> X>;

/// Held-out classification results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClassifyEval {
    pub accuracy: f64,
    pub macro_f1: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

impl<E: Encoder> ClassifyTask<E> {
    /// A task with no probing phase.
    pub fn new(encoder: E, head: Classifier, train: Vec<(E::Example, usize)>, eval: Vec<(E::Example, usize)>, batch: usize, dropout: f32) -> Self {
        ClassifyTask { encoder, head, train, eval, batch, dropout, probe_steps: 0, step: 0, augment: None }
    }

    /// Logits `[batch, classes]` of `examples`.
    pub fn logits(&self, tape: &mut Tape, examples: &[&E::Example]) -> Result<Var> {
        let probing = tape.grad_enabled() && self.step <= self.probe_steps;
        let pooled = if probing {
            // The encoder runs without recording: its features are fixed while the head learns.
            let pooled = tape.no_grad(|t| self.encoder.encode(t, examples))?;
            tape.detach(pooled)
        } else {
            self.encoder.encode(tape, examples)?
        };
        self.head.forward(tape, pooled, self.dropout)
    }

    /// Predicted classes of `examples`, in batches of twice the training batch.
    pub fn predict(&self, gpu: &Gpu, examples: &[&E::Example]) -> Result<Vec<usize>> {
        let mut preds = Vec::with_capacity(examples.len());
        for chunk in examples.chunks(self.batch.max(1) * 2) {
            let mut tape = Tape::inference(gpu);
            let logits = self.logits(&mut tape, chunk)?;
            preds.extend(metrics::argmax_rows(&tape.value(logits).to_vec::<f32>(gpu)?, self.head.classes()));
        }
        Ok(preds)
    }

    /// Accuracy, macro-F1 and confusion matrix on the eval set.
    pub fn held_out(&self, gpu: &Gpu) -> Result<ClassifyEval> {
        let examples: Vec<&E::Example> = self.eval.iter().map(|(x, _)| x).collect();
        let preds = self.predict(gpu, &examples)?;
        let labels: Vec<usize> = self.eval.iter().map(|(_, y)| *y).collect();
        let classes = self.head.classes();
        Ok(ClassifyEval {
            accuracy: metrics::accuracy(&labels, &preds),
            macro_f1: metrics::macro_f1(&labels, &preds, classes),
            confusion: metrics::confusion(&labels, &preds, classes),
        })
    }

    /// Every parameter that fine-tuning updates (the whole encoder and the head).
    pub fn all_params(&self) -> Vec<&Param> {
        let mut p = self.encoder.params();
        p.extend(self.head.params());
        p
    }
}

impl<E: Encoder> Task for ClassifyTask<E> {
    fn params(&self) -> Vec<&Param> {
        self.all_params()
    }

    fn set_step(&mut self, step: u32) {
        self.step = step;
    }

    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.below(self.train.len())).collect();
        let augmented: Vec<E::Example> = match &self.augment {
            Some(f) => picks.iter().map(|&i| f(&self.train[i].0, rng)).collect(),
            None => Vec::new(),
        };
        let examples: Vec<&E::Example> =
            if self.augment.is_some() { augmented.iter().collect() } else { picks.iter().map(|&i| &self.train[i].0).collect() };
        let labels: Vec<i32> = picks.iter().map(|&i| self.train[i].1 as i32).collect();
        let logits = self.logits(tape, &examples)?;
        let y = Tensor::from_slice(tape.gpu(), &labels, &[labels.len()])?;
        ops::cross_entropy(tape, logits, &y)
    }

    fn evaluate(&mut self, gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        if self.eval.is_empty() {
            return Ok(Vec::new());
        }
        let e = self.held_out(gpu)?;
        Ok(vec![("eval_accuracy".into(), e.accuracy), ("eval_macro_f1".into(), e.macro_f1)])
    }
}
