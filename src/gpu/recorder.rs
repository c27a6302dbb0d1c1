//! One-submit recording: dispatches, uploads and copies go into one pending command encoder,
//! submitted on `flush` (explicit, or implied by a read-back). Kernel parameters go into a uniform arena.
use std::time::Instant;

use super::timing::{Clock, MAX_TIMED, Timings};
use super::Gpu;
use crate::{Error, Result};

/// Bytes of one uniform arena chunk.
const CHUNK: u64 = 64 * 1024;

/// A storage buffer bound to a kernel: the first `size` bytes of `buffer`.
#[derive(Clone, Copy)]
pub struct Binding<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub size: u64,
}

/// One kernel launch: shader file and entry point, override constants, a uniform parameter block,
/// read-only inputs (bindings 1..) then read-write outputs, and the workgroup grid.
pub struct Dispatch<'a> {
    pub shader: &'static str,
    pub entry: &'static str,
    pub constants: &'a [(&'a str, f64)],
    pub params: &'a [u8],
    pub reads: &'a [Binding<'a>],
    pub writes: &'a [Binding<'a>],
    pub groups: [u32; 3],
}

/// The pending work of a device: encoder, uniform arena, timestamp queries.
pub struct Recording {
    encoder: Option<wgpu::CommandEncoder>,
    /// Commands recorded since the last submit.
    pending: u64,
    /// Submits so far.
    submits: u64,
    /// Dispatches recorded so far.
    dispatches: u64,
    align: u64,
    chunks: Vec<wgpu::Buffer>,
    shadows: Vec<Vec<u8>>,
    chunk: usize,
    profile: bool,
    clock: Clock,
    queries: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
    timed: Vec<String>,
    timings: Timings,
}

impl Recording {
    /// An empty recording; timestamp queries are prepared when the adapter has them.
    pub fn new(device: &wgpu::Device, limits: &wgpu::Limits, features: wgpu::Features, profile: bool) -> Recording {
        let queries = features.contains(wgpu::Features::TIMESTAMP_QUERY).then(|| {
            let n = 2 * MAX_TIMED;
            let set = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pretext timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: n,
            });
            let bytes = n as u64 * 8;
            let resolve = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pretext timestamp resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let read = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pretext timestamp read"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (set, resolve, read)
        });
        Recording {
            encoder: None,
            pending: 0,
            submits: 0,
            dispatches: 0,
            align: limits.min_uniform_buffer_offset_alignment.max(16) as u64,
            chunks: Vec::new(),
            shadows: Vec::new(),
            chunk: 0,
            profile,
            clock: if queries.is_some() { Clock::Timestamps } else { Clock::WallClock },
            queries,
            timed: Vec::new(),
            timings: Timings::default(),
        }
    }

    fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder
            .get_or_insert_with(|| device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pretext step") }))
    }

    /// Copies `params` into the arena; returns (chunk, offset, size).
    fn push_uniform(&mut self, device: &wgpu::Device, params: &[u8]) -> Result<(usize, u64, u64)> {
        let size = (params.len().max(16) as u64).next_multiple_of(16);
        if size > CHUNK {
            return Err(Error::Gpu(format!("kernel parameter block of {size} bytes exceeds {CHUNK}")));
        }
        loop {
            if self.chunk == self.chunks.len() {
                self.chunks.push(device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("pretext uniforms"),
                    size: CHUNK,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }));
                self.shadows.push(Vec::with_capacity(CHUNK as usize));
            }
            let shadow = &mut self.shadows[self.chunk];
            let offset = (shadow.len() as u64).next_multiple_of(self.align);
            if offset + size <= CHUNK {
                shadow.resize(offset as usize, 0);
                shadow.extend_from_slice(params);
                shadow.resize((offset + size) as usize, 0);
                return Ok((self.chunk, offset, size));
            }
            self.chunk += 1;
        }
    }
}

fn lock_err<T>(_: T) -> Error {
    Error::Gpu("recording lock poisoned".into())
}

impl Gpu {
    /// Records one kernel launch into the pending encoder (compiling its pipeline on first use).
    pub fn dispatch(&self, d: &Dispatch) -> Result<()> {
        let _serial = self.serial.enter();
        let max = self.limits().max_compute_workgroups_per_dimension;
        if d.groups.iter().any(|&g| g > max) {
            return Err(Error::Gpu(format!("{}::{}: grid {:?} exceeds {max} workgroups per dimension", d.shader, d.entry, d.groups)));
        }
        let storage = d.reads.len() + d.writes.len();
        let max = self.limits().max_storage_buffers_per_shader_stage;
        if storage > max as usize {
            return Err(Error::Gpu(format!(
                "{}::{}: binds {storage} storage buffers, but {} allows {max} per shader stage \
                 (the limit max_storage_buffers_per_shader_stage)",
                d.shader,
                d.entry,
                self.name()
            )));
        }
        let layout = self.pipelines.layout(&self.device, d.reads.len(), d.writes.len())?;
        let pipeline = self.pipelines.pipeline(&self.device, d.shader, d.entry, d.constants, &layout)?;
        let mut rec = self.rec.lock().map_err(lock_err)?;
        if rec.profile && rec.clock == Clock::Timestamps && rec.timed.len() as u32 >= MAX_TIMED {
            self.submit(&mut rec)?;
        }
        let (chunk, offset, size) = rec.push_uniform(&self.device, d.params)?;
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &rec.chunks[chunk],
                offset,
                size: wgpu::BufferSize::new(size),
            }),
        }];
        for (i, b) in d.reads.iter().chain(d.writes.iter()).enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: 1 + i as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b.buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(b.size.max(4).next_multiple_of(4)),
                }),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(d.entry),
            layout: &layout.bind_group,
            entries: &entries,
        });
        let name = format!("{}::{}", d.shader, d.entry);
        let timed = rec.profile && rec.clock == Clock::Timestamps;
        let index = rec.timed.len() as u32;
        let wall = rec.profile && rec.clock == Clock::WallClock;
        let started = Instant::now();
        {
            let query_set = rec.queries.as_ref().map(|q| q.0.clone());
            let enc = rec.encoder(&self.device);
            let timestamp_writes = match (&query_set, timed) {
                (Some(set), true) => Some(wgpu::ComputePassTimestampWrites {
                    query_set: set,
                    beginning_of_pass_write_index: Some(2 * index),
                    end_of_pass_write_index: Some(2 * index + 1),
                }),
                _ => None,
            };
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&name), timestamp_writes });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
        }
        rec.pending += 1;
        rec.dispatches += 1;
        if timed {
            rec.timed.push(name);
        } else if wall {
            self.submit(&mut rec)?;
            self.wait()?;
            rec.timings.samples.push((name, started.elapsed().as_secs_f64() * 1e3));
        }
        drop(rec);
        self.check_errors()
    }

    /// Records a copy of `data` into the start of `dst` (ordered after everything recorded before it).
    pub fn upload(&self, dst: &wgpu::Buffer, data: &[u8]) -> Result<()> {
        let _serial = self.serial.enter();
        if data.is_empty() {
            return Ok(());
        }
        let len = (data.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        if len > dst.size() {
            return Err(Error::Gpu(format!("upload of {} bytes into a buffer of {}", data.len(), dst.size())));
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pretext upload"),
            size: len,
            usage: wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        {
            let mut view = staging.slice(..).get_mapped_range_mut().map_err(|e| Error::Gpu(format!("upload map: {e}")))?;
            let mut padded = data.to_vec();
            padded.resize(len as usize, 0);
            view.copy_from_slice(&padded);
        }
        staging.unmap();
        let mut rec = self.rec.lock().map_err(lock_err)?;
        rec.encoder(&self.device).copy_buffer_to_buffer(&staging, 0, dst, 0, len);
        rec.pending += 1;
        drop(rec);
        self.check_errors()
    }

    /// Records a buffer-to-buffer copy of `bytes` bytes (a multiple of 4).
    pub fn copy(&self, src: &wgpu::Buffer, src_offset: u64, dst: &wgpu::Buffer, dst_offset: u64, bytes: u64) -> Result<()> {
        let _serial = self.serial.enter();
        if bytes == 0 {
            return Ok(());
        }
        let mut rec = self.rec.lock().map_err(lock_err)?;
        rec.encoder(&self.device).copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
        rec.pending += 1;
        drop(rec);
        self.check_errors()
    }

    /// Submits everything recorded so far (one submit) and, when profiling, collects the timestamps.
    pub fn flush(&self) -> Result<()> {
        let _serial = self.serial.enter();
        let mut rec = self.rec.lock().map_err(lock_err)?;
        self.submit(&mut rec)
    }

    /// Blocks until the device has finished all submitted work.
    pub fn wait(&self) -> Result<()> {
        let _serial = self.serial.enter();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))?;
        self.check_errors()
    }

    /// Reads `bytes` bytes from the start of `src`: submits pending work, waits, copies back.
    pub fn read(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let _serial = self.serial.enter();
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let len = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pretext read-back"),
            size: len,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut rec = self.rec.lock().map_err(lock_err)?;
            rec.encoder(&self.device).copy_buffer_to_buffer(src, 0, &staging, 0, len);
            rec.pending += 1;
            self.submit(&mut rec)?;
        }
        let out = self.map_read(&staging, len)?;
        Ok(out[..bytes as usize].to_vec())
    }

    fn map_read(&self, staging: &wgpu::Buffer, len: u64) -> Result<Vec<u8>> {
        let slice = staging.slice(..len);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Gpu("read-back callback never ran".into()))?
            .map_err(|e| Error::Gpu(format!("read-back map failed: {e}")))?;
        let data = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("read-back view: {e}")))?.to_vec();
        staging.unmap();
        Ok(data)
    }

    fn submit(&self, rec: &mut Recording) -> Result<()> {
        let timed = std::mem::take(&mut rec.timed);
        if rec.pending == 0 && timed.is_empty() {
            return Ok(());
        }
        for i in 0..=rec.chunk.min(rec.chunks.len().saturating_sub(1)) {
            if i < rec.shadows.len() && !rec.shadows[i].is_empty() {
                self.queue.write_buffer(&rec.chunks[i], 0, &rec.shadows[i]);
                rec.shadows[i].clear();
            }
        }
        rec.chunk = 0;
        let n = timed.len() as u32;
        if n > 0 {
            if let Some((set, resolve, read)) = rec.queries.clone() {
                let enc = rec.encoder(&self.device);
                enc.resolve_query_set(&set, 0..2 * n, &resolve, 0);
                enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, 2 * n as u64 * 8);
            }
        }
        if let Some(enc) = rec.encoder.take() {
            self.queue.submit([enc.finish()]);
            rec.submits += 1;
        }
        rec.pending = 0;
        if n > 0 {
            if let Some((_, _, read)) = rec.queries.clone() {
                let bytes = self.map_read(&read, 2 * n as u64 * 8)?;
                let ticks: &[u64] = bytemuck::cast_slice(&bytes);
                let period = self.queue.get_timestamp_period() as f64;
                for (i, name) in timed.into_iter().enumerate() {
                    let dt = ticks[2 * i + 1].wrapping_sub(ticks[2 * i]) as f64 * period * 1e-6;
                    rec.timings.samples.push((name, dt));
                }
            }
        }
        self.check_errors()
    }

    /// Number of queue submits so far.
    pub fn submits(&self) -> u64 {
        self.rec.lock().map(|r| r.submits).unwrap_or(0)
    }

    /// Number of kernel dispatches recorded so far.
    pub fn dispatches(&self) -> u64 {
        self.rec.lock().map(|r| r.dispatches).unwrap_or(0)
    }

    /// Turns per-dispatch timing on or off (pending work is submitted first); returns whether it was on, so a
    /// caller that times one section can restore the state it found (`--profile` of a whole command).
    pub fn set_profiling(&self, on: bool) -> Result<bool> {
        self.flush()?;
        let mut rec = self.rec.lock().map_err(lock_err)?;
        Ok(std::mem::replace(&mut rec.profile, on))
    }

    /// How this device times kernels.
    pub fn clock(&self) -> Clock {
        self.rec.lock().map(|r| r.clock).unwrap_or(Clock::WallClock)
    }

    /// Submits pending work and returns the (kernel, ms) samples timed since the last call.
    pub fn take_timings(&self) -> Result<Vec<(String, f64)>> {
        self.flush()?;
        Ok(std::mem::take(&mut self.rec.lock().map_err(lock_err)?.timings.samples))
    }

    /// Submits pending work and returns the per-kernel summary of the samples timed since the last call.
    pub fn take_profile(&self) -> Result<Vec<super::KernelTime>> {
        let samples = self.take_timings()?;
        Ok(Timings { samples }.summary())
    }
}

impl Gpu {
    /// A grid of `groups` workgroups folded into x and y so neither exceeds the adapter's per-dimension limit.
    /// Shaders recover the linear workgroup index as `wid.x + wid.y * nwg.x`.
    pub fn grid_1d(&self, groups: usize) -> Result<[u32; 3]> {
        let max = self.limits().max_compute_workgroups_per_dimension as usize;
        if groups <= max {
            return Ok([groups.max(1) as u32, 1, 1]);
        }
        let y = groups.div_ceil(max);
        if y > max {
            return Err(Error::Gpu(format!("{groups} workgroups exceed the adapter's grid of {max}x{max}")));
        }
        Ok([groups.div_ceil(y) as u32, y as u32, 1])
    }

    /// Records a fill of the first `b.size` bytes (rounded up to words) of a buffer with a 32-bit pattern
    /// (`shaders/fill.wgsl`).
    pub fn fill_words(&self, b: Binding, pattern: u32) -> Result<()> {
        let words = b.size.div_ceil(4) as usize;
        if words == 0 {
            return Ok(());
        }
        let params: [u32; 4] = [words as u32, pattern, 0, 0]; // = `Params` in fill.wgsl
        self.dispatch(&Dispatch {
            shader: "fill",
            entry: "fill",
            constants: &[],
            params: bytemuck::bytes_of(&params),
            reads: &[],
            writes: &[b],
            groups: self.grid_1d(words.div_ceil(256))?,
        })
    }

    /// When on, every new tensor is filled with NaN before use, so a kernel that leaves an element unwritten fails its test.
    pub fn set_poison(&self, on: bool) {
        self.poison.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether new tensors are poisoned.
    pub fn poison(&self) -> bool {
        self.poison.load(std::sync::atomic::Ordering::Relaxed)
    }
}
