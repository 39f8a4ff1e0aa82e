#!/usr/bin/env python3
"""CPU, one thread, whole model, in one run: ZipNN (PyPI `zipnn`) beside Saraphis layouts v1 and v2.

Usage: scripts/cpu-peers.sh [MODEL.safetensors] (sets up a venv with zipnn and runs this).
ZipNN compresses every tensor of the model (F32, and BF16 = round to nearest even of it) with one
thread, byte input, its dtype given; ZipNN rewrites its input buffer, so each run gets a fresh
copy, outside the timed region. Then the Saraphis benchmark (`cargo bench --bench minilm`,
`--only lossless` and `--only lossless-v2`) runs right after, in the same command. Throughput
counts original bytes per second (MB = 1e6 bytes), median of --repeats whole-model passes; every
round trip is checked bit for bit. Writes one JSON (--out) and prints a table.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time

import numpy as np
import safetensors.numpy
import zipnn


def bf16_rne(a):
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def zipnn_run(tensors, dtype_name, repeats):
    z = zipnn.ZipNN(input_format="byte", bytearray_dtype=dtype_name, threads=1)
    raw = [t.tobytes() for t in tensors]
    orig = sum(len(b) for b in raw)
    ctimes, dtimes, comp = [], [], None
    for _ in range(repeats):
        copies = [bytearray(b) for b in raw]  # ZipNN may rewrite its input
        t0 = time.perf_counter()
        cs = [z.compress(c) for c in copies]
        ctimes.append(time.perf_counter() - t0)
        comp = cs
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs = [z.decompress(c) for c in comp]
        dtimes.append(time.perf_counter() - t0)
    for b, o in zip(raw, outs):
        assert bytes(o) == b, "ZipNN round trip differs"
    clen = sum(len(c) for c in comp)
    return {
        "peer": f"zipnn {zipnn.__version__ if hasattr(zipnn, '__version__') else '0.5.4'}",
        "threads": 1,
        "original_bytes": orig,
        "compressed_bytes": clen,
        "ratio": orig / clen,
        "compress_mb_s": orig / 1e6 / statistics.median(ctimes),
        "decompress_mb_s": orig / 1e6 / statistics.median(dtimes),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench-out/cpu-peers.json")
    ap.add_argument("--segment-elems", type=int, default=None,
                    help="layout v2's segment length for our rows (default: the encoder's)")
    a = ap.parse_args()
    st = safetensors.numpy.load_file(a.model)
    f32 = [v for v in st.values() if v.dtype == np.float32]
    bf16 = [bf16_rne(v) for v in f32]
    results = {}
    results["zipnn_f32_t1"] = zipnn_run(f32, "float32", a.repeats)
    print("zipnn f32:", results["zipnn_f32_t1"], file=sys.stderr)
    results["zipnn_bf16_t1"] = zipnn_run(bf16, "bfloat16", a.repeats)
    print("zipnn bf16:", results["zipnn_bf16_t1"], file=sys.stderr)
    with tempfile.TemporaryDirectory() as d:
        for only in ["lossless", "lossless-v2"]:
            j = os.path.join(d, f"{only}.json")
            subprocess.run(
                ["cargo", "bench", "--quiet", "--bench", "minilm", "--", a.model, "--out", j,
                 "--repeats", str(a.repeats), "--only", only]
                + (["--segment-elems", str(a.segment_elems)] if a.segment_elems else []),
                check=True,
            )
            for k, v in json.load(open(j))["results"].items():
                if k.endswith("_t1"):
                    results[k] = v
    doc = {
        "benchmark": "cpu-peers", "model": a.model, "repeats": a.repeats,
        "segment_elems": a.segment_elems,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "unix_time": int(time.time()), "results": results,
    }
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    json.dump(doc, open(a.out, "w"), indent=2)
    print(f"{'one thread, whole model':<28} {'ratio':>7} {'compress MB/s':>14} {'decompress MB/s':>16}")
    for k in ["zipnn_f32_t1", "lossless_f32_t1", "lossless_v2_f32_t1",
              "zipnn_bf16_t1", "lossless_bf16_t1", "lossless_v2_bf16_t1"]:
        r = results.get(k)
        if r:
            print(f"{k:<28} {r['ratio']:>7.4f} {r['compress_mb_s']:>14.1f} {r['decompress_mb_s']:>16.1f}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
