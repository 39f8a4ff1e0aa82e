//! Residency manager through the C API, on a real model:
//! `cargo bench --bench residency -- [MODEL.safetensors] [--out FILE.json] [--repeats N]
//! [--tile K] [--grow G] [--segment-elems N] [--floats-only] [--device cuda:0]` (default model:
//! tests/data/minilm-subset-f32.safetensors; `--tile K` repeats its tensors K times under new
//! names and `--grow G` repeats each tensor's data G times along its first axis: a larger model
//! of the same real weights, with `--grow` giving it the tensor sizes of a larger model;
//! `--floats-only` drops its integer and bool tensors, such as the position ids). Host
//! tier by default; `--device cuda:0` measures the device tier instead (below).
//!
//! The model is written as a lossless-v2 archive in memory (segments of `--segment-elems`
//! elements; default the codec's, 2^16) and opened with `saraphis_archive_open_memory`. Rows, each the median of `--repeats`:
//! - `acquire_hit_ns`: one `saraphis_residency_acquire` + `saraphis_residency_release` of a
//!   cached tensor (the budget holds the whole model), nanoseconds per pair;
//! - `decode_all`: every tensor decoded with `saraphis_archive_decompress` into one buffer each,
//!   in file order (the plain decode rate, the reference for streaming);
//! - `stream_quarter_budget` / `stream_quarter_budget_prefetch2`: the engine's loop (acquire,
//!   touch every byte, release, in file order) under a quarter of the decoded model (at least the
//!   largest tensor), without and with the next two tensors prefetched; MB/s of decoded output
//!   and the fraction of the `decode_all` rate; `stream_quarter_budget_double_buffer`: the
//!   same loop with the tensors cut, in file order, into windows of at most half the budget,
//!   and the next window prefetched (one `saraphis_residency_prefetch`) when the engine reaches
//!   the first tensor of a window, so that one window is decoded while the engine uses the
//!   one before.
//!
//! Every acquired tensor is checked bit for bit against the model once.
//!
//! Device tier (`--device cuda:0`; rows prefixed `device_`), all through the C API on one engine
//! stream: `device_acquire_hit_us` (`saraphis_residency_acquire_device` +
//! `_release_device` of a cached tensor, host microseconds per pair); `device_decode_batch` (the
//! reference: every tensor in one `saraphis_archive_decompress_device_batch` into preallocated
//! buffers, warm, synchronized); `device_decode_batch_then_read` (the same, then every tensor
//! read once by a device-to-device copy: the streaming loop's work without a budget);
//! `device_stream_quarter_budget[_prefetch2]` (the engine's loop
//! under a quarter of the decoded model: acquire on the engine stream, "compute" = a
//! device-to-device copy of the whole tensor on that stream, release; without and with the
//! next two tensors prefetched, in windows (every 16 tensors the next 32 are prefetched, one
//! batched decode), and double-buffered as on the host tier (windows of half the budget), the
//! last also without the copy (`_no_compute`: the decode alone under the budget); the fractions
//! of both references).

use std::ffi::c_void;
use std::ptr::null_mut;
use std::time::Instant;

use saraphis::ffi::*;
use saraphis::system::{Config, Device, System};
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let model = args
        .iter()
        .find(|a| a.ends_with(".safetensors"))
        .cloned()
        .unwrap_or_else(|| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/minilm-subset-f32.safetensors"
            )
            .into()
        });
    let repeats: usize = get("--repeats").and_then(|r| r.parse().ok()).unwrap_or(5);
    let tile: usize = get("--tile")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let grow: usize = get("--grow")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let segment_elems: u32 = get("--segment-elems")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let device = get("--device");
    let floats_only = args.iter().any(|a| a == "--floats-only");
    let src = tiled(
        &std::fs::read(&model).expect("model file"),
        tile,
        grow,
        floats_only,
    );
    let st = safetensors::SafeTensors::deserialize(&src).expect("safetensors");
    let sys = System::new(Config {
        device: Device::Cpu,
        ..with_segments(segment_elems)
    })
    .unwrap();
    let shape = Shape {
        model: &model,
        tile,
        grow,
        segment_elems,
        floats_only,
    };
    if let Some(d) = device {
        let rows = device_tier(&src, &st, &d, segment_elems, repeats);
        return finish(&get("--out"), &shape, &sys, repeats, rows);
    }
    let (cur, _, _) = sys
        .compress_safetensors(
            &src,
            std::io::Cursor::new(Vec::new()),
            saraphis::CodecParams::LosslessV2,
            &|_, _, _| {},
        )
        .unwrap();
    let sph = cur.into_inner();
    let mut rows = serde_json::Map::new();
    // SAFETY: C-ABI calls with valid pointers; every handle freed once below.
    unsafe {
        let (csys, a, want) = open_c(&sph, "cpu", &st);
        let n = want.len();
        let total: u64 = want.iter().map(|w| w.len() as u64).sum();
        let largest = want.iter().map(|w| w.len() as u64).max().unwrap();

        // Acquire of a cached tensor.
        let mut r = null_mut();
        assert_eq!(
            saraphis_residency_new(a, total, 1, &mut r),
            saraphis_result::SARAPHIS_OK
        );
        let (mut p, mut len) = (std::ptr::null(), 0usize);
        assert_eq!(
            saraphis_residency_acquire(r, 0, &mut p, &mut len),
            saraphis_result::SARAPHIS_OK
        );
        assert_eq!(
            saraphis_residency_release(r, 0),
            saraphis_result::SARAPHIS_OK
        );
        let iters = 200_000;
        let hit = median(
            (0..repeats)
                .map(|_| {
                    let t0 = Instant::now();
                    for _ in 0..iters {
                        saraphis_residency_acquire(r, 0, &mut p, &mut len);
                        saraphis_residency_release(r, 0);
                    }
                    t0.elapsed().as_secs_f64() * 1e9 / iters as f64
                })
                .collect(),
        );
        saraphis_residency_free(r);
        rows.insert(
            "acquire_hit_ns".into(),
            json!({ "ns_per_acquire_release": hit }),
        );
        eprintln!("acquire + release of a cached tensor: {hit:.0} ns");

        // Plain decode of every tensor.
        let mut bufs: Vec<Vec<u8>> = want.iter().map(|w| vec![0u8; w.len()]).collect();
        let decode_all = median(
            (0..repeats)
                .map(|_| {
                    let t0 = Instant::now();
                    for (i, b) in bufs.iter_mut().enumerate() {
                        let rc = saraphis_archive_decompress(
                            a,
                            i,
                            b.as_mut_ptr() as *mut c_void,
                            b.len(),
                        );
                        assert_eq!(rc, saraphis_result::SARAPHIS_OK);
                    }
                    t0.elapsed().as_secs_f64()
                })
                .collect(),
        );
        for (i, b) in bufs.iter().enumerate() {
            assert!(b.as_slice() == want[i], "tensor {i}");
        }
        drop(bufs);
        let rate = |s: f64| total as f64 / 1e6 / s;
        rows.insert(
            "decode_all".into(),
            json!({ "seconds": decode_all, "mb_s_of_output": rate(decode_all), "tensors": n }),
        );

        // The engine's loop under a quarter budget.
        let budget = (total / 4).max(largest);
        let windows = double_buffer_windows(&want, budget);
        for (row, depth) in [
            ("stream_quarter_budget", 0usize),
            ("stream_quarter_budget_prefetch2", 2),
            ("stream_quarter_budget_double_buffer", 0),
        ] {
            let double = row.ends_with("double_buffer");
            let mut checked = false;
            let mut stats = String::new();
            let secs = median(
                (0..repeats)
                    .map(|_| {
                        let mut r = null_mut();
                        assert_eq!(
                            saraphis_residency_new(a, budget, 1, &mut r),
                            saraphis_result::SARAPHIS_OK
                        );
                        let t0 = Instant::now();
                        let mut sink = 0u64;
                        for (i, w) in want.iter().enumerate() {
                            if double {
                                for next in windows.prefetch_at(i) {
                                    saraphis_residency_prefetch(
                                        r,
                                        next.as_ptr(),
                                        next.len(),
                                        null_mut(),
                                    );
                                }
                            } else if depth > 0 {
                                let next: Vec<usize> = (i + 1..(i + 1 + depth).min(n)).collect();
                                saraphis_residency_prefetch(
                                    r,
                                    next.as_ptr(),
                                    next.len(),
                                    null_mut(),
                                );
                            }
                            let (mut p, mut len) = (std::ptr::null(), 0usize);
                            assert_eq!(
                                saraphis_residency_acquire(r, i, &mut p, &mut len),
                                saraphis_result::SARAPHIS_OK
                            );
                            let got = std::slice::from_raw_parts(p as *const u8, len);
                            if !checked {
                                assert!(got == *w, "{row}: tensor {i}");
                            }
                            // The engine reads its weights: touch every 64th byte.
                            sink = sink.wrapping_add(
                                got.iter().step_by(64).map(|&b| b as u64).sum::<u64>(),
                            );
                            saraphis_residency_release(r, i);
                        }
                        let s = t0.elapsed().as_secs_f64();
                        std::hint::black_box(sink);
                        checked = true;
                        stats = stats_of(r);
                        saraphis_residency_free(r);
                        s
                    })
                    .collect(),
            );
            let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
            eprintln!(
                "{row}: {:.2} ms, {:.0} MB/s = {:.2} of decode_all",
                secs * 1e3,
                rate(secs),
                decode_all / secs
            );
            rows.insert(
                row.into(),
                json!({
                    "budget_bytes": budget, "decoded_model_bytes": total, "seconds": secs,
                    "mb_s_of_output": rate(secs), "fraction_of_decode_all": decode_all / secs,
                    "prefetch_depth": depth, "windows": if double { windows.starts.len() } else { 0 },
                    "last_pass_stats": stats,
                }),
            );
        }
        saraphis_archive_free(a);
        saraphis_system_free(csys);
    }
    finish(&get("--out"), &shape, &sys, repeats, rows)
}

/// How the benchmark's model was made (recorded in the JSON).
struct Shape<'a> {
    model: &'a str,
    tile: usize,
    grow: usize,
    segment_elems: u32,
    floats_only: bool,
}

/// The default configuration with lossless-v2 segments of `segment_elems` elements (0: the
/// codec's default).
fn with_segments(segment_elems: u32) -> Config {
    let mut c = Config::default();
    if segment_elems > 0 {
        c.chunk_elems = segment_elems;
    }
    c
}

/// The tensors cut, in file order, into windows of at most `budget / 2` bytes each (a tensor
/// larger than that is a window of its own), for the double-buffered loop.
struct Windows {
    /// Index of the first tensor of each window, increasing; the last window ends at the end.
    starts: Vec<usize>,
    n: usize,
}

fn double_buffer_windows(want: &[&[u8]], budget: u64) -> Windows {
    let half = (budget / 2).max(1);
    let mut starts = vec![0];
    let mut filled = 0u64;
    for (i, w) in want.iter().enumerate() {
        let len = w.len() as u64;
        if filled > 0 && filled + len > half {
            starts.push(i);
            filled = 0;
        }
        filled += len;
    }
    Windows {
        starts,
        n: want.len(),
    }
}

impl Windows {
    fn window(&self, k: usize) -> Vec<usize> {
        let end = self.starts.get(k + 1).copied().unwrap_or(self.n);
        (self.starts[k]..end).collect()
    }

    /// The prefetches the engine issues on reaching tensor `i`: at tensor 0 the first window
    /// and the second, at the first tensor of window `k` window `k + 1`.
    fn prefetch_at(&self, i: usize) -> Vec<Vec<usize>> {
        let Ok(k) = self.starts.binary_search(&i) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if k == 0 {
            out.push(self.window(0));
        }
        if k + 1 < self.starts.len() {
            out.push(self.window(k + 1));
        }
        out
    }
}

fn finish(
    out_path: &Option<String>,
    shape: &Shape,
    sys: &System,
    repeats: usize,
    rows: serde_json::Map<String, serde_json::Value>,
) {
    let out = json!({
        "benchmark": "residency",
        "model": shape.model,
        "tile": shape.tile,
        "grow": shape.grow,
        "floats_only": shape.floats_only,
        "segment_elems": shape.segment_elems,
        "threads": sys.threads(),
        "repeats": repeats,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "results": rows,
    });
    let text = serde_json::to_string_pretty(&out).unwrap();
    match out_path {
        Some(p) => std::fs::write(p, &text).expect("write --out"),
        None => println!("{text}"),
    }
}

/// A residency manager's statistics JSON through `saraphis_residency_stats_json`.
///
/// # Safety
/// `r` is a live residency handle.
unsafe fn stats_of(r: *const saraphis_residency) -> String {
    let mut need = 0usize;
    saraphis_residency_stats_json(r, null_mut(), 0, &mut need);
    let mut buf = vec![0 as std::ffi::c_char; need + 256];
    saraphis_residency_stats_json(r, buf.as_mut_ptr(), buf.len(), &mut need);
    std::ffi::CStr::from_ptr(buf.as_ptr())
        .to_string_lossy()
        .into_owned()
}

/// A C-API system on `device` and the archive `sph` opened on it, with each tensor's original
/// bytes from `st` in the archive's order.
///
/// # Safety
/// The handles are the caller's to free; `sph` outlives the archive.
unsafe fn open_c<'a>(
    sph: &[u8],
    device: &str,
    st: &safetensors::SafeTensors<'a>,
) -> (*mut saraphis_system, *mut saraphis_archive, Vec<&'a [u8]>) {
    let mut cfg = null_mut();
    assert_eq!(saraphis_config_new(&mut cfg), saraphis_result::SARAPHIS_OK);
    let dname = std::ffi::CString::new(device).unwrap();
    assert_eq!(
        saraphis_config_set_device(cfg, dname.as_ptr()),
        saraphis_result::SARAPHIS_OK
    );
    let mut csys = null_mut();
    assert_eq!(
        saraphis_system_new(cfg, &mut csys),
        saraphis_result::SARAPHIS_OK
    );
    saraphis_config_free(cfg);
    let mut a = null_mut();
    assert_eq!(
        saraphis_archive_open_memory(csys, sph.as_ptr() as *const c_void, sph.len(), &mut a),
        saraphis_result::SARAPHIS_OK
    );
    let mut n = 0usize;
    saraphis_archive_tensor_count(a, &mut n);
    let want = (0..n)
        .map(|i| {
            let name = std::ffi::CStr::from_ptr(saraphis_archive_tensor_name(a, i));
            st.tensor(name.to_str().unwrap()).unwrap().data()
        })
        .collect();
    (csys, a, want)
}

/// The safetensors file `src` with its tensors repeated `k` times (copy `c` of tensor `t` is
/// named `t` for `c = 0`, `t.copyC` otherwise), in file order, and each tensor's data repeated
/// `g` times along its first axis (a 0-dimensional tensor becomes 1-dimensional): a larger
/// model of the same real weights; `floats_only` drops the integer and bool tensors.
fn tiled(src: &[u8], k: usize, g: usize, floats_only: bool) -> Vec<u8> {
    if k == 1 && g == 1 && !floats_only {
        return src.to_vec();
    }
    let st = safetensors::SafeTensors::deserialize(src).expect("safetensors");
    let mut names: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
    if floats_only {
        use safetensors::Dtype as D;
        names.retain(|(_, v)| matches!(v.dtype(), D::F32 | D::F16 | D::BF16 | D::F64));
    }
    names.sort_by_key(|(_, v)| v.data().as_ptr() as usize);
    let grown: Vec<(Vec<usize>, Vec<u8>)> = names
        .iter()
        .map(|(_, v)| {
            let mut shape = v.shape().to_vec();
            if shape.is_empty() {
                shape.push(1);
            }
            shape[0] *= g;
            (shape, v.data().repeat(g))
        })
        .collect();
    let mut all = Vec::new();
    for c in 0..k {
        for ((n, v), (shape, data)) in names.iter().zip(&grown) {
            let name = if c == 0 {
                n.clone()
            } else {
                format!("{n}.copy{c}")
            };
            let view = safetensors::tensor::TensorView::new(v.dtype(), shape.clone(), data)
                .expect("grown tensor");
            all.push((name, view));
        }
    }
    safetensors::serialize(all, &None).expect("serialize")
}

/// The device-tier rows (see the module documentation).
fn device_tier(
    src: &[u8],
    st: &safetensors::SafeTensors,
    device: &str,
    segment_elems: u32,
    repeats: usize,
) -> serde_json::Map<String, serde_json::Value> {
    use cudarc::driver::DevicePtrMut;
    let sys = System::new(Config {
        device: device.parse().expect("--device cuda:N"),
        ..with_segments(segment_elems)
    })
    .expect("the GPU");
    let (cur, _, _) = sys
        .compress_safetensors(
            src,
            std::io::Cursor::new(Vec::new()),
            saraphis::CodecParams::LosslessV2,
            &|_, _, _| {},
        )
        .unwrap();
    let sph = cur.into_inner();
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let cs = stream.cu_stream() as *mut c_void;
    let mut rows = serde_json::Map::new();
    // SAFETY: C-ABI calls with valid pointers; every handle freed once below.
    unsafe {
        let (csys, a, want) = open_c(&sph, device, st);
        let n = want.len();
        let total: u64 = want.iter().map(|w| w.len() as u64).sum();
        let largest = want.iter().map(|w| w.len() as u64).max().unwrap();
        let rate = |s: f64| total as f64 / 1e9 / s;

        // Reference: the whole model in one batched call (warm: first decodes done before).
        let mut outs: Vec<cudarc::driver::CudaSlice<u8>> = want
            .iter()
            .map(|w| stream.alloc_zeros::<u8>(w.len().max(1)).unwrap())
            .collect();
        let list: Vec<saraphis_archive_output> = outs
            .iter_mut()
            .enumerate()
            .map(|(i, o)| {
                let (p, _g) = o.device_ptr_mut(&stream);
                saraphis_archive_output {
                    index: i,
                    dst_dev: p as usize as *mut c_void,
                    dst_bytes: want[i].len(),
                }
            })
            .collect();
        let batch = || {
            let t0 = Instant::now();
            assert_eq!(
                saraphis_archive_decompress_device_batch(a, list.as_ptr(), list.len(), cs),
                saraphis_result::SARAPHIS_OK
            );
            stream.synchronize().unwrap();
            t0.elapsed().as_secs_f64()
        };
        batch();
        for (i, o) in outs.iter().enumerate() {
            assert!(
                stream.clone_dtoh(o).unwrap()[..want[i].len()] == *want[i],
                "batch: tensor {i}"
            );
        }
        let batch_s = median((0..repeats.max(3)).map(|_| batch()).collect());
        eprintln!(
            "device batch decode: {:.3} ms, {:.1} GB/s",
            batch_s * 1e3,
            rate(batch_s)
        );
        rows.insert(
            "device_decode_batch".into(),
            json!({ "seconds": batch_s, "gb_s_of_output": rate(batch_s), "tensors": n, "bytes": total }),
        );
        // The same decode followed by the engine loop's work (every tensor read once by a
        // device-to-device copy), with no budget: what the streaming rows do, unconstrained.
        let mut scratch = stream.alloc_zeros::<u8>(largest as usize).unwrap();
        let (sp, _g) = scratch.device_ptr_mut(&stream);
        drop(_g);
        let batch_read_s = median(
            (0..repeats.max(3))
                .map(|_| {
                    let t0 = Instant::now();
                    assert_eq!(
                        saraphis_archive_decompress_device_batch(a, list.as_ptr(), list.len(), cs),
                        saraphis_result::SARAPHIS_OK
                    );
                    for o in &list {
                        cudarc::driver::result::memcpy_dtod_async(
                            sp,
                            o.dst_dev as u64,
                            o.dst_bytes,
                            cs as _,
                        )
                        .unwrap();
                    }
                    stream.synchronize().unwrap();
                    t0.elapsed().as_secs_f64()
                })
                .collect(),
        );
        // One archive device call of a single tensor, synchronized, per dtype kind: the first
        // integer tensor and the float tensor closest to it in size (the per-call cost; the
        // 2026-12-03 run found ~0.17 ms per I64 tensor in the batched call).
        let mut info = std::mem::zeroed::<saraphis_tensor_info>();
        let kinds: Vec<(usize, bool)> = (0..n)
            .map(|i| {
                saraphis_archive_tensor_info(a, i, &mut info);
                (i, matches!(info.dtype, 0..=3))
            })
            .collect();
        let int = kinds.iter().find(|k| !k.1).map(|k| k.0);
        let mut single = serde_json::Map::new();
        if let Some(ii) = int {
            let fl = kinds
                .iter()
                .filter(|k| k.1)
                .min_by_key(|k| (want[k.0].len() as i64 - want[ii].len() as i64).abs())
                .map(|k| k.0)
                .unwrap();
            for (what, i) in [("integer", ii), ("float", fl)] {
                let o = &list[i];
                let us = median(
                    (0..repeats.max(3))
                        .map(|_| {
                            let t0 = Instant::now();
                            for _ in 0..50 {
                                assert_eq!(
                                    saraphis_archive_decompress_device(
                                        a,
                                        i,
                                        o.dst_dev,
                                        o.dst_bytes,
                                        cs
                                    ),
                                    saraphis_result::SARAPHIS_OK
                                );
                                stream.synchronize().unwrap();
                            }
                            t0.elapsed().as_secs_f64() * 1e6 / 50.0
                        })
                        .collect(),
                );
                saraphis_archive_tensor_info(a, i, &mut info);
                eprintln!(
                    "single device call, synchronized, {what} tensor {i} ({} bytes, codec {}): {us:.1} us",
                    want[i].len(),
                    info.codec
                );
                single.insert(
                    what.into(),
                    json!({ "tensor": i, "bytes": want[i].len(), "codec": info.codec, "us": us }),
                );
            }
        }
        rows.insert("device_single_call_synchronized_us".into(), single.into());

        drop(outs);
        eprintln!(
            "device batch decode, then every tensor read: {:.3} ms, {:.1} GB/s",
            batch_read_s * 1e3,
            rate(batch_read_s)
        );
        rows.insert(
            "device_decode_batch_then_read".into(),
            json!({ "seconds": batch_read_s, "gb_s_of_output": rate(batch_read_s) }),
        );

        // Acquire of a cached tensor.
        let mut r = null_mut();
        assert_eq!(
            saraphis_residency_new_device(a, total, 1, &mut r),
            saraphis_result::SARAPHIS_OK
        );
        let (mut p, mut len) = (null_mut(), 0usize);
        assert_eq!(
            saraphis_residency_acquire_device(r, 0, cs, &mut p, &mut len),
            saraphis_result::SARAPHIS_OK
        );
        saraphis_residency_release_device(r, 0, cs);
        let iters = 20_000;
        let hit = median(
            (0..repeats)
                .map(|_| {
                    let t0 = Instant::now();
                    for _ in 0..iters {
                        saraphis_residency_acquire_device(r, 0, cs, &mut p, &mut len);
                        saraphis_residency_release_device(r, 0, cs);
                    }
                    t0.elapsed().as_secs_f64() * 1e6 / iters as f64
                })
                .collect(),
        );
        stream.synchronize().unwrap();
        saraphis_residency_free(r);
        eprintln!("device acquire + release of a cached tensor: {hit:.2} us");
        rows.insert(
            "device_acquire_hit_us".into(),
            json!({ "us_per_acquire_release": hit }),
        );

        // The engine's loop under a quarter budget.
        let budget = (total / 4).max(largest);
        let windows = double_buffer_windows(&want, budget);
        for (row, depth) in [
            ("device_stream_quarter_budget", 0usize),
            ("device_stream_quarter_budget_prefetch2", 2),
            // Windows: every 16 tensors, the next 32 are prefetched (one batched decode of
            // what is not resident yet).
            ("device_stream_quarter_budget_window16", 16),
            ("device_stream_quarter_budget_double_buffer", 0),
            // The same without the engine's work (acquire and release only; the checking
            // pass still reads): the decode alone under the budget.
            ("device_stream_quarter_budget_double_buffer_no_compute", 0),
        ] {
            let window = row.ends_with("window16");
            let double = row.contains("double_buffer");
            let compute = !row.ends_with("no_compute");
            let mut checked = false;
            let mut stats = String::new();
            let secs = median(
                (0..repeats + 1)
                    .map(|_| {
                        let mut r = null_mut();
                        assert_eq!(
                            saraphis_residency_new_device(a, budget, 1, &mut r),
                            saraphis_result::SARAPHIS_OK
                        );
                        let t0 = Instant::now();
                        for (i, w) in want.iter().enumerate() {
                            if double {
                                for next in windows.prefetch_at(i) {
                                    saraphis_residency_prefetch(
                                        r,
                                        next.as_ptr(),
                                        next.len(),
                                        null_mut(),
                                    );
                                }
                            }
                            let next: Vec<usize> = if window {
                                if i % depth == 0 {
                                    (i..(i + 2 * depth).min(n)).collect()
                                } else {
                                    Vec::new()
                                }
                            } else {
                                (i + 1..(i + 1 + depth).min(n)).collect()
                            };
                            if !next.is_empty() {
                                saraphis_residency_prefetch(
                                    r,
                                    next.as_ptr(),
                                    next.len(),
                                    null_mut(),
                                );
                            }
                            let (mut p, mut len) = (null_mut(), 0usize);
                            assert_eq!(
                                saraphis_residency_acquire_device(r, i, cs, &mut p, &mut len),
                                saraphis_result::SARAPHIS_OK
                            );
                            // The engine's work on its stream: read the whole tensor.
                            if compute || !checked {
                                cudarc::driver::result::memcpy_dtod_async(
                                    sp, p as u64, len, cs as _,
                                )
                                .unwrap();
                            }
                            if !checked {
                                let mut got = vec![0u8; len];
                                cudarc::driver::result::memcpy_dtoh_async(&mut got, sp, cs as _)
                                    .unwrap();
                                stream.synchronize().unwrap();
                                assert!(got == *w, "{row}: tensor {i}");
                            }
                            saraphis_residency_release_device(r, i, cs);
                        }
                        stream.synchronize().unwrap();
                        let s = t0.elapsed().as_secs_f64();
                        stats = stats_of(r);
                        saraphis_residency_free(r);
                        if checked {
                            s
                        } else {
                            checked = true;
                            f64::INFINITY // the checking pass is not timed
                        }
                    })
                    .filter(|s| s.is_finite())
                    .collect(),
            );
            let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
            eprintln!(
                "{row}: {:.3} ms, {:.1} GB/s = {:.2} of the batched decode, {:.2} of it with the reads",
                secs * 1e3,
                rate(secs),
                batch_s / secs,
                batch_read_s / secs
            );
            rows.insert(
                row.into(),
                json!({
                    "budget_bytes": budget, "decoded_model_bytes": total, "seconds": secs,
                    "gb_s_of_output": rate(secs), "fraction_of_batch": batch_s / secs,
                    "fraction_of_batch_then_read": batch_read_s / secs,
                    "prefetch_depth": depth, "windows": if double { windows.starts.len() } else { 0 },
                    "last_pass_stats": stats,
                }),
            );
        }
        drop(scratch);
        saraphis_archive_free(a);
        saraphis_system_free(csys);
    }
    rows
}
