//! Every WGSL file parses, validates under the capabilities the engine may enable, and translates
//! with naga's SPIR-V, MSL and HLSL back ends (so a shader that would fail on Metal or DX12 fails here).
use naga::back::{hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn check(name: &str, src: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| format!("parse: {}", e.emit_to_string(src)))?;
    let caps = Capabilities::SHADER_FLOAT16 | Capabilities::SUBGROUP | Capabilities::SUBGROUP_BARRIER;
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| format!("validate: {}", e.emit_to_string(src)))?;
    if module.entry_points.is_empty() {
        return Err("no entry point".into());
    }
    for ep in &module.entry_points {
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
    }
    let _ = name;
    Ok(())
}

#[test]
fn every_shader_validates_and_translates() {
    let shaders = pretext::gpu::shaders::SHADERS;
    assert!(shaders.len() >= 3, "expected the shaders/ directory to be embedded, found {}", shaders.len());
    let failures: Vec<String> = shaders
        .iter()
        .filter_map(|(name, src)| check(name, src).err().map(|e| format!("shaders/{name}.wgsl: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_broken_shader_is_caught() {
    let bad = "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }";
    assert!(check("bad", bad).is_err(), "a type error must fail validation");
}
