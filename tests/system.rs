//! The system coordinator: one instance shared by many threads, configuration sources,
//! device choice and statistics.

mod common;

use std::sync::Arc;

use saraphis::system::{Config, Device, System};
use saraphis::{CodecParams, DType, Error, ErrorBound, PadicParams};

#[test]
fn one_system_many_threads() {
    let sys = Arc::new(
        System::new(Config {
            threads: 2,
            ..Config::default()
        })
        .unwrap(),
    );
    let tensors = Arc::new(common::load("minilm-subset-f32.safetensors"));
    let handles: Vec<_> = (0..6)
        .map(|k| {
            let (sys, tensors) = (sys.clone(), tensors.clone());
            std::thread::spawn(move || {
                for t in tensors.iter() {
                    let codec = if k % 2 == 0 {
                        CodecParams::Lossless
                    } else {
                        CodecParams::Padic(PadicParams::new(ErrorBound::Abs(1e-3)))
                    };
                    let c = sys
                        .compress(&t.bytes, t.dtype, &t.shape, &sys.options(codec))
                        .unwrap();
                    let mut out = vec![0u8; t.bytes.len()];
                    sys.decompress_into(&c.bytes, t.dtype, &mut out).unwrap();
                    if k % 2 == 0 || t.dtype != DType::F32 {
                        assert_eq!(out, t.bytes);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let st = sys.stats();
    assert_eq!(st.tensors_compressed, 6 * 9);
    assert_eq!(st.tensors_decompressed, 6 * 9);
    assert!(st.bytes_out < st.bytes_in);
    assert!(st.compress_nanos > 0 && st.decompress_nanos > 0);
    assert_eq!(
        st.bytes_decompressed, st.bytes_in,
        "lossless: every byte back"
    );
    // The JSON says the same.
    let j: serde_json::Value = serde_json::from_str(&sys.stats_json()).unwrap();
    assert_eq!(j["state"], "ready");
    assert_eq!(j["totals"]["tensors_compressed"], 6 * 9);
    assert_eq!(j["totals"]["bytes_in"], st.bytes_in);
    assert_eq!(j["totals"]["device_decode_calls"], 0);
    let ratio = j["compression_ratio"].as_f64().unwrap();
    assert!((ratio - st.bytes_in as f64 / st.bytes_out as f64).abs() < 1e-12);
    assert!(j["throughput"]["decompress_mb_s"].as_f64().unwrap() > 0.0);
    assert!(j["latency"]["compress_ms_avg"].as_f64().unwrap() > 0.0);
    assert!(j["uptime_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn device_choice_is_honest() {
    let sys = System::new(Config {
        device: Device::Auto,
        ..Config::default()
    })
    .unwrap();
    let (d, why) = sys.device_status();
    assert_eq!(d, Device::Cpu);
    assert!(why.contains("auto"));
    assert!(matches!(
        System::new(Config {
            device: Device::Cuda(0),
            ..Config::default()
        }),
        Err(Error::Device(_))
    ));
    assert!("cuda:x".parse::<Device>().is_err());
    assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
}

#[test]
fn config_from_env() {
    // The only test in this binary that touches these variables.
    std::env::set_var("SARAPHIS_THREADS", "3");
    std::env::set_var("SARAPHIS_DEVICE", "cpu");
    std::env::set_var("SARAPHIS_CHUNK_ELEMS", "4096");
    let c = Config::from_env().unwrap();
    assert_eq!((c.threads, c.device, c.chunk_elems), (3, Device::Cpu, 4096));
    assert_eq!(System::new(c).unwrap().threads(), 3);
    std::env::set_var("SARAPHIS_THREADS", "many");
    assert!(Config::from_env().is_err());
    for k in [
        "SARAPHIS_THREADS",
        "SARAPHIS_DEVICE",
        "SARAPHIS_CHUNK_ELEMS",
    ] {
        std::env::remove_var(k);
    }
}

#[test]
fn gpu_compression_sizes_are_known_on_the_host() {
    use saraphis::codec::{self, CompressOptions};
    // The size query needs no device: an engine sizes its buffers before it has a stream.
    for (dtype, codec_p) in [
        (DType::F32, CodecParams::Lossless),
        (DType::BF16, CodecParams::Lossless),
        (DType::F16, CodecParams::Lossless),
        (DType::F64, CodecParams::Lossless),
        (DType::I32, CodecParams::Lossless),
        (DType::U8, CodecParams::Raw),
        (DType::F32, CodecParams::Raw),
    ] {
        for lanes in [0, 128] {
            for shape in [
                vec![],
                vec![0, 3],
                vec![1 << 20],
                vec![384, 1536],
                vec![7, 1001],
            ] {
                let o = CompressOptions {
                    codec: codec_p,
                    lanes,
                    ..CompressOptions::default()
                };
                let l = System::compress_device_layout(dtype, &shape, &o).unwrap();
                let host = codec::compress_bound(dtype, &shape, &o).unwrap();
                // The GPU encoder writes layout v1; without lanes the host writes F32, F16
                // and BF16 in layout v2, whose bound covers v1's.
                if lanes == 0
                    && codec_p == CodecParams::Lossless
                    && codec::segmented::supports(dtype)
                {
                    assert!(l.bound as usize <= host, "{dtype:?} {shape:?}");
                } else {
                    assert_eq!(l.bound as usize, host, "{dtype:?} {shape:?}");
                }
                let bytes = saraphis::dtype::byte_len(dtype, &shape).unwrap() as u64;
                assert_eq!(l.input_bytes, bytes);
                // Default chunks of 2^18 elements: temporary memory within 1% of the input.
                if bytes >= (1 << 20) {
                    assert!(
                        l.temp_bytes * 100 <= bytes,
                        "{dtype:?} lanes {lanes}: {} temporary bytes for {bytes}",
                        l.temp_bytes
                    );
                }
            }
        }
    }
    let padic = CompressOptions {
        codec: CodecParams::Padic(PadicParams::new(ErrorBound::Abs(1e-3))),
        ..CompressOptions::default()
    };
    // p-adic: the container bound as on the host; temp within 1% of a large input.
    let l = System::compress_device_layout(DType::F32, &[1 << 28], &padic).unwrap();
    assert_eq!(
        l.bound as usize,
        saraphis::codec::compress_bound(DType::F32, &[1 << 28], &padic).unwrap()
    );
    assert!(l.temp_bytes > 0 && l.temp_bytes * 100 <= l.input_bytes);
    // Integer tensors under p-adic options fall back to byte planes, as on the CPU.
    assert!(System::compress_device_layout(DType::I32, &[10], &padic).is_ok());
    let bad_lanes = CompressOptions {
        lanes: 129,
        ..CompressOptions::default()
    };
    assert!(matches!(
        System::compress_device_layout(DType::F32, &[10], &bad_lanes),
        Err(Error::InvalidArgument(_))
    ));
    // A CPU system says why it cannot compress on a GPU.
    let cpu = System::new(Config {
        device: Device::Cpu,
        ..Config::default()
    })
    .unwrap();
    assert!(matches!(
        cpu.compress_on_gpu(&[0u8; 8], DType::F32, &[2], &CompressOptions::default()),
        Err(Error::Device(_))
    ));
}
