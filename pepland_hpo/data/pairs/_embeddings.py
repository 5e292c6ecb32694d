"""User-supplied protein embeddings (ESM, ProtT5, ... computed elsewhere): nothing is downloaded.

``load_protein_embeddings(path, sequences) -> [len(sequences), E]`` float32, one
row per requested protein. A file says which protein each vector belongs to by
the sequence itself or by the sha256 of its upper-case letters
(``protein_key(sequence)``), in one of two layouts:

* ``.npz``, a table: an ``embeddings`` array ``[n, E]`` beside a ``sequences``
  or ``sha256`` array of ``n`` strings;
* ``.npz``, one array per protein: ``np.savez(path, **{sequence_or_sha256: vector})``;
* ``.parquet``: a ``sequence`` or ``sha256`` column, the vector either in one
  list column ``embedding`` or in the remaining numeric columns (pandas needs
  pyarrow or fastparquet to read it).

Read with ``allow_pickle=False``: an ``.npz`` holding objects is refused, never
unpickled. A requested protein with no vector, vectors of different lengths or
a non-finite value is a ``UserInputError`` naming the file (exit 2).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from pepland_hpo.errors import UserInputError

KEY_COLUMNS = ("sequence", "sequences", "sha256")


def protein_key(sequence: str) -> str:
    """The sha256 (hex) an embedding file may use instead of the sequence."""
    return hashlib.sha256(sequence.strip().upper().encode()).hexdigest()


def _table_npz(data, path: str) -> dict[str, np.ndarray]:
    vectors = np.asarray(data["embeddings"])
    key_name = next((k for k in KEY_COLUMNS if k in data.files), None)
    if key_name is None:
        raise UserInputError(f"{path}: 'embeddings' needs a 'sequences' or 'sha256' array beside it "
                             f"naming each row's protein; arrays found: {', '.join(data.files)}")
    keys = [str(k) for k in np.asarray(data[key_name]).reshape(-1)]
    if vectors.ndim != 2 or vectors.shape[0] != len(keys):
        raise UserInputError(f"{path}: 'embeddings' must be [n, E] with n = {len(keys)} ({key_name!r} entries), "
                             f"got shape {tuple(vectors.shape)}")
    return dict(zip(keys, vectors))


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused
        raise UserInputError(f"{path}: cannot read the embeddings without unpickling ({exc}); "
                             "save plain float arrays (np.savez)") from None
    except (OSError, EOFError) as exc:
        raise UserInputError(f"{path}: not a readable .npz file ({exc})") from None
    if not hasattr(data, "files"):
        raise UserInputError(f"{path}: a single array; expected an .npz of named arrays (np.savez)")
    with data:
        try:
            if "embeddings" in data.files:
                return _table_npz(data, path)
            return {name: np.asarray(data[name]) for name in data.files}
        except ValueError as exc:
            raise UserInputError(f"{path}: cannot read the embeddings without unpickling ({exc})") from None


def table_from_frame(frame, path: str) -> dict[str, np.ndarray]:
    """``{key: vector}`` of a data frame with a key column and the vector (see the module docstring)."""
    lowered = {str(c).lower(): c for c in frame.columns}
    key_col = next((lowered[k] for k in KEY_COLUMNS if k in lowered), None)
    if key_col is None:
        raise UserInputError(f"{path}: no 'sequence' or 'sha256' column; columns found: "
                             f"{', '.join(map(str, frame.columns))}")
    if "embedding" in lowered:
        vectors = [np.asarray(v, dtype=np.float64).reshape(-1) for v in frame[lowered["embedding"]]]
    else:
        numeric = [c for c in frame.columns if c != key_col and np.issubdtype(frame[c].dtype, np.number)]
        if not numeric:
            raise UserInputError(f"{path}: no 'embedding' column and no numeric columns beside {key_col!r}")
        vectors = list(frame[numeric].to_numpy(dtype=np.float64))
    return dict(zip((str(k) for k in frame[key_col]), vectors))


def _read_parquet(path: str) -> dict[str, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise UserInputError(f"{path}: reading parquet needs pyarrow or fastparquet (pip install pyarrow), "
                             "or save the embeddings as .npz") from None
    except Exception as exc:  # pyarrow raises its own error types for a broken file
        raise UserInputError(f"{path}: not a readable parquet file ({exc})") from None
    return table_from_frame(frame, path)


def read_embedding_file(path) -> dict[str, np.ndarray]:
    """``{sequence or sha256: vector}`` of an embeddings file (``.npz`` or ``.parquet``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserInputError(f"protein embeddings file not found: {p}")
    if p.suffix.lower() == ".npz":
        return _read_npz(str(p))
    if p.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(str(p))
    raise UserInputError(f"{p}: protein embeddings must be .npz or .parquet")


def load_protein_embeddings(path, sequences: list[str]) -> np.ndarray:
    """``[len(sequences), E]`` float32: each protein's vector, found by its sequence or its sha256."""
    table = read_embedding_file(path)
    by_key: dict[str, np.ndarray] = {}
    for key, vector in table.items():  # a sequence is matched upper-case, a sha256 lower-case hex
        by_key[key.strip().upper()] = by_key[key.strip().lower()] = vector
    rows, missing = [], []
    for seq in sequences:
        vector = by_key.get(seq)
        if vector is None:
            vector = by_key.get(protein_key(seq))
        if vector is None:
            missing.append(seq)
            continue
        rows.append(np.asarray(vector, dtype=np.float64).reshape(-1))
    if missing:
        first = missing[0]
        shown = first if len(first) <= 40 else f"{first[:40]}... ({len(first)} residues)"
        raise UserInputError(
            f"{path}: no embedding for {len(missing)} of {len(sequences)} protein(s); first: {shown} "
            f"(sha256 {protein_key(first)}); key each vector by the sequence or its sha256")
    sizes = sorted({r.size for r in rows})
    if len(sizes) != 1 or sizes[0] == 0:
        raise UserInputError(f"{path}: embeddings must all have one length, found lengths {sizes[:5]}")
    out = np.stack(rows)
    if not np.all(np.isfinite(out)):
        raise UserInputError(f"{path}: embeddings hold NaN or infinite values")
    return out.astype(np.float32)


__all__ = ["load_protein_embeddings", "protein_key", "read_embedding_file", "table_from_frame"]
