//! Builds a word-level WordPiece vocabulary from a corpus (for models trained from scratch): the special
//! tokens, every character seen (alone and as a `##` continuation, so no word is ever \[UNK\]), then the
//! most frequent lower-cased words. Written as a BERT `vocab.txt` + `tokenizer_config.json`.
use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::write_atomic;
use crate::Result;

/// BERT's special tokens, in id order.
pub const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Splits like BERT's basic tokenizer (lower-case; punctuation is a token of its own).
pub fn basic_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in text.split_whitespace() {
        let mut cur = String::new();
        for ch in w.chars().flat_map(char::to_lowercase) {
            if ch.is_ascii_punctuation() || (!ch.is_alphanumeric() && !ch.is_whitespace()) {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(ch.to_string());
            } else {
                cur.push(ch);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// The vocabulary (tokens in id order) of at most `size` entries for `texts`.
pub fn build(texts: &[&str], size: usize) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut chars: std::collections::BTreeSet<char> = Default::default();
    for t in texts {
        for w in basic_words(t) {
            chars.extend(w.chars());
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut vocab: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    vocab.extend(chars.iter().map(|c| c.to_string()));
    vocab.extend(chars.iter().filter(|c| c.is_alphanumeric()).map(|c| format!("##{c}")));
    let mut words: Vec<(String, usize)> = counts.into_iter().filter(|(w, _)| w.chars().count() > 1).collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (w, _) in words {
        if vocab.len() >= size {
            break;
        }
        vocab.push(w);
    }
    vocab
}

/// Writes `vocab.txt` and a lower-casing `tokenizer_config.json` into `dir`.
pub fn write(dir: &Path, vocab: &[String]) -> Result<()> {
    write_atomic(&dir.join("vocab.txt"), (vocab.join("\n") + "\n").as_bytes())?;
    let cfg = r#"{"do_lower_case": true, "tokenizer_class": "BertTokenizer", "model_max_length": 512}"#;
    write_atomic(&dir.join("tokenizer_config.json"), cfg.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn specials_then_chars_then_frequent_words() {
        let v = build(&["The cat, the Hat.", "the end"], 40);
        assert_eq!(&v[..5], &SPECIALS.map(String::from));
        assert!(v.contains(&"the".to_string()) && v.contains(&"##t".to_string()) && v.contains(&",".to_string()));
        let the = v.iter().position(|w| w == "the").unwrap();
        let cat = v.iter().position(|w| w == "cat").unwrap();
        assert!(the < cat, "more frequent words come first");
        assert_eq!(basic_words("Hello, World!"), vec!["hello", ",", "world", "!"]);
    }
}
