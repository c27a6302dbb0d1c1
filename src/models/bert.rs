//! BERT, numerically as HuggingFace's `BertModel`, `BertForMaskedLM` and `BertForSequenceClassification`:
//! word + position + token-type embeddings, LayerNorm, dropout; post-LN encoder layers with exact-erf GELU;
//! key-padding mask (right padding, given as lengths); tanh pooler; MLM head with the decoder tied to the
//! word embeddings (logits only at the masked positions); classification head on the pooled output.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::autograd::{ops, Tape, Var};
use crate::checkpoint::TensorFile;
use crate::models::hf::{self, LoadReport, NameMap};
use crate::models::Encoder;
use crate::gpu::Gpu;
use crate::kernels::activation::Activation;
use crate::nn::{init_tensor, BlockConfig, BlockNames, Embedding, Init, LayerNorm, Linear, Param, TransformerBlock};
use crate::rng::Rng;
use crate::{Error, Result, Tensor};

/// `config.json` of a HuggingFace BERT (unknown fields are ignored, missing ones take HF's defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub hidden_dropout_prob: f32,
    pub attention_probs_dropout_prob: f32,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub initializer_range: f32,
    pub layer_norm_eps: f32,
    pub pad_token_id: usize,
    /// Class names for sequence classification (index order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    pub model_type: String,
    /// How a classifier pools the encoder's output: "cls" (HF's tanh pooler on \[CLS\]) or "mean" (average of
    /// the real tokens' states; pretext's own, used by the demo). Absent from HF configs.
    #[serde(skip_serializing_if = "is_cls")]
    pub classifier_pooling: String,
}

fn is_cls(s: &String) -> bool {
    s == "cls"
}

impl Default for BertConfig {
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            id2label: None,
            architectures: None,
            model_type: "bert".into(),
            classifier_pooling: "cls".into(),
        }
    }
}

impl BertConfig {
    /// A named size: "tiny" (2 layers, hidden 128), "mini" (4, 256) or "small" (4, 512), for `vocab` tokens.
    pub fn preset(name: &str, vocab: usize) -> Result<BertConfig> {
        let (layers, hidden, heads) = match name {
            "tiny" => (2, 128, 2),
            "mini" => (4, 256, 4),
            "small" => (4, 512, 8),
            other => crate::bail!(Invalid, "unknown BERT preset {other:?}: expected tiny, mini, small or a config.json"),
        };
        Ok(BertConfig {
            vocab_size: vocab,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: 4 * hidden,
            max_position_embeddings: 512,
            ..BertConfig::default()
        })
    }

    /// Reads and checks a `config.json`.
    pub fn from_file(path: &Path) -> Result<BertConfig> {
        let c: BertConfig = hf::read_config(path)?;
        c.validate().map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// Errors when the sizes do not make sense together.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.hidden_size == 0 || self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!("hidden_size {} is not a positive multiple of num_attention_heads {}", self.hidden_size, self.num_attention_heads));
        }
        if self.hidden_size / self.num_attention_heads > 128 {
            return bad(format!("head size {} exceeds the fused attention kernel's 128", self.hidden_size / self.num_attention_heads));
        }
        if self.vocab_size == 0 || self.max_position_embeddings == 0 || self.type_vocab_size == 0 || self.intermediate_size == 0 {
            return bad("vocab_size, max_position_embeddings, type_vocab_size and intermediate_size must be positive".into());
        }
        if !matches!(self.hidden_act.as_str(), "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu") {
            return bad(format!("hidden_act {:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)", self.hidden_act));
        }
        if !matches!(self.classifier_pooling.as_str(), "cls" | "mean") {
            return bad(format!("classifier_pooling {:?} must be cls or mean", self.classifier_pooling));
        }
        if !(self.layer_norm_eps > 0.0) {
            return bad(format!("layer_norm_eps {} must be positive", self.layer_norm_eps));
        }
        Ok(())
    }

    fn activation(&self) -> Activation {
        match self.hidden_act.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            _ => Activation::GeluErf,
        }
    }

    /// Number of classes of a classification config (from id2label), if any.
    pub fn num_labels(&self) -> Option<usize> {
        self.id2label.as_ref().map(|m| m.len())
    }
}

/// A padded batch of token sequences (right padding).
#[derive(Debug, Clone)]
pub struct BertBatch {
    pub batch: usize,
    pub seq: usize,
    /// [batch * seq] I32 token ids.
    pub ids: Tensor,
    /// [batch * seq] I32 segment ids.
    pub token_types: Tensor,
    /// [batch * seq] I32 positions 0..seq per row.
    pub positions: Tensor,
    /// \[batch\] I32 real lengths (keys beyond are masked).
    pub lengths: Tensor,
}

impl BertBatch {
    /// Pads `seqs` to the longest with `pad`; all segments 0.
    pub fn new(gpu: &Gpu, seqs: &[Vec<i32>], pad: i32) -> Result<BertBatch> {
        let batch = seqs.len();
        let seq = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![pad; batch * seq];
        for (b, s) in seqs.iter().enumerate() {
            ids[b * seq..b * seq + s.len()].copy_from_slice(s);
        }
        let positions: Vec<i32> = (0..batch * seq).map(|i| (i % seq) as i32).collect();
        let lengths: Vec<i32> = seqs.iter().map(|s| s.len() as i32).collect();
        Ok(BertBatch {
            batch,
            seq,
            ids: Tensor::from_slice(gpu, &ids, &[batch * seq])?,
            token_types: Tensor::from_slice(gpu, &vec![0i32; batch * seq], &[batch * seq])?,
            positions: Tensor::from_slice(gpu, &positions, &[batch * seq])?,
            lengths: Tensor::from_slice(gpu, &lengths, &[batch])?,
        })
    }
}

/// The encoder: embeddings, layers and (optionally) the pooler. Parameter names as HF's `BertModel`.
#[derive(Debug, Clone)]
pub struct Bert {
    pub config: BertConfig,
    pub word: Embedding,
    pub position: Embedding,
    pub token_type: Embedding,
    pub emb_norm: LayerNorm,
    pub layers: Vec<TransformerBlock>,
    pub pooler: Linear,
}

/// BERT's masked-LM head: dense, GELU, LayerNorm, then the tied word-embedding decoder plus a bias.
#[derive(Debug, Clone)]
pub struct MlmHead {
    pub dense: Linear,
    pub norm: LayerNorm,
    pub bias: Param,
}

impl Bert {
    /// Randomly initialised (normal(initializer_range), zero biases, unit norms), as HF does.
    pub fn new(gpu: &Gpu, config: &BertConfig, rng: &mut Rng) -> Result<Bert> {
        config.validate()?;
        let c = config;
        let init = Init::Normal(c.initializer_range);
        let block = BlockConfig {
            d_model: c.hidden_size,
            heads: c.num_attention_heads,
            d_ff: c.intermediate_size,
            eps: c.layer_norm_eps,
            pre_ln: false,
            dropout: c.hidden_dropout_prob,
            attn_dropout: c.attention_probs_dropout_prob,
            act: c.activation(),
            init,
        };
        Ok(Bert {
            config: c.clone(),
            word: Embedding::new(gpu, "embeddings.word_embeddings", c.vocab_size, c.hidden_size, init, rng)?,
            position: Embedding::new(gpu, "embeddings.position_embeddings", c.max_position_embeddings, c.hidden_size, init, rng)?,
            token_type: Embedding::new(gpu, "embeddings.token_type_embeddings", c.type_vocab_size, c.hidden_size, init, rng)?,
            emb_norm: LayerNorm::new(gpu, "embeddings.LayerNorm", c.hidden_size, c.layer_norm_eps)?,
            layers: (0..c.num_hidden_layers)
                .map(|i| TransformerBlock::new(gpu, &BlockNames::bert(&format!("encoder.layer.{i}")), &block, rng))
                .collect::<Result<_>>()?,
            pooler: Linear::new(gpu, "pooler.dense", c.hidden_size, c.hidden_size, true, init, rng)?,
        })
    }

    /// Hidden states [batch, seq, hidden] of the last layer.
    pub fn forward(&self, tape: &mut Tape, b: &BertBatch) -> Result<Var> {
        let h = self.config.hidden_size;
        if b.seq > self.config.max_position_embeddings {
            crate::bail!(Shape, "bert: sequence of {} tokens exceeds max_position_embeddings {}", b.seq, self.config.max_position_embeddings);
        }
        let w = self.word.forward(tape, &b.ids)?;
        let p = self.position.forward(tape, &b.positions)?;
        let t = self.token_type.forward(tape, &b.token_types)?;
        let e = ops::add(tape, w, p)?;
        let e = ops::add(tape, e, t)?;
        let e = self.emb_norm.forward(tape, e)?;
        let e = ops::dropout(tape, e, self.config.hidden_dropout_prob)?;
        let mut x = ops::reshape(tape, e, &[b.batch, b.seq, h])?;
        for layer in &self.layers {
            x = layer.forward(tape, x, Some(&b.lengths))?;
        }
        Ok(x)
    }

    /// The pooled output tanh(W·h\[CLS\] + b), [batch, hidden].
    pub fn pool(&self, tape: &mut Tape, hidden: Var) -> Result<Var> {
        let [batch, _, h] = tape.value(hidden).dims::<3>("pooler", "hidden")?;
        let cls = ops::slice(tape, hidden, 1, 0, 1)?;
        let cls = ops::reshape(tape, cls, &[batch, h])?;
        let y = self.pooler.forward(tape, cls)?;
        ops::tanh(tape, y)
    }

    /// The mean of the real tokens' states (positions below lengths\[b\]), [batch, hidden].
    pub fn mean_pool(&self, tape: &mut Tape, hidden: Var, lengths: &[i32]) -> Result<Var> {
        let [batch, seq, h] = tape.value(hidden).dims::<3>("mean pool", "hidden")?;
        let mut w = vec![0f32; batch * seq];
        for (b, &len) in lengths.iter().enumerate() {
            let len = (len.max(0) as usize).min(seq);
            for t in 0..len {
                w[b * seq + t] = 1.0 / len as f32;
            }
        }
        let w = Tensor::from_slice(tape.gpu(), &w, &[batch, 1, seq])?;
        let w = tape.constant(w);
        let pooled = ops::matmul(tape, w, hidden, false, false)?; // [batch, 1, hidden]
        ops::reshape(tape, pooled, &[batch, h])
    }

    /// Pools for classification as the config says: the tanh pooler on \[CLS\], or the mean of real tokens.
    pub fn pool_for_classifier(&self, tape: &mut Tape, hidden: Var, lengths: &[i32]) -> Result<Var> {
        if self.config.classifier_pooling == "mean" { self.mean_pool(tape, hidden, lengths) } else { self.pool(tape, hidden) }
    }

    /// The encoder's parameters (pooler included).
    pub fn params(&self) -> Vec<&Param> {
        let mut p = self.word.params();
        p.extend(self.position.params());
        p.extend(self.token_type.params());
        p.extend(self.emb_norm.params());
        p.extend(self.layers.iter().flat_map(|l| l.params()));
        p.extend(self.pooler.params());
        p
    }
}

impl MlmHead {
    /// A fresh head for `config`.
    pub fn new(gpu: &Gpu, c: &BertConfig, rng: &mut Rng) -> Result<MlmHead> {
        Ok(MlmHead {
            dense: Linear::new(gpu, "cls.predictions.transform.dense", c.hidden_size, c.hidden_size, true, Init::Normal(c.initializer_range), rng)?,
            norm: LayerNorm::new(gpu, "cls.predictions.transform.LayerNorm", c.hidden_size, c.layer_norm_eps)?,
            bias: Param::new("cls.predictions.bias", init_tensor(gpu, &[c.vocab_size], Init::Zeros, rng)?, false),
        })
    }

    /// Logits [n, vocab] at the rows `positions` (\[n\] I32 indices into batch·seq) of hidden [batch, seq, hidden].
    pub fn forward(&self, tape: &mut Tape, bert: &Bert, hidden: Var, positions: &Tensor) -> Result<Var> {
        let [batch, seq, h] = tape.value(hidden).dims::<3>("mlm head", "hidden")?;
        let n = positions.numel();
        let flat = ops::reshape(tape, hidden, &[1, batch * seq, h])?;
        let picked = ops::gather_rows(tape, flat, &positions.reshape(&[1, n])?)?;
        let picked = ops::reshape(tape, picked, &[n, h])?;
        let x = self.dense.forward(tape, picked)?;
        let x = ops::activation(tape, x, bert.config.activation())?;
        let x = self.norm.forward(tape, x)?;
        let decoder = bert.word.weight.var(tape); // tied: the same parameter as the input embeddings
        let bias = self.bias.var(tape);
        ops::linear(tape, x, decoder, Some(bias))
    }

    /// The head's own parameters (the decoder weight belongs to the encoder).
    pub fn params(&self) -> Vec<&Param> {
        let mut p = self.dense.params();
        p.extend(self.norm.params());
        p.push(&self.bias);
        p
    }
}

impl Encoder for Bert {
    type Example = Vec<i32>;

    /// Pooled as the config says (`classifier_pooling`): the tanh pooler on \[CLS\], or the mean of real tokens.
    fn encode(&self, tape: &mut Tape, batch: &[&Vec<i32>]) -> Result<Var> {
        let seqs: Vec<Vec<i32>> = batch.iter().map(|s| (*s).clone()).collect();
        let b = BertBatch::new(tape.gpu(), &seqs, self.config.pad_token_id as i32)?;
        let hidden = self.forward(tape, &b)?;
        let lengths: Vec<i32> = seqs.iter().map(|s| s.len() as i32).collect();
        self.pool_for_classifier(tape, hidden, &lengths)
    }

    fn dim(&self) -> usize {
        self.config.hidden_size
    }

    fn params(&self) -> Vec<&Param> {
        Bert::params(self)
    }
}

/// Loads BERT parameters from a HF safetensors file, with or without the `bert.` prefix (and old
/// `gamma`/`beta` LayerNorm names); parameters absent from the file keep their values and are reported.
pub fn load_params(gpu: &Gpu, file: &TensorFile, params: &[&Param]) -> Result<LoadReport> {
    hf::load_params(gpu, file, params, &NameMap::BERT)
}

/// Writes the model directory `dir` (`config.json`, `model.safetensors`) whole (`hf::save_model`): names with the
/// `bert.` prefix when `prefixed`, as HF's `BertForMaskedLM` / `BertForSequenceClassification` save them.
pub fn save_model(gpu: &Gpu, dir: &Path, config: &BertConfig, params: &[&Param], prefixed: bool) -> Result<()> {
    hf::save_model(gpu, dir, config, &NameMap::BERT.tensors(params, prefixed))
}

/// Writes `config.json` and `model.safetensors` into `dir` as they are (for a commit that adds tokenizer files:
/// call `checkpoint::commit_model_dir` with this and the extra writes).
pub fn write_model(gpu: &Gpu, dir: &Path, config: &BertConfig, params: &[&Param], prefixed: bool) -> Result<()> {
    hf::write_model(gpu, dir, config, &NameMap::BERT.tensors(params, prefixed))
}
