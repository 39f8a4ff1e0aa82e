"""ctypes declarations of the Saraphis C ABI (include/saraphis.h) and the loaded library.

The library is ``libsaraphis.so`` bundled in this package by the build (``setup.py`` runs
``cargo build --release --lib``), or the file named by the ``SARAPHIS_LIBRARY`` environment
variable (e.g. a CUDA build carried to a GPU machine). ctypes releases the GIL around every
foreign call, so long compressions and decompressions do not block other Python threads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

# saraphis_dtype
F32, F16, BF16, F64, I8, I16, I32, I64, U8, U16, U32, U64, BOOL = range(13)
# saraphis_codec
(CODEC_RAW, CODEC_LOSSLESS, CODEC_PADIC, CODEC_BYTES, CODEC_LOSSLESS_V2, CODEC_QUANT, CODEC_SPARSE,
 CODEC_AUTO, CODEC_DELTA) = range(9)
CODEC_NAMES = {
    CODEC_RAW: "raw",
    CODEC_LOSSLESS: "lossless",
    CODEC_PADIC: "padic",
    CODEC_BYTES: "bytes",
    CODEC_LOSSLESS_V2: "lossless-v2",
    CODEC_QUANT: "quant",
    CODEC_SPARSE: "sparse",
    CODEC_AUTO: "auto",
    CODEC_DELTA: "delta",
}
# saraphis_param
PARAM_PRIME, PARAM_PRECISION, PARAM_ABS_BOUND, PARAM_REL_BOUND, PARAM_CHUNK_ELEMS, PARAM_LANES = range(1, 7)
(PARAM_BITS, PARAM_BLOCK, PARAM_AXIS, PARAM_GROUPING, PARAM_SCALE_DTYPE,
 PARAM_ZERO_POINT, PARAM_TARGET_RATIO, PARAM_PRIORITY) = range(7, 15)
# saraphis_config_key
CONFIG_THREADS, CONFIG_CHUNK_ELEMS, CONFIG_VERIFY_CHECKSUMS = range(1, 4)
HEADER_MAX_BYTES = 8192

# saraphis_result codes by name (the ones Python code tests for).
OK = 0
ERR_NULL_PARAMETER = 1000
ERR_INVALID_ARGUMENT = 1001
ERR_DESTINATION = 1002
ERR_NOT_FOUND = 1003
ERR_BAD_MAGIC = 2001
ERR_UNSUPPORTED_VERSION = 2002
ERR_TRUNCATED = 2003
ERR_CHECKSUM = 2004
ERR_CORRUPT = 2005
ERR_UNSUPPORTED = 2006
ERR_BOUND_EXCEEDED = 2007
ERR_IO = 3001
ERR_DEVICE = 4001
ERR_BUDGET = 4002
ERR_PANIC = 5000


class TensorInfo(Structure):
    """``saraphis_tensor_info`` (208 bytes): a container's header information."""

    _fields_ = [
        ("dtype", c_uint32),
        ("codec", c_uint32),
        ("ndim", c_uint32),
        ("shape", c_uint64 * 8),
        ("numel", c_uint64),
        ("original_bytes", c_uint64),
        ("compressed_bytes", c_uint64),
        ("chunk_elems", c_uint32),
        ("chunks", c_uint64),
        ("bound_mode", c_uint32),
        ("error_bound", c_double),
        ("prime", c_uint32),
        ("precision", c_uint32),
        ("max_abs_error", c_double),
        ("quant_bits", c_uint32),
        ("quant_grouping", c_uint32),
        ("quant_group_arg", c_uint32),
        ("quant_scale_dtype", c_uint32),
        ("quant_zero_point", c_uint32),
        ("sparse_values_codec", c_uint32),
        ("sparse_nonzeros", c_uint64),
        ("sparse_mask_codec", c_uint32),
        ("reserved", c_uint32 * 5),
    ]


assert ctypes.sizeof(TensorInfo) == 208, ctypes.sizeof(TensorInfo)


class ArchiveOutput(Structure):
    """``saraphis_archive_output``: tensor index, device destination and its bytes."""

    _fields_ = [("index", c_size_t), ("dst_dev", c_void_p), ("dst_bytes", c_size_t)]


def _library_path() -> Path:
    env = os.environ.get("SARAPHIS_LIBRARY")
    if env:
        return Path(env)
    name = {"darwin": "libsaraphis.dylib", "win32": "saraphis.dll"}.get(sys.platform, "libsaraphis.so")
    return Path(__file__).with_name(name)


def _load() -> ctypes.CDLL:
    path = _library_path()
    if not path.exists():
        raise ImportError(
            f"saraphis: the native library {path} is missing: install the package with "
            "`pip install ./bindings/python` (which builds it with cargo) or set SARAPHIS_LIBRARY"
        )
    return ctypes.CDLL(str(path))


lib = _load()
R = c_uint32  # enum saraphis_result travels as a 32-bit value
P = c_void_p
_sigs = {
    "saraphis_version": (c_char_p, []),
    "saraphis_version_number": (c_uint32, []),
    "saraphis_build_has_cuda": (c_uint32, []),
    "saraphis_result_text": (c_char_p, [c_uint32]),
    "saraphis_last_error_message": (c_char_p, []),
    "saraphis_config_new": (R, [POINTER(P)]),
    "saraphis_config_set": (R, [P, c_uint32, c_int64]),
    "saraphis_config_set_device": (R, [P, c_char_p]),
    "saraphis_config_free": (None, [P]),
    "saraphis_system_new": (R, [P, POINTER(P)]),
    "saraphis_system_free": (None, [P]),
    "saraphis_system_device": (R, [P, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "saraphis_device_synchronize": (R, [P]),
    "saraphis_params_new": (R, [c_uint32, POINTER(P)]),
    "saraphis_params_set": (R, [P, c_uint32, c_double]),
    "saraphis_params_free": (None, [P]),
    "saraphis_buffer_data": (POINTER(c_uint8), [P]),
    "saraphis_buffer_len": (c_size_t, [P]),
    "saraphis_buffer_free": (None, [P]),
    "saraphis_compress": (R, [P, P, P, c_size_t, c_uint32, POINTER(c_uint64), c_size_t, POINTER(P)]),
    "saraphis_compress_bound": (R, [c_uint32, POINTER(c_uint64), c_size_t, P, POINTER(c_size_t)]),
    "saraphis_decompress": (R, [P, P, c_size_t, c_uint32, P, c_size_t]),
    "saraphis_decompress_device": (
        R,
        [P, P, c_size_t, c_uint32, P, c_size_t, POINTER(c_int32), c_size_t, P],
    ),
    "saraphis_compress_device_sizes": (
        R,
        [P, c_uint32, POINTER(c_uint64), c_size_t, POINTER(c_size_t), POINTER(c_size_t)],
    ),
    "saraphis_compress_device": (
        R,
        [P, P, P, c_size_t, c_uint32, POINTER(c_uint64), c_size_t, P, c_size_t, P, c_size_t, P, P],
    ),
    "saraphis_inspect": (R, [P, c_size_t, POINTER(TensorInfo)]),
    "saraphis_header_bytes": (R, [P, c_size_t, POINTER(c_size_t)]),
    "saraphis_archive_open": (R, [P, c_char_p, POINTER(P)]),
    "saraphis_archive_open_memory": (R, [P, P, c_size_t, POINTER(P)]),
    "saraphis_archive_free": (None, [P]),
    "saraphis_archive_tensor_count": (R, [P, POINTER(c_size_t)]),
    "saraphis_archive_tensor_name": (c_char_p, [P, c_size_t]),
    "saraphis_archive_find": (R, [P, c_char_p, POINTER(c_size_t)]),
    "saraphis_archive_tensor_info": (R, [P, c_size_t, POINTER(TensorInfo)]),
    "saraphis_archive_decompress": (R, [P, c_size_t, P, c_size_t]),
    "saraphis_archive_set_base": (R, [P, P, P]),
    "saraphis_archive_decompress_device": (R, [P, c_size_t, P, c_size_t, P]),
    "saraphis_archive_decompress_device_batch": (R, [P, POINTER(ArchiveOutput), c_size_t, P]),
    "saraphis_archive_compress": (R, [P, P, P, c_size_t, POINTER(P)]),
    "saraphis_residency_new": (R, [P, c_uint64, c_uint32, POINTER(P)]),
    "saraphis_residency_free": (None, [P]),
    "saraphis_residency_acquire": (R, [P, c_size_t, POINTER(c_void_p), POINTER(c_size_t)]),
    "saraphis_residency_release": (R, [P, c_size_t]),
    "saraphis_residency_prefetch": (R, [P, POINTER(c_size_t), c_size_t, POINTER(c_size_t)]),
    "saraphis_residency_set_priority": (R, [P, c_size_t, c_int32]),
    "saraphis_residency_stats_json": (R, [P, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "saraphis_residency_new_device": (R, [P, c_uint64, c_uint32, POINTER(P)]),
    "saraphis_residency_acquire_device": (R, [P, c_size_t, c_void_p, POINTER(c_void_p), POINTER(c_size_t)]),
    "saraphis_residency_release_device": (R, [P, c_size_t, c_void_p]),
    "saraphis_residency_set_placement": (R, [P, c_size_t, c_uint32]),
    "saraphis_archive_compress_file": (R, [P, P, c_char_p, c_char_p]),
    "saraphis_archive_compress_file_delta": (R, [P, P, c_char_p, c_char_p, c_char_p]),
}
for _name, (_res, _args) in _sigs.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args
