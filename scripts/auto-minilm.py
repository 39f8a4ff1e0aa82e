#!/usr/bin/env python3
"""`--codec auto` against every single codec on all-MiniLM-L6-v2, in one run (docs/BENCHMARKS.md,
"Codec auto").

Usage: scripts/auto-minilm.py MODEL.safetensors SARAPHIS_CLI OUT.json   (needs numpy, safetensors)

For each constraint (bit-exact; abs 1e-3; abs 1e-2; rel 1e-2; 8-bit quant allowed) the model is
compressed by the CLI with each single codec that meets it and with `--codec auto` (ratio and
speed priority), then with the same on a 2:4-pruned copy (every 2-D weight: the 2 smallest |x| of
each 4 along the last axis set to 0). Every archive is checked by `saraphis verify` against its
source (bit for bit, or within its bound). Ratios are whole archives (index included), compress
seconds the CLI's wall clock (2 threads of this machine; auto runs every candidate).
"""
import collections, json, os, subprocess, sys, tempfile, time

import numpy as np
from safetensors.numpy import load_file, save_file

CASES = [
    ("bit-exact", [["--lossless"], ["--codec", "lossless-v2"], ["--codec", "sparse"]], []),
    ("abs 1e-3", [["--abs", "1e-3"], ["--abs", "1e-3", "--prime", "65521"], ["--codec", "quant", "--abs", "1e-3"],
                  ["--codec", "sparse", "--abs", "1e-3"]], ["--abs", "1e-3"]),
    ("abs 1e-2", [["--abs", "1e-2"], ["--abs", "1e-2", "--prime", "65521"], ["--codec", "quant", "--abs", "1e-2"],
                  ["--codec", "sparse", "--abs", "1e-2"]], ["--abs", "1e-2"]),
    ("rel 1e-2", [["--rel", "1e-2"], ["--codec", "sparse", "--rel", "1e-2"]], ["--rel", "1e-2"]),
    ("8-bit quant allowed", [["--lossless"], ["--codec", "quant", "--bits", "8"]], ["--bits", "8"]),
]


def prune_2_4(a):
    if a.ndim != 2:
        return a
    r = a.reshape(-1, 4).copy()
    np.put_along_axis(r, np.argsort(np.abs(r), axis=1)[:, :2], 0.0, axis=1)
    return r.reshape(a.shape)


def run(cli, src, args, d):
    out = os.path.join(d, "m.sph")
    t0 = time.time()
    r = subprocess.run([cli, "compress", src, "-o", out, "--json", "-q"] + args, capture_output=True, text=True)
    secs = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"compress {args}: {r.stderr}")
    rep = json.loads(r.stdout)
    v = subprocess.run([cli, "verify", out, "--against", src, "--json", "-q"], capture_output=True, text=True)
    ok = v.returncode == 0 and json.loads(v.stdout)["ok"]
    if not ok:
        raise SystemExit(f"verify {args}: {v.stderr}")
    return {
        "args": " ".join(args),
        "ratio": rep["ratio"],
        "bytes": os.path.getsize(out),
        "compress_s": round(secs, 3),
        "codecs": dict(collections.Counter(t["codec"] for t in rep["tensors"])),
        "verified": ok,
    }


def main():
    model, cli, out = sys.argv[1], sys.argv[2], sys.argv[3]
    m = load_file(model)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        pruned = os.path.join(d, "pruned.safetensors")
        save_file({k: prune_2_4(v) if v.dtype == np.float32 else v for k, v in m.items()}, pruned)
        for label, src in (("dense", model), ("2:4 pruned", pruned)):
            for name, singles, auto in CASES:
                res = [run(cli, src, a, d) for a in singles]
                best = min(res, key=lambda r: r["bytes"])
                autos = [run(cli, src, ["--codec", "auto"] + auto + p, d)
                         for p in ([], ["--priority", "speed"])]
                rows.append({"model": label, "constraint": name, "single": res, "auto": autos,
                             "auto_vs_best_single_bytes": autos[0]["bytes"] - best["bytes"]})
                print(f"{label:10} {name:20} best single {best['args']:32} {best['ratio']:.4f}  "
                      f"auto {autos[0]['ratio']:.4f} ({autos[0]['bytes'] - best['bytes']:+d} B) "
                      f"{autos[0]['codecs']}  speed {autos[1]['ratio']:.4f} {autos[1]['codecs']}", flush=True)
    with open(out + ".tmp", "w") as f:
        json.dump({"model": os.path.basename(model), "date": time.strftime("%Y-%m-%d"),
                   "machine": os.uname().nodename, "cli": cli, "rows": rows}, f, indent=1)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
