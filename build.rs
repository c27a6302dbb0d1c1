//! Embeds every `shaders/*.wgsl` file: writes `$OUT_DIR/shaders.rs` with one `Shader` entry per file.
//!
//! Two header lines (at column 0) shape a module:
//!   `// requires: subgroups, shader-f16`  adapter features the module needs (validated and compiled only
//!                                          where the adapter has them; names as `pretext info` prints them)
//!   `// imports: matmul_core`             files whose sources are appended to this one (WGSL has no include),
//!                                          so a variant shares its portable sibling's helpers and bindings,
//!                                          and kernels share a library file (no entry point) of helpers
//! A module requires what it declares plus what its imports require.
use std::collections::BTreeMap;
use std::{env, fs, path::Path};

/// Feature names a shader may require, and the `wgpu::Features` constant each stands for.
const FEATURES: &[(&str, &str)] = &[
    ("shader-f16", "SHADER_F16"),
    ("shader-int64", "SHADER_INT64"),
    ("subgroups", "SUBGROUP"),
    ("subgroup-barrier", "SUBGROUP_BARRIER"),
];

struct File {
    requires: Vec<String>,
    imports: Vec<String>,
}

fn directive(src: &str, key: &str) -> Vec<String> {
    src.lines()
        .filter_map(|l| l.strip_prefix(&format!("// {key}:")))
        .flat_map(|rest| rest.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
        .collect()
}

/// The file and every file it imports, transitively, in first-seen order (the file first).
fn closure(name: &str, files: &BTreeMap<String, File>, stack: &mut Vec<String>, out: &mut Vec<String>) {
    if stack.iter().any(|s| s == name) {
        panic!("shaders/{name}.wgsl: import cycle {} -> {name}", stack.join(" -> "));
    }
    if out.iter().any(|s| s == name) {
        return;
    }
    let Some(f) = files.get(name) else {
        panic!("shaders/{}.wgsl imports {name:?}, but there is no shaders/{name}.wgsl", stack.last().map_or("?", |s| s));
    };
    out.push(name.to_string());
    stack.push(name.to_string());
    for i in &f.imports {
        closure(i, files, stack, out);
    }
    stack.pop();
}

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
    let mut files = BTreeMap::new();
    for n in &names {
        println!("cargo:rerun-if-changed=shaders/{n}");
        let src = fs::read_to_string(dir.join(n)).expect("read shader");
        let stem = n.trim_end_matches(".wgsl").to_string();
        let requires = directive(&src, "requires");
        for r in &requires {
            if !FEATURES.iter().any(|(name, _)| name == r) {
                let known: Vec<&str> = FEATURES.iter().map(|(n, _)| *n).collect();
                panic!("shaders/{n}: unknown requirement {r:?}; known: {}", known.join(", "));
            }
        }
        files.insert(stem, File { requires, imports: directive(&src, "imports") });
    }
    let mut out = String::from("/// Every WGSL file in `shaders/`, by file stem, with its imports appended.\npub const SHADERS: &[Shader] = &[\n");
    for stem in files.keys() {
        let mut parts = Vec::new();
        closure(stem, &files, &mut Vec::new(), &mut parts);
        let mut requires: Vec<&str> = Vec::new();
        for p in &parts {
            for r in &files[p].requires {
                if !requires.contains(&r.as_str()) {
                    requires.push(r);
                }
            }
        }
        let features = requires
            .iter()
            .map(|r| FEATURES.iter().find(|(n, _)| n == r).map(|(_, c)| format!(".union(wgpu::Features::{c})")).unwrap_or_default())
            .collect::<String>();
        let source = parts
            .iter()
            .map(|p| {
                let abs = fs::canonicalize(dir.join(format!("{p}.wgsl"))).expect("shader path");
                format!("include_str!({:?})", abs.display().to_string())
            })
            .collect::<Vec<_>>()
            .join(", \"\\n\", ");
        out.push_str(&format!(
            "    Shader {{ name: {stem:?}, source: concat!({source}), requires: wgpu::Features::empty(){features}, \
             imports: &{:?} }},\n",
            &parts[1..]
        ));
    }
    out.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("shaders.rs"), out).expect("write shaders.rs");
}
