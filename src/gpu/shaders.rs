//! The WGSL modules of `shaders/`, embedded at build time by `build.rs`, with the adapter features each needs.
//!
//! A file may head itself with `// requires: subgroups` (or `shader-f16`, `shader-int64`, `subgroup-barrier`):
//! it is then compiled only on an adapter that has those features, and the launcher keeps a portable variant in
//! a file without the line. `// imports: matmul_core` appends `shaders/matmul_core.wgsl` to the file, so a
//! variant shares its portable sibling's helpers; a file with no entry point is a library of helpers that
//! others import (`philox`, `tree_sum`, `log_series`, `matmul_core`, which calls the loads `la`, `lb`, `a_at`
//! and `b_at` that each importer defines). Asking for a module the adapter cannot compile is an error that names the module and the
//! missing feature (`Gpu::dispatch`), never a shader validation failure.

/// One shader module: a file of `shaders/` with the files it imports appended.
#[derive(Debug, Clone, Copy)]
pub struct Shader {
    /// The file stem, the name launchers dispatch by (e.g. "matmul_sg").
    pub name: &'static str,
    /// The file's source followed by its imports' sources.
    pub source: &'static str,
    /// Adapter features the module needs: its own `// requires:` line and its imports'.
    pub requires: wgpu::Features,
    /// Files appended to this one (transitively), by stem.
    pub imports: &'static [&'static str],
}

include!(concat!(env!("OUT_DIR"), "/shaders.rs"));

/// Optional features a shader module may require, with the names `// requires:` and `pretext info` use.
pub const SHADER_FEATURES: &[(wgpu::Features, &str)] = &[
    (wgpu::Features::SHADER_F16, "shader-f16"),
    (wgpu::Features::SHADER_INT64, "shader-int64"),
    (wgpu::Features::SUBGROUP, "subgroups"),
    (wgpu::Features::SUBGROUP_BARRIER, "subgroup-barrier"),
];

/// The module of shader file `name` (its stem, e.g. "matmul").
pub fn get(name: &str) -> Option<&'static Shader> {
    SHADERS.iter().find(|s| s.name == name)
}

/// The source of shader module `name`, imports appended.
pub fn source(name: &str) -> Option<&'static str> {
    get(name).map(|s| s.source)
}

/// The names of the shader features in `f`, e.g. `["subgroups"]`.
pub fn feature_names(f: wgpu::Features) -> Vec<&'static str> {
    SHADER_FEATURES.iter().filter(|(x, _)| f.contains(*x)).map(|(_, n)| *n).collect()
}
