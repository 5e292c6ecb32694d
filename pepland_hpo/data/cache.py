"""On-disk cache of featurised molecules: one folder of shards per (file, molecule column, featuriser).

Layout of an entry (``<cache>/<data hash>-<key>/``)::

    shard-00000.pt   the molecules of input records 0..CHUNK-1 (valid ones), flat tensors
    shard-00001.pt   the next chunk, ...
    manifest.json    written last: shard list, SMILES, line numbers, invalid rows

A shard concatenates every per-molecule field over its molecules with pointer
arrays (``node_ptr``, ``edge_ptr``, ``pair_ptr``, ...) marking where molecule
``i`` starts, in the smallest exact dtype (one-hot features as uint8, local
node/edge ids as int16 when they fit). It loads with ``weights_only=True`` and
``mmap=True`` when a graph of it is first read (:class:`Shards`), so reopening an
entry costs one JSON parse — not a copy — and every worker maps the same pages.

**Growing linearly with atoms.** Nothing here is quadratic in a molecule's
size: the dense all-pair distances (``spd``, ``N²`` bytes, 435 KB for a
660-atom peptide) are not stored but recomputed from the bonds when a graph is
read (:func:`pepland_hpo.data.topology.spd_from_edges`), in the loader's worker
processes. What is stored is ~320 bytes an atom at every size (two thirds of it
the near pairs' paths, ``pair_*``), measured flat within 2 % from 100 to 700
atoms by ``scripts/bench/featurize.py --corpus``, which also measures the
alternative: storing the pairs within the spatial encoding's reach
(``ModelConfig.max_distance``, 32) sparsely. Why recompute:

* bytes: the sparse pairs cost 177-224 bytes an atom more (the cache 1.6x
  larger; below ~200 atoms more than the dense matrix), since a peptide has
  most of its pairs within 32 hops;
* exactness without coupling: the reach is a model setting, so a sparse cache
  would be exact only for models whose ``max_distance`` it was built for (a
  study searching larger values would silently see clipped distances, and the
  subgraph augmentation orders atoms by their full distance); recomputing runs
  the featuriser's own function, so the graphs are identical by construction;
* the price, measured: recomputing costs 3-11x more loader time than expanding
  the sparse pairs (per batch of 32: 7.9 vs 2.9 ms at 100-200 atoms, 173 vs
  16 ms at 600-700, at load average 4 on the shared 2-core machine: a dozen
  whole-matrix passes of :func:`.topology._hop_matrix` plus two per ring
  endpoint, against one fill). Each process keeps the first 256 MB of recomputed
  matrices (:meth:`Shards.spd`), so a dataset of c-CPP's size pays only in its
  first epoch; loader worker processes (``num_workers``) spread the rest. If a
  GPU run on large molecules ever waits on its loader, the sparse form is the
  measured way out.

Every write is atomic (temporary file in the same folder, then ``os.replace``):
a crash leaves either no shard or a whole one, and the entry counts only once
its manifest exists (it records each shard's size, checked on every open), so
a half-built entry is never read; a rebuild reuses the whole shards it finds.
Two workers that miss at the same time both build and the last rename wins; the contents are identical, so that costs time, not
correctness.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from pepland_hpo import paths
from pepland_hpo.atomic import atomic_torch_save

CACHE_FORMAT = "3"  # 3: a folder of shards, no dense distances
MANIFEST = "manifest.json"
# per-molecule fields and the pointer array that splits each of them
POINTERS = ("node_ptr", "edge_ptr", "pair_ptr", "frag_ptr", "fedge_ptr", "fp_ptr")
# recomputed distance matrices a process keeps (see Shards.spd)
SPD_MEMO_BYTES = 256 * 2**20


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


def entry_dir(content_hash: str, key: str) -> Path:
    return paths.cache_dir() / f"{content_hash[:16]}-{key[:16]}"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.pt"


def _ids_dtype(max_value: int) -> np.dtype:
    return np.dtype(np.int16) if max_value < np.iinfo(np.int16).max else np.dtype(np.int32)


def compact(m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One molecule's arrays (``featurize.mol_arrays(..., dense=False)``) in the cache's dtypes.

    Done per molecule, as soon as it is featurised, so a chunk never holds the wide
    int64/float32 arrays of more than one molecule."""
    from pepland_hpo.data.featurize import ATOM_DIM

    node_ids = _ids_dtype(m["x"].shape[0])
    edge_ids = _ids_dtype(max(m["edge_index"].shape[1], 1))
    x = m["x"]
    return {
        "x_bits": x[:, : ATOM_DIM - 1].astype(np.uint8),
        "x_mass": np.ascontiguousarray(x[:, ATOM_DIM - 1]),
        "edge_index": m["edge_index"].astype(node_ids),
        "edge_attr": m["edge_attr"].astype(np.uint8),
        "degree": np.minimum(m["degree"], 255).astype(np.uint8),
        "pair_index": m["pair_index"].astype(node_ids),
        "pair_dist": m["pair_dist"].astype(np.uint8),
        "pair_path": m["pair_path"].astype(edge_ids),
        # fragment view: ids local to the molecule; frag_x rows are one-hots, scaled
        # counts and log-counts, kept float16 (exact for the one-hots, 3 digits for the rest)
        "atom_frag": m["atom_frag"].astype(node_ids),
        "frag_x": m["frag_x"].astype(np.float16),
        "frag_edge_index": m["frag_edge_index"].astype(node_ids),
        "fp_index": m["fp_index"].astype(np.int16),
        "fp_count": np.minimum(m["fp_count"], 255).astype(np.uint8),
    }


# (field, axis along which molecules are concatenated, empty shape, dtype when empty, pointer)
_FIELDS = (
    ("x_bits", 0, (0, 37), np.uint8, "node_ptr"), ("x_mass", 0, (0,), np.float32, None),
    ("edge_index", 1, (2, 0), np.int16, "edge_ptr"), ("edge_attr", 0, (0, 14), np.uint8, None),
    ("degree", 0, (0,), np.uint8, None), ("pair_index", 1, (2, 0), np.int16, None),
    ("pair_dist", 0, (0,), np.uint8, "pair_ptr"), ("pair_path", 0, (0, 5), np.int16, None),
    ("atom_frag", 0, (0,), np.int16, None), ("frag_x", 0, (0, 57), np.float16, "frag_ptr"),
    ("frag_edge_index", 1, (2, 0), np.int16, "fedge_ptr"), ("fp_index", 0, (0,), np.int16, "fp_ptr"),
    ("fp_count", 0, (0,), np.uint8, None),
)


def pack(per_mol: list[dict[str, np.ndarray]], meta: dict) -> dict:
    """Concatenate molecules (each from :func:`compact`) into one shard with pointer arrays.

    A field's dtype is the widest of its molecules' (int16 ids unless a molecule needs int32)."""
    out = {}
    for key, axis, empty, dtype, ptr in _FIELDS:
        parts = [m[key] for m in per_mol]
        out[key] = torch.from_numpy(np.concatenate(parts, axis=axis) if parts else np.zeros(empty, dtype))
        if ptr is not None:
            counts = np.zeros(len(parts) + 1, dtype=np.int64)
            np.cumsum([p.shape[axis] for p in parts], out=counts[1:])
            out[ptr] = torch.from_numpy(counts)
    out["meta"] = json.dumps(meta)
    return out


def save_shard(shard: dict, path: Path) -> None:
    atomic_torch_save(shard, path)


def load_shard(path: Path) -> dict | None:
    """A shard (memory-mapped), or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, weights_only=True, mmap=True)
    except Exception:
        return None
    if not isinstance(obj, dict) or "meta" not in obj or any(k not in obj for k in POINTERS):
        return None
    return obj


def write_manifest(folder: Path, manifest: dict) -> None:
    """The manifest, atomically: from this rename on, the entry is complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / MANIFEST)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load(folder: Path) -> "Shards | None":
    """The shards of a complete entry, or None (absent, half-built, or a shard missing or
    not the size the manifest recorded: then the caller rebuilds it).

    Only the manifest is read here; each shard is mapped when a graph of it is first
    asked for, so reopening a large corpus costs one JSON parse."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        return None
    for item in manifest.get("shards", []):
        try:
            if (folder / item["file"]).stat().st_size != item["bytes"]:
                return None
        except OSError:
            return None
    return Shards(folder, manifest)


class Shards:
    """An entry's shards, each loaded (memory-mapped) on first use and then kept.

    Pickling (a spawned loader worker) sends the folder and the manifest only; the
    worker maps the shards itself."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder = folder
        self.manifest = manifest
        counts = [item["molecules"] for item in manifest["shards"]]
        self.start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # first molecule of each
        self._loaded: dict[int, tuple[dict, dict]] = {}
        self._spd: dict[int, np.ndarray] = {}
        self._spd_bytes = 0

    def __len__(self) -> int:
        return int(self.start[-1])

    def locate(self, j: int) -> tuple[int, int]:
        """``(shard, index inside it)`` of molecule ``j``."""
        k = int(np.searchsorted(self.start, j, side="right")) - 1
        return k, j - int(self.start[k])

    def arrays(self, k: int) -> tuple[dict, dict]:
        """Shard ``k``'s fields as numpy arrays and its pointers as Python lists."""
        got = self._loaded.get(k)
        if got is None:
            item = self.manifest["shards"][k]
            shard = load_shard(self.folder / item["file"])
            if shard is None:
                raise OSError(f"cache shard {self.folder / item['file']} is missing or unreadable; "
                              "delete the folder to rebuild it")
            # plain Python ints: slicing with numpy scalars takes a slow indexing path
            ptr = {key: shard[key].tolist() for key in POINTERS}
            got = ({key: v.numpy() for key, v in shard.items() if isinstance(v, torch.Tensor)}, ptr)
            self._loaded[k] = got
        return got

    def spd(self, j: int, edge_index: np.ndarray, num_nodes: int) -> np.ndarray:
        """Molecule ``j``'s dense distances, recomputed from its bonds; the first
        ``SPD_MEMO_BYTES`` of them are kept, so a dataset that fits (c-CPP: ~55 MB) pays
        for them in its first epoch only, and a corpus that does not stays bounded."""
        got = self._spd.get(j)
        if got is None:
            from pepland_hpo.data.topology import spd_from_edges

            got = spd_from_edges(edge_index, num_nodes)
            if self._spd_bytes + got.nbytes <= SPD_MEMO_BYTES:
                self._spd[j] = got
                self._spd_bytes += got.nbytes
        return got.copy()  # the graph's own: a caller may write into it

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "manifest": self.manifest, "start": self.start, "_loaded": {},
                "_spd": {}, "_spd_bytes": 0}


def entry_bytes(folder: Path) -> int:
    """Bytes on disk of an entry's shards and manifest."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
