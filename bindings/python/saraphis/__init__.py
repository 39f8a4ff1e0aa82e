"""Saraphis: tensor compression, bit-exact or within an error bound that holds for every element.

A thin layer (ctypes) over the library's C ABI (``include/saraphis.h``): the same format, codecs,
speed and checks as the C, C++, Go and C# bindings. The GIL is released during every library
call.

    import numpy as np, saraphis
    blob = saraphis.compress(weights)                  # bit-exact
    back = saraphis.decompress(blob)                   # numpy array, same dtype and shape
    lossy = saraphis.compress(weights, abs=1e-3)       # every |x' - x| <= 1e-3
    saraphis.numpy.save_file({"w": weights}, "m.sph")  # a whole model: saraphis.numpy / .torch
    arch = saraphis.Archive("m.sph"); w = arch["w"]    # lazy: decodes one tensor

Torch tensors work too, on the CPU and on CUDA (decoded on the GPU, on torch's current stream,
when the library was built with CUDA kernels).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, Dict, Iterator, List, Optional, Union

import numpy as np

from . import _ffi
from ._core import (
    Buffer,
    Info,
    Params,
    SaraphisError,
    System,
    _bytes_of,
    _check,
    _is_torch,
    _torch_code,
    default_system,
    host_view,
    info_of,
    numpy_dtype,
    shape_array,
    take_buffer,
    torch_dtype,
)
from ._ffi import (  # noqa: F401  (result codes, re-exported)
    ERR_BAD_MAGIC,
    ERR_BOUND_EXCEEDED,
    ERR_BUDGET,
    ERR_CHECKSUM,
    ERR_CORRUPT,
    ERR_DESTINATION,
    ERR_DEVICE,
    ERR_INVALID_ARGUMENT,
    ERR_IO,
    ERR_NOT_FOUND,
    ERR_NULL_PARAMETER,
    ERR_TRUNCATED,
    ERR_UNSUPPORTED,
    ERR_UNSUPPORTED_VERSION,
    HEADER_MAX_BYTES,
)

__all__ = [
    "Archive",
    "Residency",
    "Info",
    "SaraphisError",
    "System",
    "build_has_cuda",
    "compress",
    "compress_file",
    "decompress",
    "header_bytes",
    "inspect",
    "version",
]
__version__ = _ffi.lib.saraphis_version().decode()


def version() -> str:
    """The native library's version, e.g. ``"0.2.0"``."""
    return _ffi.lib.saraphis_version().decode()


def build_has_cuda() -> bool:
    """True when the native library embeds CUDA kernels."""
    return _ffi.lib.saraphis_build_has_cuda() == 1


def _stream_of(t: Any) -> ctypes.c_void_p:
    """torch's current CUDA stream on ``t``'s device as a ``cudaStream_t``. torch reports its
    default stream as 0, the legacy default stream; the library reads NULL as its own stream,
    so 0 becomes ``CU_STREAM_LEGACY`` (1), which orders the work with torch's."""
    import torch

    s = torch.cuda.current_stream(t.device).cuda_stream
    return ctypes.c_void_p(s if s else 1)


def compress(
    array: Any,
    *,
    lossless: bool = True,
    abs: Optional[float] = None,
    rel: Optional[float] = None,
    codec: Optional[str] = None,
    prime: Optional[int] = None,
    precision: Optional[int] = None,
    chunk_elems: Optional[int] = None,
    lanes: Optional[int] = None,
    bits: Optional[int] = None,
    block: Optional[int] = None,
    axis: Optional[int] = None,
    grouping: Optional[int] = None,
    scale_dtype: Optional[str] = None,
    zero_point: Optional[bool] = None,
    target_ratio: Optional[float] = None,
    priority: Optional[str] = None,
    system: Optional[System] = None,
) -> bytes:
    """Compress a tensor into a self-describing container (dtype and shape kept).

    ``array``: a numpy array or a torch tensor of any supported dtype and 0 to 8 dimensions
    (row-major; a non-contiguous input is copied first; never modified). A CUDA tensor is
    compressed on its GPU from device memory, on torch's current stream (no host copy of the
    tensor; the container is then copied to the host), and needs a CUDA build of the library.
    Codec choice as :class:`saraphis._core.Params`: bit-exact by default, ``abs=EPS`` or
    ``rel=EPS`` for the error-bounded p-adic codec, ``codec="quant"`` for block / per-channel /
    global quantization (``bits``, ``block``, ``axis``, ``grouping``, ``scale_dtype``,
    ``zero_point``; with ``abs=EPS`` the fewest bits per block within EPS), ``codec="sparse"``,
    or ``codec="auto"`` (the best codec the constraints allow, by trial compression: ``abs`` /
    ``rel``, ``bits``, ``target_ratio``, ``priority`` "ratio" | "speed"; host tensors only);
    integer and bool tensors always bit-exact. Returns the container as ``bytes``. Raises :class:`SaraphisError`
    (``ERR_INVALID_ARGUMENT`` for parameters the data cannot use, ``ERR_UNSUPPORTED``,
    ``ERR_DEVICE``) or ``ValueError`` for a contradictory codec choice. Thread-safe."""
    p = Params(lossless, abs, rel, codec, prime, precision, chunk_elems, lanes, bits, block, axis,
               grouping, scale_dtype, zero_point, target_ratio, priority)
    sys_ = system or default_system()
    if _is_torch(array) and array.is_cuda:
        return _compress_cuda(sys_, p, array)
    v = host_view(array)
    out = ctypes.c_void_p()
    shp = shape_array(v.shape)
    _check(_ffi.lib.saraphis_compress(sys_.handle, p.handle, ctypes.c_void_p(v.ptr), v.nbytes, v.dtype,
                                      shp, len(v.shape), ctypes.byref(out)))
    return take_buffer(out)


def compress_file(
    input: Union[str, "os.PathLike[str]"],
    output: Union[str, "os.PathLike[str]"],
    *,
    base: Optional[Union[str, "os.PathLike[str]"]] = None,
    lossless: bool = True,
    abs: Optional[float] = None,
    codec: Optional[str] = None,
    system: Optional[System] = None,
) -> None:
    """Compress the safetensors file ``input`` into the ``.sph`` archive ``output``, as ``saraphis
    compress`` does (written to a temporary file, renamed into place when complete; an output
    that is an input is refused). With ``base`` (a safetensors file or ``.sph`` archive: the model
    ``input`` was fine-tuned from), each tensor with a same-named tensor of the same dtype and
    shape in ``base`` is also coded as a delta against it (docs/FORMAT.md §10; lossless, or
    within ``abs``) and the smaller container kept; read such an archive with its base attached
    (:meth:`Archive.set_base`). Raises :class:`SaraphisError` (``ERR_IO`` naming the path,
    ``ERR_INVALID_ARGUMENT``). Thread-safe (distinct outputs)."""
    p = Params(lossless, abs, None, codec, None, None, None, None, None, None, None, None, None,
               None, None, None)
    sys_ = system or default_system()
    enc = lambda x: os.fsencode(os.fspath(x))
    if base is None:
        _check(_ffi.lib.saraphis_archive_compress_file(sys_.handle, p.handle, enc(input), enc(output)))
    else:
        _check(_ffi.lib.saraphis_archive_compress_file_delta(sys_.handle, p.handle, enc(input),
                                                             enc(base), enc(output)))


def _compress_cuda(sys_: System, p: Params, t: Any) -> bytes:
    import torch

    t = t.detach().contiguous()
    code = _torch_code(t)
    shape = tuple(t.shape)
    shp = shape_array(shape)
    temp = ctypes.c_size_t()
    cap = ctypes.c_size_t()
    _check(_ffi.lib.saraphis_compress_device_sizes(p.handle, code, shp, len(shape), ctypes.byref(temp),
                                                   ctypes.byref(cap)))
    dst = torch.empty(cap.value, dtype=torch.uint8, device=t.device)
    tmp = torch.empty(max(temp.value, 1), dtype=torch.uint8, device=t.device)
    length = torch.zeros(1, dtype=torch.int64, device=t.device)
    _check(_ffi.lib.saraphis_compress_device(
        sys_.handle, p.handle, ctypes.c_void_p(t.data_ptr()), t.numel() * t.element_size(), code, shp,
        len(shape), ctypes.c_void_p(dst.data_ptr()), cap.value, ctypes.c_void_p(tmp.data_ptr()), temp.value,
        ctypes.c_void_p(length.data_ptr()), _stream_of(t)))
    n = int(length.item())  # synchronizes torch's stream
    return bytes(dst[:n].cpu().numpy().tobytes())


def inspect(blob: Buffer) -> Info:
    """Header information of a container, without decoding: ``blob`` is the whole container or
    any prefix holding its header (see :func:`header_bytes`). Raises :class:`SaraphisError`
    (``ERR_TRUNCATED`` when the prefix ends inside the header, ``ERR_BAD_MAGIC``,
    ``ERR_CHECKSUM``, ``ERR_CORRUPT``)."""
    ptr, n, keep = _bytes_of(blob)
    t = _ffi.TensorInfo()
    _check(_ffi.lib.saraphis_inspect(ctypes.c_void_p(ptr), n, ctypes.byref(t)))
    del keep
    return info_of(t)


def header_bytes(prefix: Buffer) -> int:
    """How many bytes from a container's start :func:`inspect` needs, judged from its first
    bytes (``HEADER_MAX_BYTES`` = 8192 always give the exact answer; fewer may give a longer
    prefix to try again with). Raises :class:`SaraphisError` (``ERR_BAD_MAGIC``)."""
    ptr, n, keep = _bytes_of(prefix)
    need = ctypes.c_size_t()
    _check(_ffi.lib.saraphis_header_bytes(ctypes.c_void_p(ptr) if n else None, n, ctypes.byref(need)))
    del keep
    return need.value


def _check_out(out: Any, info: Info, code: int, nbytes: int) -> None:
    if code != info.dtype_code or nbytes != info.original_bytes:
        raise SaraphisError(
            _ffi.ERR_DESTINATION,
            f"out is {nbytes} bytes of dtype code {code}; the tensor is {info.original_bytes} bytes "
            f"of {info.dtype} {list(info.shape)}",
        )


def _decode_status(status: Any, what: str) -> None:
    """Raise for the first nonzero per-chunk status (read after torch's stream)."""
    codes = status.cpu().tolist()
    for k, c in enumerate(codes):
        if c != 0:
            raise SaraphisError(_ffi.ERR_CORRUPT, f"{what}: chunk {k} of {len(codes)} failed on the GPU "
                                                  f"(status {c})")


def decompress(blob: Any, out: Any = None, *, system: Optional[System] = None) -> Any:
    """Decode a container made by :func:`compress` (or any Saraphis binding).

    ``blob``: the container as bytes-like or a numpy uint8 array, or a torch uint8 CUDA tensor
    (a container in device memory). ``out``: ``None`` (a new numpy array of the container's
    dtype and shape; BF16 needs ``ml_dtypes``), a numpy array or a CPU torch tensor
    (C-contiguous, exactly the tensor's dtype and size), or a CUDA torch tensor, decoded on the
    GPU on torch's current stream with every chunk's status checked afterwards (which waits for
    the stream). Bit-exact containers give the original bits; p-adic ones the same values as
    every other decoder, within the recorded bound. Returns ``out`` or the new array. Raises
    :class:`SaraphisError`: ``ERR_CHECKSUM`` (a corrupted chunk, named), ``ERR_TRUNCATED``,
    ``ERR_CORRUPT``, ``ERR_BAD_MAGIC``, ``ERR_DESTINATION`` (wrong ``out``), ``ERR_DEVICE``."""
    sys_ = system or default_system()
    blob_on_gpu = _is_torch(blob) and blob.is_cuda
    if blob_on_gpu:
        head = blob[: min(blob.numel(), HEADER_MAX_BYTES)].cpu().numpy()
        need = header_bytes(head)
        if need > head.size:
            head = blob[:need].cpu().numpy()
        info = inspect(head)
    else:
        info = inspect(blob)
    if out is not None and _is_torch(out) and out.is_cuda:
        import torch

        if not out.is_contiguous():
            raise SaraphisError(_ffi.ERR_DESTINATION, "out must be contiguous")
        _check_out(out, info, _torch_code(out), out.numel() * out.element_size())
        src = blob if blob_on_gpu else torch.frombuffer(bytearray(_as_bytes(blob)), dtype=torch.uint8).to(out.device)
        status = torch.zeros(max(info.chunks, 1), dtype=torch.int32, device=out.device)
        _check(_ffi.lib.saraphis_decompress_device(
            sys_.handle, ctypes.c_void_p(src.data_ptr()), src.numel(), info.dtype_code,
            ctypes.c_void_p(out.data_ptr()), info.original_bytes,
            ctypes.cast(ctypes.c_void_p(status.data_ptr()), ctypes.POINTER(ctypes.c_int32)), status.numel(),
            _stream_of(out)))
        _decode_status(status, "decompress")
        return out
    if blob_on_gpu:
        blob = blob.cpu().numpy()
    if out is None:
        out = np.empty(info.shape, dtype=numpy_dtype(info.dtype_code))
    if _is_torch(out):
        if not out.is_contiguous():
            raise SaraphisError(_ffi.ERR_DESTINATION, "out must be contiguous")
        code, ptr, nbytes = _torch_code(out), out.data_ptr(), out.numel() * out.element_size()
    else:
        if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
            raise SaraphisError(_ffi.ERR_DESTINATION, "out must be a writeable C-contiguous array")
        code = host_view(out).dtype
        ptr, nbytes = out.ctypes.data, out.nbytes
    _check_out(out, info, code, nbytes)
    sptr, sn, keep = _bytes_of(blob)
    _check(_ffi.lib.saraphis_decompress(sys_.handle, ctypes.c_void_p(sptr), sn, info.dtype_code,
                                        ctypes.c_void_p(ptr), nbytes))
    del keep
    return out


def _as_bytes(blob: Buffer) -> bytes:
    if isinstance(blob, np.ndarray):
        return np.ascontiguousarray(blob).view(np.uint8).tobytes()
    return bytes(blob)


class Archive:
    """An opened ``.sph`` archive (a whole model), read lazily: opening checks the file header,
    the index and every container's header (no payload is read); each tensor is decoded when
    asked for. ``source``: a path (memory-mapped) or the archive's bytes (kept by the
    archive). Mapping-like: ``len(a)``, ``a.keys()`` (names in the file's data order),
    ``name in a``, ``a[name]`` (a numpy array). Thread-safe.

    Raises :class:`SaraphisError`: ``ERR_IO`` (naming the path), ``ERR_BAD_MAGIC``,
    ``ERR_TRUNCATED``, ``ERR_CHECKSUM``, ``ERR_CORRUPT``, ``ERR_UNSUPPORTED_VERSION``."""

    def __init__(self, source: Union[str, os.PathLike, Buffer], system: Optional[System] = None):
        self._system = system or default_system()
        h = ctypes.c_void_p()
        self._keep: Any = None
        if isinstance(source, (str, os.PathLike)):
            _check(_ffi.lib.saraphis_archive_open(self._system.handle, os.fsencode(source), ctypes.byref(h)))
        else:
            data = _as_bytes(source) if not isinstance(source, bytes) else source
            self._keep = data  # the library reads these bytes until the archive is freed
            ptr, n, _ = _bytes_of(data)
            _check(_ffi.lib.saraphis_archive_open_memory(self._system.handle, ctypes.c_void_p(ptr), n,
                                                         ctypes.byref(h)))
        self._h = h
        n = ctypes.c_size_t()
        _check(_ffi.lib.saraphis_archive_tensor_count(h, ctypes.byref(n)))
        self._names: List[str] = [
            _ffi.lib.saraphis_archive_tensor_name(h, i).decode("utf-8", "replace") for i in range(n.value)
        ]

    def __len__(self) -> int:
        return len(self._names)

    def keys(self) -> List[str]:
        """Tensor names, in the order of their data in the original file."""
        return list(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name, missing_ok=True) is not None

    def _find(self, name: str, missing_ok: bool = False) -> Optional[int]:
        i = ctypes.c_size_t()
        r = _ffi.lib.saraphis_archive_find(self._h, name.encode(), ctypes.byref(i))
        if r == _ffi.ERR_NOT_FOUND and missing_ok:
            return None
        _check(r)
        return i.value

    def _index(self, key: Union[str, int]) -> int:
        if isinstance(key, int):
            if not 0 <= key < len(self._names):
                raise SaraphisError(_ffi.ERR_INVALID_ARGUMENT, f"tensor {key} out of range ({len(self)})")
            return key
        i = self._find(key)
        assert i is not None
        return i

    def info(self, key: Union[str, int]) -> Info:
        """Header information of a tensor (by name or index), nothing decoded."""
        t = _ffi.TensorInfo()
        _check(_ffi.lib.saraphis_archive_tensor_info(self._h, self._index(key), ctypes.byref(t)))
        return info_of(t)

    def __getitem__(self, key: Union[str, int]) -> np.ndarray:
        return self.read(key)

    def set_base(self, base: "Archive") -> int:
        """Attach the base model of this archive's delta tensors (docs/FORMAT.md §10, the CLI's
        ``--base``), opened as an :class:`Archive`. Each base tensor is decoded once and checked
        against the hash its delta tensor records; a wrong or missing one raises
        :class:`SaraphisError` (``ERR_INVALID_ARGUMENT``) and nothing is attached. This archive
        keeps its own reference to ``base``. Returns the number of delta tensors. Thread-safe;
        call it before reading delta tensors (which decode on the host; on CUDA outputs the
        host result is copied)."""
        n = ctypes.c_size_t(0)
        _check(_ffi.lib.saraphis_archive_set_base(self._h, base._h, ctypes.byref(n)))
        return n.value

    def read(self, key: Union[str, int], out: Any = None) -> Any:
        """Decode one tensor (by name or index) into ``out`` or a new numpy array.

        ``out`` as in :func:`decompress`: a numpy array, a CPU torch tensor, or a CUDA torch
        tensor (decoded on the GPU on torch's current stream; the tensor's container is
        uploaded once and kept in device memory while the archive lives; the first device decode
        of each tensor waits for the stream and checks every chunk). The container's CRC-32
        recorded in the index is checked before decoding. Raises :class:`SaraphisError`
        (``ERR_NOT_FOUND``, ``ERR_CHECKSUM`` naming the tensor, ``ERR_DESTINATION``,
        ``ERR_DEVICE``)."""
        i = self._index(key)
        info = self.info(i)
        if out is None:
            out = np.empty(info.shape, dtype=numpy_dtype(info.dtype_code))
        if _is_torch(out):
            if not out.is_contiguous():
                raise SaraphisError(_ffi.ERR_DESTINATION, "out must be contiguous")
            _check_out(out, info, _torch_code(out), out.numel() * out.element_size())
            if out.is_cuda:
                _check(_ffi.lib.saraphis_archive_decompress_device(
                    self._h, i, ctypes.c_void_p(out.data_ptr()), info.original_bytes, _stream_of(out)))
                return out
            _check(_ffi.lib.saraphis_archive_decompress(self._h, i, ctypes.c_void_p(out.data_ptr()),
                                                        info.original_bytes))
            return out
        if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
            raise SaraphisError(_ffi.ERR_DESTINATION, "out must be a writeable C-contiguous array")
        _check_out(out, info, host_view(out).dtype, out.nbytes)
        _check(_ffi.lib.saraphis_archive_decompress(self._h, i, ctypes.c_void_p(out.ctypes.data), out.nbytes))
        return out

    def read_many_cuda(self, outputs: Dict[str, Any]) -> None:
        """Decode many tensors into CUDA torch tensors in one call (``{name: out}``; all on one
        device, on its current stream): warm lossless-v2 tensors share one launch
        (``saraphis_archive_decompress_device_batch``). Every output is checked before
        anything is enqueued."""
        if not outputs:
            return
        items = (_ffi.ArchiveOutput * len(outputs))()
        dev = None
        for k, (name, out) in enumerate(outputs.items()):
            i = self._index(name)
            info = self.info(i)
            if not (_is_torch(out) and out.is_cuda and out.is_contiguous()):
                raise SaraphisError(_ffi.ERR_DESTINATION, f"{name}: out must be a contiguous CUDA tensor")
            _check_out(out, info, _torch_code(out), out.numel() * out.element_size())
            dev = out
            items[k] = _ffi.ArchiveOutput(i, out.data_ptr(), info.original_bytes)
        _check(_ffi.lib.saraphis_archive_decompress_device_batch(self._h, items, len(outputs), _stream_of(dev)))

    def close(self) -> None:
        """Free the archive (device work enqueued through it must be finished). Idempotent."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            _ffi.lib.saraphis_archive_free(h)
        self._keep = None

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Residency:
    """Decoded tensors of an :class:`Archive` cached in host memory under ``budget_bytes``
    (bytes of decoded tensors), evicted by priority then least recent use; ``policy`` is
    ``"conservative"`` (evict just enough), ``"balanced"`` (down to 90% of the budget, default)
    or ``"aggressive"`` (75%). An engine's loop: ``prefetch`` the next layers, ``acquire`` a
    layer's weights (a read-only numpy view, valid until ``release``), compute, ``release``.
    Thread-safe; a tensor is decoded once however many threads acquire it at once.

    Raises :class:`SaraphisError`: ``ERR_BUDGET`` when pinned tensors leave no room (or one
    tensor exceeds the budget), ``ERR_NOT_FOUND``, ``ERR_INVALID_ARGUMENT``, and the archive's
    data errors."""

    _POLICIES = {"conservative": 0, "balanced": 1, "aggressive": 2, "default": 3}
    _PLACEMENTS = {"auto": 0, "require_gpu": 1, "require_cpu": 2}

    def __init__(self, archive: "Archive", budget_bytes: int, policy: str = "balanced", *,
                 device: bool = False):
        """``device=True``: the device tier (decoded tensors in the GPU memory of the archive's
        system, decoded on the GPU; use :meth:`acquire_device`); ``budget_bytes`` 0 then takes
        the config's ``gpu_memory_limit_mb``. ``policy="default"``: the config's
        ``swap_policy``."""
        if policy not in self._POLICIES:
            raise ValueError(f"policy must be one of {sorted(self._POLICIES)}, not {policy!r}")
        h = ctypes.c_void_p()
        new = _ffi.lib.saraphis_residency_new_device if device else _ffi.lib.saraphis_residency_new
        _check(new(archive._h, int(budget_bytes), self._POLICIES[policy], ctypes.byref(h)))
        self._h = h
        self._device = device
        self._archive = archive  # names and infos; the library keeps the archive itself alive

    def acquire_device(self, key: Union[str, int]) -> Any:
        """Device tier: tensor ``key`` decoded in GPU memory, as a torch CUDA tensor over the
        manager's memory (no copy), pinned until :meth:`release_device`. torch's current stream
        is made to wait for the decode; use the tensor on that stream only, and not after the
        release. Requires torch."""
        import torch

        i = self._archive._index(key)
        info = self._archive.info(i)
        dev = torch.device("cuda", torch.cuda.current_device())
        p = ctypes.c_void_p()
        n = ctypes.c_size_t()
        _check(_ffi.lib.saraphis_residency_acquire_device(
            self._h, i, _stream_of(torch.empty(0, device=dev)), ctypes.byref(p), ctypes.byref(n)))
        dtype = torch_dtype(info.dtype_code)
        if n.value == 0:
            return torch.empty(info.shape, dtype=dtype, device=dev)
        # A byte view of the block (torch reads __cuda_array_interface__ without a copy), then
        # the tensor's dtype and shape (bfloat16 has no typestr of its own).
        holder = type("_DeviceBytes", (), {})()
        holder.__cuda_array_interface__ = {
            "shape": (n.value,), "typestr": "|u1", "data": (p.value, False),
            "version": 3, "strides": None, "stream": None,
        }
        return torch.as_tensor(holder, device=dev).view(dtype).reshape(info.shape)

    def release_device(self, key: Union[str, int]) -> None:
        """Release one :meth:`acquire_device` of ``key`` after the work torch's current stream
        has been given on it (an event marks the end of that use)."""
        import torch

        s = _stream_of(torch.empty(0, device=torch.device("cuda", torch.cuda.current_device())))
        _check(_ffi.lib.saraphis_residency_release_device(self._h, self._archive._index(key), s))

    def set_placement(self, key: Union[str, int], placement: str) -> None:
        """Device tier: where ``key`` is decoded: ``"auto"`` (GPU, the CPU when the GPU cannot),
        ``"require_gpu"`` (never the CPU: an error instead) or ``"require_cpu"`` (CPU bursting)."""
        if placement not in self._PLACEMENTS:
            raise ValueError(f"placement must be one of {sorted(self._PLACEMENTS)}, not {placement!r}")
        _check(_ffi.lib.saraphis_residency_set_placement(
            self._h, self._archive._index(key), self._PLACEMENTS[placement]))

    def acquire(self, key: Union[str, int]) -> np.ndarray:
        """Tensor ``key`` (name or index), decoded, as a read-only numpy array over the
        manager's memory (no copy), pinned until :meth:`release`; do not use it after."""
        i = self._archive._index(key)
        info = self._archive.info(i)
        p = ctypes.c_void_p()
        n = ctypes.c_size_t()
        _check(_ffi.lib.saraphis_residency_acquire(self._h, i, ctypes.byref(p), ctypes.byref(n)))
        if n.value == 0:
            return np.empty(info.shape, dtype=numpy_dtype(info.dtype_code))
        buf = (ctypes.c_uint8 * n.value).from_address(p.value)
        a = np.frombuffer(buf, dtype=numpy_dtype(info.dtype_code)).reshape(info.shape)
        a.flags.writeable = False
        return a

    def release(self, key: Union[str, int]) -> None:
        """Release one :meth:`acquire` of ``key``."""
        _check(_ffi.lib.saraphis_residency_release(self._h, self._archive._index(key)))

    def prefetch(self, keys: List[Union[str, int]]) -> int:
        """Start decoding ``keys`` in the background; returns how many decodes began."""
        idx = [self._archive._index(k) for k in keys]
        arr = (ctypes.c_size_t * max(len(idx), 1))(*idx)
        started = ctypes.c_size_t()
        _check(_ffi.lib.saraphis_residency_prefetch(self._h, arr, len(idx), ctypes.byref(started)))
        return started.value

    def set_priority(self, key: Union[str, int], priority: int) -> None:
        """Eviction priority of ``key`` (higher stays longer; default 0)."""
        _check(_ffi.lib.saraphis_residency_set_priority(self._h, self._archive._index(key), priority))

    def stats(self) -> Dict[str, Any]:
        """State and counters (see ``saraphis_residency_stats_json``): resident, peak and pinned
        bytes, acquires, hits, misses, evictions, decodes, prefetches, memory_state, ..."""
        import json

        need = ctypes.c_size_t()
        _check(_ffi.lib.saraphis_residency_stats_json(self._h, None, 0, ctypes.byref(need)))
        buf = ctypes.create_string_buffer(need.value + 256)
        _check(_ffi.lib.saraphis_residency_stats_json(self._h, buf, len(buf), ctypes.byref(need)))
        return json.loads(buf.value.decode())

    def close(self) -> None:
        """Free the manager (waits for its prefetches); arrays from acquire become invalid."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            _ffi.lib.saraphis_residency_free(h)

    def __enter__(self) -> "Residency":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


from . import numpy  # noqa: E402,F401  (saraphis.numpy.save_file / load_file)
