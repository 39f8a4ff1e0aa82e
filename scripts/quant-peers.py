#!/usr/bin/env python3
"""Ratio against max error on a whole model: every Saraphis codec setting (through the CLI,
errors measured by `saraphis verify` against the original) beside llama.cpp's Q8_0, Q4_0 and
Q4_1 (the reference numpy quantizers of the `gguf` package, llama.cpp's own Python library),
on the same tensors, in one run.

    scripts/quant-peers.py MODEL.safetensors SARAPHIS_BINARY OUT.json

Needs numpy and gguf (`pip install numpy gguf`). For the peer, every float tensor is quantized
as rows of its last axis (llama.cpp's layout: a row is cut into blocks of 32); tensors whose
last axis is not a multiple of 32 stay F32, as llama.cpp leaves them. Ratio = original bytes /
compressed bytes (Saraphis: the whole .sph archive file; peer: quantized blocks plus the
tensors left unquantized, no file headers). Max error = the largest |x - x'| over every
element of the model.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from gguf import quants
from gguf.constants import GGMLQuantizationType as Q


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = (t["dtype"], t["shape"], raw[base + a:base + b])
    return out


def peer_rows(tensors, qtype):
    orig = comp = 0
    max_err = 0.0
    for dtype, shape, data in tensors.values():
        orig += len(data)
        if dtype != "F32" or not shape or shape[-1] % 32:
            comp += len(data)
            continue
        x = np.frombuffer(data, dtype=np.float32).reshape(-1, shape[-1])
        q = quants.quantize(x, qtype)
        y = quants.dequantize(q, qtype).reshape(x.shape)
        comp += q.nbytes
        max_err = max(max_err, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return orig, comp, max_err


def saraphis_row(binary, model, args, work):
    out = os.path.join(work, "m.sph")
    t0 = time.time()
    c = json.loads(subprocess.run([binary, "compress", model, "-o", out, "--json", "--threads", "1", *args],
                                  check=True, capture_output=True, text=True).stdout)
    seconds = time.time() - t0
    v = json.loads(subprocess.run([binary, "verify", out, "--against", model, "--json"],
                                  capture_output=True, text=True).stdout)
    os.remove(out)
    return {"args": " ".join(args), "ratio": c["ratio"], "compressed_bytes": c["compressed_bytes"],
            "original_bytes": c["original_bytes"], "bits_per_weight": 32.0 / c["ratio"],
            "max_abs_error_measured_by_verify": v["max_abs_error"], "verify_ok": v["ok"],
            "compress_seconds_one_thread_cli": seconds}


def main():
    model, binary, out = sys.argv[1:4]
    tensors = load_safetensors(model)
    settings = [
        ("lossless", ["--lossless"]),
        ("padic abs 1e-2", ["--abs", "1e-2"]),
        ("padic abs 1e-3", ["--abs", "1e-3"]),
        ("padic abs 1e-4", ["--abs", "1e-4"]),
        ("quant 8-bit block 32 F16 (Q8_0 layout)", ["--codec", "quant"]),
        ("quant 8-bit block 64 F32 (bitsandbytes-like, uniform)", ["--codec", "quant", "--block", "64", "--scale-dtype", "f32"]),
        ("quant 8-bit block 256 F16", ["--codec", "quant", "--block", "256"]),
        ("quant 8-bit per channel (axis 0) F32", ["--codec", "quant", "--axis", "0", "--scale-dtype", "f32"]),
        ("quant 8-bit global F32", ["--codec", "quant", "--global", "--scale-dtype", "f32"]),
        ("quant 6-bit block 32 F16", ["--codec", "quant", "--bits", "6"]),
        ("quant 4-bit block 32 F16 symmetric (Q4_0-like)", ["--codec", "quant", "--bits", "4"]),
        ("quant 4-bit block 32 F16 with minimum (Q4_1 layout)", ["--codec", "quant", "--bits", "4", "--zero-point"]),
        ("quant 4-bit block 128 F16 with minimum", ["--codec", "quant", "--bits", "4", "--block", "128", "--zero-point"]),
        ("quant 3-bit block 32 F16 with minimum", ["--codec", "quant", "--bits", "3", "--zero-point"]),
        ("quant 2-bit block 32 F16 with minimum", ["--codec", "quant", "--bits", "2", "--zero-point"]),
        ("quant abs 1e-2 (bits per block)", ["--codec", "quant", "--abs", "1e-2"]),
        ("quant abs 1e-3 (bits per block)", ["--codec", "quant", "--abs", "1e-3"]),
        ("quant abs 1e-4 (bits per block)", ["--codec", "quant", "--abs", "1e-4"]),
    ]
    rows = {}
    with tempfile.TemporaryDirectory() as work:
        for name, args in settings:
            rows["saraphis " + name] = saraphis_row(binary, model, args, work)
            print(name, rows["saraphis " + name], file=sys.stderr)
    for name, qt in [("Q8_0", Q.Q8_0), ("Q4_0", Q.Q4_0), ("Q4_1", Q.Q4_1)]:
        orig, comp, err = peer_rows(tensors, qt)
        rows["llama.cpp " + name + " (gguf " + getattr(quants, "__version__", "0.19.0") + ")"] = {
            "ratio": orig / comp, "compressed_bytes": comp, "original_bytes": orig,
            "bits_per_weight": 32.0 * comp / orig, "max_abs_error": err}
        print(name, orig / comp, err, file=sys.stderr)
    doc = {"benchmark": "quant-peers", "model": os.path.basename(model), "date": time.strftime("%Y-%m-%d"),
           "machine": os.uname().nodename, "command": " ".join(sys.argv), "rows": rows}
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, out)
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    main()
