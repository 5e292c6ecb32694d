"""Partition files: named train/valid/test index lists, as JSON or as hestia-good writes them.

Two formats, told apart by their bytes unless ``format`` says (a gzip
wrapper is removed first, whatever the format):

* ``json``: ``{name: {train: [...], valid: [...], test: [...]}, ...}``, one or
  more named partitions (a bare ``{train, valid, test}`` is one partition named
  after the file). Part names are case-insensitive; ``val``/``validation`` mean
  ``valid``; ``valid`` may be missing (the caller sets some of train aside).
* ``hestia``: hestia-good's ``HestiaDatasetGenerator.save_precalculated``: a
  pickle (gzip-compressed or not) of ``{"partitions": {threshold: {"train",
  "valid", "test"}, ..., "random": {...}}, "metadata": {...}}`` (older releases
  wrote the same as gzip-compressed JSON, and a bare ``{threshold: parts}`` is
  read too). A partition is named by its threshold (``0.3``) or key
  (``random``). The pickle is read by :mod:`.safe_pickle`: nothing in it runs.
  Which rows its indices mean is :mod:`.hestia_reading`'s question.

Values are kept as the file gives them (row indices, or ids when the caller
matches them against a column); :mod:`.partitions` checks them.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pepland_hpo.data.splits._check import part_name
from pepland_hpo.data.splits._safe_pickle import is_pickle, load_plain_pickle
from pepland_hpo.errors import UserInputError

FORMATS = ("auto", "json", "hestia")
MAX_BYTES = 512 * 2**20  # decompressed; a partition file of 10^7 indices is ~100 MB
_GZIP_MAGIC = b"\x1f\x8b"
# hestia-good keeps each threshold's clusters beside its parts in memory; save_precalculated
# moves them to the metadata, but files written by older releases may still carry them
_HESTIA_EXTRA_KEYS = ("clusters",)


@dataclass
class RawPartition:
    name: str
    parts: dict[str, list]  # "train" / "valid" / "test" -> values as the file gives them


@dataclass
class PartitionFile:
    path: str
    format: str  # "json" | "hestia"
    partitions: list[RawPartition]
    notes: list[str] = field(default_factory=list)


def _bytes(path: Path) -> tuple[bytes, bool]:
    """The file's content, un-gzipped (bounded: a small file may inflate to gigabytes), and whether it was."""
    if not path.is_file():
        raise UserInputError(f"split file not found: {path}")
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw, False
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserInputError(f"{path}: gzip-compressed but unreadable ({exc})") from None
    if len(data) > MAX_BYTES:
        raise UserInputError(f"{path}: decompresses to more than {MAX_BYTES // 2**20} MB; not a partition file")
    return data, True


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a partition or part given twice is a mistake to name
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserInputError(f"{where}: neither a pickle nor valid JSON ({exc})") from None


def _parts(name: str, raw: Any, where: str, extra_ok: tuple[str, ...] = ()) -> dict[str, list]:
    if not isinstance(raw, Mapping):
        raise UserInputError(f"{where}: partition {name!r}: expected a mapping of train/valid/test to "
                             f"index lists, got {type(raw).__name__}")
    if raw and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in raw):
        folds = ", ".join(str(k) for k in list(raw)[:6])
        raise UserInputError(f"{where}: partition {name!r} holds cross-validation folds (keys {folds}), not "
                             "train/valid/test parts; a column of fold numbers (split.column) is read as folds")
    parts: dict[str, list] = {}
    for key, values in raw.items():
        part = part_name(key)
        if part is None:
            if str(key) in extra_ok:
                continue
            raise UserInputError(f"{where}: partition {name!r}: unknown part {key!r}; use train, valid "
                                 "(or val, validation), test")
        if part in parts:
            raise UserInputError(f"{where}: partition {name!r} gives the {part} part twice")
        if isinstance(values, np.ndarray):
            values = values.reshape(-1).tolist()
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise UserInputError(f"{where}: partition {name!r}: {key} must be a list, got {type(values).__name__}")
        parts[part] = list(values)
    return parts


def partition_name(key: Any) -> str:
    """How a partition key is named: hestia-good's float thresholds as written (``0.3``), others as text."""
    if isinstance(key, (float, np.floating)):
        return repr(float(key))  # 0.3, not 0.30000000000000004 (hestia's keys are th / 100)
    return str(key)


def _plain_json(obj: Any, path: Path) -> list[RawPartition]:
    where = str(path)
    if not isinstance(obj, Mapping) or not obj:
        raise UserInputError(f"{where}: expected {{name: {{train: [...], valid: [...], test: [...]}}}}")
    if all(part_name(k) is not None for k in obj):  # one partition without a name
        return [RawPartition(path.stem, _parts(path.stem, obj, where))]
    return [RawPartition(str(k), _parts(str(k), v, where)) for k, v in obj.items()]


def _hestia(obj: Any, path: Path) -> list[RawPartition]:
    where = str(path)
    if isinstance(obj, Mapping) and isinstance(obj.get("partitions"), Mapping):
        obj = obj["partitions"]
    if not isinstance(obj, Mapping) or not obj:
        raise UserInputError(f"{where}: expected hestia-good's partitions, {{threshold: {{train, valid, test}}}}, "
                             f"got {type(obj).__name__}")
    named = [(partition_name(k), v) for k, v in obj.items()]
    return [RawPartition(name, _parts(name, v, where, _HESTIA_EXTRA_KEYS)) for name, v in named]


def read_partition_file(path: str | Path, format: str = "auto") -> PartitionFile:
    """The named partitions of a JSON or hestia-good file (see the module); nothing in the file runs."""
    if format not in FORMATS:
        raise UserInputError(f"split format {format!r}: use one of {', '.join(FORMATS)}")
    path = Path(path).expanduser()
    data, gzipped = _bytes(path)
    notes = ["gzip-compressed"] if gzipped else []
    if is_pickle(data):
        if format == "json":
            raise UserInputError(f"{path}: is a pickle, not JSON; a hestia-good file is read with format: hestia")
        notes.append("a pickle, read without running anything in it: containers and numpy arrays only")
        return PartitionFile(str(path), "hestia", _hestia(load_plain_pickle(data, str(path)), path), notes)
    obj = _json(data, str(path))
    hestia_json = isinstance(obj, Mapping) and isinstance(obj.get("partitions"), Mapping)
    if format == "hestia" or (format == "auto" and hestia_json):
        notes.append("hestia-good's partitions as JSON")
        return PartitionFile(str(path), "hestia", _hestia(obj, path), notes)
    return PartitionFile(str(path), "json", _plain_json(obj, path), notes)


__all__ = ["FORMATS", "PartitionFile", "RawPartition", "partition_name", "read_partition_file"]
