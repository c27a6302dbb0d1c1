//! Text corpora (`.txt` or `.txt.gz`) and labelled TSV files (`label<TAB>text`).
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Reads a text file, gunzipping `.gz`; the error names the file.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let is_gz = path.extension().is_some_and(|e| e == "gz") || bytes.starts_with(&[0x1f, 0x8b]);
    let text = if is_gz {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| Error::Invalid(format!("{}: not a valid gzip text file: {e}", path.display())))?;
        s
    } else {
        String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("{}: not UTF-8 text: {e}", path.display())))?
    };
    Ok(text)
}

/// The non-empty lines of several corpus files, in order; an empty corpus is an error.
pub fn read_lines(paths: &[impl AsRef<Path>]) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let text = read_text(p)?;
        let before = lines.len();
        lines.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
        if lines.len() == before {
            crate::bail!(Invalid, "{}: the corpus file has no text", p.display());
        }
    }
    if lines.is_empty() {
        crate::bail!(Invalid, "no corpus files given");
    }
    Ok(lines)
}

/// One labelled example of a TSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub label: String,
    pub text: String,
}

/// Reads `label<TAB>text` lines (blank lines skipped); a line without a tab or with empty text is an error
/// naming the file and line number.
pub fn read_tsv(path: &Path) -> Result<Vec<Labelled>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((label, body)) = line.split_once('\t') else {
            crate::bail!(Invalid, "{}:{}: expected `label<TAB>text`, found no tab", path.display(), i + 1);
        };
        let (label, body) = (label.trim(), body.trim());
        if label.is_empty() || body.is_empty() {
            crate::bail!(Invalid, "{}:{}: empty label or text", path.display(), i + 1);
        }
        out.push(Labelled { label: label.to_string(), text: body.to_string() });
    }
    if out.is_empty() {
        crate::bail!(Invalid, "{}: no examples", path.display());
    }
    Ok(out)
}

/// Packs token streams into sequences of at most `seq` tokens: `[CLS] t… [SEP]`, consecutive texts joined.
pub fn pack(texts: &[Vec<i32>], seq: usize, cls: i32, sep: i32) -> Vec<Vec<i32>> {
    let body = seq.saturating_sub(2).max(1);
    let mut out = Vec::new();
    let mut cur: Vec<i32> = Vec::with_capacity(body);
    for t in texts {
        for &tok in t {
            cur.push(tok);
            if cur.len() == body {
                out.push(wrap(&cur, cls, sep));
                cur.clear();
            }
        }
    }
    if cur.len() >= body / 4 {
        out.push(wrap(&cur, cls, sep));
    }
    out
}

fn wrap(body: &[i32], cls: i32, sep: i32) -> Vec<i32> {
    let mut v = Vec::with_capacity(body.len() + 2);
    v.push(cls);
    v.extend_from_slice(body);
    v.push(sep);
    v
}
