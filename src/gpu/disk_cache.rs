//! wgpu's `PipelineCache` kept on disk between runs, where the adapter has `Features::PIPELINE_CACHE` (Vulkan):
//! the driver's compiled pipelines come back in the next process instead of being compiled again.
//!
//! The file is `<dir>/<wgpu::util::pipeline_cache_key(adapter)>`, with `<dir>` = `$PRETEXT_PIPELINE_CACHE` when it
//! names a directory, else `$XDG_CACHE_HOME/pretext`, else `~/.cache/pretext`; `PRETEXT_PIPELINE_CACHE=off`
//! disables it. It is read when the device opens and written (to a temporary name, then renamed) when the
//! device is dropped or `Gpu::save_pipeline_cache` is called, if new pipelines were compiled. A file that is
//! not a valid cache for this driver is ignored (wgpu's `fallback`). Drivers may also keep caches of their own
//! (Mesa's shader cache: `MESA_SHADER_CACHE_DISABLE=true` turns it off); lavapipe's `VkPipelineCache` holds no
//! compiled code (see BENCHMARKS.md), so on lavapipe this file saves nothing.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

/// The environment variable: `off` (or `0`) disables the cache, a path relocates it.
pub const ENV: &str = "PRETEXT_PIPELINE_CACHE";

/// The directory the cache lives in, or None when disabled.
pub fn dir() -> Option<PathBuf> {
    match std::env::var_os(ENV) {
        Some(v) if v == "off" || v == "0" || v.is_empty() => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("pretext"));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache").join("pretext"))
}

/// Whether a device on an adapter with features `have` should open the disk cache (and so request the feature).
pub fn wanted(have: wgpu::Features, info: &wgpu::AdapterInfo) -> bool {
    have.contains(wgpu::Features::PIPELINE_CACHE) && wgpu::util::pipeline_cache_key(info).is_some() && dir().is_some()
}

/// An open pipeline cache and the file it persists to.
pub struct DiskCache {
    /// The cache every pipeline of the device is created with.
    pub cache: wgpu::PipelineCache,
    path: PathBuf,
    /// Set when a pipeline was created since the last save.
    dirty: AtomicBool,
}

impl DiskCache {
    /// Opens the cache of `info`'s adapter on `device` (which must have `Features::PIPELINE_CACHE`), seeded from
    /// its file when there is one.
    pub fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo) -> Option<DiskCache> {
        let path = dir()?.join(wgpu::util::pipeline_cache_key(info)?);
        let data = std::fs::read(&path).ok();
        // SAFETY: the data was written by `PipelineCache::get_data` for an adapter with the same cache key (the
        // file name), and `fallback` makes wgpu start empty when the driver rejects it.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor { label: Some("pretext pipelines"), data: data.as_deref(), fallback: true })
        };
        Some(DiskCache { cache, path, dirty: AtomicBool::new(false) })
    }

    /// Notes that a pipeline was created with the cache.
    pub fn touch(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// The file the cache persists to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Writes the cache's data to its file if pipelines were created since the last save.
    pub fn save(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let Some(data) = self.cache.get_data() else { return Ok(()) };
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        // a temporary sibling renamed over the file, so a reader never sees half a cache
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &data).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&self.path, e)
        })
    }
}
