//! p-adic parameters: arbitrary floats (F32, F16, BF16, F64) with an arbitrary absolute or
//! relative bound, prime, precision, chunk size and lane count, compressed then decompressed.
//! Compression must either refuse (`InvalidArgument`) or give a container that decodes with
//! every element within the bound (`|x' - x| <= eps`, or `<= eps |x|`; non-finite values
//! bit-exact), checked element by element with the target's own float reader; the error the
//! encoder reports is at least the one measured; `compress_into` writes the same bytes within
//! `compress_bound`; progressive decoding (1, N/2, N - 1 and N of N planes) stays within the
//! bound it returns.
//!
//! Input: 16 bytes of parameters, then the elements (little-endian).
//! byte 0: dtype (bits 0-1), relative (bit 2), explicit precision (bit 3), eps from raw bits
//! (bit 4), raw prime (bit 5); byte 1: prime from a list; bytes 2-3: raw prime; byte 4:
//! precision; byte 5: chunk size; byte 6: lanes; bytes 7-8: eps as m * 10^-e; bytes 8-15:
//! eps as raw f64 bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saraphis::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams};
use saraphis::Error;
use saraphis_fuzz::{load, FLOATS};

const PRIMES: [u32; 12] = [2, 3, 5, 7, 13, 127, 251, 257, 4099, 65521, 65519, 4];

fuzz_target!(init: saraphis_fuzz::init(), |data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (p, elems) = data.split_at(16);
    let dtype = FLOATS[(p[0] & 3) as usize];
    let rel = p[0] & 4 != 0;
    let eps = if p[0] & 16 != 0 {
        f64::from_le_bytes(p[8..16].try_into().unwrap())
    } else {
        (1 + p[7] % 9) as f64 * 10f64.powi(-((p[8] % 24) as i32))
    };
    let prime = if p[0] & 32 != 0 {
        u16::from_le_bytes([p[2], p[3]]) as u32
    } else {
        PRIMES[p[1] as usize % PRIMES.len()]
    };
    let precision = (p[0] & 8 != 0).then_some(p[4] as u32);
    let chunk_elems = if p[5] < 200 {
        1 + p[5] as u32
    } else {
        1u32.checked_shl((p[5] - 200) as u32).unwrap_or(0)
    };
    let lanes = (p[6] % 130) as u32;
    let bound = if rel {
        ErrorBound::Rel(eps)
    } else {
        ErrorBound::Abs(eps)
    };
    let opts = CompressOptions {
        codec: CodecParams::Padic(PadicParams {
            prime,
            precision,
            bound,
        }),
        chunk_elems,
        lanes,
    };
    let size = dtype.size();
    let n = elems.len() / size;
    let x = &elems[..n * size];
    let shape = [n as u64];
    let c = match codec::compress(x, dtype, &shape, &opts) {
        Ok(c) => c,
        Err(Error::InvalidArgument(_)) => return,
        Err(e) => panic!("p-adic compress failed other than by refusing: {e:?}"),
    };
    // The same container through compress_into, within compress_bound.
    let cap = codec::compress_bound(dtype, &shape, &opts).expect("bound of accepted options");
    assert!(c.bytes.len() <= cap, "container {} > bound {cap}", c.bytes.len());
    let mut into = vec![0u8; cap];
    let w = codec::compress_into(x, dtype, &shape, &opts, &mut into).expect("compress_into");
    assert!(into[..w.len] == c.bytes[..], "compress_into wrote other bytes");

    let mut y = vec![0u8; x.len()];
    codec::decompress_into(&c.bytes, dtype, &mut y).expect("a fresh container decodes");
    let mut measured = 0f64;
    for i in 0..n {
        let (a, b) = (load(dtype, x, i), load(dtype, &y, i));
        if !a.is_finite() {
            assert!(
                x[i * size..(i + 1) * size] == y[i * size..(i + 1) * size],
                "element {i}: non-finite {a} came back as {b}"
            );
            continue;
        }
        let err = (b - a).abs();
        let tol = if rel { eps * a.abs() } else { eps };
        assert!(err <= tol, "element {i}: {a} -> {b}, error {err} > {tol} ({bound:?})");
        measured = measured.max(err);
    }
    assert!(
        measured <= c.max_abs_error,
        "measured error {measured} > reported {}",
        c.max_abs_error
    );
    let info = codec::inspect(&c.bytes).expect("inspect");
    assert_eq!(info.bound, Some(bound));
    // Progressive decoding: within the bound it reports, exactly the full decode at N planes.
    let n_planes = info.precision;
    let mut plane_counts = vec![1, n_planes / 2, n_planes.saturating_sub(1), n_planes];
    plane_counts.retain(|&k| k >= 1);
    plane_counts.dedup();
    for planes in plane_counts {
        let mut z = vec![0u8; x.len()];
        let b = codec::decompress_progressive(&c.bytes, dtype, &mut z, planes)
            .expect("progressive decode");
        if planes == info.precision {
            assert_eq!(b, eps);
            assert!(z == y, "all planes differ from the full decode");
        }
        for i in 0..n {
            let (a, v) = (load(dtype, x, i), load(dtype, &z, i));
            if !a.is_finite() {
                continue;
            }
            let err = (v - a).abs();
            // Relative mode keeps zeros exact (0 * inf would be NaN).
            let tol = if rel && a == 0.0 { 0.0 } else if rel { b * a.abs() } else { b };
            assert!(
                err <= tol,
                "{planes} of {} planes: element {i}: {a} -> {v}, error {err} > {tol}",
                info.precision
            );
        }
    }
});
