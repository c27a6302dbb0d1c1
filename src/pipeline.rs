//! The library API for a BERT model directory: load it, embed texts, fill masks, classify, in a few lines.
//!
//! ```no_run
//! # fn main() -> pretext::Result<()> {
//! let gpu = pretext::Gpu::new(&Default::default())?;
//! let model = pretext::pipeline::BertPipeline::load(&gpu, "data/minilm".as_ref())?;
//! let e = model.embed(&gpu, &["A sentence.".to_string()], pretext::pipeline::Pooling::Mean, true)?;
//! # Ok(()) }
//! ```
use std::path::{Path, PathBuf};

use crate::autograd::Tape;
use crate::checkpoint;
use crate::data::tokenizer::Tokenizer;
use crate::gpu::Gpu;
use crate::models::bert::{load_params, Bert, BertBatch, BertConfig, MlmHead};
use crate::models::heads::Classifier;
use crate::models::hf::LoadReport;
use crate::nn::Init;
use crate::rng::Rng;
use crate::{Error, Result, Tensor};

/// How token states become one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Average over the real tokens (\[CLS\] and \[SEP\] included), as sentence-transformers.
    Mean,
    /// The \[CLS\] token's state.
    Cls,
    /// No pooling: every token's state.
    None,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Pooling> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "none" => Ok(Pooling::None),
            o => Err(Error::Invalid(format!("unknown pooling {o:?}: expected mean, cls or none"))),
        }
    }
}

/// One masked position's top predictions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MaskPrediction {
    pub pos: usize,
    pub ids: Vec<i32>,
    pub tokens: Vec<String>,
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
}

/// A loaded model directory: tokenizer, encoder and whichever heads the checkpoint had.
pub struct BertPipeline {
    pub dir: PathBuf,
    pub tokenizer: Tokenizer,
    pub bert: Bert,
    pub mlm: Option<MlmHead>,
    pub classifier: Option<Classifier>,
    /// Class names, index order (from config.json's id2label).
    pub labels: Vec<String>,
    pub report: LoadReport,
    /// Texts per forward pass.
    pub batch_size: usize,
}

impl BertPipeline {
    /// Loads `config.json`, `model.safetensors` and the tokenizer from `dir`.
    pub fn load(gpu: &Gpu, dir: &Path) -> Result<BertPipeline> {
        if !dir.is_dir() {
            crate::bail!(Io, "{}: model directory not found", dir.display());
        }
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let tokenizer = Tokenizer::from_dir(dir)?;
        let file = checkpoint::load(&dir.join("model.safetensors"))?;
        let mut rng = Rng::new(0);
        let bert = Bert::new(gpu, &config, &mut rng)?;
        let has = |prefix: &str| file.tensors.keys().any(|k| k.starts_with(prefix));
        let mlm = if has("cls.predictions") { Some(MlmHead::new(gpu, &config, &mut rng)?) } else { None };
        let labels: Vec<String> = match &config.id2label {
            Some(m) => {
                let mut v: Vec<(usize, String)> = m.iter().filter_map(|(k, v)| k.parse().ok().map(|k: usize| (k, v.clone()))).collect();
                v.sort();
                v.into_iter().map(|(_, l)| l).collect()
            }
            None => Vec::new(),
        };
        let classifier = if has("classifier.") && !labels.is_empty() { Some(Classifier::new(gpu, "classifier", config.hidden_size, labels.len(), Init::Normal(config.initializer_range), &mut rng)?) } else { None };
        let mut params = bert.params();
        if let Some(h) = &mlm {
            params.extend(h.params());
        }
        if let Some(h) = &classifier {
            params.extend(h.params());
        }
        let report = load_params(gpu, &file, &params)?;
        let encoder_missing: Vec<&String> = report.missing.iter().filter(|n| !n.starts_with("pooler.")).collect();
        if !encoder_missing.is_empty() {
            crate::bail!(Invalid, "{}: missing encoder tensors: {encoder_missing:?}", file.path.display());
        }
        Ok(BertPipeline { dir: dir.to_path_buf(), tokenizer, bert, mlm, classifier, labels, report, batch_size: 32 })
    }

    /// Token ids of `text` with \[CLS\] and \[SEP\], truncated to the model's maximum length.
    pub fn encode(&self, text: &str) -> Result<Vec<i32>> {
        let mut ids = self.tokenizer.encode(text)?;
        let max = self.bert.config.max_position_embeddings;
        if ids.len() > max {
            let sep = self.tokenizer.sep_id();
            ids.truncate(max - 1);
            ids.push(sep);
        }
        Ok(ids)
    }

    /// Runs the encoder over `ids` in batches (dynamic padding); calls `each(index, hidden rows [len × hidden])`.
    fn hidden_states(&self, gpu: &Gpu, ids: &[Vec<i32>], mut each: impl FnMut(usize, &[f32]) -> Result<()>) -> Result<()> {
        let h = self.bert.config.hidden_size;
        for (chunk_i, chunk) in ids.chunks(self.batch_size.max(1)).enumerate() {
            let batch = BertBatch::new(gpu, chunk, self.tokenizer.pad_id())?;
            let mut tape = Tape::inference(gpu);
            let out = self.bert.forward(&mut tape, &batch)?;
            let host = tape.value(out).to_vec::<f32>(gpu)?;
            for (j, s) in chunk.iter().enumerate() {
                let row = &host[j * batch.seq * h..(j * batch.seq + s.len()) * h];
                each(chunk_i * self.batch_size.max(1) + j, row)?;
            }
        }
        Ok(())
    }

    /// Per text: its ids and either one pooled vector (`Mean`, `Cls`) or every token's vector (`None`), flattened.
    pub fn embed(&self, gpu: &Gpu, texts: &[String], pooling: Pooling, normalize: bool) -> Result<Vec<(Vec<i32>, Vec<f32>)>> {
        let ids: Vec<Vec<i32>> = texts.iter().map(|t| self.encode(t)).collect::<Result<_>>()?;
        let h = self.bert.config.hidden_size;
        let mut out = vec![(Vec::new(), Vec::new()); texts.len()];
        self.hidden_states(gpu, &ids, |i, rows| {
            let n = rows.len() / h;
            let mut v: Vec<f32> = match pooling {
                Pooling::None => rows.to_vec(),
                Pooling::Cls => rows[..h].to_vec(),
                Pooling::Mean => {
                    let mut acc = vec![0f64; h];
                    for r in rows.chunks(h) {
                        for (a, x) in acc.iter_mut().zip(r) {
                            *a += *x as f64;
                        }
                    }
                    acc.iter().map(|a| (a / n as f64) as f32).collect()
                }
            };
            if normalize {
                for r in v.chunks_mut(h) {
                    let norm = r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
                    r.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
                }
            }
            out[i] = (ids[i].clone(), v);
            Ok(())
        })?;
        Ok(out)
    }

    /// For each text, the top-k predictions at each \[MASK\] token (by logit, descending).
    pub fn fill_mask(&self, gpu: &Gpu, texts: &[String], k: usize) -> Result<Vec<(Vec<i32>, Vec<MaskPrediction>)>> {
        let head = self.mlm.as_ref().ok_or_else(|| {
            Error::Invalid(format!("{}: the checkpoint has no masked-LM head (cls.predictions.*)", self.dir.display()))
        })?;
        let mask = self.tokenizer.mask_id();
        let mut results = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size.max(1)) {
            let ids: Vec<Vec<i32>> = chunk.iter().map(|t| self.encode(t)).collect::<Result<_>>()?;
            let batch = BertBatch::new(gpu, &ids, self.tokenizer.pad_id())?;
            let mut where_: Vec<(usize, usize)> = Vec::new();
            for (r, s) in ids.iter().enumerate() {
                where_.extend(s.iter().enumerate().filter(|(_, t)| **t == mask).map(|(c, _)| (r, c)));
            }
            let mut per_text: Vec<Vec<MaskPrediction>> = vec![Vec::new(); ids.len()];
            if !where_.is_empty() {
                let flat: Vec<i32> = where_.iter().map(|(r, c)| (r * batch.seq + c) as i32).collect();
                let positions = Tensor::from_slice(gpu, &flat, &[flat.len()])?;
                let mut tape = Tape::inference(gpu);
                let hidden = self.bert.forward(&mut tape, &batch)?;
                let logits = head.forward(&mut tape, &self.bert, hidden, &positions)?;
                let host = tape.value(logits).to_vec::<f32>(gpu)?;
                let v = self.bert.config.vocab_size;
                for (m, (r, c)) in where_.iter().enumerate() {
                    let row = &host[m * v..(m + 1) * v];
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                    let z: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
                    let mut order: Vec<usize> = (0..v).collect();
                    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                    order.truncate(k.min(v));
                    let ids: Vec<i32> = order.iter().map(|&i| i as i32).collect();
                    per_text[*r].push(MaskPrediction {
                        pos: *c,
                        tokens: self.tokenizer.decode_tokens(&ids),
                        logits: order.iter().map(|&i| row[i]).collect(),
                        probs: order.iter().map(|&i| ((row[i] as f64 - max).exp() / z) as f32).collect(),
                        ids,
                    });
                }
            }
            results.extend(ids.into_iter().zip(per_text));
        }
        Ok(results)
    }

    /// The predicted label and class probabilities of each text.
    pub fn classify(&self, gpu: &Gpu, texts: &[String]) -> Result<Vec<(String, Vec<f32>)>> {
        let head = self.classifier.as_ref().ok_or_else(|| {
            Error::Invalid(format!("{}: the checkpoint has no classification head (classifier.*, id2label)", self.dir.display()))
        })?;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size.max(1)) {
            let ids: Vec<Vec<i32>> = chunk.iter().map(|t| self.encode(t)).collect::<Result<_>>()?;
            let batch = BertBatch::new(gpu, &ids, self.tokenizer.pad_id())?;
            let mut tape = Tape::inference(gpu);
            let hidden = self.bert.forward(&mut tape, &batch)?;
            let lengths: Vec<i32> = ids.iter().map(|s| s.len() as i32).collect();
            let pooled = self.bert.pool_for_classifier(&mut tape, hidden, &lengths)?;
            let logits = head.forward(&mut tape, pooled, 0.0)?;
            let host = tape.value(logits).to_vec::<f32>(gpu)?;
            for row in host.chunks(self.labels.len()) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
                let z: f32 = e.iter().sum();
                let probs: Vec<f32> = e.iter().map(|x| x / z).collect();
                let best = (0..probs.len()).max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap_or(0);
                out.push((self.labels[best].clone(), probs));
            }
        }
        Ok(out)
    }
}
