//! Weight residency (issue 12, host tier): decoded tensors of an [`Archive`] cached under a
//! memory budget, handed out by `acquire` / `release`, decoded ahead by `prefetch`, evicted by
//! priority then recency when the budget is reached. The engine's loop: prefetch the next
//! layers, acquire this layer's weights, compute, release.
//!
//! Budget accounting: a tensor counts from the moment its decode is decided (so concurrent
//! decodes never overshoot) until it is evicted. Only unpinned tensors (no outstanding acquire)
//! are evicted; when the pinned ones leave no room, `acquire` fails with `Budget` rather than
//! exceed the budget or wait (it does wait for prefetches in flight, whose room becomes free
//! once they are decoded). Eviction policy (after seed 003's AutoSwap): `Conservative` evicts
//! just enough for the new tensor, `Balanced` down to 90% of the budget, `Aggressive` to 75%
//! (fewer, larger eviction rounds).
//!
//! Tiers: a manager keeps its decoded tensors in host memory ([`Residency::new`], `acquire`
//! gives bytes) or in GPU memory ([`Residency::new_device`], `acquire_device` gives a device
//! pointer, stream-ordered). The device tier decodes on the GPU (`Archive::decompress_device`,
//! on the library's own stream, so prefetches overlap the engine's compute) into blocks of the
//! library's own stream-ordered memory pool on the device (`cuMemAllocFromPoolAsync`, freed blocks kept for reuse; the
//! pool's fragmentation is reported); an acquire makes the caller's stream wait for the decode
//! (an event, no host synchronization), a release records an event on the caller's stream, and
//! an evicted block returns to the pool only after every stream that used it has passed its
//! release. The compressed containers stay where the archive keeps them (uploaded once, see
//! `Archive`). Per-tensor [`Placement`] hints choose GPU or CPU decoding ("CPU bursting": decode
//! on the system's CPU workers into pinned memory, then upload), and `Auto` bursts when the GPU
//! cannot decode a tensor; when the GPU has no room for a tensor's compressed container, the
//! other tensors' containers move off the GPU (`Archive::trim_device`) before the decode is
//! retried, then it bursts. Moved containers go to the pinned-host tier (page-locked host
//! memory, read back from the GPU, within the config's `pinned_host_limit_mb`, which is 0 (off)
//! by default; uploaded back from there without staging), the rest back to the archive's bytes
//! (the memory map); what a container's first decode found is kept across uploads. Device
//! memory is sampled by the system's monitor thread every `monitoring_interval_ms`
//! (`System::device_memory`), so the adaptive pressure mode reads a sample without calling the
//! driver.
//!
//! Thread safety: `Residency` is `Send + Sync`; many threads may acquire, release and prefetch
//! at once, and a tensor is decoded once however many threads ask for it at the same time
//! (late askers wait for the first decode).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::Archive;
use crate::backend::cuda::{CudaDevice, DeviceEvent};
use crate::backend::{DevicePtr, DeviceSlice};
use crate::error::{Error, Result};

/// How far eviction goes once the budget is reached (seed 003's `swap_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapPolicy {
    /// Evict only what the new tensor needs.
    Conservative,
    /// Evict down to 90% of the budget (the default).
    Balanced,
    /// Evict down to 75% of the budget.
    Aggressive,
}

impl From<super::SwapPolicyName> for SwapPolicy {
    fn from(n: super::SwapPolicyName) -> SwapPolicy {
        match n {
            super::SwapPolicyName::Conservative => SwapPolicy::Conservative,
            super::SwapPolicyName::Balanced => SwapPolicy::Balanced,
            super::SwapPolicyName::Aggressive => SwapPolicy::Aggressive,
        }
    }
}

impl SwapPolicy {
    /// Fraction of the budget that eviction leaves in use (before the new tensor).
    fn target(self) -> f64 {
        match self {
            SwapPolicy::Conservative => 1.0,
            SwapPolicy::Balanced => 0.9,
            SwapPolicy::Aggressive => 0.75,
        }
    }
}

/// Where a device-tier manager decodes a tensor (seed 003's `require_gpu` / `require_cpu`
/// hints; C ABI `saraphis_placement`: 0, 1, 2).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// On the GPU; on the CPU (decoded into pinned host memory, then uploaded: "CPU bursting")
    /// when the GPU cannot: its kernels cannot decode the tensor, or the GPU decode fails for
    /// lack of device memory (the container's upload). Counted in `cpu_bursts`.
    #[default]
    Auto = 0,
    /// On the GPU only: a tensor the GPU cannot decode is an error (`Unsupported` or `Device`),
    /// never a silent fallback.
    RequireGpu = 1,
    /// On the CPU workers, then uploaded (keeps the compressed container off the GPU).
    RequireCpu = 2,
}

impl Placement {
    /// From the C ABI value; `None` when out of range.
    pub fn from_u32(v: u32) -> Option<Placement> {
        match v {
            0 => Some(Placement::Auto),
            1 => Some(Placement::RequireGpu),
            2 => Some(Placement::RequireCpu),
            _ => None,
        }
    }
}

/// One decoded tensor, shared by its leases: 8-byte aligned (held as `u64` words), so that
/// every element type can be read in place.
#[derive(Debug)]
pub struct Block {
    words: Vec<u64>,
    len: usize,
}

impl Block {
    /// A zeroed block of `len` bytes. Errors: `Unsupported` when it cannot be allocated.
    fn zeroed(len: u64) -> Result<Block> {
        let n = usize::try_from(len.div_ceil(8))
            .map_err(|_| Error::Unsupported(format!("cannot allocate {len} bytes")))?;
        let mut words = Vec::new();
        words
            .try_reserve_exact(n)
            .map_err(|_| Error::Unsupported(format!("cannot allocate {len} bytes")))?;
        words.resize(n, 0);
        Ok(Block {
            words,
            len: len as usize,
        })
    }

    /// The tensor's bytes (exactly its `original_bytes`, little-endian, row-major), starting at
    /// an 8-byte aligned address.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len <= 8 * words.len()` bytes of initialized `u64`s, read as bytes.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, uniquely borrowed; any byte pattern is a valid `u64`.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
}

/// A decoded tensor of either tier.
#[derive(Clone)]
enum Payload {
    Host(Arc<Block>),
    Device(Arc<DeviceBlock>),
}

enum Slot {
    /// Budget reserved, a thread is decoding it.
    Decoding,
    /// Decoded and cached.
    Ready(Payload),
}

/// One decoded tensor in device memory (a block of the device's stream-ordered pool), shared by
/// its device leases. Dropped (evicted and no lease left): the library's own stream waits for
/// every release recorded on the block, then frees it to the pool; nothing blocks the host.
pub struct DeviceBlock {
    dev: Arc<CudaDevice>,
    ptr: u64,
    len: u64,
    /// Completes when the decode into the block is done (recorded on the decode's stream;
    /// shared by the blocks of one batched prefetch).
    ready: Arc<DeviceEvent>,
    /// Recorded by each release on the releasing stream: the block is reused only after them.
    releases: Mutex<Vec<DeviceEvent>>,
}

impl std::fmt::Debug for DeviceBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceBlock({:#x}, {} bytes)", self.ptr, self.len)
    }
}

impl DeviceBlock {
    /// Device address of the tensor's first byte (aligned to at least 256 bytes).
    pub fn addr(&self) -> u64 {
        self.ptr
    }

    /// The tensor's size, bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty tensor.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for DeviceBlock {
    fn drop(&mut self) {
        // SAFETY: the own stream is live for the device's lifetime; the block came from
        // pool_alloc_async and is freed once, after every recorded use.
        let _ = (|| -> Result<()> {
            let own = self.dev.own_stream()?;
            let rel = std::mem::take(&mut *self.releases.lock().unwrap_or_else(|p| p.into_inner()));
            unsafe {
                self.dev.stream_wait(own, &self.ready)?;
                for e in &rel {
                    self.dev.stream_wait(own, e)?;
                }
                self.dev.pool_free_async(self.ptr, own)
            }
        })();
    }
}

/// Where a manager keeps decoded tensors.
#[derive(Debug, Clone)]
enum Tier {
    Host,
    Device(Arc<CudaDevice>),
}

struct Entry {
    slot: Slot,
    bytes: u64,
    pins: u32,
    /// Acquires waiting for this decode: they count as pins for eviction, so the tensor they
    /// wait for is not evicted before they take it (decoded once).
    waiters: u32,
    last_use: u64,
    /// Decoded by a prefetch and not acquired since.
    prefetched: bool,
}

struct State {
    entries: HashMap<usize, Entry>,
    priority: HashMap<usize, i32>,
    placement: HashMap<usize, Placement>,
    clock: u64,
    resident: u64,
    peak: u64,
}

/// Record tensor `i` as being decoded and count its `bytes` against the budget (room already
/// made): pinned once for an acquire, unpinned for a prefetch.
fn reserve(st: &mut State, i: usize, bytes: u64, now: u64, prefetched: bool) {
    st.entries.insert(
        i,
        Entry {
            slot: Slot::Decoding,
            bytes,
            pins: u32::from(!prefetched),
            waiters: 0,
            last_use: now,
            prefetched,
        },
    );
    st.resident += bytes;
    st.peak = st.peak.max(st.resident);
}

/// Counters of a [`Residency`], read by [`Residency::stats`].
#[derive(Debug, Default)]
struct Counters {
    acquires: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    waits: AtomicU64,
    evictions: AtomicU64,
    evicted_bytes: AtomicU64,
    decodes: AtomicU64,
    decoded_bytes: AtomicU64,
    decode_nanos: AtomicU64,
    prefetches: AtomicU64,
    prefetch_hits: AtomicU64,
    failures: AtomicU64,
    cpu_bursts: AtomicU64,
}

/// A snapshot of a [`Residency`]'s state and counters (bytes, counts, seconds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResidencyStats {
    /// Where decoded tensors live: `"host"` or `"device"`.
    pub tier: &'static str,
    /// The eviction policy: `conservative`, `balanced` or `aggressive`.
    pub policy: &'static str,
    /// Tensors decoded ahead on each acquire by the optimization strategy (see
    /// `Residency::acquire_ahead`).
    pub prefetch_depth: usize,
    /// The budget, bytes.
    pub budget_bytes: u64,
    /// Bytes of decoded (or being decoded) tensors held now.
    pub resident_bytes: u64,
    /// Highest `resident_bytes` seen.
    pub peak_resident_bytes: u64,
    /// Bytes of tensors with an outstanding acquire.
    pub pinned_bytes: u64,
    /// Tensors held now.
    pub resident_tensors: u64,
    /// `acquire` calls that succeeded.
    pub acquires: u64,
    /// Successful acquires served from the cache at once (a prefetched tensor included).
    pub hits: u64,
    /// Successful acquires that decoded, or waited for a decode in flight.
    pub misses: u64,
    /// Acquires that waited for another thread's decode of the same tensor.
    pub waits: u64,
    /// Tensors evicted.
    pub evictions: u64,
    /// Bytes of the tensors evicted.
    pub evicted_bytes: u64,
    /// Decodes (acquire misses and prefetches).
    pub decodes: u64,
    /// Output bytes of those decodes.
    pub decoded_bytes: u64,
    /// Seconds spent in those decodes (summed over threads).
    pub decode_seconds: f64,
    /// Tensors a prefetch started decoding.
    pub prefetches: u64,
    /// Acquires that found a prefetched tensor ready (its first acquire only).
    pub prefetch_hits: u64,
    /// Acquires and prefetches that failed (budget, data errors).
    pub failures: u64,
    /// Device tier: decodes done on the CPU and uploaded (a `RequireCpu` hint, or `Auto` when
    /// the GPU could not decode); 0 on the host tier.
    pub cpu_bursts: u64,
    /// hits / acquires (0 before any).
    pub hit_rate: f64,
    /// resident / budget: the seeds' memory-pressure states at 0.5, 0.75, 0.9 and 0.95 of it
    /// (`low`, `moderate`, `high`, `critical`; `none` below 0.5).
    pub memory_state: &'static str,
    /// Device tier: the device memory pool's reserved and used bytes (all of the pool's users,
    /// this manager's blocks included); `None` on the host tier.
    pub pool: Option<crate::backend::cuda::PoolUsage>,
    /// Device tier: `1 - used / reserved` of the pool (held but unused memory); `None` on the
    /// host tier.
    pub pool_fragmentation: Option<f64>,
    /// Device tier: free and total device memory (`cuMemGetInfo`), bytes; `None` on the host
    /// tier.
    pub device_free_bytes: Option<u64>,
    /// See `device_free_bytes`.
    pub device_total_bytes: Option<u64>,
}

/// Decoded tensors of an archive under a host-memory budget. See the module documentation.
pub struct Residency {
    archive: Arc<Archive>,
    tier: Tier,
    budget: u64,
    policy: SwapPolicy,
    state: Mutex<State>,
    ready: Condvar,
    counters: Counters,
}

impl std::fmt::Debug for Residency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Residency")
            .field("budget", &self.budget)
            .field("policy", &self.policy)
            .finish()
    }
}

/// A tensor handed out by [`Residency::acquire`]: its bytes stay valid while the lease lives,
/// even after [`Residency::release`] (the block is shared); the budget counts it as pinned until
/// released, and not after: a lease kept past its release holds memory outside the budget.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The tensor's index in the archive.
    pub index: usize,
    /// The decoded bytes.
    pub block: Arc<Block>,
}

impl Drop for Residency {
    fn drop(&mut self) {
        // What this manager holds leaves the system's per-tier gauge.
        let held = self.lock().resident;
        self.archive.system().cache_sub(self.tier_gauge(), held);
        if let Tier::Device(dev) = &self.tier {
            // Blocks go back to the pool (frees enqueued on the own stream); then wait for the
            // device work of this manager, which reads the archive's device containers, so
            // that the archive may be dropped right after.
            self.lock().entries.clear();
            let _ = dev.synchronize_own_stream();
            // Freed blocks go back to the driver (blocks of other managers stay).
            let _ = dev.pool_trim();
        }
    }
}

/// A tensor handed out by [`Residency::acquire_device`]: its device bytes stay valid (the
/// block is not reused) while the lease lives and, for the stream that acquired it, until the
/// release; the budget counts it as pinned until released.
#[derive(Debug, Clone)]
pub struct DeviceLease {
    /// The tensor's index in the archive.
    pub index: usize,
    /// The decoded tensor in device memory.
    pub block: Arc<DeviceBlock>,
}

impl Residency {
    /// A residency manager for `archive` with `budget_bytes` of host memory for decoded tensors
    /// and an eviction `policy`. Errors: `InvalidArgument` for a zero budget.
    pub fn new(archive: Arc<Archive>, budget_bytes: u64, policy: SwapPolicy) -> Result<Residency> {
        Self::with_tier(archive, Tier::Host, budget_bytes, policy)
    }

    /// A residency manager whose decoded tensors live in the GPU memory of the archive's
    /// system (its CUDA device), at most `budget_bytes` of it, decoded on the GPU; handed out by
    /// [`Residency::acquire_device`]. A `budget_bytes` of 0 takes the system config's
    /// `gpu_memory_limit_mb`. Errors: `Device` (the system has no GPU), `InvalidArgument` (zero
    /// budget and no configured limit).
    pub fn new_device(
        archive: Arc<Archive>,
        budget_bytes: u64,
        policy: SwapPolicy,
    ) -> Result<Residency> {
        let dev = archive.system().cuda_device().cloned().ok_or_else(|| {
            Error::Device(format!(
                "a device-tier residency manager needs a GPU; this system runs on the CPU ({})",
                archive.system().device_status().1
            ))
        })?;
        let budget = match (budget_bytes, archive.system().config().gpu_memory_limit_mb) {
            (0, 0) => {
                return Err(Error::InvalidArgument(
                    "device budget 0 and no gpu_memory_limit_mb in the system's config".into(),
                ))
            }
            (0, mb) => mb << 20,
            (b, _) => b,
        };
        Self::with_tier(archive, Tier::Device(dev), budget, policy)
    }

    fn with_tier(
        archive: Arc<Archive>,
        tier: Tier,
        budget_bytes: u64,
        policy: SwapPolicy,
    ) -> Result<Residency> {
        if budget_bytes == 0 {
            return Err(Error::InvalidArgument(
                "residency budget must be at least one byte".into(),
            ));
        }
        Ok(Residency {
            archive,
            tier,
            budget: budget_bytes,
            policy,
            state: Mutex::new(State {
                entries: HashMap::new(),
                priority: HashMap::new(),
                placement: HashMap::new(),
                clock: 0,
                resident: 0,
                peak: 0,
            }),
            ready: Condvar::new(),
            counters: Counters::default(),
        })
    }

    /// The archive served.
    pub fn archive(&self) -> &Arc<Archive> {
        &self.archive
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The system's gauge of this manager's tier (decoded bytes held).
    fn tier_gauge(&self) -> usize {
        match self.tier {
            Tier::Host => super::cache::HOST_DECODED,
            Tier::Device(_) => super::cache::DEVICE_DECODED,
        }
    }

    /// Report to the system's statistics (`System::stats_json`): add `v` to slot `i`.
    fn report(&self, i: usize, v: u64) {
        self.archive.system().cache_add(i, v);
    }

    /// Set tensor `i`'s eviction priority (higher stays longer; default 0). Errors:
    /// `InvalidArgument` (out of range).
    pub fn set_priority(&self, i: usize, priority: i32) -> Result<()> {
        self.archive.info(i)?;
        self.lock().priority.insert(i, priority);
        Ok(())
    }

    /// Set where tensor `i` is decoded on a device-tier manager (default [`Placement::Auto`];
    /// the host tier always decodes on the CPU and ignores it). Applies to its next decode.
    /// Errors: `InvalidArgument` (out of range).
    pub fn set_placement(&self, i: usize, placement: Placement) -> Result<()> {
        self.archive.info(i)?;
        self.lock().placement.insert(i, placement);
        Ok(())
    }

    /// Make room for `need` bytes: evict unpinned, ready tensors by priority then recency
    /// until `resident + need` fits the policy's target (or at least the budget). Errors:
    /// `Budget` when pinned and in-flight tensors leave no room.
    fn make_room(&self, st: &mut State, i: usize, need: u64, for_prefetch: bool) -> Result<()> {
        if need > self.budget {
            return Err(Error::Budget(format!(
                "tensor {i} ('{}') is {need} bytes, more than the whole budget ({} bytes)",
                self.archive.entry(i).map_or("", |e| e.name.as_str()),
                self.budget
            )));
        }
        if st.resident + need <= self.budget {
            return Ok(());
        }
        let target = ((self.budget as f64 * self.policy.target()) as u64)
            .max(need)
            .min(self.budget);
        let mut victims: Vec<(i32, u64, usize, u64)> = st
            .entries
            .iter()
            // A prefetch never evicts another prefetch's tensor not yet acquired.
            .filter(|(_, e)| {
                e.pins == 0
                    && e.waiters == 0
                    && matches!(e.slot, Slot::Ready(_))
                    && !(for_prefetch && e.prefetched)
            })
            .map(|(&k, e)| {
                (
                    st.priority.get(&k).copied().unwrap_or(0),
                    e.last_use,
                    k,
                    e.bytes,
                )
            })
            .collect();
        victims.sort_unstable();
        let mut freed = 0u64;
        let mut chosen = Vec::new();
        for &(_, _, k, b) in &victims {
            if st.resident - freed + need <= target {
                break;
            }
            chosen.push(k);
            freed += b;
        }
        if st.resident - freed + need > self.budget {
            return Err(Error::Budget(format!(
                "no room for tensor {i} ({need} bytes): {} of the budget's {} bytes are pinned \
                 or being decoded",
                st.resident - victims.iter().map(|v| v.3).sum::<u64>(),
                self.budget
            )));
        }
        for k in chosen {
            if let Some(e) = st.entries.remove(&k) {
                st.resident -= e.bytes;
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                self.report(super::cache::EVICTIONS, 1);
                self.archive.system().cache_sub(self.tier_gauge(), e.bytes);
                self.counters
                    .evicted_bytes
                    .fetch_add(e.bytes, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Decode tensor `i` (its budget already reserved) and publish it; on failure the
    /// reservation is undone and waiters are woken to see the error themselves.
    fn decode(&self, i: usize, bytes: u64) -> Result<Payload> {
        let t0 = Instant::now();
        // A panic (a bug) must not leave the entry `Decoding` forever: undo it, then re-raise.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &self.tier {
            Tier::Host => {
                let mut b = Block::zeroed(bytes)?;
                self.archive.decompress_into(i, b.bytes_mut())?;
                Ok(Payload::Host(Arc::new(b)))
            }
            Tier::Device(dev) => self.decode_device(dev, i, bytes).map(Payload::Device),
        }));
        match self.publish(i, bytes, r, t0.elapsed().as_nanos() as u64) {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Publish the outcome of tensor `i`'s decode (its budget reserved): the decoded tensor,
    /// counted, or on failure the reservation undone; waiters are woken either way. A panic's
    /// payload is handed back for the caller to re-raise.
    fn publish(
        &self,
        i: usize,
        bytes: u64,
        r: std::thread::Result<Result<Payload>>,
        nanos: u64,
    ) -> std::result::Result<Result<Payload>, Box<dyn std::any::Any + Send>> {
        let mut st = self.lock();
        let out = match r {
            Ok(Ok(b)) => {
                self.counters.decodes.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .decoded_bytes
                    .fetch_add(bytes, Ordering::Relaxed);
                self.counters
                    .decode_nanos
                    .fetch_add(nanos, Ordering::Relaxed);
                if let Some(e) = st.entries.get_mut(&i) {
                    e.slot = Slot::Ready(b.clone());
                }
                Ok(Ok(b))
            }
            failed => {
                if let Some(en) = st.entries.remove(&i) {
                    st.resident -= en.bytes;
                    self.archive.system().cache_sub(self.tier_gauge(), en.bytes);
                }
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                match failed {
                    Ok(Err(e)) => Ok(Err(e)),
                    Err(panic) => Err(panic),
                    Ok(Ok(_)) => unreachable!(),
                }
            }
        };
        drop(st);
        self.ready.notify_all();
        out
    }

    /// Device tier: decode prefetched tensors `items` (index, bytes; budget reserved) together:
    /// a block each from the pool, then one `Archive::decompress_device_batch` on the library's
    /// own stream (one launch for lossless-v2 tensors decoded before: the many short decodes of
    /// a layer loop run side by side instead of one after another), one event for all. Tensors
    /// with a placement hint, and every tensor when the batch call fails, take the single
    /// decode path.
    fn decode_device_batch(&self, dev: &Arc<CudaDevice>, items: &[(usize, u64)]) {
        let t0 = Instant::now();
        let hinted = {
            let st = self.lock();
            items
                .iter()
                .map(|(i, _)| st.placement.get(i).is_some_and(|&p| p != Placement::Auto))
                .collect::<Vec<bool>>()
        };
        let (batch, single): (Vec<_>, Vec<_>) = items
            .iter()
            .zip(hinted)
            .partition(|(&(i, _), hinted)| !hinted && self.archive.device_resident(i).is_some());
        let batch: Vec<(usize, u64)> = batch.into_iter().map(|(&it, _)| it).collect();
        let mut rest: Vec<(usize, u64)> = single.into_iter().map(|(&it, _)| it).collect();
        let done = (|| -> Result<Vec<(usize, u64, u64)>> {
            let own = dev.own_stream()?;
            let mut blocks = Vec::with_capacity(batch.len());
            for &(i, bytes) in &batch {
                // SAFETY: own is the device's live stream; freed below on failure.
                match unsafe { dev.pool_alloc_async(bytes, own) } {
                    Ok(p) => blocks.push((i, bytes, p)),
                    Err(e) => {
                        for &(_, _, p) in &blocks {
                            // SAFETY: nothing used these blocks yet.
                            let _ = unsafe { dev.pool_free_async(p, own) };
                        }
                        return Err(e);
                    }
                }
            }
            let list: Vec<(usize, DeviceSlice)> = blocks
                .iter()
                .map(|&(i, b, p)| (i, DeviceSlice::new(DevicePtr(p), b)))
                .collect();
            // SAFETY: fresh pool blocks of the tensors' sizes, ordered on own.
            if let Err(e) = unsafe { self.archive.decompress_device_batch(&list, own) } {
                for &(_, _, p) in &blocks {
                    // SAFETY: work that used them (if any) precedes this on own.
                    let _ = unsafe { dev.pool_free_async(p, own) };
                }
                return Err(e);
            }
            Ok(blocks)
        })();
        match done {
            Ok(blocks) if !blocks.is_empty() => {
                // SAFETY: own is live; the event follows every decode of the batch.
                let ready = dev
                    .own_stream()
                    .and_then(|own| unsafe { dev.record_event(own) });
                match ready {
                    Ok(ev) => {
                        let ev = Arc::new(ev);
                        let nanos = t0.elapsed().as_nanos() as u64 / blocks.len() as u64;
                        for (i, bytes, ptr) in blocks {
                            let b = Arc::new(DeviceBlock {
                                dev: dev.clone(),
                                ptr,
                                len: bytes,
                                ready: ev.clone(),
                                releases: Mutex::new(Vec::new()),
                            });
                            let _ = self.publish(i, bytes, Ok(Ok(Payload::Device(b))), nanos);
                        }
                    }
                    Err(_) => {
                        // No event to order them: free the blocks (after the batch on the own
                        // stream) and decode those tensors one by one.
                        if let Ok(own) = dev.own_stream() {
                            for &(_, _, p) in &blocks {
                                // SAFETY: the batch that used them precedes this on own.
                                let _ = unsafe { dev.pool_free_async(p, own) };
                            }
                        }
                        rest.extend(blocks.iter().map(|&(i, b, _)| (i, b)));
                    }
                }
            }
            Ok(_) => {}
            Err(_) => rest.extend(batch),
        }
        for (i, bytes) in rest {
            // Errors and panics are the acquire's to report (it decodes again).
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.decode(i, bytes)));
        }
    }

    /// Decode tensor `i` into a new block of the device's pool, on the library's own stream
    /// (the first decode of a tensor also checks its chunk statuses, synchronously; later
    /// decodes only enqueue). The block is ready for other streams through its `ready` event.
    fn decode_device(
        &self,
        dev: &Arc<CudaDevice>,
        i: usize,
        bytes: u64,
    ) -> Result<Arc<DeviceBlock>> {
        let own = dev.own_stream()?;
        let placement = self.lock().placement.get(&i).copied().unwrap_or_default();
        // SAFETY: own is the device's live stream; the block is freed once (by its drop, or
        // below when the decode cannot be enqueued).
        let ptr = unsafe { dev.pool_alloc_async(bytes, own)? };
        let done = (|| -> Result<DeviceEvent> {
            let dst = DeviceSlice::new(DevicePtr(ptr), bytes);
            // SAFETY: dst is a live pool block of `bytes` bytes ordered on own; nothing else
            // uses it before the `ready` event.
            unsafe {
                let burst = || -> Result<()> {
                    self.counters.cpu_bursts.fetch_add(1, Ordering::Relaxed);
                    self.report(super::cache::CPU_BURSTS, 1);
                    dev.upload_from_host(ptr, bytes, own, |host| {
                        self.archive.decompress_into(i, host)
                    })
                };
                match placement {
                    Placement::RequireCpu => burst()?,
                    Placement::RequireGpu => {
                        self.archive.decompress_device_with(i, dst, own, false)?
                    }
                    // Adaptive pressure mode: while device memory is critical, keep new
                    // containers off the GPU (decode on the CPU and upload the tensor).
                    Placement::Auto
                        if self.archive.system().config().memory_pressure_mode
                            == super::PressureMode::Adaptive
                            && self.archive.system().device_memory_state() == "critical"
                            && self.archive.device_resident(i).is_none() =>
                    {
                        burst()?
                    }
                    Placement::Auto => {
                        match self.archive.decompress_device_with(i, dst, own, false) {
                            Ok(()) => {}
                            // The kernels cannot decode it: on the CPU, then upload.
                            Err(Error::Unsupported(_)) => burst()?,
                            // No room on the GPU (its container's upload): move other
                            // tensors' containers back to the host tier and try once more,
                            // else decode on the CPU and upload only the tensor.
                            Err(Error::Device(_)) => {
                                let retried = self
                                    .archive
                                    .trim_device(0, Some(i))
                                    .ok()
                                    .filter(|&f| f > 0)
                                    .map(|_| {
                                        self.report(super::cache::CONTAINER_MOVES, 1);
                                        self.archive.decompress_device_with(i, dst, own, false)
                                    });
                                match retried {
                                    Some(Ok(())) => {}
                                    _ => burst()?,
                                }
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                dev.record_event(own)
            }
        })();
        match done {
            Ok(ready) => Ok(Arc::new(DeviceBlock {
                dev: dev.clone(),
                ptr,
                len: bytes,
                ready: Arc::new(ready),
                releases: Mutex::new(Vec::new()),
            })),
            Err(e) => {
                // SAFETY: enqueued work that used ptr (if any) precedes this on own.
                let _ = unsafe { dev.pool_free_async(ptr, own) };
                Err(e)
            }
        }
    }

    /// Tensor `i`, decoded (from the cache, from a decode in flight, or decoded now on the
    /// calling thread with the system's pool), pinned until [`Residency::release`]. Errors:
    /// `InvalidArgument` (out of range), `Budget` (no room: pinned tensors fill the budget, or
    /// the tensor alone exceeds it), and the archive's decode errors (`Checksum` naming the
    /// tensor, ...).
    pub fn acquire(&self, i: usize) -> Result<Lease> {
        if let Tier::Device(_) = self.tier {
            return Err(Error::InvalidArgument(
                "this residency manager keeps tensors on the GPU: use acquire_device".into(),
            ));
        }
        match self.acquire_payload(i)? {
            Payload::Host(block) => Ok(Lease { index: i, block }),
            Payload::Device(_) => unreachable!("a host-tier manager holds host blocks"),
        }
    }

    /// Tensor `i` decoded in GPU memory (device tier, [`Residency::new_device`]): from the
    /// cache, a decode in flight, or decoded now on the GPU; pinned until
    /// [`Residency::release_device`]. `stream` (a `CUstream` of the system GPU's primary
    /// context; null = the library's own stream) is made to wait for the decode on the device:
    /// work enqueued on it afterwards may read the tensor; the host is not blocked (except by a
    /// tensor's first decode, which checks its chunk statuses). Errors: as
    /// [`Residency::acquire`], `InvalidArgument` on a host-tier manager, `Device`.
    ///
    /// # Safety
    /// `stream` is null or a live stream of the system GPU's primary context.
    pub unsafe fn acquire_device(
        &self,
        i: usize,
        stream: *mut std::ffi::c_void,
    ) -> Result<DeviceLease> {
        let Tier::Device(dev) = &self.tier else {
            return Err(Error::InvalidArgument(
                "this residency manager keeps tensors in host memory: use acquire".into(),
            ));
        };
        let stream = dev.stream_or_own(stream)?;
        let block = match self.acquire_payload(i)? {
            Payload::Device(b) => b,
            Payload::Host(_) => unreachable!("a device-tier manager holds device blocks"),
        };
        if let Err(e) = dev.stream_wait(stream, &block.ready) {
            let _ = self.release_pin(i);
            return Err(e);
        }
        Ok(DeviceLease { index: i, block })
    }

    /// [`Residency::acquire`], then decode ahead the next tensors as the system's
    /// optimization strategy says (`prefetch_depth` of [`super::Strategy::knobs`]; the adaptive
    /// strategy uses 2 while this manager's acquires miss more than they hit, else 0): what the
    /// C API's acquire does. Errors: as `acquire`.
    pub fn acquire_ahead(self: &Arc<Self>, i: usize) -> Result<Lease> {
        let l = self.acquire(i)?;
        self.prefetch_ahead(i);
        Ok(l)
    }

    /// [`Residency::acquire_device`] with the strategy's decoding ahead, as
    /// [`Residency::acquire_ahead`].
    ///
    /// # Safety
    /// As [`Residency::acquire_device`].
    pub unsafe fn acquire_device_ahead(
        self: &Arc<Self>,
        i: usize,
        stream: *mut std::ffi::c_void,
    ) -> Result<DeviceLease> {
        let l = self.acquire_device(i, stream)?;
        self.prefetch_ahead(i);
        Ok(l)
    }

    /// The strategy's prefetch depth now.
    pub fn prefetch_depth(&self) -> usize {
        let strategy = self.archive.system().config().optimization_strategy;
        if strategy == super::Strategy::Adaptive {
            let (hits, misses) = (
                self.counters.hits.load(Ordering::Relaxed),
                self.counters.misses.load(Ordering::Relaxed),
            );
            if hits + misses >= 8 && misses > hits {
                2
            } else {
                0
            }
        } else {
            strategy.knobs().prefetch_depth
        }
    }

    fn prefetch_ahead(self: &Arc<Self>, i: usize) {
        let depth = self.prefetch_depth();
        if depth > 0 {
            let next: Vec<usize> = (i + 1..=i + depth)
                .filter(|&k| k < self.archive.len())
                .collect();
            // Best effort: a prefetch that does not fit is the next acquire's to decode.
            let _ = self.prefetch(&next);
        }
    }

    fn acquire_payload(&self, i: usize) -> Result<Payload> {
        let bytes = self.archive.info(i)?.original_bytes;
        let mut st = self.lock();
        let mut waited = false;
        loop {
            st.clock += 1;
            let now = st.clock;
            match st.entries.get_mut(&i) {
                Some(e) => match &e.slot {
                    Slot::Ready(b) => {
                        let b = b.clone();
                        e.pins += 1;
                        e.last_use = now;
                        if std::mem::take(&mut e.prefetched) {
                            self.counters.prefetch_hits.fetch_add(1, Ordering::Relaxed);
                        }
                        self.counters.acquires.fetch_add(1, Ordering::Relaxed);
                        let (c, slot) = if waited {
                            (&self.counters.misses, super::cache::MISSES)
                        } else {
                            (&self.counters.hits, super::cache::HITS)
                        };
                        c.fetch_add(1, Ordering::Relaxed);
                        self.report(slot, 1);
                        return Ok(b);
                    }
                    Slot::Decoding => {
                        if !waited {
                            self.counters.waits.fetch_add(1, Ordering::Relaxed);
                            waited = true;
                        }
                        e.waiters += 1;
                        st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
                        if let Some(e) = st.entries.get_mut(&i) {
                            e.waiters -= 1;
                        }
                    }
                },
                None => {
                    if let Err(e) = self.make_room(&mut st, i, bytes, false) {
                        // Prefetches in flight hold room they will give up once decoded
                        // (unpinned, hence evictable): wait for them rather than fail.
                        let in_flight = st
                            .entries
                            .values()
                            .any(|e| e.pins == 0 && matches!(e.slot, Slot::Decoding));
                        if in_flight && bytes <= self.budget {
                            st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
                            continue;
                        }
                        self.counters.failures.fetch_add(1, Ordering::Relaxed);
                        return Err(e);
                    }
                    reserve(&mut st, i, bytes, now, false);
                    self.report(self.tier_gauge(), bytes);
                    drop(st);
                    let b = self.decode(i, bytes)?;
                    self.counters.acquires.fetch_add(1, Ordering::Relaxed);
                    self.counters.misses.fetch_add(1, Ordering::Relaxed);
                    self.report(super::cache::MISSES, 1);
                    return Ok(b);
                }
            }
        }
    }

    /// Unpin tensor `i` (one acquire's worth): once no acquire is outstanding it may be evicted.
    /// Errors: `InvalidArgument` when `i` is not acquired.
    pub fn release(&self, i: usize) -> Result<()> {
        if let Tier::Device(_) = self.tier {
            return Err(Error::InvalidArgument(
                "this residency manager keeps tensors on the GPU: use release_device".into(),
            ));
        }
        self.release_pin(i)
    }

    /// Unpin tensor `i` after device use (one `acquire_device`'s worth): an event recorded on
    /// `stream` (null = the library's own stream) marks the end of that stream's use, and the
    /// block is reused only once it completes. Work enqueued on `stream` after the release must
    /// not read the tensor. Errors: `InvalidArgument` (not acquired, or a host-tier manager),
    /// `Device`.
    ///
    /// # Safety
    /// `stream` is null or a live stream of the system GPU's primary context.
    pub unsafe fn release_device(&self, i: usize, stream: *mut std::ffi::c_void) -> Result<()> {
        let Tier::Device(dev) = &self.tier else {
            return Err(Error::InvalidArgument(
                "this residency manager keeps tensors in host memory: use release".into(),
            ));
        };
        let stream = dev.stream_or_own(stream)?;
        let block = {
            let st = self.lock();
            match st.entries.get(&i) {
                Some(Entry {
                    slot: Slot::Ready(Payload::Device(b)),
                    pins,
                    ..
                }) if *pins > 0 => b.clone(),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "release of tensor {i}, which is not acquired"
                    )))
                }
            }
        };
        let ev = dev.record_event(stream)?;
        block
            .releases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ev);
        self.release_pin(i)
    }

    fn release_pin(&self, i: usize) -> Result<()> {
        let mut st = self.lock();
        match st.entries.get_mut(&i) {
            Some(e) if e.pins > 0 && matches!(e.slot, Slot::Ready(_)) => {
                e.pins -= 1;
                Ok(())
            }
            _ => Err(Error::InvalidArgument(format!(
                "release of tensor {i}, which is not acquired"
            ))),
        }
    }

    /// Start decoding `indices` ahead of their acquires, in the background on the system's
    /// thread pool (device tier: enqueued on the GPU from the calling thread, all of them in one
    /// batched decode), as far as the budget allows: room is made by evicting unpinned tensors in
    /// the usual priority and recency order, never pinned ones or decodes in flight. Tensors
    /// already resident or in flight are skipped; a tensor that does not fit stops the prefetch
    /// there (its acquire will decode it), and a prefetch never evicts tensors that an earlier
    /// prefetch decoded and no acquire has used yet. Returns how many decodes it started. Errors:
    /// `InvalidArgument` (an index out of range; nothing started).
    pub fn prefetch(self: &Arc<Self>, indices: &[usize]) -> Result<usize> {
        let mut sizes = Vec::with_capacity(indices.len());
        for &i in indices {
            sizes.push(self.archive.info(i)?.original_bytes);
        }
        let mut started = 0;
        let mut device_items = Vec::new();
        let mut st = self.lock();
        for (&i, &bytes) in indices.iter().zip(&sizes) {
            if st.entries.contains_key(&i) {
                continue;
            }
            if self.make_room(&mut st, i, bytes, true).is_err() {
                break;
            }
            st.clock += 1;
            let now = st.clock;
            reserve(&mut st, i, bytes, now, true);
            self.report(self.tier_gauge(), bytes);
            self.counters.prefetches.fetch_add(1, Ordering::Relaxed);
            started += 1;
            if let Tier::Device(_) = self.tier {
                device_items.push((i, bytes));
                continue;
            }
            let me = self.clone();
            self.archive.system().spawn(move || {
                // Errors and panics are the acquire's to report (it decodes again); a panic
                // must not unwind into the pool, which would abort the process.
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| me.decode(i, bytes)));
            });
        }
        drop(st);
        if let (Tier::Device(dev), false) = (&self.tier, device_items.is_empty()) {
            // The device tier enqueues its decodes from the calling thread, all in one batch.
            self.decode_device_batch(dev, &device_items);
        }
        Ok(started)
    }

    /// Wait until no decode started by [`Residency::prefetch`] (or an acquire) is in flight.
    pub fn wait_idle(&self) {
        let mut st = self.lock();
        while st
            .entries
            .values()
            .any(|e| matches!(e.slot, Slot::Decoding))
        {
            st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The current state and counters.
    pub fn stats(&self) -> ResidencyStats {
        let st = self.lock();
        let c = &self.counters;
        let pinned = st
            .entries
            .values()
            .filter(|e| e.pins > 0)
            .map(|e| e.bytes)
            .sum();
        let acquires = c.acquires.load(Ordering::Relaxed);
        let hits = c.hits.load(Ordering::Relaxed);
        let pressure = st.resident as f64 / self.budget as f64;
        let (pool, mem) = match &self.tier {
            Tier::Host => (None, None),
            Tier::Device(d) => (d.pool_usage().ok(), d.memory_info().ok()),
        };
        ResidencyStats {
            tier: match self.tier {
                Tier::Host => "host",
                Tier::Device(_) => "device",
            },
            policy: match self.policy {
                SwapPolicy::Conservative => "conservative",
                SwapPolicy::Balanced => "balanced",
                SwapPolicy::Aggressive => "aggressive",
            },
            prefetch_depth: self.prefetch_depth(),
            pool,
            pool_fragmentation: pool.map(|p| p.fragmentation()),
            device_free_bytes: mem.map(|m| m.0),
            device_total_bytes: mem.map(|m| m.1),
            budget_bytes: self.budget,
            resident_bytes: st.resident,
            peak_resident_bytes: st.peak,
            pinned_bytes: pinned,
            resident_tensors: st.entries.len() as u64,
            acquires,
            hits,
            misses: c.misses.load(Ordering::Relaxed),
            waits: c.waits.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            evicted_bytes: c.evicted_bytes.load(Ordering::Relaxed),
            decodes: c.decodes.load(Ordering::Relaxed),
            decoded_bytes: c.decoded_bytes.load(Ordering::Relaxed),
            decode_seconds: c.decode_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            prefetches: c.prefetches.load(Ordering::Relaxed),
            prefetch_hits: c.prefetch_hits.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            cpu_bursts: c.cpu_bursts.load(Ordering::Relaxed),
            hit_rate: if acquires > 0 {
                hits as f64 / acquires as f64
            } else {
                0.0
            },
            memory_state: self
                .archive
                .system()
                .config()
                .swap_thresholds
                .state(pressure),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecParams;
    use crate::system::{Config, System};

    fn archive(codec: CodecParams) -> (Arc<Archive>, Vec<Vec<u8>>) {
        let src = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/minilm-subset-f32.safetensors"
        ))
        .unwrap();
        let sys = Arc::new(
            System::new(Config {
                device: crate::system::Device::Cpu,
                ..Config::default()
            })
            .unwrap(),
        );
        let (cur, _, _) = sys
            .compress_safetensors(&src, std::io::Cursor::new(Vec::new()), codec, &|_, _, _| {})
            .unwrap();
        let a = Archive::from_vec(sys, cur.into_inner()).unwrap();
        let st = safetensors::SafeTensors::deserialize(&src).unwrap();
        let want = (0..a.len())
            .map(|i| {
                st.tensor(&a.entry(i).unwrap().name)
                    .unwrap()
                    .data()
                    .to_vec()
            })
            .collect();
        (Arc::new(a), want)
    }

    /// The system's statistics add up every manager's: cache hits, misses and evictions, and
    /// the decoded bytes held per tier, which return to zero when the managers are gone.
    #[test]
    fn system_statistics_sum_the_managers() {
        let (a, want) = archive(CodecParams::Lossless);
        let total: u64 = want.iter().map(|w| w.len() as u64).sum();
        let largest = want.iter().map(|w| w.len() as u64).max().unwrap();
        let sys = a.system().clone();
        let json = |s: &crate::system::System| -> serde_json::Value {
            serde_json::from_str(&s.stats_json()).unwrap()
        };
        let (mut hits, mut misses, mut evictions) = (0, 0, 0);
        {
            let r1 =
                Residency::new(a.clone(), (total / 3).max(largest), SwapPolicy::Balanced).unwrap();
            let r2 = Residency::new(a.clone(), total, SwapPolicy::Balanced).unwrap();
            for _ in 0..2 {
                for i in 0..a.len() {
                    for r in [&r1, &r2] {
                        r.acquire(i).unwrap();
                        r.release(i).unwrap();
                    }
                }
            }
            for r in [&r1, &r2] {
                let s = r.stats();
                hits += s.hits;
                misses += s.misses;
                evictions += s.evictions;
            }
            let v = json(&sys);
            assert_eq!(v["cache"]["hits"], hits);
            assert_eq!(v["cache"]["misses"], misses);
            assert_eq!(v["cache"]["evictions"], evictions);
            assert!(evictions > 0);
            assert_eq!(
                v["bytes_per_tier"]["host_decoded"].as_u64().unwrap(),
                r1.stats().resident_bytes + r2.stats().resident_bytes
            );
            assert_eq!(v["bytes_per_tier"]["device_decoded"], 0);
            assert_eq!(v["memory_pressure"]["memory_state"], "none");
        }
        assert_eq!(json(&sys)["bytes_per_tier"]["host_decoded"], 0);
    }

    /// The optimization strategy's prefetch depth: `throughput` decodes the next two tensors on
    /// each acquire (through `acquire_ahead`), `balanced` none, `adaptive` starts at none and
    /// rises to two while acquires miss; `enable_profiling = false` leaves throughput and latency
    /// out of the system statistics; thresholds move `memory_state`.
    #[test]
    fn configuration_knobs_take_effect() {
        use crate::system::{Strategy, Thresholds};
        let src = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/minilm-subset-f32.safetensors"
        ))
        .unwrap();
        let make = |strategy: Strategy, profiling: bool| {
            let sys = Arc::new(
                System::new(Config {
                    device: crate::system::Device::Cpu,
                    optimization_strategy: strategy,
                    enable_profiling: profiling,
                    swap_thresholds: Thresholds {
                        low: 0.1,
                        moderate: 0.2,
                        high: 0.3,
                        critical: 0.4,
                    },
                    ..Config::default()
                })
                .unwrap(),
            );
            let (cur, _, _) = sys
                .compress_safetensors(
                    &src,
                    std::io::Cursor::new(Vec::new()),
                    CodecParams::Lossless,
                    &|_, _, _| {},
                )
                .unwrap();
            Arc::new(Archive::from_vec(sys, cur.into_inner()).unwrap())
        };
        for (strategy, depth) in [(Strategy::Throughput, 2), (Strategy::Balanced, 0)] {
            let a = make(strategy, true);
            let r =
                Arc::new(Residency::new(a.clone(), u64::MAX / 4, SwapPolicy::Balanced).unwrap());
            assert_eq!(r.prefetch_depth(), depth);
            for i in 0..a.len() {
                r.acquire_ahead(i).unwrap();
                r.release(i).unwrap();
            }
            r.wait_idle();
            let s = r.stats();
            assert_eq!(s.prefetch_depth, depth);
            if depth > 0 {
                assert!(
                    s.prefetches > 0 && s.prefetch_hits > 0,
                    "{strategy:?}: {s:?}"
                );
            } else {
                assert_eq!(s.prefetches, 0);
            }
        }
        let a = make(Strategy::Adaptive, false);
        let r = Arc::new(Residency::new(a.clone(), u64::MAX / 4, SwapPolicy::Balanced).unwrap());
        assert_eq!(r.prefetch_depth(), 0);
        for i in 0..8.min(a.len()) {
            r.acquire_ahead(i).unwrap(); // all misses: nothing prefetched yet
            r.release(i).unwrap();
        }
        assert_eq!(r.prefetch_depth(), 2, "adaptive rises on misses");
        let v: serde_json::Value = serde_json::from_str(&a.system().stats_json()).unwrap();
        assert!(v["throughput"].is_null() && v["latency"].is_null(), "{v}");
        assert_eq!(v["optimization_strategy"], "adaptive");
        // A quarter of the budget in use is "moderate" at these thresholds (0.1/0.2/0.3/0.4).
        let total: u64 = (0..a.len())
            .map(|i| a.info(i).unwrap().original_bytes)
            .sum();
        let q = Residency::new(a.clone(), total * 4, SwapPolicy::Balanced).unwrap();
        for i in 0..a.len() {
            q.acquire(i).unwrap();
        }
        assert_eq!(q.stats().memory_state, "moderate");
    }

    /// The device tier needs a GPU: on a CPU system it is refused with `Device`, and the host
    /// tier refuses the device calls (and the other way round is tested on the GPU).
    #[test]
    fn device_tier_on_a_cpu_system_is_refused() {
        let (a, _) = archive(CodecParams::Lossless);
        let e = Residency::new_device(a.clone(), 1 << 20, SwapPolicy::Balanced).unwrap_err();
        assert!(matches!(e, Error::Device(_)), "{e}");
        let r = Residency::new(a, 1 << 20, SwapPolicy::Balanced).unwrap();
        let null = std::ptr::null_mut();
        assert!(matches!(
            unsafe { r.acquire_device(0, null) },
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            unsafe { r.release_device(0, null) },
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(r.stats().tier, "host");
        assert!(r.stats().pool.is_none());
    }

    /// An engine's loop over every tensor, twice, under a quarter of the decoded model, with
    /// the next two prefetched: every tensor bit-exact, the budget never exceeded, the counters
    /// consistent.
    #[test]
    fn layer_walk_under_a_quarter_budget_with_prefetch() {
        let (a, want) = archive(CodecParams::Lossless);
        let total: u64 = want.iter().map(|w| w.len() as u64).sum();
        let largest = want.iter().map(|w| w.len() as u64).max().unwrap();
        let budget = (total / 4).max(largest);
        for policy in [
            SwapPolicy::Conservative,
            SwapPolicy::Balanced,
            SwapPolicy::Aggressive,
        ] {
            let r = Arc::new(Residency::new(a.clone(), budget, policy).unwrap());
            let n = a.len();
            for _pass in 0..2 {
                for (i, w) in want.iter().enumerate() {
                    let next: Vec<usize> = (i + 1..(i + 3).min(n)).collect();
                    r.prefetch(&next).unwrap();
                    let l = r.acquire(i).unwrap();
                    assert!(l.block.bytes() == w.as_slice(), "tensor {i}");
                    let s = r.stats();
                    assert!(s.resident_bytes <= budget, "{policy:?}: over budget");
                    r.release(i).unwrap();
                }
            }
            r.wait_idle();
            let s = r.stats();
            assert_eq!(s.acquires, 2 * n as u64);
            assert_eq!(s.hits + s.misses, s.acquires, "{s:?}");
            assert!(s.peak_resident_bytes <= budget);
            assert!(s.evictions > 0, "a quarter budget must evict");
            assert_eq!(s.pinned_bytes, 0);
            assert_eq!(s.failures, 0);
            assert!(s.prefetches > 0 && s.prefetch_hits > 0, "{s:?}");
            assert!(s.decodes as usize >= n);
        }
    }

    #[test]
    fn budget_errors_and_release_misuse() {
        let (a, want) = archive(CodecParams::Lossless);
        let mut by_size: Vec<usize> = (0..a.len()).collect();
        by_size.sort_by_key(|&i| want[i].len());
        let (small, big) = (by_size[0], *by_size.last().unwrap());
        // A tensor larger than the whole budget.
        let r =
            Residency::new(a.clone(), want[big].len() as u64 - 1, SwapPolicy::Balanced).unwrap();
        assert!(matches!(r.acquire(big), Err(Error::Budget(_))));
        // Pinned tensors fill the budget: the next acquire is refused, not over budget.
        let r = Residency::new(a.clone(), want[big].len() as u64, SwapPolicy::Balanced).unwrap();
        let l = r.acquire(big).unwrap();
        assert!(matches!(r.acquire(small), Err(Error::Budget(_))));
        assert_eq!(r.stats().failures, 1);
        drop(l);
        r.release(big).unwrap();
        assert!(r.acquire(small).unwrap().block.bytes() == want[small].as_slice());
        assert_eq!(r.stats().evictions, 1);
        assert!(matches!(r.release(big), Err(Error::InvalidArgument(_))));
        assert!(matches!(r.acquire(a.len()), Err(Error::InvalidArgument(_))));
        assert!(Residency::new(a, 0, SwapPolicy::Balanced).is_err());
    }

    /// Priority beats recency: a high-priority tensor stays while older low-priority ones go.
    #[test]
    fn priority_then_recency() {
        let (a, want) = archive(CodecParams::Lossless);
        let mut by_size: Vec<usize> = (0..a.len()).collect();
        by_size.sort_by_key(|&i| want[i].len());
        let three: Vec<usize> = by_size[..3].to_vec();
        let budget: u64 = three[..2]
            .iter()
            .map(|&i| want[i].len() as u64)
            .sum::<u64>()
            + want[three[2]].len() as u64
            - 1;
        let r = Residency::new(a, budget, SwapPolicy::Conservative).unwrap();
        r.set_priority(three[0], 5).unwrap();
        for &i in &three[..2] {
            r.acquire(i).unwrap();
            r.release(i).unwrap();
        }
        // three[0] is the least recently used but has priority: three[1] goes.
        r.acquire(three[2]).unwrap();
        r.release(three[2]).unwrap();
        let before = r.stats().decodes;
        r.acquire(three[0]).unwrap();
        assert_eq!(r.stats().decodes, before, "the priority tensor was evicted");
        r.release(three[0]).unwrap();
        r.acquire(three[1]).unwrap();
        assert_eq!(
            r.stats().decodes,
            before + 1,
            "three[1] should have been evicted"
        );
    }

    /// A corrupted container: the acquire fails with the archive's error, nothing stays
    /// reserved, and the other tensors are served.
    #[test]
    fn corrupted_tensor_fails_and_frees_its_reservation() {
        let (a, want) = archive(CodecParams::Lossless);
        let k = (0..a.len())
            .max_by_key(|&i| a.entry(i).unwrap().length)
            .unwrap();
        let e = a.entry(k).unwrap().clone();
        let mut bytes = a.bytes().to_vec();
        bytes[(e.offset + e.length - 1) as usize] ^= 0x10;
        let bad = Arc::new(Archive::from_vec(a.system().clone(), bytes).unwrap());
        let r = Residency::new(bad, 1 << 30, SwapPolicy::Balanced).unwrap();
        assert!(matches!(r.acquire(k), Err(Error::Checksum(_))));
        let s = r.stats();
        assert_eq!((s.resident_bytes, s.failures), (0, 1));
        let other = (k + 1) % want.len();
        assert!(r.acquire(other).unwrap().block.bytes() == want[other].as_slice());
    }
}
