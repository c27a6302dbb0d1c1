//! BERT WordPiece tokenizer: a thin wrapper over HF `tokenizers` that gives the ids python transformers gives.
//!
//! A model folder is read the way `AutoTokenizer.from_pretrained(dir)` reads it:
//! - `tokenizer.json` when present (its padding and truncation are turned off: transformers applies them only
//!   when asked, e.g. all-MiniLM-L6-v2's file pads and truncates to 128);
//! - else HF `BertTokenizer` rebuilt from `vocab.txt` + optional `tokenizer_config.json`:
//!   BertNormalizer(clean_text, tokenize_chinese_chars = true, strip_accents = null → follows lowercase,
//!   do_lower_case = true) → BertPreTokenizer (whitespace, then every punctuation char alone) →
//!   WordPiece(`##` pieces, `[UNK]`, words over 100 chars → `[UNK]`) → `[CLS] … [SEP]`; the five special tokens
//!   are matched whole in the raw text, before normalisation (so "\[MASK\]" in a text is the mask id).
//!
//! Special token names come from `tokenizer_config.json` (`cls_token`, ...) when it has them, else BERT's.
use crate::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::AddedToken;

/// The ids of BERT's five special tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Specials {
    pad: i32,
    unk: i32,
    cls: i32,
    sep: i32,
    mask: i32,
}

/// A BERT WordPiece tokenizer loaded from a model folder; see the module doc for what it reads.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    specials: Specials,
    /// The file the vocabulary came from, named in errors.
    source: PathBuf,
}

/// Special token names, in `Specials` order: (tokenizer_config.json key, default).
const SPECIAL_NAMES: [(&str, &str); 5] = [
    ("pad_token", "[PAD]"),
    ("unk_token", "[UNK]"),
    ("cls_token", "[CLS]"),
    ("sep_token", "[SEP]"),
    ("mask_token", "[MASK]"),
];

impl Tokenizer {
    /// Loads `dir/tokenizer.json`, or else builds HF's BertTokenizer from `dir/vocab.txt` (+ tokenizer_config.json).
    pub fn from_dir(dir: &Path) -> Result<Tokenizer> {
        if !dir.is_dir() {
            return Err(Error::io(dir, "tokenizer folder not found"));
        }
        let config = read_config(&dir.join("tokenizer_config.json"))?;
        let names = SPECIAL_NAMES.map(|(key, default)| special_name(&config, key, default));
        let json = dir.join("tokenizer.json");
        let (inner, source) = if json.is_file() {
            (from_json(&json)?, json)
        } else {
            let vocab = dir.join("vocab.txt");
            (from_vocab(&vocab, &config, &names)?, vocab)
        };
        let id = |name: &str| -> Result<i32> {
            let id = inner.token_to_id(name).ok_or_else(|| {
                Error::Invalid(format!("{}: special token {name:?} is not in the vocabulary", source.display()))
            })?;
            to_i32(id, &source)
        };
        let specials = Specials {
            pad: id(&names[0])?,
            unk: id(&names[1])?,
            cls: id(&names[2])?,
            sep: id(&names[3])?,
            mask: id(&names[4])?,
        };
        Ok(Tokenizer { inner, specials, source })
    }

    /// Token ids of `text` with `[CLS]` first and `[SEP]` last; no padding, no truncation.
    pub fn encode(&self, text: &str) -> Result<Vec<i32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Invalid(format!("{}: cannot encode {text:?}: {e}", self.source.display())))?;
        enc.get_ids().iter().map(|&id| to_i32(id, &self.source)).collect()
    }

    /// The token string of each id (`##` pieces keep their prefix); an id outside the vocabulary gives the unk token.
    pub fn decode_tokens(&self, ids: &[i32]) -> Vec<String> {
        let unk = || self.inner.id_to_token(self.specials.unk as u32).unwrap_or_default();
        ids.iter()
            .map(|&id| u32::try_from(id).ok().and_then(|id| self.inner.id_to_token(id)).unwrap_or_else(unk))
            .collect()
    }

    /// The id of one token string (exact match, e.g. "##ing" or "\[MASK\]"), if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<i32> {
        self.inner.token_to_id(token).and_then(|id| i32::try_from(id).ok())
    }

    /// Number of ids, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Id of `[CLS]`, the first token of every encoding.
    pub fn cls_id(&self) -> i32 {
        self.specials.cls
    }

    /// Id of `[SEP]`, the last token of every encoding.
    pub fn sep_id(&self) -> i32 {
        self.specials.sep
    }

    /// Id of `[PAD]`, for padding a batch.
    pub fn pad_id(&self) -> i32 {
        self.specials.pad
    }

    /// Id of `[MASK]`, for masked language modelling.
    pub fn mask_id(&self) -> i32 {
        self.specials.mask
    }

    /// Id of `[UNK]`, for words not in the vocabulary.
    pub fn unk_id(&self) -> i32 {
        self.specials.unk
    }

    /// All special ids (the five above plus any other special added token), ascending: never masked or predicted.
    pub fn special_ids(&self) -> Vec<i32> {
        let s = self.specials;
        let mut ids = vec![s.pad, s.unk, s.cls, s.sep, s.mask];
        for (id, tok) in self.inner.get_added_tokens_decoder() {
            if let (true, Ok(id)) = (tok.special, i32::try_from(id)) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Reads `tokenizer.json`, turning off its padding and truncation.
fn from_json(path: &Path) -> Result<tokenizers::Tokenizer> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut tok: tokenizers::Tokenizer = text
        .parse()
        .map_err(|e| Error::Invalid(format!("{}: not a valid tokenizer.json: {e}", path.display())))?;
    tok.with_padding(None);
    tok.with_truncation(None)
        .map_err(|e| Error::Invalid(format!("{}: cannot turn off truncation: {e}", path.display())))?;
    Ok(tok)
}

/// Builds HF BertTokenizer's pipeline from `vocab.txt` and the tokenizer_config.json options.
fn from_vocab(vocab: &Path, config: &Value, names: &[String; 5]) -> Result<tokenizers::Tokenizer> {
    std::fs::metadata(vocab).map_err(|e| Error::io(vocab, e))?;
    let vocab_str = vocab
        .to_str()
        .ok_or_else(|| Error::Io(format!("{}: path is not valid UTF-8", vocab.display())))?;
    let flag = |key: &str| config.get(key).and_then(Value::as_bool);
    let lowercase = flag("do_lower_case").unwrap_or(true);
    let strip_accents = flag("strip_accents"); // null or absent: follows lowercase
    let chinese = flag("tokenize_chinese_chars").unwrap_or(true);
    let model = WordPiece::from_file(vocab_str)
        .unk_token(names[1].clone())
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| Error::Invalid(format!("{}: cannot read vocabulary: {e}", vocab.display())))?;
    let mut tok = tokenizers::Tokenizer::new(model);
    // Checked before they are added: add_special_tokens would give a missing one a new id past the vocabulary.
    let mut ids = [0u32; 5];
    for (id, name) in ids.iter_mut().zip(names) {
        *id = tok.token_to_id(name).ok_or_else(|| {
            Error::Invalid(format!("{}: special token {name:?} is not in the vocabulary", vocab.display()))
        })?;
    }
    tok.with_normalizer(Some(BertNormalizer::new(true, chinese, strip_accents, lowercase)));
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    let specials: Vec<AddedToken> = names.iter().map(|n| AddedToken::from(n.clone(), true)).collect();
    tok.add_special_tokens(&specials);
    let (cls, sep) = (ids[2], ids[3]);
    tok.with_post_processor(Some(BertProcessing::new((names[3].clone(), sep), (names[2].clone(), cls))));
    Ok(tok)
}

/// The parsed `tokenizer_config.json`, or an empty object when the file is absent.
fn read_config(path: &Path) -> Result<Value> {
    if !path.exists() {
        return Ok(Value::Object(Default::default()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: not valid JSON: {e}", path.display())))?;
    if !value.is_object() {
        return Err(Error::Invalid(format!("{}: expected a JSON object", path.display())));
    }
    Ok(value)
}

/// A special token's name from the config: a string, or an AddedToken object's `content`; else the default.
fn special_name(config: &Value, key: &str, default: &str) -> String {
    let v = config.get(key);
    v.and_then(Value::as_str)
        .or_else(|| v.and_then(|v| v.get("content")).and_then(Value::as_str))
        .unwrap_or(default)
        .to_string()
}

/// An id as i32 (the id type of pretext's token tensors).
fn to_i32(id: u32, source: &Path) -> Result<i32> {
    i32::try_from(id).map_err(|_| Error::Invalid(format!("{}: token id {id} does not fit in i32", source.display())))
}
