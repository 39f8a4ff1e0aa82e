"""The Python binding on real MiniLM weights (tests/data): round trips bit for bit, bounds
element by element, corrupted and truncated inputs rejected, archives by name."""

import os
import threading

import numpy as np
import pytest

import saraphis
from saraphis import SaraphisError

from conftest import ROOT, read_safetensors

try:
    import ml_dtypes

    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    BF16 = None


def float_variants(a):
    out = [a, a.astype(np.float16), a.astype(np.float64)]
    if BF16 is not None:
        out.append(a.astype(BF16))
    return out


def test_version_and_build():
    assert saraphis.version() == saraphis.__version__
    assert saraphis.version().count(".") == 2
    assert isinstance(saraphis.build_has_cuda(), bool)


def test_lossless_round_trip_every_tensor_and_dtype(minilm):
    assert BF16 is not None, "ml_dtypes is a test dependency"
    for name, a in minilm.items():
        arrays = float_variants(a) if a.dtype == np.float32 else [a]
        for x in arrays:
            before = x.copy()
            blob = saraphis.compress(x)
            assert np.array_equal(x.view(np.uint8), before.view(np.uint8)), "input modified"
            y = saraphis.decompress(blob)
            assert y.dtype == x.dtype and y.shape == x.shape, name
            assert y.tobytes() == x.tobytes(), f"{name} {x.dtype}: not bit-exact"
            info = saraphis.inspect(blob)
            assert info.original_bytes == x.nbytes and info.compressed_bytes == len(blob)
            assert info.shape == x.shape and info.bound is None
    big = max(minilm.values(), key=lambda a: a.size)
    assert saraphis.inspect(saraphis.compress(big)).ratio > 1.1


@pytest.mark.parametrize(
    "codec, lanes, container",
    [
        # The default lossless codec writes F32 in stream layout v2; lanes ask for layout v1.
        ("lossless", None, "lossless-v2"),
        ("lossless", 64, "lossless"),
        ("lossless-v2", None, "lossless-v2"),
        ("raw", None, "raw"),
    ],
)
def test_codecs_by_name(minilm, codec, lanes, container):
    a = minilm["encoder.layer.0.attention.self.query.weight"]
    blob = saraphis.compress(a, codec=codec, **({} if lanes is None else {"lanes": lanes}))
    assert saraphis.inspect(blob).codec == container
    assert saraphis.decompress(blob).tobytes() == a.tobytes()


@pytest.mark.parametrize("mode,eps", [("abs", 1e-2), ("abs", 1e-4), ("rel", 1e-2), ("rel", 1e-3)])
def test_error_bound_holds_for_every_element(minilm, mode, eps):
    for name, a in minilm.items():
        if a.dtype != np.float32:
            continue
        for x in (a, a.astype(np.float64)):
            blob = saraphis.compress(x, **{mode: eps})
            info = saraphis.inspect(blob)
            assert info.codec == "padic" and info.bound == (mode, eps)
            y = saraphis.decompress(blob)
            err = np.abs(y.astype(np.float64) - x.astype(np.float64))
            lim = eps if mode == "abs" else eps * np.abs(x.astype(np.float64))
            bad = np.flatnonzero(err > lim)
            assert bad.size == 0, f"{name} {x.dtype} {mode} {eps}: {bad.size} elements out of bound"
    # Integer tensors stay bit-exact under a lossy setting.
    ids = np.arange(512, dtype=np.int64).reshape(1, 512)
    assert saraphis.decompress(saraphis.compress(ids, abs=1.0)).tobytes() == ids.tobytes()


@pytest.mark.parametrize("kw,bpw", [({}, 8.6), ({"bits": 4, "zero_point": True, "block": 64}, 4.6),
                                     ({"axis": 0, "scale_dtype": "float32"}, 8.2), ({"abs": 1e-2}, 8.0)])
def test_quant_codec_matches_its_recorded_error(minilm, kw, bpw):
    a = minilm["encoder.layer.0.attention.self.query.weight"]
    for x in (a, a.astype(np.float16)):
        blob = saraphis.compress(x, codec="quant", **kw)
        info = saraphis.inspect(blob)
        assert info.codec == "quant" and info.quant is not None
        assert info.quant["bits"] == (0 if "abs" in kw else kw.get("bits", 8))
        assert info.quant["grouping"] == ("channel" if "axis" in kw else "block")
        assert 8 * len(blob) / x.size < bpw, 8 * len(blob) / x.size
        y = saraphis.decompress(blob)
        err = np.abs(y.astype(np.float64) - x.astype(np.float64)).max()
        assert err == info.max_abs_error, (err, info.max_abs_error)
        if "abs" in kw:
            assert err <= kw["abs"] and info.bound == ("abs", kw["abs"])
    with pytest.raises(ValueError):
        saraphis.compress(a, codec="quant", rel=1e-2)
    with pytest.raises(ValueError):
        saraphis.compress(a, bits=4)
    with pytest.raises(SaraphisError):
        saraphis.compress(a, codec="quant", bits=9)


def test_sparse_codec_on_2_4_pruned_weights(minilm):
    a = minilm["encoder.layer.0.attention.self.query.weight"]
    g = a.reshape(-1, 4).copy()
    np.put_along_axis(g, np.argsort(np.abs(g), axis=1)[:, :2], 0.0, axis=1)
    pruned = g.reshape(a.shape)
    for x in float_variants(pruned):
        blob = saraphis.compress(x, codec="sparse")
        info = saraphis.inspect(blob)
        assert info.codec == "sparse" and info.sparse is not None
        assert info.sparse["nonzeros"] == int(np.count_nonzero(x.view(np.uint8).reshape(x.size, -1).any(axis=1)))
        assert info.sparse["mask_codec"] == "bytes"
        assert len(blob) < len(saraphis.compress(x, codec="lossless-v2"))
        assert saraphis.decompress(blob).tobytes() == x.tobytes()
    blob = saraphis.compress(pruned, codec="sparse", rel=1e-2)
    y = saraphis.decompress(blob)
    assert saraphis.inspect(blob).bound == ("rel", 1e-2)
    assert np.all(np.abs(y.astype(np.float64) - pruned) <= 1e-2 * np.abs(pruned.astype(np.float64)))
    assert np.all(y[pruned == 0] == 0)
    # Unpruned weights: the values' codec is written.
    assert saraphis.inspect(saraphis.compress(a, codec="sparse")).codec == "lossless-v2"


def test_auto_codec_picks_per_tensor_within_the_bound(minilm):
    a = minilm["encoder.layer.0.attention.self.query.weight"]
    blob = saraphis.compress(a, codec="auto", abs=1e-3)
    assert saraphis.inspect(blob).codec in ("padic", "quant", "lossless-v2", "lossless")
    assert len(blob) <= len(saraphis.compress(a, abs=1e-3))
    y = saraphis.decompress(blob)
    assert np.all(np.abs(y.astype(np.float64) - a) <= 1e-3)
    # The fastest decoder that reaches 2x at this bound is quant.
    assert saraphis.inspect(saraphis.compress(a, codec="auto", abs=1e-3, target_ratio=2)).codec == "quant"
    # Bit-exact candidates only without a bound.
    exact = saraphis.compress(a, codec="auto", priority="speed")
    assert saraphis.decompress(exact).tobytes() == a.tobytes()
    with pytest.raises(ValueError):
        saraphis.compress(a, target_ratio=2)
    with pytest.raises(ValueError):
        saraphis.compress(a, codec="auto", priority="fast")
    with pytest.raises(SaraphisError):
        saraphis.compress(a, codec="auto", abs=1e-3, bits=8)


def test_corrupted_truncated_and_foreign_blobs_raise(minilm):
    a = minilm["encoder.layer.0.attention.self.query.weight"]
    blob = saraphis.compress(a)
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0x20
    with pytest.raises(SaraphisError) as e:
        saraphis.decompress(bytes(bad))
    assert e.value.code == saraphis.ERR_CHECKSUM and "chunk" in e.value.message
    for cut in (len(blob) - 1, len(blob) // 2, 10):
        with pytest.raises(SaraphisError) as e:
            saraphis.decompress(blob[:cut])
        assert e.value.code in (saraphis.ERR_TRUNCATED, saraphis.ERR_CORRUPT)
    with pytest.raises(SaraphisError) as e:
        saraphis.decompress(b"PK\x03\x04" + bytes(100))
    assert e.value.code == saraphis.ERR_BAD_MAGIC


def test_out_arrays_and_non_contiguous_input(minilm):
    a = minilm["encoder.layer.0.attention.self.query.weight"]
    t = a.T  # not C-contiguous: compressed as its C-order copy
    blob = saraphis.compress(t)
    out = np.empty(t.shape, dtype=np.float32)
    assert saraphis.decompress(blob, out=out) is out
    assert np.array_equal(out, t)
    with pytest.raises(SaraphisError) as e:
        saraphis.decompress(blob, out=np.empty(t.size - 1, dtype=np.float32))
    assert e.value.code == saraphis.ERR_DESTINATION
    with pytest.raises(SaraphisError) as e:
        saraphis.decompress(blob, out=np.empty(t.shape, dtype=np.int32))
    assert e.value.code == saraphis.ERR_DESTINATION


def test_header_prefix(minilm):
    blob = saraphis.compress(minilm["encoder.layer.0.attention.self.query.weight"], codec="lossless-v2")
    need = saraphis.header_bytes(blob[: saraphis.HEADER_MAX_BYTES])
    assert 0 < need < len(blob)
    assert saraphis.inspect(blob[:need]) == saraphis.inspect(blob)
    with pytest.raises(SaraphisError) as e:
        saraphis.inspect(blob[: need - 1])
    assert e.value.code == saraphis.ERR_TRUNCATED


def test_bad_parameters():
    x = np.ones(16, dtype=np.float32)
    with pytest.raises(ValueError):
        saraphis.compress(x, abs=1e-3, rel=1e-3)
    with pytest.raises(SaraphisError) as e:
        saraphis.compress(x, abs=-1.0)
    assert e.value.code == saraphis.ERR_INVALID_ARGUMENT
    with pytest.raises(SaraphisError) as e:
        saraphis.compress(x, abs=1e-3, prime=250)
    assert e.value.code == saraphis.ERR_INVALID_ARGUMENT
    with pytest.raises(SaraphisError) as e:
        saraphis.compress(np.ones(4, dtype=np.complex64))
    assert e.value.code == saraphis.ERR_UNSUPPORTED


def test_threads_share_the_default_system(minilm):
    arrays = [a for a in minilm.values() if a.dtype == np.float32]
    errors = []

    def work(k):
        try:
            for a in arrays[k % len(arrays):] + arrays[: k % len(arrays)]:
                assert saraphis.decompress(saraphis.compress(a, rel=1e-2 if k % 2 else None) if k % 2
                                           else saraphis.compress(a)).shape == a.shape
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_numpy_save_and_load_file(minilm, tmp_path):
    path = tmp_path / "m.sph"
    saraphis.numpy.save_file(minilm, path, metadata={"format": "pt"})
    assert not [p for p in os.listdir(tmp_path) if p != "m.sph"], "temporary file left behind"
    back = saraphis.numpy.load_file(path)
    assert list(back) == sorted(minilm)
    for k, a in minilm.items():
        assert back[k].dtype == a.dtype and back[k].tobytes() == a.tobytes(), k
    assert os.path.getsize(path) < sum(a.nbytes for a in minilm.values())
    # In memory, lossy, v2.
    blob = saraphis.numpy.save(minilm, abs=1e-3)
    lossy = saraphis.numpy.load(blob)
    for k, a in minilm.items():
        if a.dtype == np.float32:
            assert np.max(np.abs(lossy[k].astype(np.float64) - a)) <= 1e-3, k
        else:
            assert lossy[k].tobytes() == a.tobytes(), k
    v2 = saraphis.numpy.load(saraphis.numpy.save(minilm, codec="lossless-v2"))
    assert all(v2[k].tobytes() == a.tobytes() for k, a in minilm.items())


def test_archive_is_lazy_and_checked(minilm, tmp_path):
    path = tmp_path / "m.sph"
    saraphis.numpy.save_file(minilm, path)
    with saraphis.Archive(path) as a:
        assert len(a) == len(minilm) and set(a.keys()) == set(minilm)
        name = "encoder.layer.0.attention.self.query.weight"
        assert name in a and "nope" not in a
        info = a.info(name)
        # The default lossless codec writes F32 in stream layout v2.
        assert info.shape == minilm[name].shape and info.codec == "lossless-v2"
        assert a[name].tobytes() == minilm[name].tobytes()
        out = np.empty_like(minilm[name])
        assert a.read(name, out=out) is out and np.array_equal(out, minilm[name])
        with pytest.raises(SaraphisError) as e:
            a["nope"]
        assert e.value.code == saraphis.ERR_NOT_FOUND
        with pytest.raises(SaraphisError) as e:
            a.read(name, out=np.empty(3, dtype=np.float32))
        assert e.value.code == saraphis.ERR_DESTINATION
        order = a.keys()
        offsets = []
        at = 64
        for k in order:
            offsets.append(at)
            at += (a.info(k).compressed_bytes + 63) // 64 * 64
    # Flip the last payload byte of the largest container: that tensor is refused by name.
    data = bytearray(path.read_bytes())
    k = max(range(len(order)), key=lambda i: saraphis.Archive(path).info(order[i]).compressed_bytes)
    assert data[offsets[k]:offsets[k] + 4] == b"SPHT"
    end = offsets[k] + saraphis.Archive(path).info(order[k]).compressed_bytes
    data[end - 1] ^= 0x10
    b = saraphis.Archive(bytes(data))
    with pytest.raises(SaraphisError) as e:
        b[order[k]]
    assert e.value.code == saraphis.ERR_CHECKSUM and order[k] in e.value.message
    other = order[k - 1]
    assert b[other].tobytes() == minilm[other].tobytes()
    with pytest.raises(SaraphisError) as e:
        saraphis.Archive(tmp_path / "missing.sph")
    assert e.value.code == saraphis.ERR_IO
    with pytest.raises(SaraphisError) as e:
        saraphis.Archive(bytes(data[: len(data) // 2]))
    assert e.value.code in (saraphis.ERR_TRUNCATED, saraphis.ERR_CORRUPT, saraphis.ERR_CHECKSUM)


def test_device_calls_on_a_cpu_system(minilm, tmp_path):
    cpu = saraphis.System(device="cpu", threads=2)
    assert cpu.device.startswith("cpu") and not cpu.has_gpu
    a = minilm["encoder.layer.0.attention.self.query.weight"]
    assert saraphis.decompress(saraphis.compress(a, system=cpu), system=cpu).tobytes() == a.tobytes()
    with pytest.raises(SaraphisError) as e:
        saraphis.System(device="tpu")
    assert e.value.code == saraphis.ERR_INVALID_ARGUMENT


def test_residency_layer_walk_under_a_quarter_budget(minilm, tmp_path):
    path = tmp_path / "m.sph"
    saraphis.numpy.save_file(minilm, path)
    with saraphis.Archive(path) as a:
        sizes = {k: a.info(k).original_bytes for k in a.keys()}
        budget = max(sum(sizes.values()) // 4, max(sizes.values()))
        with saraphis.Residency(a, budget) as r:
            names = a.keys()
            for _ in range(2):
                for k, name in enumerate(names):
                    r.prefetch(names[k + 1:k + 3])
                    w = r.acquire(name)
                    assert not w.flags.writeable
                    assert w.dtype == minilm[name].dtype and w.tobytes() == minilm[name].tobytes(), name
                    r.release(name)
            s = r.stats()
            assert s["acquires"] == 2 * len(names) and s["hits"] + s["misses"] == s["acquires"]
            assert s["peak_resident_bytes"] <= budget and s["evictions"] > 0 and s["pinned_bytes"] == 0
            with pytest.raises(SaraphisError) as e:
                r.release(names[0])
            assert e.value.code == saraphis.ERR_INVALID_ARGUMENT
        big = max(sizes, key=sizes.get)
        with saraphis.Residency(a, sizes[big] - 1, "conservative") as r:
            with pytest.raises(SaraphisError) as e:
                r.acquire(big)
            assert e.value.code == saraphis.ERR_BUDGET
        with pytest.raises(ValueError):
            saraphis.Residency(a, 1 << 20, "greedy")


def test_delta_archive_against_its_base(tmp_path):
    base_st = ROOT / "tests" / "data" / "minilm-subset-f32.safetensors"
    tuned_st = ROOT / "tests" / "data" / "minilm-subset-finetuned-f32.safetensors"
    if not tuned_st.exists():
        pytest.skip(f"{tuned_st} missing (scripts/finetune-minilm.py)")
    tuned = read_safetensors(tuned_st)
    base_sph, delta_sph = tmp_path / "base.sph", tmp_path / "tuned.sph"
    saraphis.compress_file(base_st, base_sph)
    saraphis.compress_file(tuned_st, delta_sph, base=base_st)
    assert os.path.getsize(delta_sph) * 1.3 < os.path.getsize(base_sph)
    with saraphis.Archive(delta_sph) as a, saraphis.Archive(base_sph) as b:
        name = "encoder.layer.0.attention.self.query.weight"
        assert a.info(name).codec == "delta"
        with pytest.raises(SaraphisError) as e:
            a[name]
        assert e.value.code == saraphis.ERR_INVALID_ARGUMENT and "base" in e.value.message
        with saraphis.Archive(delta_sph) as wrong:
            with pytest.raises(SaraphisError) as e:
                a.set_base(wrong)
            assert e.value.code == saraphis.ERR_INVALID_ARGUMENT
        assert a.set_base(b) == len(tuned)
        for k, v in tuned.items():
            assert a[k].tobytes() == v.tobytes(), k
