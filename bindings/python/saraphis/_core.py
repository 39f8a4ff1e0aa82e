"""The Python face of the C ABI: errors, systems, parameters, tensors in and out.

Arrays are numpy arrays or torch tensors (CPU or CUDA); every element type of the library is
supported: float32, float16, bfloat16 (numpy through ``ml_dtypes``, torch natively), float64,
int8..int64, uint8..uint64 and bool. Data are read in C order (non-contiguous inputs are
copied first); nothing the caller passes is modified.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import _ffi as F

Buffer = Union[bytes, bytearray, memoryview, np.ndarray]


class SaraphisError(Exception):
    """A failed library call: ``code`` is the C ``saraphis_result`` (e.g. 2004 for a checksum
    mismatch, ``saraphis.ERR_CHECKSUM``), ``message`` the library's detailed message."""

    def __init__(self, code: int, message: str):
        text = F.lib.saraphis_result_text(code).decode()
        super().__init__(f"{text} ({code}): {message}")
        self.code = code
        self.message = message


def _check(r: int) -> None:
    if r != F.OK:
        m = F.lib.saraphis_last_error_message()
        raise SaraphisError(int(r), m.decode("utf-8", "replace") if m else "")


# ---------------------------------------------------------------- element types

_NP_TO_CODE = {
    np.dtype(np.float32): F.F32,
    np.dtype(np.float16): F.F16,
    np.dtype(np.float64): F.F64,
    np.dtype(np.int8): F.I8,
    np.dtype(np.int16): F.I16,
    np.dtype(np.int32): F.I32,
    np.dtype(np.int64): F.I64,
    np.dtype(np.uint8): F.U8,
    np.dtype(np.uint16): F.U16,
    np.dtype(np.uint32): F.U32,
    np.dtype(np.uint64): F.U64,
    np.dtype(np.bool_): F.BOOL,
}
try:  # numpy has no bfloat16 of its own; ml_dtypes (used by JAX and TensorFlow) does.
    import ml_dtypes as _ml_dtypes

    _BF16_NP: Optional[np.dtype] = np.dtype(_ml_dtypes.bfloat16)
    _NP_TO_CODE[_BF16_NP] = F.BF16
except ImportError:  # pragma: no cover - depends on the environment
    _BF16_NP = None
_CODE_TO_NP = {v: k for k, v in _NP_TO_CODE.items()}
SAFETENSORS_NAMES = {
    F.F32: "F32",
    F.F16: "F16",
    F.BF16: "BF16",
    F.F64: "F64",
    F.I8: "I8",
    F.I16: "I16",
    F.I32: "I32",
    F.I64: "I64",
    F.U8: "U8",
    F.U16: "U16",
    F.U32: "U32",
    F.U64: "U64",
    F.BOOL: "BOOL",
}
ELEMENT_BYTES = {F.F32: 4, F.F16: 2, F.BF16: 2, F.F64: 8, F.I8: 1, F.I16: 2, F.I32: 4, F.I64: 8,
                 F.U8: 1, F.U16: 2, F.U32: 4, F.U64: 8, F.BOOL: 1}


def numpy_dtype(code: int) -> np.dtype:
    """The numpy dtype of a ``saraphis_dtype`` code. Raises ``SaraphisError``
    (``ERR_UNSUPPORTED``) for BF16 when ``ml_dtypes`` is not installed (``pip install
    ml_dtypes``), rather than handing back the bits under another type."""
    d = _CODE_TO_NP.get(code)
    if d is None:
        if code == F.BF16:
            raise SaraphisError(
                F.ERR_UNSUPPORTED,
                "bfloat16 in numpy needs ml_dtypes (pip install ml_dtypes), or use saraphis.torch",
            )
        raise SaraphisError(F.ERR_UNSUPPORTED, f"unknown dtype code {code}")
    return d


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "data_ptr")


def _torch_code(t: Any) -> int:
    import torch

    m = {
        torch.float32: F.F32,
        torch.float16: F.F16,
        torch.bfloat16: F.BF16,
        torch.float64: F.F64,
        torch.int8: F.I8,
        torch.int16: F.I16,
        torch.int32: F.I32,
        torch.int64: F.I64,
        torch.uint8: F.U8,
        torch.bool: F.BOOL,
    }
    for name, code in (("uint16", F.U16), ("uint32", F.U32), ("uint64", F.U64)):
        if hasattr(torch, name):
            m[getattr(torch, name)] = code
    if t.dtype not in m:
        raise SaraphisError(F.ERR_UNSUPPORTED, f"torch dtype {t.dtype} is not supported")
    return m[t.dtype]


def torch_dtype(code: int) -> Any:
    """The torch dtype of a ``saraphis_dtype`` code (U16/U32/U64 need torch >= 2.3)."""
    import torch

    names = {F.F32: "float32", F.F16: "float16", F.BF16: "bfloat16", F.F64: "float64",
             F.I8: "int8", F.I16: "int16", F.I32: "int32", F.I64: "int64", F.U8: "uint8",
             F.U16: "uint16", F.U32: "uint32", F.U64: "uint64", F.BOOL: "bool"}
    d = getattr(torch, names[code], None)
    if d is None:
        raise SaraphisError(F.ERR_UNSUPPORTED, f"this torch has no {names[code]}")
    return d


@dataclass
class HostView:
    """A tensor's bytes in host memory: address, length in bytes, dtype code, shape, and the
    object that keeps the memory alive."""

    ptr: int
    nbytes: int
    dtype: int
    shape: Tuple[int, ...]
    owner: Any


def host_view(x: Any) -> HostView:
    """Host memory of a numpy array or a CPU torch tensor, C-contiguous (copied if not)."""
    if _is_torch(x):
        if x.is_cuda:
            raise SaraphisError(F.ERR_INVALID_ARGUMENT, "a CUDA tensor where host memory is needed")
        t = x.detach().contiguous()
        return HostView(t.data_ptr(), t.numel() * t.element_size(), _torch_code(t), tuple(t.shape), t)
    a = np.ascontiguousarray(x)
    code = _NP_TO_CODE.get(a.dtype)
    if code is None:
        raise SaraphisError(F.ERR_UNSUPPORTED, f"numpy dtype {a.dtype} is not supported")
    return HostView(a.ctypes.data, a.nbytes, code, tuple(a.shape), a)


def _bytes_of(blob: Buffer) -> Tuple[int, int, Any]:
    """(address, length, keep-alive) of a read-only byte buffer."""
    if isinstance(blob, np.ndarray):
        a = np.ascontiguousarray(blob).view(np.uint8).reshape(-1)
        return a.ctypes.data, a.nbytes, a
    mv = memoryview(blob).cast("B")
    if mv.readonly:
        # bytes: borrow its buffer without copying.
        a = np.frombuffer(mv, dtype=np.uint8)
        return a.ctypes.data, a.nbytes, (a, mv)
    a = np.frombuffer(mv, dtype=np.uint8)
    return a.ctypes.data, a.nbytes, a


# ---------------------------------------------------------------- systems


class System:
    """A Saraphis system: a thread pool for CPU work and, with ``device="auto"`` on a machine
    with a CUDA GPU and a library built with kernels, that GPU. Thread-safe: share one.

    ``device``: ``"auto"`` (default), ``"cpu"`` or ``"cuda:N"``; ``threads``: worker threads (0 =
    one per core); ``verify_checksums``: check chunk checksums when decoding (default True).
    Raises ``SaraphisError`` (``ERR_DEVICE`` when ``cuda:N`` cannot be served)."""

    def __init__(self, device: str = "auto", threads: int = 0, verify_checksums: bool = True):
        cfg = ctypes.c_void_p()
        _check(F.lib.saraphis_config_new(ctypes.byref(cfg)))
        try:
            _check(F.lib.saraphis_config_set_device(cfg, device.encode()))
            _check(F.lib.saraphis_config_set(cfg, F.CONFIG_THREADS, threads))
            _check(F.lib.saraphis_config_set(cfg, F.CONFIG_VERIFY_CHECKSUMS, int(verify_checksums)))
            h = ctypes.c_void_p()
            _check(F.lib.saraphis_system_new(cfg, ctypes.byref(h)))
        finally:
            F.lib.saraphis_config_free(cfg)
        self._h = h

    @property
    def handle(self) -> ctypes.c_void_p:
        return self._h

    @property
    def device(self) -> str:
        """The device in use and why, e.g. ``"cpu (auto: no CUDA device)"``."""
        need = ctypes.c_size_t()
        _check(F.lib.saraphis_system_device(self._h, None, 0, ctypes.byref(need)))
        buf = ctypes.create_string_buffer(need.value)
        _check(F.lib.saraphis_system_device(self._h, buf, need.value, ctypes.byref(need)))
        return buf.value.decode()

    @property
    def has_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def close(self) -> None:
        """Free the system (archives opened on it keep it alive). Idempotent."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            F.lib.saraphis_system_free(h)

    def __del__(self) -> None:
        self.close()


_default_lock = threading.Lock()
_default: Optional[System] = None


def default_system() -> System:
    """The process-wide system used when none is given: device from ``SARAPHIS_DEVICE``
    (default ``auto``), created on first use. Thread-safe."""
    global _default
    with _default_lock:
        if _default is None:
            import os

            _default = System(device=os.environ.get("SARAPHIS_DEVICE", "auto"))
        return _default


# ---------------------------------------------------------------- parameters


class Params:
    """Codec parameters: ``lossless=True`` (default, bit-exact), or ``abs=EPS`` / ``rel=EPS``
    (p-adic codec: every element within ``|x' - x| <= EPS`` or ``<= EPS |x|``), or
    ``codec="raw" | "lossless" | "lossless-v2"`` (lossless-v2: the GPU-first layout that the
    batched GPU decoder reads; the default lossless codec elsewhere), or ``codec="quant"``
    (block / per-channel / global quantization, docs/FORMAT.md section 7: ``bits`` 2..8,
    default 8; ``block`` 16..4096, default 32; ``axis`` for per-channel; ``grouping`` 0 blocks,
    1 channels, 2 global; ``scale_dtype`` "float32" | "float16" | "bfloat16"; ``zero_point``;
    with ``abs=EPS`` the fewest bits per block within EPS), or ``codec="sparse"`` (section 8:
    a bitmap of the nonzero elements plus the nonzero values, lossless or within ``abs``/``rel``;
    written only where smaller than the values' codec, whose container is returned otherwise;
    ``chunk_elems`` is then the scatter block, a multiple of 32), or ``codec="auto"`` (section 9:
    per tensor, the best of the codecs allowed by ``abs``/``rel`` (none: bit-exact only),
    ``bits`` (fixed-rate quant allowed, without a bound), ``target_ratio`` (the fastest decoder
    reaching it) and ``priority`` ("ratio", default, or "speed": the fastest within 5% of the
    best ratio), by trial compression of samples; CPU compression only). ``prime`` (p-adic base,
    default 251), ``precision`` (digit planes, 0 = automatic), ``chunk_elems`` (elements per
    chunk), ``lanes`` (rANS lanes per stream, up to 128). Raises ``SaraphisError``
    (``ERR_INVALID_ARGUMENT``) for values the library refuses, ``ValueError`` for a
    contradictory choice."""

    def __init__(self, lossless: bool = True, abs: Optional[float] = None, rel: Optional[float] = None,
                 codec: Optional[str] = None, prime: Optional[int] = None,
                 precision: Optional[int] = None, chunk_elems: Optional[int] = None,
                 lanes: Optional[int] = None, bits: Optional[int] = None,
                 block: Optional[int] = None, axis: Optional[int] = None,
                 grouping: Optional[int] = None, scale_dtype: Optional[str] = None,
                 zero_point: Optional[bool] = None, target_ratio: Optional[float] = None,
                 priority: Optional[str] = None):
        if abs is not None and rel is not None:
            raise ValueError("give abs= or rel=, not both")
        lossy = abs is not None or rel is not None
        names = {v: k for k, v in F.CODEC_NAMES.items()}
        if codec is not None:
            if codec not in names or codec == "bytes":
                raise ValueError(f"codec must be raw, lossless, lossless-v2, padic, quant, sparse or auto, not {codec!r}")
            c = names[codec]
            if lossy and c not in (F.CODEC_PADIC, F.CODEC_QUANT, F.CODEC_SPARSE, F.CODEC_AUTO):
                raise ValueError(f"abs=/rel= select the p-adic, quant, sparse or auto codec, not {codec}")
            if rel is not None and c == F.CODEC_QUANT:
                raise ValueError("the quant codec takes abs=, not rel=")
        else:
            c = F.CODEC_PADIC if lossy else F.CODEC_LOSSLESS
        if c == F.CODEC_PADIC and not lossy:
            raise ValueError("the p-adic codec needs abs= or rel=")
        if not lossless and not lossy and codec is None:
            raise ValueError("lossless=False needs abs= or rel=")
        quant = (bits, block, axis, grouping, scale_dtype, zero_point)
        if c == F.CODEC_AUTO:
            quant = quant[1:]
        if c != F.CODEC_QUANT and any(v is not None for v in quant):
            raise ValueError("bits=, block=, axis=, grouping=, scale_dtype=, zero_point= need codec='quant' "
                             "(codec='auto' takes bits=)")
        if c != F.CODEC_AUTO and (target_ratio is not None or priority is not None):
            raise ValueError("target_ratio= and priority= need codec='auto'")
        if priority not in (None, "ratio", "speed"):
            raise ValueError(f"priority must be 'ratio' or 'speed', not {priority!r}")
        scale_codes = {"float32": F.F32, "float16": F.F16, "bfloat16": F.BF16}
        if scale_dtype is not None and scale_dtype not in scale_codes:
            raise ValueError(f"scale_dtype must be float32, float16 or bfloat16, not {scale_dtype!r}")
        h = ctypes.c_void_p()
        _check(F.lib.saraphis_params_new(c, ctypes.byref(h)))
        self._h = h
        self.codec = c
        for key, v in ((F.PARAM_ABS_BOUND, abs), (F.PARAM_REL_BOUND, rel), (F.PARAM_PRIME, prime),
                       (F.PARAM_PRECISION, precision), (F.PARAM_CHUNK_ELEMS, chunk_elems),
                       (F.PARAM_LANES, lanes), (F.PARAM_BITS, bits), (F.PARAM_BLOCK, block),
                       (F.PARAM_AXIS, axis), (F.PARAM_GROUPING, grouping),
                       (F.PARAM_SCALE_DTYPE, None if scale_dtype is None else scale_codes[scale_dtype]),
                       (F.PARAM_ZERO_POINT, None if zero_point is None else int(zero_point)),
                       (F.PARAM_TARGET_RATIO, target_ratio),
                       (F.PARAM_PRIORITY, None if priority is None else int(priority == "speed"))):
            if v is not None:
                _check(F.lib.saraphis_params_set(h, key, float(v)))

    @property
    def handle(self) -> ctypes.c_void_p:
        return self._h

    def __del__(self) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h:
            F.lib.saraphis_params_free(h)


def take_buffer(b: ctypes.c_void_p) -> bytes:
    """Copy a library buffer into ``bytes`` and free it."""
    try:
        n = F.lib.saraphis_buffer_len(b)
        return ctypes.string_at(F.lib.saraphis_buffer_data(b), n) if n else b""
    finally:
        F.lib.saraphis_buffer_free(b)


def shape_array(shape: Tuple[int, ...]) -> Any:
    return (ctypes.c_uint64 * max(len(shape), 1))(*shape)


# ---------------------------------------------------------------- header information


@dataclass(frozen=True)
class Info:
    """A container's header: ``dtype`` (numpy dtype name or "bfloat16"), ``dtype_code``,
    ``codec`` ("raw", "lossless", "padic", "bytes", "lossless-v2"), ``shape``, ``numel``
    (elements), ``original_bytes`` and ``compressed_bytes`` (bytes; ratio = original /
    compressed), ``chunk_elems``, ``chunks``, ``bound`` (None when exact, else ("abs" | "rel",
    eps)), ``prime`` and ``precision`` (p-adic digit planes; 0 otherwise), ``max_abs_error``
    (quant: the largest |x - x'| measured at compression; 0 otherwise), ``quant`` (quant:
    a dict of bits, grouping, group_arg, scale_dtype, zero_point; None otherwise) and
    ``sparse`` (sparse: a dict of nonzeros, values_codec, mask_codec; None otherwise)."""

    dtype: str
    dtype_code: int
    codec: str
    shape: Tuple[int, ...]
    numel: int
    original_bytes: int
    compressed_bytes: int
    chunk_elems: int
    chunks: int
    bound: Optional[Tuple[str, float]]
    prime: int
    precision: int
    max_abs_error: float = 0.0
    quant: Optional[Dict[str, Any]] = None
    sparse: Optional[Dict[str, Any]] = None

    @property
    def ratio(self) -> float:
        """Compression ratio, original / compressed bytes."""
        return self.original_bytes / self.compressed_bytes if self.compressed_bytes else float("inf")


_DTYPE_NAMES = {F.F32: "float32", F.F16: "float16", F.BF16: "bfloat16", F.F64: "float64",
                F.I8: "int8", F.I16: "int16", F.I32: "int32", F.I64: "int64", F.U8: "uint8",
                F.U16: "uint16", F.U32: "uint32", F.U64: "uint64", F.BOOL: "bool"}


def info_of(t: F.TensorInfo) -> Info:
    bound = None
    if t.bound_mode == 1:
        bound = ("abs", t.error_bound)
    elif t.bound_mode == 2:
        bound = ("rel", t.error_bound)
    return Info(
        dtype=_DTYPE_NAMES.get(t.dtype, str(t.dtype)),
        dtype_code=t.dtype,
        codec=F.CODEC_NAMES.get(t.codec, str(t.codec)),
        shape=tuple(int(t.shape[i]) for i in range(t.ndim)),
        numel=int(t.numel),
        original_bytes=int(t.original_bytes),
        compressed_bytes=int(t.compressed_bytes),
        chunk_elems=int(t.chunk_elems),
        chunks=int(t.chunks),
        bound=bound,
        prime=int(t.prime),
        precision=int(t.precision),
        max_abs_error=float(t.max_abs_error),
        quant=None if t.codec != F.CODEC_QUANT else {
            "bits": int(t.quant_bits),
            "grouping": ("block", "channel", "global")[min(int(t.quant_grouping), 2)],
            "group_arg": int(t.quant_group_arg),
            "scale_dtype": _DTYPE_NAMES.get(t.quant_scale_dtype, str(t.quant_scale_dtype)),
            "zero_point": bool(t.quant_zero_point),
        },
        sparse=None if t.codec != F.CODEC_SPARSE else {
            "nonzeros": int(t.sparse_nonzeros),
            "values_codec": F.CODEC_NAMES.get(t.sparse_values_codec, str(t.sparse_values_codec)),
            "mask_codec": F.CODEC_NAMES.get(t.sparse_mask_codec, str(t.sparse_mask_codec)),
        },
    )
