//! Decoder agreement: arbitrary floats (F32, F16, BF16) compressed bit-exactly with stream
//! layout v1 (codec `lossless`) and layout v2 (codec `lossless-v2`), at fuzzed chunk and
//! segment sizes and lane counts. Both must decode bit for bit to the input on the CPU, and
//! every decoder available must agree on every container: the CPU (verified and unverified)
//! and, when `SARAPHIS_FUZZ_GPU=cuda:N` is set in a CUDA build, the GPU for layout v1
//! (`System::decompress_on_gpu`, host buffers): the check "for later" of docs/FUZZING.md.
//!
//! Input: byte 0: dtype; byte 1: layout v1 chunk size; byte 2: layout v2 segment size;
//! byte 3: lanes; then the elements (little-endian).
#![no_main]

use libfuzzer_sys::fuzz_target;
use saraphis::codec::{self, CodecParams, CompressOptions, StreamLayout};
use saraphis::DType;

const DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// Chunk or segment size from a byte: 1..=32 elements, else 2^5 .. 2^20 plus 0..=3 (so that
/// last chunks are partial and sizes are not all powers of two).
fn size_from(b: u8) -> u32 {
    if b < 32 {
        1 + b as u32
    } else {
        (1u32 << (5 + (b as u32 - 32) % 16)) + (b as u32 & 3)
    }
}

fuzz_target!(init: saraphis_fuzz::init(), |data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (p, elems) = data.split_at(4);
    let dtype = DTYPES[p[0] as usize % DTYPES.len()];
    let n = elems.len() / dtype.size();
    let x = &elems[..n * dtype.size()];
    let shape = [n as u64];
    let lanes = (p[3] % 129) as u32;
    let mut containers = Vec::new();
    for (layout, chunk) in [
        (StreamLayout::Lanes, size_from(p[1])),
        (StreamLayout::Segments, size_from(p[2])),
    ] {
        let opts = CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems: chunk,
            lanes,
        };
        let c = codec::compress_with_layout(x, dtype, &shape, &opts, layout)
            .unwrap_or_else(|e| panic!("{layout:?} chunk {chunk} lanes {lanes}: {e}"));
        containers.push((layout, c.bytes));
    }
    for (layout, c) in &containers {
        let mut y = vec![0u8; x.len()];
        codec::decompress_into(c, dtype, &mut y).expect("a fresh container decodes");
        assert!(y == x, "{layout:?}: CPU decode is not bit-exact");
        let mut u = vec![0u8; x.len()];
        codec::decompress_unverified(c, dtype, &mut u).expect("unverified decode");
        assert!(u == x, "{layout:?}: unverified CPU decode differs");
        // The GPU's host-memory decode covers layout v1 (and p-adic); layout v2 decodes on the
        // GPU only from device memory (`System::decompress_device_batch`): its check is the
        // one to add here next, with device buffers.
        if let (Some(gpu), StreamLayout::Lanes) = (saraphis_fuzz::gpu_system(), layout) {
            let mut g = vec![0u8; x.len()];
            gpu.decompress_on_gpu(c, dtype, &mut g)
                .unwrap_or_else(|e| panic!("{layout:?}: GPU decode failed: {e}"));
            assert!(g == x, "{layout:?}: GPU decode differs from the CPU's");
        }
    }
});
