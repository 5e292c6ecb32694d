"""On-disk cache of featurised molecules: one file of flat tensors per (file, molecule column, featuriser).

Layout: every per-molecule field is concatenated over the dataset with
pointer arrays (``node_ptr``, ``edge_ptr``, ``spd_ptr``, ``pair_ptr``) marking
where molecule ``i`` starts, in the smallest exact dtype (one-hot features as
uint8, local node/edge ids as int16 when they fit), plus a JSON string of
metadata. One ``torch.save`` file loads with ``weights_only=True`` and
``mmap=True``, so a reload costs a file open and a JSON parse — not a copy —
and each worker maps the same pages.

Writes go through :func:`pepland_hpo.atomic.atomic_torch_save` (temporary file
in the same folder, then ``os.replace``): a reader sees either the old file or
the whole new one, never half of one.
Two workers that miss at the same time both featurise and the last rename
wins; the contents are identical, so that costs time, not correctness.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from pepland_hpo import paths

CACHE_FORMAT = "2"  # 2: molecules only, labels are attached on load


def cache_key(content_hash: str, **choices) -> str:
    """sha256 over the data hash, the featuriser version and what picks the molecules.

    ``choices`` name the molecules (column, layout, atom limit), never the
    labels or the task: one file's cache serves every target.
    """
    from pepland_hpo.data.featurize import FEATURIZER_VERSION, PAIR_HOPS

    payload = {
        "data": content_hash, "featurizer": FEATURIZER_VERSION, "hops": PAIR_HOPS,
        "format": CACHE_FORMAT, **choices,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_path(content_hash: str, key: str) -> Path:
    return paths.cache_dir() / f"{content_hash[:16]}-{key[:16]}.pt"


def _ids_dtype(max_value: int) -> np.dtype:
    return np.dtype(np.int16) if max_value < np.iinfo(np.int16).max else np.dtype(np.int32)


def pack(per_mol: list[dict[str, np.ndarray]], targets: np.ndarray, meta: dict) -> dict:
    """Concatenate per-molecule arrays (from ``featurize.mol_arrays``) into compact flat tensors."""
    from pepland_hpo.data.featurize import ATOM_DIM

    def cat(key, axis=0):
        return np.concatenate([m[key] for m in per_mol], axis=axis)

    def ptr(counts):
        out = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=out[1:])
        return torch.from_numpy(out)

    n_nodes = [m["x"].shape[0] for m in per_mol]
    n_edges = [m["edge_index"].shape[1] for m in per_mol]
    n_pairs = [m["pair_dist"].shape[0] for m in per_mol]
    n_frags = [m["frag_x"].shape[0] for m in per_mol]
    n_fedges = [m["frag_edge_index"].shape[1] for m in per_mol]
    n_fp = [m["fp_index"].shape[0] for m in per_mol]
    x = cat("x")
    node_ids = _ids_dtype(max(n_nodes))
    edge_ids = _ids_dtype(max(max(n_edges), 1))
    t = torch.from_numpy
    return {
        "x_bits": t(x[:, : ATOM_DIM - 1].astype(np.uint8)),
        "x_mass": t(np.ascontiguousarray(x[:, ATOM_DIM - 1])),
        "edge_index": t(cat("edge_index", axis=1).astype(node_ids)),
        "edge_attr": t(cat("edge_attr").astype(np.uint8)),
        "degree": t(np.minimum(cat("degree"), 255).astype(np.uint8)),
        "spd": t(cat("spd")),
        "pair_index": t(cat("pair_index", axis=1).astype(node_ids)),
        "pair_dist": t(cat("pair_dist").astype(np.uint8)),
        "pair_path": t(cat("pair_path").astype(edge_ids)),
        # fragment view: ids local to the molecule; frag_x rows are one-hots, scaled
        # counts and log-counts, kept float16 (exact for the one-hots, 3 digits for the rest)
        "atom_frag": t(cat("atom_frag").astype(node_ids)),
        "frag_x": t(cat("frag_x").astype(np.float16)),
        "frag_edge_index": t(cat("frag_edge_index", axis=1).astype(node_ids)),
        "fp_index": t(cat("fp_index").astype(np.int16)),
        "fp_count": t(np.minimum(cat("fp_count"), 255).astype(np.uint8)),
        "y": t(np.ascontiguousarray(targets, dtype=np.float32)),
        "node_ptr": ptr(n_nodes),
        "edge_ptr": ptr(n_edges),
        "spd_ptr": ptr([n * n for n in n_nodes]),
        "pair_ptr": ptr(n_pairs),
        "frag_ptr": ptr(n_frags),
        "fedge_ptr": ptr(n_fedges),
        "fp_ptr": ptr(n_fp),
        "meta": json.dumps(meta),
    }


def load(path: Path) -> dict | None:
    """The cached dict, or None when absent or unreadable (then the caller rebuilds it)."""
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, weights_only=True, mmap=True)
    except Exception:
        return None
    if not isinstance(obj, dict) or "meta" not in obj:
        return None
    return obj
