//! Writes the demo's data split as JSON, so that a reference experiment in another framework
//! (`scripts/demo_reference.py`, PyTorch) sees exactly the demo's data: the vocabulary built from the training
//! chapters, and every chapter's text and token ids with its novel and split.
//!
//!     cargo run --release --example demo_split -- OUT_DIR [VOCAB_SIZE]
use std::path::PathBuf;

use pretext::data::{austen, tokenizer::Tokenizer, vocab};

fn main() -> pretext::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "runs/demo_split".into()));
    let size: usize = match args.next() {
        Some(s) => s.parse().map_err(|_| pretext::Error::Invalid(format!("VOCAB_SIZE {s:?} is not a number")))?,
        None => 2048,
    };
    let chapters = austen::load(std::path::Path::new("assets/austen.txt.gz"))?;
    let train: Vec<&austen::Chapter> = chapters.iter().filter(|c| !austen::is_test_chapter(c)).collect();
    let texts: Vec<&str> = train.iter().map(|c| c.text.as_str()).collect();
    vocab::write(&out.join("vocab"), &vocab::build(&texts, size))?;
    let tok = Tokenizer::from_dir(&out.join("vocab"))?;
    let mut rows = Vec::new();
    for c in &chapters {
        let ids = tok.encode(&c.text)?;
        rows.push(serde_json::json!({
            "novel": c.novel,
            "test": austen::is_test_chapter(c),
            "text": c.text,
            "ids": &ids[1..ids.len() - 1],
        }));
    }
    let json = serde_json::json!({
        "novels": austen::NOVELS,
        "special": {"pad": tok.pad_id(), "cls": tok.cls_id(), "sep": tok.sep_id(), "mask": tok.mask_id()},
        "vocab_size": tok.vocab_size(),
        "chapters": rows,
    });
    let path = out.join("split.json");
    std::fs::write(&path, json.to_string()).map_err(|e| pretext::Error::io(&path, e))?;
    println!("wrote {} and {}", path.display(), out.join("vocab").display());
    Ok(())
}
