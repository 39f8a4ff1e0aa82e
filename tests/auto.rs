//! Codec `auto` on real MiniLM weights: the choice is the smallest container of the allowed
//! candidates where the tensor is tried whole, bounds hold element by element, bit-exact
//! choices round-trip bit for bit, the constraints (bound, bits, target ratio, priority) change
//! the choice as documented, and archives record the rule for `inspect`.

mod common;

use saraphis::codec::auto::{AutoParams, Priority};
use saraphis::codec::quant::QuantParams;
use saraphis::codec::sparse::SparseParams;
use saraphis::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams};
use saraphis::format::container::CodecId;
use saraphis::{DType, Error};

use common::{prune_2_4, value};

fn auto(p: AutoParams) -> CompressOptions {
    CompressOptions {
        codec: CodecParams::Auto(p),
        chunk_elems: codec::default_chunk_elems(&CodecParams::Lossless),
        lanes: 0,
    }
}

fn with_defaults(c: CodecParams) -> CompressOptions {
    CompressOptions {
        codec: c,
        chunk_elems: codec::default_chunk_elems(&c),
        lanes: 0,
    }
}

/// A real tensor of the fixture by name.
fn tensor(name: &str) -> common::Tensor {
    common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
}

/// Compress with `o` (input untouched, size query holds), decode, and return the container,
/// its choice line and the decoded bytes.
fn round_trip(t: &common::Tensor, o: &CompressOptions) -> (codec::Compressed, Vec<u8>) {
    let input = t.bytes.clone();
    let c = codec::compress(&t.bytes, t.dtype, &t.shape, o).unwrap();
    assert_eq!(t.bytes, input, "input modified");
    assert!(c.bytes.len() <= codec::compress_bound(t.dtype, &t.shape, o).unwrap());
    assert_eq!(codec::inspect(&c.bytes).unwrap().codec, c.codec);
    let mut out = vec![0xA5u8; t.bytes.len()];
    codec::decompress_into(&c.bytes, t.dtype, &mut out).unwrap();
    (c, out)
}

fn max_abs_error(dtype: DType, a: &[u8], b: &[u8]) -> f64 {
    (0..a.len() / dtype.size())
        .map(|i| (value(dtype, a, i) - value(dtype, b, i)).abs())
        .fold(0.0, f64::max)
}

#[test]
fn tried_whole_the_choice_is_the_smallest_candidate_and_keeps_the_bound() {
    // 384 x 384 real weights: under 2^19 elements, so every candidate codes the whole tensor.
    let t = tensor("encoder.layer.0.attention.self.query.weight");
    let eps = 1e-3;
    let p = AutoParams {
        bound: Some(ErrorBound::Abs(eps)),
        ..AutoParams::default()
    };
    let (c, out) = round_trip(&t, &auto(p));
    let choice = c.choice.clone().expect("auto reports its choice");
    assert!(choice.why.contains("whole tensor"), "{}", choice.why);
    for name in ["quant", "lossless-v2", "lossless", "padic", "padic p=65521"] {
        assert!(
            choice.why.contains(name),
            "{name} not tried: {}",
            choice.why
        );
    }
    // Every candidate, compressed here on its own: auto's container is the smallest.
    let mut sizes = vec![];
    for cand in [
        CodecParams::Quant(QuantParams::bounded(eps)),
        CodecParams::LosslessV2,
        CodecParams::Lossless,
        CodecParams::Padic(PadicParams::new(ErrorBound::Abs(eps))),
        CodecParams::Padic(PadicParams {
            prime: 65521,
            ..PadicParams::new(ErrorBound::Abs(eps))
        }),
    ] {
        let alone = codec::compress(&t.bytes, t.dtype, &t.shape, &with_defaults(cand)).unwrap();
        sizes.push(alone.bytes.len());
        if cand == choice.params {
            assert_eq!(
                alone.bytes, c.bytes,
                "auto's container is the candidate's own"
            );
        }
    }
    assert_eq!(c.bytes.len(), *sizes.iter().min().unwrap(), "{sizes:?}");
    let err = max_abs_error(t.dtype, &t.bytes, &out);
    assert!(err <= eps, "max error {err} over the bound {eps}");
    assert_eq!(c.max_abs_error, err);
}

#[test]
fn bit_exact_auto_round_trips_every_fixture_tensor() {
    for t in common::load("minilm-subset-bf16.safetensors") {
        let (c, out) = round_trip(&t, &auto(AutoParams::default()));
        assert_eq!(out, t.bytes, "{}: not bit-exact", t.name);
        assert!(
            matches!(
                c.codec,
                CodecId::Lossless | CodecId::LosslessV2 | CodecId::Bytes | CodecId::Sparse
            ),
            "{}: {:?} is not a bit-exact codec",
            t.name,
            c.codec
        );
        assert!(
            !c.choice.unwrap().why.contains("padic"),
            "no bound, no p-adic"
        );
    }
}

#[test]
fn a_large_tensor_is_sampled_and_a_close_call_is_decided_on_the_whole_tensor() {
    // 1536 x 384 = 589,824 elements: sampled.
    let t = tensor("encoder.layer.0.intermediate.dense.weight");
    let (c, out) = round_trip(&t, &auto(AutoParams::default()));
    let why = c.choice.unwrap().why;
    assert!(why.contains("sample of"), "{why}");
    assert_eq!(out, t.bytes);
    // lossless and lossless-v2 are within 3% on MiniLM weights: both coded whole.
    assert!(why.contains("close call on the whole tensor"), "{why}");
    // The `lossless` candidate is layout v1 (32 lanes, 2^18-element chunks).
    let v1 = codec::compress(
        &t.bytes,
        t.dtype,
        &t.shape,
        &CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems: 1 << 18,
            lanes: 32,
        },
    );
    let v2 = codec::compress(
        &t.bytes,
        t.dtype,
        &t.shape,
        &with_defaults(CodecParams::LosslessV2),
    );
    assert_eq!(
        c.bytes.len(),
        v1.unwrap().bytes.len().min(v2.unwrap().bytes.len())
    );
}

#[test]
fn pruned_weights_get_the_sparse_codec() {
    let t = tensor("encoder.layer.0.attention.self.query.weight");
    let pruned = common::Tensor {
        bytes: prune_2_4(&t.bytes, 384),
        ..t
    };
    let (c, out) = round_trip(&pruned, &auto(AutoParams::default()));
    assert_eq!(c.codec, CodecId::Sparse, "{}", c.choice.unwrap().why);
    assert_eq!(out, pruned.bytes);
    assert!(matches!(
        c.choice.unwrap().params,
        CodecParams::Sparse(SparseParams { padic: None })
    ));
}

#[test]
fn bits_allow_fixed_rate_quant_and_its_error_is_measured() {
    let t = tensor("encoder.layer.0.attention.self.query.weight");
    let p = AutoParams {
        bits: Some(8),
        ..AutoParams::default()
    };
    let (c, out) = round_trip(&t, &auto(p));
    // 8-bit blocks (about 3.7x) against bit-exact codecs (about 1.2x).
    assert_eq!(c.codec, CodecId::Quant, "{}", c.choice.unwrap().why);
    assert_eq!(c.max_abs_error, max_abs_error(t.dtype, &t.bytes, &out));
    assert!(c.max_abs_error > 0.0);
}

#[test]
fn a_target_ratio_takes_the_fastest_codec_that_reaches_it() {
    let t = tensor("encoder.layer.0.attention.self.query.weight");
    let bound = Some(ErrorBound::Abs(1e-3));
    // Quant (the fastest decoder) reaches 2x at this bound: it is kept though p-adic is smaller.
    let (c, _) = round_trip(
        &t,
        &auto(AutoParams {
            bound,
            target_ratio: Some(2.0),
            ..AutoParams::default()
        }),
    );
    let why = c.choice.unwrap().why;
    assert_eq!(c.codec, CodecId::Quant, "{why}");
    assert!(why.contains("fastest reaching target 2"), "{why}");
    // Out of reach: the highest ratio, and the line says the target was missed.
    let (c, _) = round_trip(
        &t,
        &auto(AutoParams {
            bound,
            target_ratio: Some(1000.0),
            ..AutoParams::default()
        }),
    );
    let why = c.choice.unwrap().why;
    assert_eq!(c.codec, CodecId::Padic, "{why}");
    assert!(why.contains("target 1000 not reached"), "{why}");
    // Speed priority without a target: lossless-v2 is within 5% of lossless and faster.
    let (c, _) = round_trip(
        &t,
        &auto(AutoParams {
            priority: Priority::Speed,
            ..AutoParams::default()
        }),
    );
    assert_eq!(c.codec, CodecId::LosslessV2, "{}", c.choice.unwrap().why);
}

#[test]
fn relative_bounds_hold_element_by_element() {
    let t = tensor("embeddings.word_embeddings.weight.rows0-1023");
    let eps = 1e-2;
    let p = AutoParams {
        bound: Some(ErrorBound::Rel(eps)),
        ..AutoParams::default()
    };
    let (c, out) = round_trip(&t, &auto(p));
    assert!(
        !c.choice.as_ref().unwrap().why.contains("quant"),
        "quant takes no relative bound"
    );
    for i in 0..t.bytes.len() / 4 {
        let (x, y) = (value(t.dtype, &t.bytes, i), value(t.dtype, &out, i));
        assert!((x - y).abs() <= eps * x.abs(), "element {i}: {x} -> {y}");
    }
}

#[test]
fn bad_constraints_are_refused() {
    let t = tensor("embeddings.LayerNorm.weight");
    for p in [
        AutoParams {
            bits: Some(8),
            bound: Some(ErrorBound::Abs(1e-3)),
            ..AutoParams::default()
        },
        AutoParams {
            bits: Some(9),
            ..AutoParams::default()
        },
        AutoParams {
            target_ratio: Some(f64::NAN),
            ..AutoParams::default()
        },
        AutoParams {
            bound: Some(ErrorBound::Rel(1.5)),
            ..AutoParams::default()
        },
    ] {
        let e = codec::compress(&t.bytes, t.dtype, &t.shape, &auto(p)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{p:?}: {e:?}");
    }
    // A wrong data length is refused before any trial.
    let e = codec::compress(
        &t.bytes[4..],
        t.dtype,
        &t.shape,
        &auto(AutoParams::default()),
    );
    assert!(matches!(e, Err(Error::InvalidArgument(_))));
    // GPU compression needs a concrete codec.
    let e = codec::codec_id_for(DType::F32, &CodecParams::Auto(AutoParams::default()));
    assert!(matches!(e, Err(Error::Unsupported(_))));
}

#[test]
fn archives_record_the_rule_and_inspect_reads_it() {
    let p = AutoParams {
        bound: Some(ErrorBound::Abs(1e-3)),
        ..AutoParams::default()
    };
    let (archive, _) = common::subset_archive(CodecParams::Auto(p));
    let index = saraphis::format::archive::read_index(&archive).unwrap();
    let record = index.auto.expect("auto archives record their constraints");
    assert_eq!(record.abs, Some(1e-3));
    assert_eq!(AutoParams::from_record(&record), p);
    let rule = codec::auto::describe_rule(&p);
    assert!(
        rule.starts_with("abs 1e-3; highest ratio of quant"),
        "{rule}"
    );
    // A single-codec archive records nothing.
    let (plain, _) = common::subset_archive(CodecParams::Lossless);
    assert!(saraphis::format::archive::read_index(&plain)
        .unwrap()
        .auto
        .is_none());
}
