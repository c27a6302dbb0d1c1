//! What a load costs on this adapter, by how it is made: the measurements behind `matmul_sg8`'s 64-bit loads
//! and `peak_fma`'s unrolled loop (BENCHMARKS.md, "What a load costs"). Timed with GPU timestamp queries.
//!
//! `cargo run --release --example load_costs` (needs TIMESTAMP_QUERY; the 64-bit rows need SHADER_INT64).
//! Every load row reads the same 64 MiB: 16 bytes per lane per loop trip, neighbouring lanes reading
//! neighbouring elements (as the matmul's loads of B do), so the rows differ only in how the bytes are fetched.
use wgpu::util::DeviceExt;

/// Loads through storage, uniform and workgroup memory (the FMA probe is appended by `fma_entry`).
const PORTABLE: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> u: array<vec4<f32>, 4096>;
const TRIPS: u32 = 128u;
var<workgroup> shared_x: array<vec4<f32>, 1024>;

// Workgroup w reads its own block of 64 * TRIPS vec4s in order, a trip's 64 lanes side by side.
// WINDOW (vec4s, a power of 2) wraps the index: all of x streams by, or 4096 re-reads 64 KiB from cache.
override WINDOW: u32 = 4194304u;
fn at(w: u32, t: u32, l: u32) -> u32 {
    return ((w * TRIPS + t) * 64u + l) & (WINDOW - 1u);
}

// out[i] = the sum of lane l's TRIPS vec4s of its workgroup's block (vec4<f32>: 4 components of 4 bytes per load)
@compute @workgroup_size(64)
fn storage_f32x4(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32, @builtin(global_invocation_id) g: vec3<u32>) {
    var acc = vec4<f32>();
    for (var t = 0u; t < TRIPS; t++) { acc += x[at(w.x, t, l)]; }
    out[g.x] = acc;
}

// the same sum from a 64 KiB uniform array (index wrapped)
@compute @workgroup_size(64)
fn uniform_f32x4(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32, @builtin(global_invocation_id) g: vec3<u32>) {
    var acc = vec4<f32>();
    for (var t = 0u; t < TRIPS; t++) { acc += u[at(w.x, t, l) & 4095u]; }
    out[g.x] = acc;
}

// the same sum from workgroup memory (filled from x first)
@compute @workgroup_size(64)
fn workgroup_f32x4(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    for (var j = l; j < 1024u; j += 64u) { shared_x[j] = x[j]; }
    workgroupBarrier();
    var acc = vec4<f32>();
    for (var t = 0u; t < TRIPS; t++) { acc += shared_x[(l + t * 64u) & 1023u]; }
    out[g.x] = acc;
}
"#;

/// The FMA probe as `pretext bench`'s `peak_fma`: 8 independent vec4 chains c = c * a + b, `unroll` FMAs per
/// chain per trip of the loop and 4096 per chain in all, so the entries differ only in how often the loop turns.
fn fma_entry(unroll: usize) -> String {
    let round = "c0 = fma(c0, a, b); c1 = fma(c1, a, b); c2 = fma(c2, a, b); c3 = fma(c3, a, b); \
                 c4 = fma(c4, a, b); c5 = fma(c5, a, b); c6 = fma(c6, a, b); c7 = fma(c7, a, b);";
    format!(
        "@compute @workgroup_size(64)\n\
         fn fma_unrolled_{unroll}(@builtin(global_invocation_id) g: vec3<u32>) {{\n\
         let a = vec4<f32>(0.999); let b = vec4<f32>(1e-3);\n\
         var c0 = vec4<f32>(f32(g.x)); var c1 = c0 + 1.0; var c2 = c0 + 2.0; var c3 = c0 + 3.0;\n\
         var c4 = c0 + 4.0; var c5 = c0 + 5.0; var c6 = c0 + 6.0; var c7 = c0 + 7.0;\n\
         for (var t = 0u; t < {}u; t++) {{ {} }}\n\
         out[g.x] = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7;\n}}\n",
        4096 / unroll,
        vec![round; unroll].join(" ")
    )
}

/// The storage loads again, with the same bytes fetched as 64-bit words.
const INT64: &str = r#"
@group(0) @binding(0) var<storage, read> x2: array<vec2<u64>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> x4: array<vec4<u64>>; // the same buffer as x2
const TRIPS: u32 = 128u;
override WINDOW: u32 = 4194304u; // as in the portable module

fn unpack(w: vec2<u64>) -> vec4<f32> {
    let h = w >> vec2<u32>(32u);
    return bitcast<vec4<f32>>(vec4<u32>(u32(w.x & 0xfffffffflu), u32(h.x), u32(w.y & 0xfffffffflu), u32(h.y)));
}

// the storage_f32x4 sum with each vec4 read as two 64-bit words (2 components of 8 bytes per load)
@compute @workgroup_size(64)
fn storage_u64x2(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32, @builtin(global_invocation_id) g: vec3<u32>) {
    var acc = vec4<f32>();
    for (var t = 0u; t < TRIPS; t++) { acc += unpack(x2[((w.x * TRIPS + t) * 64u + l) & (WINDOW - 1u)]); }
    out[g.x] = acc;
}

// the same bytes in half the loads: two neighbouring vec4s as four 64-bit words (32 bytes per load)
@compute @workgroup_size(64)
fn storage_u64x4(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32, @builtin(global_invocation_id) g: vec3<u32>) {
    var acc = vec4<f32>();
    for (var t = 0u; t < TRIPS / 2u; t++) {
        let v = x4[((w.x * TRIPS / 2u + t) * 64u + l) & (WINDOW / 2u - 1u)];
        acc += unpack(v.xy) + unpack(v.zw);
    }
    out[g.x] = acc;
}
"#;

const GROUPS: u32 = 512; // 32,768 invocations
const INVOCATIONS: u64 = GROUPS as u64 * 64;
const BYTES: u64 = INVOCATIONS * 128 * 16; // every load row reads this much (TRIPS vec4s a lane)

fn main() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).expect("no adapter");
    let have = adapter.features();
    if !have.contains(wgpu::Features::TIMESTAMP_QUERY) {
        eprintln!("error: {} has no timestamp queries", adapter.get_info().name);
        std::process::exit(1);
    }
    let features = have & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_INT64);
    let desc = wgpu::DeviceDescriptor { required_features: features, required_limits: adapter.limits(), ..Default::default() };
    let (device, queue) = pollster::block_on(adapter.request_device(&desc)).expect("device");
    println!("{} ({:?}); every load row reads {} MiB", adapter.get_info().name, adapter.get_info().backend, BYTES >> 20);

    let storage = wgpu::BufferUsages::STORAGE;
    let x = device.create_buffer(&wgpu::BufferDescriptor { label: None, size: BYTES, usage: storage, mapped_at_creation: false });
    let out = device.create_buffer(&wgpu::BufferDescriptor { label: None, size: INVOCATIONS * 16, usage: storage, mapped_at_creation: false });
    let u = device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: &[0u8; 65536], usage: wgpu::BufferUsages::UNIFORM });
    let queries = device.create_query_set(&wgpu::QuerySetDescriptor { label: None, ty: wgpu::QueryType::Timestamp, count: 2 });
    let resolve = device.create_buffer(&wgpu::BufferDescriptor { label: None, size: 16, usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC, mapped_at_creation: false });
    let read = device.create_buffer(&wgpu::BufferDescriptor { label: None, size: 16, usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });

    // The median of 5 timed runs of `entry` (after one untimed), in ms.
    let time = |module: &wgpu::ShaderModule, entry: &str, window: f64| -> f64 {
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &[("WINDOW", window)], ..Default::default() },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        // bind what the entry point uses (the layout is derived from it): out, and its source of loads
        let mut entries = vec![wgpu::BindGroupEntry { binding: 1, resource: out.as_entire_binding() }];
        match entry {
            "uniform_f32x4" => entries.push(wgpu::BindGroupEntry { binding: 2, resource: u.as_entire_binding() }),
            "storage_u64x4" => entries.push(wgpu::BindGroupEntry { binding: 3, resource: x.as_entire_binding() }),
            e if !e.starts_with("fma") => entries.push(wgpu::BindGroupEntry { binding: 0, resource: x.as_entire_binding() }),
            _ => {}
        }
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &layout, entries: &entries });
        let mut times = Vec::new();
        for run in 0..6 {
            let mut encoder = device.create_command_encoder(&Default::default());
            {
                let writes = wgpu::ComputePassTimestampWrites { query_set: &queries, beginning_of_pass_write_index: Some(0), end_of_pass_write_index: Some(1) };
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: Some(writes) });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(GROUPS, 1, 1);
            }
            encoder.resolve_query_set(&queries, 0..2, &resolve, 0);
            encoder.copy_buffer_to_buffer(&resolve, 0, &read, 0, 16);
            queue.submit([encoder.finish()]);
            read.slice(..).map_async(wgpu::MapMode::Read, |r| r.expect("map"));
            device.poll(wgpu::PollType::wait_indefinitely()).expect("poll");
            let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&read.slice(..).get_mapped_range().expect("mapped"));
            read.unmap();
            if run > 0 {
                times.push(ticks[1].saturating_sub(ticks[0]) as f64 * queue.get_timestamp_period() as f64 * 1e-6);
            }
        }
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let module = |src: &str| device.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });

    let portable = module(&format!("{PORTABLE}{}{}", fma_entry(1), fma_entry(4)));
    let wide = features.contains(wgpu::Features::SHADER_INT64).then(|| module(INT64));
    let all = (BYTES / 16) as f64;
    for (what, window) in [("streaming 64 MiB", all), ("re-reading 64 KiB", 4096.0)] {
        println!("loads, {what}:");
        let loads = |name: &str, ms: f64| println!("  {name:<16} {ms:9.3} ms {:8.2} GB/s", BYTES as f64 / ms / 1e6);
        loads("storage_f32x4", time(&portable, "storage_f32x4", window));
        match &wide {
            Some(wide) => {
                loads("storage_u64x2", time(wide, "storage_u64x2", window));
                loads("storage_u64x4", time(wide, "storage_u64x4", window));
            }
            None => println!("  storage_u64x2, storage_u64x4: this adapter has no 64-bit integers"),
        }
        if window == 4096.0 {
            loads("uniform_f32x4", time(&portable, "uniform_f32x4", window));
            loads("workgroup_f32x4", time(&portable, "workgroup_f32x4", window));
        }
    }
    let flops = INVOCATIONS as f64 * 4096.0 * 8.0 * 4.0 * 2.0;
    for entry in ["fma_unrolled_1", "fma_unrolled_4"] {
        let ms = time(&portable, entry, all);
        println!("{entry:<18} {ms:9.3} ms {:8.2} GFLOP/s", flops / ms / 1e6);
    }
}
