//! The C ABI driven from Rust as a C program would drive it: handles created, used and freed,
//! caller buffers, every pointer check and the outputs-only-on-success rule. Small tensors, so
//! that the test also runs under Miri (`scripts/sanitize.sh`), which checks every raw-pointer
//! access, handle box and slice made from C pointers here for undefined behaviour.

use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};

use super::*;
use saraphis_result::*;

const N: usize = 300;
const SHAPE: [u64; 2] = [3, 100];

fn tensor() -> Vec<u8> {
    (0..N)
        .flat_map(|i| ((i as f32 * 0.37).sin() * 0.1).to_le_bytes())
        .collect()
}

fn last_error() -> String {
    // SAFETY: the library returns a valid NUL-terminated string, live until the next failure.
    unsafe { CStr::from_ptr(saraphis_last_error_message()) }
        .to_str()
        .unwrap()
        .to_string()
}

/// A CPU system of one thread and 128-element chunks (three chunks for the test tensor).
unsafe fn system() -> *mut saraphis_system {
    let mut cfg = null_mut();
    assert_eq!(saraphis_config_new(&mut cfg), SARAPHIS_OK);
    let key = |k: saraphis_config_key| k as u32;
    assert_eq!(
        saraphis_config_set(cfg, key(saraphis_config_key::SARAPHIS_CONFIG_THREADS), 1),
        SARAPHIS_OK
    );
    assert_eq!(
        saraphis_config_set(
            cfg,
            key(saraphis_config_key::SARAPHIS_CONFIG_CHUNK_ELEMS),
            -1
        ),
        SARAPHIS_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        saraphis_config_set_device(cfg, c"cpu".as_ptr()),
        SARAPHIS_OK
    );
    assert_eq!(
        saraphis_config_set_device(cfg, c"tpu".as_ptr()),
        SARAPHIS_ERR_INVALID_ARGUMENT
    );
    let mut sys = null_mut();
    assert_eq!(saraphis_system_new(cfg, &mut sys), SARAPHIS_OK);
    saraphis_config_free(cfg);
    assert!(!sys.is_null());
    sys
}

unsafe fn params(codec: saraphis_codec) -> *mut saraphis_params {
    let mut p = null_mut();
    assert_eq!(saraphis_params_new(codec as u32, &mut p), SARAPHIS_OK);
    let chunk = saraphis_param::SARAPHIS_PARAM_CHUNK_ELEMS as u32;
    assert_eq!(saraphis_params_set(p, chunk, 128.0), SARAPHIS_OK);
    assert_eq!(
        saraphis_params_set(p, chunk, 0.5),
        SARAPHIS_ERR_INVALID_ARGUMENT
    );
    p
}

#[test]
fn lossless_round_trip_through_library_and_caller_buffers() {
    let x = tensor();
    // SAFETY: every pointer below is a live local or a handle made by the library.
    unsafe {
        let sys = system();
        let p = params(saraphis_codec::SARAPHIS_CODEC_LOSSLESS);
        let mut buf = null_mut();
        let (data, len) = (x.as_ptr() as *const c_void, x.len());
        let f32_ = saraphis_dtype::SARAPHIS_F32 as u32;
        assert_eq!(
            saraphis_compress(sys, p, data, len, f32_, SHAPE.as_ptr(), 2, &mut buf),
            SARAPHIS_OK
        );
        let (c, clen) = (saraphis_buffer_data(buf), saraphis_buffer_len(buf));
        assert!(!c.is_null() && clen > 0);
        let container = std::slice::from_raw_parts(c, clen).to_vec();

        let mut info = std::mem::zeroed::<saraphis_tensor_info>();
        assert_eq!(saraphis_inspect(c.cast(), clen, &mut info), SARAPHIS_OK);
        assert_eq!((info.ndim, info.numel, info.chunks), (2, N as u64, 3));
        assert_eq!(info.shape[..2], SHAPE);

        let mut out = vec![0u8; x.len()];
        let dst = out.as_mut_ptr() as *mut c_void;
        assert_eq!(
            saraphis_decompress(sys, c.cast(), clen, f32_, dst, out.len()),
            SARAPHIS_OK
        );
        assert_eq!(out, x);

        // Into a caller buffer: exact capacity works; one byte less fails and writes nothing.
        let mut bound = 0usize;
        assert_eq!(
            saraphis_compress_bound(f32_, SHAPE.as_ptr(), 2, p, &mut bound),
            SARAPHIS_OK
        );
        assert!(bound >= clen);
        let mut dst = vec![0xEEu8; clen];
        let mut written = 7usize;
        assert_eq!(
            saraphis_compress_into(
                sys,
                p,
                data,
                len,
                f32_,
                SHAPE.as_ptr(),
                2,
                dst.as_mut_ptr().cast(),
                clen - 1,
                &mut written
            ),
            SARAPHIS_ERR_DESTINATION
        );
        assert!(last_error().contains("needs"), "{}", last_error());
        assert_eq!(written, 7);
        assert!(dst.iter().all(|&b| b == 0xEE), "nothing written on failure");
        assert_eq!(
            saraphis_compress_into(
                sys,
                p,
                data,
                len,
                f32_,
                SHAPE.as_ptr(),
                2,
                dst.as_mut_ptr().cast(),
                clen,
                &mut written
            ),
            SARAPHIS_OK
        );
        assert_eq!((written, &dst), (clen, &container));

        // A destination overlapping the source is refused.
        let mut both = container.clone();
        both.resize(clen + x.len(), 0);
        let whole = both.as_mut_ptr();
        assert_eq!(
            saraphis_decompress(sys, whole.cast(), clen, f32_, whole.add(4).cast(), x.len()),
            SARAPHIS_ERR_DESTINATION
        );
        // A damaged chunk is named; the wrong dtype is a destination error.
        let mut bad = container.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            saraphis_decompress(
                sys,
                bad.as_ptr().cast(),
                clen,
                f32_,
                dst_of(&mut out),
                out.len()
            ),
            SARAPHIS_ERR_CHECKSUM
        );
        assert!(last_error().contains("chunk 2"), "{}", last_error());
        let bf16 = saraphis_dtype::SARAPHIS_BF16 as u32;
        assert_eq!(
            saraphis_decompress(sys, c.cast(), clen, bf16, dst_of(&mut out), out.len()),
            SARAPHIS_ERR_DESTINATION
        );

        saraphis_buffer_free(buf);
        saraphis_params_free(p);
        saraphis_system_free(sys);
    }
}

fn dst_of(v: &mut [u8]) -> *mut c_void {
    v.as_mut_ptr().cast()
}

#[test]
fn padic_round_trip_within_bound_and_progressive() {
    let x = tensor();
    // SAFETY: as above.
    unsafe {
        let sys = system();
        let p = params(saraphis_codec::SARAPHIS_CODEC_PADIC);
        let abs = saraphis_param::SARAPHIS_PARAM_ABS_BOUND as u32;
        assert_eq!(
            saraphis_params_set(p, abs, -1.0),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(saraphis_params_set(p, abs, 1e-3), SARAPHIS_OK);
        let f32_ = saraphis_dtype::SARAPHIS_F32 as u32;
        let mut buf = null_mut();
        assert_eq!(
            saraphis_compress(
                sys,
                p,
                x.as_ptr().cast(),
                x.len(),
                f32_,
                SHAPE.as_ptr(),
                2,
                &mut buf
            ),
            SARAPHIS_OK
        );
        let (c, clen) = (saraphis_buffer_data(buf), saraphis_buffer_len(buf));
        let mut out = vec![0u8; x.len()];
        assert_eq!(
            saraphis_decompress(sys, c.cast(), clen, f32_, dst_of(&mut out), out.len()),
            SARAPHIS_OK
        );
        let vals = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        for (a, b) in vals(&x).iter().zip(vals(&out)) {
            assert!((a - b).abs() as f64 <= 1e-3, "{a} -> {b}");
        }
        let mut bound = -1.0;
        assert_eq!(
            saraphis_decompress_progressive(
                sys,
                c.cast(),
                clen,
                f32_,
                0,
                dst_of(&mut out),
                out.len(),
                &mut bound
            ),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(bound, -1.0, "*bound untouched on failure");
        assert_eq!(
            saraphis_decompress_progressive(
                sys,
                c.cast(),
                clen,
                f32_,
                1,
                dst_of(&mut out),
                out.len(),
                &mut bound
            ),
            SARAPHIS_OK
        );
        assert!(bound >= 1e-3);
        saraphis_buffer_free(buf);
        saraphis_params_free(p);
        saraphis_system_free(sys);
    }
}

#[test]
fn null_pointers_are_refused_and_frees_of_null_are_no_ops() {
    let x = tensor();
    // SAFETY: NULLs where the API allows them to be checked; live locals elsewhere.
    unsafe {
        let f32_ = saraphis_dtype::SARAPHIS_F32 as u32;
        let mut buf = null_mut();
        assert_eq!(
            saraphis_compress(
                null(),
                null(),
                x.as_ptr().cast(),
                x.len(),
                f32_,
                SHAPE.as_ptr(),
                2,
                &mut buf
            ),
            SARAPHIS_ERR_NULL_PARAMETER
        );
        assert!(buf.is_null(), "*out untouched on failure");
        assert!(last_error().contains("system"), "{}", last_error());
        assert_eq!(saraphis_config_new(null_mut()), SARAPHIS_ERR_NULL_PARAMETER);
        assert_eq!(
            saraphis_params_new(99, &mut null_mut()),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        let sys = system();
        let mut out = vec![0u8; 8];
        assert_eq!(
            saraphis_decompress(sys, null(), 16, f32_, dst_of(&mut out), 8),
            SARAPHIS_ERR_NULL_PARAMETER
        );
        assert_eq!(
            saraphis_decompress(sys, out.as_ptr().cast(), 8, 77, null_mut(), 0),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(saraphis_buffer_len(null()), 0);
        assert!(saraphis_buffer_data(null()).is_null());
        saraphis_buffer_free(null_mut());
        saraphis_params_free(null_mut());
        saraphis_config_free(null_mut());
        saraphis_system_free(sys);
        saraphis_system_free(null_mut());
        for code in [0u32, 1000, 2004, 12345] {
            assert!(!CStr::from_ptr(saraphis_result_text(code))
                .to_bytes()
                .is_empty());
        }
    }
}

/// No thread pool here, so Miri runs it under Stacked Borrows too (rayon's crossbeam-epoch
/// does not pass Stacked Borrows; the other tests run under Tree Borrows): C strings are read
/// through their raw pointer, never through a one-byte reference (what Miri found in
/// `saraphis_config_set_device` and `saraphis_config_from_json`).
#[test]
fn config_strings_are_read_from_the_raw_pointer() {
    // SAFETY: NUL-terminated literals and live out-pointers.
    unsafe {
        let mut cfg = null_mut();
        assert_eq!(
            saraphis_config_from_json(cr#"{"device": "cpu", "threads": 3}"#.as_ptr(), &mut cfg),
            SARAPHIS_OK
        );
        assert_eq!(
            saraphis_config_set_device(cfg, c"cuda:12".as_ptr()),
            SARAPHIS_OK
        );
        assert_eq!(
            saraphis_config_set_device(cfg, c"cuda:x".as_ptr()),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("cuda:x"), "{}", last_error());
        assert_eq!(
            saraphis_config_set_device(cfg, null()),
            SARAPHIS_ERR_NULL_PARAMETER
        );
        saraphis_config_free(cfg);
        let mut cfg = null_mut();
        assert_eq!(
            saraphis_config_from_json(c"{\"threads\": -1}".as_ptr(), &mut cfg),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert!(cfg.is_null(), "*out untouched on failure");
        assert_eq!(
            saraphis_config_from_json(c"\xff".as_ptr(), &mut cfg),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            saraphis_config_from_json(null(), &mut cfg),
            SARAPHIS_ERR_NULL_PARAMETER
        );
    }
}

/// Every config key of issue 12 through `saraphis_config_set`: accepted in range, refused out of
/// range (the config then unchanged), and visible in the system's statistics where they show.
#[test]
fn seed_config_keys_reach_the_c_api() {
    use saraphis_config_key::*;
    unsafe {
        let mut cfg = null_mut();
        assert_eq!(saraphis_config_new(&mut cfg), SARAPHIS_OK);
        let set = |k: saraphis_config_key, v: i64| saraphis_config_set(cfg, k as u32, v);
        for (k, good, bad) in [
            (SARAPHIS_CONFIG_LANES, 128, 129),
            (SARAPHIS_CONFIG_GPU_MEMORY_LIMIT_MB, 4096, -1),
            (SARAPHIS_CONFIG_CPU_WORKERS, 2, -2),
            (SARAPHIS_CONFIG_ENABLE_PROFILING, 0, 2),
            (SARAPHIS_CONFIG_MONITORING_INTERVAL_MS, 250, -5),
            (SARAPHIS_CONFIG_SWAP_POLICY, 2, 3),
            (SARAPHIS_CONFIG_OPTIMIZATION_STRATEGY, 0, 5),
            (SARAPHIS_CONFIG_MEMORY_PRESSURE_MODE, 1, 2),
            (SARAPHIS_CONFIG_PINNED_HOST_LIMIT_MB, 256, -1),
        ] {
            assert_eq!(set(k, good), SARAPHIS_OK, "{k:?}");
            assert_eq!(set(k, bad), SARAPHIS_ERR_INVALID_ARGUMENT, "{k:?}");
        }
        // cpu_workers and threads name one pool: a disagreement is refused.
        assert_eq!(
            set(SARAPHIS_CONFIG_THREADS, 3),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(set(SARAPHIS_CONFIG_THREADS, 2), SARAPHIS_OK);
        assert_eq!(
            saraphis_config_set(cfg, 99, 1),
            SARAPHIS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            saraphis_config_set_device(cfg, c"cpu".as_ptr()),
            SARAPHIS_OK
        );
        let mut sys = null_mut();
        assert_eq!(saraphis_system_new(cfg, &mut sys), SARAPHIS_OK);
        saraphis_config_free(cfg);
        let mut need = 0usize;
        saraphis_system_stats_json(sys, null_mut(), 0, &mut need);
        let mut buf = vec![0 as std::ffi::c_char; need + 256];
        assert_eq!(
            saraphis_system_stats_json(sys, buf.as_mut_ptr(), buf.len(), &mut need),
            SARAPHIS_OK
        );
        let v: serde_json::Value =
            serde_json::from_str(CStr::from_ptr(buf.as_ptr()).to_str().unwrap()).unwrap();
        assert_eq!(v["optimization_strategy"], "throughput");
        assert_eq!(v["threads"], 2);
        assert!(v["throughput"].is_null(), "profiling off: {v}");
        assert_eq!(v["memory_pressure"]["mode"], "off");
        assert_eq!(v["memory_pressure"]["monitoring_interval_ms"], 250);
        saraphis_system_free(sys);
        // The seeds' JSON, thresholds included.
        let mut cfg = null_mut();
        assert_eq!(
            saraphis_config_from_json(
                c"{\"swap_thresholds\": {\"low\": 0.3, \"moderate\": 0.5, \"high\": 0.7, \"critical\": 0.8}, \"swap_policy\": \"conservative\"}".as_ptr(),
                &mut cfg
            ),
            SARAPHIS_OK
        );
        saraphis_config_free(cfg);
    }
}
