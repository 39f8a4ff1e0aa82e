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

/// Identical tensors (tied weights saved twice, as BERT checkpoints save the MLM decoder and
/// the word embedding) are stored once: archive 1.2, both entries naming one container, both
/// restored bit for bit, and a 1.1 reader's rules (overlap refused) kept for anything else.
#[test]
fn identical_tensors_are_stored_once_and_forged_sharing_is_refused() {
    use saraphis::format::archive::ARCHIVE_MINOR_SHARED;
    let dir = tempfile::tempdir().unwrap();
    let w = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .find(|t| t.name == "encoder.layer.0.attention.self.query.weight")
        .unwrap();
    let bias = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .find(|t| t.name == "encoder.layer.0.attention.self.query.bias")
        .unwrap();
    let shape = w.shape.clone();
    let original = dir.path().join("tied.safetensors");
    write_safetensors(
        &original,
        &[
            ("decoder.weight", "F32", shape.clone(), w.bytes.clone()),
            ("bias", "F32", bias.shape.clone(), bias.bytes.clone()),
            ("embedding.weight", "F32", shape.clone(), w.bytes.clone()),
            // Same bytes, another shape: its own container (headers carry the shape).
            ("flat", "F32", vec![shape[0] * shape[1]], w.bytes.clone()),
        ],
    );
    let sph = dir.path().join("tied.sph");
    let s = sys();
    let r = s
        .compress_model(&original, &sph, CodecParams::Lossless, &quiet)
        .unwrap();
    assert_eq!(r.tensors[2].shared_with.as_deref(), Some("decoder.weight"));
    assert!(r.tensors[3].shared_with.is_none());
    let buf = std::fs::read(&sph).unwrap();
    assert_eq!(u16::from_le_bytes([buf[10], buf[11]]), ARCHIVE_MINOR_SHARED);
    let index = read_index(&buf).unwrap();
    assert_eq!(index.shared_with(), vec![None, None, Some(0), None]);
    assert_eq!(index.tensors[0].offset, index.tensors[2].offset);
    // One container fewer than tensors: the archive is smaller than with the copy stored.
    let single_len = index.tensors[0].length;
    let unshared: u64 = index.tensors.iter().map(|t| t.length).sum();
    assert!((buf.len() as u64) < unshared, "{} vs {unshared}", buf.len());
    assert!(single_len > 100_000);
    let back = dir.path().join("back.safetensors");
    s.decompress_model(&sph, &back, &quiet).unwrap();
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&original).unwrap()
    );
    assert!(s.inspect_model(&sph).unwrap().tensors[2]
        .shared_with
        .is_some());

    // Forged sharing: the same offset with another length, or a missing checksum, or in a
    // 1.1 archive, is an overlap.
    let forge = |f: &dyn Fn(&mut serde_json::Value)| rewrite_index(&buf, |v| f(v));
    let other_len = forge(&|v| {
        v["tensors"][2]["length"] = serde_json::json!(single_len - 64);
    });
    assert!(read_index(&other_len).is_err());
    let no_crc = forge(&|v| {
        v["tensors"][2]
            .as_object_mut()
            .unwrap()
            .remove("container_crc32");
        v["tensors"][0]
            .as_object_mut()
            .unwrap()
            .remove("container_crc32");
    });
    assert!(read_index(&no_crc).is_err());
    let mut as_1_1 = buf.clone();
    as_1_1[10..12].copy_from_slice(&ARCHIVE_MINOR.to_le_bytes());
    let crc = crc32fast::hash(&as_1_1[..36]);
    as_1_1[36..40].copy_from_slice(&crc.to_le_bytes());
    let e = read_index(&as_1_1).unwrap_err();
    assert!(e.to_string().contains("overlaps"), "{e}");
    // A shared entry pointing at a container of another shape is refused by its header check.
    let wrong_shape = forge(&|v| {
        v["tensors"][3]["offset"] = v["tensors"][0]["offset"].clone();
        v["tensors"][3]["length"] = v["tensors"][0]["length"].clone();
        v["tensors"][3]["container_crc32"] = v["tensors"][0]["container_crc32"].clone();
    });
    assert!(read_index(&wrong_shape).is_err());
}
