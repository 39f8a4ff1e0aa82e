//! GPU tests: run on a machine with a CUDA GPU and a build with kernels
//! (`scripts/gpu-bundle.sh`, then `scripts/gpu-run.sh` there). Everywhere else they are
//! reported as ignored, with the reason, rather than passing silently.

mod common;

use saraphis::codec::{self, CodecParams, CompressOptions};
use saraphis::system::{
    Config, Device, DeviceCompress, DeviceDecode, DevicePtr, DeviceSlice, System,
};
use saraphis::{DType, Error};

const NEEDS_GPU: &str =
    "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host";

fn gpu() -> System {
    let s = System::new(Config {
        device: Device::Cuda(0),
        ..Config::default()
    })
    .expect("cuda:0 available");
    eprintln!("device: {:?}", s.device_status());
    s
}

/// `codec::compress` with the lossless codec in stream layout v1 (the default before layout v2
/// became it, 2026-12-03; what the GPU encoder writes): these tests exercise the layout-v1
/// kernels and the GPU encoder; layout v2 has its own tests below. Other codecs ignore the
/// layout.
fn compress_v1(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    o: &CompressOptions,
) -> saraphis::Result<codec::Compressed> {
    codec::compress_with_layout(data, dtype, shape, o, codec::StreamLayout::Lanes)
}

fn check(sys: &System, data: &[u8], dtype: DType, shape: &[u64], chunk: u32) {
    for lanes in [0, 128, 77] {
        check_lanes(sys, data, dtype, shape, chunk, lanes);
    }
}

fn check_lanes(sys: &System, data: &[u8], dtype: DType, shape: &[u64], chunk: u32, lanes: u32) {
    let o = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: chunk,
        lanes,
    };
    let c = compress_v1(data, dtype, shape, &o).unwrap();
    // GPU compression writes the CPU's container byte for byte (hence both decode it).
    let g = sys.compress_on_gpu(data, dtype, shape, &o).unwrap();
    if g.bytes != c.bytes {
        let mut back = vec![0u8; data.len()];
        let r = codec::decompress_into(&g.bytes, dtype, &mut back);
        panic!(
            "{dtype:?} {shape:?} chunk {chunk} lanes {lanes}: GPU container ({} bytes) differs \
             from the CPU's ({} bytes); CPU decode of it: {r:?}, equal to input: {}",
            g.bytes.len(),
            c.bytes.len(),
            back == data
        );
    }
    let mut gpu_out = vec![0x5Au8; data.len()];
    sys.decompress_on_gpu(&c.bytes, dtype, &mut gpu_out)
        .unwrap();
    assert!(
        gpu_out == data,
        "{dtype:?} {shape:?} chunk {chunk} lanes {lanes}: GPU decode differs from the original"
    );
    let mut cpu_out = vec![0u8; data.len()];
    codec::decompress_into(&c.bytes, dtype, &mut cpu_out).unwrap();
    assert_eq!(cpu_out, gpu_out, "CPU and GPU decodes differ");
    // The plain two-stage (unfused) decode gives the same bytes.
    let mut unfused = vec![0x33u8; data.len()];
    sys.cuda_device()
        .unwrap()
        .decode_exact_host_with(&c.bytes, dtype, &mut unfused, true, false)
        .unwrap();
    assert!(
        unfused == data,
        "{dtype:?} chunk {chunk} lanes {lanes}: unfused decode differs"
    );
}

use common::convert;

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_decodes_cpu_containers_of_real_weights_bit_for_bit() {
    let sys = gpu();
    for t in common::load("minilm-subset-f32.safetensors") {
        for chunk in [1 << 18, 65536, 4096, 1000] {
            if t.dtype == DType::F32 {
                for d in [DType::F32, DType::BF16, DType::F16] {
                    check(&sys, &convert(&t.bytes, d), d, &t.shape, chunk);
                }
            } else {
                check(&sys, &t.bytes, t.dtype, &t.shape, chunk);
            }
        }
    }
    for t in common::load("minilm-subset-bf16.safetensors") {
        check(&sys, &t.bytes, t.dtype, &t.shape, 1 << 18);
    }
}

/// F64 lossless (an 11-bit exponent stream): CPU containers decode on the GPU bit for bit, and
/// the GPU compresses to the CPU's bytes.
fn check_f64(sys: &System, data: &[u8], shape: &[u64], chunk: u32) {
    for lanes in [0, 128, 77, 8] {
        let o = CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems: chunk,
            lanes,
        };
        let c = compress_v1(data, DType::F64, shape, &o).unwrap();
        let g = sys.compress_on_gpu(data, DType::F64, shape, &o).unwrap();
        assert!(
            g.bytes == c.bytes,
            "F64 {shape:?} chunk {chunk} lanes {lanes}: GPU container ({} bytes) differs from the \
             CPU's ({} bytes)",
            g.bytes.len(),
            c.bytes.len()
        );
        let mut out = vec![0x5Au8; data.len()];
        sys.decompress_on_gpu(&c.bytes, DType::F64, &mut out)
            .unwrap();
        assert!(
            out == data,
            "F64 {shape:?} chunk {chunk} lanes {lanes}: GPU decode differs from the original"
        );
    }
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_codes_f64_containers_bit_for_bit() {
    let sys = gpu();
    for t in common::load("minilm-subset-f32.safetensors") {
        if t.dtype != DType::F32 {
            continue;
        }
        // Real weights widened to F64 (few exponents), and the same with a spread of exponents
        // (scaled by 2^(i % 600 - 300): hundreds of distinct exponent symbols).
        let wide: Vec<u8> = t
            .bytes
            .chunks_exact(4)
            .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) as f64).to_le_bytes())
            .collect();
        let spread: Vec<u8> = t
            .bytes
            .chunks_exact(4)
            .enumerate()
            .flat_map(|(i, c)| {
                let v = f32::from_le_bytes(c.try_into().unwrap()) as f64;
                (v * 2f64.powi((i % 600) as i32 - 300)).to_le_bytes()
            })
            .collect();
        for chunk in [1 << 18, 4096, 1000] {
            check_f64(&sys, &wide, &t.shape, chunk);
            check_f64(&sys, &spread, &t.shape, chunk);
        }
    }
    // Special values and random bits (every exponent, NaN payloads, subnormals, signed zeros).
    let mut s = 11u64;
    let mut bits: Vec<u64> = vec![
        0,
        1 << 63,
        0x7ff0 << 48,
        0xfff0 << 48,
        0x7ff8_0000_0000_0001,
        1,
    ];
    for _ in 0..50_001 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        bits.push(s);
    }
    let data: Vec<u8> = bits.iter().flat_map(|v| v.to_le_bytes()).collect();
    for chunk in [7, 4099, 1 << 18] {
        check_f64(&sys, &data, &[bits.len() as u64], chunk);
    }
    check_f64(&sys, &data[..8], &[], 1 << 18);
    check_f64(&sys, &[], &[0], 1 << 18);
    // Corruption in an F64 container is reported, not decoded to garbage.
    let o = CompressOptions {
        chunk_elems: 4096,
        ..CompressOptions::default()
    };
    let c = compress_v1(&data, DType::F64, &[bits.len() as u64], &o)
        .unwrap()
        .bytes;
    let mut bad = c.clone();
    let at = c.len() - 1000;
    bad[at] ^= 0x21;
    let mut out = vec![0u8; data.len()];
    assert!(matches!(
        sys.decompress_on_gpu(&bad, DType::F64, &mut out),
        Err(Error::Checksum(_))
    ));
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_adversarial_data_and_shapes() {
    let sys = gpu();
    let mut s = 7u64;
    let mut bits: Vec<u32> = vec![
        0,
        0x8000_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0001,
        0x0000_0001,
        0x807f_ffff,
    ];
    for _ in 0..100_003 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        bits.push((s >> 32) as u32);
    }
    let f32s: Vec<u8> = bits.iter().flat_map(|v| v.to_le_bytes()).collect();
    for chunk in [1, 7, 33, 1000, 1 << 18] {
        let n = if chunk < 32 { 3000 } else { bits.len() };
        check(&sys, &f32s[..4 * n], DType::F32, &[n as u64], chunk);
    }
    let halfs: Vec<u8> = bits
        .iter()
        .flat_map(|v| ((v >> 16) as u16).to_le_bytes())
        .collect();
    check(&sys, &halfs, DType::BF16, &[bits.len() as u64], 4099);
    check(&sys, &halfs, DType::F16, &[bits.len() as u64], 65536);
    check(&sys, &f32s[..4], DType::F32, &[1], 1 << 18); // 1 element
    check(&sys, &f32s[..4], DType::F32, &[], 1 << 18); // 0-d
    check(&sys, &[], DType::F32, &[0, 5], 1 << 18); // empty
    let skewed: Vec<u8> = (0..70_001u32)
        .flat_map(|i| ((i % 5) as f32 * 0.5).to_le_bytes())
        .collect();
    check(&sys, &skewed, DType::F32, &[70_001], 1 << 16); // constant and tiny-alphabet streams
    let ints: Vec<u8> = (0..50_000i64)
        .flat_map(|i| (i * i % 1000).to_le_bytes())
        .collect();
    check(&sys, &ints, DType::I64, &[50_000], 8192);
    let raw_codec = CompressOptions {
        codec: CodecParams::Raw,
        chunk_elems: 777,
        lanes: 0,
    };
    let c = compress_v1(&f32s, DType::F32, &[bits.len() as u64], &raw_codec).unwrap();
    let g = sys
        .compress_on_gpu(&f32s, DType::F32, &[bits.len() as u64], &raw_codec)
        .unwrap();
    assert!(
        g.bytes == c.bytes,
        "raw codec: GPU and CPU containers differ"
    );
    for (dt, w) in [
        (DType::U8, 1),
        (DType::I16, 2),
        (DType::I32, 4),
        (DType::Bool, 1),
    ] {
        let n = f32s.len() / w;
        let data: Vec<u8> = if dt == DType::Bool {
            f32s.iter().map(|b| b & 1).collect()
        } else {
            f32s.clone()
        };
        for chunk in [1000, 1 << 18] {
            check_lanes(&sys, &data[..n * w], dt, &[n as u64], chunk, 0);
        }
    }
    let mut out = vec![0u8; f32s.len()];
    sys.decompress_on_gpu(&c.bytes, DType::F32, &mut out)
        .unwrap();
    assert_eq!(out, f32s);
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_reports_the_failing_chunk() {
    // Checksums off, so the damage reaches the kernel.
    let sys = System::new(Config {
        device: Device::Cuda(0),
        verify_checksums: false,
        ..Config::default()
    })
    .unwrap();
    let t = common::big_f32();
    let o = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: 65536,
        lanes: 0,
    };
    let c = compress_v1(&t.bytes, DType::F32, &t.shape, &o)
        .unwrap()
        .bytes;
    let info = codec::inspect(&c).unwrap();
    let mut out = vec![0u8; t.bytes.len()];
    let mut detected = 0;
    // Flips spread over the whole payload: those in rANS words or stream headers must be
    // reported; those in raw mantissa bytes are undetectable without the CRC.
    let step = (c.len() - 200) / 64;
    for k in 0..64 {
        let mut bad = c.clone();
        let at = 200 + k * step;
        bad[at] ^= 0x5a;
        match sys.decompress_on_gpu(&bad, DType::F32, &mut out) {
            Err(Error::Corrupt(m)) => {
                assert!(m.contains("chunk"), "{m}");
                detected += 1;
            }
            Err(Error::Checksum(m)) => {
                assert!(m.contains("header"), "{m}"); // a flip in the header: caught on the host
                detected += 1;
            }
            Ok(()) => assert_ne!(out, t.bytes, "a flipped byte decoded to the original data"),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    // Raw mantissa bytes decode without a detectable error (they are just bits): the CRC catches
    // those, which the host path checks when verification is on.
    assert!(
        detected > 0,
        "no corruption detected among flips in {} chunks",
        info.chunks
    );
    // With CRC verification on the GPU (the default), every one of those flips is caught,
    // including those in raw mantissa bytes.
    let strict = gpu();
    for k in 0..64 {
        let mut bad = c.clone();
        bad[200 + k * step] ^= 0x5a;
        match strict.decompress_on_gpu(&bad, DType::F32, &mut out) {
            Err(Error::Checksum(m)) => assert!(m.contains("chunk") || m.contains("header"), "{m}"),
            r => panic!(
                "flip at {} not caught by the GPU CRC check: {r:?}",
                200 + k * step
            ),
        }
    }
    // Wrong destination and unsupported codec.
    assert!(matches!(
        sys.decompress_on_gpu(&c, DType::F32, &mut out[4..]),
        Err(Error::Destination(_))
    ));
    let p = CompressOptions {
        codec: CodecParams::Padic(saraphis::PadicParams::new(saraphis::ErrorBound::Abs(1e-3))),
        chunk_elems: 65536,
        lanes: 0,
    };
    let pc = compress_v1(&t.bytes, DType::F32, &t.shape, &p)
        .unwrap()
        .bytes;
    // p-adic containers: every flip is caught by the GPU's CRC check, in the chunk it hit.
    let pstep = (pc.len() - 200) / 32;
    for k in 0..32 {
        let mut bad = pc.clone();
        bad[200 + k * pstep] ^= 0x21;
        match strict.decompress_on_gpu(&bad, DType::F32, &mut out) {
            Err(Error::Checksum(m)) => assert!(m.contains("chunk") || m.contains("header"), "{m}"),
            r => panic!("p-adic flip at {} not caught: {r:?}", 200 + k * pstep),
        }
    }
    // Without the CRC, damage to a p-adic chunk is reported or decodes to other values, never
    // to an out-of-bounds access (compute-sanitizer runs this test).
    let mut cpu = vec![0u8; t.bytes.len()];
    codec::decompress_into(&pc, DType::F32, &mut cpu).unwrap();
    let mut pdetected = 0;
    for k in 0..32 {
        let mut bad = pc.clone();
        bad[200 + k * pstep] ^= 0x21;
        match sys.decompress_on_gpu(&bad, DType::F32, &mut out) {
            Err(Error::Corrupt(m)) => {
                assert!(m.contains("chunk"), "{m}");
                pdetected += 1;
            }
            Err(Error::Checksum(m)) => assert!(m.contains("header"), "{m}"),
            Ok(()) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(
        pdetected > 0,
        "no p-adic corruption detected without the CRC"
    );
    // A destination of the wrong dtype.
    assert!(matches!(
        sys.decompress_on_gpu(&pc, DType::BF16, &mut out[..t.bytes.len() / 2]),
        Err(Error::Destination(_))
    ));
}

/// A p-adic container of `data`: the GPU decodes it to the bytes the CPU decodes (hence within
/// the bound, which the CPU tests check element by element), in full and progressively, into a
/// poisoned buffer. Returns false if the GPU declined it (Unsupported), which only a container
/// beyond the kernel's limits may do.
fn check_padic(
    sys: &System,
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    params: saraphis::PadicParams,
    chunk: u32,
    lanes: u32,
) -> bool {
    let o = CompressOptions {
        codec: CodecParams::Padic(params),
        chunk_elems: chunk,
        lanes,
    };
    let c = compress_v1(data, dtype, shape, &o).unwrap();
    let info = codec::inspect(&c.bytes).unwrap();
    let what = format!(
        "{dtype:?} {shape:?} p {} N {} {:?} chunk {chunk} lanes {lanes}",
        info.prime, info.precision, params.bound
    );
    let mut cpu = vec![0u8; data.len()];
    codec::decompress_into(&c.bytes, dtype, &mut cpu).unwrap();
    let mut gpu_out = vec![0xA5u8; data.len()];
    match sys.decompress_on_gpu(&c.bytes, dtype, &mut gpu_out) {
        Ok(()) => {}
        Err(Error::Unsupported(m)) => {
            let beyond = info.precision > saraphis::backend::cuda::PADIC_GPU_MAX_PLANES
                || info.prime > 257
                || lanes > 128;
            assert!(
                beyond,
                "{what}: GPU declined a container within its limits: {m}"
            );
            return false;
        }
        Err(e) => panic!("{what}: {e}"),
    }
    if gpu_out != cpu {
        let i = (0..data.len() / dtype.size())
            .find(|&i| {
                gpu_out[i * dtype.size()..][..dtype.size()]
                    != cpu[i * dtype.size()..][..dtype.size()]
            })
            .unwrap();
        panic!(
            "{what}: GPU and CPU decodes differ first at element {i}: GPU {:02x?} CPU {:02x?} input {:02x?}",
            &gpu_out[i * dtype.size()..][..dtype.size()],
            &cpu[i * dtype.size()..][..dtype.size()],
            &data[i * dtype.size()..][..dtype.size()]
        );
    }
    let dev = sys.cuda_device().unwrap();
    for planes in [
        1,
        info.precision.saturating_sub(1).max(1),
        info.precision + 3,
    ] {
        let mut cp = vec![0u8; data.len()];
        codec::decompress_progressive(&c.bytes, dtype, &mut cp, planes).unwrap();
        let mut gp = vec![0x5Au8; data.len()];
        dev.decode_progressive_host(&c.bytes, dtype, &mut gp, planes, true)
            .unwrap();
        assert!(
            gp == cp,
            "{what}: progressive decode of {planes} planes differs"
        );
    }
    true
}

/// An F32 tensor's bytes as F32, BF16, F16 and F64.
fn float_variants(f32s: &[u8]) -> Vec<(DType, Vec<u8>)> {
    [DType::F32, DType::BF16, DType::F16, DType::F64]
        .into_iter()
        .map(|d| {
            let data = if d == DType::F64 {
                to_f64(f32s)
            } else {
                convert(f32s, d)
            };
            (d, data)
        })
        .collect()
}

fn to_f64(f32s: &[u8]) -> Vec<u8> {
    f32s.chunks_exact(4)
        .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) as f64).to_le_bytes())
        .collect()
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_decodes_padic_containers_of_real_weights_like_the_cpu() {
    use saraphis::{ErrorBound, PadicParams};
    let sys = gpu();
    let pp = |prime: u32, bound: ErrorBound| PadicParams {
        prime,
        precision: None,
        bound,
    };
    let tensors = common::load("minilm-subset-f32.safetensors");
    let mut declined = 0;
    for t in tensors.iter().filter(|t| t.dtype == DType::F32) {
        for (d, data) in float_variants(&t.bytes) {
            for params in [
                pp(251, ErrorBound::Abs(1e-3)),
                pp(251, ErrorBound::Abs(1e-2)),
                pp(251, ErrorBound::Rel(1e-2)),
                pp(7, ErrorBound::Abs(1e-4)),
                pp(3, ErrorBound::Rel(1e-3)),
                pp(65521, ErrorBound::Abs(1e-5)),
            ] {
                for (chunk, lanes) in [(1 << 18, 0), (65536, 128), (4096, 7), (1000, 1)] {
                    if !check_padic(&sys, &data, d, &t.shape, params, chunk, lanes) {
                        declined += 1;
                    }
                }
            }
        }
    }
    eprintln!("containers beyond the GPU kernel's limits (decoded on the CPU): {declined}");
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_padic_adversarial_data_and_shapes() {
    use saraphis::{ErrorBound, PadicParams};
    let sys = gpu();
    // Special values (exceptions), subnormals, huge values, zeros, signs; dense and sparse planes.
    let mut v: Vec<f32> = Vec::new();
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        1e-40,
        -1e-42,
        f32::MAX,
        f32::MIN,
        1e30,
        -3.5,
        65504.0,
        1e-8,
    ];
    let mut s = 0x1234_5678_9abc_def0u64;
    for i in 0..300_001u64 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let x = match i % 97 {
            0 => specials[(s % specials.len() as u64) as usize],
            1..=40 => 0.0,
            41..=60 => ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 20.0,
            _ => ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1,
        };
        v.push(x);
    }
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let pp = |prime: u32, bound: ErrorBound| PadicParams {
        prime,
        precision: None,
        bound,
    };
    for (d, data) in float_variants(&bytes) {
        let n = data.len() / d.size();
        for params in [
            pp(251, ErrorBound::Abs(1e-3)),
            pp(251, ErrorBound::Rel(1e-2)),
            pp(2, ErrorBound::Abs(0.05)),
            pp(257, ErrorBound::Abs(1e-4)),
        ] {
            for (len, chunk, lanes) in [
                (n, 1 << 18, 0),
                (n, 65536, 128),
                (n - 1, 5000, 8),
                (1, 1, 0),
                (7, 3, 0),
                (1025, 1024, 1),
                (3000, 2049, 0),
            ] {
                let part = &data[..len * d.size()];
                check_padic(&sys, part, d, &[len as u64], params, chunk, lanes);
                check_padic_encode(&sys, part, d, &[len as u64], params, chunk, lanes);
            }
        }
        // More digit planes than the kernel holds: declined (Unsupported), never wrong.
        let deep = PadicParams {
            prime: 2,
            precision: Some(20),
            bound: ErrorBound::Abs(1e-3),
        };
        assert!(!check_padic(
            &sys,
            &data[..4096 * d.size()],
            d,
            &[4096],
            deep,
            4096,
            0
        ));
    }
}

/// Compress on the GPU with the p-adic codec and check the container: valid for the CPU decoder,
/// every element within the bound (non-finite values and other exceptions bit for bit), the
/// reported largest error equal to the measured one, the GPU decoder giving the CPU decoder's
/// bytes (progressively too), a flipped byte rejected, and the size close to the CPU encoder's.
/// Returns (GPU container bytes, CPU container bytes).
fn check_padic_encode(
    sys: &System,
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    params: saraphis::PadicParams,
    chunk: u32,
    lanes: u32,
) -> (usize, usize) {
    use saraphis::ErrorBound;
    let o = CompressOptions {
        codec: CodecParams::Padic(params),
        chunk_elems: chunk,
        lanes,
    };
    let what = format!(
        "{dtype:?} {shape:?} p {} {:?} chunk {chunk} lanes {lanes}",
        params.prime, params.bound
    );
    let g = sys
        .compress_on_gpu(data, dtype, shape, &o)
        .unwrap_or_else(|e| panic!("{what}: GPU compression failed: {e}"));
    let c = compress_v1(data, dtype, shape, &o).unwrap();
    let gi = codec::inspect(&g.bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    let ci = codec::inspect(&c.bytes).unwrap();
    assert_eq!(gi.prime, params.prime, "{what}");
    if matches!(params.bound, ErrorBound::Abs(_)) {
        // max |x| does not depend on the summation order: the same precision as the CPU's.
        assert_eq!(gi.precision, ci.precision, "{what}: precision");
    }
    // SARAPHIS_DUMP=dir keeps the last container checked and its input, to debug a failure.
    if let Some(dir) = std::env::var_os("SARAPHIS_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("gpu.sph"), &g.bytes).unwrap();
        std::fs::write(dir.join("cpu.sph"), &c.bytes).unwrap();
        std::fs::write(dir.join("input.bin"), data).unwrap();
    }
    let mut out = vec![0x5Au8; data.len()];
    codec::decompress_into(&g.bytes, dtype, &mut out)
        .unwrap_or_else(|e| panic!("{what}: CPU decoder rejects the GPU container: {e}"));
    let size = dtype.size();
    let mut worst = 0f64;
    for i in 0..data.len() / size {
        let (x, y) = (&data[i * size..][..size], &out[i * size..][..size]);
        let (xv, yv) = (load(x, dtype), load(y, dtype));
        if !xv.is_finite() {
            assert_eq!(
                x, y,
                "{what}: element {i} (non-finite) not kept bit for bit"
            );
            continue;
        }
        let err = (yv - xv).abs();
        let tol = match params.bound {
            ErrorBound::Abs(e) => e,
            ErrorBound::Rel(e) => e * xv.abs(),
        };
        assert!(
            err <= tol,
            "{what}: element {i}: input {xv:e}, decoded {yv:e}, error {err:e} > {tol:e}"
        );
        worst = worst.max(err);
    }
    assert_eq!(g.max_abs_error, worst, "{what}: reported largest error");
    // The GPU decoder reads what the GPU encoder wrote, as the CPU decoder does.
    if gi.precision <= saraphis::backend::cuda::PADIC_GPU_MAX_PLANES {
        let mut gd = vec![0xA5u8; data.len()];
        sys.decompress_on_gpu(&g.bytes, dtype, &mut gd)
            .unwrap_or_else(|e| panic!("{what}: GPU decoder: {e}"));
        assert!(
            gd == out,
            "{what}: GPU and CPU decodes of the GPU container differ"
        );
        let planes = gi.precision.saturating_sub(1).max(1);
        let mut cp = vec![0u8; data.len()];
        codec::decompress_progressive(&g.bytes, dtype, &mut cp, planes).unwrap();
        let mut gp = vec![0x5Au8; data.len()];
        sys.cuda_device()
            .unwrap()
            .decode_progressive_host(&g.bytes, dtype, &mut gp, planes, true)
            .unwrap();
        assert!(gp == cp, "{what}: progressive decodes differ");
    }
    // A flipped payload byte is caught by the chunk's CRC-32.
    if gi.chunks > 0 {
        let mut bad = g.bytes.clone();
        let at = bad.len() - 1; // the last chunk's last byte
        bad[at] ^= 0x10;
        assert!(
            codec::decompress_into(&bad, dtype, &mut out).is_err(),
            "{what}: corrupted GPU container accepted"
        );
    }
    (g.bytes.len(), c.bytes.len())
}

fn load(b: &[u8], dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f32::from_le_bytes(b.try_into().unwrap()) as f64,
        DType::F64 => f64::from_le_bytes(b.try_into().unwrap()),
        DType::F16 => half::f16::from_le_bytes(b.try_into().unwrap()).to_f64(),
        _ => half::bf16::from_le_bytes(b.try_into().unwrap()).to_f64(),
    }
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_compresses_padic_real_weights_within_the_bound() {
    use saraphis::{ErrorBound, PadicParams};
    let sys = gpu();
    let pp = |prime: u32, bound: ErrorBound| PadicParams {
        prime,
        precision: None,
        bound,
    };
    let tensors = common::load("minilm-subset-f32.safetensors");
    let (mut gpu_total, mut cpu_total) = (0usize, 0usize);
    for t in tensors.iter().filter(|t| t.dtype == DType::F32) {
        for (d, data) in float_variants(&t.bytes) {
            for params in [
                pp(251, ErrorBound::Abs(1e-3)),
                pp(251, ErrorBound::Rel(1e-2)),
                pp(7, ErrorBound::Abs(1e-4)),
                pp(3, ErrorBound::Rel(1e-3)),
                pp(65521, ErrorBound::Abs(1e-5)),
            ] {
                for (chunk, lanes) in [(1 << 18, 0), (65536, 128), (4096, 7), (1000, 1)] {
                    let (g, c) = check_padic_encode(&sys, &data, d, &t.shape, params, chunk, lanes);
                    gpu_total += g;
                    cpu_total += c;
                }
            }
        }
    }
    eprintln!("p-adic containers: GPU {gpu_total} bytes, CPU {cpu_total} bytes");
    // The GPU codes sparse digit streams raw and normalises tables its own way: within 3%.
    assert!(
        (gpu_total as f64) < cpu_total as f64 * 1.03,
        "GPU containers {gpu_total} bytes against the CPU's {cpu_total}"
    );
}

/// Small enough for compute-sanitizer's racecheck (scripts/gpu-run.sh): special values, several
/// chunks with a short last one, 1, 7 and 128 lanes, absolute and relative bounds, dense and
/// sparse planes, many exceptions.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_padic_encoder_small_cases() {
    use saraphis::{ErrorBound, PadicParams};
    let sys = gpu();
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let v: Vec<f32> = (0..20_011u32)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            match i % 13 {
                0 => [f32::NAN, f32::INFINITY, 0.0, -0.0, 1e-40, 3e38][(s % 6) as usize],
                1..=5 => 0.0,
                6 => u * 1000.0,
                _ => u * 0.2,
            }
        })
        .collect();
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    for d in [DType::F32, DType::BF16] {
        let data = convert(&bytes, d);
        for bound in [ErrorBound::Abs(1e-3), ErrorBound::Rel(1e-2)] {
            let params = PadicParams {
                prime: 251,
                precision: None,
                bound,
            };
            for (chunk, lanes) in [(4096, 0), (8192, 128), (3000, 7), (700, 1)] {
                check_padic_encode(&sys, &data, d, &[v.len() as u64], params, chunk, lanes);
            }
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_allocation_failure_is_an_error_and_leaks_nothing() {
    let sys = gpu();
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.default_stream();
    // A real tensor of 256 MiB: its container and output need ~450 MiB on the device.
    let unit = common::big_f32().bytes;
    let mut data = Vec::with_capacity(256 << 20);
    while data.len() + unit.len() <= 256 << 20 {
        data.extend_from_slice(&unit);
    }
    let o = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: 1 << 18,
        lanes: 0,
    };
    let n = (data.len() / 4) as u64;
    let c = compress_v1(&data, DType::F32, &[n], &o).unwrap().bytes;
    let mut out = vec![0u8; data.len()];
    let (free0, _) = ctx.mem_get_info().unwrap();
    // Leave only 128 MiB free, then decode: the upload or the output allocation must fail.
    // SAFETY: the hog is never read; it only occupies memory.
    let hog = unsafe { stream.alloc::<u8>(free0 - (128 << 20)) }.expect("hog allocation");
    match sys.decompress_on_gpu(&c, DType::F32, &mut out) {
        Err(Error::Device(m)) => eprintln!("allocation failure reported: {m}"),
        r => panic!("expected a device error, got {r:?}"),
    }
    // GPU compression under the same pressure: its uploads or its temporary memory fail.
    match sys.compress_on_gpu(&data, DType::F32, &[n], &o) {
        Err(Error::Device(m)) => eprintln!("allocation failure reported: {m}"),
        r => panic!(
            "expected a device error, got {:?}",
            r.map(|c| c.bytes.len())
        ),
    }
    drop(hog);
    stream.synchronize().unwrap();
    let (free1, _) = ctx.mem_get_info().unwrap();
    assert!(
        free1 + (16 << 20) >= free0,
        "device memory leaked: {free0} free before, {free1} after"
    );
    // And the same decode and compression succeed once memory is back.
    sys.decompress_on_gpu(&c, DType::F32, &mut out).unwrap();
    assert!(out == data);
    assert!(
        sys.compress_on_gpu(&data, DType::F32, &[n], &o)
            .unwrap()
            .bytes
            == c
    );
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_compresses_from_device_memory_stream_ordered() {
    use cudarc::driver::{DevicePtr, DevicePtrMut};
    let sys = gpu();
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let cs = stream.cu_stream() as *mut std::ffi::c_void;
    let t = common::big_f32();
    let n = t.bytes.len() as u64;
    for lanes in [0, 128] {
        let o = CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems: 1 << 18,
            lanes,
        };
        let cpu = compress_v1(&t.bytes, DType::F32, &t.shape, &o)
            .unwrap()
            .bytes;
        let layout = System::compress_device_layout(DType::F32, &t.shape, &o).unwrap();
        // The GPU encoder writes layout v1; without lanes the host bound is layout v2's,
        // which covers it.
        let host = codec::compress_bound(DType::F32, &t.shape, &o).unwrap();
        if lanes == 0 {
            assert!(layout.bound as usize <= host);
        } else {
            assert_eq!(layout.bound as usize, host);
        }
        assert!(
            layout.temp_bytes * 100 <= n,
            "temporary memory {} bytes exceeds 1% of the input ({n} bytes)",
            layout.temp_bytes
        );
        let src = stream.clone_htod(&t.bytes).unwrap();
        // Caller-provided temporary memory (poisoned: the kernels must not rely on zeros), then
        // library-allocated (temp = 0).
        let temp = stream
            .clone_htod(&vec![0xEEu8; layout.temp_bytes as usize])
            .unwrap();
        for own_temp in [true, false] {
            let mut dst = stream
                .clone_htod(&vec![0x11u8; layout.bound as usize])
                .unwrap();
            let mut size = stream.alloc_zeros::<u64>(1).unwrap();
            {
                let (s_ptr, _a) = src.device_ptr(&stream);
                let (d_ptr, _b) = dst.device_ptr_mut(&stream);
                let (z_ptr, _c) = size.device_ptr_mut(&stream);
                let (t_ptr, _d) = temp.device_ptr(&stream);
                let (tp, tl) = if own_temp {
                    (t_ptr, layout.temp_bytes)
                } else {
                    (0, 0)
                };
                // One call with the source address, output capacity and temp length varied.
                let call = |src: u64, cap: u64, temp_len: u64| {
                    // SAFETY: live allocations of the stated sizes, used on `stream` only; the
                    // failing calls are rejected before anything is enqueued.
                    unsafe {
                        sys.compress_device(&DeviceCompress {
                            src: DeviceSlice::new(DevicePtr(src), n),
                            dtype: DType::F32,
                            shape: &t.shape,
                            opts: &o,
                            dst: DeviceSlice::new(DevicePtr(d_ptr), cap),
                            temp: DeviceSlice::new(DevicePtr(tp), temp_len),
                            compressed_len: DevicePtr(z_ptr),
                            stream: cs,
                        })
                    }
                };
                call(s_ptr, layout.bound, tl).unwrap();
                // Errors are reported before anything is enqueued.
                assert!(matches!(
                    call(s_ptr, layout.bound - 1, tl),
                    Err(Error::Destination(_))
                ));
                assert!(matches!(
                    call(s_ptr + 2, layout.bound, tl),
                    Err(Error::InvalidArgument(_))
                ));
                if own_temp {
                    assert!(matches!(
                        call(s_ptr, layout.bound, tl - 1),
                        Err(Error::InvalidArgument(_))
                    ));
                }
            }
            let len = stream.clone_dtoh(&size).unwrap()[0] as usize;
            let host = stream.clone_dtoh(&dst).unwrap();
            stream.synchronize().unwrap();
            assert_eq!(len, cpu.len(), "lanes {lanes}: container length");
            assert!(
                host[..len] == cpu[..],
                "lanes {lanes}: container bytes differ from the CPU's"
            );
        }
    }
    // p-adic from device memory on the library's own stream (a null CUstream, library-allocated
    // temporary memory), then decoded on that stream too; System::device_synchronize waits.
    let pp = CompressOptions {
        codec: CodecParams::Padic(saraphis::PadicParams::new(saraphis::ErrorBound::Abs(1e-3))),
        chunk_elems: 1 << 18,
        lanes: 0,
    };
    let layout = System::compress_device_layout(DType::F32, &t.shape, &pp).unwrap();
    let src = stream.clone_htod(&t.bytes).unwrap();
    let mut dst = stream
        .clone_htod(&vec![0x11u8; layout.bound as usize])
        .unwrap();
    let mut size = stream.alloc_zeros::<u64>(1).unwrap();
    let mut back = stream.clone_htod(&vec![0x22u8; t.bytes.len()]).unwrap();
    stream.synchronize().unwrap(); // the uploads are done before another stream reads them
    let null = std::ptr::null_mut();
    {
        let (s_ptr, _a) = src.device_ptr(&stream);
        let (d_ptr, _b) = dst.device_ptr_mut(&stream);
        let (z_ptr, _c) = size.device_ptr_mut(&stream);
        // SAFETY: live allocations of the stated sizes, waited for below.
        unsafe {
            sys.compress_device(&DeviceCompress {
                src: DeviceSlice::new(DevicePtr(s_ptr), n),
                dtype: DType::F32,
                shape: &t.shape,
                opts: &pp,
                dst: DeviceSlice::new(DevicePtr(d_ptr), layout.bound),
                temp: DeviceSlice::NONE,
                compressed_len: DevicePtr(z_ptr),
                stream: null,
            })
            .unwrap();
        }
    }
    sys.device_synchronize().unwrap();
    let len = stream.clone_dtoh(&size).unwrap()[0];
    let host = stream.clone_dtoh(&dst).unwrap();
    stream.synchronize().unwrap();
    let mut cpu_out = vec![0u8; t.bytes.len()];
    codec::decompress_into(&host[..len as usize], DType::F32, &mut cpu_out).unwrap();
    for (x, y) in t.bytes.chunks_exact(4).zip(cpu_out.chunks_exact(4)) {
        let (x, y) = (
            f32::from_le_bytes(x.try_into().unwrap()) as f64,
            f32::from_le_bytes(y.try_into().unwrap()) as f64,
        );
        assert!((x - y).abs() <= 1e-3, "{x} decoded as {y}");
    }
    {
        let (d_ptr, _b) = dst.device_ptr(&stream);
        let (o_ptr, _c) = back.device_ptr_mut(&stream);
        // SAFETY: as above.
        unsafe {
            sys.decompress_device(&DeviceDecode {
                src: DeviceSlice::new(DevicePtr(d_ptr), len),
                dtype: DType::F32,
                dst: DeviceSlice::new(DevicePtr(o_ptr), n),
                status: DeviceSlice::NONE,
                stream: null,
            })
            .unwrap();
        }
    }
    sys.device_synchronize().unwrap();
    assert!(
        stream.clone_dtoh(&back).unwrap() == cpu_out,
        "decode on the library's stream differs from the CPU's"
    );
    // F64 lossless: the CPU's bytes.
    let f64s: Vec<u8> = t
        .bytes
        .chunks_exact(4)
        .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) as f64).to_le_bytes())
        .collect();
    let o64 = CompressOptions::default();
    assert!(
        sys.compress_on_gpu(&f64s, DType::F64, &t.shape, &o64)
            .unwrap()
            .bytes
            == compress_v1(&f64s, DType::F64, &t.shape, &o64)
                .unwrap()
                .bytes,
        "F64: GPU and CPU containers differ"
    );
}

#[test]
fn gpu_tests_say_why_they_are_ignored() {
    // Runs everywhere: on a machine without CUDA the system must fall back honestly.
    match saraphis::backend::cuda::availability() {
        Ok(n) => eprintln!("{n} CUDA device(s): the ignored GPU tests can run here ({NEEDS_GPU})"),
        Err(why) => {
            eprintln!("GPU tests skipped: {why}");
            let s = System::new(Config::default()).unwrap();
            assert_eq!(s.device_status().0, Device::Cpu);
            assert!(matches!(
                System::new(Config {
                    device: Device::Cuda(0),
                    ..Config::default()
                }),
                Err(Error::Device(_))
            ));
        }
    }
}

fn v2(data: &[u8], dtype: DType, shape: &[u64], segment: u32) -> Vec<u8> {
    let o = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: segment,
        lanes: 0,
    };
    codec::compress_with_layout(data, dtype, shape, &o, codec::StreamLayout::Segments)
        .unwrap()
        .bytes
}

/// Layout v2 (lossless-v2) containers written on the CPU decode on the GPU bit for bit through
/// the single-tensor call, for real weights in F32, BF16 and F16, segment lengths that end
/// mid-warp, single-element segments, special values, and raw segments of random bits.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_decodes_layout_v2_bit_for_bit() {
    let sys = gpu();
    let mut cases: Vec<(DType, Vec<u8>, Vec<u64>)> = Vec::new();
    for t in common::load("minilm-subset-f32.safetensors") {
        if t.dtype == DType::F32 {
            for d in [DType::F32, DType::BF16, DType::F16] {
                cases.push((d, convert(&t.bytes, d), t.shape.clone()));
            }
        }
    }
    // Specials (NaN payloads, infinities, signed zeros, subnormals) and random bits.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut special = Vec::new();
    for i in 0..70_001u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = match i % 7 {
            0 => f32::NAN.to_bits() | (x as u32 & 0x3f_ffff),
            1 => f32::INFINITY.to_bits() | ((i & 1) << 31),
            2 => (i & 1) << 31,
            3 => x as u32 & 0x807f_ffff,
            _ => (i as f32 * 1e-3).to_bits(),
        };
        special.extend_from_slice(&v.to_le_bytes());
    }
    let random: Vec<u8> = (0..40_000u32)
        .flat_map(|i| (i.wrapping_mul(2_654_435_761) ^ (i >> 3)).to_le_bytes())
        .collect();
    // Real weights with random exponents in every other run of 4096 elements: segments of 4096
    // store the exponent plane raw (mode 2, raw mask), longer ones code it.
    let mixed = common::mixed_exponents(&common::big_f32().bytes, 4096);
    // Runs scaled by different powers of two: segments with their own exponent table (mode 3).
    let scaled = common::scaled_runs(&common::big_f32().bytes, 4096);
    for d in [DType::F32, DType::BF16, DType::F16] {
        cases.push((d, convert(&special, d), vec![70_001]));
        cases.push((d, convert(&random, d), vec![40_000]));
        cases.push((d, convert(&mixed, d), vec![(mixed.len() / 4) as u64]));
        cases.push((d, convert(&scaled, d), vec![(scaled.len() / 4) as u64]));
    }
    let mut own_segments = 0;
    for (dtype, data, shape) in &cases {
        for segment in [1 << 16, 1 << 14, 4096, 1000, 33, 1] {
            let numel = data.len() / dtype.size();
            if segment == 1 && numel > 5000 {
                continue;
            }
            let c = v2(data, *dtype, shape, segment);
            own_segments += common::segment_modes(&c)
                .iter()
                .filter(|&&m| m == 3)
                .count();
            let mut out = vec![0x5Au8; data.len()];
            sys.decompress_on_gpu(&c, *dtype, &mut out).unwrap();
            assert!(
                out == *data,
                "{dtype:?} {shape:?} segment {segment}: GPU decode of a v2 container differs"
            );
        }
    }
    assert!(
        own_segments > 100,
        "{own_segments} segments with own tables"
    );
}

/// `c` (a lossless-v2 container whose segment bytes were changed in place) with every segment
/// checksum and the header CRC recomputed, so that only the segments' own checks can refuse it.
fn with_fresh_checksums(c: &[u8]) -> Vec<u8> {
    let mut c = c.to_vec();
    let h = saraphis::format::container::Header::parse(&c).unwrap();
    let ndim = c[10] as usize;
    let at = 28 + 8 * ndim;
    let plen = u32::from_le_bytes(c[at - 4..at].try_into().unwrap()) as usize;
    let nc_at = at + plen;
    for (i, k) in h.chunks.iter().enumerate() {
        let s = h.header_len + k.offset as usize;
        let sum = codec::segmented::segment_checksum(&c[s..s + k.len as usize]);
        let e = nc_at + 4 + 16 * i + 12;
        c[e..e + 4].copy_from_slice(&sum.to_le_bytes());
    }
    reseal_header(&mut c);
    c
}

/// Recompute a container's header CRC (after the parameters or the chunk table changed).
fn reseal_header(c: &mut [u8]) {
    let ndim = c[10] as usize;
    let at = 28 + 8 * ndim;
    let plen = u32::from_le_bytes(c[at - 4..at].try_into().unwrap()) as usize;
    let nc_at = at + plen;
    let n = u32::from_le_bytes(c[nc_at..nc_at + 4].try_into().unwrap()) as usize;
    let crc_at = nc_at + 4 + 16 * n;
    let crc = crc32fast::hash(&c[..crc_at]);
    c[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A segment's own exponent table (mode 3) is parsed on the GPU (warp-parallel, one thread for
/// varints of three or more bytes) exactly as on the CPU: every single-byte change of the
/// table, its padding and the segment's mode and masks, with the checksums recomputed, is
/// refused by both or decoded alike; a table rewritten with a three-byte varint decodes.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_parses_own_tables_exactly_as_the_cpu() {
    let sys = gpu();
    let scaled = common::scaled_runs(&common::big_f32().bytes[..4 * 4096], 1024);
    let (mut checked, mut long_varints) = (0, 0);
    for d in [DType::BF16, DType::F32] {
        let data = convert(&scaled, d);
        let c = v2(&data, d, &[4096], 1024);
        let h = saraphis::format::container::Header::parse(&c).unwrap();
        let modes = common::segment_modes(&c);
        let (i, k) = h
            .chunks
            .iter()
            .enumerate()
            .find(|(i, _)| modes[*i] == 3)
            .expect("a segment with its own table");
        let _ = i;
        let s = h.header_len + k.offset as usize;
        // Prologue: 16 bytes (at most 3 planes coded in the segment: those the parameters
        // code, less the raw mask) or 32; the table follows it.
        let coded_planes = (v2_coded_planes(&c) & !c[s + 1]).count_ones();
        let table_at = s + if coded_planes <= 3 { 16 } else { 32 };
        // The table's end: scale bits, symbol count, then (gap, frequency - 1) varint pairs.
        let mut at = table_at + 1;
        let mut varint = || {
            let (mut v, mut shift) = (0usize, 0);
            loop {
                let b = c[at];
                at += 1;
                v |= ((b & 0x7f) as usize) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return v;
                }
            }
        };
        let n = varint();
        for _ in 0..2 * n {
            varint();
        }
        let end = at;
        // Recomputed checksums alone change nothing: every refusal below is the table's.
        assert!(with_fresh_checksums(&c) == c);
        let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
        for b in (s..s + 4).chain(table_at..table_at + 48) {
            for flip in [0x01u8, 0x80] {
                let mut m = c.clone();
                m[b] ^= flip;
                variants.push((
                    format!("byte {} ^ {flip:#x}", b - s),
                    with_fresh_checksums(&m),
                ));
            }
        }
        for (what, m) in variants {
            gpu_agrees_with_cpu(&sys, &m, d, data.len(), &what);
            checked += 1;
        }
        // The table's symbol count (its second byte) rewritten as a three-byte varint, where
        // the table's padding has room: both decode the data.
        let pad_end = table_at + (end - table_at).next_multiple_of(16);
        if end + 2 <= pad_end && n < 0x80 {
            let mut m = c.clone();
            let tail: Vec<u8> = c[table_at + 2..end].to_vec();
            m[table_at + 1] = n as u8 | 0x80;
            m[table_at + 2] = 0x80;
            m[table_at + 3] = 0;
            m[table_at + 4..table_at + 4 + tail.len()].copy_from_slice(&tail);
            let m = with_fresh_checksums(&m);
            let mut got = vec![0x5Au8; data.len()];
            codec::decompress_into(&m, d, &mut got).unwrap();
            assert!(got == data, "{d:?}: CPU, three-byte varint in an own table");
            let mut out = vec![0x5Au8; data.len()];
            sys.decompress_on_gpu(&m, d, &mut out).unwrap();
            assert!(out == data, "{d:?}: GPU, three-byte varint in an own table");
            long_varints += 1;
        }
    }
    assert!(
        long_varints > 0,
        "no own table had padding for a longer varint"
    );
    assert!(checked > 100);
}

/// Containers of the first version of layout v2 (mode-1 segments, tests/data/lossless-v2-mode1.sph)
/// decode on the GPU bit for bit (the single-tensor path: all three decode kernels).
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_decodes_first_version_v2_containers() {
    let sys = gpu();
    let (names, originals) = common::legacy_v2_sources();
    let sph = std::fs::read(common::data("lossless-v2-mode1.sph")).unwrap();
    let index = saraphis::format::archive::read_index(&sph).unwrap();
    for (name, want) in names.iter().zip(&originals) {
        let e = index.tensors.iter().find(|e| &e.name == name).unwrap();
        let c = &sph[e.offset as usize..(e.offset + e.length) as usize];
        let dtype = saraphis::format::container::Header::parse(c).unwrap().dtype;
        let mut out = vec![0x5Au8; want.len()];
        sys.decompress_on_gpu(c, dtype, &mut out).unwrap();
        assert!(
            out == *want,
            "{name}: GPU decode of a mode-1 container differs"
        );
    }
}

/// Varints of a lossless-v2 container's parameter block: (offset in the block, length) of each,
/// in order, and the end of the tables (the zero padding follows).
fn v2_param_varints(p: &[u8]) -> (Vec<(usize, usize)>, usize) {
    let mut at = 1; // plane count
    let mut out = Vec::new();
    let varint = |at: &mut usize, out: &mut Vec<(usize, usize)>| -> u64 {
        let (start, mut v, mut shift) = (*at, 0u64, 0);
        loop {
            let b = p[*at];
            *at += 1;
            v |= ((b & 0x7f) as u64) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                out.push((start, *at - start));
                return v;
            }
        }
    };
    for _ in 0..p[0] {
        let mode = p[at];
        at += 1;
        if mode == 0 {
            continue;
        }
        at += 1; // scale bits
        let n = varint(&mut at, &mut out);
        for _ in 0..2 * n {
            varint(&mut at, &mut out);
        }
    }
    (out, at)
}

/// Planes a lossless-v2 container's parameters code (bit p: plane p).
fn v2_coded_planes(c: &[u8]) -> u8 {
    let ndim = c[10] as usize;
    let at = 28 + 8 * ndim;
    let plen = u32::from_le_bytes(c[at - 4..at].try_into().unwrap()) as usize;
    let p = &c[at..at + plen];
    // Mode bytes: the walk of `v2_param_varints`, where each coded plane's varints start
    // after its mode and scale-bits bytes.
    let mut mask = 0u8;
    let mut pos = 1;
    let (varints, _) = v2_param_varints(p);
    let mut next = varints.iter().peekable();
    for plane in 0..p[0] {
        let mode = p[pos];
        pos += 1;
        if mode == 0 {
            continue;
        }
        mask |= 1 << plane;
        pos += 1; // scale bits
                  // Skip this table's varints: the count, then 2 x count.
        let (o, l) = *next.next().unwrap();
        assert_eq!(o, pos);
        let mut n = 0usize;
        for (k, b) in p[o..o + l].iter().enumerate() {
            n |= ((b & 0x7f) as usize) << (7 * k);
        }
        pos = o + l;
        for _ in 0..2 * n {
            let (o, l) = *next.next().unwrap();
            pos = o + l;
        }
    }
    mask
}

/// Decode the changed container `m` (`len` bytes of `d`) on the CPU and the GPU: both refuse, or
/// both accept and agree (a changed table that is still a valid table decodes to other values:
/// the checksums, recomputed by the callers, guard against that). Returns the CPU's output.
fn gpu_agrees_with_cpu(
    sys: &System,
    m: &[u8],
    d: DType,
    len: usize,
    what: &str,
) -> Option<Vec<u8>> {
    let mut got = vec![0x5Au8; len];
    let cpu = codec::decompress_into(m, d, &mut got);
    let mut out = vec![0x5Au8; len];
    let gpu = sys.decompress_on_gpu(m, d, &mut out);
    match cpu {
        Ok(()) => {
            assert!(
                gpu.is_ok(),
                "{what} {d:?}: the CPU accepts, the GPU refuses: {gpu:?}"
            );
            assert!(
                out == got,
                "{what} {d:?}: GPU decode differs from the CPU's"
            );
            Some(got)
        }
        Err(e) => {
            assert!(
                gpu.is_err(),
                "{what} {d:?}: the CPU refuses ({e}), the GPU accepts"
            );
            None
        }
    }
}

/// `container` with its parameter block replaced by `params` (same length) and the header's
/// CRC recomputed, so that only the tables' own checks can refuse it.
fn with_params(container: &[u8], params: &[u8]) -> Vec<u8> {
    let mut c = container.to_vec();
    let ndim = c[10] as usize;
    let at = 28 + 8 * ndim;
    c[at..at + params.len()].copy_from_slice(params);
    reseal_header(&mut c);
    c
}

/// The GPU parses a lossless-v2 container's tables (warp-parallel, with a one-thread path for
/// varints of three or more bytes) and accepts or refuses exactly the tables the CPU does:
/// non-minimal two- and three-byte varints decode bit for bit; a changed frequency (sum off) and
/// non-zero padding are refused by both; a changed symbol gap is refused by both or decoded
/// alike.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_parses_v2_tables_exactly_as_the_cpu() {
    let sys = gpu();
    let mut tried = [0usize; 2];
    for t in common::load("minilm-subset-f32.safetensors") {
        if t.dtype != DType::F32 {
            continue;
        }
        for d in [DType::BF16, DType::F32] {
            let data = convert(&t.bytes, d);
            let c = v2(&data, d, &t.shape, 4096);
            let ndim = c[10] as usize;
            let at = 28 + 8 * ndim;
            let plen = u32::from_le_bytes(c[at - 4..at].try_into().unwrap()) as usize;
            let params = c[at..at + plen].to_vec();
            let (varints, end) = v2_param_varints(&params);
            let spare = plen - end;
            let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();
            // Re-encode a one-byte varint in 1 + extra bytes (needs `extra` padding bytes).
            for extra in [1usize, 2] {
                if spare < extra {
                    continue;
                }
                // The middle one-byte varint of the tables, so the GPU's rounds see it mid-way.
                let one: Vec<_> = varints.iter().filter(|v| v.1 == 1).collect();
                let (o, _) = *one[one.len() / 2];
                let mut p = params[..o].to_vec();
                p.push(params[o] | 0x80);
                p.extend(std::iter::repeat_n(0x80, extra - 1));
                p.push(0);
                p.extend_from_slice(&params[o + 1..end]);
                p.resize(plen, 0);
                variants.push((
                    if extra == 1 {
                        "two-byte varint"
                    } else {
                        "three-byte varint"
                    },
                    p,
                ));
                tried[extra - 1] += 1;
            }
            // The last frequency of the last table, one higher: the sum is off.
            let (o, l) = *varints.last().unwrap();
            let mut p = params.clone();
            p[o + l - 1] ^= 1;
            variants.push(("frequency changed", p));
            // The first gap of the first table made 127.
            let (o, l) = varints[1];
            if l == 1 {
                let mut p = params.clone();
                p[o] = 0x7f;
                variants.push(("symbol gap changed", p));
            }
            if spare > 0 {
                let mut p = params.clone();
                p[plen - 1] = 1;
                variants.push(("padding not zero", p));
            }
            for (what, p) in variants {
                let m = with_params(&c, &p);
                let got = gpu_agrees_with_cpu(&sys, &m, d, data.len(), what);
                if what.ends_with("varint") {
                    // The same tables, written longer: both decode the data.
                    assert!(got.as_ref() == Some(&data), "{what} {d:?}: CPU refuses");
                }
            }
        }
    }
    assert!(
        tried[0] > 0 && tried[1] > 0,
        "no tensor had padding to lengthen a varint: {tried:?}"
    );
}

/// The batched call decodes a whole model's worth of tensors (more than one launch of 64) with
/// one status per tensor: real weights bit for bit; a layout-v1 container gets 7 (decode it
/// with the single call); a flipped byte in a segment gets 6 (checksum); a truncated container
/// and a wrong dtype are reported, never decoded silently.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_batched_decode_with_one_status_per_tensor() {
    use cudarc::driver::{DevicePtr as _, DevicePtrMut as _};
    use saraphis::system::DeviceTensor;
    let sys = gpu();
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let cs = stream.cu_stream() as *mut std::ffi::c_void;
    let mut items: Vec<(DType, Vec<u8>, Vec<u8>, i32)> = Vec::new(); // dtype, data, container, expected status
    let tensors = common::load("minilm-subset-f32.safetensors");
    for round in 0..10 {
        for t in &tensors {
            if t.dtype != DType::F32 {
                continue;
            }
            let d = [DType::BF16, DType::F32, DType::F16, DType::BF16][round % 4];
            let data = convert(&t.bytes, d);
            let c = v2(
                &data,
                d,
                &t.shape,
                [1 << 16, 1 << 14, 4096, 1000][round % 4],
            );
            items.push((d, data, c, 0));
        }
    }
    assert!(
        items.len() > 64,
        "{} tensors: want more than one launch",
        items.len()
    );
    // A layout-v1 container: not for the batched call.
    let (d, data) = (items[0].0, items[0].1.clone());
    let v1 = compress_v1(
        &data,
        d,
        &[(data.len() / d.size()) as u64],
        &CompressOptions::default(),
    )
    .unwrap()
    .bytes;
    items.push((d, data.clone(), v1, 7));
    // A flipped byte in the last segment's words: the checksum catches it.
    let mut bad = items[1].2.clone();
    let at = bad.len() - 40;
    bad[at] ^= 0x10;
    items.push((items[1].0, items[1].1.clone(), bad, 6));
    // Truncated: the container is shorter than its chunk table says.
    let mut short = items[2].2.clone();
    short.truncate(short.len() - 16);
    items.push((items[2].0, items[2].1.clone(), short, -1));
    let n = items.len();
    let srcs: Vec<_> = items
        .iter()
        .map(|i| stream.clone_htod(&i.2).unwrap())
        .collect();
    let mut dsts: Vec<_> = items
        .iter()
        .map(|i| stream.clone_htod(&vec![0xA5u8; i.1.len()]).unwrap())
        .collect();
    let mut status = stream.clone_htod(&vec![-9i32; n]).unwrap();
    {
        let mut guards = Vec::new();
        let mut list = Vec::new();
        for (k, (s, d)) in srcs.iter().zip(dsts.iter_mut()).enumerate() {
            let (sp, g1) = s.device_ptr(&stream);
            let (dp, g2) = d.device_ptr_mut(&stream);
            guards.push((g1, g2));
            list.push(DeviceTensor {
                src: DeviceSlice::new(DevicePtr(sp), items[k].2.len() as u64),
                dtype: items[k].0,
                dst: DeviceSlice::new(DevicePtr(dp), items[k].1.len() as u64),
            });
        }
        let (st, _g) = status.device_ptr_mut(&stream);
        // SAFETY: live allocations of the stated sizes, used on `stream` only.
        unsafe { sys.decompress_device_batch(&list, DevicePtr(st), cs) }.unwrap();
        // Misaligned statuses and a misaligned dst are refused before anything is enqueued.
        assert!(matches!(
            unsafe { sys.decompress_device_batch(&list, DevicePtr(st + 2), cs) },
            Err(Error::InvalidArgument(_))
        ));
    }
    let got = stream.clone_dtoh(&status).unwrap();
    stream.synchronize().unwrap();
    for (k, item) in items.iter().enumerate() {
        let out = stream.clone_dtoh(&dsts[k]).unwrap();
        match item.3 {
            0 => {
                assert_eq!(got[k], 0, "tensor {k} ({:?}): status", item.0);
                assert!(
                    out == item.1,
                    "tensor {k} ({:?}): batched decode differs",
                    item.0
                );
            }
            -1 => assert!(got[k] != 0, "tensor {k}: truncated container reported ok"),
            want => assert_eq!(got[k], want, "tensor {k}: status"),
        }
    }
}

/// Library calls leave the caller's current CUDA context as they found it (the effect of
/// cuCtxPushCurrent / cuCtxPopCurrent around each call): a thread with none keeps none, and a
/// thread with a context of its own (a non-primary one it created) keeps that one.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_calls_leave_the_callers_context_current() {
    use cudarc::driver::result::{ctx, device};
    let data = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .find(|t| t.dtype == DType::F32)
        .unwrap();
    std::thread::spawn(move || {
        let sys_before = ctx::get_current().unwrap();
        assert!(
            sys_before.is_none(),
            "a fresh thread has no current context"
        );
        let sys = gpu(); // opens the device: creates and binds the primary context internally
        assert_eq!(
            ctx::get_current().unwrap(),
            None,
            "System::new left a context current"
        );
        let o = CompressOptions::default();
        let c = compress_v1(&data.bytes, DType::F32, &data.shape, &o).unwrap();
        let mut out = vec![0u8; data.bytes.len()];
        sys.decompress_on_gpu(&c.bytes, DType::F32, &mut out)
            .unwrap();
        assert!(out == data.bytes, "decoded bit for bit");
        assert_eq!(
            ctx::get_current().unwrap(),
            None,
            "decompress_on_gpu left a context current"
        );
        sys.device_synchronize().unwrap();
        assert_eq!(
            ctx::get_current().unwrap(),
            None,
            "device_synchronize left a context current"
        );
        // A caller's own (non-primary) context stays current across calls.
        // SAFETY: device 0 exists (the system opened it); the context is destroyed below,
        // after the last call that could use it.
        let mine = unsafe { ctx::create_v4(std::ptr::null_mut(), 0, device::get(0).unwrap()) }
            .expect("a non-primary context");
        assert_eq!(
            ctx::get_current().unwrap(),
            Some(mine),
            "cuCtxCreate makes it current"
        );
        sys.decompress_on_gpu(&c.bytes, DType::F32, &mut out)
            .unwrap();
        sys.device_synchronize().unwrap();
        assert_eq!(
            ctx::get_current().unwrap(),
            Some(mine),
            "the caller's context was replaced"
        );
        // SAFETY: `mine` is ours, current on this thread only, and unused from here on.
        unsafe { cudarc::driver::sys::cuCtxDestroy_v2(mine).result().unwrap() };
    })
    .join()
    .unwrap();
}

/// A whole archive decoded into device memory through `Archive`: every tensor of the MiniLM
/// subset, lossless v1 and v2, p-adic within the kernels' limits and past them (more than 8
/// digit planes: the CPU-fallback path), one by one (first decodes: upload, status check) and
/// then in one batch (warm): each equal, byte for byte, to the archive's CPU decode (the
/// original itself for lossless). An altered container is refused before upload; a wrong size
/// or a misaligned destination is refused before anything is enqueued.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_archive_decodes_every_tensor_into_device_memory() {
    use cudarc::driver::{DevicePtr as _, DevicePtrMut as _};
    use saraphis::system::Archive;
    use saraphis::{ErrorBound, PadicParams};
    use std::sync::Arc;
    let sys = Arc::new(gpu());
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let cs = stream.cu_stream() as *mut std::ffi::c_void;
    let src = std::fs::read(common::data("minilm-subset-f32.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&src).unwrap();
    let mut fine = PadicParams::new(ErrorBound::Abs(1e-6));
    fine.prime = 2;
    let codecs = [
        ("lossless-v2", CodecParams::LosslessV2, true),
        // Short segments: the archive plans one warp per segment from the header's length.
        (
            "lossless-v2 segments of 4096",
            CodecParams::LosslessV2,
            true,
        ),
        ("lossless", CodecParams::Lossless, true),
        (
            "padic abs 1e-3",
            CodecParams::Padic(PadicParams::new(ErrorBound::Abs(1e-3))),
            false,
        ),
        (
            "padic abs 1e-6 p=2 (CPU fallback)",
            CodecParams::Padic(fine),
            false,
        ),
        (
            "quant q8 block 32",
            CodecParams::Quant(saraphis::codec::quant::QuantParams::default()),
            false,
        ),
        (
            "quant abs 1e-3",
            CodecParams::Quant(saraphis::codec::quant::QuantParams::bounded(1e-3)),
            false,
        ),
    ];
    for (what, codec, exact) in codecs {
        let (cur, _, _) = if what.ends_with("4096") {
            let o = CompressOptions {
                codec,
                chunk_elems: 4096,
                lanes: 0,
            };
            sys.compress_safetensors_with(&src, std::io::Cursor::new(Vec::new()), o, &|_, _, _| {})
        } else {
            sys.compress_safetensors(&src, std::io::Cursor::new(Vec::new()), codec, &|_, _, _| {})
        }
        .unwrap();
        let sph = cur.into_inner();
        let a = Archive::from_vec(sys.clone(), sph.clone()).unwrap();
        let n = a.len();
        let want: Vec<Vec<u8>> = (0..n).map(|i| a.decompress(i).unwrap()).collect();
        if exact {
            for (i, w) in want.iter().enumerate() {
                let name = &a.entry(i).unwrap().name;
                assert!(
                    w.as_slice() == st.tensor(name).unwrap().data(),
                    "{what}: {name} CPU decode"
                );
            }
        }
        let mut dsts: Vec<_> = want
            .iter()
            .map(|w| stream.clone_htod(&vec![0xA5u8; w.len()]).unwrap())
            .collect();
        let check = |dsts: &Vec<cudarc::driver::CudaSlice<u8>>, pass: &str| {
            for (i, d) in dsts.iter().enumerate() {
                let got = stream.clone_dtoh(d).unwrap();
                assert!(
                    got == want[i],
                    "{what} {pass}: tensor {i} ({}) differs from the CPU decode",
                    a.entry(i).unwrap().name
                );
            }
        };
        // First decodes, one by one.
        for (i, d) in dsts.iter_mut().enumerate() {
            let len = want[i].len() as u64;
            let (p, _g) = d.device_ptr_mut(&stream);
            // SAFETY: a live allocation of `len` bytes used on `stream` only.
            unsafe { a.decompress_device(i, DeviceSlice::new(DevicePtr(p), len), cs) }
                .unwrap_or_else(|e| panic!("{what}: tensor {i}: {e}"));
        }
        stream.synchronize().unwrap();
        check(&dsts, "first decodes");
        let containers: u64 = (0..n).map(|i| a.entry(i).unwrap().length).sum();
        assert_eq!(
            a.device_resident_bytes(),
            containers,
            "{what}: resident bytes"
        );
        // Warm, all in one batch, after poisoning the outputs again.
        for (i, d) in dsts.iter_mut().enumerate() {
            stream.memcpy_htod(&vec![0x5Au8; want[i].len()], d).unwrap();
        }
        {
            let mut guards = Vec::new();
            let mut items = Vec::new();
            for (i, d) in dsts.iter_mut().enumerate() {
                let (p, g) = d.device_ptr_mut(&stream);
                guards.push(g);
                items.push((i, DeviceSlice::new(DevicePtr(p), want[i].len() as u64)));
            }
            // Arguments are checked before anything is enqueued: a wrong size, out of range.
            let mut bad = items.clone();
            bad[0].1.len += 1;
            assert!(matches!(
                unsafe { a.decompress_device_batch(&bad, cs) },
                Err(Error::Destination(_))
            ));
            bad = items.clone();
            bad[1].0 = n;
            assert!(matches!(
                unsafe { a.decompress_device_batch(&bad, cs) },
                Err(Error::InvalidArgument(_))
            ));
            // SAFETY: live allocations of the stated sizes, not overlapping, on `stream` only.
            unsafe { a.decompress_device_batch(&items, cs) }
                .unwrap_or_else(|e| panic!("{what}: batch: {e}"));
        }
        stream.synchronize().unwrap();
        check(&dsts, "batch");
        // A misaligned destination (F32 tensors need 4-byte alignment).
        let f = (0..n)
            .find(|&i| a.info(i).unwrap().dtype == DType::F32)
            .unwrap();
        {
            let (p, _g) = dsts[f].device_ptr(&stream);
            let r = unsafe {
                a.decompress_device(
                    f,
                    DeviceSlice::new(DevicePtr(p + 2), want[f].len() as u64),
                    cs,
                )
            };
            assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        }
        // One flipped payload byte: refused by the container CRC, before any upload.
        let k = (0..n).max_by_key(|&i| a.entry(i).unwrap().length).unwrap();
        let e = a.entry(k).unwrap();
        let mut altered = sph.clone();
        altered[(e.offset + e.length - 1) as usize] ^= 0x10;
        let b = Archive::from_vec(sys.clone(), altered).unwrap();
        let (p, _g) = dsts[k].device_ptr(&stream);
        let r = unsafe {
            b.decompress_device(k, DeviceSlice::new(DevicePtr(p), want[k].len() as u64), cs)
        };
        assert!(matches!(r, Err(Error::Checksum(_))), "{what}: {r:?}");
        assert_eq!(
            b.device_resident_bytes(),
            0,
            "nothing uploaded for an altered container"
        );
        eprintln!(
            "{what}: {n} tensors, {containers} container bytes resident, device decodes equal the CPU's"
        );
    }
}

/// The residency manager's device tier: an engine's loop over every tensor of the MiniLM subset,
/// twice, on a side stream, under a quarter of the decoded model's bytes, with the next two
/// prefetched: each acquired tensor, copied back on the engine's stream, equals the CPU decode
/// byte for byte; the budget is never exceeded; evictions happen and their blocks are reused (the
/// pool's reserved memory stays near the budget); stats report the device tier, the pool and
/// `cuMemGetInfo`. Also: the host calls are refused on a device manager, a release without an
/// acquire is refused, and a tensor larger than the budget is a `Budget` error.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_residency_device_tier_serves_an_engine_loop_under_budget() {
    use saraphis::system::{Archive, Residency, SwapPolicy};
    use std::sync::Arc;
    let sys = Arc::new(gpu());
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let cs = stream.cu_stream() as *mut std::ffi::c_void;
    let (sph, _) = common::subset_archive(CodecParams::Lossless);
    let a = Arc::new(Archive::from_vec(sys.clone(), sph).unwrap());
    let n = a.len();
    let want: Vec<Vec<u8>> = (0..n).map(|i| a.decompress(i).unwrap()).collect();
    let total: u64 = want.iter().map(|w| w.len() as u64).sum();
    let largest = want.iter().map(|w| w.len() as u64).max().unwrap();
    let budget = (total / 4).max(largest);
    for policy in [SwapPolicy::Conservative, SwapPolicy::Aggressive] {
        let r = Arc::new(Residency::new_device(a.clone(), budget, policy).unwrap());
        assert!(r.acquire(0).is_err(), "host acquire on a device manager");
        assert!(
            unsafe { r.release_device(0, cs) }.is_err(),
            "release without acquire"
        );
        for pass in 0..2 {
            for (i, w) in want.iter().enumerate() {
                let next: Vec<usize> = (i + 1..(i + 3).min(n)).collect();
                r.prefetch(&next).unwrap();
                let l = unsafe { r.acquire_device(i, cs) }.unwrap();
                assert_eq!(l.block.len(), w.len() as u64);
                assert_eq!(l.block.addr() % 256, 0, "pool blocks are 256-byte aligned");
                // The engine's "kernel": a copy on its stream, ordered after the decode by the
                // acquire's event wait.
                let mut got = vec![0u8; w.len()];
                unsafe {
                    cudarc::driver::result::memcpy_dtoh_async(&mut got, l.block.addr(), cs as _)
                        .unwrap();
                }
                stream.synchronize().unwrap();
                assert!(got == *w, "{policy:?} pass {pass}: tensor {i} differs");
                let s = r.stats();
                assert!(s.resident_bytes <= budget, "over budget: {s:?}");
                unsafe { r.release_device(i, cs) }.unwrap();
            }
        }
        r.wait_idle();
        let s = r.stats();
        eprintln!(
            "device tier {policy:?}: {}",
            serde_json::to_string(&s).unwrap()
        );
        assert_eq!(s.tier, "device");
        assert!(s.evictions > 0 && s.acquires == 2 * n as u64, "{s:?}");
        assert!(s.hits + s.misses == s.acquires);
        let pool = s.pool.expect("pool usage");
        assert!(pool.reserved_bytes >= pool.used_bytes);
        assert!(s.pool_fragmentation.is_some() && s.device_total_bytes.unwrap() > 0);
        // Evicted blocks are reused: the pool never held much more than the budget (plus the
        // alignment of each block and what other pool users hold).
        assert!(
            pool.used_high_bytes <= budget + 256 * n as u64 + (64 << 20),
            "pool used high {} for a budget of {budget}",
            pool.used_high_bytes
        );
    }
    // Placement hints: CPU bursting on request (counted), and a p-adic archive past the
    // kernels' limits (more than 8 digit planes) bursts under Auto but fails under RequireGpu.
    use saraphis::system::Placement;
    let r = Residency::new_device(a.clone(), total, SwapPolicy::Balanced).unwrap();
    for (i, w) in want.iter().enumerate() {
        r.set_placement(
            i,
            if i % 2 == 0 {
                Placement::RequireCpu
            } else {
                Placement::RequireGpu
            },
        )
        .unwrap();
        let l = unsafe { r.acquire_device(i, cs) }.unwrap();
        let mut got = vec![0u8; w.len()];
        unsafe {
            cudarc::driver::result::memcpy_dtoh_async(&mut got, l.block.addr(), cs as _).unwrap();
        }
        stream.synchronize().unwrap();
        assert!(got == *w, "placement: tensor {i} differs");
        unsafe { r.release_device(i, cs) }.unwrap();
    }
    assert_eq!(r.stats().cpu_bursts, n.div_ceil(2) as u64);
    let mut fine = saraphis::PadicParams::new(saraphis::ErrorBound::Abs(1e-6));
    fine.prime = 2;
    let (fine_sph, _) = common::subset_archive(CodecParams::Padic(fine));
    let fa = Arc::new(Archive::from_vec(sys.clone(), fine_sph).unwrap());
    let fr = Residency::new_device(fa.clone(), u64::MAX / 2, SwapPolicy::Balanced).unwrap();
    let k = (0..fa.len())
        .max_by_key(|&i| fa.info(i).unwrap().original_bytes)
        .unwrap();
    fr.set_placement(k, Placement::RequireGpu).unwrap();
    assert!(
        matches!(
            unsafe { fr.acquire_device(k, cs) },
            Err(Error::Unsupported(_))
        ),
        "require_gpu on a tensor the kernels cannot decode is an error"
    );
    fr.set_placement(k, Placement::Auto).unwrap();
    let l = unsafe { fr.acquire_device(k, cs) }.unwrap();
    let mut got = vec![0u8; l.block.len() as usize];
    unsafe {
        cudarc::driver::result::memcpy_dtoh_async(&mut got, l.block.addr(), cs as _).unwrap();
    }
    stream.synchronize().unwrap();
    assert!(
        got == fa.decompress(k).unwrap(),
        "auto burst equals the CPU decode"
    );
    assert_eq!(fr.stats().cpu_bursts, 1);
    unsafe { fr.release_device(k, cs) }.unwrap();
    // Compressed containers move back to the host tier, and come back when decoded again.
    let uploaded = a.device_resident_bytes();
    assert!(uploaded > 0);
    let gauge = |s: &System| -> u64 {
        let v: serde_json::Value = serde_json::from_str(&s.stats_json()).unwrap();
        v["bytes_per_tier"]["device_containers"].as_u64().unwrap()
    };
    let before = gauge(&sys);
    assert_eq!(unsafe { a.trim_device(0, None) }.unwrap(), uploaded);
    assert_eq!(a.device_resident_bytes(), 0);
    assert_eq!(
        gauge(&sys),
        before - uploaded,
        "the system's container gauge follows"
    );
    let r = Residency::new_device(a.clone(), total, SwapPolicy::Balanced).unwrap();
    for (i, w) in want.iter().enumerate() {
        let l = unsafe { r.acquire_device(i, cs) }.unwrap();
        let mut got = vec![0u8; w.len()];
        unsafe {
            cudarc::driver::result::memcpy_dtoh_async(&mut got, l.block.addr(), cs as _).unwrap();
        }
        stream.synchronize().unwrap();
        assert!(got == *w, "after trim: tensor {i} differs");
        unsafe { r.release_device(i, cs) }.unwrap();
    }
    assert_eq!(a.device_resident_bytes(), uploaded, "uploaded again");
    drop(r);
    // Budget 0: the config's gpu_memory_limit_mb, or refused when it has none.
    assert!(matches!(
        Residency::new_device(a.clone(), 0, SwapPolicy::Balanced),
        Err(Error::InvalidArgument(_))
    ));
    let limited = Arc::new(
        System::new(Config {
            device: Device::Cuda(0),
            gpu_memory_limit_mb: 64,
            ..Config::default()
        })
        .unwrap(),
    );
    let la = Arc::new(
        Archive::from_vec(limited, common::subset_archive(CodecParams::Lossless).0).unwrap(),
    );
    let lr = Residency::new_device(la, 0, SwapPolicy::Balanced).unwrap();
    assert_eq!(lr.stats().budget_bytes, 64 << 20);
    let small = Residency::new_device(a.clone(), largest - 1, SwapPolicy::Balanced).unwrap();
    let big = (0..n).find(|&i| want[i].len() as u64 == largest).unwrap();
    assert!(matches!(
        unsafe { small.acquire_device(big, cs) },
        Err(Error::Budget(_))
    ));
}

/// Single decodes enqueued one after another on the library's own stream (a null `CUstream`)
/// may overlap on the GPU (programmatic dependent launch, sm_90 and newer): every output must
/// still be exactly the original, whatever the codec, and where a decode writes a buffer that a
/// decode before it wrote, the later one must win (the library refuses the overlap there).
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_overlapping_decodes_on_the_library_stream_are_exact() {
    use cudarc::driver::{DevicePtr as _, DevicePtrMut as _};
    let sys = gpu();
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    // (dtype, container, original): every tensor of the subset as lossless-v2 F32 and BF16, and
    // as the default layout-v1 container.
    let mut cases: Vec<(DType, Vec<u8>, Vec<u8>)> = Vec::new();
    for t in common::load("minilm-subset-f32.safetensors") {
        if t.dtype != DType::F32 {
            continue;
        }
        for d in [DType::F32, DType::BF16] {
            let data = convert(&t.bytes, d);
            cases.push((d, v2(&data, d, &t.shape, 1 << 16), data));
        }
        let o = CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems: 1 << 18,
            lanes: 0,
        };
        let c = compress_v1(&t.bytes, DType::F32, &t.shape, &o).unwrap();
        cases.push((DType::F32, c.bytes, t.bytes.clone()));
    }
    let srcs: Vec<_> = cases
        .iter()
        .map(|c| stream.clone_htod(&c.1).unwrap())
        .collect();
    let mut dsts: Vec<_> = cases
        .iter()
        .map(|c| stream.clone_htod(&vec![0xA5u8; c.2.len()]).unwrap())
        .collect();
    stream.synchronize().unwrap();
    let ptrs: Vec<(u64, u64)> = (0..cases.len())
        .map(|k| {
            let (s, _a) = srcs[k].device_ptr(&stream);
            let (d, _b) = dsts[k].device_ptr_mut(&stream);
            (s, d)
        })
        .collect();
    let decode = |k: usize, into: usize| {
        // SAFETY: live allocations of the stated sizes; every decode is on the library's
        // stream, waited for by device_synchronize below before anything reads the outputs.
        unsafe {
            sys.decompress_device(&DeviceDecode {
                src: DeviceSlice::new(DevicePtr(ptrs[k].0), cases[k].1.len() as u64),
                dtype: cases[k].0,
                dst: DeviceSlice::new(DevicePtr(ptrs[into].1), cases[into].2.len() as u64),
                status: DeviceSlice::NONE,
                stream: std::ptr::null_mut(),
            })
            .unwrap();
        }
    };
    for _ in 0..3 {
        for k in 0..cases.len() {
            decode(k, k);
        }
    }
    // Two different tensors of one size and dtype: the first decoded into the second's buffer,
    // then the second into it: the second must be what stays.
    let (a, b) = (0..cases.len())
        .flat_map(|a| (0..cases.len()).map(move |b| (a, b)))
        .find(|&(a, b)| {
            a != b
                && cases[a].0 == cases[b].0
                && cases[a].2.len() == cases[b].2.len()
                && cases[a].2 != cases[b].2
        })
        .expect("two tensors of one size in the subset");
    for _ in 0..4 {
        decode(a, b);
        decode(b, b);
    }
    // Batched calls on that stream overlap too: every lossless-v2 case in one call, then the
    // same-buffer pair as a batch of one followed by a single decode, and a batch after it.
    let v2_cases: Vec<usize> = (0..cases.len())
        .filter(|&k| {
            codec::inspect(&cases[k].1).unwrap().codec
                == saraphis::format::container::CodecId::LosslessV2
        })
        .collect();
    let tensor = |k: usize, into: usize| saraphis::system::DeviceTensor {
        src: DeviceSlice::new(DevicePtr(ptrs[k].0), cases[k].1.len() as u64),
        dtype: cases[k].0,
        dst: DeviceSlice::new(DevicePtr(ptrs[into].1), cases[into].2.len() as u64),
    };
    let all: Vec<_> = v2_cases.iter().map(|&k| tensor(k, k)).collect();
    let null = std::ptr::null_mut();
    for _ in 0..2 {
        // SAFETY: as `decode` above.
        unsafe {
            sys.decompress_device_batch(&all, DevicePtr::NULL, null)
                .unwrap();
            if v2_cases.contains(&a) && v2_cases.contains(&b) {
                sys.decompress_device_batch(&[tensor(a, b)], DevicePtr::NULL, null)
                    .unwrap();
            }
        }
        decode(b, b);
    }
    sys.device_synchronize().unwrap();
    for (k, c) in cases.iter().enumerate() {
        assert!(
            stream.clone_dtoh(&dsts[k]).unwrap() == c.2,
            "case {k} ({:?}, {} bytes): decode on the library's stream differs",
            c.0,
            c.2.len()
        );
    }
}

/// Quant containers (codec 5) of real weights decode on the GPU to exactly the CPU's values:
/// fixed rate with blocks, channels (first and last axis) and one global scale, 2 to 8 bits,
/// every scale dtype, with and without a minimum; error-bounded with NaN, infinities and -0
/// stored verbatim; verbatim chunks (tight bounds); chunks that cut blocks; F32, BF16, F16 and
/// F64. Damaged containers are
/// reported, never decoded silently; an error-bounded chunk of more than 4096 groups is refused
/// as unsupported (the CPU decodes it).
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_decodes_quant_containers_like_the_cpu() {
    use saraphis::codec::quant::{Grouping, QuantParams};
    let sys = gpu();
    let q = |grouping, bits, scale_dtype, zero_point| QuantParams {
        grouping,
        bits,
        scale_dtype,
        zero_point,
        bound: None,
    };
    let settings = [
        QuantParams::default(),
        q(Grouping::Block(32), 4, DType::F16, true),
        q(Grouping::Block(16), 3, DType::F32, false),
        q(Grouping::Block(64), 2, DType::BF16, true),
        q(Grouping::Block(4096), 7, DType::F32, false),
        q(Grouping::Channel(0), 8, DType::F32, false),
        q(Grouping::Channel(1), 5, DType::F16, true),
        q(Grouping::Global, 6, DType::BF16, false),
        QuantParams::bounded(1e-3),
        QuantParams::bounded(1e-2),
        QuantParams::bounded(1e-4), // some chunks verbatim
        QuantParams::bounded(1e-9), // every chunk verbatim
    ];
    let mut checked = 0;
    for t in common::load("minilm-subset-f32.safetensors") {
        if t.dtype != DType::F32 || t.shape.len() != 2 || t.bytes.len() > 4 << 20 {
            continue;
        }
        for (dtype, mut data) in float_variants(&t.bytes) {
            let s = dtype.size();
            // Specials at a few places: verbatim in bounded mode (fixed rate refuses them).
            let mut special = data.clone();
            let specials: [f64; 4] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
            for (k, v) in specials.iter().enumerate() {
                let at = (k * 977 + 5) % (data.len() / s);
                let b = convert(&(*v as f32).to_le_bytes(), dtype);
                let b = if dtype == DType::F64 {
                    v.to_le_bytes().to_vec()
                } else {
                    b
                };
                special[at * s..(at + 1) * s].copy_from_slice(&b);
            }
            for p in settings {
                if p.bound.is_some() {
                    std::mem::swap(&mut data, &mut special);
                }
                for chunk in [1 << 16, 1000, 4096] {
                    let o = CompressOptions {
                        codec: CodecParams::Quant(p),
                        chunk_elems: chunk,
                        lanes: 0,
                    };
                    let c = compress_v1(&data, dtype, &t.shape, &o).unwrap().bytes;
                    let mut want = vec![0u8; data.len()];
                    codec::decompress_into(&c, dtype, &mut want).unwrap();
                    let mut got = vec![0xA5u8; data.len()];
                    sys.decompress_on_gpu(&c, dtype, &mut got)
                        .unwrap_or_else(|e| {
                            panic!("{} {dtype:?} {p:?} chunk {chunk}: {e}", t.name)
                        });
                    assert!(
                        got == want,
                        "{} {dtype:?} {p:?} chunk {chunk}: GPU decode differs from the CPU's",
                        t.name
                    );
                    checked += 1;
                }
                if p.bound.is_some() {
                    std::mem::swap(&mut data, &mut special);
                }
            }
        }
    }
    assert!(checked >= 200, "{checked} containers checked");

    // Damage: every byte of a small container, flipped, is reported (the checksum on the GPU for
    // payload bytes, the host's header checks for the rest); truncation too.
    let t = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .find(|t| t.dtype == DType::F32 && t.bytes.len() >= 4096)
        .unwrap();
    let data = convert(&t.bytes[..4096], DType::BF16);
    for p in [QuantParams::default(), QuantParams::bounded(1e-3)] {
        let o = CompressOptions {
            codec: CodecParams::Quant(p),
            chunk_elems: 512,
            lanes: 0,
        };
        let c = compress_v1(&data, DType::BF16, &[1024], &o).unwrap().bytes;
        let mut out = vec![0u8; data.len()];
        for at in 0..c.len() {
            let mut bad = c.clone();
            bad[at] ^= 0x24;
            assert!(
                sys.decompress_on_gpu(&bad, DType::BF16, &mut out).is_err(),
                "{p:?}: flipped byte {at} of {} decoded without an error",
                c.len()
            );
        }
        for cut in [1, 16, c.len() / 2] {
            assert!(sys
                .decompress_on_gpu(&c[..c.len() - cut], DType::BF16, &mut out)
                .is_err());
        }
    }
    // Without the GPU checksum, damaged codes still decode (they are just numbers) but damaged
    // structure (prologue, padding) is reported by the kernel itself.
    let unverified = System::new(Config {
        device: Device::Cuda(0),
        verify_checksums: false,
        ..Config::default()
    })
    .unwrap();
    let o = CompressOptions {
        codec: CodecParams::Quant(QuantParams::default()),
        chunk_elems: 512,
        lanes: 0,
    };
    let c = compress_v1(&data, DType::BF16, &[1024], &o).unwrap();
    let mut bad = c.bytes.clone();
    let first_chunk = saraphis::format::container::header_bytes_needed(&c.bytes).unwrap();
    bad[first_chunk] = 7; // the first chunk's mode byte
    let mut out = vec![0u8; data.len()];
    match unverified.decompress_on_gpu(&bad, DType::BF16, &mut out) {
        Err(Error::Corrupt(m)) => assert!(m.contains("chunk 0"), "{m}"),
        r => panic!("a bad chunk mode decoded: {r:?}"),
    }
    // More than 4096 groups in one error-bounded chunk: refused, and the CPU decodes it.
    let big = convert(&t.bytes, DType::F32);
    let n = (big.len() / 4) as u64;
    let o = CompressOptions {
        codec: CodecParams::Quant(QuantParams {
            grouping: Grouping::Block(16),
            ..QuantParams::bounded(1e-3)
        }),
        chunk_elems: 1 << 17,
        lanes: 0,
    };
    if n > 16 * 4096 {
        let c = compress_v1(&big, DType::F32, &[n], &o).unwrap().bytes;
        let mut out = vec![0u8; big.len()];
        assert!(matches!(
            sys.decompress_on_gpu(&c, DType::F32, &mut out),
            Err(Error::Unsupported(_))
        ));
    }
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_decodes_sparse_containers_like_the_cpu() {
    use saraphis::codec::sparse::SparseParams;
    use saraphis::codec::{ErrorBound, PadicParams};
    use saraphis::format::container::CodecId;
    use saraphis::system::Archive;
    let sys = std::sync::Arc::new(gpu());
    let sparse = |padic, chunk| CompressOptions {
        codec: CodecParams::Sparse(SparseParams { padic }),
        chunk_elems: chunk,
        lanes: 0,
    };
    let mut checked = 0;
    let tensors: Vec<_> = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .filter(|t| t.dtype == DType::F32 && t.shape.len() == 2 && t.bytes.len() <= 4 << 20)
        .collect();
    for t in &tensors {
        let row = *t.shape.last().unwrap() as usize;
        for pruned in [
            common::prune_2_4(&t.bytes, row),
            common::prune_magnitude(&t.bytes, 0.9),
        ] {
            for (dtype, data) in float_variants(&pruned) {
                for (padic, chunk) in [
                    (None, 1 << 16),
                    (None, 4096),
                    (Some(PadicParams::new(ErrorBound::Rel(1e-2))), 1 << 16),
                ] {
                    let c = compress_v1(&data, dtype, &t.shape, &sparse(padic, chunk))
                        .unwrap()
                        .bytes;
                    assert_eq!(codec::inspect(&c).unwrap().codec, CodecId::Sparse);
                    let mut want = vec![0u8; data.len()];
                    codec::decompress_into(&c, dtype, &mut want).unwrap();
                    let mut got = vec![0xA5u8; data.len()];
                    sys.decompress_on_gpu(&c, dtype, &mut got)
                        .unwrap_or_else(|e| panic!("{} {dtype:?} {padic:?} {chunk}: {e}", t.name));
                    assert!(
                        got == want,
                        "{} {dtype:?} {padic:?} chunk {chunk}: GPU decode differs from the CPU's",
                        t.name
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 24, "{checked} containers checked");

    // Damage: flipped bytes of the nested containers are reported by their decoders' checks
    // (header CRC on the host for the outer header; chunk checksums on the GPU).
    let t = &tensors[0];
    let data = convert(&common::prune_magnitude(&t.bytes, 0.5), DType::BF16);
    let c = compress_v1(&data, DType::BF16, &t.shape, &sparse(None, 4096))
        .unwrap()
        .bytes;
    let info = codec::inspect(&c).unwrap();
    let s = info.sparse.unwrap();
    let mut out = vec![0u8; data.len()];
    let step = (c.len() / 400).max(1);
    for at in (0..c.len()).step_by(step) {
        let mut bad = c.clone();
        bad[at] ^= 0x24;
        assert!(
            sys.decompress_on_gpu(&bad, DType::BF16, &mut out).is_err(),
            "flipped byte {at} of {} (mask at {}, values at {}) decoded without an error",
            c.len(),
            s.mask_offset,
            s.values_offset
        );
    }

    // The raw device call cannot read the header on the host: status 5 (decode it through an
    // archive, or on the CPU), never a silent result.
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let src = stream.clone_htod(&c).unwrap();
    let mut dst = stream.clone_htod(&vec![0u8; data.len()]).unwrap();
    let mut st = stream.alloc_zeros::<i32>(2).unwrap();
    {
        use cudarc::driver::{DevicePtr as _, DevicePtrMut as _};
        let (s_ptr, _a) = src.device_ptr(&stream);
        let (d_ptr, _b) = dst.device_ptr_mut(&stream);
        let (st_ptr, _c) = st.device_ptr_mut(&stream);
        let a = DeviceDecode {
            src: DeviceSlice::new(DevicePtr(s_ptr), c.len() as u64),
            dtype: DType::BF16,
            dst: DeviceSlice::new(DevicePtr(d_ptr), data.len() as u64),
            status: DeviceSlice::new(DevicePtr(st_ptr), 2),
            stream: stream.cu_stream() as *mut std::ffi::c_void,
        };
        unsafe { sys.decompress_device(&a).unwrap() };
    }
    let codes = stream.clone_dtoh(&st).unwrap();
    assert_eq!(codes[0], 5, "raw device call on a sparse container");

    // Archives: every tensor of a pruned model decoded into device memory equals the CPU's.
    let mut owned = Vec::new();
    for t in common::load("minilm-subset-f32.safetensors") {
        let bytes = if t.dtype == DType::F32 && t.shape.len() == 2 {
            common::prune_2_4(&t.bytes, *t.shape.last().unwrap() as usize)
        } else {
            t.bytes.clone()
        };
        owned.push((t.name.clone(), t.dtype, t.shape.clone(), bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            let dt = match d {
                DType::F32 => safetensors::Dtype::F32,
                DType::I64 => safetensors::Dtype::I64,
                _ => panic!("fixture dtype {d:?}"),
            };
            let shape: Vec<usize> = s.iter().map(|&x| x as usize).collect();
            (
                n.clone(),
                safetensors::tensor::TensorView::new(dt, shape, b).unwrap(),
            )
        })
        .collect();
    let st_bytes = safetensors::serialize(views, &None).unwrap();
    let (cur, _, _) = sys
        .compress_safetensors(
            &st_bytes,
            std::io::Cursor::new(Vec::new()),
            CodecParams::Sparse(SparseParams::default()),
            &|_, _, _| {},
        )
        .unwrap();
    let a = Archive::from_vec(sys.clone(), cur.into_inner()).unwrap();
    let mut sparse_tensors = 0;
    for i in 0..a.len() {
        let want = a.decompress(i).unwrap();
        assert_eq!(
            want,
            owned
                .iter()
                .find(|o| o.0 == a.entry(i).unwrap().name)
                .unwrap()
                .3
        );
        sparse_tensors += (a.info(i).unwrap().codec == CodecId::Sparse) as usize;
        let mut d = stream.clone_htod(&vec![0xA5u8; want.len()]).unwrap();
        {
            use cudarc::driver::DevicePtrMut as _;
            let (d_ptr, _g) = d.device_ptr_mut(&stream);
            unsafe {
                a.decompress_device(
                    i,
                    DeviceSlice::new(DevicePtr(d_ptr), want.len() as u64),
                    stream.cu_stream() as *mut std::ffi::c_void,
                )
                .unwrap()
            };
        }
        assert!(
            stream.clone_dtoh(&d).unwrap() == want,
            "archive tensor {i} on the GPU"
        );
    }
    assert!(
        sparse_tensors >= 4,
        "{sparse_tensors} sparse tensors in the archive"
    );
}

/// The pinned-host tier: containers trimmed off the GPU go to pinned host memory within
/// `pinned_host_limit_mb` (the rest back to the archive's bytes), the statistics count them,
/// and decoding again uploads them from there, bit for bit; a zero limit keeps nothing pinned.
#[test]
#[ignore = "needs a CUDA GPU"]
fn gpu_trimmed_containers_move_to_pinned_host_memory_and_back() {
    use cudarc::driver::DevicePtrMut as _;
    use saraphis::system::Archive;
    use std::sync::Arc;
    let src = std::fs::read(common::data("minilm-subset-f32.safetensors")).unwrap();
    for limit_mb in [1024u64, 1, 0] {
        let sys = Arc::new(
            System::new(Config {
                device: Device::Cuda(0),
                pinned_host_limit_mb: limit_mb,
                ..Config::default()
            })
            .unwrap(),
        );
        let ctx = sys.cuda_device().unwrap().context().clone();
        let stream = ctx.new_stream().unwrap();
        let cs = stream.cu_stream() as *mut std::ffi::c_void;
        let (cur, _, _) = sys
            .compress_safetensors(
                &src,
                std::io::Cursor::new(Vec::new()),
                CodecParams::LosslessV2,
                &|_, _, _| {},
            )
            .unwrap();
        let a = Archive::from_vec(sys.clone(), cur.into_inner()).unwrap();
        let n = a.len();
        let want: Vec<Vec<u8>> = (0..n).map(|i| a.decompress(i).unwrap()).collect();
        let mut dsts: Vec<_> = want
            .iter()
            .map(|w| stream.clone_htod(&vec![0xA5u8; w.len()]).unwrap())
            .collect();
        let mut decode_all = |pass: &str| {
            for (i, d) in dsts.iter_mut().enumerate() {
                stream.memcpy_htod(&vec![0x5Au8; want[i].len()], d).unwrap();
                let len = want[i].len() as u64;
                let (p, _g) = d.device_ptr_mut(&stream);
                // SAFETY: a live allocation of `len` bytes used on `stream` only.
                unsafe { a.decompress_device(i, DeviceSlice::new(DevicePtr(p), len), cs) }
                    .unwrap_or_else(|e| panic!("{pass}: tensor {i}: {e}"));
            }
            stream.synchronize().unwrap();
            for (i, d) in dsts.iter().enumerate() {
                assert!(
                    stream.clone_dtoh(d).unwrap() == want[i],
                    "{pass}: tensor {i}"
                );
            }
        };
        decode_all("first");
        let containers: u64 = (0..n).map(|i| a.entry(i).unwrap().length).sum();
        assert_eq!(a.device_resident_bytes(), containers);
        assert_eq!(a.pinned_bytes(), 0);
        // SAFETY: nothing enqueued on a caller's stream still reads the containers.
        let freed = unsafe { a.trim_device(0, None) }.unwrap();
        assert_eq!(freed, containers);
        assert_eq!(a.device_resident_bytes(), 0);
        let pinned = a.pinned_bytes();
        let stats: serde_json::Value = serde_json::from_str(&sys.stats_json()).unwrap();
        assert_eq!(stats["bytes_per_tier"]["pinned_containers"], pinned);
        match limit_mb {
            1024 => assert_eq!(pinned, containers, "all fit in 1 GiB"),
            1 => assert!(pinned > 0 && pinned <= 1 << 20, "{pinned}"),
            _ => assert_eq!(pinned, 0),
        }
        decode_all("after the trim");
        assert_eq!(
            a.pinned_bytes(),
            0,
            "uploaded back: the pinned copies are gone"
        );
        let stats: serde_json::Value = serde_json::from_str(&sys.stats_json()).unwrap();
        // Their buffers are kept for the next move, within the budget.
        assert_eq!(stats["bytes_per_tier"]["pinned_containers"], pinned);
        let uploads = stats["cache"]["pinned_uploads"].as_u64().unwrap();
        assert_eq!(
            uploads > 0,
            pinned > 0,
            "limit {limit_mb}: {uploads} pinned uploads"
        );
        // A second move reuses those buffers: the same containers pinned, no more memory held.
        // SAFETY: as above.
        unsafe { a.trim_device(0, None) }.unwrap();
        let stats: serde_json::Value = serde_json::from_str(&sys.stats_json()).unwrap();
        let held = stats["bytes_per_tier"]["pinned_containers"]
            .as_u64()
            .unwrap();
        assert!(held <= limit_mb << 20, "{held} held");
        if limit_mb == 1024 {
            assert_eq!(a.pinned_bytes(), pinned);
            assert_eq!(held, pinned, "every buffer reused, none added");
        } else {
            assert_eq!(a.pinned_bytes() > 0, pinned > 0);
        }
        decode_all("after a second trim");
        drop(a);
        let stats: serde_json::Value = serde_json::from_str(&sys.stats_json()).unwrap();
        assert_eq!(
            stats["bytes_per_tier"]["pinned_containers"], 0,
            "archive dropped"
        );
    }
}

/// The monitor thread samples device memory in the background: the statistics count its
/// samples, and a 4 GiB allocation shows in `device_memory` within a few intervals without
/// any call asking for a sample.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_device_memory_is_sampled_in_the_background() {
    let sys = System::new(Config {
        device: Device::Cuda(0),
        monitoring_interval_ms: 20,
        ..Config::default()
    })
    .unwrap();
    let stats =
        |sys: &System| -> serde_json::Value { serde_json::from_str(&sys.stats_json()).unwrap() };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let s0 = stats(&sys)["memory_pressure"]["background_samples"]
        .as_u64()
        .unwrap();
    assert!(s0 >= 2, "{s0} samples in 100 ms at 20 ms");
    let (free0, total) = sys.device_memory().unwrap();
    let stream = sys.cuda_device().unwrap().context().new_stream().unwrap();
    let big = stream.alloc_zeros::<u8>(4 << 30).unwrap();
    stream.synchronize().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(120));
    let (free1, total1) = sys.device_memory().unwrap();
    assert_eq!(total, total1);
    assert!(
        free0.saturating_sub(free1) >= 3 << 30,
        "free {free0} before the allocation, {free1} after"
    );
    let v = stats(&sys);
    assert!(v["memory_pressure"]["background_samples"].as_u64().unwrap() > s0);
    assert!(v["memory_pressure"]["gpu_peak_used_mb"].as_f64().unwrap() >= 4096.0);
    drop(big);
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_refuses_delta_containers_with_a_clear_error() {
    // A delta container (codec 8) needs its base tensor, which no device call takes: the
    // host-known path says so, and the raw device call reports status 5, never a result.
    let sys = gpu();
    let base = common::load("minilm-subset-f32.safetensors");
    let tuned = common::load("minilm-subset-finetuned-f32.safetensors");
    let (b, t) = (
        &base[3],
        tuned.iter().find(|t| t.name == base[3].name).unwrap(),
    );
    let c = codec::delta::compress(
        &t.bytes,
        &b.bytes,
        t.dtype,
        &t.shape,
        &CodecParams::Lossless,
        0,
    )
    .unwrap()
    .bytes;
    let mut out = vec![0u8; t.bytes.len()];
    match sys.decompress_on_gpu(&c, t.dtype, &mut out) {
        Err(Error::Unsupported(m)) => assert!(m.contains("base"), "{m}"),
        r => panic!("{r:?}"),
    }
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let src = stream.clone_htod(&c).unwrap();
    let mut dst = stream.clone_htod(&vec![0u8; out.len()]).unwrap();
    let mut st = stream.alloc_zeros::<i32>(2).unwrap();
    {
        use cudarc::driver::{DevicePtr as _, DevicePtrMut as _};
        let (s_ptr, _a) = src.device_ptr(&stream);
        let (d_ptr, _b) = dst.device_ptr_mut(&stream);
        let (st_ptr, _c) = st.device_ptr_mut(&stream);
        let a = DeviceDecode {
            src: DeviceSlice::new(DevicePtr(s_ptr), c.len() as u64),
            dtype: t.dtype,
            dst: DeviceSlice::new(DevicePtr(d_ptr), out.len() as u64),
            status: DeviceSlice::new(DevicePtr(st_ptr), 2),
            stream: stream.cu_stream() as *mut std::ffi::c_void,
        };
        unsafe { sys.decompress_device(&a).unwrap() };
    }
    let codes = stream.clone_dtoh(&st).unwrap();
    assert_eq!(codes[0], 5, "raw device call on a delta container");
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_archive_decodes_delta_tensors_once_their_base_is_attached() {
    // Delta tensors of an archive (a real fine-tune against its base) through the device
    // calls: decoded on the host against the attached base and copied, single and batched,
    // bit for bit; refused with a clear error before the base is attached.
    use cudarc::driver::DevicePtrMut as _;
    use saraphis::system::Archive;
    use std::sync::Arc;
    let sys = Arc::new(gpu());
    let dir = tempfile::tempdir().unwrap();
    let base_st = common::data("minilm-subset-f32.safetensors");
    let tuned_st = common::data("minilm-subset-finetuned-f32.safetensors");
    let (bp, tp) = (dir.path().join("b.sph"), dir.path().join("t.sph"));
    let quiet = |_: usize, _: usize, _: &str| {};
    sys.compress_model(&base_st, &bp, CodecParams::Lossless, &quiet)
        .unwrap();
    sys.compress_model_with_base(&tuned_st, &tp, &base_st, CodecParams::Lossless, &quiet)
        .unwrap();
    let base = Arc::new(Archive::open(sys.clone(), &bp).unwrap());
    let tuned = Archive::open(sys.clone(), &tp).unwrap();
    let want = common::load("minilm-subset-finetuned-f32.safetensors");
    let ctx = sys.cuda_device().unwrap().context().clone();
    let stream = ctx.new_stream().unwrap();
    let cs = stream.cu_stream() as *mut std::ffi::c_void;
    let n = tuned.len();
    let wants: Vec<&[u8]> = (0..n)
        .map(|i| {
            let name = &tuned.entry(i).unwrap().name;
            want.iter()
                .find(|t| &t.name == name)
                .unwrap()
                .bytes
                .as_slice()
        })
        .collect();
    let mut dsts: Vec<_> = wants
        .iter()
        .map(|w| stream.clone_htod(&vec![0xA5u8; w.len()]).unwrap())
        .collect();
    let delta = (0..n)
        .find(|&i| tuned.info(i).unwrap().codec == saraphis::format::container::CodecId::Delta)
        .unwrap();
    {
        let (p, _g) = dsts[delta].device_ptr_mut(&stream);
        let d = DeviceSlice::new(DevicePtr(p), wants[delta].len() as u64);
        match unsafe { tuned.decompress_device(delta, d, cs) } {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("base"), "{m}"),
            r => panic!("{r:?}"),
        }
    }
    tuned.set_base(base).unwrap();
    for (i, d) in dsts.iter_mut().enumerate() {
        let (p, _g) = d.device_ptr_mut(&stream);
        let s = DeviceSlice::new(DevicePtr(p), wants[i].len() as u64);
        unsafe { tuned.decompress_device(i, s, cs).unwrap() };
    }
    for (i, d) in dsts.iter().enumerate() {
        assert!(
            stream.clone_dtoh(d).unwrap() == wants[i],
            "single: tensor {i}"
        );
    }
    let mut outs: Vec<_> = wants
        .iter()
        .map(|w| stream.clone_htod(&vec![0x5Au8; w.len()]).unwrap())
        .collect();
    let items: Vec<(usize, DeviceSlice)> = outs
        .iter_mut()
        .enumerate()
        .map(|(i, o)| {
            let (p, _g) = o.device_ptr_mut(&stream);
            (i, DeviceSlice::new(DevicePtr(p), wants[i].len() as u64))
        })
        .collect();
    unsafe { tuned.decompress_device_batch(&items, cs).unwrap() };
    for (i, o) in outs.iter().enumerate() {
        assert!(
            stream.clone_dtoh(o).unwrap() == wants[i],
            "batch: tensor {i}"
        );
    }
}
