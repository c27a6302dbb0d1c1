//! The WGSL sources of `shaders/`, embedded at build time by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/shaders.rs"));

/// The source of shader file `name` (its stem, e.g. "matmul").
pub fn source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
