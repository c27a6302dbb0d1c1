//! Parity with HuggingFace transformers on the same weights (fixtures by scripts/make_fixtures.py):
//! all-MiniLM-L6-v2 embeddings, a random BertForMaskedLM of an odd shape, and one MLM training step's
//! loss and every gradient.
mod common;
use common::gpu;
use pretext::autograd::{ops, Tape};
use pretext::checkpoint::{self, TensorFile};
use pretext::models::bert::{load_params, Bert, BertBatch, BertConfig, MlmHead};
use pretext::pipeline::{BertPipeline, Pooling};
use pretext::rng::Rng;
use pretext::Tensor;
use std::path::Path;

const FIX: &str = "assets/fixtures";

fn minilm_dir() -> std::path::PathBuf {
    common::fetched_data().join("minilm")
}

fn rel(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let num: f64 = got.iter().zip(want).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
    let den: f64 = want.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn max_abs(got: &[f32], want: &[f32]) -> f64 {
    got.iter().zip(want).map(|(a, b)| if a.is_finite() { (*a as f64 - *b as f64).abs() } else { f64::INFINITY }).fold(0.0, f64::max)
}

fn ints(f: &TensorFile, name: &str) -> Vec<i32> {
    f.tensors[name].data.iter().map(|&x| x as i32).collect()
}

/// The fixture's padded batch (right padding: lengths from the attention mask), with its segment ids.
fn fixture_batch(want: &TensorFile) -> BertBatch {
    let g = gpu();
    let [rows, seq] = <[usize; 2]>::try_from(want.tensors["input_ids"].shape.as_slice()).unwrap();
    let lengths: Vec<i32> = ints(want, "attention_mask").chunks(seq).map(|r| r.iter().sum()).collect();
    let positions: Vec<i32> = (0..rows * seq).map(|i| (i % seq) as i32).collect();
    BertBatch {
        batch: rows,
        seq,
        ids: Tensor::from_slice(g, &ints(want, "input_ids"), &[rows * seq]).unwrap(),
        token_types: Tensor::from_slice(g, &ints(want, "token_type_ids"), &[rows * seq]).unwrap(),
        positions: Tensor::from_slice(g, &positions, &[rows * seq]).unwrap(),
        lengths: Tensor::from_slice(g, &lengths, &[rows]).unwrap(),
    }
}

fn config_of(f: &TensorFile) -> BertConfig {
    serde_json::from_str(&f.metadata["config"]).expect("fixture config")
}

#[test]
fn minilm_embeddings_match_sentence_transformers() {
    let g = gpu();
    let model = BertPipeline::load(g, &minilm_dir()).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{FIX}/tokenizer_cases.json")).unwrap()).unwrap();
    let want = checkpoint::load(Path::new(&format!("{FIX}/minilm_embeddings.safetensors"))).unwrap();
    let index = ints(&want, "case_index");
    let emb = &want.tensors["embeddings"].data;
    let texts: Vec<String> = index.iter().map(|&i| cases["cases"][i as usize]["text"].as_str().unwrap().to_string()).collect();
    assert!(texts.len() >= 20);
    let got = model.embed(g, &texts, Pooling::Mean, true).unwrap();
    let mut worst_cos = 1.0f64;
    let mut worst_abs = 0.0f64;
    for (k, (ids, v)) in got.iter().enumerate() {
        let case = &cases["cases"][index[k] as usize];
        let want_ids: Vec<i32> = case["minilm_ids"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect();
        assert_eq!(ids, &want_ids, "token ids of {:?}", texts[k]);
        let w = &emb[k * 384..(k + 1) * 384];
        let cos: f64 = v.iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum();
        worst_cos = worst_cos.min(cos);
        worst_abs = worst_abs.max(max_abs(v, w));
    }
    assert!(worst_cos >= 0.99999 && worst_abs <= 1e-4, "MiniLM: worst cosine {worst_cos:.7}, worst max |diff| {worst_abs:.2e} (bounds 0.99999, 1e-4)");
}

#[test]
fn odd_random_bert_matches_hidden_states_and_mlm_logits() {
    let g = gpu();
    let dir = Path::new(FIX).join("bert_odd");
    let want = checkpoint::load(&Path::new(FIX).join("bert_odd_expected.safetensors")).unwrap();
    let config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    assert_eq!((config.hidden_size, config.num_attention_heads), (36, 3), "an unusual shape: hidden not a multiple of 32, odd heads");
    let file = checkpoint::load(&dir.join("model.safetensors")).unwrap();
    let mut rng = Rng::new(0);
    let bert = Bert::new(g, &config, &mut rng).unwrap();
    let head = MlmHead::new(g, &config, &mut rng).unwrap();
    let mut params = bert.params();
    params.extend(head.params());
    let report = load_params(g, &file, &params).unwrap();
    assert!(report.missing.iter().all(|n| n.starts_with("pooler.")), "missing: {:?}", report.missing);

    let batch = fixture_batch(&want);
    let (rows, seq) = (batch.batch, batch.seq);
    let mut tape = Tape::inference(g);
    let hidden = bert.forward(&mut tape, &batch).unwrap();
    let all: Vec<i32> = (0..(rows * seq) as i32).collect();
    let logits = head.forward(&mut tape, &bert, hidden, &Tensor::from_slice(g, &all, &[rows * seq]).unwrap()).unwrap();
    let h = tape.value(hidden).to_vec::<f32>(g).unwrap();
    let l = tape.value(logits).to_vec::<f32>(g).unwrap();
    // Padded positions attend to the real keys only in both implementations; compare every position.
    let (eh, el) = (max_abs(&h, &want.tensors["hidden"].data), max_abs(&l, &want.tensors["logits"].data));
    assert!(eh <= 1e-4 && el <= 1e-4, "odd BERT: hidden max |diff| {eh:.2e}, logits max |diff| {el:.2e} (bound 1e-4)");
}

#[test]
fn one_mlm_training_step_matches_pytorch_loss_and_every_gradient() {
    let g = gpu();
    let want = checkpoint::load(&Path::new(FIX).join("bert_tiny_step.safetensors")).unwrap();
    let config = config_of(&want);
    let mut rng = Rng::new(0);
    let bert = Bert::new(g, &config, &mut rng).unwrap();
    let head = MlmHead::new(g, &config, &mut rng).unwrap();
    let weights = TensorFile {
        path: want.path.clone(),
        tensors: want.tensors.iter().filter_map(|(k, v)| k.strip_prefix("param.").map(|n| (n.to_string(), v.clone()))).collect(),
        metadata: Default::default(),
    };
    let mut params = bert.params();
    params.extend(head.params());
    load_params(g, &weights, &params).unwrap();

    let batch = fixture_batch(&want);
    let (rows, seq) = (batch.batch, batch.seq);
    let labels = ints(&want, "labels");
    let positions: Vec<i32> = (0..rows * seq).filter(|&i| labels[i] != -100).map(|i| i as i32).collect();
    let targets: Vec<i32> = positions.iter().map(|&i| labels[i as usize]).collect();
    let mut tape = Tape::new(g, 1);
    let hidden = bert.forward(&mut tape, &batch).unwrap();
    let logits = head.forward(&mut tape, &bert, hidden, &Tensor::from_slice(g, &positions, &[positions.len()]).unwrap()).unwrap();
    let loss = ops::cross_entropy(&mut tape, logits, &Tensor::from_slice(g, &targets, &[targets.len()]).unwrap()).unwrap();
    let got_loss = tape.value(loss).to_vec::<f32>(g).unwrap()[0] as f64;
    let want_loss = want.tensors["loss"].data[0] as f64;
    assert!(((got_loss - want_loss) / want_loss).abs() <= 1e-4, "loss {got_loss} vs PyTorch {want_loss}");
    let grads = tape.backward(loss).unwrap();
    let mut checked = 0;
    let mut report = Vec::new();
    for p in &params {
        let hf = if p.name.starts_with("cls.") { p.name.clone() } else { format!("bert.{}", p.name) };
        let Some(w) = want.tensors.get(&format!("grad.{hf}")) else {
            assert!(p.name.starts_with("pooler."), "PyTorch has no gradient for {hf}");
            continue;
        };
        let got = grads.get(p.id).unwrap_or_else(|| panic!("no gradient for {}", p.name)).to_vec::<f32>(g).unwrap();
        let e = rel(&got, &w.data);
        let norm = w.data.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let diff = got.iter().zip(&w.data).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>().sqrt();
        report.push(format!("{hf}: rel {e:.2e} (|grad| {norm:.2e})"));
        // The key bias gets an exactly-zero gradient in exact arithmetic (softmax ignores a per-row constant):
        // both sides are rounding noise there, so such tensors are compared in absolute terms.
        if norm < 1e-6 {
            assert!(diff <= 1e-6, "gradient of {hf}: |diff| {diff:.2e} for a mathematically zero gradient");
        } else {
            assert!(e <= 1e-4, "gradient of {hf}: relative L2 error {e:.2e} > 1e-4");
        }
        checked += 1;
    }
    let expected = want.tensors.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(checked, expected, "every PyTorch gradient was compared:\n{}", report.join("\n"));
    println!("{}", report.join("\n"));
}

#[test]
fn a_training_step_runs_the_products_its_flop_count_says() {
    use pretext::bench::flops::{bert_classify_step, bert_mlm_step};
    use pretext::kernels::attention::AttentionPath;
    use pretext::models::heads::Classifier;
    // A device of its own: the product counter is per device, and the other tests of this binary run beside this one.
    let g = pretext::Gpu::new(&pretext::GpuOptions::default()).unwrap();
    let (batch, seq, masked) = (3, 11, 7);
    for pooling in ["cls", "mean"] {
        let config = BertConfig {
            vocab_size: 97,
            hidden_size: 24,
            num_hidden_layers: 2,
            num_attention_heads: 3,
            intermediate_size: 40,
            max_position_embeddings: 16,
            classifier_pooling: pooling.into(),
            ..BertConfig::default()
        };
        let mut rng = Rng::new(5);
        let bert = Bert::new(&g, &config, &mut rng).unwrap();
        let head = MlmHead::new(&g, &config, &mut rng).unwrap();
        let classifier = Classifier::new(&g, "classifier", 24, 5, pretext::nn::Init::Normal(0.02), &mut rng).unwrap();
        let seqs: Vec<Vec<i32>> = (0..batch).map(|b| (0..seq).map(|i| 5 + ((b * 31 + i * 7) % 90) as i32).collect()).collect();
        let b = BertBatch::new(&g, &seqs, 0).unwrap();
        // The attention products go through the matmul launcher only on the matmul path, whose backward also
        // recomputes S = Q·Kᵀ (P is not kept): executed FLOPs, not model FLOPs, so not in the count.
        let counted = |f: pretext::bench::flops::StepFlops| {
            if AttentionPath::for_shape(&g, [batch, 3, seq, 8]) == AttentionPath::Matmul {
                let recompute = 2.0 * (batch * 3 * seq * seq * 8) as f64 * config.num_hidden_layers as f64;
                f.total() + recompute
            } else {
                f.total() - f.attention
            }
        };

        let before = g.product_flops();
        let mut tape = Tape::new(&g, 1);
        let hidden = bert.forward(&mut tape, &b).unwrap();
        let positions: Vec<i32> = (0..masked as i32).map(|i| i * 4 + 1).collect();
        let logits = head.forward(&mut tape, &bert, hidden, &Tensor::from_slice(&g, &positions, &[masked]).unwrap()).unwrap();
        let targets: Vec<i32> = (0..masked as i32).map(|i| 10 + i).collect();
        let loss = ops::cross_entropy(&mut tape, logits, &Tensor::from_slice(&g, &targets, &[masked]).unwrap()).unwrap();
        let grads = tape.backward(loss).unwrap();
        assert!(grads.get(bert.word.weight.id).is_some());
        let ran = (g.product_flops() - before) as f64;
        let want = counted(bert_mlm_step(&config, batch, seq, masked as f64));
        assert_eq!(ran, want, "MLM step ({pooling}): the engine ran {ran} product FLOPs, the count says {want}");

        let before = g.product_flops();
        let mut tape = Tape::new(&g, 1);
        let hidden = bert.forward(&mut tape, &b).unwrap();
        let pooled = bert.pool_for_classifier(&mut tape, hidden, &[seq as i32; 3]).unwrap();
        let logits = classifier.forward(&mut tape, pooled, 0.1).unwrap();
        let loss = ops::cross_entropy(&mut tape, logits, &Tensor::from_slice(&g, &[0i32, 4, 2], &[3]).unwrap()).unwrap();
        tape.backward(loss).unwrap();
        let ran = (g.product_flops() - before) as f64;
        let want = counted(bert_classify_step(&config, batch, seq, 5));
        assert_eq!(ran, want, "classification step ({pooling} pooling): the engine ran {ran} product FLOPs, the count says {want}");
    }
}
