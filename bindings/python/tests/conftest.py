import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "data" / "minilm-subset-f32.safetensors"
NP = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "F16": np.float16}


def read_safetensors(path):
    """name -> numpy array of a safetensors file (numpy dtypes only), in file order."""
    buf = Path(path).read_bytes()
    n = struct.unpack("<Q", buf[:8])[0]
    h = json.loads(buf[8:8 + n])
    out = {}
    for k, e in sorted(((k, e) for k, e in h.items() if k != "__metadata__"),
                       key=lambda kv: kv[1]["data_offsets"][0]):
        s, t = e["data_offsets"]
        out[k] = np.frombuffer(buf[8 + n + s:8 + n + t], dtype=NP[e["dtype"]]).reshape(e["shape"]).copy()
    return out


@pytest.fixture(scope="session")
def minilm():
    if not FIXTURE.exists():
        pytest.skip(f"{FIXTURE} missing (scripts/make-test-data.py)")
    return read_safetensors(FIXTURE)
