//! Jane Austen's six novels (`assets/austen.txt.gz`, public domain), split into chapters and passages,
//! for the demo: which novel does a passage come from?
use std::path::Path;

use crate::{Error, Result};

/// The novels in the order they appear in the file, with their title lines.
pub const NOVELS: [&str; 6] = ["Sense and Sensibility", "Pride and Prejudice", "Mansfield Park", "Emma", "Northanger Abbey", "Persuasion"];

/// A chapter's text, with its novel and its index within the novel.
#[derive(Debug, Clone)]
pub struct Chapter {
    pub novel: usize,
    pub index: usize,
    pub text: String,
}

/// Splits the corpus into chapters: a novel starts at its title line, a chapter at a `CHAPTER …` line.
pub fn chapters(text: &str, path: &Path) -> Result<Vec<Chapter>> {
    let mut out: Vec<Chapter> = Vec::new();
    let mut novel: Option<usize> = None;
    let mut next_novel = 0;
    let mut current: Option<Chapter> = None;
    for line in text.lines() {
        let t = line.trim();
        if next_novel < NOVELS.len() && t.eq_ignore_ascii_case(NOVELS[next_novel]) {
            out.extend(current.take());
            novel = Some(next_novel);
            next_novel += 1;
            continue;
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("chapter ") && t.len() < 16 {
            if let Some(n) = novel {
                out.extend(current.take());
                let index = out.iter().filter(|c| c.novel == n).count();
                current = Some(Chapter { novel: n, index, text: String::new() });
            }
            continue;
        }
        if let Some(c) = current.as_mut() {
            if !t.is_empty() {
                c.text.push_str(t);
                c.text.push(' ');
            }
        }
    }
    out.extend(current);
    if next_novel != NOVELS.len() {
        crate::bail!(Invalid, "{}: found {} of the 6 novels' title lines", path.display(), next_novel);
    }
    Ok(out)
}

/// Cuts a text into passages of `words` words (the last partial one dropped if under half).
pub fn passages(text: &str, words: usize) -> Vec<String> {
    let w: Vec<&str> = text.split_whitespace().collect();
    w.chunks(words.max(1)).filter(|c| c.len() * 2 >= words).map(|c| c.join(" ")).collect()
}

/// Whether a chapter is held out for testing: every fifth chapter of each novel.
pub fn is_test_chapter(c: &Chapter) -> bool {
    c.index % 5 == 4
}

/// Reads and splits `assets/austen.txt.gz`.
pub fn load(path: &Path) -> Result<Vec<Chapter>> {
    let text = super::corpus::read_text(path)?;
    let ch = chapters(&text, path)?;
    if ch.len() < 6 {
        return Err(Error::Invalid(format!("{}: only {} chapters found", path.display(), ch.len())));
    }
    Ok(ch)
}
