"""Atomic ``torch.save``: write a temporary file beside the target, then rename.

Several workers share the cache and artifacts folders and read files another
worker may be writing; a worker can also be killed mid-write. Writing to a
temporary file in the same folder, fsyncing it and ``os.replace``-ing it onto
the final name means a concurrent reader sees either no file (or the old one)
or the whole new one, never a truncated file under the final name. The
temporary file is removed on any failure.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (parent folder created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


__all__ = ["atomic_torch_save"]
