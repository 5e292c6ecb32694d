"""Featurisation benchmark: our featuriser vs ``torch_geometric.utils.from_smiles``, and cache reloads.

Run from the repository root::

    python scripts/bench/featurize.py [--data FILE] [--limit N] [--repeats R]
    python scripts/bench/featurize.py --corpus [--corpus-size 20000]   # adds the corpus-scale part

``--corpus`` (see ``scripts/bench/corpus.py``) synthesises a corpus of mixed
sizes (100-700 heavy atoms) from real c-CPP sequences and featurises it with
``data featurize --jobs 1`` and ``--jobs 2``: peak memory, cache bytes per atom
by size, the ``--jobs 2`` speedup, and the two ways of keeping shortest-path
information (sparse within reach vs recomputed). Expected time on 2 idle
cores at the default 20,000 molecules: about 20 minutes (synthesis ~2, --jobs 1
~11, --jobs 2 ~6: estimated from a 4,000-molecule run that took 18 minutes at
load average 14); ``--corpus-only --corpus-size 2000`` takes a few minutes.

Prints one JSON object per line (keys ``metric``, ``value``, ``unit``, ...).
Cold featurisation means SMILES → graph with everything computed (parse,
atom/bond features, all-pair distances, near pairs and their paths, the fragment
view and the Morgan count fingerprint); it is
measured against ``from_smiles`` on the same list of SMILES strings, both
parsing with RDKit, in one process, in alternating chunks (which side goes
first alternates too) so that load from other processes hits both sides
alike. The whole comparison runs ``--rounds`` times; the ratio reported is
the median of the rounds' ratios (each round's is listed). The reload metric
is ``load_dataset`` on a warm cache (open + map + metadata; graphs are built
per ``ds[i]``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "pepland" / "pretrained" / "train.csv"
sys.path.insert(0, str(REPO))


def emit(metric: str, value: float, **extra) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 4), **extra}), flush=True)


def _no_fragments(mol, x, begin, end, code, small_ring=None):
    """Stand-in for ``fragment_arrays`` that skips the fragment view (for its share of the time)."""
    import numpy as np

    from pepland_hpo.data.fragments import FRAG_DIM, Fragmentation

    z = np.zeros(0, dtype=np.int64)
    return Fragmentation(np.zeros(len(x), dtype=np.int64), np.zeros((1, FRAG_DIM), np.float32),
                         np.zeros((2, 0), np.int64), z, z.astype(bool), z, z)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=0, help="first N molecules only (0 = all)")
    ap.add_argument("--repeats", type=int, default=5, help="cache reloads to time (median reported)")
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3, help="cold comparisons to run (median ratio reported)")
    ap.add_argument("--corpus", action="store_true", help="also run the corpus-scale part (scripts/bench/corpus.py)")
    ap.add_argument("--corpus-size", type=int, default=20000, help="molecules in the synthetic corpus")
    ap.add_argument("--corpus-only", action="store_true", help="skip the cold/reload part (run --corpus alone)")
    ap.add_argument("--min-atoms", type=int, default=100)
    ap.add_argument("--max-atoms", type=int, default=700)
    ap.add_argument("--spd-sample", type=int, default=40, help="molecules per size bin for the spd storage options")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    from torch_geometric.utils import from_smiles

    from pepland_hpo.data.featurize import featurize_smiles
    from pepland_hpo.data.readers import load_table

    torch.set_num_threads(1)
    if not args.corpus_only:
        standard(args, from_smiles, featurize_smiles, load_table)
    if args.corpus or args.corpus_only:
        from corpus import run

        with tempfile.TemporaryDirectory() as tmp:
            run(args, Path(tmp))


def standard(args, from_smiles, featurize_smiles, load_table) -> None:
    """Cold featurisation vs ``from_smiles``, the fragment view's share, cache build and reload."""
    smiles = load_table(args.data).smiles
    if args.limit:
        smiles = smiles[: args.limit]
    n = len(smiles)
    sizes = {"molecules": n, "data": str(args.data)}

    def timed(fn, chunk) -> float:
        t = time.perf_counter()
        for s in chunk:
            fn(s)
        return time.perf_counter() - t

    rounds = []  # (ours, ref) seconds per round
    for _ in range(max(1, args.rounds)):
        ours = ref = 0.0
        for k, start in enumerate(range(0, n, args.chunk)):
            chunk = smiles[start : start + args.chunk]
            if k % 2:
                ours += timed(featurize_smiles, chunk)
                ref += timed(from_smiles, chunk)
            else:
                ref += timed(from_smiles, chunk)
                ours += timed(featurize_smiles, chunk)
        rounds.append((ours, ref))
    ratios = [ref / ours for ours, ref in rounds]
    emit("featurize_cold_mol_per_s", n / statistics.median(o for o, _ in rounds), unit="mol/s", **sizes)
    emit("from_smiles_mol_per_s", n / statistics.median(r for _, r in rounds), unit="mol/s", reference=True, **sizes)
    emit("featurize_cold_ratio_vs_from_smiles", statistics.median(ratios), unit="x", fragments=True,
         reference="torch_geometric.utils.from_smiles", target=">= 1", rounds=[round(r, 3) for r in ratios], **sizes)
    # the fragment view's share of that time, on the same molecules
    from rdkit import Chem

    import pepland_hpo.data.featurize as featurize_module
    from pepland_hpo.data.fragments import fragment_arrays

    mols = [Chem.MolFromSmiles(s) for s in smiles[: min(n, 500)]]
    shares = []
    for _ in range(max(1, args.rounds)):
        t = time.perf_counter()
        for m in mols:
            featurize_module.mol_arrays(m)
        whole = time.perf_counter() - t
        featurize_module.fragment_arrays = _no_fragments
        try:
            t = time.perf_counter()
            for m in mols:
                featurize_module.mol_arrays(m)
            without = time.perf_counter() - t
        finally:
            featurize_module.fragment_arrays = fragment_arrays
        shares.append((whole - without) / whole)
    emit("fragment_view_share_of_featurize", statistics.median(shares), unit="fraction",
         molecules=len(mols), note="(mol_arrays - mol_arrays without fragments) / mol_arrays")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PEPLAND_HPO_CACHE"] = tmp
        from pepland_hpo.data.dataset import load_dataset

        t = time.perf_counter()
        ds = load_dataset(args.data)
        build = time.perf_counter() - t
        emit("dataset_build_mol_per_s", len(ds) / build, unit="mol/s",
             note="read + canonicalise + featurise + write cache", molecules=len(ds))
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            ds = load_dataset(args.data)
            times.append(time.perf_counter() - t)
        emit("cache_reload_mol_per_s", len(ds) / statistics.median(times), unit="mol/s", target=">= 20000",
             molecules=len(ds), repeats=args.repeats)
        t = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        emit("cache_getitem_us", (time.perf_counter() - t) / len(ds) * 1e6, unit="us/graph", molecules=len(ds))
        emit("cache_bytes_per_mol", ds.cache_bytes / len(ds), unit="bytes/mol", molecules=len(ds),
             mean_atoms=round(float(ds.num_atoms.mean()), 1))



if __name__ == "__main__":
    main()
