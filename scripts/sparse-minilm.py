#!/usr/bin/env python3
"""Ratio of the sparse codec on all-MiniLM-L6-v2 pruned as engines prune it, beside the dense
lossless-v2 container of the same weights, in one run (docs/BENCHMARKS.md, "Sparse codec").

Usage: scripts/sparse-minilm.py MODEL.safetensors SARAPHIS_CLI OUT.json   (needs numpy, safetensors)

Pruning (every 2-D weight; biases, norms and embeddings of other ranks untouched):
  2:4   NVIDIA ASP / SparseGPT 2:4: in each group of 4 along the last axis, the 2 smallest |x| -> 0
  50%, 90%  unstructured magnitude pruning per tensor.
Each pruned model is written in F32 and BF16 (round to nearest even) and compressed with
`saraphis compress --codec sparse` and `--codec lossless-v2`; `saraphis verify` checks every
archive bit for bit against its source. Sizes are whole archives (index included).
"""
import json, os, subprocess, sys, tempfile, time

import numpy as np
from safetensors.numpy import load_file, save_file


def prune(a, how):
    if a.ndim != 2:
        return a
    if how == "2:4":
        r = a.reshape(-1, 4).copy()
        idx = np.argsort(np.abs(r), axis=1)[:, :2]
        np.put_along_axis(r, idx, 0.0, axis=1)
        return r.reshape(a.shape)
    frac = {"50%": 0.5, "90%": 0.9}[how]
    t = np.quantile(np.abs(a), frac)
    return np.where(np.abs(a) <= t, np.float32(0), a).astype(np.float32)


def bf16(a):
    u = a.view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return u


def main():
    model, cli, out = sys.argv[1], sys.argv[2], sys.argv[3]
    m = load_file(model)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for how in ("2:4", "50%", "90%"):
            pr = {k: prune(v, how) if v.dtype == np.float32 else v for k, v in m.items()}
            for dt in ("F32", "BF16"):
                src = os.path.join(d, f"m-{dt}.safetensors")
                if dt == "F32":
                    save_file(pr, src)
                else:
                    # safetensors.numpy has no bfloat16: write the file by hand.
                    hdr, blobs, off = {}, [], 0
                    for k in sorted(pr):
                        v = pr[k]
                        b = bf16(v).tobytes() if v.dtype == np.float32 else v.tobytes()
                        dtn = "BF16" if v.dtype == np.float32 else {np.dtype("int64"): "I64"}[v.dtype]
                        hdr[k] = {"dtype": dtn, "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
                        blobs.append(b)
                        off += len(b)
                    h = json.dumps(hdr).encode()
                    h += b" " * ((8 - len(h) % 8) % 8)
                    with open(src, "wb") as f:
                        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))
                orig = sum(v.size * (2 if (dt == "BF16" and v.dtype == np.float32) else v.itemsize) for v in pr.values())
                row = {"pruning": how, "dtype": dt, "original_bytes": int(orig)}
                for codec in ("sparse", "lossless-v2"):
                    sph = os.path.join(d, f"m-{codec}.sph")
                    t0 = time.time()
                    subprocess.run([cli, "compress", src, "-o", sph, "--codec", codec, "-q"], check=True, stdout=subprocess.DEVNULL)
                    secs = time.time() - t0
                    subprocess.run([cli, "verify", sph, "--against", src, "-q"], check=True, stdout=subprocess.DEVNULL)
                    size = os.path.getsize(sph)
                    row[codec] = {"archive_bytes": size, "ratio": orig / size, "compress_seconds": secs}
                    os.remove(sph)
                row["sparse_gain"] = row["sparse"]["ratio"] / row["lossless-v2"]["ratio"]
                print(json.dumps(row))
                rows.append(row)
    doc = {"benchmark": "sparse-minilm", "model": os.path.basename(model), "rows": rows,
           "command": " ".join(sys.argv)}
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
