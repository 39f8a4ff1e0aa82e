#!/usr/bin/env python3
"""Write tests/data/lossless-v2-mode1.sph: a lossless-v2 archive of the first version of layout v2
(every coded segment mode 1, docs/FORMAT.md section 6), kept so that tests prove such containers
still decode (tests/segmented.rs `first_version_containers_still_decode`, tests/gpu.rs).

Usage: scripts/make-legacy-v2-fixture.py SARAPHIS_BIN
SARAPHIS_BIN must be a `saraphis` CLI built from a commit before mode-2 segments (22bf9c0 or
earlier); the committed fixture was written by 22bf9c0. Needs numpy (no safetensors package:
the input file is written by hand). Tensors (tests/common/mod.rs `legacy_v2_sources`): the first
24 rows of layer 0's query weight as F32, BF16 and F16 (round to nearest even), and layer 0's
query bias as F32, all from tests/data/minilm-subset-f32.safetensors; segments of 4096 elements.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4")
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))


def main():
    t = read_safetensors(os.path.join(ROOT, "tests/data/minilm-subset-f32.safetensors"))
    w = t["encoder.layer.0.attention.self.query.weight"][: 24 * 384].copy()
    b = t["encoder.layer.0.attention.self.query.bias"].copy()
    u = w.view(np.uint32).astype(np.uint64)
    bf16 = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
    tensors = {
        "f32": ("F32", [24, 384], w.astype("<f4").tobytes()),
        "bf16": ("BF16", [24, 384], bf16.tobytes()),
        "f16": ("F16", [24, 384], w.astype("<f2").tobytes()),
        "bias_f32": ("F32", [384], b.astype("<f4").tobytes()),
    }
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src.safetensors")
        write_safetensors(src, tensors)
        out = os.path.join(ROOT, "tests/data/lossless-v2-mode1.sph")
        subprocess.run([sys.argv[1], "compress", "--codec", "lossless-v2", "--chunk-elems", "4096",
                        "-q", "-o", out, src], check=True)
    print(out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
