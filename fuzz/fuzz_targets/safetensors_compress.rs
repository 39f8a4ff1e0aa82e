//! Arbitrary bytes as a safetensors file, compressed in memory to a `.sph` archive as
//! `saraphis compress` does. Byte 0 picks the codec (lossless, raw, p-adic abs 1e-3 or
//! rel 1e-2; with bit 3 set, codec auto: bit-exact, 8-bit quant allowed, abs 1e-3 or rel 1e-2)
//! and the chunk size (default or 64 elements); the rest is the file. A compress
//! that succeeds must give an archive that restores: byte for byte the input for the
//! bit-exact codecs, every element within the bound for p-adic. Invalid input must be
//! refused with `InvalidArgument` or `Unsupported`, never a panic.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use saraphis::codec::auto::AutoParams;
use saraphis::format::archive::read_index;
use saraphis::system::model::compare;
use saraphis::{CodecParams, DType, Error, ErrorBound, PadicParams};

fuzz_target!(init: saraphis_fuzz::init(), |data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let codec = match (mode & 8 != 0, mode & 3) {
        (false, 0) => CodecParams::Lossless,
        (false, 1) => CodecParams::Raw,
        (false, 2) => CodecParams::Padic(PadicParams::new(ErrorBound::Abs(1e-3))),
        (false, _) => CodecParams::Padic(PadicParams::new(ErrorBound::Rel(1e-2))),
        (true, k) => CodecParams::Auto(AutoParams {
            bound: match k {
                2 => Some(ErrorBound::Abs(1e-3)),
                3 => Some(ErrorBound::Rel(1e-2)),
                _ => None,
            },
            bits: (k == 1).then_some(8),
            ..AutoParams::default()
        }),
    };
    let exact = match codec {
        CodecParams::Padic(_) => false,
        CodecParams::Auto(a) => a.bound.is_none() && a.bits.is_none(),
        _ => true,
    };
    let sys = saraphis_fuzz::cpu_system(if mode & 4 != 0 { 64 } else { 0 });
    let archive = match sys.compress_safetensors(file, Cursor::new(Vec::new()), codec, &|_, _, _| {}) {
        Ok((w, len, _)) => {
            let a = w.into_inner();
            assert_eq!(a.len() as u64, len, "archive length");
            a
        }
        Err(Error::InvalidArgument(_) | Error::Unsupported(_)) => return,
        Err(e) => panic!("compress failed other than by refusing its input: {e:?}"),
    };
    let mut back = Vec::new();
    sys.decompress_archive(&archive, &mut back, &|_, _, _| {})
        .expect("an archive compress wrote restores");
    let index = read_index(&archive).expect("an archive compress wrote opens");
    if !exact {
        assert_eq!(back.len(), file.len(), "restored length");
        let start = 8 + index.source_header.len();
        assert_eq!(back[..start], file[..start], "restored header");
        for t in &index.tensors {
            let dtype = DType::from_safetensors_name(&t.dtype).unwrap();
            let r = start + t.data_offsets[0] as usize..start + t.data_offsets[1] as usize;
            let (_, _, ok) = compare(dtype, &file[r.clone()], &back[r], t.bound.as_ref());
            assert!(ok, "tensor '{}' outside its bound", t.name);
        }
    } else {
        assert!(back == file, "bit-exact restore differs from the input");
    }
});
