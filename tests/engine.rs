//! The engine core: dtype round trips, the buffer pool, one-submit recording, poisoning, profiling, clear errors.
mod common;
use common::{gpu, Rng};
use half::f16;
use pretext::kernels::attention::{attention_bwd, attention_fwd, AttentionPath, Layout};
use pretext::kernels::matmul::matmul;
use pretext::{DType, Error, Gpu, GpuOptions, Tensor};

const SIZES: [usize; 4] = [0, 1, 1001, 3_000_017];

#[test]
fn every_dtype_round_trips_at_awkward_sizes() {
    let g = gpu();
    let mut rng = Rng::new(1);
    for n in SIZES {
        let f: Vec<f32> = rng.vec_f32(n);
        let t = Tensor::from_slice(g, &f, &[n]).unwrap();
        assert_eq!(t.to_vec::<f32>(g).unwrap(), f, "f32 x{n}");
        let h: Vec<f16> = f.iter().map(|&x| f16::from_f32(x)).collect();
        let t = Tensor::from_slice(g, &h, &[n]).unwrap();
        assert_eq!(t.dtype(), DType::F16);
        assert_eq!(t.to_vec::<f16>(g).unwrap(), h, "f16 x{n}");
        assert_eq!(t.to_f32(g).unwrap(), h.iter().map(|x| x.to_f32()).collect::<Vec<_>>());
        let i: Vec<i32> = (0..n).map(|_| rng.next_u64() as i32).collect();
        assert_eq!(Tensor::from_slice(g, &i, &[n]).unwrap().to_vec::<i32>(g).unwrap(), i, "i32 x{n}");
        let u: Vec<u32> = (0..n).map(|_| rng.next_u64() as u32).collect();
        assert_eq!(Tensor::from_slice(g, &u, &[n]).unwrap().to_vec::<u32>(g).unwrap(), u, "u32 x{n}");
    }
}

#[test]
fn reshape_is_a_view_and_checks_counts() {
    let g = gpu();
    let t = Tensor::from_slice(g, &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let v = t.reshape(&[3, 2]).unwrap();
    assert!(v.same_buffer(&t));
    assert_eq!(v.shape(), &[3, 2]);
    assert_eq!(v.to_vec::<f32>(g).unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let err = t.reshape(&[4, 2]).unwrap_err();
    assert!(matches!(&err, Error::Shape(m) if m.contains("[2, 3]") && m.contains("[4, 2]")), "{err}");
}

#[test]
fn the_pool_reuses_buffers() {
    // A private device, so other tests' tensors do not move the counters.
    let g = Gpu::new(&GpuOptions::default()).unwrap();
    let shapes: [&[usize]; 4] = [&[1], &[17, 33], &[1000], &[64, 64]];
    let mut live_after_first = None;
    let mut allocs_after_first = None;
    for round in 0..20 {
        let ts: Vec<Tensor> = shapes.iter().map(|s| Tensor::empty(&g, s, DType::F32).unwrap()).collect();
        assert!(g.memory().live_bytes > 0);
        drop(ts);
        let m = g.memory();
        assert_eq!(m.live_bytes, 0, "round {round}: every buffer returns to the pool");
        if round == 0 {
            live_after_first = Some(m.pooled_bytes);
            allocs_after_first = Some(m.allocations);
        } else {
            assert_eq!(Some(m.pooled_bytes), live_after_first, "round {round}: pooled bytes grew");
            assert_eq!(Some(m.allocations), allocs_after_first, "round {round}: new buffers were created");
        }
    }
    let m = g.memory();
    assert!(m.reuse_hits >= 19 * shapes.len() as u64, "reuse hits {}", m.reuse_hits);
    assert!(m.peak_live_bytes > 0);
}

#[test]
fn a_thousand_kernels_cost_one_submit() {
    let g = Gpu::new(&GpuOptions::default()).unwrap();
    let t = pretext::kernels::fill::zeros(&g, &[4096], DType::F32).unwrap();
    g.flush().unwrap();
    let (submits, dispatches) = (g.submits(), g.dispatches());
    for i in 0..1000 {
        pretext::kernels::fill::fill(&g, &t, i as f32).unwrap();
    }
    assert_eq!(g.submits(), submits, "recording must not submit");
    g.flush().unwrap();
    assert_eq!(g.submits(), submits + 1, "one flush, one submit");
    assert_eq!(g.dispatches(), dispatches + 1000);
    assert!(t.to_vec::<f32>(&g).unwrap().iter().all(|&v| v == 999.0), "the last fill wins");
    assert_eq!(g.pipelines_compiled(), 1, "one pipeline, compiled once");
}

#[test]
fn new_tensors_are_poisoned_in_tests() {
    let g = gpu();
    let t = Tensor::empty(g, &[5], DType::F32).unwrap();
    assert!(t.to_vec::<f32>(g).unwrap().iter().all(|v| v.is_nan()));
    let h = Tensor::empty(g, &[3], DType::F16).unwrap();
    assert!(h.to_vec::<f16>(g).unwrap().iter().all(|v| v.is_nan()));
}

#[test]
fn profiling_counts_each_kernel() {
    let g = Gpu::new(&GpuOptions { profile: true, ..Default::default() }).unwrap();
    let t = Tensor::empty(&g, &[100_000], DType::F32).unwrap();
    for _ in 0..7 {
        pretext::kernels::fill::fill(&g, &t, 1.0).unwrap();
    }
    let rows = g.take_profile().unwrap();
    let fill = rows.iter().find(|r| r.name == "fill::fill").expect("fill row");
    assert_eq!(fill.calls, 7);
    assert!(fill.total_ms > 0.0 && fill.mean_ms > 0.0);
}

#[test]
fn profiling_survives_a_timed_section() {
    // `pretext --profile demo`: the demo measures peak_fma (a bench section that times itself) before its phases.
    let g = Gpu::new(&GpuOptions { profile: true, ..Default::default() }).unwrap();
    pretext::bench::peak_fma_and_copy(&g).unwrap();
    let t = Tensor::empty(&g, &[1000], DType::F32).unwrap();
    for _ in 0..3 {
        pretext::kernels::fill::fill(&g, &t, 2.0).unwrap();
    }
    let rows = g.take_profile().unwrap();
    assert_eq!(rows.iter().find(|r| r.name == "fill::fill").map(|r| r.calls), Some(3), "{rows:?}");
    assert!(rows.iter().all(|r| !r.name.contains("peak")), "the timed section keeps its samples to itself: {rows:?}");
    assert!(g.set_profiling(false).unwrap(), "profiling was still on");
}

#[test]
fn bad_input_gives_clear_errors() {
    let g = gpu();
    let err = Tensor::from_slice(g, &[1.0f32, 2.0, 3.0], &[2, 2]).unwrap_err();
    assert!(matches!(&err, Error::Shape(m) if m.contains("3 values") && m.contains("[2, 2]")), "{err}");

    let t = Tensor::from_slice(g, &[1.0f32, 2.0], &[2]).unwrap();
    let err = t.to_vec::<i32>(g).unwrap_err();
    assert!(matches!(&err, Error::DType(m) if m.contains("f32") && m.contains("i32")), "{err}");
    let err = t.expect_shape("matmul", "a", &[3]).unwrap_err();
    assert_eq!(err.to_string(), "matmul: a has shape [2], expected [3]");

    let max = g.limits().max_storage_buffer_binding_size as usize;
    let err = Tensor::empty(g, &[max / 4 + 1], DType::F32).unwrap_err();
    assert!(matches!(&err, Error::Gpu(m) if m.contains("exceeds") && m.contains("max storage binding")), "{err}");
    // The device is still usable afterwards.
    assert_eq!(t.to_vec::<f32>(g).unwrap(), vec![1.0, 2.0]);
}

#[test]
fn unknown_backend_is_a_clear_error() {
    let err = Gpu::new(&GpuOptions { backend: Some("glide".into()), ..Default::default() }).err().expect("error");
    assert!(err.to_string().contains("unknown backend \"glide\""), "{err}");
}

#[test]
fn a_kernel_over_the_storage_buffer_limit_is_a_clear_error() {
    // A device that allows 5 storage buffers per stage: the fused attention backward binds 7 (q, k, v, lengths,
    // dout, stats; dq), so Gpu::dispatch refuses it by name before wgpu would reject the layout.
    let five = |l: wgpu::Limits| wgpu::Limits { max_storage_buffers_per_shader_stage: 5, ..l };
    let g = Gpu::new(&GpuOptions { limits: Some(five), ..Default::default() }).unwrap();
    assert_eq!(g.limits().max_storage_buffers_per_shader_stage, 5);
    let mut rng = Rng::new(7);
    let dims = [1, 2, 5, 4];
    let x: Vec<Tensor> = (0..3).map(|_| Tensor::from_slice(&g, &rng.vec_f32(40), &dims).unwrap()).collect();
    let (q, k, v) = (&x[0], &x[1], &x[2]);
    let fused = Some(AttentionPath::Fused);
    // The forward binds 6 (q, k, v, lengths; out, lse): refused too.
    let err = attention_fwd(&g, q, k, v, None, false, 0.5, Layout::HeadsFirst, None, fused).err().expect("error");
    assert!(
        matches!(&err, Error::Gpu(m) if m.contains("attention::attention_fwd: binds 6 storage buffers")
            && m.contains("allows 5 per shader stage") && m.contains("max_storage_buffers_per_shader_stage")),
        "{err}"
    );
    // A kernel within the limit runs, and the device is still usable: matmul binds 5 (a, b, bias; c, row sums).
    let c = matmul(&g, q.reshape(&[10, 4]).as_ref().unwrap(), k.reshape(&[10, 4]).as_ref().unwrap(), false, true, None).unwrap();
    let (qv, kv) = (q.to_vec::<f32>(&g).unwrap(), k.to_vec::<f32>(&g).unwrap());
    let got = c.to_vec::<f32>(&g).unwrap();
    let want: Vec<f64> = (0..100).map(|e| (0..4).map(|d| qv[e / 10 * 4 + d] as f64 * kv[e % 10 * 4 + d] as f64).sum()).collect();
    let err = common::rel_l2(&got, &want);
    assert!(err <= 1e-5, "matmul under a 5-buffer limit: rel L2 error {err:.2e} > 1e-5");
    // The backward's stats pass binds 4 and is recorded; its dq pass binds 7 and is refused.
    let dout = Tensor::from_slice(&g, &rng.vec_f32(40), &dims).unwrap();
    let lse = Tensor::from_slice(&g, &[0.0f32; 10], &[1, 2, 5]).unwrap();
    let err = attention_bwd(&g, q, k, v, &dout, &lse, &dout, None, false, 0.5, Layout::HeadsFirst, None, fused).err().expect("error");
    assert!(matches!(&err, Error::Gpu(m) if m.contains("attention::attention_bwd_dq: binds 7 storage buffers") && m.contains("allows 5")), "{err}");
    g.check_errors().unwrap();
}

/// The bench probes' uniform blocks (`FmaParams` in bench_fma.wgsl, `CopyParams` in bench_copy.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ProbeParams {
    a: u32,
    n: u32,
    _pad: [u32; 2],
}

#[test]
fn the_bench_probes_do_the_work_they_count() {
    // `pretext bench` counts peak_fma's FLOPs as 4 FMAs per chain per trip and load_vec4's bytes as 16 loads
    // per store: the outputs, against an f64 recurrence and f64 sums, prove the shaders do that much work.
    let g = gpu();
    let (invocations, trips) = (512usize, 5u32);
    let out = Tensor::from_slice(g, &vec![f32::NAN; invocations * 4], &[invocations * 4]).unwrap();
    let p = ProbeParams { a: trips, n: invocations as u32 - 3, _pad: [0; 2] }; // the last 3 are not written
    pretext::kernels::launch(g, "bench_fma", "peak_fma", &[], &p, &[], &[&out], [invocations as u32 / 256, 1, 1]).unwrap();
    let got: Vec<f32> = out.to_vec(g).unwrap();
    let (a, b) = ([0.999, 0.998, 0.997, 0.996], [1e-3, 2e-3, 3e-3, 4e-3]);
    for i in 0..invocations {
        for lane in 0..4 {
            let v = &got[4 * i + lane];
            if i >= invocations - 3 {
                assert!(v.is_nan(), "invocation {i} is past n and must not be written: {v}");
                continue;
            }
            let s = (i as f32 * 1e-9) as f64;
            let want: f64 = (0..8)
                .map(|c| (0..4 * trips).fold(s + c as f64, |x, _| x * a[lane] + b[lane]))
                .sum();
            assert!((*v as f64 - want).abs() <= 1e-5 * want.abs(), "peak_fma[{i}][{lane}] = {v}, want {want} (4 FMAs a trip)");
        }
    }

    let n = 16 * 300usize; // vec4 elements read; 300 invocations, one partial workgroup
    let x: Vec<f32> = Rng::new(7).vec_f32(n * 4);
    let xt = Tensor::from_slice(g, &x, &[n * 4]).unwrap();
    let yt = Tensor::from_slice(g, &vec![f32::NAN; (n / 16 + 4) * 4], &[(n / 16 + 4) * 4]).unwrap();
    let p = ProbeParams { a: n as u32, n: 0, _pad: [0; 2] };
    pretext::kernels::launch(g, "bench_copy", "load_vec4", &[], &p, &[&xt], &[&yt], [2, 1, 1]).unwrap();
    let y: Vec<f32> = yt.to_vec(g).unwrap();
    for i in 0..n / 16 {
        for lane in 0..4 {
            let want: f64 = (0..16).map(|r| x[4 * (i + r * n / 16) + lane] as f64).sum();
            assert!((y[4 * i + lane] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "load_vec4[{i}][{lane}]");
        }
    }
    assert!(y[4 * (n / 16)..].iter().all(|v| v.is_nan()), "load_vec4 wrote past its n/16 outputs");
}
