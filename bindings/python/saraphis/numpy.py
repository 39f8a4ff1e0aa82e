"""numpy arrays to and from ``.sph`` archives, mirroring ``safetensors.numpy``: ``save_file``,
``load_file``, ``save``, ``load``. Needs only numpy (BF16 tensors need ``ml_dtypes``)."""

from __future__ import annotations

import os
from typing import Dict, Optional, Union

import numpy as np

from ._core import Params, System, host_view
from ._model import archive_bytes, check_sizes, write_atomically

__all__ = ["save", "save_file", "load", "load_file"]


def save(tensors: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]] = None, *,
         lossless: bool = True, abs: Optional[float] = None, rel: Optional[float] = None,
         codec: Optional[str] = None, prime: Optional[int] = None, chunk_elems: Optional[int] = None,
         system: Optional[System] = None) -> bytes:
    """The ``.sph`` archive of ``tensors`` (name -> array, any supported dtype, 0-8 dims) as
    bytes. Codec choice as :func:`saraphis.compress` (bit-exact by default; ``abs=`` /
    ``rel=`` bound every float element; integer and bool tensors stay bit-exact). Tensors
    are stored in name order with ``metadata`` (str -> str). Raises
    :class:`saraphis.SaraphisError` or ``ValueError`` (duplicate names, bad metadata)."""
    views = [(k, host_view(tensors[k])) for k in sorted(tensors)]
    check_sizes(views)
    return archive_bytes(views, metadata, Params(lossless, abs, rel, codec, prime, None, chunk_elems),
                         system)


def save_file(tensors: Dict[str, np.ndarray], filename: Union[str, "os.PathLike[str]"],
              metadata: Optional[Dict[str, str]] = None, **codec) -> None:
    """:func:`save` to ``filename``, written to a temporary file in the same directory and
    renamed into place when complete (an existing file is replaced only by a whole archive)."""
    write_atomically(filename, save(tensors, metadata, **codec))


def load(data: bytes, system: Optional[System] = None) -> Dict[str, np.ndarray]:
    """Every tensor of an archive held in ``data``, decoded (name -> numpy array)."""
    from . import Archive

    with Archive(data, system) as a:
        return {k: a[k] for k in a.keys()}


def load_file(filename: Union[str, "os.PathLike[str]"], system: Optional[System] = None) -> Dict[str, np.ndarray]:
    """Every tensor of the archive file ``filename`` (memory-mapped), decoded (name -> numpy
    array). For one tensor at a time use :class:`saraphis.Archive`. Raises
    :class:`saraphis.SaraphisError` (``ERR_IO``, ``ERR_CHECKSUM`` naming the tensor, ...)."""
    from . import Archive

    with Archive(filename, system) as a:
        return {k: a[k] for k in a.keys()}
