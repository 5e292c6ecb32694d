"""Featurising a whole file into a cache entry: chunks of records, a process pool, one shard per chunk.

The records are cut into chunks of ``CHUNK_RECORDS`` input rows. Each chunk is
parsed, featurised, packed and written as one shard (:mod:`.cache`) by
whichever process handles it — this one with ``jobs=1``, a pool of ``jobs``
processes otherwise — so the parent never holds more than the rows'
text and a few chunks in flight, and a worker never more than one chunk. The
chunks depend on the row count only, never on ``jobs``: ``--jobs 1`` and
``--jobs 4`` write the same shards. Shards are written as chunks finish
(atomically); a rebuild after a crash reuses every whole shard it finds. The
manifest, written last, makes the entry visible.

``jobs`` defaults to ``PEPLAND_HPO_FEATURIZE_JOBS``, else the CPUs this process
may use, and is never more than the number of chunks (a file of a few hundred
rows is featurised in-process: starting workers would cost more).
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from pepland_hpo.data import cache
from pepland_hpo.envsettings import positive_from_env

CHUNK_RECORDS = 128  # rows per shard: ~30 MB of arrays at 700 atoms a molecule
ENV_JOBS = "PEPLAND_HPO_FEATURIZE_JOBS"


def default_jobs() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return positive_from_env(ENV_JOBS, cpus, int, "featurising processes")


def _featurize_one(mol) -> dict[str, np.ndarray]:
    """One molecule in the cache's compact form (tests count calls to this to prove cache hits)."""
    from pepland_hpo.data.featurize import mol_arrays

    return cache.compact(mol_arrays(mol, dense=False))


def featurize_chunk(path: str, kind: str, fields: list) -> dict:
    """Parse and featurise one chunk of ``(line, row text, field, reason)`` records and write
    its shard to ``path``; returns the shard's metadata (valid SMILES, their lines, invalid rows).

    One molecule at a time: parsed, featurised, compacted, and its RDKit object dropped."""
    from pepland_hpo.data.readers import parse_fields

    smiles, rows, invalid, atoms, arrays = [], [], [], [], []
    for item in fields:
        one = parse_fields([item], kind)
        if one.invalid:
            invalid.append([one.invalid[0].row, one.invalid[0].text, one.invalid[0].reason])
            continue
        smiles.append(one.smiles[0])
        rows.append(one.rows[0])
        atoms.append(one.num_atoms[0])
        arrays.append(_featurize_one(one.mols[0]))
    meta = {"smiles": smiles, "rows": rows, "num_atoms": atoms, "invalid": invalid}
    cache.save_shard(cache.pack(arrays, meta), Path(path))
    return meta


def _chunks(layout):
    from pepland_hpo.data.readers import molecule_fields

    chunk = []
    for item in molecule_fields(layout):
        chunk.append(item)
        if len(chunk) == CHUNK_RECORDS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reusable(path: Path, chunk: list) -> dict | None:
    """The metadata of a whole shard left by an earlier, interrupted build of this entry."""
    shard = cache.load_shard(path)
    if shard is None:
        return None
    import json

    meta = json.loads(shard["meta"])
    lines = sorted(meta["rows"] + [r[0] for r in meta["invalid"]])
    return meta if lines == [item[0] for item in chunk] else None


def build_entry(layout, folder: Path, meta: dict, jobs: int | None = None, progress: bool = False) -> None:
    """Featurise every record of ``layout`` into the shards of ``folder`` and write its manifest.

    ``meta`` (what the layout says about the molecules) goes into the manifest beside
    the shard list, the SMILES, the line numbers and the invalid rows."""
    folder.mkdir(parents=True, exist_ok=True)
    n_chunks = -(-len(layout.records) // CHUNK_RECORDS)
    jobs = max(1, min(jobs or default_jobs(), n_chunks))
    results: list[dict | None] = [None] * n_chunks
    bar = _Bar(len(layout.records), progress)
    try:
        if jobs == 1:
            for i, chunk in enumerate(_chunks(layout)):
                path = folder / cache.shard_name(i)
                results[i] = _reusable(path, chunk) or featurize_chunk(str(path), layout.kind, chunk)
                bar.advance(len(chunk))
        else:
            _run_pool(layout, folder, jobs, results, bar)
    finally:
        bar.close()
    manifest = {"format": cache.CACHE_FORMAT, **meta, "smiles": [], "rows": [], "num_atoms": [], "invalid": [],
                "shards": []}
    for i, part in enumerate(results):
        for key in ("smiles", "rows", "num_atoms", "invalid"):
            manifest[key] += part[key]
        name = cache.shard_name(i)
        manifest["shards"].append({"file": name, "molecules": len(part["smiles"]),
                                   "bytes": (folder / name).stat().st_size})
    cache.write_manifest(folder, manifest)


def _run_pool(layout, folder: Path, jobs: int, results: list, bar: "_Bar") -> None:
    """Chunks to a pool of processes, at most ``2 * jobs`` in flight (bounded memory).

    Forked where the platform can (the workers inherit RDKit, numpy and torch already
    imported: a spawned worker spends seconds importing them again, more than a small
    file takes to featurise). The workers run numpy and RDKit and write files; they
    start no torch or OpenMP thread pools, which is what makes forking unsafe."""
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pending: deque = deque()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method)) as pool:
        for i, chunk in enumerate(_chunks(layout)):
            path = folder / cache.shard_name(i)
            reused = _reusable(path, chunk)
            if reused is not None:
                results[i] = reused
                bar.advance(len(chunk))
                continue
            pending.append((i, len(chunk), pool.submit(featurize_chunk, str(path), layout.kind, chunk)))
            while len(pending) >= 2 * jobs:
                _collect(pending.popleft(), results, bar)
        while pending:
            _collect(pending.popleft(), results, bar)


def _collect(item, results: list, bar: "_Bar") -> None:
    i, size, future = item
    results[i] = future.result()
    bar.advance(size)


class _Bar:
    """A rich progress bar over input rows (nothing when ``show`` is false)."""

    def __init__(self, total: int, show: bool):
        self.progress = None
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.progress = Progress("featurising", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                     transient=True)
            self.task = self.progress.add_task("featurising", total=total)
            self.progress.start()

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
