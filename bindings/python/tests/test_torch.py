"""torch interop: CPU tensors everywhere torch is installed; CUDA tensors on a GPU machine with a
CUDA build of the library (skipped elsewhere, with the reason)."""

import numpy as np
import pytest

import saraphis
from saraphis import SaraphisError

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
import saraphis.torch  # noqa: E402  (as safetensors.torch: imported by name)
cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and saraphis.build_has_cuda()),
    reason="needs a CUDA GPU and a CUDA build of the library (SARAPHIS_LIBRARY)",
)


def tensors(minilm):
    return {k: torch.from_numpy(a) for k, a in minilm.items()}


def test_cpu_round_trip_all_dtypes(minilm):
    for name, t in tensors(minilm).items():
        variants = [t] if t.dtype != torch.float32 else [t, t.half(), t.bfloat16(), t.double()]
        for x in variants:
            blob = saraphis.compress(x)
            out = torch.empty_like(x)
            assert saraphis.decompress(blob, out=out) is out
            assert torch.equal(out.view(torch.uint8) if x.dtype != torch.bool else out,
                               x.view(torch.uint8) if x.dtype != torch.bool else x), (name, x.dtype)
            assert saraphis.inspect(blob).dtype == str(x.dtype).replace("torch.", "")


def test_torch_save_and_load(minilm, tmp_path):
    ts = tensors(minilm)
    ts["bf16"] = ts["encoder.layer.0.attention.self.query.weight"].bfloat16()
    saraphis.torch.save_file(ts, tmp_path / "m.sph")
    back = saraphis.torch.load_file(tmp_path / "m.sph")
    assert set(back) == set(ts)
    for k, t in ts.items():
        assert back[k].dtype == t.dtype and torch.equal(back[k], t), k
    with pytest.raises(SaraphisError):
        saraphis.decompress(saraphis.compress(ts["bf16"]), out=torch.empty(3, dtype=torch.bfloat16))


@cuda
def test_cuda_decode_into_cuda_tensors(minilm):
    dev = torch.device("cuda:0")
    for name, t in tensors(minilm).items():
        for x in ([t, t.bfloat16(), t.half()] if t.dtype == torch.float32 else [t]):
            for codec in ("lossless", "lossless-v2"):
                blob = saraphis.compress(x, codec=codec)
                out = torch.full_like(x, 0, device=dev)
                saraphis.decompress(blob, out=out)
                assert torch.equal(out.cpu(), x), (name, x.dtype, codec)
    # Corruption is caught on the GPU and raised.
    x = tensors(minilm)["encoder.layer.0.attention.self.query.weight"]
    blob = bytearray(saraphis.compress(x))
    blob[len(blob) // 2] ^= 1
    with pytest.raises(SaraphisError) as e:
        saraphis.decompress(bytes(blob), out=torch.empty_like(x, device=dev))
    assert e.value.code == saraphis.ERR_CORRUPT


@cuda
def test_cuda_work_is_ordered_on_a_side_stream(minilm):
    """On a non-default torch stream the decode is ordered with torch's work on that stream."""
    x = tensors(minilm)["encoder.layer.0.attention.self.query.weight"]
    blob = saraphis.compress(x)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        out = torch.zeros_like(x, device="cuda:0")
        saraphis.decompress(blob, out=out)
        got = out.cpu()
    assert torch.equal(got, x)


@cuda
def test_cuda_compress_from_device_memory(minilm):
    dev = torch.device("cuda:0")
    for name, t in tensors(minilm).items():
        if t.dtype != torch.float32:
            continue
        for x in (t, t.bfloat16()):
            blob = saraphis.compress(x.to(dev))
            assert blob == saraphis.compress(x), (name, x.dtype, "GPU container differs from the CPU's")
            lossy = saraphis.compress(x.to(dev), abs=1e-3)
            y = saraphis.decompress(lossy, out=torch.empty_like(x))
            assert (y.double() - x.double()).abs().max().item() <= 1e-3, name


@cuda
def test_cuda_load_file_and_archive_batch(minilm, tmp_path):
    ts = tensors(minilm)
    saraphis.torch.save_file(ts, tmp_path / "m.sph", codec="lossless-v2")
    back = saraphis.torch.load_file(tmp_path / "m.sph", device="cuda:0")
    for k, t in ts.items():
        assert back[k].is_cuda and torch.equal(back[k].cpu(), t), k
    with saraphis.Archive(tmp_path / "m.sph") as a:
        outs = {k: torch.zeros_like(t, device="cuda:0") for k, t in ts.items()}
        a.read_many_cuda(outs)  # first decodes (upload, checks)
        for o in outs.values():
            o.zero_()
        a.read_many_cuda(outs)  # warm: one launch for the v2 tensors
        torch.cuda.synchronize()
        for k, t in ts.items():
            assert torch.equal(outs[k].cpu(), t), k


@cuda
def test_cuda_residency_device_tier(minilm, tmp_path):
    """The residency manager's device tier: an engine loop over every tensor, twice, under a
    quarter of the model, each acquired tensor a CUDA tensor equal to the file's, on torch's
    stream; CPU bursting on request."""
    ts = tensors(minilm)
    saraphis.torch.save_file(ts, tmp_path / "m.sph")
    with saraphis.Archive(tmp_path / "m.sph") as a:
        total = sum(t.numel() * t.element_size() for t in ts.values())
        largest = max(t.numel() * t.element_size() for t in ts.values())
        with saraphis.Residency(a, max(total // 4, largest), device=True) as r:
            names = list(ts)
            for _ in range(2):
                for i, k in enumerate(names):
                    r.prefetch(names[i + 1:i + 3])
                    x = r.acquire_device(k)
                    assert x.is_cuda and torch.equal(x.cpu(), ts[k]), k
                    r.release_device(k)
            s = r.stats()
            assert s["tier"] == "device" and s["evictions"] > 0 and s["failures"] == 0, s
            r.set_placement(names[0], "require_cpu")
        with saraphis.Residency(a, total, device=True) as r:
            r.set_placement(names[0], "require_cpu")
            x = r.acquire_device(names[0])
            assert torch.equal(x.cpu(), ts[names[0]])
            r.release_device(names[0])
            assert r.stats()["cpu_bursts"] == 1
