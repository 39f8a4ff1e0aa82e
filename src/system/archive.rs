//! An opened `.sph` archive (docs/FORMAT.md §5): the model, not the single tensor, as the unit an
//! engine works with. Tensors are found by name or position, described without decoding, and
//! decoded on the CPU into host memory or on the GPU into device memory, one at a time or many
//! per call.
//!
//! Opening maps the file (or borrows the caller's bytes) and checks the file header, the index
//! and every container's header against its index entry ([`crate::format::archive::read_index`]);
//! no payload is read. Each decode first checks the container's CRC-32 recorded in the index
//! ([`crate::format::archive::container_bytes`]), so a container altered after writing is refused
//! rather than decoded.
//!
//! GPU residency: the first device decode of a tensor uploads its container once (after the CRC
//! check) and keeps it in device memory until the archive is dropped; that first decode also
//! waits for the stream and reads every chunk's status, so that a container the GPU cannot decode
//! (p-adic with more than 8 digit planes, see `saraphis_decompress_device`) is decoded on the CPU
//! and copied to the device instead, and anything else that fails is reported. Later decodes of
//! the tensor are enqueued without synchronizing the host; lossless-v2 tensors of a batch share
//! one launch ([`System::decompress_device_batch`]).
//!
//! Thread safety: `Archive` is `Send + Sync`; many threads may decode at once. A tensor is
//! uploaded once however many threads ask for it at the same time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::{DeviceDecode, DevicePtr, DeviceSlice, DeviceTensor, System};
use crate::backend::cuda::DeviceBuffer;
use crate::codec::{self, TensorInfo};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::archive::{container_bytes, read_index, Index, TensorEntry};
use crate::format::container::CodecId;

/// Bytes the caller lent (`saraphis_archive_open_memory`): valid and unchanged until the
/// archive is dropped, by the caller's promise.
struct Lent {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the bytes are only read, and the lender keeps them valid and unchanged for the
// archive's life (the contract of `Archive::from_raw`).
unsafe impl Send for Lent {}
// SAFETY: as above: shared reads of immutable memory.
unsafe impl Sync for Lent {}

/// Where the archive's bytes live.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
    Lent(Lent),
}

impl Bytes {
    fn get(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
            // SAFETY: `Archive::from_raw`'s contract (valid, unchanged, `len` bytes).
            Bytes::Lent(l) if l.len > 0 => unsafe { std::slice::from_raw_parts(l.ptr, l.len) },
            Bytes::Lent(_) => &[],
        }
    }
}

/// Device residency of one tensor's container: not verified yet, decoded on the GPU, or
/// decoded on the CPU and copied (chunks the GPU kernels cannot decode).
const UNVERIFIED: u8 = 0;
const ON_GPU: u8 = 1;
const ON_CPU: u8 = 2;

/// One tensor's container in device memory, with the status array of its first decode.
struct Resident {
    container: DeviceBuffer,
    status: DeviceBuffer,
    state: AtomicU8,
}

/// One tensor: its dtype, its header information and its device residency.
struct Tensor {
    dtype: DType,
    info: TensorInfo,
    resident: Mutex<Option<Arc<Resident>>>,
    /// The container in pinned host memory once [`Archive::trim_device`] moved it off the GPU
    /// (the pinned-host tier), until it is uploaded again.
    pinned: Mutex<Option<crate::backend::cuda::PinnedBytes>>,
    /// What the first device decode of this tensor's container found (`ON_GPU`: the kernels
    /// decode it; `ON_CPU`: they cannot), kept across uploads: a container moved off the GPU
    /// and uploaded again (the same CRC-checked bytes) starts in that state, without another
    /// synchronized first decode.
    known: AtomicU8,
    /// Serializes first decodes (they share the status array and wait for the stream), apart
    /// from `resident` so that readers of the slot never wait on the device.
    first: Mutex<()>,
}

/// An opened `.sph` archive bound to a [`System`] (its thread pool for CPU decodes, its GPU for
/// device decodes). `Send + Sync`.
pub struct Archive {
    system: Arc<System>,
    /// Pinned buffers of containers uploaded back to the GPU, kept for the next moves (a
    /// `cuMemHostAlloc` costs far more than the copy of a small container); counted in the
    /// system's pinned budget until the archive is dropped or they are released for room.
    pinned_spare: Mutex<Vec<crate::backend::cuda::PinnedBytes>>,
    bytes: Bytes,
    index: Index,
    tensors: Vec<Tensor>,
    by_name: HashMap<String, usize>,
    /// The base model of its delta tensors ([`Archive::set_base`]): the base archive and, per
    /// tensor, the index of its base tensor there (delta tensors only).
    base: std::sync::OnceLock<(Arc<Archive>, Vec<Option<usize>>)>,
}

impl Drop for Archive {
    fn drop(&mut self) {
        // Its device containers leave the system's `bytes_per_tier.device_containers`, its
        // pinned ones `pinned_containers`.
        let held = self.device_resident_bytes();
        self.system.cache_sub(super::cache::DEVICE_CONTAINERS, held);
        let in_use: u64 = self
            .tensors
            .iter()
            .filter_map(|t| t.pinned.lock().ok()?.as_ref().map(|p| p.capacity()))
            .sum();
        let spare: u64 = self
            .pinned_spare
            .lock()
            .map_or(0, |v| v.iter().map(|p| p.capacity()).sum());
        self.system
            .cache_sub(super::cache::PINNED_CONTAINERS, in_use + spare);
    }
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("bytes", &self.bytes.get().len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Archive {
    /// Open the archive file at `path` (memory-mapped, read-only). Errors: `Io` naming the
    /// path, `InvalidArgument` (a directory), and as [`Archive::from_vec`]. A file truncated by
    /// another process while mapped is the documented hazard of every mmap reader (SIGBUS).
    pub fn open(system: Arc<System>, path: &Path) -> Result<Archive> {
        let map = super::model::map_file(path)?;
        Archive::with_bytes(system, Bytes::Mapped(map))
    }

    /// Open an archive held in `bytes` (taken over). Errors: as
    /// [`crate::format::archive::read_index`] (`BadMagic`, `UnsupportedVersion`, `Truncated`,
    /// `Checksum`, `Corrupt`, `Unsupported`), and `Corrupt` for two tensors of one name.
    pub fn from_vec(system: Arc<System>, bytes: Vec<u8>) -> Result<Archive> {
        Archive::with_bytes(system, Bytes::Owned(bytes))
    }

    /// Open an archive in memory the caller keeps (no copy). Errors: as [`Archive::from_vec`].
    ///
    /// # Safety
    /// `ptr` is valid for reads of `len` bytes (or `len` is 0), and those bytes stay valid and
    /// unchanged until the archive is dropped.
    pub unsafe fn from_raw(system: Arc<System>, ptr: *const u8, len: usize) -> Result<Archive> {
        Archive::with_bytes(system, Bytes::Lent(Lent { ptr, len }))
    }

    fn with_bytes(system: Arc<System>, bytes: Bytes) -> Result<Archive> {
        let buf = bytes.get();
        let index = read_index(buf)?;
        let mut tensors = Vec::with_capacity(index.tensors.len());
        let mut by_name = HashMap::with_capacity(index.tensors.len());
        for (i, t) in index.tensors.iter().enumerate() {
            if by_name.insert(t.name.clone(), i).is_some() {
                return Err(Error::Corrupt(format!(
                    "archive index: tensor name '{}' appears twice",
                    t.name
                )));
            }
            // read_index checked the header of this container against the entry; `inspect`
            // reads the same header (no payload).
            let c = &buf[t.offset as usize..(t.offset + t.length) as usize];
            let info = codec::inspect(c).map_err(|e| named(e, &t.name))?;
            tensors.push(Tensor {
                dtype: info.dtype,
                info,
                resident: Mutex::new(None),
                pinned: Mutex::new(None),
                known: AtomicU8::new(UNVERIFIED),
                first: Mutex::new(()),
            });
        }
        Ok(Archive {
            pinned_spare: Mutex::new(Vec::new()),
            system,
            bytes,
            index,
            tensors,
            by_name,
            base: std::sync::OnceLock::new(),
        })
    }

    /// Attach the base model of this archive's delta tensors (docs/FORMAT.md §10: a fine-tune
    /// compressed with `--base`): `base` is that model as an archive (compress the base
    /// safetensors file into one). Each delta tensor's base tensor (same name, dtype and shape)
    /// is decoded once on the host and its XXH3-128 checked against the hash the delta container
    /// records, so a wrong base is refused here, before any decode; the archive then keeps
    /// `base` alive. Returns the number of delta tensors. Once attached, the host and device
    /// decodes of delta tensors work (the device ones decode on the host and upload: there is
    /// no GPU delta kernel yet, so `require_gpu` refuses them).
    ///
    /// Errors: `InvalidArgument` (a base already attached; a delta tensor without a base
    /// tensor of its name, dtype and shape; a base tensor of another hash, both hashes named),
    /// and those of decoding the base tensors. Thread-safe; costs one host decode of every base
    /// tensor a delta tensor uses.
    pub fn set_base(&self, base: Arc<Archive>) -> Result<usize> {
        if self.base.get().is_some() {
            return Err(Error::InvalidArgument(
                "this archive already has a base model attached".into(),
            ));
        }
        // No cycles (they would never be freed): `base` and its own bases are not this archive.
        let mut link = Some(&base);
        while let Some(b) = link {
            if std::ptr::eq(self, &**b) {
                return Err(Error::InvalidArgument(
                    "an archive cannot be its own base model".into(),
                ));
            }
            link = b.base.get().map(|(bb, _)| bb);
        }
        let mut map = vec![None; self.tensors.len()];
        let mut n = 0;
        for (i, t) in self.tensors.iter().enumerate() {
            let Some(d) = &t.info.delta else { continue };
            let name = &self.index.tensors[i].name;
            let j = base
                .find(name)
                .filter(|&j| {
                    let b = &base.tensors[j].info;
                    b.dtype == t.info.dtype && b.shape == t.info.shape
                })
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "tensor '{name}': the base model has no tensor of this name, dtype and \
                         shape"
                    ))
                })?;
            let got = codec::delta::base_hash(&base.decompress(j)?);
            if got != d.base_hash {
                return Err(Error::InvalidArgument(format!(
                    "tensor '{name}': the base tensor differs from the one it was coded against \
                     (its hash is {}, the container records {})",
                    codec::delta::hash_hex(&got),
                    codec::delta::hash_hex(&d.base_hash)
                )));
            }
            map[i] = Some(j);
            n += 1;
        }
        self.base
            .set((base, map))
            .map_err(|_| Error::InvalidArgument("a base model was attached meanwhile".into()))?;
        Ok(n)
    }

    /// The base tensor of delta tensor `i`, decoded on the host. Errors: `InvalidArgument`
    /// when no base is attached; those of decoding it.
    fn base_tensor(&self, i: usize) -> Result<Vec<u8>> {
        match self.base.get() {
            Some((b, map)) => match map[i] {
                Some(j) => b.decompress(j),
                None => Err(Error::Corrupt("delta tensor without a base entry".into())),
            },
            None => Err(Error::InvalidArgument(
                "coded as a delta against a base model: attach the base first \
                 (saraphis_archive_set_base / Archive::set_base)"
                    .into(),
            )),
        }
    }

    /// The system the archive decodes with.
    pub fn system(&self) -> &Arc<System> {
        &self.system
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when the archive holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The index entry of tensor `i` (name, safetensors dtype, shape, codec, sizes, bound,
    /// measured error), or `None` out of range. Tensors are in the order of their data in the
    /// original safetensors file.
    pub fn entry(&self, i: usize) -> Option<&TensorEntry> {
        self.index.tensors.get(i)
    }

    /// The archive's bytes (the map, or the memory it was opened on).
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get()
    }

    /// The whole index (including the original safetensors header).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Position of the tensor called `name`, or `None`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Header information of tensor `i` (dtype, shape, codec, sizes, chunks, bound), read from
    /// its container's header at open. Errors: `InvalidArgument` (out of range).
    pub fn info(&self, i: usize) -> Result<&TensorInfo> {
        Ok(&self.tensor(i)?.info)
    }

    fn tensor(&self, i: usize) -> Result<&Tensor> {
        self.tensors.get(i).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "tensor {i} out of range (the archive holds {})",
                self.tensors.len()
            ))
        })
    }

    /// The container of tensor `i`, after its CRC-32 check.
    fn container(&self, i: usize) -> Result<&[u8]> {
        let e = &self.index.tensors[i];
        container_bytes(self.bytes.get(), e)
    }

    fn check_size(&self, i: usize, dst_bytes: u64) -> Result<()> {
        let t = self.tensor(i)?;
        if dst_bytes != t.info.original_bytes {
            return Err(Error::Destination(format!(
                "tensor '{}' ({:?} {:?}) is {} bytes, the destination {dst_bytes}",
                self.index.tensors[i].name, t.dtype, t.info.shape, t.info.original_bytes
            )));
        }
        Ok(())
    }

    /// Decode tensor `i` on the CPU (the system's thread pool) into `dst`, exactly its
    /// `original_bytes`: bit for bit for exact codecs, within the recorded bound for p-adic.
    /// Errors: `InvalidArgument` (out of range), `Destination` (wrong size), `Checksum` (the
    /// container or a chunk was altered), and as [`crate::codec::decompress_into`]; messages
    /// name the tensor.
    pub fn decompress_into(&self, i: usize, dst: &mut [u8]) -> Result<()> {
        self.check_size(i, dst.len() as u64)?;
        let name = &self.index.tensors[i].name;
        let c = self.container(i)?;
        if self.tensors[i].info.delta.is_some() {
            let base = self.base_tensor(i).map_err(|e| named(e, name))?;
            return self
                .system
                .decompress_delta_into(c, &base, self.tensors[i].dtype, dst)
                .map(|_| ())
                .map_err(|e| named(e, name));
        }
        self.system
            .decompress_into(c, self.tensors[i].dtype, dst)
            .map_err(|e| named(e, name))
    }

    /// [`Archive::decompress_into`] into a new buffer. Errors: as it, and `Unsupported` when
    /// the buffer cannot be allocated.
    pub fn decompress(&self, i: usize) -> Result<Vec<u8>> {
        let n = self.tensor(i)?.info.original_bytes;
        let mut v = super::model::zeroed(n, &self.index.tensors[i].name)?;
        self.decompress_into(i, &mut v)?;
        Ok(v)
    }

    /// Bytes of this archive's containers held in device memory (uploaded by device decodes).
    pub fn device_resident_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter_map(|t| t.resident.lock().ok()?.as_ref().map(|r| r.container.len()))
            .sum()
    }

    /// Move compressed containers off the GPU until at most `keep_bytes` of them stay uploaded,
    /// the largest first, `except` a tensor the caller is about to decode. Each moves to pinned
    /// host memory while the system's `pinned_host_limit_mb` allows (the pinned-host tier), else
    /// back to the archive's bytes (a memory map or memory); a later device decode of a moved
    /// tensor uploads it again, from pinned memory when it is there (no staging); the bytes are
    /// the same CRC-checked container, so what its first decode found is kept (no second
    /// synchronized first decode). The library's own stream is synchronized first. Returns the device bytes freed.
    /// Errors: `Device`.
    ///
    /// # Safety
    /// No work enqueued on a caller's stream may still read this archive's containers (the
    /// residency manager decodes on the library's own stream only, which this waits for).
    pub unsafe fn trim_device(&self, keep_bytes: u64, except: Option<usize>) -> Result<u64> {
        let mut held: Vec<(u64, usize)> = self
            .tensors
            .iter()
            .enumerate()
            .filter(|&(k, _)| Some(k) != except)
            .filter_map(|(k, t)| {
                let r = t.resident.lock().ok()?;
                r.as_ref().map(|r| (r.container.len(), k))
            })
            .collect();
        let mut resident = self.device_resident_bytes();
        if resident <= keep_bytes {
            return Ok(0);
        }
        if let Some(dev) = self.system.cuda_device() {
            dev.synchronize_own_stream()?;
        }
        held.sort_unstable_by(|a, b| b.cmp(a));
        let mut freed = 0;
        for (_, k) in held {
            if resident <= keep_bytes {
                break;
            }
            let t = &self.tensors[k];
            // Not while its first decode runs (that holds `first` and reads the container).
            let _first = t.first.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = t.resident.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let n = r.container.len();
                resident -= n;
                freed += n;
                self.pin(k, &r);
                self.system.cache_sub(super::cache::DEVICE_CONTAINERS, n);
            }
        }
        Ok(freed)
    }

    /// Copy tensor `k`'s container, being moved off the GPU from `r`, into pinned host memory
    /// (read back from the GPU: it is the container the host checked and the first decode
    /// verified): into a kept buffer that fits (at most twice its size), else a new one if the
    /// system's pinned budget has room (after releasing the kept buffers if it has not);
    /// otherwise (or if the copy fails) it stays in the archive's bytes only.
    fn pin(&self, k: usize, r: &Resident) {
        let Some(dev) = self.system.cuda_device() else {
            return;
        };
        let n = self.index.tensors[k].length;
        let mut slot = self.tensors[k]
            .pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return;
        }
        let mut spare = self.pinned_spare.lock().unwrap_or_else(|p| p.into_inner());
        let fit = spare
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= n && b.capacity() <= 2 * n.max(1))
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = fit {
            let b = spare.swap_remove(i);
            let cap = b.capacity();
            match dev.download_pinned(&r.container, n as usize, Some(b)) {
                Ok(p) => *slot = Some(p),
                Err(_) => self.system.cache_sub(super::cache::PINNED_CONTAINERS, cap),
            }
            return;
        }
        if n > self
            .system
            .config()
            .pinned_host_limit_mb
            .saturating_mul(1 << 20)
        {
            return;
        }
        if !self.system.pinned_reserve(n) {
            let held: u64 = spare.drain(..).map(|b| b.capacity()).sum();
            self.system.cache_sub(super::cache::PINNED_CONTAINERS, held);
            if !self.system.pinned_reserve(n) {
                return;
            }
        }
        drop(spare);
        match dev.download_pinned(&r.container, n as usize, None) {
            Ok(p) => *slot = Some(p),
            Err(_) => self.system.cache_sub(super::cache::PINNED_CONTAINERS, n),
        }
    }

    /// Bytes of this archive's containers in pinned host memory (the pinned-host tier).
    pub fn pinned_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter_map(|t| t.pinned.lock().ok()?.as_ref().map(|p| p.len()))
            .sum()
    }

    /// Tensor `i`'s container in device memory if it was uploaded (`None` otherwise, or out of
    /// range): its device address and length.
    pub fn device_resident(&self, i: usize) -> Option<(u64, u64)> {
        let t = self.tensors.get(i)?;
        let r = t.resident.lock().ok()?;
        r.as_ref().map(|r| (r.container.addr(), r.container.len()))
    }

    /// Tensor `i`'s container in device memory, uploaded on first use (after the host CRC
    /// check). The tensor's lock is held by the caller while the container is unverified.
    fn resident(&self, i: usize) -> Result<Arc<Resident>> {
        let t = &self.tensors[i];
        let mut slot = t.resident.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let (_restore, dev) = self.system.require_cuda()?;
        // From the pinned-host tier when the container was moved there (it leaves that tier),
        // else from the archive's bytes.
        let mut pinned = t.pinned.lock().unwrap_or_else(|p| p.into_inner());
        let container = match pinned.as_ref() {
            Some(p) => {
                let b = dev.upload(p.as_slice()?)?;
                // The buffer is kept for the next move (still in the pinned budget).
                if let Some(p) = pinned.take() {
                    self.pinned_spare
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(p);
                }
                self.system.cache_add(super::cache::PINNED_UPLOADS, 1);
                b
            }
            None => dev.upload(self.container(i)?)?,
        };
        drop(pinned);
        let r = Arc::new(Resident {
            container,
            status: dev.alloc_zeroed(4 * t.info.chunks.max(1) as u64)?,
            state: AtomicU8::new(t.known.load(Ordering::Acquire)),
        });
        self.system
            .cache_add(super::cache::DEVICE_CONTAINERS, r.container.len());
        *slot = Some(r.clone());
        Ok(r)
    }

    fn check_device_dst(&self, i: usize, dst: DeviceSlice) -> Result<()> {
        self.check_size(i, dst.len)?;
        if dst.ptr.is_null() && dst.len > 0 {
            return Err(Error::InvalidArgument("dst_dev is null".into()));
        }
        let size = self.tensors[i].dtype.size() as u64;
        if dst.ptr.addr() % size != 0 {
            return Err(Error::InvalidArgument(format!(
                "dst_dev must be aligned to the element size ({size} bytes)"
            )));
        }
        Ok(())
    }

    /// Decode tensor `i` into device memory `dst` (exactly its `original_bytes`, aligned to the
    /// element size) on `stream` (a `CUstream` of the system GPU's primary context; null = the
    /// library's own stream). See the module documentation for residency: the first call for a
    /// tensor uploads its container and synchronizes `stream`; later calls only enqueue.
    /// Errors: `Device` (no GPU, out of device memory, a failed launch or an earlier failure on
    /// `stream`), `InvalidArgument` (out of range, null or misaligned `dst`), `Destination`
    /// (wrong size), `Checksum` (the container was altered), `Corrupt` (a chunk failed on the
    /// GPU, named).
    ///
    /// # Safety
    /// `dst` is a live device allocation of the system's GPU of at least `dst.len` bytes, not
    /// used by other work until `stream` has passed this decode; `stream` is null or a live
    /// stream of that GPU's primary context. Device work enqueued for this archive must be
    /// finished before the archive is dropped.
    pub unsafe fn decompress_device(
        &self,
        i: usize,
        dst: DeviceSlice,
        stream: *mut std::ffi::c_void,
    ) -> Result<()> {
        self.decompress_device_with(i, dst, stream, true)
    }

    /// [`Archive::decompress_device`], with the CPU fallback for what the kernels cannot decode
    /// allowed (`allow_cpu`) or refused (then such a tensor is `Unsupported`, nothing written):
    /// the residency manager's `require_gpu` hint.
    ///
    /// # Safety
    /// As [`Archive::decompress_device`].
    pub(crate) unsafe fn decompress_device_with(
        &self,
        i: usize,
        dst: DeviceSlice,
        stream: *mut std::ffi::c_void,
        allow_cpu: bool,
    ) -> Result<()> {
        self.check_device_dst(i, dst)?;
        let (_restore, dev) = self.system.require_cuda()?;
        let stream = dev.stream_or_own(stream)?;
        let r = self.resident(i)?;
        self.decode_resident(i, &r, dst, stream, allow_cpu)
    }

    unsafe fn decode_resident(
        &self,
        i: usize,
        r: &Resident,
        dst: DeviceSlice,
        stream: *mut std::ffi::c_void,
        allow_cpu: bool,
    ) -> Result<()> {
        let cpu = |this: &Self| -> Result<()> {
            if allow_cpu {
                this.cpu_to_device(i, dst, stream)
            } else {
                Err(Error::Unsupported(format!(
                    "tensor '{}': the GPU kernels cannot decode it (the CPU would)",
                    this.index.tensors[i].name
                )))
            }
        };
        let t = &self.tensors[i];
        let name = &self.index.tensors[i].name;
        // Delta tensors decode on the host against their base (no GPU delta kernel yet).
        if t.info.delta.is_some() {
            return cpu(self);
        }
        let args = |status: DeviceSlice| DeviceDecode {
            src: DeviceSlice::new(DevicePtr(r.container.addr()), r.container.len()),
            dtype: t.dtype,
            dst,
            status,
            stream,
        };
        match r.state.load(Ordering::Acquire) {
            ON_GPU => {
                return self
                    .system
                    .decompress_device_as(&args(DeviceSlice::NONE), Some(&t.info))
            }
            ON_CPU => return cpu(self),
            _ => {}
        }
        // First decode: serialised per tensor (the status array is shared), synchronized.
        let _first = t.first.lock().unwrap_or_else(|p| p.into_inner());
        match r.state.load(Ordering::Acquire) {
            ON_GPU => {
                return self
                    .system
                    .decompress_device_as(&args(DeviceSlice::NONE), Some(&t.info))
            }
            ON_CPU => return cpu(self),
            _ => {}
        }
        let (_restore, dev) = self.system.require_cuda()?;
        let chunks = t.info.chunks.max(1) as u64;
        let status = DeviceSlice::new(DevicePtr(r.status.addr()), chunks);
        self.system
            .decompress_device_as(&args(status), Some(&t.info))?;
        let raw = dev.download_after(&r.status, stream)?;
        let codes: Vec<i32> = raw
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        const UNSUPPORTED: i32 = 5;
        if codes.iter().all(|&c| c == 0) {
            r.state.store(ON_GPU, Ordering::Release);
            t.known.store(ON_GPU, Ordering::Release);
            return Ok(());
        }
        if codes.iter().all(|&c| c == 0 || c == UNSUPPORTED) {
            r.state.store(ON_CPU, Ordering::Release);
            t.known.store(ON_CPU, Ordering::Release);
            return cpu(self);
        }
        // Reset for a later attempt (the container was CRC-checked: this is not expected).
        let (k, c) = codes
            .iter()
            .enumerate()
            .find(|(_, &c)| c != 0 && c != UNSUPPORTED)
            .map(|(k, &c)| (k, c))
            .unwrap_or((0, -1));
        let _ = dev.copy_to_device_and_wait(r.status.addr(), &vec![0u8; raw.len()], stream);
        Err(Error::Corrupt(format!(
            "tensor '{name}': chunk {k} of {chunks} failed on the GPU (status {c})"
        )))
    }

    /// Decode tensor `i` on the CPU and copy it to `dst` on `stream`, waiting for the copy.
    unsafe fn cpu_to_device(
        &self,
        i: usize,
        dst: DeviceSlice,
        stream: *mut std::ffi::c_void,
    ) -> Result<()> {
        let host = self.decompress(i)?;
        let (_restore, dev) = self.system.require_cuda()?;
        dev.copy_to_device_and_wait(dst.ptr.addr(), &host, stream)
    }

    /// Decode many tensors into device memory on `stream`: `items` pairs a tensor index with its
    /// destination (as [`Archive::decompress_device`]). Every argument is checked before
    /// anything is enqueued. Tensors decoded on the GPU before whose containers are lossless-v2
    /// share one launch per [`crate::backend::cuda::SEG_BATCH`]; the others take one call each
    /// (a tensor's first device decode synchronizes `stream`, see the module documentation).
    /// Errors: as [`Archive::decompress_device`], naming the tensor.
    ///
    /// # Safety
    /// As [`Archive::decompress_device`] for every item; destinations do not overlap.
    pub unsafe fn decompress_device_batch(
        &self,
        items: &[(usize, DeviceSlice)],
        stream: *mut std::ffi::c_void,
    ) -> Result<()> {
        for &(i, dst) in items {
            self.check_device_dst(i, dst)?;
        }
        if items.is_empty() {
            return Ok(());
        }
        let (_restore, dev) = self.system.require_cuda()?;
        let stream = dev.stream_or_own(stream)?;
        let mut batch = Vec::with_capacity(items.len());
        let mut segment_elems = Vec::with_capacity(items.len());
        for &(i, dst) in items {
            let r = self.resident(i)?;
            let t = &self.tensors[i];
            if t.info.codec == CodecId::LosslessV2 && r.state.load(Ordering::Acquire) == ON_GPU {
                batch.push(DeviceTensor {
                    src: DeviceSlice::new(DevicePtr(r.container.addr()), r.container.len()),
                    dtype: t.dtype,
                    dst,
                });
                // The header's segment length: one warp per segment, whatever its length.
                segment_elems.push(t.info.chunk_elems);
            } else {
                self.decode_resident(i, &r, dst, stream, true)?;
            }
        }
        // Kept alive by `self.tensors` (residents are never removed while the archive lives).
        self.system
            .decompress_device_batch_planned(&batch, &segment_elems, DevicePtr::NULL, stream)
    }
}

/// `e` with the tensor's name in its message.
fn named(e: Error, name: &str) -> Error {
    match e {
        Error::Corrupt(m) => Error::Corrupt(format!("tensor '{name}': {m}")),
        Error::Checksum(m) => Error::Checksum(format!("tensor '{name}': {m}")),
        Error::Truncated(m) => Error::Truncated(format!("tensor '{name}': {m}")),
        Error::Destination(m) => Error::Destination(format!("tensor '{name}': {m}")),
        Error::Unsupported(m) => Error::Unsupported(format!("tensor '{name}': {m}")),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecParams;
    use crate::system::Config;

    fn subset() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/minilm-subset-f32.safetensors"
        ))
        .unwrap()
    }

    fn archive_of(sys: &System, src: &[u8], codec: CodecParams) -> Vec<u8> {
        let (cur, _, _) = sys
            .compress_safetensors(src, std::io::Cursor::new(Vec::new()), codec, &|_, _, _| {})
            .unwrap();
        cur.into_inner()
    }

    fn cpu() -> Arc<System> {
        Arc::new(
            System::new(Config {
                device: crate::system::Device::Cpu,
                ..Config::default()
            })
            .unwrap(),
        )
    }

    #[test]
    fn every_tensor_decodes_bit_exact_by_index_and_name() {
        let sys = cpu();
        let src = subset();
        let st = safetensors::SafeTensors::deserialize(&src).unwrap();
        for codec in [CodecParams::Lossless, CodecParams::LosslessV2] {
            let a = Archive::from_vec(sys.clone(), archive_of(&sys, &src, codec)).unwrap();
            assert_eq!(a.len(), st.len());
            for i in 0..a.len() {
                let name = a.entry(i).unwrap().name.clone();
                assert_eq!(a.find(&name), Some(i));
                let want = st.tensor(&name).unwrap();
                let info = a.info(i).unwrap();
                assert_eq!(info.original_bytes as usize, want.data().len());
                let shape: Vec<u64> = want.shape().iter().map(|&d| d as u64).collect();
                assert_eq!(info.shape, shape);
                assert_eq!(a.decompress(i).unwrap(), want.data(), "{name}");
            }
            assert_eq!(a.find("no such tensor"), None);
            assert!(matches!(a.info(a.len()), Err(Error::InvalidArgument(_))));
            assert!(matches!(
                a.decompress(a.len()),
                Err(Error::InvalidArgument(_))
            ));
            let mut small = vec![0u8; 3];
            assert!(matches!(
                a.decompress_into(0, &mut small),
                Err(Error::Destination(_))
            ));
            // No GPU in this system: device calls are refused before anything happens.
            let r = unsafe { a.decompress_device(0, DeviceSlice::NONE, std::ptr::null_mut()) };
            assert!(r.is_err());
        }
    }

    #[test]
    fn altered_container_is_refused_naming_the_tensor() {
        let sys = cpu();
        let bytes = archive_of(&sys, &subset(), CodecParams::Lossless);
        let a = Archive::from_vec(sys.clone(), bytes.clone()).unwrap();
        let e = a.entry(1).unwrap().clone();
        let mut bad = bytes;
        // A payload byte (past the container's header, which open checks).
        let at = (e.offset + e.length - 1) as usize;
        bad[at] ^= 0x40;
        let a = Archive::from_vec(sys, bad).unwrap();
        match a.decompress(1) {
            Err(Error::Checksum(m)) => assert!(m.contains(&e.name), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(a.decompress(0).is_ok());
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused_at_open() {
        let sys = cpu();
        let bytes = archive_of(&sys, &subset(), CodecParams::Lossless);
        for cut in [0, 10, 63, 64, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Archive::from_vec(sys.clone(), bytes[..cut].to_vec()).is_err(),
                "cut {cut}"
            );
        }
        assert!(matches!(
            Archive::from_vec(sys.clone(), b"not an archive at all".to_vec()),
            Err(Error::BadMagic(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.sph");
        std::fs::write(&p, &bytes).unwrap();
        let a = Archive::open(sys.clone(), &p).unwrap();
        assert_eq!(
            a.decompress(0).unwrap().len() as u64,
            a.info(0).unwrap().original_bytes
        );
        assert!(matches!(
            Archive::open(sys, &dir.path().join("missing.sph")),
            Err(Error::Io(_))
        ));
    }
}
