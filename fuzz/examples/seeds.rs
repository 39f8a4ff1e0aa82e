//! Seed corpora of the fuzz targets, made from real weights (run by `scripts/fuzz.sh seeds`):
//!
//! ```sh
//! cargo +nightly run --manifest-path fuzz/Cargo.toml --example seeds -- \
//!     tests/data/minilm-subset-f32.safetensors fuzz/corpus
//! ```
//!
//! Writes `CORPUS/<target>/seed-*`: small containers of every codec (raw, lossless layouts v1
//! and v2, p-adic abs/rel at several primes, byte planes) in every float dtype, small `.sph`
//! archives and safetensors files cut from the real tensors, and the parameter-prefixed
//! inputs of the p-adic and agreement targets. Small on purpose (a few KiB each): fuzzing
//! speed depends on input size. Nothing here is committed; the script makes it again.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use saraphis::codec::quant::{Grouping, QuantParams};
use saraphis::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams, StreamLayout};
use saraphis::system::{Config, Device, System};
use saraphis::DType;

/// A tensor: name, dtype, little-endian bytes.
struct T {
    name: String,
    dtype: DType,
    bytes: Vec<u8>,
}

fn read_safetensors(path: &Path) -> Vec<T> {
    let buf = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&buf[8..8 + n]).unwrap();
    let mut out = Vec::new();
    for (name, t) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let dtype = DType::from_safetensors_name(t["dtype"].as_str().unwrap()).unwrap();
        let off = t["data_offsets"].as_array().unwrap();
        let (s, e) = (
            off[0].as_u64().unwrap() as usize,
            off[1].as_u64().unwrap() as usize,
        );
        out.push(T {
            name: name.clone(),
            dtype,
            bytes: buf[8 + n + s..8 + n + e].to_vec(),
        });
    }
    out
}

/// The first `k` elements of an F32 tensor, converted to `dtype`.
fn f32_slice(t: &T, k: usize, dtype: DType) -> Vec<u8> {
    assert_eq!(t.dtype, DType::F32);
    let vals = t
        .bytes
        .chunks_exact(4)
        .take(k)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
    match dtype {
        DType::F32 => vals.flat_map(f32::to_le_bytes).collect(),
        DType::F64 => vals.flat_map(|v| (v as f64).to_le_bytes()).collect(),
        DType::F16 => vals
            .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        DType::BF16 => vals
            .flat_map(|v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        d => panic!("{d:?}"),
    }
}

/// A safetensors file of `tensors` (data in order, header padded to 8 bytes with spaces).
fn safetensors(tensors: &[(&str, DType, Vec<u64>, &[u8])]) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    let mut meta = BTreeMap::new();
    meta.insert("format", "pt");
    map.insert("__metadata__".into(), serde_json::to_value(meta).unwrap());
    let mut off = 0u64;
    for (name, dtype, shape, bytes) in tensors {
        let end = off + bytes.len() as u64;
        map.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype.safetensors_name(), "shape": shape, "data_offsets": [off, end]}),
        );
        off = end;
    }
    let mut h = serde_json::to_vec(&map).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    for (_, _, _, b) in tensors {
        out.extend_from_slice(b);
    }
    out
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(format!("seed-{name}")), bytes).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (src, dir) = match &args[..] {
        [_, s, d] => (PathBuf::from(s), PathBuf::from(d)),
        _ => {
            eprintln!("usage: seeds SAFETENSORS CORPUS_DIR");
            std::process::exit(2);
        }
    };
    let all = read_safetensors(&src);
    let get = |n: &str| {
        all.iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let floats = [
        ("ln-bias", get("embeddings.LayerNorm.bias"), 384),
        ("ln-weight", get("embeddings.LayerNorm.weight"), 384),
        (
            "query",
            get("encoder.layer.0.attention.self.query.weight"),
            1024,
        ),
        (
            "token-type",
            get("embeddings.token_type_embeddings.weight"),
            768,
        ),
        (
            "words",
            get("embeddings.word_embeddings.weight.rows0-1023"),
            512,
        ),
    ];
    let dtypes = [
        ("f32", DType::F32),
        ("bf16", DType::BF16),
        ("f16", DType::F16),
        ("f64", DType::F64),
    ];
    let padic = |bound, prime, precision| {
        CodecParams::Padic(PadicParams {
            prime,
            precision,
            bound,
        })
    };
    let quant = |bits, grouping, zero_point, bound| {
        CodecParams::Quant(QuantParams {
            grouping,
            bits,
            scale_dtype: DType::F16,
            zero_point,
            bound,
        })
    };
    let codecs: [(&str, CodecParams, StreamLayout, u32, u32); 13] = [
        ("raw", CodecParams::Raw, StreamLayout::Lanes, 256, 0),
        ("v1", CodecParams::Lossless, StreamLayout::Lanes, 128, 0),
        (
            "v1-lanes4",
            CodecParams::Lossless,
            StreamLayout::Lanes,
            1000,
            4,
        ),
        ("v2", CodecParams::Lossless, StreamLayout::Segments, 256, 0),
        (
            "v2-odd",
            CodecParams::Lossless,
            StreamLayout::Segments,
            100,
            0,
        ),
        (
            "abs1e-3",
            padic(ErrorBound::Abs(1e-3), 251, None),
            StreamLayout::Lanes,
            256,
            0,
        ),
        (
            "abs1e-5-p2",
            padic(ErrorBound::Abs(1e-5), 2, None),
            StreamLayout::Lanes,
            300,
            8,
        ),
        (
            "rel1e-2",
            padic(ErrorBound::Rel(1e-2), 251, None),
            StreamLayout::Lanes,
            256,
            0,
        ),
        (
            "rel1e-4-p65521",
            padic(ErrorBound::Rel(1e-4), 65521, Some(3)),
            StreamLayout::Lanes,
            128,
            0,
        ),
        (
            "q8",
            CodecParams::Quant(QuantParams::default()),
            StreamLayout::Lanes,
            256,
            0,
        ),
        (
            "q3-channel-min",
            quant(3, Grouping::Channel(1), true, None),
            StreamLayout::Lanes,
            100,
            0,
        ),
        (
            "qabs1e-3",
            CodecParams::Quant(QuantParams::bounded(1e-3)),
            StreamLayout::Lanes,
            256,
            0,
        ),
        (
            "qabs1e-9-verbatim",
            quant(0, Grouping::Block(16), true, Some(1e-9)),
            StreamLayout::Lanes,
            64,
            0,
        ),
    ];
    let mut n = 0;
    for (fname, t, k) in &floats {
        for (dname, dtype) in dtypes {
            let x = f32_slice(t, *k, dtype);
            let elems = (x.len() / dtype.size()) as u64;
            let shape = [elems / 8, 8];
            for (cname, codec, layout, chunk, lanes) in &codecs {
                let opts = CompressOptions {
                    codec: *codec,
                    chunk_elems: *chunk,
                    lanes: *lanes,
                };
                let c = codec::compress_with_layout(&x, dtype, &shape, &opts, *layout).unwrap();
                write(
                    &dir,
                    "container_decode",
                    &format!("{fname}-{dname}-{cname}"),
                    &c.bytes,
                );
                n += 1;
            }
            // Sparse: the slice with two of every four elements zeroed (a 2:4 pattern), small
            // scatter blocks; lossless values and p-adic values at a relative bound.
            let mut pruned = x.clone();
            for (i, e) in pruned.chunks_exact_mut(dtype.size()).enumerate() {
                if i % 4 < 2 {
                    e.fill(0);
                }
            }
            for (cname, padic_values) in [
                ("sparse", None),
                (
                    "sparse-rel1e-2",
                    Some(PadicParams::new(ErrorBound::Rel(1e-2))),
                ),
            ] {
                let opts = CompressOptions {
                    codec: CodecParams::Sparse(saraphis::codec::sparse::SparseParams {
                        padic: padic_values,
                    }),
                    chunk_elems: 64,
                    lanes: 0,
                };
                let c = codec::compress(&pruned, dtype, &shape, &opts).unwrap();
                write(
                    &dir,
                    "container_decode",
                    &format!("{fname}-{dname}-{cname}"),
                    &c.bytes,
                );
                n += 1;
            }
            // Delta against the all-zero base (the base `decode_every_way` decodes against):
            // lossless residuals, and value differences within an absolute bound.
            let zeros = vec![0u8; x.len()];
            for (cname, dc) in [
                ("delta", CodecParams::Lossless),
                (
                    "delta-abs1e-3",
                    CodecParams::Padic(PadicParams::new(ErrorBound::Abs(1e-3))),
                ),
            ] {
                let c = codec::delta::compress(&x, &zeros, dtype, &shape, &dc, 0).unwrap();
                write(
                    &dir,
                    "container_decode",
                    &format!("{fname}-{dname}-{cname}"),
                    &c.bytes,
                );
                n += 1;
            }
            // p-adic parameters: byte 0 flags (dtype, rel, explicit precision), 1 prime index,
            // 4 precision, 5 chunk, 6 lanes, 7-8 eps = m 10^-e.
            let di = [DType::F32, DType::F16, DType::BF16, DType::F64]
                .iter()
                .position(|&d| d == dtype)
                .unwrap() as u8;
            for (pname, flags, prime_ix, prec, chunk, lanes, m, e) in [
                ("abs1e-3", 0u8, 6u8, 0u8, 127u8, 0u8, 0u8, 3u8),
                ("rel1e-2", 4, 6, 0, 63, 0, 0, 2),
                ("abs5e-4-p2-n12", 8, 0, 12, 255, 4, 4, 4),
                ("rel3e-3-p65521", 4, 9, 0, 15, 32, 2, 3),
            ] {
                let mut input = vec![di | flags, prime_ix, 0, 0, prec, chunk, lanes, m, e];
                input.resize(16, 0);
                input.extend_from_slice(&x[..x.len().min(256 * dtype.size())]);
                write(
                    &dir,
                    "padic_roundtrip",
                    &format!("{fname}-{dname}-{pname}"),
                    &input,
                );
            }
            if dtype != DType::F64 {
                let di = [DType::F32, DType::F16, DType::BF16]
                    .iter()
                    .position(|&d| d == dtype)
                    .unwrap() as u8;
                for (aname, hdr) in [("small", [di, 63, 99, 0]), ("pow2", [di, 129, 130, 7])] {
                    let mut input = hdr.to_vec();
                    input.extend_from_slice(&x);
                    write(
                        &dir,
                        "layout_agreement",
                        &format!("{fname}-{dname}-{aname}"),
                        &input,
                    );
                }
            }
        }
    }
    // Integer and bool tensors: byte planes.
    let ids = get("embeddings.position_ids");
    let ints = &ids.bytes[..256 * 8];
    let bools: Vec<u8> = ints.chunks_exact(8).map(|b| b[0] & 1).collect();
    for (name, dtype, bytes) in [
        ("i64", DType::I64, ints.to_vec()),
        ("i32", DType::I32, ints.to_vec()),
        ("u8", DType::U8, ints.to_vec()),
        ("bool", DType::Bool, bools.clone()),
    ] {
        let shape = [(bytes.len() / dtype.size()) as u64];
        for (cname, codec) in [("bytes", CodecParams::Lossless), ("raw", CodecParams::Raw)] {
            let opts = CompressOptions {
                codec,
                chunk_elems: 100,
                lanes: 0,
            };
            let c = codec::compress(&bytes, dtype, &shape, &opts).unwrap();
            write(
                &dir,
                "container_decode",
                &format!("{name}-{cname}"),
                &c.bytes,
            );
            n += 1;
        }
    }
    // Small safetensors files cut from the real tensors, and their archives.
    let q = f32_slice(
        get("encoder.layer.0.attention.self.query.weight"),
        512,
        DType::F32,
    );
    let qb = f32_slice(
        get("encoder.layer.0.attention.self.query.weight"),
        512,
        DType::BF16,
    );
    let b = f32_slice(
        get("encoder.layer.0.attention.self.query.bias"),
        64,
        DType::F32,
    );
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "mixed",
            safetensors(&[
                (
                    "embeddings.position_ids",
                    DType::I64,
                    vec![1, 64],
                    &ints[..512],
                ),
                ("q.weight", DType::F32, vec![64, 8], &q),
                ("q.bias", DType::F32, vec![64], &b),
            ]),
        ),
        (
            "bf16",
            safetensors(&[
                ("q.weight", DType::BF16, vec![8, 64], &qb),
                ("mask", DType::Bool, vec![64], &bools[..64]),
            ]),
        ),
        ("one", safetensors(&[("bias", DType::F32, vec![64], &b)])),
        (
            // Tied weights: the copy shares the first one's container (archive 1.2).
            "tied",
            safetensors(&[
                ("decoder.weight", DType::F32, vec![64, 8], &q),
                ("bias", DType::F32, vec![64], &b),
                ("embedding.weight", DType::F32, vec![64, 8], &q),
            ]),
        ),
        (
            "empty-tensor",
            safetensors(&[
                ("e", DType::F32, vec![0, 4], &[]),
                ("bias", DType::F32, vec![4, 16], &b),
            ]),
        ),
    ];
    let sys = System::new(Config {
        device: Device::Cpu,
        threads: 1,
        chunk_elems: 128,
        ..Config::default()
    })
    .unwrap();
    for (fname, file) in &files {
        for (mode, mname, codec) in [
            (0u8, "lossless", CodecParams::Lossless),
            (1, "raw", CodecParams::Raw),
            (
                2,
                "abs",
                CodecParams::Padic(PadicParams::new(ErrorBound::Abs(1e-3))),
            ),
            (
                3,
                "rel",
                CodecParams::Padic(PadicParams::new(ErrorBound::Rel(1e-2))),
            ),
            (
                10,
                "auto-abs",
                CodecParams::Auto(saraphis::codec::auto::AutoParams {
                    bound: Some(ErrorBound::Abs(1e-3)),
                    ..Default::default()
                }),
            ),
        ] {
            let mut input = vec![mode | 4];
            input.extend_from_slice(file);
            write(
                &dir,
                "safetensors_compress",
                &format!("{fname}-{mname}"),
                &input,
            );
            let (w, _, _) = sys
                .compress_safetensors(file, Cursor::new(Vec::new()), codec, &|_, _, _| {})
                .unwrap();
            write(
                &dir,
                "archive_decode",
                &format!("{fname}-{mname}"),
                &w.into_inner(),
            );
            n += 2;
        }
    }
    println!(
        "seeds: {n}+ inputs from {} under {}",
        src.display(),
        dir.display()
    );
}
