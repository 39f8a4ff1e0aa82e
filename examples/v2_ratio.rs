//! Whole-model compression ratio of the lossless float codec, layout v1 against layout v2 at
//! several segment lengths, F32 as stored and BF16 (round to nearest even), on every float
//! tensor of a safetensors file. `cargo run --release --example v2_ratio -- MODEL.safetensors`.
//! Prints one JSON object per (dtype, layout, segment) with original and compressed bytes.
use saraphis::codec::{self, CompressOptions, StreamLayout};
use saraphis::dtype::DType;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: v2_ratio MODEL.safetensors");
    let buf = std::fs::read(&path).expect("read model");
    let st = safetensors::SafeTensors::deserialize(&buf).expect("safetensors");
    let mut tensors = Vec::new();
    for (_, v) in st.tensors() {
        if v.dtype() != safetensors::Dtype::F32 {
            continue;
        }
        let shape: Vec<u64> = v.shape().iter().map(|&d| d as u64).collect();
        let f32s = v.data().to_vec();
        let bf16: Vec<u8> = f32s
            .chunks_exact(4)
            .flat_map(|c| {
                half::bf16::from_f32(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes()
            })
            .collect();
        tensors.push((shape, f32s, bf16));
    }
    for dtype in [DType::F32, DType::BF16] {
        let runs: Vec<(StreamLayout, u32)> = vec![
            (StreamLayout::Lanes, 1 << 18),
            (StreamLayout::Segments, 1 << 13),
            (StreamLayout::Segments, 1 << 14),
            (StreamLayout::Segments, 1 << 15),
            (StreamLayout::Segments, 1 << 16),
        ];
        for (layout, seg) in runs {
            let (mut orig, mut comp) = (0usize, 0usize);
            for (shape, f, b) in &tensors {
                let data = if dtype == DType::F32 { f } else { b };
                let opts = CompressOptions {
                    chunk_elems: seg,
                    ..Default::default()
                };
                let c = codec::compress_with_layout(data, dtype, shape, &opts, layout).unwrap();
                orig += data.len();
                comp += c.bytes.len();
            }
            println!(
                "{{\"dtype\":\"{dtype:?}\",\"layout\":\"{layout:?}\",\"segment\":{seg},\"original\":{orig},\"compressed\":{comp},\"ratio\":{:.5}}}",
                orig as f64 / comp as f64
            );
        }
    }
}
