//! Shared pieces of the Saraphis fuzz targets (docs/FUZZING.md): checksum fix-ups so that
//! mutated inputs reach the decoders behind the CRCs, an independent float reader for the
//! bound oracle, and the checks each target asserts.
//!
//! Every check here panics on a violation: under libFuzzer a panic is a crash, reported with
//! its input.

use std::sync::OnceLock;

use saraphis::codec::{self, CompressOptions};
use saraphis::format::archive::{Index, ALIGN};
use saraphis::format::container::{CodecId, CHUNK_ENTRY_BYTES, MAGIC};
use saraphis::system::{Config, Device, System};
use saraphis::{DType, Error};

/// Largest tensor (bytes) a target decodes: a tiny container may legitimately declare a huge
/// tensor (constant streams), and allocating for it is the caller's choice, not a bug.
pub const MAX_DECODE_BYTES: u64 = 16 << 20;

/// Make this thread the only worker of rayon's global pool, so that the codecs' parallel
/// loops run inline on the fuzzing thread (no hand-off to another thread per call). Call it
/// from each target's `init`.
pub fn init() {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build_global();
}

/// A CPU system with one worker thread (fuzzing runs one process per core at most).
pub fn cpu_system(chunk_elems: u32) -> &'static System {
    static SMALL: OnceLock<System> = OnceLock::new();
    static DEFAULT: OnceLock<System> = OnceLock::new();
    let cell = if chunk_elems == 0 { &DEFAULT } else { &SMALL };
    cell.get_or_init(|| {
        let mut cfg = Config {
            device: Device::Cpu,
            threads: 1,
            ..Config::default()
        };
        if chunk_elems != 0 {
            cfg.chunk_elems = chunk_elems;
        }
        System::new(cfg).expect("a CPU system")
    })
}

/// The system of the GPU checks: `Some` only when `SARAPHIS_FUZZ_GPU=cuda:N` is set and that
/// device can be used (a CUDA build on a machine with the device); otherwise the GPU half of
/// the agreement target is skipped. Creating it fails loudly when asked for and unusable.
pub fn gpu_system() -> Option<&'static System> {
    static GPU: OnceLock<Option<System>> = OnceLock::new();
    GPU.get_or_init(|| {
        let dev = std::env::var("SARAPHIS_FUZZ_GPU").ok()?;
        let cfg = Config {
            device: dev.parse().expect("SARAPHIS_FUZZ_GPU=cuda:N"),
            ..Config::default()
        };
        Some(System::new(cfg).expect("SARAPHIS_FUZZ_GPU names a usable device"))
    })
    .as_ref()
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Rewrite the chunk checksums and the header CRC-32 of a (possibly mutated) container so
/// that it passes the checksum checks and its payload reaches the codec's decoder. Walks the
/// header as docs/FORMAT.md lays it out; returns false, changing nothing, when the bytes are
/// not laid out like a container (the decoder refuses those before any checksum matters).
pub fn fix_container(buf: &mut [u8]) -> bool {
    if buf.len() < 24 || buf[..4] != MAGIC {
        return false;
    }
    let Ok(codec) = CodecId::from_code(buf[9]) else {
        return false;
    };
    let ndim = buf[10] as usize;
    let mut pos = 24 + 8 * ndim;
    let Some(params_len) = le_u32(buf, pos) else {
        return false;
    };
    pos = match pos.checked_add(4 + params_len as usize) {
        Some(p) => p,
        None => return false,
    };
    let Some(n_chunks) = le_u32(buf, pos) else {
        return false;
    };
    pos += 4;
    let table = pos;
    let Some(crc_at) = (n_chunks as usize)
        .checked_mul(CHUNK_ENTRY_BYTES)
        .and_then(|t| t.checked_add(table))
        .filter(|&e| e + 4 <= buf.len())
    else {
        return false;
    };
    let payload = crc_at + 4;
    // Delta: record the hash of the all-zero base, which `decode_every_way` decodes against,
    // so that mutated residuals reach the delta decoder (a small tensor only: hashing a huge
    // zero buffer per input would slow fuzzing down).
    if codec == CodecId::Delta && params_len == 48 {
        let size = [4u64, 2, 2, 8, 1, 2, 4, 8, 1, 2, 4, 8, 1]
            .get(buf[8] as usize)
            .copied();
        let numel = le_u64(buf, 16);
        if let (Some(size), Some(numel)) = (size, numel) {
            if let Some(bytes) = numel.checked_mul(size).filter(|&b| b <= MAX_DECODE_BYTES) {
                let h = saraphis::codec::delta::base_hash(&vec![0u8; bytes as usize]);
                let at = 24 + 8 * ndim + 4 + 24;
                buf[at..at + 16].copy_from_slice(&h);
            }
        }
    }
    for i in 0..n_chunks as usize {
        let e = table + i * CHUNK_ENTRY_BYTES;
        let (Some(off), Some(len)) = (le_u64(buf, e), le_u32(buf, e + 8)) else {
            return false;
        };
        let range = usize::try_from(off)
            .ok()
            .and_then(|o| o.checked_add(payload))
            .and_then(|s| Some(s..s.checked_add(len as usize)?))
            .filter(|r| r.end <= buf.len());
        if let Some(r) = range {
            let crc = codec.chunk_checksum(&buf[r]);
            buf[e + 12..e + 16].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32fast_hash(&buf[..crc_at]);
    buf[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    true
}

/// CRC-32 (IEEE), the checksum of containers and archives.
pub fn crc32fast_hash(b: &[u8]) -> u32 {
    // The library's own CRC through a public path: CodecId::Raw checksums chunks by CRC-32.
    CodecId::Raw.chunk_checksum(b)
}

/// Rewrite every checksum of a (possibly mutated) `.sph` archive so that the index and the
/// containers behind it reach their parsers and decoders: each container's own checksums
/// ([`fix_container`]), the containers' CRC-32s in the index (the index is then written again,
/// as compact JSON, at its offset), the index CRC and the file-header CRC. Returns false,
/// changing nothing, when the file header's index range does not lie inside `buf`.
pub fn fix_archive(buf: &mut Vec<u8>) -> bool {
    if buf.len() < ALIGN as usize {
        return false;
    }
    let (Some(off), Some(len)) = (le_u64(buf, 16), le_u64(buf, 24)) else {
        return false;
    };
    let Some(end) = off.checked_add(len).filter(|&e| e <= buf.len() as u64) else {
        return false;
    };
    if off < ALIGN {
        return false;
    }
    let (off, end) = (off as usize, end as usize);
    if let Ok(mut index) = serde_json::from_slice::<Index>(&buf[off..end]) {
        for t in &mut index.tensors {
            let r = usize::try_from(t.offset)
                .ok()
                .zip(usize::try_from(t.length).ok())
                .and_then(|(s, l)| Some(s..s.checked_add(l)?))
                .filter(|r| r.end <= off);
            if let Some(r) = r {
                fix_container(&mut buf[r.clone()]);
                if t.container_crc32.is_some() {
                    t.container_crc32 = Some(crc32fast_hash(&buf[r]));
                }
            }
        }
        let json = serde_json::to_vec(&index).expect("an index serializes");
        buf.truncate(off);
        buf.extend_from_slice(&json);
        buf[24..32].copy_from_slice(&(json.len() as u64).to_le_bytes());
    }
    let len = le_u64(buf, 24).unwrap() as usize;
    let crc = crc32fast_hash(&buf[off..off + len]);
    buf[32..36].copy_from_slice(&crc.to_le_bytes());
    let crc = crc32fast_hash(&buf[..36]);
    buf[36..40].copy_from_slice(&crc.to_le_bytes());
    true
}

/// Element `i` of a little-endian float tensor as f64 (F32, F16, BF16, F64), read with the
/// `half` crate: independent of the library's own conversions, for the bound oracle.
pub fn load(dtype: DType, b: &[u8], i: usize) -> f64 {
    match dtype {
        DType::F32 => f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()) as f64,
        DType::F64 => f64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()),
        DType::F16 => half::f16::from_le_bytes(b[2 * i..2 * i + 2].try_into().unwrap()).to_f64(),
        DType::BF16 => half::bf16::from_le_bytes(b[2 * i..2 * i + 2].try_into().unwrap()).to_f64(),
        d => panic!("load: {d:?} is not a float dtype"),
    }
}

/// The float dtypes, indexed by a fuzzer's byte.
pub const FLOATS: [DType; 4] = [DType::F32, DType::F16, DType::BF16, DType::F64];

/// Decode a container every way the CPU offers and check what must agree: with and without
/// chunk checksums (equal bytes when both succeed; an unverified decode never fails where the
/// verified one succeeds), through the C API, with a wrong destination (refused), and, for a
/// bit-exact codec, compressing the result again gives the same tensor back. Returns the
/// decoded tensor when the container decodes.
pub fn decode_every_way(container: &[u8]) -> Option<Vec<u8>> {
    let info = codec::inspect(container).ok()?;
    if info.original_bytes > MAX_DECODE_BYTES {
        return None;
    }
    let n = info.original_bytes as usize;
    if let Some(d) = info.delta {
        // Against the all-zero base: decoded when the container records its hash (as
        // `fix_container` writes it), refused before decoding otherwise; the plain decoders
        // refuse delta containers.
        let base = vec![0u8; n];
        let mut out = vec![0u8; n];
        let r = codec::delta::decompress_into(container, &base, info.dtype, &mut out);
        if d.base_hash != codec::delta::base_hash(&base) {
            assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        }
        assert!(matches!(
            codec::decompress_into(container, info.dtype, &mut out),
            Err(Error::Unsupported(_))
        ));
        return r.ok().map(|_| out);
    }
    let mut out = vec![0u8; n];
    let verified = codec::decompress_into(container, info.dtype, &mut out);
    let mut unv = vec![0u8; n];
    let unverified = codec::decompress_unverified(container, info.dtype, &mut unv);
    if verified.is_ok() {
        assert!(unverified.is_ok(), "verified decode ok, unverified failed");
        assert!(out == unv, "verified and unverified decodes differ");
    }
    // The wrong size is refused, never written past.
    let mut short = vec![0u8; n.saturating_sub(1)];
    if n > 0 {
        assert!(matches!(
            codec::decompress_into(container, info.dtype, &mut short),
            Err(Error::Destination(_))
        ));
    }
    // Through the C ABI, on a shared system.
    let sys = c_system();
    let mut via_c = vec![0u8; n];
    // SAFETY: valid pointers and lengths of live buffers that do not overlap.
    let rc = unsafe {
        saraphis::ffi::saraphis_decompress(
            sys,
            container.as_ptr().cast(),
            container.len(),
            info.dtype as u32,
            via_c.as_mut_ptr().cast(),
            via_c.len(),
        )
    };
    assert_eq!(
        rc == saraphis::ffi::saraphis_result::SARAPHIS_OK,
        verified.is_ok()
    );
    if verified.is_ok() {
        assert!(via_c == out, "C API decode differs");
    }
    // Progressive decoding of every p-adic plane count the header allows.
    if info.codec == CodecId::Padic {
        for planes in [1, info.precision.max(1), info.precision + 1] {
            let mut p = vec![0u8; n];
            let r = codec::decompress_progressive(container, info.dtype, &mut p, planes);
            if verified.is_ok() {
                let b = r.expect("a container that decodes decodes progressively");
                assert!(b.is_finite() || planes < info.precision, "bound {b}");
                if planes >= info.precision {
                    assert!(p == out, "all planes: not the full decode");
                }
            }
        }
    }
    verified.ok()?;
    if matches!(
        info.codec,
        CodecId::Raw | CodecId::Lossless | CodecId::Bytes | CodecId::LosslessV2
    ) {
        let opts = CompressOptions {
            codec: if info.codec == CodecId::Raw {
                saraphis::CodecParams::Raw
            } else {
                saraphis::CodecParams::Lossless
            },
            chunk_elems: info.chunk_elems,
            lanes: 0,
        };
        let layout = if info.codec == CodecId::LosslessV2 {
            codec::StreamLayout::Segments
        } else {
            codec::StreamLayout::Lanes
        };
        let again = codec::compress_with_layout(&out, info.dtype, &info.shape, &opts, layout)
            .expect("a decoded tensor compresses again");
        let mut back = vec![0u8; n];
        codec::decompress_into(&again.bytes, info.dtype, &mut back)
            .expect("a fresh container decodes");
        assert!(back == out, "re-compressed tensor is not bit-exact");
    }
    Some(out)
}

struct CSystem(*mut saraphis::ffi::saraphis_system);
// SAFETY: a saraphis_system is thread-safe (docs/C_API.md); the pointer is never freed.
unsafe impl Send for CSystem {}
unsafe impl Sync for CSystem {}

/// One system made through the C API (one thread, CPU), for the targets' C-boundary checks.
pub fn c_system() -> *const saraphis::ffi::saraphis_system {
    static SYS: OnceLock<CSystem> = OnceLock::new();
    SYS.get_or_init(|| {
        use saraphis::ffi::*;
        let mut cfg = std::ptr::null_mut();
        let mut sys = std::ptr::null_mut();
        // SAFETY: out-pointers to locals; the config is freed after use, the system never.
        unsafe {
            assert_eq!(saraphis_config_new(&mut cfg), saraphis_result::SARAPHIS_OK);
            assert_eq!(
                saraphis_config_set(cfg, saraphis_config_key::SARAPHIS_CONFIG_THREADS as u32, 1),
                saraphis_result::SARAPHIS_OK
            );
            assert_eq!(
                saraphis_config_set_device(cfg, c"cpu".as_ptr()),
                saraphis_result::SARAPHIS_OK
            );
            assert_eq!(
                saraphis_system_new(cfg, &mut sys),
                saraphis_result::SARAPHIS_OK
            );
            saraphis_config_free(cfg);
        }
        CSystem(sys)
    })
    .0
}
