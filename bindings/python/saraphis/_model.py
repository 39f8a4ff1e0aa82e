"""Whole models: dicts of tensors to ``.sph`` archives and back (shared by saraphis.numpy and
saraphis.torch). An archive is made from a safetensors file built in memory, so it restores to
a valid safetensors file (``saraphis decompress``), byte for byte for bit-exact codecs."""

from __future__ import annotations

import ctypes
import json
import os
import struct
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from . import _ffi
from ._core import (
    ELEMENT_BYTES,
    SAFETENSORS_NAMES,
    HostView,
    Params,
    SaraphisError,
    System,
    _bytes_of,
    _check,
    default_system,
    take_buffer,
)


def safetensors_bytes(views: List[Tuple[str, HostView]], metadata: Optional[Dict[str, str]]) -> bytes:
    """A safetensors file (https://github.com/huggingface/safetensors, format section) of the
    given tensors, in the given order, with ``metadata`` (str -> str) as ``__metadata__``."""
    header: Dict[str, Any] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("metadata must map str to str (as safetensors requires)")
        header["__metadata__"] = metadata
    off = 0
    seen = set()
    for name, v in views:
        if name in seen:
            raise ValueError(f"tensor name {name!r} appears twice")
        seen.add(name)
        header[name] = {"dtype": SAFETENSORS_NAMES[v.dtype], "shape": list(v.shape),
                        "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    parts = [struct.pack("<Q", len(h)), h]
    for _, v in views:
        parts.append(ctypes.string_at(v.ptr, v.nbytes) if v.nbytes else b"")
    return b"".join(parts)


def archive_bytes(views: List[Tuple[str, HostView]], metadata: Optional[Dict[str, str]],
                  params: Params, system: Optional[System]) -> bytes:
    """The ``.sph`` archive of the tensors (``saraphis_archive_compress``)."""
    st = safetensors_bytes(views, metadata)
    sys_ = system or default_system()
    ptr, n, keep = _bytes_of(st)
    out = ctypes.c_void_p()
    _check(_ffi.lib.saraphis_archive_compress(sys_.handle, params.handle, ctypes.c_void_p(ptr), n,
                                              ctypes.byref(out)))
    del keep
    return take_buffer(out)


def write_atomically(path: "os.PathLike[str] | str", data: bytes) -> None:
    """Write ``data`` to a new temporary file in ``path``'s directory, then rename it over
    ``path``: a reader never sees a partial archive, and an error leaves nothing behind."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_sizes(views: List[Tuple[str, HostView]]) -> None:
    for name, v in views:
        n = 1
        for d in v.shape:
            n *= d
        if n * ELEMENT_BYTES[v.dtype] != v.nbytes:
            raise SaraphisError(_ffi.ERR_INVALID_ARGUMENT, f"{name}: size does not match its shape")
