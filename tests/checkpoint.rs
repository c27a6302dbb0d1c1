//! Checkpoints survive a kill at any instant: the directory commit (whole or not at all, errors leave nothing
//! under the final name), model directories (complete once config.json exists), temporaries, retention; and
//! `pretext bert pretrain` killed with SIGKILL again and again (during startup, during saves, right after
//! them) leaves only complete `step-K/`, and `--resume OUT` ends with the uninterrupted run's losses and
//! weights, bit for bit.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pretext::checkpoint::{self, commit, steps};
use pretext::train::{find_checkpoint, TrainerState};
use pretext::Error;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pretext-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The pid of a process that has exited (so its temporaries count as a killed run's).
fn dead_pid() -> u32 {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pretext")).arg("--version").stdout(Stdio::null()).spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn a_directory_commit_is_whole_or_absent() {
    let d = tmp("commit");
    let dir = d.join("step-3");
    let n = checkpoint::commit_dir(&dir, |t| {
        checkpoint::write_atomic(&t.join("a.txt"), b"one")?;
        std::fs::create_dir(t.join("sub")).map_err(|e| Error::io(t, e))?;
        checkpoint::write_atomic(&t.join("sub/b.txt"), b"two")?;
        Ok(7)
    })
    .unwrap();
    assert_eq!(n, 7, "the writer's value comes back");
    assert_eq!((read(&dir.join("a.txt")), read(&dir.join("sub/b.txt"))), ("one".into(), "two".into()));
    assert_eq!(names(&d), vec!["step-3"], "no temporary left beside the committed directory");
    assert_eq!(names(&dir), vec!["a.txt", "sub"], "no temporary file left inside it");

    // An error in the middle of writing (here, after one file): nothing under the final name, no temporary,
    // and the previous version untouched.
    let err = checkpoint::commit_dir(&dir, |t| -> pretext::Result<()> {
        checkpoint::write_atomic(&t.join("a.txt"), b"half")?;
        Err(Error::Io(format!("{}: No space left on device", t.join("b.txt").display())))
    })
    .unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(read(&dir.join("a.txt")), "one", "the previous version is untouched");
    assert_eq!(names(&d), vec!["step-3"]);
    let fresh = d.join("step-4");
    assert!(checkpoint::commit_dir(&fresh, |t| checkpoint::write_atomic(&t.join("x"), b"x").and(Err::<(), _>(Error::Io("full".into())))).is_err());
    assert!(!fresh.exists(), "a failed commit leaves nothing under the final name");
    assert_eq!(names(&d), vec!["step-3"], "nor a temporary");

    // Replacing a directory: the new contents whole, the old version's files gone, nothing left aside.
    checkpoint::commit_dir(&dir, |t| checkpoint::write_atomic(&t.join("c.txt"), b"new")).unwrap();
    assert_eq!(names(&dir), vec!["c.txt"]);
    assert_eq!(names(&d), vec!["step-3"]);

    // A file where the directory should go: a clear error naming it, the file untouched.
    let blocked = d.join("step-5");
    std::fs::write(&blocked, "not a directory").unwrap();
    let err = checkpoint::commit_dir(&blocked, |t| checkpoint::write_atomic(&t.join("a"), b"a")).unwrap_err().to_string();
    assert!(err.contains("step-5") && err.contains("not a directory"), "{err}");
    assert_eq!(read(&blocked), "not a directory");
    assert_eq!(names(&d), vec!["step-3", "step-5"]);

    // write_atomic into a path under a file: the error names the path, nothing is left behind.
    let err = checkpoint::write_atomic(&blocked.join("x.json"), b"{}").unwrap_err().to_string();
    assert!(err.contains("step-5"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_model_directory_is_complete_once_config_json_exists() {
    let d = tmp("model");
    let out = d.join("out");
    std::fs::create_dir_all(out.join("step-2")).unwrap();
    std::fs::write(out.join("metrics.jsonl"), "{\"step\":1}\n").unwrap();
    let write = |tag: &'static str| {
        move |t: &Path| -> pretext::Result<()> {
            checkpoint::write_atomic(&t.join("model.safetensors"), tag.as_bytes())?;
            checkpoint::write_atomic(&t.join("vocab.txt"), tag.as_bytes())?;
            checkpoint::write_atomic(&t.join("config.json"), format!("{{\"tag\": \"{tag}\"}}").as_bytes())
        }
    };
    checkpoint::commit_model_dir(&out, write("v1")).unwrap();
    assert_eq!(names(&out), vec!["config.json", "metrics.jsonl", "model.safetensors", "step-2", "vocab.txt"]);
    checkpoint::commit_model_dir(&out, write("v2")).unwrap();
    assert_eq!((read(&out.join("model.safetensors")), read(&out.join("vocab.txt"))), ("v2".into(), "v2".into()));
    assert!(read(&out.join("config.json")).contains("v2"));
    assert_eq!(read(&out.join("metrics.jsonl")), "{\"step\":1}\n", "files the model writer did not write are left alone");
    assert_eq!(names(&out), vec!["config.json", "metrics.jsonl", "model.safetensors", "step-2", "vocab.txt"]);

    // The writer fails half way: the previous model is untouched and still complete.
    let err = checkpoint::commit_model_dir(&out, |t| -> pretext::Result<()> {
        checkpoint::write_atomic(&t.join("model.safetensors"), b"v3")?;
        Err(Error::Io("disk full".into()))
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "disk full");
    assert!(read(&out.join("config.json")).contains("v2") && read(&out.join("model.safetensors")) == "v2");
    assert_eq!(names(&out), vec!["config.json", "metrics.jsonl", "model.safetensors", "step-2", "vocab.txt"]);
    // A writer that forgets config.json is an error, not a model.
    let err = checkpoint::commit_model_dir(&out, |t| checkpoint::write_atomic(&t.join("model.safetensors"), b"v4")).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
    assert_eq!(read(&out.join("model.safetensors")), "v2");
    // A file where the model directory should go.
    let file = d.join("file");
    std::fs::write(&file, "x").unwrap();
    let err = checkpoint::commit_model_dir(&file, write("v5")).unwrap_err().to_string();
    assert!(err.contains("file") && err.contains("not a directory"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn temporaries_are_ignored_then_cleaned_and_retention_keeps_the_newest() {
    let d = tmp("steps");
    let dead = dead_pid();
    for k in [1, 2, 10, 3] {
        checkpoint::commit_dir(&steps::step_dir(&d, k), |t| checkpoint::write_atomic(&t.join("trainer_state.json"), b"{}")).unwrap();
    }
    // What killed runs leave: a half-written checkpoint and a half-deleted one; this process's own; a stray name.
    let stale = [format!(".step-11.tmp-{dead}"), format!(".step-0.old.tmp-{dead}")];
    for s in &stale {
        std::fs::create_dir(d.join(s)).unwrap();
    }
    std::fs::write(d.join(format!(".metrics.jsonl.tmp-{dead}")), "torn").unwrap();
    let own = format!(".step-12.tmp-{}", std::process::id());
    std::fs::create_dir(d.join(&own)).unwrap();
    std::fs::create_dir(d.join("step-99x")).unwrap();
    std::fs::create_dir(d.join("step-20")).unwrap(); // an older writer's incomplete directory: no trainer state

    let listed: Vec<u32> = steps::list(&d).unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(listed, vec![1, 2, 3, 10, 20], "temporaries and other names are not checkpoints");
    assert_eq!(steps::latest(&d, "trainer_state.json").unwrap().map(|(k, _)| k), Some(10));
    assert_eq!(find_checkpoint(&d).unwrap(), d.join("step-10"), "an output directory resolves to its newest complete checkpoint");
    assert_eq!(find_checkpoint(&d.join("step-2")).unwrap(), d.join("step-2"));
    let err = find_checkpoint(&d.join("step-20")).unwrap_err().to_string();
    assert!(err.contains("step-20") && err.contains("trainer_state.json"), "{err}");
    let err = find_checkpoint(&d.join("nothing")).unwrap_err().to_string();
    assert!(err.contains("nothing"), "{err}");
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(find_checkpoint(&empty).unwrap_err().to_string().contains("no complete checkpoint"));

    assert_eq!(commit::clean_temporaries(&d).unwrap(), 3, "the dead process's three temporaries");
    let left = names(&d);
    assert!(left.contains(&own), "a running process's temporary is kept: {left:?}");
    assert!(stale.iter().all(|s| !left.contains(s)), "{left:?}");

    std::fs::remove_dir(d.join("step-20")).unwrap();
    assert_eq!(steps::retain_last(&d, 2).unwrap(), vec![1, 2]);
    let kept: Vec<u32> = steps::list(&d).unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(kept, vec![3, 10]);
    assert!(steps::retain_last(&d, 0).is_err(), "keeping 0 would delete the newest");
    assert!(!names(&d).iter().any(|n| n.contains(".old.tmp-")), "deleted checkpoints leave nothing aside");
    let _ = std::fs::remove_dir_all(&d);
}

// ---- the command line, killed ----

fn pretext_cmd(args: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pretext"));
    c.args(args);
    c
}

fn run(args: &[String]) -> Output {
    pretext_cmd(args).stdin(Stdio::null()).output().expect("run pretext")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The first 1500 lines of Hamlet (`assets/hamlet.txt.gz`, public domain) as `DIR/hamlet.txt`: about 370
/// sequences of 32 tokens, so the held-out evaluation `bert pretrain` runs every `steps / 5` steps stays short.
fn hamlet(d: &Path) -> PathBuf {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open("assets/hamlet.txt.gz").unwrap()).read_to_string(&mut text).unwrap();
    let p = d.join("hamlet.txt");
    std::fs::write(&p, text.lines().take(1500).collect::<Vec<_>>().join("\n")).unwrap();
    p
}

/// `bert pretrain` on `corpus` with a tiny model.
fn pretrain_args(corpus: &Path, out: &Path, steps: u32, extra: &[&str]) -> Vec<String> {
    let mut a = strings(&["bert", "pretrain", "--corpus", corpus.to_str().unwrap(), "--config", "tiny", "--batch", "8", "--seq", "32", "--vocab", "1000"]);
    a.extend(strings(&["--steps", &steps.to_string(), "--out", out.to_str().unwrap()]));
    a.extend(strings(extra));
    a
}

/// Every `step-K/` in `out` is complete and loadable; no other name reads as a checkpoint; a model directory
/// (config.json present) is complete. Returns (checkpoints, temporaries present).
fn check_complete(out: &Path) -> (Vec<u32>, usize) {
    let mut temporaries = 0;
    for name in names(out) {
        if name.starts_with('.') {
            assert!(steps::parse_step_name(&name).is_none(), "{name} must not read as a checkpoint");
            assert!(commit::temporary_pid(&name).is_some(), "{name}: an unexpected hidden entry in {}", out.display());
            temporaries += 1;
        }
    }
    let found = steps::list(out).unwrap();
    for (k, dir) in &found {
        let state: TrainerState = serde_json::from_str(&read(&dir.join("trainer_state.json"))).unwrap_or_else(|e| panic!("{}: trainer_state.json: {e}", dir.display()));
        assert_eq!(state.step, *k, "{}", dir.display());
        let model = checkpoint::load(&dir.join("model.safetensors")).unwrap_or_else(|e| panic!("{e}"));
        assert!(model.tensors.contains_key("embeddings.word_embeddings.weight"), "{}: model.safetensors lacks the embeddings", dir.display());
        let opt = checkpoint::load(&dir.join("optimizer.safetensors")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!opt.tensors.is_empty(), "{}: empty optimizer state", dir.display());
        assert_eq!(names(dir), vec!["model.safetensors", "optimizer.safetensors", "trainer_state.json"], "{}: exactly the three files", dir.display());
    }
    if out.join("config.json").exists() {
        checkpoint::load(&out.join("model.safetensors")).unwrap_or_else(|e| panic!("config.json present but {e}"));
        assert!(out.join("vocab.txt").is_file(), "config.json present but no vocab.txt");
    }
    if let Some((k, dir)) = found.last() {
        assert_eq!(find_checkpoint(out).unwrap(), *dir, "--resume OUT takes step-{k}");
    }
    (found.into_iter().map(|(k, _)| k).collect(), temporaries)
}

fn rows(out: &Path) -> Vec<serde_json::Value> {
    read(&out.join("metrics.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("metrics.jsonl: {l}: {e}"))).collect()
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum When {
    /// This long after it started.
    After(Duration),
    /// While the run's n-th checkpoint is being written (its `.step-K.tmp-PID` directory exists).
    DuringSave(usize),
    /// As soon as the run's n-th new `step-K/` appears.
    AfterSave(usize),
}

/// The checkpoints being written in `out` now: the names of their temporary directories.
fn saves_in_progress(out: &Path) -> Vec<String> {
    let names = std::fs::read_dir(out).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_else(|_| Vec::new());
    names.into_iter().filter(|n: &String| n.starts_with(".step-") && !n.contains(".old.") && commit::temporary_pid(n).is_some()).collect()
}

/// Waits for `when`, then SIGKILLs the child. Returns false if the child exited first (it must have succeeded).
fn kill_at(child: &mut Child, out: &Path, when: When, before: usize, log: &Path) -> bool {
    let started = Instant::now();
    let own = format!(".tmp-{}", child.id());
    let mut seen = std::collections::BTreeSet::new(); // this run's saves seen in progress
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the run ended by itself before the kill ({status}): {}", read(log));
            return false;
        }
        let now = match when {
            When::After(d) => started.elapsed() >= d,
            When::DuringSave(n) => {
                let now: Vec<String> = saves_in_progress(out).into_iter().filter(|t| t.ends_with(&own)).collect();
                seen.extend(now.iter().cloned());
                !now.is_empty() && seen.len() >= n
            }
            When::AfterSave(n) => steps::list(out).map(|l| l.len() >= before + n).unwrap_or(false),
        };
        if now {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn killed_at_any_instant_a_run_resumes_to_the_same_losses_bit_for_bit() {
    let d = tmp("kill");
    let total = 14;
    let corpus = hamlet(&d);
    let (reference, out) = (d.join("reference"), d.join("killed"));

    // The uninterrupted run writes no checkpoints: saving, killing and resuming must change nothing.
    let t0 = Instant::now();
    let o = run(&pretrain_args(&corpus, &reference, total, &[]));
    assert!(o.status.success(), "uninterrupted run failed: {}", String::from_utf8_lossy(&o.stderr));
    let uninterrupted_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let ms = Duration::from_millis;
    // Each attempt advances at most a few steps (bounded by the save-triggered kills; the time-triggered ones
    // land in startup or the first steps), so every kill lands before the run's end even on a fast device.
    let schedule = [
        When::After(ms(300)), // during startup: nothing written yet
        When::DuringSave(1),
        When::AfterSave(1),
        When::DuringSave(2),
        When::After(ms(2000)),
        When::DuringSave(3),
        When::AfterSave(2),
    ];
    let (mut tried, mut survived, mut mid_save, mut resumes, mut finished) = (0, 0, 0, 0, false);
    let mut last_step = 0;
    for (i, when) in schedule.iter().enumerate() {
        let resume = find_checkpoint(&out).is_ok();
        let extra: Vec<&str> = if resume { vec!["--save-every", "1", "--resume", out.to_str().unwrap()] } else { vec!["--save-every", "1"] };
        resumes += resume as usize;
        let log = d.join(format!("attempt-{i}.stderr"));
        let mut child = pretext_cmd(&pretrain_args(&corpus, &out, total, &extra))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start pretext");
        std::fs::create_dir_all(&out).unwrap();
        let before = steps::list(&out).unwrap().len();
        if !kill_at(&mut child, &out, *when, before, &log) {
            println!("attempt {i} ({when:?}): the run finished before the kill (a fast device)");
            finished = true;
            break;
        }
        tried += 1;
        let cut_short = !saves_in_progress(&out).is_empty(); // a save's temporary is still there
        let (found, temporaries) = check_complete(&out);
        survived += 1;
        mid_save += cut_short as usize;
        let newest = found.last().copied().unwrap_or(0);
        assert!(newest >= last_step, "attempt {i}: the newest checkpoint went back from step-{last_step} to step-{newest}");
        last_step = newest;
        println!("kill {i} ({when:?}): checkpoints {:?}, {temporaries} temporaries left", (found.first(), found.last()));
    }
    assert!(mid_save >= 1 || finished, "no kill landed during a save");

    let last_step = check_complete(&out).0.last().copied().unwrap_or(0);
    assert!(last_step >= 1, "a kill after a save leaves a checkpoint to resume from");
    let o = run(&pretrain_args(&corpus, &out, total, &["--save-every", "1", "--resume", out.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the resumed run failed: {stderr}");
    let said = format!("resumed from {} at step {last_step}", steps::step_dir(&out, last_step).display());
    assert!(stderr.contains(&said), "the resumed run says where it resumed from (expected {said:?}): {stderr}");
    let killed_s = t1.elapsed().as_secs_f64();
    let (found, temporaries) = check_complete(&out);
    assert_eq!(found, (1..=total).collect::<Vec<_>>(), "a checkpoint after every step");
    assert_eq!(temporaries, 0, "the resumed run removed the killed runs' temporaries: {:?}", names(&out));

    let (want, got) = (rows(&reference), rows(&out));
    assert!(want.len() >= 3 && want.iter().all(|r| r["loss"].is_f64()), "{want:?}");
    assert_eq!(got, want, "metrics.jsonl of the killed-and-resumed run equals the uninterrupted run's, every loss bit for bit");
    let (a, b) = (checkpoint::load(&reference.join("model.safetensors")).unwrap(), checkpoint::load(&out.join("model.safetensors")).unwrap());
    assert!(a.tensors == b.tensors, "the resumed run's final weights differ from the uninterrupted run's");
    assert_eq!(read(&out.join("vocab.txt")), read(&reference.join("vocab.txt")));
    println!(
        "kills tried {tried}, survived {survived} ({mid_save} during a save, {resumes} runs resumed); final losses equal bit for bit; \
         uninterrupted run {uninterrupted_s:.1} s, killed-and-resumed runs {killed_s:.1} s"
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn synthetic_corpus(d: &Path) -> PathBuf {
    let words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park", "and", "then", "slept"];
    let text: String = (0..300).map(|i| format!("{} {} {} {}.\n", words[i % 13], words[(i * 7) % 13], words[(i * 5 + 1) % 13], words[(i * 3 + 2) % 13])).collect();
    let p = d.join("corpus.txt");
    std::fs::write(&p, text).unwrap();
    p
}

fn small_args(corpus: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = strings(&["bert", "pretrain", "--corpus", corpus.to_str().unwrap(), "--out", out.to_str().unwrap(), "--config", "tiny", "--batch", "4", "--seq", "16"]);
    a.extend(strings(extra));
    a
}

#[test]
fn keep_last_keeps_the_newest_and_an_unwritable_output_is_a_clear_error() {
    let d = tmp("retain");
    let corpus = synthetic_corpus(&d);

    // Retention: two checkpoints, the newest ones.
    let out = d.join("out");
    let o = run(&small_args(&corpus, &out, &["--steps", "5", "--save-every", "1", "--keep-last", "2"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (found, temporaries) = check_complete(&out);
    assert_eq!((found, temporaries), (vec![4, 5], 0));
    for bad in ["0", "two"] {
        let o = run(&small_args(&corpus, &d.join("o0"), &["--steps", "2", "--keep-last", bad]));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("--keep-last") && !err.contains("panicked"), "--keep-last {bad}: {err}");
    }

    // OUT is a file: a clear error naming it, no panic.
    let file = d.join("out-file");
    std::fs::write(&file, "x").unwrap();
    let o = run(&small_args(&corpus, &file, &["--steps", "2"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("out-file") && err.contains("not a directory") && !err.contains("panicked"), "{err}");
    assert_eq!(read(&file), "x");

    // A save that fails mid-run (a file sits where step-2/ must go): the error names it, step-1 stays complete,
    // no partial directory under a final name, no temporary, no model.
    let blocked = d.join("blocked");
    std::fs::create_dir_all(&blocked).unwrap();
    std::fs::write(blocked.join("step-2"), "in the way").unwrap();
    let o = run(&small_args(&corpus, &blocked, &["--steps", "3", "--save-every", "1"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("step-2") && err.contains("not a directory") && !err.contains("panicked"), "{err}");
    std::fs::remove_file(blocked.join("step-2")).unwrap();
    let (found, temporaries) = check_complete(&blocked);
    assert_eq!((found, temporaries), (vec![1], 0));
    assert!(!blocked.join("config.json").exists(), "no model directory from a failed run");

    // --resume of something that is not a checkpoint.
    let o = run(&small_args(&corpus, &d.join("o1"), &["--steps", "2", "--resume", d.join("nothing").to_str().unwrap()]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("nothing") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
