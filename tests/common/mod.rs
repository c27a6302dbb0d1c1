//! Shared test helpers: one device per test binary, a seeded generator, error measures.
#![allow(dead_code)]
use std::sync::OnceLock;

use pretext::{Gpu, GpuOptions};

/// The device shared by every test of a binary; new tensors are poisoned with NaN. It allows WebGPU's default
/// of 8 storage buffers per shader stage (or fewer where the adapter has fewer), so every kernel the tests
/// reach is shown to stay within it.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let webgpu_storage = |l: wgpu::Limits| wgpu::Limits {
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage.min(8),
            ..l
        };
        let g = Gpu::new(&GpuOptions { limits: Some(webgpu_storage), ..Default::default() }).unwrap_or_else(|e| panic!("tests need a GPU adapter: {e}"));
        g.set_poison(true);
        g
    })
}

/// A small deterministic generator (SplitMix64), so each test draws fresh but reproducible inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// `n` values uniform in [-1, 1) as f32.
    pub fn vec_f32(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.range(-1.0, 1.0) as f32).collect()
    }
    /// Integer uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Philox-4x32-10 (Random123) on the host.
pub fn philox_ref(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = 0xD251_1F53u64 * c[0] as u64;
        let p1 = 0xCD9E_8D57u64 * c[2] as u64;
        c = [(p1 >> 32) as u32 ^ c[1] ^ k[0], p1 as u32, (p0 >> 32) as u32 ^ c[3] ^ k[1], p0 as u32];
        k = [k[0].wrapping_add(0x9E37_79B9), k[1].wrapping_add(0xBB67_AE85)];
    }
    c
}

/// Whether stream position e is kept by dropout(p, seed).
pub fn keep_ref(seed: u64, e: u64, p: f64) -> bool {
    let q = e / 4;
    let word = philox_ref([q as u32, (q >> 32) as u32, 0, 0], [seed as u32, (seed >> 32) as u32])[(e % 4) as usize];
    (word >> 8) as f64 / (1u64 << 24) as f64 >= p
}

/// ‖got − want‖₂ / max(‖want‖₂, tiny); NaN in `got` gives infinity.
pub fn rel_l2(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let mut num = 0.0;
    let mut den = 0.0;
    for (g, w) in got.iter().zip(want) {
        if !g.is_finite() {
            return f64::INFINITY;
        }
        num += (*g as f64 - w).powi(2);
        den += w * w;
    }
    (num / den.max(1e-300)).sqrt()
}

/// max |got − want|; NaN in `got` gives infinity.
pub fn max_abs(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    got.iter().zip(want).map(|(g, w)| if g.is_finite() { (*g as f64 - w).abs() } else { f64::INFINITY }).fold(0.0, f64::max)
}

/// Host f32 to f64.
pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The repository's `data/` directory with what `scripts/fetch.sh` downloads (all-MiniLM-L6-v2, Rotten
/// Tomatoes). When something is missing, the script runs here once, under a lock that concurrent test binaries
/// share, so `cargo test --release` on a fresh clone needs no step before it. A failed fetch fails the test.
pub fn fetched_data() -> std::path::PathBuf {
    static DATA: OnceLock<std::path::PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let data = root.join("data");
        let complete = || data.join("minilm/model.safetensors").is_file() && data.join("rt/test.tsv").is_file();
        if !complete() {
            std::fs::create_dir_all(&data).expect("create data/");
            let status = std::process::Command::new("flock")
                .arg(data.join(".fetch.lock"))
                .args(["bash", "scripts/fetch.sh"])
                .current_dir(&root)
                .status()
                .unwrap_or_else(|e| panic!("could not run `flock data/.fetch.lock bash scripts/fetch.sh`: {e}"));
            assert!(status.success() && complete(), "scripts/fetch.sh failed ({status}); the tests need its data");
        }
        data
    })
    .clone()
}
