//! Writes that a kill at any instant cannot leave half done.
//!
//! - A file: written to a temporary name beside it, fsynced, renamed ([`write_atomic`]).
//! - A directory (a training checkpoint `step-K/`): built whole in a temporary sibling, every file and the
//!   directory fsynced, renamed to its final name, the parent fsynced ([`commit_dir`]). A directory under its
//!   final name is complete; deleting one renames it away first ([`remove_dir`]), so none is ever seen half
//!   deleted either.
//! - A model directory (`config.json`, `model.safetensors`, tokenizer files), which may share its directory with
//!   `metrics.jsonl` and `step-K/`: the files are written into a temporary directory inside it, fsynced, then
//!   moved in with `config.json` last ([`commit_model_dir`]). **A model directory is complete once
//!   `config.json` exists.**
//!
//! Temporary names are `.NAME.tmp-PID`: a leading dot, and the writer's process id, so no reader mistakes one
//! for a checkpoint and the next writer into the same directory removes those that dead processes left
//! ([`clean_temporaries`]). Two processes writing into one output directory at once is not supported.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The file whose presence marks a model directory complete; [`commit_model_dir`] moves it in last.
pub const MODEL_MARKER: &str = "config.json";

const TMP_TAG: &str = ".tmp-";

fn parent_or_dot(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Invalid(format!("{}: a path ending in a file or directory name is needed", path.display())))
}

/// `DIR/.NAME.tmp-PID`: the temporary name this process uses while writing `DIR/NAME`.
pub fn temp_path(path: &Path) -> Result<PathBuf> {
    Ok(parent_or_dot(path).join(format!(".{}{TMP_TAG}{}", file_name(path)?, std::process::id())))
}

/// The process id of a temporary name `.NAME.tmp-PID`; `None` for any other name.
pub fn temporary_pid(name: &str) -> Option<u32> {
    let (stem, pid) = name.rsplit_once(TMP_TAG)?;
    if !stem.starts_with('.') || stem.len() < 2 || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is running (Linux: `/proc/PID/stat` exists and is not a zombie's). Elsewhere every
/// other process counts as gone.
fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the command name, which is in parentheses and may itself hold spaces.
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Removes from `dir` the temporaries (`.NAME.tmp-PID`, files or directories) of processes no longer running:
/// what a killed writer left. Returns how many were removed; a missing `dir` has none.
pub fn clean_temporaries(dir: &Path) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let own = std::process::id();
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temporary_pid(&name) else { continue };
        if pid == own || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir();
        let r = if is_dir { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        match r {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, format!("removing a killed run's temporary: {e}"))),
        }
    }
    Ok(removed)
}

/// Flushes a file's contents and metadata to the disk.
fn sync_file(path: &Path) -> Result<()> {
    // Windows flushes only through a handle opened for writing; elsewhere a read-only one suffices.
    let f = fs::OpenOptions::new().read(true).write(cfg!(windows)).open(path).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, format!("fsync: {e}")))
}

/// Flushes a directory's entries (names created, renamed or removed in it) to the disk. Windows cannot open a
/// directory as a file; there it is a no-op.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let f = fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
        f.sync_all().map_err(|e| Error::io(dir, format!("fsync: {e}")))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// fsyncs every file under `dir`, then each directory after its contents.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            sync_tree(&path)?;
        } else if meta.is_file() {
            sync_file(&path)?;
        }
    }
    sync_dir(dir)
}

/// Writes `bytes` to `path` through a temporary file beside it (fsynced, then renamed), so a crash never leaves
/// a half-written file under the final name. Creates the parent directories. On error the temporary is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_or_dot(path);
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = temp_path(path)?;
    let written = fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    renamed.map_err(|e| {
        let _ = fs::remove_file(&tmp); // best effort: the write error is the one to report
        Error::Io(format!("{}: {e} (writing through {})", path.display(), tmp.display()))
    })
}

/// A directory under a temporary name (`.NAME.tmp-PID`), removed when dropped unless it was renamed away.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the temporary directory for `final_path` beside it (first removing the temporaries dead
    /// processes left there, and a leftover of this very name). The parent must exist or be creatable.
    pub fn new(final_path: &Path) -> Result<TempDir> {
        let parent = parent_or_dot(final_path);
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        clean_temporaries(parent)?;
        let path = temp_path(final_path)?;
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path)).map_err(|e| Error::io(&path, e))?;
        }
        fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TempDir { path })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path); // gone already once renamed to its final name
    }
}

/// Builds the directory `dir` whole or not at all: `write` fills a temporary sibling (`.NAME.tmp-PID`), whose
/// files and itself are fsynced before it is renamed to `dir`; then the parent is fsynced. An existing `dir` is
/// replaced (renamed away first, deleted after). If `write`, an fsync or the rename fails, the temporary is
/// removed, `dir` is as it was, and the error names the path. Returns what `write` returned.
pub fn commit_dir<T>(dir: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if let Ok(meta) = fs::symlink_metadata(dir) {
        if !meta.is_dir() {
            crate::bail!(Io, "{}: exists and is not a directory; cannot write a checkpoint under that name", dir.display());
        }
    }
    let tmp = TempDir::new(dir)?;
    let value = write(tmp.path())?;
    sync_tree(tmp.path())?;
    let parent = parent_or_dot(dir);
    if fs::symlink_metadata(dir).is_ok() {
        let aside = temp_path(&dir.with_file_name(format!("{}.old", file_name(dir)?)))?;
        fs::rename(dir, &aside).map_err(|e| Error::io(dir, format!("moving the previous version aside: {e}")))?;
        if let Err(e) = fs::rename(tmp.path(), dir) {
            let _ = fs::rename(&aside, dir); // put the previous version back
            return Err(Error::io(dir, format!("renaming {} into place: {e}", tmp.path().display())));
        }
        sync_dir(parent)?;
        fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
    } else {
        fs::rename(tmp.path(), dir).map_err(|e| Error::io(dir, format!("renaming {} into place: {e}", tmp.path().display())))?;
        sync_dir(parent)?;
    }
    Ok(value)
}

/// Deletes the directory `dir` so that it is never seen half deleted under its name: renamed to a temporary
/// name first (the parent fsynced), then removed. A killed deletion leaves only a temporary behind.
pub fn remove_dir(dir: &Path) -> Result<()> {
    let aside = temp_path(&dir.with_file_name(format!("{}.old", file_name(dir)?)))?;
    fs::rename(dir, &aside).map_err(|e| Error::io(dir, format!("moving aside to delete: {e}")))?;
    sync_dir(parent_or_dot(dir))?;
    fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))
}

/// Writes a model directory so that no reader ever sees it half written. `write` fills a temporary directory
/// (`DIR/.model.tmp-PID`) and must write `config.json`; its files are fsynced; then `DIR/config.json` is removed
/// (the previous model, if any, no longer reads as complete), the other files are renamed into `DIR`, and
/// `config.json` is renamed in last. A model directory is complete once `config.json` exists. Files of `DIR`
/// that `write` did not write (`metrics.jsonl`, `step-K/`, ...) are left alone. If `write` or an fsync fails,
/// `DIR` is untouched and the error names the path. Returns what `write` returned.
pub fn commit_model_dir<T>(dir: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if let Ok(meta) = fs::metadata(dir) {
        if !meta.is_dir() {
            crate::bail!(Io, "{}: exists and is not a directory; cannot write a model there", dir.display());
        }
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = TempDir::new(&dir.join("model"))?;
    let value = write(tmp.path())?;
    let new_marker = tmp.path().join(MODEL_MARKER);
    if !new_marker.is_file() {
        crate::bail!(Invalid, "{}: the model writer wrote no {MODEL_MARKER}", dir.display());
    }
    sync_tree(tmp.path())?;
    let marker = dir.join(MODEL_MARKER);
    match fs::remove_file(&marker) {
        Ok(()) => sync_dir(dir)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&marker, format!("retiring the previous model: {e}"))),
    }
    let mut names: Vec<_> = fs::read_dir(tmp.path())
        .map_err(|e| Error::io(tmp.path(), e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(tmp.path(), e))?;
    names.sort();
    let replacing = |e: std::io::Error, target: &Path| {
        Error::io(target, format!("{e} (while moving the new model in; {} does not exist, so the directory reads as incomplete)", marker.display()))
    };
    for name in names.iter().filter(|n| n.as_os_str() != MODEL_MARKER) {
        let (from, target) = (tmp.path().join(name), dir.join(name));
        // A rename replaces a file, but not a directory, nor a file by a directory: clear those first.
        if let Ok(meta) = fs::symlink_metadata(&target) {
            if meta.is_dir() {
                fs::remove_dir_all(&target).map_err(|e| replacing(e, &target))?;
            } else if from.is_dir() {
                fs::remove_file(&target).map_err(|e| replacing(e, &target))?;
            }
        }
        fs::rename(&from, &target).map_err(|e| replacing(e, &target))?;
    }
    sync_dir(dir)?;
    fs::rename(&new_marker, &marker).map_err(|e| replacing(e, &marker))?;
    sync_dir(dir)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_and_nothing_else() {
        assert_eq!(temporary_pid(".step-12.tmp-345"), Some(345));
        assert_eq!(temporary_pid(".model.safetensors.tmp-7"), Some(7));
        for not in ["step-12", ".step-12", "step-12.tmp-3", ".tmp-3", ".x.tmp-", ".x.tmp-3a", ".x.tmp-+3"] {
            assert_eq!(temporary_pid(not), None, "{not}");
        }
        assert!(process_alive(std::process::id()) || !Path::new("/proc/self/stat").exists());
    }
}
