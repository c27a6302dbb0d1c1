//! Every WGSL file of `shaders/` is embedded, parses, validates under exactly the capabilities its
//! `// requires:` line grants (none for a portable module, so a portable shader that uses subgroups or f16
//! fails here), has an entry point unless another file imports it (a library of helpers, validated inside
//! each module that imports it), needs each
//! capability it declares, binds at most WebGPU's default of 8 storage buffers per
//! entry point, and translates with naga's SPIR-V, MSL, HLSL and GLSL back ends (so a shader that would fail
//! on Metal, DX12 or OpenGL fails here).
use std::collections::BTreeSet;

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use pretext::gpu::shaders::{self, Shader, SHADERS};

/// WebGPU's default `max_storage_buffers_per_shader_stage`, which every kernel stays within.
const WEBGPU_STORAGE_BUFFERS: usize = 8;

/// Entry points allowed more than `WEBGPU_STORAGE_BUFFERS` storage buffers (`Gpu::dispatch` refuses them on a
/// device with fewer): none today. An entry added here must be named in the README's "Choosing a device".
const OVER_EIGHT: &[&str] = &[];

/// The naga capabilities that the adapter features `f` grant.
fn capabilities(f: wgpu::Features) -> Capabilities {
    let mut caps = Capabilities::empty();
    for (feature, cap) in [
        (wgpu::Features::SHADER_F16, Capabilities::SHADER_FLOAT16),
        (wgpu::Features::SHADER_INT64, Capabilities::SHADER_INT64),
        (wgpu::Features::SUBGROUP, Capabilities::SUBGROUP),
        (wgpu::Features::SUBGROUP_BARRIER, Capabilities::SUBGROUP_BARRIER),
    ] {
        if f.contains(feature) {
            caps |= cap;
        }
    }
    caps
}

fn validate(src: &str, caps: Capabilities) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| format!("parse: {}", e.emit_to_string(src)))?;
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| format!("validate: {}", e.emit_to_string(src)))?;
    Ok((module, info))
}

/// Storage buffers entry point `index` of `module` uses.
fn storage_buffers(module: &naga::Module, info: &naga::valid::ModuleInfo, index: usize) -> usize {
    let uses = info.get_entry_point(index);
    module
        .global_variables
        .iter()
        .filter(|(h, g)| matches!(g.space, naga::AddressSpace::Storage { .. }) && !uses[*h].is_empty())
        .count()
}

/// Validates `src` under `caps` and translates every entry point; returns (entry, storage buffers) per entry.
/// A module without an entry point is an error unless it is a `library` (helpers that other files import).
fn check(src: &str, caps: Capabilities, library: bool) -> Result<Vec<(String, usize)>, String> {
    let (module, info) = validate(src, caps)?;
    if module.entry_points.is_empty() && !library {
        return Err("no entry point, and no file imports it".into());
    }
    let mut counts = Vec::new();
    for (i, ep) in module.entry_points.iter().enumerate() {
        counts.push((ep.name.clone(), storage_buffers(&module, &info, i)));
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((ep.stage, &ep.name)),
            &Default::default(),
        )
        .map_err(|e| format!("{}: overrides (each needs a default): {e}", ep.name))?;
        let spv_opts = spv::Options { lang_version: (1, 3), ..Default::default() };
        let pipe = spv::PipelineOptions { shader_stage: ep.stage, entry_point: ep.name.clone() };
        spv::write_vec(&module, &info, &spv_opts, Some(&pipe)).map_err(|e| format!("{}: SPIR-V: {e}", ep.name))?;

        let msl_opts = msl::Options { lang_version: (2, 4), fake_missing_bindings: true, ..Default::default() };
        let pipe = msl::PipelineOptions { entry_point: Some((ep.stage, ep.name.clone())), ..Default::default() };
        msl::write_string(&module, &info, &msl_opts, &pipe).map_err(|e| format!("{}: MSL: {e}", ep.name))?;

        let hlsl_opts = hlsl::Options { shader_model: hlsl::ShaderModel::V6_2, ..Default::default() };
        let pipe = hlsl::PipelineOptions { entry_point: Some((ep.stage, ep.name.clone())) };
        let mut out = String::new();
        hlsl::Writer::new(&mut out, &hlsl_opts, &pipe)
            .write(&module, &info, None)
            .map_err(|e| format!("{}: HLSL: {e}", ep.name))?;

        // OpenGL ES 3.1 is the least wgpu's GL back end runs compute on. That back end offers no 64-bit
        // integers, so a module that requires them never reaches it.
        if caps.contains(Capabilities::SHADER_INT64) {
            continue;
        }
        let glsl_opts = glsl::Options { version: glsl::Version::new_gles(310), ..Default::default() };
        let pipe = glsl::PipelineOptions { shader_stage: ep.stage, entry_point: ep.name.clone(), multiview: None };
        let mut out = String::new();
        glsl::Writer::new(&mut out, &module, &info, &glsl_opts, &pipe, Default::default())
            .and_then(|mut w| w.write())
            .map_err(|e| format!("{}: GLSL: {e}", ep.name))?;
    }
    Ok(counts)
}

fn module(name: &str) -> &'static Shader {
    shaders::get(name).unwrap_or_else(|| panic!("shaders/{name}.wgsl is not embedded"))
}

#[test]
fn every_file_in_shaders_is_embedded_by_name() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("shaders/")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".wgsl").map(String::from))
        .collect();
    let embedded: BTreeSet<String> = SHADERS.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(embedded, on_disk, "the embedded modules differ from the files in {}", dir.display());
    for s in SHADERS {
        let own = std::fs::read_to_string(dir.join(format!("{}.wgsl", s.name))).expect("read shader");
        assert!(s.source.starts_with(&own), "shaders/{}.wgsl: the embedded source does not start with the file", s.name);
        for i in s.imports {
            assert!(s.source.contains(module(i).source), "shaders/{}.wgsl: imports {i} but its source is not appended", s.name);
        }
    }
}

#[test]
fn every_shader_validates_with_only_its_declared_capabilities_and_translates() {
    let mut failures = Vec::new();
    let mut over = Vec::new();
    let imported: BTreeSet<&str> = SHADERS.iter().flat_map(|s| s.imports.iter().copied()).collect();
    for s in SHADERS {
        if imported.contains(s.name) && !s.source.contains("@compute") {
            // A library is validated inside each module that imports it (it may call what they define).
            continue;
        }
        match check(s.source, capabilities(s.requires), imported.contains(s.name)) {
            Ok(counts) => {
                for (entry, n) in counts {
                    if n > WEBGPU_STORAGE_BUFFERS && !OVER_EIGHT.contains(&entry.as_str()) {
                        over.push(format!("{}::{entry} uses {n} storage buffers", s.name));
                    }
                }
            }
            Err(e) => failures.push(format!(
                "shaders/{}.wgsl (capabilities {:?} from `// requires: {}`): {e}",
                s.name,
                capabilities(s.requires),
                shaders::feature_names(s.requires).join(", ")
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(over.is_empty(), "more than WebGPU's default of {WEBGPU_STORAGE_BUFFERS} per stage (list them in OVER_EIGHT and the README if unavoidable):\n{}", over.join("\n"));
}

#[test]
fn each_declared_feature_is_needed_and_each_variant_has_a_portable_sibling() {
    let variants: Vec<&Shader> = SHADERS.iter().filter(|s| !s.requires.is_empty()).collect();
    assert!(
        variants.iter().any(|s| s.name == "matmul_sg" && s.requires.contains(wgpu::Features::SUBGROUP)),
        "shaders/matmul_sg.wgsl should require subgroups"
    );
    assert!(module("matmul").requires.is_empty(), "shaders/matmul.wgsl is the portable fallback: it must require nothing");
    for s in variants {
        for (feature, name) in shaders::SHADER_FEATURES {
            if s.requires.contains(*feature) {
                let without = capabilities(s.requires.difference(*feature));
                assert!(
                    validate(s.source, without).is_err(),
                    "shaders/{}.wgsl declares `requires: {name}` but validates without it: drop the line",
                    s.name
                );
            }
        }
        // A portable module with entry points either is one of the variant's imports or imports one of them.
        let portable_sibling = |i: &&str| {
            SHADERS.iter().any(|m| m.requires.is_empty() && m.source.contains("@compute") && (m.name == *i || m.imports.contains(i)))
        };
        assert!(
            s.imports.iter().any(portable_sibling),
            "shaders/{}.wgsl needs {:?} but shares nothing with a portable module: a variant lives beside its portable fallback",
            s.name,
            shaders::feature_names(s.requires)
        );
    }
}

#[test]
fn a_broken_shader_is_caught() {
    let bad = "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }";
    assert!(check(bad, Capabilities::empty(), false).is_err(), "a type error must fail validation");
    let subgroup = "@compute @workgroup_size(8) fn main(@builtin(subgroup_invocation_id) lane: u32) { _ = subgroupAdd(lane); }";
    assert!(check(subgroup, Capabilities::SUBGROUP, false).is_ok(), "a subgroup shader validates with the capability");
    assert!(check(subgroup, Capabilities::empty(), false).is_err(), "a subgroup shader must fail without the capability");
    let helpers = "fn twice(x: f32) -> f32 { return 2.0 * x; }";
    assert!(check(helpers, Capabilities::empty(), false).is_err(), "a file of helpers that nothing imports is an error");
    assert!(check(helpers, Capabilities::empty(), true).is_ok(), "a file of helpers that another imports is a library");
}

#[test]
fn a_storage_buffer_count_is_per_entry_point() {
    let src = "@group(0) @binding(1) var<storage, read> x: array<f32>;\n\
               @group(0) @binding(2) var<storage, read_write> y: array<f32>;\n\
               @group(0) @binding(3) var<storage, read_write> z: array<f32>;\n\
               @compute @workgroup_size(1) fn one() { y[0] = x[0]; }\n\
               @compute @workgroup_size(1) fn two() { y[0] = x[0]; z[0] = x[1]; }";
    let counts = check(src, Capabilities::empty(), false).expect("valid");
    assert_eq!(counts, vec![("one".to_string(), 2), ("two".to_string(), 3)]);
}
