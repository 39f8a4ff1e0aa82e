//! Profiling aid: compress, then decode, one real tensor repeatedly on one thread.
//! `cargo run --release --example decode_profile -- MODEL.safetensors [f32|bf16] [N] [v1|v2]`
//! (v2: stream layout v2, `lossless-v2`, at its default segment length).
use saraphis::codec::{self, CompressOptions};
use saraphis::DType;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let buf = std::fs::read(&args[1]).unwrap();
    let st = safetensors::SafeTensors::deserialize(&buf).unwrap();
    let t = st.tensor("embeddings.word_embeddings.weight").unwrap();
    let bf = args.get(2).is_some_and(|a| a == "bf16");
    let reps: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(20);
    let (dtype, data): (DType, Vec<u8>) = if bf {
        (
            DType::BF16,
            t.data()
                .chunks_exact(4)
                .flat_map(|c| {
                    half::bf16::from_f32(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes()
                })
                .collect(),
        )
    } else {
        (DType::F32, t.data().to_vec())
    };
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let compress = || {
            if args.get(4).is_some_and(|a| a == "v2") {
                let o = CompressOptions {
                    chunk_elems: codec::segmented::DEFAULT_SEGMENT_ELEMS,
                    ..CompressOptions::default()
                };
                codec::compress_with_layout(&data, dtype, &shape, &o, codec::StreamLayout::Segments)
                    .unwrap()
            } else {
                codec::compress(&data, dtype, &shape, &CompressOptions::default()).unwrap()
            }
        };
        let t0 = std::time::Instant::now();
        for _ in 1..reps {
            compress();
        }
        let c = compress();
        let enc = t0.elapsed().as_secs_f64() / reps as f64;
        let mut out = vec![0u8; data.len()];
        let t0 = std::time::Instant::now();
        for _ in 0..reps {
            codec::decompress_into(&c.bytes, dtype, &mut out).unwrap();
        }
        let s = t0.elapsed().as_secs_f64() / reps as f64;
        assert_eq!(out, data);
        println!(
            "{dtype:?}: ratio {:.4}, encode {:.0} MB/s, decode {:.0} MB/s ({:.2} ns/elem)",
            data.len() as f64 / c.bytes.len() as f64,
            data.len() as f64 / 1e6 / enc,
            data.len() as f64 / 1e6 / s,
            s * 1e9 / (data.len() / dtype.size()) as f64
        );
    });
}
