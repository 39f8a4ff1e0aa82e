//! GPU decode benchmark (run on the GPU host by scripts/gpu-run.sh):
//! `gpu [--out FILE.json] [--gib N] [--repeats N] [--only TEXT] [--model MODEL.safetensors]`.
//!
//! `--model`: every F32 tensor of a real model (BF16 by round to nearest even, and F32),
//! compressed with the default lossless codec (layout v2), uploaded tensor by tensor as an
//! engine would, then decoded through the C API on one stream: tensor by tensor (one
//! `saraphis_decompress_device` call each) and batched (one `saraphis_decompress_device_batch`
//! call), checksums verified (the default). Rows `model_{bf16,f32}`. The same tensors are also
//! written as a `.sph` archive and decoded through the archive C API
//! (`saraphis_archive_decompress_device_batch`): the first batch (containers uploaded, first
//! decodes checked one by one: the load) once, wall clock, then warm batches timed as above
//! (`archive_first_batch_ms`, `archive_batched_ms`), and the tensors one call each on the
//! library's stream (`archive_tensor_by_tensor_wall_ms_library_stream`). Each row also gives
//! every call's GPU time (`per_call_us_by_tensor`: [elements, µs], from one more pass with an
//! event after each call). `--model-segment-elems A,B`: the same rows with segments of A, B
//! elements (`model_{bf16,f32}_seg{A}`), for what shorter chains buy and cost: the raw-call rows
//! plan blocks for 2^16-element segments (the host cannot see a raw container's segment
//! length), the archive rows per segment (the archive knows it from the header).
//!
//! Real weights (the MiniLM tensors of tests/data) are tiled to N GiB (default 1), compressed
//! on the CPU, uploaded once, and decoded on the GPU into a device buffer with CUDA events
//! around each launch (3 warm-ups, median of the repeats). Every decode is checked bit for bit
//! once. The ceiling is a device-to-device copy of the same size, timed the same way; each
//! figure is also given as a fraction of it, counting bytes read plus written.
//!
//! Rows `quant_decode_*`: the same tiled weights compressed with the quant codec (8-bit and
//! 4-bit blocks of 32, error-bounded at 1e-3; chunks of 2^16) and decoded by
//! `saraphis_decode_quant`, with the chunk checksums verified (the default) and without.
#[path = "../tests/common/mod.rs"]
mod common;

use std::ffi::c_void;

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use saraphis::backend::cuda::{CudaDevice, EncodeLayout, NOMINAL_SEGMENT_ELEMS};
use saraphis::codec::quant::QuantParams;
use saraphis::codec::{self, CodecParams, CompressOptions};
use saraphis::system::DeviceSlice;
use saraphis::system::{Config, Device, System};
use saraphis::{DType, ErrorBound, PadicParams};
use serde_json::json;

/// The F32 fixture's path (from the repository root or the crate's directory).
fn fixture_path() -> std::path::PathBuf {
    [
        "tests/data/minilm-subset-f32.safetensors",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/minilm-subset-f32.safetensors"
        ),
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
    .expect("tests/data fixture")
}

fn fixture_f32() -> Vec<u8> {
    let p = [
        "tests/data/minilm-subset-f32.safetensors",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/minilm-subset-f32.safetensors"
        ),
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("tests/data fixture");
    let buf = std::fs::read(p).unwrap();
    let st = safetensors::SafeTensors::deserialize(&buf).unwrap();
    let mut v = Vec::new();
    for (_, t) in st.tensors() {
        if format!("{:?}", t.dtype()) == "F32" {
            v.extend_from_slice(t.data());
        }
    }
    v
}

/// The F32 fixture `base` as `dtype` (F32, or BF16 by round to nearest even) repeated to at
/// most `target` bytes (whole copies).
fn tiled(base: &[u8], dtype: DType, target: usize) -> Vec<u8> {
    let unit: Vec<u8> = if dtype == DType::F32 {
        base.to_vec()
    } else {
        base.chunks_exact(4)
            .flat_map(|c| {
                half::bf16::from_f32(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes()
            })
            .collect()
    };
    let n_bytes = target / unit.len() * unit.len();
    let mut data = Vec::with_capacity(n_bytes);
    while data.len() < n_bytes {
        data.extend_from_slice(&unit);
    }
    data
}

/// Enqueue one GPU compression of the tensor at `src` into `dst` on `stream`, with caller
/// temporary memory `temp` (at least `layout.temp_bytes`), the length into `size`.
fn encode_on(
    dev: &CudaDevice,
    stream: &Arc<CudaStream>,
    layout: &EncodeLayout,
    src: &CudaSlice<u8>,
    dst: &mut CudaSlice<u8>,
    temp: &mut CudaSlice<u8>,
    size: &mut CudaSlice<u64>,
) {
    let (sp, _g1) = src.device_ptr(stream);
    let (dp, _g2) = dst.device_ptr_mut(stream);
    let (tp, _g3) = temp.device_ptr_mut(stream);
    let (zp, _g4) = size.device_ptr_mut(stream);
    let cs = stream.cu_stream() as *mut c_void;
    // SAFETY: live allocations of the stated sizes, all on `stream`.
    unsafe {
        dev.encode_async(layout, sp, dp, layout.bound, tp, layout.temp_bytes, zp, cs)
            .unwrap();
    }
}

/// Every element of `got` within `bound` of `want` (non-finite values bit for bit).
fn check_bound(want: &[u8], got: &[u8], dtype: DType, bound: ErrorBound) {
    let size = dtype.size();
    let load = |b: &[u8]| -> f64 {
        match dtype {
            DType::F32 => f32::from_le_bytes(b.try_into().unwrap()) as f64,
            DType::F64 => f64::from_le_bytes(b.try_into().unwrap()),
            DType::F16 => half::f16::from_le_bytes(b.try_into().unwrap()).to_f64(),
            _ => half::bf16::from_le_bytes(b.try_into().unwrap()).to_f64(),
        }
    };
    for (i, (w, g)) in want
        .chunks_exact(size)
        .zip(got.chunks_exact(size))
        .enumerate()
    {
        let (x, y) = (load(w), load(g));
        let ok = if x.is_finite() {
            (y - x).abs()
                <= match bound {
                    ErrorBound::Abs(e) => e,
                    ErrorBound::Rel(e) => e * x.abs(),
                }
        } else {
            w == g
        };
        assert!(ok, "element {i}: {x:e} decoded as {y:e}, beyond {bound:?}");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let out = get("--out").unwrap_or_else(|| "bench-out/gpu.json".into());
    let gib: f64 = get("--gib").and_then(|v| v.parse().ok()).unwrap_or(1.0);
    let repeats: usize = get("--repeats").and_then(|v| v.parse().ok()).unwrap_or(20);
    // `--only TEXT`: run only the rows whose name contains TEXT (e.g. `padic`).
    let only = get("--only");
    let wanted = |row: &str| only.as_deref().is_none_or(|o| row.contains(o));
    let sys = System::new(Config {
        device: Device::Cuda(0),
        ..Config::default()
    })
    .expect("cuda:0");
    let dev = sys.cuda_device().unwrap().clone();
    let ctx = dev.context().clone();
    let stream = ctx.new_stream().unwrap();
    let ev = || {
        ctx.new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
            .unwrap()
    };
    // Median seconds of `repeats` runs of `work` on `stream` (CUDA events) after 3 warm-ups.
    // `work(first)` enqueues one run; on the first (a warm-up, so untimed) it also checks the output.
    let timed = |work: &mut dyn FnMut(bool)| -> f64 {
        let mut times = Vec::new();
        for r in 0..repeats + 3 {
            let (s, e) = (ev(), ev());
            s.record(&stream).unwrap();
            work(r == 0);
            e.record(&stream).unwrap();
            e.synchronize().unwrap();
            if r >= 3 {
                times.push(s.elapsed_ms(&e).unwrap() as f64 / 1e3);
            }
        }
        median(times)
    };
    let base = fixture_f32();
    let target = (gib * (1u64 << 30) as f64) as usize;
    let mut results = serde_json::Map::new();

    // Ceiling: device-to-device copy of `target` bytes.
    let a = stream.alloc_zeros::<u8>(target).unwrap();
    let mut b = stream.alloc_zeros::<u8>(target).unwrap();
    let copy_gbs =
        2.0 * target as f64 / 1e9 / timed(&mut |_| stream.memcpy_dtod(&a, &mut b).unwrap());
    drop((a, b));
    eprintln!("device copy: {copy_gbs:.0} GB/s (read + written)");
    results.insert(
        "device_copy".into(),
        json!({"bytes": target, "gb_s_read_plus_written": copy_gbs}),
    );

    // The pinned-host tier: every container of a model moved off the GPU, then every tensor
    // decoded again (the containers uploaded again), with pinned memory for them (the default
    // 1024 MiB) and without (0: uploaded from the archive's bytes in pageable memory). Wall
    // clock of trim + decodes + synchronization, median of `repeats` after a warm-up.
    if wanted("pinned_tier") {
        // `--model`, or the fixture's tensors repeated to about `--gib` (each copy's low
        // mantissa bytes changed, so that no two tensors are identical and none is shared).
        let (model, src) = match get("--model") {
            Some(m) => (m.clone(), std::fs::read(&m).unwrap()),
            None => {
                let base = std::fs::read(fixture_path()).unwrap();
                let st = safetensors::SafeTensors::deserialize(&base).unwrap();
                let one: usize = st.tensors().iter().map(|(_, t)| t.data().len()).sum();
                let copies = ((gib * (1u64 << 30) as f64) as usize)
                    .div_ceil(one)
                    .clamp(1, 256);
                let mut owned = Vec::new();
                for k in 0..copies {
                    for (name, t) in st.tensors() {
                        let mut d = t.data().to_vec();
                        if format!("{:?}", t.dtype()) == "F32" {
                            for e in d.chunks_exact_mut(4) {
                                e[0] ^= k as u8;
                            }
                        }
                        owned.push((format!("copy{k}.{name}"), t.dtype(), t.shape().to_vec(), d));
                    }
                }
                let views: Vec<(String, safetensors::tensor::TensorView)> = owned
                    .iter()
                    .map(|(n, dt, sh, d)| {
                        (
                            n.clone(),
                            safetensors::tensor::TensorView::new(*dt, sh.clone(), d).unwrap(),
                        )
                    })
                    .collect();
                let bytes = safetensors::serialize(views, &None).unwrap();
                (format!("fixture x {copies}"), bytes)
            }
        };
        let (cur, _, _) = sys
            .compress_safetensors(
                &src,
                std::io::Cursor::new(Vec::new()),
                CodecParams::LosslessV2,
                &|_, _, _| {},
            )
            .unwrap();
        let sph = cur.into_inner();
        let mut row = json!({"model": model, "archive_bytes": sph.len()});
        for limit_mb in [0u64, 1024] {
            let psys = std::sync::Arc::new(
                System::new(Config {
                    device: Device::Cuda(0),
                    pinned_host_limit_mb: limit_mb,
                    ..Config::default()
                })
                .unwrap(),
            );
            let a = saraphis::system::Archive::from_vec(psys.clone(), sph.clone()).unwrap();
            let n = a.len();
            let mut dsts: Vec<_> = (0..n)
                .map(|i| {
                    stream
                        .alloc_zeros::<u8>(a.info(i).unwrap().original_bytes.max(1) as usize)
                        .unwrap()
                })
                .collect();
            let cs = stream.cu_stream() as *mut c_void;
            let mut decode_all = || {
                for (i, d) in dsts.iter_mut().enumerate() {
                    let len = a.info(i).unwrap().original_bytes;
                    let (p, _g) = d.device_ptr_mut(&stream);
                    // SAFETY: live allocations of `len` bytes used on `stream` only.
                    unsafe {
                        a.decompress_device(
                            i,
                            saraphis::system::DeviceSlice::new(saraphis::system::DevicePtr(p), len),
                            cs,
                        )
                        .unwrap()
                    };
                }
                stream.synchronize().unwrap();
            };
            decode_all();
            let mut times = Vec::new();
            for r in 0..repeats + 1 {
                let t0 = std::time::Instant::now();
                // SAFETY: the stream was synchronized: nothing reads the containers.
                unsafe { a.trim_device(0, None).unwrap() };
                decode_all();
                if r > 0 {
                    times.push(t0.elapsed().as_secs_f64());
                }
            }
            let containers: u64 = (0..n).map(|i| a.entry(i).unwrap().length).sum();
            let stats: serde_json::Value = serde_json::from_str(&psys.stats_json()).unwrap();
            let t = median(times);
            row[format!("pinned_limit_{limit_mb}_mb")] = json!({
                "trim_and_decode_all_ms": t * 1e3,
                "containers_bytes": containers,
                "container_gb_s": containers as f64 / 1e9 / t,
                "pinned_uploads": stats["cache"]["pinned_uploads"],
            });
        }
        eprintln!("pinned tier: {row}");
        results.insert("pinned_tier".into(), row);
    }

    if let Some(model) = get("--model").filter(|_| wanted("model")) {
        for (name, r) in model_rows(
            &model,
            &sys,
            &stream,
            &timed,
            NOMINAL_SEGMENT_ELEMS as u32,
            repeats,
        ) {
            eprintln!("{name}: {r}");
            results.insert(name, r);
        }
        // `--model-segment-elems A,B,..`: the same rows with other segment lengths (rows
        // `model_{bf16,f32}_seg{N}`): what shorter chains buy and cost in ratio.
        for seg in get("--model-segment-elems")
            .unwrap_or_default()
            .split(',')
            .filter_map(|v| v.trim().parse::<u32>().ok())
        {
            for (name, r) in model_rows(&model, &sys, &stream, &timed, seg, repeats) {
                let name = format!("{name}_seg{seg}");
                eprintln!("{name}: {r}");
                results.insert(name, r);
            }
        }
    }
    for (name, dtype) in [("bf16", DType::BF16), ("f32", DType::F32)] {
        if !wanted(&format!("lossless_v2_decode_{name}")) {
            continue;
        }
        let data = tiled(&base, dtype, target);
        let n_bytes = data.len();
        let numel = (n_bytes / dtype.size()) as u64;
        let t0 = std::time::Instant::now();
        let c = v2_container(&data, dtype, &[numel], NOMINAL_SEGMENT_ELEMS as u32);
        let cpu_s = t0.elapsed().as_secs_f64();
        let segments = codec::inspect(&c).unwrap().chunks as u64;
        let src = stream.clone_htod(&c).unwrap();
        let mut dst = stream.clone_htod(&vec![0xA5u8; n_bytes]).unwrap();
        let mut status = stream.alloc_zeros::<i32>(segments as usize).unwrap();
        let (sp, dp, stp) = {
            let (sp, _a) = src.device_ptr(&stream);
            let (dp, _b) = dst.device_ptr_mut(&stream);
            let (stp, _c) = status.device_ptr_mut(&stream);
            (sp, dp, stp)
        };
        let cs = stream.cu_stream() as *mut c_void;
        // "api": System::decompress_device, the C call's path (all decode kernels, each leaving
        // the others' containers alone; segment checksums on); "kernel": the layout-v2 kernel
        // alone, with and without checksums.
        for (variant, verify, api) in [
            ("api", true, true),
            ("kernel", true, false),
            ("kernel_nocheck", false, false),
        ] {
            let t = timed(&mut |first| {
                // SAFETY: live allocations of the stated sizes, all on `stream`.
                unsafe {
                    if api {
                        sys.decompress_device(&saraphis::system::DeviceDecode {
                            src: DeviceSlice::new(saraphis::system::DevicePtr(sp), c.len() as u64),
                            dtype,
                            dst: DeviceSlice::new(saraphis::system::DevicePtr(dp), n_bytes as u64),
                            status: DeviceSlice::new(saraphis::system::DevicePtr(stp), segments),
                            stream: cs,
                        })
                        .unwrap();
                    } else {
                        dev.decode_segmented_async(
                            &[saraphis::backend::cuda::SegmentedItem {
                                src: sp,
                                src_len: c.len() as u64,
                                dst: dp,
                                dst_len: n_bytes as u64,
                                dtype,
                                status: stp,
                                status_len: segments,
                                segment_elems: 0,
                            }],
                            false,
                            verify,
                            cs,
                        )
                        .unwrap();
                    }
                }
                if first {
                    let st = stream.clone_dtoh(&status).unwrap();
                    assert!(
                        st.iter().all(|&x| x == 0),
                        "segment status {:?}",
                        st.iter().find(|&&x| x != 0)
                    );
                    assert!(
                        stream.clone_dtoh(&dst).unwrap() == data,
                        "v2 GPU decode is not bit-exact"
                    );
                }
            });
            let gbs = n_bytes as f64 / 1e9 / t;
            let moved = (n_bytes + c.len()) as f64 / 1e9 / t;
            let r = json!({
                "original_bytes": n_bytes, "compressed_bytes": c.len(), "ratio": n_bytes as f64 / c.len() as f64,
                "segments": segments, "segment_elems": NOMINAL_SEGMENT_ELEMS, "checksum_verified_on_gpu": verify,
                "path": variant, "decompress_gb_s_of_output": gbs, "bytes_moved_gb_s": moved,
                "fraction_of_copy_ceiling": moved / copy_gbs, "median_ms": t * 1e3, "cpu_compress_seconds": cpu_s,
            });
            eprintln!("lossless-v2 {name} {variant}: {r}");
            results.insert(format!("lossless_v2_decode_{name}_{variant}"), r);
        }
    }
    for (name, dtype, chunk_elems, lanes, verify) in [
        ("f32", DType::F32, 1u32 << 18, 0u32, false),
        ("bf16", DType::BF16, 1 << 18, 0, false),
        ("f32_chunk32k", DType::F32, 1 << 15, 0, false),
        ("bf16_chunk32k", DType::BF16, 1 << 15, 0, false),
        ("f32_lanes128", DType::F32, 1 << 18, 128, false),
        ("bf16_lanes128", DType::BF16, 1 << 18, 128, false),
        ("f32_lanes128_crc", DType::F32, 1 << 18, 128, true),
        ("bf16_lanes128_crc", DType::BF16, 1 << 18, 128, true),
        ("f32_lanes128_unfused", DType::F32, 1 << 18, 128, false),
        ("bf16_lanes128_unfused", DType::BF16, 1 << 18, 128, false),
        ("f32_unfused", DType::F32, 1 << 18, 0, false),
        ("bf16_unfused", DType::BF16, 1 << 18, 0, false),
    ] {
        if !wanted(&format!("lossless_decode_{name}")) {
            continue;
        }
        let fused = !name.ends_with("_unfused");
        let data = tiled(&base, dtype, target);
        let n_bytes = data.len();
        let numel = (n_bytes / dtype.size()) as u64;
        let t0 = std::time::Instant::now();
        // Layout v1 (these rows time its kernels; lanes 0 would give layout v2 now).
        let c = codec::compress_with_layout(
            &data,
            dtype,
            &[numel],
            &CompressOptions {
                codec: CodecParams::Lossless,
                chunk_elems,
                lanes,
            },
            codec::StreamLayout::Lanes,
        )
        .unwrap()
        .bytes;
        let cpu_s = t0.elapsed().as_secs_f64();
        let chunks = codec::inspect(&c).unwrap().chunks as u64;
        let src = stream.clone_htod(&c).unwrap();
        let mut dst = stream.clone_htod(&vec![0xA5u8; n_bytes]).unwrap();
        let mut status = stream.alloc_zeros::<i32>(chunks as usize).unwrap();
        let temp = if fused {
            0
        } else {
            saraphis::backend::cuda::CudaDevice::unfused_temp_bytes(dtype, numel) as usize
        };
        let mut planes = stream.alloc_zeros::<u8>(temp.max(1)).unwrap();
        let t = timed(&mut |first| {
            {
                let (sp, _g1) = src.device_ptr(&stream);
                let (dp, _g2) = dst.device_ptr_mut(&stream);
                let (stp, _g3) = status.device_ptr_mut(&stream);
                let (pp, _g4) = planes.device_ptr_mut(&stream);
                let cs = stream.cu_stream() as *mut c_void;
                // SAFETY: live allocations of the stated sizes, all on `stream`.
                unsafe {
                    if fused {
                        dev.decode_exact_async(
                            sp,
                            c.len() as u64,
                            dtype,
                            dp,
                            n_bytes as u64,
                            stp,
                            chunks,
                            cs,
                            Some(chunks),
                            verify,
                        )
                        .unwrap();
                    } else {
                        dev.decode_exact_unfused_async(
                            sp,
                            c.len() as u64,
                            dtype,
                            dp,
                            n_bytes as u64,
                            stp,
                            chunks,
                            cs,
                            Some(chunks),
                            verify,
                            pp,
                        )
                        .unwrap();
                    }
                }
            }
            if first {
                let got = stream.clone_dtoh(&dst).unwrap();
                let st = stream.clone_dtoh(&status).unwrap();
                assert!(
                    st.iter().all(|&x| x == 0),
                    "chunk status {:?}",
                    st.iter().find(|&&x| x != 0)
                );
                assert!(got == data, "GPU decode is not bit-exact");
            }
        });
        let gbs = n_bytes as f64 / 1e9 / t;
        let moved = (n_bytes + c.len()) as f64 / 1e9 / t;
        let r = json!({
            "original_bytes": n_bytes, "compressed_bytes": c.len(), "ratio": n_bytes as f64 / c.len() as f64,
            "chunks": chunks, "chunk_elems": chunk_elems, "lanes": if lanes == 0 { 32 } else { lanes }, "crc_verified_on_gpu": verify, "decompress_gb_s_of_output": gbs, "bytes_moved_gb_s": moved,
            "fraction_of_copy_ceiling": moved / copy_gbs, "median_ms": t * 1e3,
            "temporary_device_bytes": temp, "fused": fused, "cpu_compress_seconds": cpu_s,
        });
        eprintln!("lossless {name}: {r}");
        results.insert(format!("lossless_decode_{name}"), r);
        if !fused || verify || chunk_elems != 1 << 18 {
            continue;
        }
        // GPU compression of the same tensor, from the decoded copy already on the device.
        let opts = CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems,
            lanes,
        };
        let layout = System::compress_device_layout(dtype, &[numel], &opts).unwrap();
        let mut cdst = stream.alloc_zeros::<u8>(layout.bound as usize).unwrap();
        let mut ctemp = stream
            .alloc_zeros::<u8>(layout.temp_bytes as usize)
            .unwrap();
        let mut csize = stream.alloc_zeros::<u64>(1).unwrap();
        let t = timed(&mut |first| {
            encode_on(
                &dev, &stream, &layout, &dst, &mut cdst, &mut ctemp, &mut csize,
            );
            if first {
                let len = stream.clone_dtoh(&csize).unwrap()[0] as usize;
                let got = stream.clone_dtoh(&cdst).unwrap();
                assert!(
                    len == c.len() && got[..len] == c[..],
                    "GPU container differs from the CPU's"
                );
            }
        });
        let gbs = n_bytes as f64 / 1e9 / t;
        let moved = (n_bytes + c.len()) as f64 / 1e9 / t;
        let r = json!({
            "original_bytes": n_bytes, "compressed_bytes": c.len(), "ratio": n_bytes as f64 / c.len() as f64,
            "chunks": chunks, "chunk_elems": chunk_elems, "lanes": if lanes == 0 { 32 } else { lanes },
            "compress_gb_s_of_input": gbs, "bytes_moved_gb_s": moved, "fraction_of_copy_ceiling": moved / copy_gbs,
            "median_ms": t * 1e3, "temporary_device_bytes": layout.temp_bytes,
            "temporary_fraction_of_input": layout.temp_bytes as f64 / n_bytes as f64,
            "same_bytes_as_cpu": true, "cpu_compress_seconds": cpu_s,
        });
        eprintln!("lossless compress {name}: {r}");
        results.insert(format!("lossless_compress_{name}"), r);
    }
    // p-adic decode: CPU containers decoded on the GPU, checked against the CPU's decode.
    for (name, dtype, bound, lanes) in [
        ("f32_abs1e-3", DType::F32, ErrorBound::Abs(1e-3), 0u32),
        ("bf16_abs1e-3", DType::BF16, ErrorBound::Abs(1e-3), 0),
        (
            "f32_abs1e-3_lanes128",
            DType::F32,
            ErrorBound::Abs(1e-3),
            128,
        ),
        ("f32_rel1e-2", DType::F32, ErrorBound::Rel(1e-2), 0),
    ] {
        if !wanted(&format!("padic_decode_{name}")) && !wanted(&format!("padic_compress_{name}")) {
            continue;
        }
        let data = tiled(&base, dtype, target);
        let n_bytes = data.len();
        let numel = (n_bytes / dtype.size()) as u64;
        let opts = CompressOptions {
            codec: CodecParams::Padic(PadicParams::new(bound)),
            chunk_elems: 1 << 18,
            lanes,
        };
        let t0 = std::time::Instant::now();
        let c = sys.compress(&data, dtype, &[numel], &opts).unwrap().bytes;
        let cpu_s = t0.elapsed().as_secs_f64();
        let mut want = vec![0u8; n_bytes];
        let t0 = std::time::Instant::now();
        sys.decompress_into(&c, dtype, &mut want).unwrap();
        let cpu_dec_s = t0.elapsed().as_secs_f64();
        let info = codec::inspect(&c).unwrap();
        let chunks = info.chunks as u64;
        let src = stream.clone_htod(&c).unwrap();
        let mut dst = stream.clone_htod(&vec![0xA5u8; n_bytes]).unwrap();
        let mut status = stream.alloc_zeros::<i32>(chunks as usize).unwrap();
        let t = timed(&mut |first| {
            {
                let (sp, _g1) = src.device_ptr(&stream);
                let (dp, _g2) = dst.device_ptr_mut(&stream);
                let (stp, _g3) = status.device_ptr_mut(&stream);
                let cs = stream.cu_stream() as *mut c_void;
                // SAFETY: live allocations of the stated sizes, all on `stream`.
                unsafe {
                    dev.decode_exact_async(
                        sp,
                        c.len() as u64,
                        dtype,
                        dp,
                        n_bytes as u64,
                        stp,
                        chunks,
                        cs,
                        Some(chunks),
                        false,
                    )
                    .unwrap();
                }
            }
            if first {
                let st = stream.clone_dtoh(&status).unwrap();
                assert!(
                    st.iter().all(|&x| x == 0),
                    "chunk status {:?}",
                    st.iter().find(|&&x| x != 0)
                );
                assert!(
                    stream.clone_dtoh(&dst).unwrap() == want,
                    "GPU p-adic decode differs from the CPU's"
                );
            }
        });
        let gbs = n_bytes as f64 / 1e9 / t;
        let moved = (n_bytes + c.len()) as f64 / 1e9 / t;
        let r = json!({
            "original_bytes": n_bytes, "compressed_bytes": c.len(), "ratio": n_bytes as f64 / c.len() as f64,
            "prime": info.prime, "digit_planes": info.precision, "bound": format!("{bound:?}"),
            "chunks": chunks, "chunk_elems": 1 << 18, "lanes": if lanes == 0 { 32 } else { lanes },
            "decompress_gb_s_of_output": gbs, "bytes_moved_gb_s": moved, "fraction_of_copy_ceiling": moved / copy_gbs,
            "median_ms": t * 1e3, "temporary_device_bytes": 0, "same_values_as_cpu": true,
            "cpu_compress_seconds": cpu_s, "cpu_decompress_seconds": cpu_dec_s,
        });
        eprintln!("padic decode {name}: {r}");
        results.insert(format!("padic_decode_{name}"), r);
        drop((src, dst, status, want));
        // p-adic compression on the GPU of the original tensor, from device memory; the first
        // run's container is decoded on the CPU and checked element by element.
        let orig = stream.clone_htod(&data).unwrap();
        let layout = System::compress_device_layout(dtype, &[numel], &opts).unwrap();
        let mut cdst = stream.alloc_zeros::<u8>(layout.bound as usize).unwrap();
        let mut ctemp = stream
            .alloc_zeros::<u8>(layout.temp_bytes as usize)
            .unwrap();
        let mut csize = stream.alloc_zeros::<u64>(1).unwrap();
        let mut glen = 0usize;
        let t = timed(&mut |first| {
            encode_on(
                &dev, &stream, &layout, &orig, &mut cdst, &mut ctemp, &mut csize,
            );
            if first {
                glen = stream.clone_dtoh(&csize).unwrap()[0] as usize;
                let got = stream.clone_dtoh(&cdst).unwrap();
                let mut back = vec![0u8; n_bytes];
                sys.decompress_into(&got[..glen], dtype, &mut back).unwrap();
                check_bound(&data, &back, dtype, bound);
            }
        });
        let gbs = n_bytes as f64 / 1e9 / t;
        let moved = (n_bytes + glen) as f64 / 1e9 / t;
        let r = json!({
            "original_bytes": n_bytes, "compressed_bytes": glen, "ratio": n_bytes as f64 / glen as f64,
            "cpu_container_bytes": c.len(), "prime": info.prime, "bound": format!("{bound:?}"),
            "chunks": chunks, "chunk_elems": 1 << 18, "lanes": if lanes == 0 { 32 } else { lanes },
            "compress_gb_s_of_input": gbs, "bytes_moved_gb_s": moved, "fraction_of_copy_ceiling": moved / copy_gbs,
            "median_ms": t * 1e3, "temporary_device_bytes": layout.temp_bytes,
            "temporary_fraction_of_input": layout.temp_bytes as f64 / n_bytes as f64,
            "bound_checked_per_element": true, "cpu_compress_seconds": cpu_s,
        });
        eprintln!("padic compress {name}: {r}");
        results.insert(format!("padic_compress_{name}"), r);
    }
    // Quant codec (codec 5): CPU-compressed containers of the tiled weights decoded on the GPU by
    // `saraphis_decode_quant`, with the chunk checksums verified (the default) and without.
    for (name, dtype, q) in [
        ("bf16_q8_block32", DType::BF16, QuantParams::default()),
        (
            "bf16_q4_block32_min",
            DType::BF16,
            QuantParams {
                bits: 4,
                zero_point: true,
                ..QuantParams::default()
            },
        ),
        ("f32_q8_block32", DType::F32, QuantParams::default()),
        ("bf16_abs1e-3", DType::BF16, QuantParams::bounded(1e-3)),
    ] {
        if !wanted(&format!("quant_decode_{name}")) {
            continue;
        }
        let data = tiled(&base, dtype, target);
        let n_bytes = data.len();
        let numel = (n_bytes / dtype.size()) as u64;
        let opts = CompressOptions {
            codec: CodecParams::Quant(q),
            chunk_elems: 1 << 16,
            lanes: 0,
        };
        let t0 = std::time::Instant::now();
        let c = sys.compress(&data, dtype, &[numel], &opts).unwrap().bytes;
        let cpu_s = t0.elapsed().as_secs_f64();
        let mut want = vec![0u8; n_bytes];
        let t0 = std::time::Instant::now();
        sys.decompress_into(&c, dtype, &mut want).unwrap();
        let cpu_dec_s = t0.elapsed().as_secs_f64();
        drop(data);
        let info = codec::inspect(&c).unwrap();
        let chunks = info.chunks as u64;
        let src = stream.clone_htod(&c).unwrap();
        let mut dst = stream.clone_htod(&vec![0xA5u8; n_bytes]).unwrap();
        let mut status = stream.alloc_zeros::<i32>(chunks as usize).unwrap();
        let mut row = json!({
            "original_bytes": n_bytes, "compressed_bytes": c.len(), "ratio": n_bytes as f64 / c.len() as f64,
            "bits_per_weight": 8.0 * c.len() as f64 / numel as f64,
            "params": format!("{q:?}"), "max_abs_error": info.max_abs_error,
            "chunks": chunks, "chunk_elems": 1 << 16, "same_values_as_cpu": true,
            "cpu_compress_seconds": cpu_s, "cpu_decompress_seconds": cpu_dec_s,
        });
        for verify in [true, false] {
            let t = timed(&mut |first| {
                {
                    let (sp, _g1) = src.device_ptr(&stream);
                    let (dp, _g2) = dst.device_ptr_mut(&stream);
                    let (stp, _g3) = status.device_ptr_mut(&stream);
                    let item = saraphis::backend::cuda::SegmentedItem {
                        src: sp,
                        src_len: c.len() as u64,
                        dst: dp,
                        dst_len: n_bytes as u64,
                        dtype,
                        status: stp,
                        status_len: chunks,
                        segment_elems: 0,
                    };
                    let cs = stream.cu_stream() as *mut c_void;
                    // SAFETY: live allocations of the stated sizes, all on `stream`.
                    unsafe { dev.decode_quant_async(item, chunks, cs, verify).unwrap() };
                }
                if first {
                    let st = stream.clone_dtoh(&status).unwrap();
                    assert!(
                        st.iter().all(|&x| x == 0),
                        "quant {name}: chunk status {:?}",
                        st.iter().find(|&&x| x != 0)
                    );
                    assert!(
                        stream.clone_dtoh(&dst).unwrap() == want,
                        "GPU quant decode {name} differs from the CPU's"
                    );
                }
            });
            let gbs = n_bytes as f64 / 1e9 / t;
            let moved = (n_bytes + c.len()) as f64 / 1e9 / t;
            let key = if verify {
                "checksum_on"
            } else {
                "checksum_off"
            };
            row[key] = json!({
                "decompress_gb_s_of_output": gbs, "bytes_moved_gb_s": moved,
                "fraction_of_copy_ceiling": moved / copy_gbs, "median_ms": t * 1e3,
            });
        }
        eprintln!("quant decode {name}: {row}");
        results.insert(format!("quant_decode_{name}"), row);
    }
    // Sparse codec (codec 6): 2:4- and 90%-magnitude-pruned tiles (real weights, pruned as
    // common::prune_2_4 / prune_magnitude do), CPU-compressed, decoded on the GPU by the nested
    // decodes and the scatter (`decode_sparse_async`, the archives' path), checksums on and
    // off; beside the same pruned data in the default dense lossless-v2 container.
    for (name, dtype, prune) in [
        ("bf16_2of4", DType::BF16, "2:4"),
        ("f32_2of4", DType::F32, "2:4"),
        ("bf16_90pct", DType::BF16, "90%"),
    ] {
        if !wanted(&format!("sparse_decode_{name}")) {
            continue;
        }
        let pruned_base = if prune == "2:4" {
            common::prune_2_4(&base, 4)
        } else {
            common::prune_magnitude(&base, 0.9)
        };
        let data = tiled(&pruned_base, dtype, target);
        let n_bytes = data.len();
        let numel = (n_bytes / dtype.size()) as u64;
        let opts = CompressOptions {
            codec: CodecParams::Sparse(saraphis::codec::sparse::SparseParams::default()),
            chunk_elems: saraphis::codec::sparse::DEFAULT_CHUNK_ELEMS,
            lanes: 0,
        };
        let t0 = std::time::Instant::now();
        let c = sys.compress(&data, dtype, &[numel], &opts).unwrap().bytes;
        let cpu_s = t0.elapsed().as_secs_f64();
        let dense = v2_container(&data, dtype, &[numel], 1 << 16);
        drop(data);
        let info = codec::inspect(&c).unwrap();
        let s = info.sparse.expect("sparse wins on pruned weights");
        let mut want = vec![0u8; n_bytes];
        sys.decompress_into(&c, dtype, &mut want).unwrap();
        let src = stream.clone_htod(&c).unwrap();
        let dsrc = stream.clone_htod(&dense).unwrap();
        let mut dst = stream.clone_htod(&vec![0xA5u8; n_bytes]).unwrap();
        let mut status = stream.alloc_zeros::<i32>(2).unwrap();
        let dense_segments = codec::inspect(&dense).unwrap().chunks as u64;
        let mut dstatus = stream.alloc_zeros::<i32>(dense_segments as usize).unwrap();
        let mut row = json!({
            "original_bytes": n_bytes, "compressed_bytes": c.len(), "ratio": n_bytes as f64 / c.len() as f64,
            "dense_lossless_v2_bytes": dense.len(), "dense_lossless_v2_ratio": n_bytes as f64 / dense.len() as f64,
            "nonzeros": s.nonzeros, "density": s.nonzeros as f64 / numel as f64,
            "mask_codec": s.mask_codec.name(), "values_codec": s.values_codec.name(),
            "mask_bytes": s.mask_len, "values_bytes": s.values_len, "pruning": prune,
            "cpu_compress_seconds": cpu_s, "same_values_as_cpu": true,
        });
        for verify in [true, false] {
            let cs = stream.cu_stream() as *mut c_void;
            let t = timed(&mut |first| {
                {
                    let (sp, _g1) = src.device_ptr(&stream);
                    let (dp, _g2) = dst.device_ptr_mut(&stream);
                    let (stp, _g3) = status.device_ptr_mut(&stream);
                    let part = |offset, len, chunks| saraphis::backend::cuda::NestedPart {
                        offset,
                        len,
                        chunks,
                    };
                    let d = saraphis::backend::cuda::SparseDecode {
                        src: sp,
                        src_len: c.len() as u64,
                        dtype,
                        dst: dp,
                        numel,
                        nonzeros: s.nonzeros,
                        block_elems: info.chunk_elems,
                        starts_offset: s.starts_offset,
                        mask: part(s.mask_offset, s.mask_len, s.mask_chunks),
                        values: part(s.values_offset, s.values_len, s.values_chunks),
                        values_v2: s.values_codec
                            == saraphis::format::container::CodecId::LosslessV2,
                        status: stp,
                        status_len: 2,
                    };
                    // SAFETY: live allocations of the stated sizes, all on `stream`.
                    unsafe { dev.decode_sparse_async(&d, cs, verify).unwrap() };
                }
                if first {
                    let st = stream.clone_dtoh(&status).unwrap();
                    assert_eq!(st[0], 0, "sparse {name}: status");
                    assert!(
                        stream.clone_dtoh(&dst).unwrap() == want,
                        "GPU sparse decode {name} differs from the CPU's"
                    );
                }
            });
            let td = timed(&mut |first| {
                {
                    let (sp, _g1) = dsrc.device_ptr(&stream);
                    let (dp, _g2) = dst.device_ptr_mut(&stream);
                    let (stp, _g3) = dstatus.device_ptr_mut(&stream);
                    let item = saraphis::backend::cuda::SegmentedItem {
                        src: sp,
                        src_len: dense.len() as u64,
                        dst: dp,
                        dst_len: n_bytes as u64,
                        dtype,
                        status: stp,
                        status_len: dense_segments,
                        segment_elems: 0,
                    };
                    // SAFETY: as above.
                    unsafe { dev.decode_lossless_v2_async(item, cs, verify).unwrap() };
                }
                if first {
                    assert!(
                        stream.clone_dtoh(&dst).unwrap() == want,
                        "GPU dense decode {name} differs"
                    );
                }
            });
            let key = if verify {
                "checksum_on"
            } else {
                "checksum_off"
            };
            row[key] = json!({
                "decompress_gb_s_of_output": n_bytes as f64 / 1e9 / t, "median_ms": t * 1e3,
                "dense_lossless_v2_gb_s_of_output": n_bytes as f64 / 1e9 / td, "dense_median_ms": td * 1e3,
            });
        }
        // Where the time goes: the nested decodes alone, and the mask coded other ways (same
        // mask words; sizes and GPU decode times), to choose the mask's coding.
        let mask_c = &c[s.mask_offset as usize..(s.mask_offset + s.mask_len) as usize];
        let values_c = &c[s.values_offset as usize..(s.values_offset + s.values_len) as usize];
        let mut words = vec![0u8; codec::sparse::mask_bytes(numel) as usize];
        codec::decompress_into(mask_c, DType::U8, &mut words).unwrap();
        let mut stages = serde_json::Map::new();
        let cs = stream.cu_stream() as *mut c_void;
        let mut mdst = stream.alloc_zeros::<u8>(words.len()).unwrap();
        let mut mst = stream.alloc_zeros::<i32>(1 << 16).unwrap();
        for (what, opts) in [
            (
                "mask_bytes_16k_32lanes",
                Some((saraphis::codec::sparse::MASK_CHUNK_BYTES, 0)),
            ),
            ("mask_bytes_64k_128lanes", Some((1 << 16, 128))),
            ("mask_bytes_256k_128lanes", Some((1 << 18, 128))),
            ("mask_raw_64k", None),
        ] {
            let o = match opts {
                Some((chunk, lanes)) => CompressOptions {
                    codec: CodecParams::Lossless,
                    chunk_elems: chunk,
                    lanes,
                },
                None => CompressOptions {
                    codec: CodecParams::Raw,
                    chunk_elems: 1 << 16,
                    lanes: 0,
                },
            };
            let mc = codec::compress(&words, DType::U8, &[words.len() as u64], &o)
                .unwrap()
                .bytes;
            let chunks = codec::inspect(&mc).unwrap().chunks as u64;
            let msrc = stream.clone_htod(&mc).unwrap();
            let t = timed(&mut |first| {
                {
                    let (sp, _g1) = msrc.device_ptr(&stream);
                    let (dp, _g2) = mdst.device_ptr_mut(&stream);
                    let (stp, _g3) = mst.device_ptr_mut(&stream);
                    // SAFETY: live allocations of the stated sizes, all on `stream`.
                    unsafe {
                        dev.decode_exact_async(
                            sp,
                            mc.len() as u64,
                            DType::U8,
                            dp,
                            words.len() as u64,
                            stp,
                            chunks,
                            cs,
                            Some(chunks),
                            true,
                        )
                        .unwrap()
                    };
                }
                if first {
                    assert!(stream.clone_dtoh(&mdst).unwrap() == words, "mask {what}");
                }
            });
            stages.insert(
                what.into(),
                json!({"bytes": mc.len(), "decode_ms": t * 1e3, "chunks": chunks}),
            );
        }
        let vsrc = stream.clone_htod(values_c).unwrap();
        let mut vdst = stream
            .alloc_zeros::<u8>((s.nonzeros as usize * dtype.size()).max(1))
            .unwrap();
        let tv = timed(&mut |_| {
            let (sp, _g1) = vsrc.device_ptr(&stream);
            let (dp, _g2) = vdst.device_ptr_mut(&stream);
            let (stp, _g3) = mst.device_ptr_mut(&stream);
            let item = saraphis::backend::cuda::SegmentedItem {
                src: sp,
                src_len: values_c.len() as u64,
                dst: dp,
                dst_len: s.nonzeros * dtype.size() as u64,
                dtype,
                status: stp,
                status_len: s.values_chunks,
                segment_elems: 0,
            };
            // SAFETY: as above.
            unsafe { dev.decode_lossless_v2_async(item, cs, true).unwrap() };
        });
        stages.insert("values_v2_decode_ms".into(), json!(tv * 1e3));
        // The scatter's arguments from the buffers above (no nested statuses, no status).
        let scatter = |mp, vp, dp, sp: u64| saraphis::backend::cuda::SparseScatter {
            mask: mp,
            values: vp,
            dst: dp,
            starts: sp + s.starts_offset,
            numel,
            nonzeros: s.nonzeros,
            block_elems: info.chunk_elems,
            dtype,
            nested: 0,
            nested_len: 0,
            status: 0,
        };
        // The scatter alone, from the mask words and values decoded above.
        let ts = timed(&mut |first| {
            let (mp, _g1) = mdst.device_ptr(&stream);
            let (vp, _g2) = vdst.device_ptr(&stream);
            let (sp, _g3) = src.device_ptr(&stream);
            let (dp, _g4) = dst.device_ptr_mut(&stream);
            // SAFETY: as above.
            unsafe {
                dev.sparse_scatter_async(&scatter(mp, vp, dp, sp), &[], cs)
                    .unwrap()
            };
            drop((_g1, _g2, _g3, _g4));
            if first {
                assert!(
                    stream.clone_dtoh(&dst).unwrap() == want,
                    "scatter alone {name}"
                );
            }
        });
        stages.insert("scatter_ms".into(), json!(ts * 1e3));
        // The three steps back to back into the buffers above (no pool, no status zeroing):
        // what decode_sparse_async costs beyond its kernels is the difference. The mask is the
        // container's own nested one.
        let mchunks = s.mask_chunks;
        let msrc = stream.clone_htod(mask_c).unwrap();
        let tk = timed(&mut |_| {
            let (msp, _g0) = msrc.device_ptr(&stream);
            let (mp, _g1) = mdst.device_ptr_mut(&stream);
            let (vsp, _g5) = vsrc.device_ptr(&stream);
            let (vp, _g2) = vdst.device_ptr_mut(&stream);
            let (sp, _g3) = src.device_ptr(&stream);
            let (dp, _g4) = dst.device_ptr_mut(&stream);
            let (stp, _g6) = mst.device_ptr_mut(&stream);
            // SAFETY: as above.
            unsafe {
                dev.decode_exact_async(
                    msp,
                    mask_c.len() as u64,
                    DType::U8,
                    mp,
                    words.len() as u64,
                    stp,
                    mchunks,
                    cs,
                    Some(mchunks),
                    true,
                )
                .unwrap();
                let item = saraphis::backend::cuda::SegmentedItem {
                    src: vsp,
                    src_len: values_c.len() as u64,
                    dst: vp,
                    dst_len: s.nonzeros * dtype.size() as u64,
                    dtype,
                    status: stp + 4 * mchunks,
                    status_len: s.values_chunks,
                    segment_elems: 0,
                };
                dev.decode_lossless_v2_async(item, cs, true).unwrap();
                dev.sparse_scatter_async(&scatter(mp, vp, dp, sp), &[], cs)
                    .unwrap();
            }
        });
        stages.insert("three_kernels_own_buffers_ms".into(), json!(tk * 1e3));
        // The pool allocation and free of one call's temporary memory, alone.
        let scratch = (words.len() + s.nonzeros as usize * dtype.size() + (1 << 16)) as u64;
        let tp = timed(&mut |_| unsafe {
            let p = dev.pool_alloc_async(scratch, cs).unwrap();
            dev.pool_free_async(p, cs).unwrap();
        });
        stages.insert("pool_alloc_free_ms".into(), json!(tp * 1e3));
        row["stages"] = serde_json::Value::Object(stages);
        eprintln!("sparse decode {name}: {row}");
        results.insert(format!("sparse_decode_{name}"), row);
    }
    let doc = json!({"benchmark": "gpu", "device": format!("{:?}", dev), "sms": dev.sms, "repeats": repeats, "results": results});
    if let Some(d) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(d).ok();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    println!("wrote {out}");
}

/// A lossless-v2 container of `data` (the default layout, segments of the default length).
fn v2_container(data: &[u8], dtype: DType, shape: &[u64], segment_elems: u32) -> Vec<u8> {
    let o = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: segment_elems,
        lanes: 0,
    };
    codec::compress_with_layout(data, dtype, shape, &o, codec::StreamLayout::Segments)
        .unwrap()
        .bytes
}

/// A new event of `stream`'s context.
fn ev_new(stream: &Arc<CudaStream>) -> cudarc::driver::CudaEvent {
    stream
        .context()
        .new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
        .unwrap()
}

/// Times one enqueued piece of work (median ms over the repeats; `work(first)` as in `main`).
type Timer<'a> = &'a dyn Fn(&mut dyn FnMut(bool)) -> f64;

/// Whole-model rows: every F32 tensor of `model` (file order by name) as BF16 and as F32,
/// decoded through the C API tensor by tensor and batched, on one stream.
fn model_rows(
    model: &str,
    sys: &System,
    stream: &Arc<CudaStream>,
    timed: Timer,
    segment_elems: u32,
    repeats: usize,
) -> Vec<(String, serde_json::Value)> {
    use saraphis::ffi;
    let buf = std::fs::read(model).expect("read --model");
    let st = safetensors::SafeTensors::deserialize(&buf).expect("safetensors");
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let mut csys: *mut ffi::saraphis_system = std::ptr::null_mut();
    // SAFETY: a valid out pointer; the handle is freed below.
    assert_eq!(
        unsafe { ffi::saraphis_system_new(std::ptr::null(), &mut csys) } as u32,
        0
    );
    let cs = stream.cu_stream() as *mut c_void;
    let mut rows = Vec::new();
    for (name, dtype) in [("bf16", DType::BF16), ("f32", DType::F32)] {
        let mut originals = Vec::new();
        let mut containers = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut shapes: Vec<Vec<u64>> = Vec::new();
        for (tname, v) in &views {
            // F32 tensors (BF16 rows: rounded to nearest even), or U16 tensors holding BF16 bits
            // (a BF16 copy of the model readable without ml_dtypes, as the peer script reads it).
            let data = match (format!("{:?}", v.dtype()).as_str(), dtype) {
                ("F32", DType::F32) => v.data().to_vec(),
                ("F32", _) => tiled(v.data(), DType::BF16, v.data().len() / 2),
                ("U16" | "BF16", DType::BF16) => v.data().to_vec(),
                _ => continue,
            };
            let shape: Vec<u64> = v.shape().iter().map(|&d| d as u64).collect();
            containers.push(v2_container(&data, dtype, &shape, segment_elems));
            originals.push(data);
            names.push(tname.clone());
            shapes.push(shape);
        }
        let n = originals.len();
        if n == 0 {
            continue;
        }
        let srcs: Vec<CudaSlice<u8>> = containers
            .iter()
            .map(|c| stream.clone_htod(c).unwrap())
            .collect();
        let mut dsts: Vec<CudaSlice<u8>> = originals
            .iter()
            .map(|o| stream.clone_htod(&vec![0xA5u8; o.len()]).unwrap())
            .collect();
        let seg_counts: Vec<u64> = containers
            .iter()
            .map(|c| codec::inspect(c).unwrap().chunks as u64)
            .collect();
        let mut seg_status: Vec<CudaSlice<i32>> = seg_counts
            .iter()
            .map(|&k| stream.alloc_zeros::<i32>(k.max(1) as usize).unwrap())
            .collect();
        let mut statuses = stream.alloc_zeros::<i32>(n).unwrap();
        let mut descs = Vec::with_capacity(n);
        let mut seg_ptrs = Vec::with_capacity(n);
        for k in 0..n {
            let (sp, _a) = srcs[k].device_ptr(stream);
            let (dp, _b) = dsts[k].device_ptr_mut(stream);
            let (stp, _c) = seg_status[k].device_ptr_mut(stream);
            seg_ptrs.push(stp);
            descs.push(ffi::saraphis_device_tensor {
                src_dev: sp as usize as *const c_void,
                src_bytes: containers[k].len(),
                dst_dev: dp as usize as *mut c_void,
                dst_bytes: originals[k].len(),
                dtype: dtype as u32,
            });
        }
        let st_ptr = {
            let (p, _g) = statuses.device_ptr_mut(stream);
            p
        };
        // One `saraphis_decompress_device` call of tensor k on CUstream `s` (null: the
        // library's own stream).
        let call = |k: usize, s: *mut c_void| {
            let d = &descs[k];
            // SAFETY: live device allocations of the stated sizes; every loop below waits for
            // its stream before the outputs are read or the buffers reused.
            let r = unsafe {
                ffi::saraphis_decompress_device(
                    csys,
                    d.src_dev,
                    d.src_bytes,
                    d.dtype,
                    d.dst_dev,
                    d.dst_bytes,
                    seg_ptrs[k] as usize as *mut i32,
                    seg_counts[k] as usize,
                    s,
                )
            };
            assert_eq!(r as u32, 0);
        };
        let check = |dsts: &[CudaSlice<u8>]| {
            for (k, d) in dsts.iter().enumerate() {
                assert!(
                    stream.clone_dtoh(d).unwrap() == originals[k],
                    "{name} tensor {k}: not bit-exact"
                );
            }
        };
        let per_tensor = timed(&mut |first| {
            for k in 0..n {
                call(k, cs);
            }
            if first {
                for (k, s) in seg_status.iter().enumerate() {
                    assert!(
                        stream.clone_dtoh(s).unwrap().iter().all(|&x| x == 0),
                        "{name} tensor {k}: status"
                    );
                }
            }
        });
        if per_tensor > 0.0 {
            check(&dsts);
        }
        // Tensor by tensor, wall clock from the first enqueue to the end of the last decode (host
        // synchronized): on the bench's stream, and on the library's own stream (a null
        // CUstream), where consecutive decodes may overlap on the GPU (sm_90+). Median of the
        // repeats after 3 warm-ups; outputs checked after the own-stream runs.
        let wall = |own: bool| -> f64 {
            let mut times = Vec::new();
            for r in 0..repeats + 3 {
                // SAFETY: the library's stream and the bench's are idle here.
                unsafe { ffi::saraphis_device_synchronize(csys) };
                stream.synchronize().unwrap();
                let t = std::time::Instant::now();
                for k in 0..n {
                    call(k, if own { std::ptr::null_mut() } else { cs });
                }
                if own {
                    // SAFETY: a live system handle.
                    assert_eq!(unsafe { ffi::saraphis_device_synchronize(csys) } as u32, 0);
                } else {
                    stream.synchronize().unwrap();
                }
                if r >= 3 {
                    times.push(t.elapsed().as_secs_f64());
                }
            }
            median(times)
        };
        let wall_stream = wall(false);
        for d in dsts.iter_mut() {
            stream.memset_zeros(d).unwrap();
        }
        stream.synchronize().unwrap();
        let wall_own = wall(true);
        check(&dsts);
        // One more tensor-by-tensor pass with an event after every call: each call's GPU time
        // (its kernels plus the gap before them), to see where the per-call time goes.
        let call_us: Vec<f64> = {
            let evs: Vec<_> = (0..=n).map(|_| ev_new(stream)).collect();
            evs[0].record(stream).unwrap();
            for k in 0..n {
                call(k, cs);
                evs[k + 1].record(stream).unwrap();
            }
            evs[n].synchronize().unwrap();
            (0..n)
                .map(|k| evs[k].elapsed_ms(&evs[k + 1]).unwrap() as f64 * 1e3)
                .collect()
        };
        let numels: Vec<u64> = originals
            .iter()
            .map(|o| (o.len() / dtype.size()) as u64)
            .collect();
        let (mut small_us, mut small_n, mut large_us, mut large_n) = (0.0, 0, 0.0, 0);
        for k in 0..n {
            if numels[k] < segment_elems as u64 {
                small_us += call_us[k];
                small_n += 1;
            } else {
                large_us += call_us[k];
                large_n += 1;
            }
        }
        let mut smallest = (0..n).collect::<Vec<_>>();
        smallest.sort_by_key(|&k| numels[k]);
        // Host cost of one call: 200 calls on the smallest tensor, wall clock of the enqueue
        // loop (before any synchronization) and GPU time (events), through the C API and through
        // the layout-v2 launch alone.
        let overhead = {
            let k = smallest[0];
            let d = &descs[k];
            let reps = 200;
            let e0 = ev_new(stream);
            let e1 = ev_new(stream);
            stream.synchronize().unwrap();
            e0.record(stream).unwrap();
            let t = std::time::Instant::now();
            for _ in 0..reps {
                call(k, cs);
            }
            let host_api = t.elapsed().as_secs_f64() / reps as f64;
            e1.record(stream).unwrap();
            e1.synchronize().unwrap();
            let gpu_api = e0.elapsed_ms(&e1).unwrap() as f64 / 1e3 / reps as f64;
            let dev = sys.cuda_device().unwrap();
            let item = saraphis::backend::cuda::SegmentedItem {
                src: d.src_dev as u64,
                src_len: d.src_bytes as u64,
                dst: d.dst_dev as u64,
                dst_len: d.dst_bytes as u64,
                dtype,
                status: seg_ptrs[k],
                status_len: seg_counts[k],
                segment_elems: 0,
            };
            e0.record(stream).unwrap();
            let t = std::time::Instant::now();
            for _ in 0..reps {
                // SAFETY: as above.
                unsafe { dev.decode_segmented_async(&[item], false, true, cs) }.unwrap();
            }
            let host_v2 = t.elapsed().as_secs_f64() / reps as f64;
            e1.record(stream).unwrap();
            e1.synchronize().unwrap();
            let gpu_v2 = e0.elapsed_ms(&e1).unwrap() as f64 / 1e3 / reps as f64;
            json!({"elements": numels[k], "calls": reps,
                "c_api_host_us_per_call": host_api * 1e6, "c_api_gpu_us_per_call": gpu_api * 1e6,
                "v2_launch_only_host_us_per_call": host_v2 * 1e6, "v2_launch_only_gpu_us_per_call": gpu_v2 * 1e6})
        };
        for d in dsts.iter_mut() {
            stream.memset_zeros(d).unwrap();
        }
        let batched = timed(&mut |first| {
            // SAFETY: as above; `descs` is read during the call only.
            let r = unsafe {
                ffi::saraphis_decompress_device_batch(
                    csys,
                    descs.as_ptr(),
                    n,
                    st_ptr as usize as *mut i32,
                    cs,
                )
            };
            assert_eq!(r as u32, 0);
            if first {
                let st = stream.clone_dtoh(&statuses).unwrap();
                assert!(
                    st.iter().all(|&x| x == 0),
                    "{name}: batched statuses {st:?}"
                );
            }
        });
        check(&dsts);
        // The archive rows: an archive of the same segment length through the archive C API,
        // whose host knows each container's segment length (blocks planned per segment; the
        // raw calls above plan for 2^16-element segments whatever the containers hold).
        let (archive_cold, archive_warm, archive_single) = {
            let t = archive_timing(
                csys,
                sys,
                stream,
                timed,
                dtype,
                &names,
                &shapes,
                &originals,
                &mut dsts,
                segment_elems,
                repeats,
            );
            check(&dsts);
            t
        };
        let orig: usize = originals.iter().map(|o| o.len()).sum();
        let comp: usize = containers.iter().map(|c| c.len()).sum();
        rows.push((format!("model_{name}"), json!({
            "model": model, "tensors": n, "original_bytes": orig, "compressed_bytes": comp,
            "ratio": orig as f64 / comp as f64, "segments": seg_counts.iter().sum::<u64>(),
            "checksums_verified_on_gpu": true,
            "tensor_by_tensor_ms": per_tensor * 1e3, "tensor_by_tensor_gb_s_of_output": orig as f64 / 1e9 / per_tensor,
            "batched_ms": batched * 1e3, "batched_gb_s_of_output": orig as f64 / 1e9 / batched,
            "calls_tensor_by_tensor": n, "calls_batched": 1, "segment_elems": segment_elems,
            "tensor_by_tensor_wall_ms_callers_stream": wall_stream * 1e3,
            "tensor_by_tensor_wall_ms_library_stream": wall_own * 1e3,
            "calls_one_segment_or_less": small_n, "calls_one_segment_or_less_us_total": small_us,
            "calls_longer": large_n, "calls_longer_us_total": large_us,
            "smallest_tensor_call_us": call_us[smallest[0]], "smallest_tensor_elems": numels[smallest[0]],
            "smallest_tensor_call_overhead": overhead,
            "per_call_us_by_tensor": call_us.iter().zip(&numels).map(|(u, e)| json!([e, u])).collect::<Vec<_>>(),
            "archive_first_batch_ms": archive_cold * 1e3,
            "archive_batched_ms": archive_warm * 1e3,
            "archive_tensor_by_tensor_wall_ms_library_stream": archive_single * 1e3,
            "archive_batched_gb_s_of_output": orig as f64 / 1e9 / archive_warm,
        })));
    }
    // SAFETY: the handle from saraphis_system_new, freed once.
    unsafe { ffi::saraphis_system_free(csys) };
    rows
}

/// The model's tensors as a lossless-v2 `.sph` archive (written from a safetensors file of
/// `dtype` made in memory), opened through the C API on `csys` and decoded into `dsts` with
/// `saraphis_archive_decompress_device_batch`: the first call (uploads and first-decode checks;
/// wall clock, seconds), the median of warm calls (seconds, as `timed`) and the median wall
/// clock of the tensors decoded one call each on the library's stream (seconds).
#[allow(clippy::too_many_arguments)]
fn archive_timing(
    csys: *mut saraphis::ffi::saraphis_system,
    sys: &System,
    stream: &Arc<CudaStream>,
    timed: Timer,
    dtype: DType,
    names: &[String],
    shapes: &[Vec<u64>],
    originals: &[Vec<u8>],
    dsts: &mut [CudaSlice<u8>],
    segment_elems: u32,
    repeats: usize,
) -> (f64, f64, f64) {
    use saraphis::ffi;
    let st_dtype = match dtype {
        DType::BF16 => safetensors::Dtype::BF16,
        _ => safetensors::Dtype::F32,
    };
    let views: Vec<(String, safetensors::tensor::TensorView)> = (0..names.len())
        .map(|k| {
            let shape: Vec<usize> = shapes[k].iter().map(|&d| d as usize).collect();
            let v = safetensors::tensor::TensorView::new(st_dtype, shape, &originals[k]).unwrap();
            (names[k].clone(), v)
        })
        .collect();
    let st = safetensors::serialize(views, &None).unwrap();
    let (cur, _, _) = sys
        .compress_safetensors_with(
            &st,
            std::io::Cursor::new(Vec::new()),
            CompressOptions {
                codec: CodecParams::LosslessV2,
                chunk_elems: segment_elems,
                lanes: 0,
            },
            &|_, _, _| {},
        )
        .unwrap();
    let sph = cur.into_inner();
    let mut a: *mut ffi::saraphis_archive = std::ptr::null_mut();
    // SAFETY: `sph` outlives the archive (freed below); valid out pointer.
    let r = unsafe {
        ffi::saraphis_archive_open_memory(csys, sph.as_ptr() as *const c_void, sph.len(), &mut a)
    };
    assert_eq!(r as u32, 0);
    let cs = stream.cu_stream() as *mut c_void;
    let mut outputs = Vec::with_capacity(names.len());
    for (k, d) in dsts.iter_mut().enumerate() {
        let c = std::ffi::CString::new(names[k].as_str()).unwrap();
        let mut index = usize::MAX;
        // SAFETY: a live archive, a NUL-terminated name, a valid out pointer.
        assert_eq!(
            unsafe { ffi::saraphis_archive_find(a, c.as_ptr(), &mut index) } as u32,
            0
        );
        let (p, _g) = d.device_ptr_mut(stream);
        outputs.push(ffi::saraphis_archive_output {
            index,
            dst_dev: p as usize as *mut c_void,
            dst_bytes: originals[k].len(),
        });
    }
    for d in dsts.iter_mut() {
        stream.memset_zeros(d).unwrap();
    }
    stream.synchronize().unwrap();
    let run = || {
        // SAFETY: live device buffers of the stated sizes on `stream`; `outputs` read during
        // the call only.
        let r = unsafe {
            ffi::saraphis_archive_decompress_device_batch(a, outputs.as_ptr(), outputs.len(), cs)
        };
        assert_eq!(r as u32, 0);
    };
    let t0 = std::time::Instant::now();
    run();
    stream.synchronize().unwrap();
    let cold = t0.elapsed().as_secs_f64();
    let warm = timed(&mut |_| run());
    stream.synchronize().unwrap();
    // Tensor by tensor through `saraphis_archive_decompress_device` on the library's own stream
    // (consecutive decodes may overlap), wall clock to the host synchronization; median of
    // the repeats after 3 warm-ups (every tensor is resident and verified by then).
    let mut times = Vec::new();
    for r in 0..repeats + 3 {
        // SAFETY: a live system handle; the bench's stream is idle.
        unsafe { ffi::saraphis_device_synchronize(csys) };
        let t = std::time::Instant::now();
        for o in &outputs {
            // SAFETY: as above.
            let r = unsafe {
                ffi::saraphis_archive_decompress_device(
                    a,
                    o.index,
                    o.dst_dev,
                    o.dst_bytes,
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(r as u32, 0);
        }
        // SAFETY: a live system handle.
        assert_eq!(unsafe { ffi::saraphis_device_synchronize(csys) } as u32, 0);
        if r >= 3 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let single = median(times);
    // SAFETY: the handle from saraphis_archive_open_memory, freed once, its work finished.
    unsafe { ffi::saraphis_archive_free(a) };
    (cold, warm, single)
}
