//! Buffer pool keyed by size class: a tensor's buffer goes back to its class's free list when the tensor drops.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::{Error, Result};

/// Memory statistics of a pool, in bytes of whole buffers (size classes, not tensor sizes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Bytes held by live tensors now.
    pub live_bytes: u64,
    /// The most `live_bytes` has been.
    pub peak_live_bytes: u64,
    /// Bytes sitting in free lists, ready for reuse.
    pub pooled_bytes: u64,
    /// Buffers created on the device.
    pub allocations: u64,
    /// Requests served from a free list instead of a new buffer.
    pub reuse_hits: u64,
}

/// Smallest buffer the pool hands out.
const MIN_CLASS: u64 = 256;

/// The size class for a request of `bytes`: a multiple of a quarter of a power of two, so at most 25% is wasted.
pub fn size_class(bytes: u64) -> u64 {
    if bytes <= MIN_CLASS {
        return MIN_CLASS;
    }
    let p = bytes.next_power_of_two();
    let step = p / 8; // classes 5/8 p, 6/8 p, 7/8 p, p
    bytes.div_ceil(step) * step
}

/// A free list per size class, shared by every tensor of one device.
pub struct Pool {
    device: wgpu::Device,
    max_buffer: u64,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: PoolStats,
}

/// A device buffer on loan from the pool; it returns there when dropped.
pub struct PooledBuffer {
    buffer: wgpu::Buffer,
    class: u64,
    pool: Arc<Pool>,
}

impl Pool {
    /// A pool that creates storage buffers on `device`, none larger than `max_buffer` bytes.
    pub fn new(device: wgpu::Device, max_buffer: u64) -> Pool {
        Pool { device, max_buffer, state: Mutex::new(PoolState::default()) }
    }

    /// A buffer of at least `bytes` bytes (storage, copy source and destination), reused when one is free.
    pub fn get(self: &Arc<Self>, bytes: u64) -> Result<PooledBuffer> {
        let class = size_class(bytes);
        if class > self.max_buffer {
            return Err(Error::Gpu(format!(
                "a buffer of {bytes} bytes exceeds the device's max buffer size of {} bytes",
                self.max_buffer
            )));
        }
        let mut st = self.state.lock().map_err(|_| Error::Gpu("buffer pool lock poisoned".into()))?;
        let reused = st.free.get_mut(&class).and_then(|v| v.pop());
        let buffer = match reused {
            Some(b) => {
                st.stats.reuse_hits += 1;
                st.stats.pooled_bytes -= class;
                b
            }
            None => {
                st.stats.allocations += 1;
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("pretext tensor"),
                    size: class,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }
        };
        st.stats.live_bytes += class;
        st.stats.peak_live_bytes = st.stats.peak_live_bytes.max(st.stats.live_bytes);
        Ok(PooledBuffer { buffer, class, pool: self.clone() })
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> PoolStats {
        self.state.lock().map(|s| s.stats).unwrap_or_default()
    }

    /// Starts a new peak: `peak_live_bytes` becomes the bytes live now.
    pub fn reset_peak(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.stats.peak_live_bytes = st.stats.live_bytes;
        }
    }

    /// Destroys every free buffer (live ones are untouched).
    pub fn trim(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.free.clear();
            st.stats.pooled_bytes = 0;
        }
    }

    fn put_back(&self, class: u64, buffer: wgpu::Buffer) {
        if let Ok(mut st) = self.state.lock() {
            st.stats.live_bytes -= class;
            st.stats.pooled_bytes += class;
            st.free.entry(class).or_default().push(buffer);
        }
    }
}

impl PooledBuffer {
    /// The device buffer.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The buffer's size in bytes (its size class).
    pub fn capacity(&self) -> u64 {
        self.class
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        // wgpu buffers are reference-counted handles: the clone keeps the allocation alive in the free list.
        self.pool.put_back(self.class, self.buffer.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;
    #[test]
    fn classes_cover_and_waste_at_most_a_quarter() {
        for n in [0u64, 1, 255, 256, 257, 1000, 4096, 4097, 1 << 20, (1 << 20) + 1, 123_456_789] {
            let c = size_class(n);
            assert!(c >= n && c % 4 == 0, "class {c} for {n}");
            assert!(n <= 256 || (c - n) * 4 <= c, "class {c} wastes more than 25% of {n}");
        }
    }
}
