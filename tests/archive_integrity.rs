//! Archives that were altered after writing are refused, never decoded to wrong values: swapped
//! containers, forged index entries, non-zero reserved bytes and padding; a 1.0 archive (no
//! container checksums in its index) still decodes; the writer never writes parameters its
//! reader refuses. All on real MiniLM weights (tests/data).

mod common;

use std::path::Path;

use saraphis::format::archive::{read_index, ARCHIVE_MINOR};
use saraphis::system::{Config, System};
use saraphis::{CodecParams, DType, Error, ErrorBound, PadicParams};

fn sys() -> System {
    System::new(Config {
        threads: 2,
        ..Config::default()
    })
    .unwrap()
}

fn quiet(_: usize, _: usize, _: &str) {}

/// Write a safetensors file of `(name, dtype, shape, bytes)` in this order.
fn write_safetensors(path: &Path, tensors: &[(&str, &str, Vec<u64>, Vec<u8>)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut h = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

/// Two distinct real 384-element rows whose lossless containers have the same length, so
/// that swapping them keeps every offset of the archive valid.
fn equal_length_rows() -> (Vec<u8>, Vec<u8>) {
    let t = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .find(|t| t.name == "encoder.layer.0.attention.self.query.weight")
        .unwrap();
    let s = sys();
    let opts = s.options(CodecParams::Lossless);
    let mut seen = std::collections::HashMap::new();
    for row in t.bytes.chunks(384 * 4) {
        let len = s
            .compress(row, DType::F32, &[384], &opts)
            .unwrap()
            .bytes
            .len();
        if let Some(other) = seen.insert(len, row.to_vec()) {
            if other != row {
                return (other, row.to_vec());
            }
        }
    }
    panic!("no two rows of equal container length");
}

/// Replace the JSON index of archive `buf` by `f(index)`, fixing the header's length and CRCs,
/// as a forger who knows the format would.
fn rewrite_index(buf: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let off = u64::from_le_bytes(buf[16..24].try_into().unwrap()) as usize;
    let mut index: serde_json::Value = serde_json::from_slice(&buf[off..]).unwrap();
    f(&mut index);
    let json = serde_json::to_vec(&index).unwrap();
    let mut out = buf[..off].to_vec();
    out[24..32].copy_from_slice(&(json.len() as u64).to_le_bytes());
    out[32..36].copy_from_slice(&crc32fast::hash(&json).to_le_bytes());
    let crc = crc32fast::hash(&out[..36]);
    out[36..40].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&json);
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    original: std::path::PathBuf,
    archive: Vec<u8>,
}

/// An archive of two equal-length real rows `a`, `b` plus a third real tensor.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = equal_length_rows();
    let bias = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .find(|t| t.name == "encoder.layer.0.attention.self.query.bias")
        .unwrap();
    let original = dir.path().join("m.safetensors");
    write_safetensors(
        &original,
        &[
            ("layer.key.bias", "F32", vec![384], a),
            ("layer.value.bias", "F32", vec![384], b),
            ("layer.query.bias", "F32", bias.shape.clone(), bias.bytes),
        ],
    );
    let sph = dir.path().join("m.sph");
    sys()
        .compress_model(&original, &sph, CodecParams::Lossless, &quiet)
        .unwrap();
    let archive = std::fs::read(&sph).unwrap();
    Fixture {
        dir,
        original,
        archive,
    }
}

impl Fixture {
    /// Decompress `bytes` as an archive; the error, and that no file was left behind.
    fn decompress_err(&self, bytes: &[u8]) -> Error {
        let sph = self.dir.path().join("bad.sph");
        std::fs::write(&sph, bytes).unwrap();
        let out = self.dir.path().join("out.safetensors");
        let e = sys()
            .decompress_model(&sph, &out, &quiet)
            .expect_err("altered archive accepted");
        let v = sys().verify_model(&sph, &self.original, &quiet);
        assert!(v.is_err(), "verify accepted an altered archive");
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["bad.sph", "m.safetensors", "m.sph"], "left behind");
        e
    }
}

#[test]
fn swapped_containers_of_equal_length_are_refused() {
    let fx = fixture();
    let index = read_index(&fx.archive).unwrap();
    let (a, b) = (&index.tensors[0], &index.tensors[1]);
    assert_eq!(a.length, b.length, "fixture: equal lengths");
    let mut swapped = fx.archive.clone();
    let (ra, rb) = (
        a.offset as usize..(a.offset + a.length) as usize,
        b.offset as usize..(b.offset + b.length) as usize,
    );
    let (ca, cb) = (
        fx.archive[ra.clone()].to_vec(),
        fx.archive[rb.clone()].to_vec(),
    );
    assert_ne!(ca, cb);
    swapped[ra].copy_from_slice(&cb);
    swapped[rb].copy_from_slice(&ca);
    // Every structural check passes (same dtype, shape, length): only the binding catches it.
    read_index(&swapped).unwrap();
    let e = fx.decompress_err(&swapped);
    assert!(matches!(e, Error::Checksum(_)), "{e}");
    assert!(e.to_string().contains("layer.key.bias"), "{e}");
}

#[test]
fn archive_1_0_without_container_checksums_still_decodes() {
    let fx = fixture();
    let mut old = rewrite_index(&fx.archive, |v| {
        for t in v["tensors"].as_array_mut().unwrap() {
            t.as_object_mut().unwrap().remove("container_crc32");
        }
    });
    old[10..12].copy_from_slice(&0u16.to_le_bytes());
    let crc = crc32fast::hash(&old[..36]);
    old[36..40].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(ARCHIVE_MINOR, 1);
    let sph = fx.dir.path().join("old.sph");
    std::fs::write(&sph, &old).unwrap();
    let back = fx.dir.path().join("back.safetensors");
    sys().decompress_model(&sph, &back, &quiet).unwrap();
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&fx.original).unwrap()
    );
}

#[test]
fn forged_index_entries_are_refused_before_allocating() {
    let fx = fixture();
    // A huge size: refused by the cross-check against shape and container header, not an abort.
    let huge = rewrite_index(&fx.archive, |v| {
        v["tensors"][2]["original_bytes"] = (1u64 << 40).into();
    });
    let e = fx.decompress_err(&huge);
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    // Consistent size and offsets, but a shape that is not the container's.
    let reshaped = rewrite_index(&fx.archive, |v| {
        v["tensors"][0]["shape"] = serde_json::json!([2, 192]);
    });
    let e = fx.decompress_err(&reshaped);
    assert!(e.to_string().contains("disagrees"), "{e}");
    // An entry pointing at another tensor's container.
    let moved = rewrite_index(&fx.archive, |v| {
        let (o, l) = (
            v["tensors"][2]["offset"].clone(),
            v["tensors"][2]["length"].clone(),
        );
        v["tensors"][0]["offset"] = o;
        v["tensors"][0]["length"] = l;
    });
    let e = fx.decompress_err(&moved);
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    // Two entries sharing one container.
    let shared = rewrite_index(&fx.archive, |v| {
        let (o, c) = (
            v["tensors"][0]["offset"].clone(),
            v["tensors"][0]["container_crc32"].clone(),
        );
        v["tensors"][1]["offset"] = o;
        v["tensors"][1]["container_crc32"] = c;
    });
    let e = fx.decompress_err(&shared);
    assert!(e.to_string().contains("overlaps"), "{e}");
}

#[test]
fn reserved_bytes_and_padding_must_be_zero() {
    let fx = fixture();
    let mut reserved = fx.archive.clone();
    reserved[50] = 1;
    let e = fx.decompress_err(&reserved);
    assert!(e.to_string().contains("reserved"), "{e}");
    let index = read_index(&fx.archive).unwrap();
    let t = &index.tensors[0];
    let pad_at = (t.offset + t.length) as usize;
    assert!(
        pad_at % 64 != 0,
        "fixture: the first container is followed by padding"
    );
    let mut padded = fx.archive.clone();
    padded[pad_at] = 0x5a;
    let e = fx.decompress_err(&padded);
    assert!(e.to_string().contains("padding"), "{e}");
}

#[test]
fn the_writer_never_writes_parameters_its_reader_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    let out = dir.path().join("m.sph");
    for bound in [ErrorBound::Rel(1e-19), ErrorBound::Abs(1e308)] {
        let e = sys()
            .compress_model(
                &src,
                &out,
                CodecParams::Padic(PadicParams::new(bound)),
                &quiet,
            )
            .expect_err("compress wrote an archive that would not decode");
        assert!(matches!(e, Error::InvalidArgument(_)), "{bound:?}: {e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
    // The finest relative bound that does work decodes within its bound.
    sys()
        .compress_model(
            &src,
            &out,
            CodecParams::Padic(PadicParams::new(ErrorBound::Rel(1e-9))),
            &quiet,
        )
        .unwrap();
    let r = sys().verify_model(&out, &src, &quiet).unwrap();
    assert!(r.ok);
}
