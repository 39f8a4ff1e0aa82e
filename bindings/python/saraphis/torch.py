"""torch tensors to and from ``.sph`` archives, mirroring ``safetensors.torch``: ``save_file``,
``load_file``, ``save``, ``load``. ``load_file(path, device="cuda:0")`` decodes every tensor on
the GPU straight into CUDA tensors (torch's current stream; a CUDA build of the library)."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

import torch

from ._core import Params, System, host_view, torch_dtype
from ._model import archive_bytes, check_sizes, write_atomically

__all__ = ["save", "save_file", "load", "load_file"]


def save(tensors: Dict[str, "torch.Tensor"], metadata: Optional[Dict[str, str]] = None, *,
         lossless: bool = True, abs: Optional[float] = None, rel: Optional[float] = None,
         codec: Optional[str] = None, prime: Optional[int] = None, chunk_elems: Optional[int] = None,
         system: Optional[System] = None) -> bytes:
    """The ``.sph`` archive of ``tensors`` (name -> tensor, CPU or CUDA (copied to the host),
    any supported dtype) as bytes; codec choice as :func:`saraphis.compress`."""
    views = [(k, host_view(tensors[k].detach().cpu())) for k in sorted(tensors)]
    check_sizes(views)
    return archive_bytes(views, metadata, Params(lossless, abs, rel, codec, prime, None, chunk_elems),
                         system)


def save_file(tensors: Dict[str, "torch.Tensor"], filename: Union[str, "os.PathLike[str]"],
              metadata: Optional[Dict[str, str]] = None, **codec: Any) -> None:
    """:func:`save` to ``filename`` (temporary file in the same directory, renamed when complete)."""
    write_atomically(filename, save(tensors, metadata, **codec))


def _load(a: Any, device: Union[str, "torch.device"]) -> Dict[str, "torch.Tensor"]:
    dev = torch.device(device)
    out: Dict[str, torch.Tensor] = {}
    for k in a.keys():
        info = a.info(k)
        t = torch.empty(info.shape, dtype=torch_dtype(info.dtype_code), device=dev)
        a.read(k, out=t)
        out[k] = t
    if dev.type == "cuda":
        torch.cuda.current_stream(dev).synchronize()
    return out


def load(data: bytes, device: Union[str, "torch.device"] = "cpu",
         system: Optional[System] = None) -> Dict[str, "torch.Tensor"]:
    """Every tensor of an archive held in ``data``, decoded on ``device`` (name -> tensor)."""
    from . import Archive

    with Archive(data, system) as a:
        return _load(a, device)


def load_file(filename: Union[str, "os.PathLike[str]"], device: Union[str, "torch.device"] = "cpu",
              system: Optional[System] = None) -> Dict[str, "torch.Tensor"]:
    """Every tensor of the archive file ``filename``, decoded into tensors on ``device``
    (``"cpu"`` or ``"cuda:N"``: decoded on that GPU, on its current stream, which this call then
    waits for). The system must serve that GPU (``saraphis.System(device="cuda:N")``; the
    default system takes GPU 0). Raises :class:`saraphis.SaraphisError`."""
    from . import Archive

    with Archive(filename, system) as a:
        return _load(a, device)
