//! Training checkpoints in a run's output directory: `OUT/step-K/`, each committed whole (see
//! [`commit_dir`](super::commit_dir)), listed by step, the newest found, the oldest pruned.
use std::fs;
use std::path::{Path, PathBuf};

use super::commit::remove_dir;
use crate::{Error, Result};

/// `OUT/step-K`: the checkpoint directory after step `step`.
pub fn step_dir(out: &Path, step: u32) -> PathBuf {
    out.join(format!("step-{step}"))
}

/// The step `K` of a checkpoint directory name `step-K` (decimal digits only); `None` for any other name,
/// temporaries (`.step-K.tmp-PID`) included.
pub fn parse_step_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("step-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The checkpoints in `out` as (step, directory), by ascending step: only directories named `step-K`, which
/// exist only complete. A missing `out` has none.
pub fn list(out: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let entries = match fs::read_dir(out) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(out, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(out, e))?;
        let Some(step) = parse_step_name(&entry.file_name().to_string_lossy()) else { continue };
        if entry.file_type().map_err(|e| Error::io(entry.path(), e))?.is_dir() {
            found.push((step, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The newest (highest-step) checkpoint in `out` holding the file `required` (e.g. the trainer state, which
/// guards against directories an older writer left incomplete), if any.
pub fn latest(out: &Path, required: &str) -> Result<Option<(u32, PathBuf)>> {
    Ok(list(out)?.into_iter().rev().find(|(_, dir)| dir.join(required).is_file()))
}

/// Deletes all but the `keep` newest checkpoints in `out`, oldest first, each renamed away before it is
/// deleted (so none is ever seen half deleted). Call it after a new checkpoint is complete. Returns the steps
/// deleted.
pub fn retain_last(out: &Path, keep: usize) -> Result<Vec<u32>> {
    if keep == 0 {
        crate::bail!(Invalid, "{}: keeping the last 0 checkpoints would delete the one just written; keep at least 1", out.display());
    }
    let all = list(out)?;
    let excess = all.len().saturating_sub(keep);
    let mut deleted = Vec::with_capacity(excess);
    for (step, dir) in all.into_iter().take(excess) {
        remove_dir(&dir)?;
        deleted.push(step);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_parse_strictly() {
        assert_eq!(parse_step_name("step-0"), Some(0));
        assert_eq!(parse_step_name("step-120"), Some(120));
        for not in ["step-", "step-+3", "step-3a", ".step-3.tmp-9", "step-3.tmp", "Step-3", "step-99999999999"] {
            assert_eq!(parse_step_name(not), None, "{not}");
        }
    }
}
