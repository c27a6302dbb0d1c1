//! The command line end to end: info, bench JSON, embed, fill-mask, bert pretrain → finetune → classify,
//! and clear errors (non-zero exit, no panic) for bad input.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::io::Write;

fn pretext(args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pretext"));
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("run pretext");
    if let Some(s) = stdin {
        child.stdin.take().expect("stdin").write_all(s.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let o = pretext(args, stdin);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "pretext {args:?} failed: {err}");
    String::from_utf8(o.stdout).expect("utf-8 stdout")
}

/// Runs a command that must fail cleanly; returns its stderr.
fn fails(args: &[&str]) -> String {
    let o = pretext(args, None);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "pretext {args:?} should fail");
    assert!(!err.contains("panicked"), "pretext {args:?} panicked: {err}");
    err
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pretext-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

const ODD: &str = "assets/fixtures/bert_odd";

#[test]
fn info_names_the_adapter_and_its_features() {
    let text = ok(&["info"], None);
    for want in ["adapter", "backend", "features", "max storage binding", "subgroup size"] {
        assert!(text.contains(want), "info lacks {want}: {text}");
    }
    let j: serde_json::Value = serde_json::from_str(ok(&["info", "--json"], None).trim()).expect("info --json");
    assert!(j["adapter"].is_string() && j["backend"].is_string() && j["features"].is_array());
    assert!(j["max_storage_buffer_binding_size"].as_u64().unwrap_or(0) > 0);
    let err = fails(&["--backend", "nosuch", "info"]);
    assert!(err.contains("unknown backend"), "{err}");
}

#[test]
fn a_cpu_adapter_through_opengl_is_named_as_such() {
    // With no Vulkan driver to load, wgpu falls back to OpenGL; the command says so, and says it only then.
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_pretext")).args(args).env("VK_ICD_FILENAMES", "/nonexistent-icd.json").env_remove("WGPU_BACKEND").output().expect("run pretext");
        (o.status.success(), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (success, out, err) = run(&["info", "--json"]);
    if success {
        let j: serde_json::Value = serde_json::from_str(out.trim()).expect("info --json");
        let on_gl_cpu = j["backend"].as_str().is_some_and(|b| b.eq_ignore_ascii_case("gl")) && j["device_type"] == "Cpu";
        assert_eq!(err.contains("through OpenGL"), on_gl_cpu, "{j}\n{err}");
        let (_, _, err) = run(&["--backend", "gl", "info"]);
        assert!(!err.contains("through OpenGL"), "a chosen backend needs no note: {err}");
    } else {
        assert!(err.contains("adapter") && !err.contains("panicked"), "no adapter at all must be a clear error: {err}");
    }
}

#[test]
fn info_says_which_variants_the_adapter_gets() {
    // As opened: the subgroup matmul exactly where a CPU adapter has 8-lane subgroups and 64-bit integers
    // (lavapipe's Vulkan).
    let j: serde_json::Value = serde_json::from_str(ok(&["info", "--json"], None).trim()).expect("info --json");
    let has = |name: &str| j["features"].as_array().expect("features").iter().any(|f| f == name);
    let (subgroups, int64) = (has("subgroups"), has("shader-int64"));
    let sg8 = subgroups && int64 && j["device_type"] == "Cpu" && j["subgroup_min_size"] == 8 && j["subgroup_max_size"] == 8;
    let v = &j["variants"];
    let matmul = v["matmul"].as_str().expect("variants.matmul");
    assert_eq!(matmul.starts_with("matmul_sg8 (shaders/matmul_sg.wgsl)"), sg8, "{j}");
    assert_eq!(matmul.starts_with("matmul_tile (shaders/matmul.wgsl)"), !sg8, "{j}");
    assert_eq!(v["attention"].as_str().expect("variants.attention").starts_with("matmul path"), sg8, "{j}");
    let modules = v["feature_modules"].as_array().expect("variants.feature_modules");
    let sg = modules.iter().find(|m| m["name"] == "matmul_sg").expect("matmul_sg listed");
    assert_eq!(sg["requires"], serde_json::json!(["shader-int64", "subgroups"]));
    assert_eq!(sg["available"], subgroups && int64, "{j}");
    // Opened without subgroups: every family's portable variant, on any adapter.
    let j: serde_json::Value =
        serde_json::from_str(ok(&["--disable", "subgroups", "info", "--json"], None).trim()).expect("info --json");
    assert!(!j["features"].as_array().expect("features").iter().any(|f| f == "subgroups"), "{j}");
    assert!(j["variants"]["matmul"].as_str().expect("matmul").starts_with("matmul_tile"), "{j}");
    assert!(j["variants"]["attention"].as_str().expect("attention").starts_with("fused"), "{j}");
    let sg = j["variants"]["feature_modules"].as_array().expect("modules").iter().find(|m| m["name"] == "matmul_sg").cloned();
    assert_eq!(sg.expect("matmul_sg listed")["available"], false, "{j}");
    let text = ok(&["--disable", "subgroups", "info"], None);
    for want in ["variants", "matmul_tile (shaders/matmul.wgsl)", "shaders/matmul_sg.wgsl", "needs shader-int64, subgroups: not available"] {
        assert!(text.contains(want), "info lacks {want}: {text}");
    }
    // Opened without 64-bit integers (matmul_sg8 reads its operands as 64-bit words): the portable matmul.
    let j: serde_json::Value =
        serde_json::from_str(ok(&["--disable", "shader-int64", "info", "--json"], None).trim()).expect("info --json");
    assert!(!j["features"].as_array().expect("features").iter().any(|f| f == "shader-int64"), "{j}");
    assert!(j["variants"]["matmul"].as_str().expect("matmul").starts_with("matmul_tile"), "{j}");
    let err = fails(&["--disable", "subgroup", "info"]);
    assert!(err.contains("unknown feature \"subgroup\"") && err.contains("subgroups"), "{err}");
}

#[test]
fn bench_prints_json_rows() {
    let rows = json_lines(&ok(&["bench", "--filter", "empty_dispatch", "--json", "--reps", "3"], None));
    let names: Vec<&str> = rows.iter().filter_map(|r| r["kernel"].as_str()).collect();
    assert_eq!(names, vec!["peak_fma", "peak_copy", "empty_dispatch", "empty_dispatch_wall"]);
    for r in &rows {
        let obj = r.as_object().unwrap_or_else(|| panic!("row is not an object: {r}"));
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6, "row has keys {keys:?}");
        assert!(!r["shape"].as_str().unwrap_or("").is_empty(), "row without a shape: {r}");
        let ms = r["ms"].as_f64().unwrap_or(f64::NAN);
        assert!(ms.is_finite() && ms > 0.0, "ms must be a positive time: {r}");
        // Each rate is null (not meaningful for the row) or a positive finite number.
        for k in ["gflops", "gbps", "pct_peak"] {
            assert!(r[k].is_null() || r[k].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{k} of {r}");
        }
    }
    // The ceilings carry their own rate; timing an empty dispatch has none.
    assert!(rows[0]["gflops"].as_f64().is_some_and(|v| v > 0.1) && rows[0]["gbps"].is_null(), "peak_fma: {}", rows[0]);
    assert!(rows[1]["gbps"].as_f64().is_some_and(|v| v > 0.01) && rows[1]["gflops"].is_null(), "peak_copy: {}", rows[1]);
    assert!(rows[2]["gflops"].is_null() && rows[2]["gbps"].is_null() && rows[2]["pct_peak"].is_null(), "empty_dispatch: {}", rows[2]);
    // A matmul row: its GFLOP/s are 2·M·N·K over its time, and its share of the same run's peak_fma matches.
    let rows = json_lines(&ok(&["bench", "--filter", "matmul_naive 512", "--json", "--reps", "1"], None));
    let peak = rows[0]["gflops"].as_f64().unwrap();
    let mm = rows.iter().find(|r| r["kernel"] == "matmul_naive").unwrap_or_else(|| panic!("no matmul_naive row: {rows:?}"));
    let dims: Vec<f64> = mm["shape"].as_str().unwrap().split('x').map(|d| d.parse().unwrap()).collect();
    let flops = 2.0 * dims.iter().product::<f64>();
    let gflops = mm["gflops"].as_f64().unwrap();
    assert!((gflops - flops / (mm["ms"].as_f64().unwrap() * 1e6)).abs() <= 1e-6 * gflops, "matmul GFLOP/s is not its FLOPs over its time: {mm}");
    assert!((mm["pct_peak"].as_f64().unwrap() - 100.0 * gflops / peak).abs() <= 1e-6 * gflops, "pct_peak is not against this run's peak_fma: {mm}");
    // The load row: 16 bytes read per vec4 of its shape and one sixteenth of that written, against peak_copy.
    let rows = json_lines(&ok(&["bench", "--filter", "load_vec4", "--json", "--reps", "1"], None));
    let names: Vec<&str> = rows.iter().filter_map(|r| r["kernel"].as_str()).collect();
    assert_eq!(names, vec!["peak_fma", "peak_copy", "load_vec4"]);
    let (copy, load) = (rows[1]["gbps"].as_f64().unwrap(), &rows[2]);
    let mib: f64 = load["shape"].as_str().unwrap().trim_end_matches("MiB").parse().unwrap();
    let gbps = load["gbps"].as_f64().unwrap();
    let bytes = mib * (1 << 20) as f64 * 17.0 / 16.0;
    assert!((gbps - bytes / (load["ms"].as_f64().unwrap() * 1e6)).abs() <= 1e-6 * gbps, "load_vec4 GB/s is not its bytes over its time: {load}");
    assert!((load["pct_peak"].as_f64().unwrap() - 100.0 * gbps / copy).abs() <= 1e-6 * gbps, "load_vec4 is not against peak_copy: {load}");
}

#[test]
fn embed_and_fill_mask_print_exact_json() {
    let texts = "the cat sat on the mat.\nhello world\n";
    let rows = json_lines(&ok(&["embed", "--model", ODD, "--normalize"], Some(texts)));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["text"], "the cat sat on the mat.");
    let e: Vec<f64> = rows[0]["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(e.len(), 36);
    assert!((e.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-4, "--normalize gives unit vectors");
    let rows = json_lines(&ok(&["embed", "--model", ODD, "--pooling", "none"], Some(texts)));
    let ids = rows[1]["ids"].as_array().unwrap().len();
    assert_eq!(rows[1]["hidden"].as_array().unwrap().len(), ids, "a row per token, [CLS] and [SEP] included");

    let rows = json_lines(&ok(&["fill-mask", "--model", ODD, "--top-k", "3"], Some("the [MASK] sat on the mat.\n")));
    let masks = rows[0]["masks"].as_array().unwrap();
    assert_eq!(masks.len(), 1);
    assert_eq!(masks[0]["pos"], 2);
    let logits: Vec<f64> = masks[0]["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(logits.len(), 3);
    assert!(logits.windows(2).all(|w| w[0] >= w[1]), "top-k by logit, descending");
    assert_eq!(masks[0]["tokens"].as_array().unwrap().len(), 3);
    assert!(masks[0]["probs"].as_array().unwrap().iter().all(|p| (0.0..=1.0).contains(&p.as_f64().unwrap())));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write test file");
}

#[test]
fn pretrain_then_finetune_then_classify() {
    let d = tmp("bert");
    let corpus = d.join("corpus.txt");
    let words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park", "and", "then", "slept"];
    let text: String = (0..300).map(|i| format!("{} {} {} {}.\n", words[i % 13], words[(i * 7) % 13], words[(i * 5 + 1) % 13], words[(i * 3 + 2) % 13])).collect();
    write(&corpus, &text);
    let out = d.join("pre");
    let o = ok(&["bert", "pretrain", "--corpus", corpus.to_str().unwrap(), "--out", out.to_str().unwrap(), "--config", "tiny", "--steps", "4", "--batch", "4", "--seq", "16", "--save-every", "2"], None);
    assert!(o.contains("masked-token accuracy"), "{o}");
    for f in ["config.json", "model.safetensors", "vocab.txt", "metrics.jsonl", "step-2/trainer_state.json", "step-4/optimizer.safetensors"] {
        assert!(out.join(f).exists(), "pretrain wrote no {f}");
    }
    let metrics = json_lines(&std::fs::read_to_string(out.join("metrics.jsonl")).unwrap());
    assert!(metrics.iter().all(|m| m["step"].is_u64() && m["loss"].is_f64() && m["lr"].is_f64()));

    let train = d.join("train.tsv");
    let eval = d.join("eval.tsv");
    write(&train, "pos\tthe cat sat on a mat\nneg\tthe dog ran to the park\npos\ta cat sat\nneg\ta dog ran\n");
    write(&eval, "pos\tcat sat on mat\nneg\tdog ran to park\n");
    let ft = d.join("ft");
    let o = ok(&["bert", "finetune", "--model", out.to_str().unwrap(), "--train", train.to_str().unwrap(), "--eval", eval.to_str().unwrap(), "--out", ft.to_str().unwrap(), "--epochs", "2", "--batch", "2"], None);
    assert!(o.contains("macro-F1") && o.contains("confusion matrix"), "{o}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ft.join("eval.json")).unwrap()).unwrap();
    let rows = json_lines(&ok(&["bert", "classify", "--model", ft.to_str().unwrap()], Some("cat sat on mat\ndog ran to park\n")));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["label"] == "pos" || r["label"] == "neg"));
    for r in &rows {
        let p: f64 = r["probs"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-5, "class probabilities sum to {p}: {r}");
    }
    // eval.json agrees with what the saved model predicts on the same eval texts: its accuracy, and a
    // confusion matrix (rows: true neg, pos; labels sorted) with the predictions in the right cells.
    let right = (rows[0]["label"] == "pos") as usize + (rows[1]["label"] == "neg") as usize;
    assert_eq!(report["accuracy"].as_f64().unwrap(), right as f64 / 2.0, "eval.json: {report}");
    let confusion: Vec<Vec<u64>> = serde_json::from_value(report["confusion"].clone()).unwrap();
    let (pos_right, neg_right) = ((rows[0]["label"] == "pos") as u64, (rows[1]["label"] == "neg") as u64);
    assert_eq!(confusion, vec![vec![neg_right, 1 - neg_right], vec![1 - pos_right, pos_right]], "eval.json: {report}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_input_is_a_clear_error() {
    let d = tmp("bad");
    let err = fails(&["embed", "--model", "/nonexistent/model"]);
    assert!(err.contains("/nonexistent/model"), "{err}");
    let empty = d.join("empty.txt");
    write(&empty, "\n\n");
    let err = fails(&["bert", "pretrain", "--corpus", empty.to_str().unwrap(), "--out", d.join("o").to_str().unwrap(), "--steps", "1"]);
    assert!(err.contains("empty.txt") && err.contains("no text"), "{err}");
    let bad = d.join("bad.tsv");
    write(&bad, "pos\tfine line\nthis line has no tab\n");
    let err = fails(&["bert", "finetune", "--model", ODD, "--train", bad.to_str().unwrap(), "--eval", bad.to_str().unwrap(), "--out", d.join("f").to_str().unwrap()]);
    assert!(err.contains("bad.tsv:2"), "names the file and line: {err}");
    let corrupt = d.join("model");
    std::fs::create_dir_all(&corrupt).unwrap();
    for f in ["config.json", "vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(Path::new(ODD).join(f), corrupt.join(f)).unwrap();
    }
    write(&corrupt.join("model.safetensors"), "not a safetensors file");
    let err = fails(&["embed", "--model", corrupt.to_str().unwrap()]);
    assert!(err.contains("model.safetensors"), "{err}");
    write(&corrupt.join("config.json"), r#"{"hidden_size": 30, "num_attention_heads": 7}"#);
    let err = fails(&["embed", "--model", corrupt.to_str().unwrap()]);
    assert!(err.contains("config.json") && err.contains("num_attention_heads"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
