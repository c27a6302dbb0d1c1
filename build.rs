//! Embeds every `shaders/*.wgsl` file: writes `$OUT_DIR/shaders.rs` with one `(name, source)` entry per file.
use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new("shaders");
    println!("cargo:rerun-if-changed=shaders");
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("shaders/ directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    names.sort();
    let mut out = String::from("/// Every WGSL file in `shaders/`, by file stem.\npub const SHADERS: &[(&str, &str)] = &[\n");
    for n in &names {
        println!("cargo:rerun-if-changed=shaders/{n}");
        let stem = n.trim_end_matches(".wgsl");
        let abs = fs::canonicalize(dir.join(n)).expect("shader path");
        out.push_str(&format!("    ({stem:?}, include_str!({:?})),\n", abs.display().to_string()));
    }
    out.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("shaders.rs"), out).expect("write shaders.rs");
}
