//! HuggingFace model directories, for every family: `config.json` and `model.safetensors` whose tensor names
//! carry the base model's prefix in task checkpoints (`bert.` in `BertForMaskedLM`, `vit.` in
//! `ViTMAEForPreTraining`) and none in a bare model (`BertModel`, `ViTModel`), while head names never do.
use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::checkpoint::{self, TensorFile};
use crate::gpu::Gpu;
use crate::nn::Param;
use crate::{Error, Result, Tensor};

/// How one family's parameter names map to the names in a HuggingFace checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct NameMap {
    /// The base model's prefix in task checkpoints, dot included ("bert.", "vit.").
    pub prefix: &'static str,
    /// Names that start with one of these belong to heads and are stored as they are.
    pub heads: &'static [&'static str],
}

impl NameMap {
    /// BERT: `bert.` before the encoder's names; `cls.` (masked-LM) and `classifier.` heads.
    pub const BERT: NameMap = NameMap { prefix: "bert.", heads: &["cls.", "classifier."] };
    /// ViT and ViT-MAE: `vit.` before the encoder's names; `decoder.` (MAE) and `classifier.` heads.
    pub const VIT: NameMap = NameMap { prefix: "vit.", heads: &["decoder.", "classifier."] };

    fn is_head(&self, name: &str) -> bool {
        self.heads.iter().any(|h| name.starts_with(h))
    }

    /// The name under which parameter `name` is stored: with the prefix when `prefixed`, unless it is a head's.
    pub fn stored(&self, name: &str, prefixed: bool) -> String {
        if prefixed && !self.is_head(name) { format!("{}{name}", self.prefix) } else { name.to_string() }
    }

    /// The names a file may store parameter `name` under, in order of preference: prefixed, bare, and both
    /// with the old TensorFlow-era LayerNorm names (`gamma`, `beta`).
    fn candidates(&self, name: &str) -> Vec<String> {
        let mut c = Vec::with_capacity(4);
        if !self.is_head(name) {
            c.push(format!("{}{name}", self.prefix));
        }
        c.push(name.to_string());
        let legacy: Vec<String> =
            c.iter().map(|n| n.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")).collect();
        c.extend(legacy.into_iter().filter(|l| !c.contains(l)).collect::<Vec<_>>());
        c
    }

    /// Named tensors ready to save: each parameter under its stored name.
    pub fn tensors(&self, params: &[&Param], prefixed: bool) -> Vec<(String, Tensor)> {
        params.iter().map(|p| (self.stored(&p.name, prefixed), p.value.clone())).collect()
    }
}

/// What loading a checkpoint found: parameters it lacked (left as they were) and tensors nothing used.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Names of parameters not found in the file (they keep their values).
    pub missing: Vec<String>,
    /// Names in the file that no parameter used.
    pub unused: Vec<String>,
    /// Whether the file stored the base model under its prefix.
    pub prefixed: bool,
}

/// Copies into `params` the tensors of `file` that match their names under `names` (prefixed or bare, old
/// LayerNorm names accepted); a matching tensor of the wrong shape is an error naming file and tensor.
pub fn load_params(gpu: &Gpu, file: &TensorFile, params: &[&Param], names: &NameMap) -> Result<LoadReport> {
    let prefixed = file.tensors.keys().any(|k| k.starts_with(names.prefix));
    let mut report = LoadReport { prefixed, ..Default::default() };
    let mut used = BTreeSet::new();
    for p in params {
        match names.candidates(&p.name).into_iter().find(|c| file.tensors.contains_key(c)) {
            Some(name) => {
                file.load_into(gpu, &name, &p.value)?;
                used.insert(name);
            }
            None => report.missing.push(p.name.clone()),
        }
    }
    report.unused = file.tensors.keys().filter(|k| !used.contains(*k)).cloned().collect();
    Ok(report)
}

/// Reads and parses `config.json`-style JSON at `path`; errors name the file.
pub fn read_config<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Writes `config.json` and `model.safetensors` holding `tensors` (names as given) into the directory `dir`.
pub fn write_model(gpu: &Gpu, dir: &Path, config: &impl Serialize, tensors: &[(String, Tensor)]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut meta = std::collections::HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    checkpoint::save(gpu, &dir.join("model.safetensors"), tensors, Some(meta))?;
    let json = serde_json::to_string_pretty(config).map_err(|e| Error::Invalid(e.to_string()))?;
    checkpoint::write_atomic(&dir.join("config.json"), json.as_bytes())
}

/// Writes the model directory `dir` whole (`checkpoint::commit_model_dir`: complete once `config.json`
/// exists). To add files in the same commit (tokenizer, preprocessor), call `commit_model_dir` with
/// `write_model` and the extra writes.
pub fn save_model(gpu: &Gpu, dir: &Path, config: &impl Serialize, tensors: &[(String, Tensor)]) -> Result<()> {
    checkpoint::commit_model_dir(dir, |tmp| write_model(gpu, tmp, config, tensors))
}

#[cfg(test)]
mod tests {
    use super::NameMap;

    #[test]
    fn names_map_both_ways() {
        let m = NameMap::BERT;
        assert_eq!(m.stored("encoder.layer.0.output.dense.weight", true), "bert.encoder.layer.0.output.dense.weight");
        assert_eq!(m.stored("encoder.layer.0.output.dense.weight", false), "encoder.layer.0.output.dense.weight");
        assert_eq!(m.stored("cls.predictions.bias", true), "cls.predictions.bias");
        assert_eq!(
            m.candidates("embeddings.LayerNorm.weight"),
            vec!["bert.embeddings.LayerNorm.weight", "embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.gamma", "embeddings.LayerNorm.gamma"]
        );
        assert_eq!(NameMap::VIT.candidates("decoder.mask_token"), vec!["decoder.mask_token"]);
    }
}
