//! One system shared by 16 threads through the C ABI, as a multi-threaded C engine uses it:
//! every thread compresses and decompresses real MiniLM weights at once (lossless and p-adic,
//! library buffers and caller buffers), and every result is checked bit for bit, against the
//! original (lossless) or against the containers and decodes made on one thread before the
//! threads start (p-adic: the same bytes whatever the concurrency). Each thread also checks
//! that the last-error message it reads is its own.
//!
//! `scripts/sanitize.sh` runs this test under ThreadSanitizer (nightly `-Zsanitizer=thread`
//! with `-Zbuild-std`, so that the standard library is instrumented too); plain `cargo test`
//! runs it as an ordinary test. `SARAPHIS_STRESS_ITERS` sets the rounds per thread (default 2).

mod common;

use std::ffi::{c_void, CStr};
use std::ptr::null_mut;

use saraphis::ffi::*;
use saraphis_result::SARAPHIS_OK;

const THREADS: usize = 16;
/// Elements per tensor slice: real weights, small enough for ThreadSanitizer's slowdown.
const MAX_ELEMS: usize = 1 << 15;

struct Shared(*mut saraphis_system);
// SAFETY: a saraphis_system may be used from many threads at once (docs/C_API.md).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

struct Params(*mut saraphis_params);
// SAFETY: params handles may be shared read-only across threads (docs/C_API.md).
unsafe impl Send for Params {}
unsafe impl Sync for Params {}

/// A slice of a real tensor and what one thread made of it before the threads started.
struct Case {
    name: String,
    bytes: Vec<u8>,
    shape: [u64; 1],
    lossless: Vec<u8>,
    padic: Vec<u8>,
    padic_decoded: Vec<u8>,
}

unsafe fn compress(sys: &Shared, p: &Params, x: &[u8], shape: &[u64; 1]) -> Vec<u8> {
    let mut buf = null_mut();
    let f32_ = saraphis_dtype::SARAPHIS_F32 as u32;
    let r = saraphis_compress(
        sys.0,
        p.0,
        x.as_ptr().cast(),
        x.len(),
        f32_,
        shape.as_ptr(),
        1,
        &mut buf,
    );
    assert_eq!(r, SARAPHIS_OK);
    let v =
        std::slice::from_raw_parts(saraphis_buffer_data(buf), saraphis_buffer_len(buf)).to_vec();
    saraphis_buffer_free(buf);
    v
}

unsafe fn decompress(sys: &Shared, c: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    let f32_ = saraphis_dtype::SARAPHIS_F32 as u32;
    let r = saraphis_decompress(
        sys.0,
        c.as_ptr().cast(),
        c.len(),
        f32_,
        out.as_mut_ptr().cast(),
        n,
    );
    assert_eq!(r, SARAPHIS_OK);
    out
}

unsafe fn new_params(codec: saraphis_codec, abs: Option<f64>) -> Params {
    let mut p = null_mut();
    assert_eq!(saraphis_params_new(codec as u32, &mut p), SARAPHIS_OK);
    let chunk = saraphis_param::SARAPHIS_PARAM_CHUNK_ELEMS as u32;
    // Several chunks per tensor, so that each call also runs chunks on the system's pool.
    assert_eq!(saraphis_params_set(p, chunk, 4096.0), SARAPHIS_OK);
    if let Some(eps) = abs {
        let key = saraphis_param::SARAPHIS_PARAM_ABS_BOUND as u32;
        assert_eq!(saraphis_params_set(p, key, eps), SARAPHIS_OK);
    }
    Params(p)
}

#[test]
fn one_system_shared_by_16_threads_is_bit_exact() {
    let iters: usize = std::env::var("SARAPHIS_STRESS_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    // SAFETY: handles made by the library, used from threads as docs/C_API.md allows, freed
    // after every thread has been joined.
    unsafe {
        let mut cfg = null_mut();
        assert_eq!(saraphis_config_new(&mut cfg), SARAPHIS_OK);
        let threads = saraphis_config_key::SARAPHIS_CONFIG_THREADS as u32;
        assert_eq!(saraphis_config_set(cfg, threads, 4), SARAPHIS_OK);
        assert_eq!(
            saraphis_config_set_device(cfg, c"cpu".as_ptr()),
            SARAPHIS_OK
        );
        let mut sys = null_mut();
        assert_eq!(saraphis_system_new(cfg, &mut sys), SARAPHIS_OK);
        saraphis_config_free(cfg);
        let sys = Shared(sys);
        let lossless = new_params(saraphis_codec::SARAPHIS_CODEC_LOSSLESS, None);
        let padic = new_params(saraphis_codec::SARAPHIS_CODEC_PADIC, Some(1e-3));

        let cases: Vec<Case> = common::load("minilm-subset-f32.safetensors")
            .into_iter()
            .filter(|t| t.dtype == saraphis::DType::F32)
            .map(|t| {
                let bytes = t.bytes[..t.bytes.len().min(4 * MAX_ELEMS)].to_vec();
                let shape = [(bytes.len() / 4) as u64];
                let l = compress(&sys, &lossless, &bytes, &shape);
                let p = compress(&sys, &padic, &bytes, &shape);
                let d = decompress(&sys, &p, bytes.len());
                Case {
                    name: t.name,
                    bytes,
                    shape,
                    lossless: l,
                    padic: p,
                    padic_decoded: d,
                }
            })
            .collect();
        assert!(cases.len() >= 5, "real tensors in the fixture");

        std::thread::scope(|s| {
            for k in 0..THREADS {
                let (sys, cases, lossless, padic) = (&sys, &cases, &lossless, &padic);
                s.spawn(move || {
                    for i in 0..iters {
                        let c = &cases[(k + i) % cases.len()];
                        let n = c.bytes.len();
                        let l = compress(sys, lossless, &c.bytes, &c.shape);
                        assert!(
                            l == c.lossless,
                            "thread {k}: {}: lossless bytes differ",
                            c.name
                        );
                        assert!(
                            decompress(sys, &l, n) == c.bytes,
                            "thread {k}: {}: not bit-exact",
                            c.name
                        );
                        let p = compress(sys, padic, &c.bytes, &c.shape);
                        assert!(p == c.padic, "thread {k}: {}: p-adic bytes differ", c.name);
                        let d = decompress(sys, &p, n);
                        assert!(
                            d == c.padic_decoded,
                            "thread {k}: {}: p-adic decode differs",
                            c.name
                        );
                        // Into a caller buffer, on the same shared system.
                        let mut dst = vec![0u8; c.lossless.len()];
                        let mut written = 0usize;
                        let f32_ = saraphis_dtype::SARAPHIS_F32 as u32;
                        let r = saraphis_compress_into(
                            sys.0,
                            lossless.0,
                            c.bytes.as_ptr().cast(),
                            n,
                            f32_,
                            c.shape.as_ptr(),
                            1,
                            dst.as_mut_ptr().cast(),
                            dst.len(),
                            &mut written,
                        );
                        assert_eq!(r, SARAPHIS_OK);
                        assert!(
                            written == dst.len() && dst == c.lossless,
                            "thread {k}: compress_into"
                        );
                        // This thread's own failure, and its own message.
                        let wrong = n - 4 * (k + 1);
                        let mut out = vec![0u8; wrong];
                        let r = saraphis_decompress(
                            sys.0,
                            l.as_ptr().cast(),
                            l.len(),
                            f32_,
                            out.as_mut_ptr() as *mut c_void,
                            wrong,
                        );
                        assert_eq!(r, saraphis_result::SARAPHIS_ERR_DESTINATION);
                        let msg = CStr::from_ptr(saraphis_last_error_message()).to_string_lossy();
                        assert!(
                            msg.contains(&wrong.to_string()),
                            "thread {k} read another thread's error: {msg}"
                        );
                    }
                });
            }
        });
        saraphis_params_free(lossless.0);
        saraphis_params_free(padic.0);
        saraphis_system_free(sys.0);
    }
}

/// The residency manager under 16 threads through the C ABI: each thread acquires random
/// tensors of a real archive (MiniLM subset, lossless) under a tight budget (the largest tensor
/// plus a quarter of the rest), checks every acquired tensor bit for bit against the safetensors
/// file, sometimes prefetches, releases; for `SARAPHIS_STRESS_SECONDS` seconds (default 30;
/// `scripts/sanitize.sh` sets 5 under ThreadSanitizer). A `SARAPHIS_ERR_BUDGET` refusal (the
/// pinned tensors of the other threads fill the budget) is allowed and counted; any other error
/// fails. At the end the statistics add up: acquires = successful acquires, failures = budget
/// refusals, hits + misses = acquires, nothing pinned, never over budget.
#[test]
fn residency_shared_by_16_threads_under_a_tight_budget() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let (sph, src) = common::subset_archive(saraphis::CodecParams::Lossless);
    let st = safetensors::SafeTensors::deserialize(&src).unwrap();
    // SAFETY: C-ABI calls with valid pointers; handles freed once at the end.
    unsafe {
        let mut csys = null_mut();
        assert_eq!(saraphis_system_new(null_mut(), &mut csys), SARAPHIS_OK);
        let mut a = null_mut();
        assert_eq!(
            saraphis_archive_open_memory(csys, sph.as_ptr() as *const c_void, sph.len(), &mut a),
            SARAPHIS_OK
        );
        let mut n = 0usize;
        assert_eq!(saraphis_archive_tensor_count(a, &mut n), SARAPHIS_OK);
        let want: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let name = CStr::from_ptr(saraphis_archive_tensor_name(a, i))
                    .to_str()
                    .unwrap();
                st.tensor(name).unwrap().data().to_vec()
            })
            .collect();
        let largest = want.iter().map(|w| w.len() as u64).max().unwrap();
        let total: u64 = want.iter().map(|w| w.len() as u64).sum();
        let budget = largest + (total - largest) / 4;
        let mut r = null_mut();
        assert_eq!(saraphis_residency_new(a, budget, 1, &mut r), SARAPHIS_OK);
        saraphis_archive_free(a);
        let secs: u64 = std::env::var("SARAPHIS_STRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        struct Res(*mut saraphis_residency);
        // SAFETY: a residency manager may be used from many threads at once.
        unsafe impl Send for Res {}
        unsafe impl Sync for Res {}
        let res = Res(r);
        // One walk over every tensor first (more than the budget: evictions are certain),
        // then the threads.
        for (i, w) in want.iter().enumerate() {
            let (mut p, mut len) = (std::ptr::null(), 0usize);
            assert_eq!(
                saraphis_residency_acquire(r, i, &mut p, &mut len),
                SARAPHIS_OK
            );
            assert!(std::slice::from_raw_parts(p as *const u8, len) == w.as_slice());
            assert_eq!(saraphis_residency_release(r, i), SARAPHIS_OK);
        }
        let (ok, refused) = (AtomicU64::new(n as u64), AtomicU64::new(0));
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (res, want, ok, refused) = (&res, &want, &ok, &refused);
                s.spawn(move || {
                    let mut x = 0x9E3779B97F4A7C15u64 ^ t as u64;
                    while std::time::Instant::now() < end {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let i = (x % n as u64) as usize;
                        if x % 5 == 0 {
                            let next = [(i + 1) % n, (i + 2) % n];
                            assert_eq!(
                                saraphis_residency_prefetch(res.0, next.as_ptr(), 2, null_mut()),
                                SARAPHIS_OK
                            );
                        }
                        let (mut p, mut len) = (std::ptr::null(), 0usize);
                        match saraphis_residency_acquire(res.0, i, &mut p, &mut len) {
                            SARAPHIS_OK => {
                                let got = std::slice::from_raw_parts(p as *const u8, len);
                                assert!(got == want[i].as_slice(), "thread {t}: tensor {i}");
                                assert_eq!(saraphis_residency_release(res.0, i), SARAPHIS_OK);
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            saraphis_result::SARAPHIS_ERR_BUDGET => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            e => panic!(
                                "thread {t}: acquire {i}: {e:?} {}",
                                CStr::from_ptr(saraphis_last_error_message()).to_string_lossy()
                            ),
                        }
                    }
                });
            }
        });
        let mut need = 0usize;
        assert_eq!(
            saraphis_residency_stats_json(r, null_mut(), 0, &mut need),
            SARAPHIS_OK
        );
        let mut buf = vec![0 as std::ffi::c_char; need + 64];
        assert_eq!(
            saraphis_residency_stats_json(r, buf.as_mut_ptr(), buf.len(), &mut need),
            SARAPHIS_OK
        );
        let json: serde_json::Value =
            serde_json::from_str(CStr::from_ptr(buf.as_ptr()).to_str().unwrap()).unwrap();
        let get = |k: &str| json[k].as_u64().unwrap_or_else(|| panic!("{k} in {json}"));
        let (ok, refused) = (ok.into_inner(), refused.into_inner());
        assert!(ok > 100, "{ok} acquires in {secs} s");
        assert_eq!(get("acquires"), ok, "{json}");
        assert_eq!(get("failures"), refused, "{json}");
        assert_eq!(get("hits") + get("misses"), ok, "{json}");
        assert_eq!(get("pinned_bytes"), 0, "{json}");
        assert!(get("peak_resident_bytes") <= budget, "{json}");
        assert!(get("evictions") > 0, "{json}");
        eprintln!("residency stress: {ok} acquires, {refused} budget refusals: {json}");
        saraphis_residency_free(r);
        saraphis_system_free(csys);
    }
}
