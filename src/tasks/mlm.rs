//! Masked-language-model pretraining (BERT): 15% of tokens masked as BERT does, logits only at masked positions.
use crate::autograd::{ops, Tape, Var};
use crate::data::mlm::{mask, MaskSpec};
use crate::gpu::Gpu;
use crate::models::bert::{Bert, BertBatch, MlmHead};
use crate::nn::Param;
use crate::rng::Rng;
use crate::train::metrics;
use crate::train::Task;
use crate::{Result, Tensor};

/// Masked-LM pretraining over packed sequences, with a held-out set evaluated at fixed masks.
pub struct MlmTask {
    pub bert: Bert,
    pub head: MlmHead,
    pub train: Vec<Vec<i32>>,
    pub eval: Vec<Vec<i32>>,
    pub batch: usize,
    pub spec: MaskSpec,
    pub pad: i32,
    /// The most frequent non-special token of the training data: the unigram baseline's only guess.
    pub unigram: i32,
}

/// The most frequent id of `seqs` not in `special`.
pub fn most_frequent(seqs: &[Vec<i32>], special: &[i32], vocab: usize) -> i32 {
    let mut counts = vec![0usize; vocab];
    for &t in seqs.iter().flatten() {
        if !special.contains(&t) && (t as usize) < vocab {
            counts[t as usize] += 1;
        }
    }
    (0..vocab).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0) as i32
}

impl MlmTask {
    /// Loss and logits of one masked batch; returns (loss var, logits var, targets).
    fn forward(&self, tape: &mut Tape, seqs: &[Vec<i32>], rng: &mut Rng) -> Result<(Var, Var, Vec<i32>)> {
        let gpu = tape.gpu();
        let seq_len = seqs.iter().map(|s| s.len()).max().unwrap_or(1);
        let m = mask(seqs, seq_len, &self.spec, rng);
        let batch = BertBatch::new(gpu, &m.seqs, self.pad)?;
        let positions = Tensor::from_slice(gpu, &m.positions, &[m.positions.len()])?;
        let targets = Tensor::from_slice(gpu, &m.targets, &[m.targets.len()])?;
        let hidden = self.bert.forward(tape, &batch)?;
        let logits = self.head.forward(tape, &self.bert, hidden, &positions)?;
        let loss = ops::cross_entropy(tape, logits, &targets)?;
        Ok((loss, logits, m.targets))
    }

    /// Held-out (loss, masked-token accuracy, unigram-baseline accuracy) at masks fixed by a constant seed.
    pub fn held_out(&self, gpu: &Gpu) -> Result<(f64, f64, f64)> {
        let mut rng = Rng::new(0xE7A1);
        let (mut loss_sum, mut n, mut correct, mut unigram) = (0.0, 0usize, 0usize, 0usize);
        for chunk in self.eval.chunks(self.batch.max(1)) {
            let mut tape = Tape::inference(gpu);
            let (loss, logits, targets) = self.forward(&mut tape, chunk, &mut rng)?;
            let l = tape.value(loss).to_vec::<f32>(gpu)?[0] as f64;
            let preds = metrics::argmax_rows(&tape.value(logits).to_vec::<f32>(gpu)?, self.spec.vocab);
            loss_sum += l * targets.len() as f64;
            n += targets.len();
            correct += preds.iter().zip(&targets).filter(|(p, t)| **p as i32 == **t).count();
            unigram += targets.iter().filter(|&&t| t == self.unigram).count();
        }
        let n = n.max(1) as f64;
        Ok((loss_sum / n, correct as f64 / n, unigram as f64 / n))
    }
}

impl Task for MlmTask {
    fn params(&self) -> Vec<&Param> {
        let mut p: Vec<&Param> = self.bert.params().into_iter().filter(|p| !p.name.starts_with("pooler.")).collect();
        p.extend(self.head.params());
        p
    }

    fn loss(&mut self, tape: &mut Tape, rng: &mut Rng) -> Result<Var> {
        let seqs: Vec<Vec<i32>> = (0..self.batch).map(|_| self.train[rng.below(self.train.len())].clone()).collect();
        let (loss, _, _) = self.forward(tape, &seqs, rng)?;
        Ok(loss)
    }

    fn evaluate(&mut self, gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        if self.eval.is_empty() {
            return Ok(Vec::new());
        }
        let (loss, acc, uni) = self.held_out(gpu)?;
        Ok(vec![("eval_mlm_loss".into(), loss), ("eval_mlm_accuracy".into(), acc), ("unigram_accuracy".into(), uni)])
    }
}
