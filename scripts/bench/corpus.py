"""Corpus-scale featurisation (``scripts/bench/featurize.py --corpus``): memory, cache growth, --jobs.

The corpus is synthesised from real peptides: c-CPP's sequences (canonical
residues, 18.6 on average) are drawn at random and joined end to end into one
longer sequence until it reaches a target heavy-atom count drawn uniformly from
``[--min-atoms, --max-atoms]`` (100-700), the last sequence cut to fit; RDKit's
sequence reader (``Chem.MolFromSequence``) builds the molecule and the file
holds its canonical SMILES, as ``pepland-hpo data corpus`` writes them.

Then ``pepland-hpo data featurize CORPUS --jobs 1`` and ``--jobs 2`` run as
child processes, each into an empty cache, timed, while the resident memory of
the whole process tree is sampled every 50 ms (PSS summed over the tree, so the
libraries a forked worker shares with its parent count once; the RSS sum, which
counts them per process, is printed beside it). Cache bytes are
counted per molecule from the shards' own tensors and averaged per atom within
100-atom bins. The two ways of keeping shortest-path information are compared
on a sample of each bin: the dense ``N*N`` matrix, the pairs within the spatial
encoding's reach (``ModelConfig.max_distance``) stored sparsely (3 bytes an
unordered pair plus a row pointer and a component id per atom), and nothing
stored (recomputed from the bonds, what the cache does) — bytes per atom and
the loader's cost to hand a batch of 32 graphs their dense ``spd``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchlib import PEPLAND_DATA, REPO, emit

BINS = [(lo, lo + 100) for lo in range(100, 700, 100)]


def synthesise(out: Path, n: int, lo: int, hi: int, seed: int) -> list[int]:
    """Write ``n`` peptide SMILES of ``lo..hi`` heavy atoms; returns their atom counts."""
    from rdkit import Chem

    from pepland_hpo.data.limits import RESIDUE_HEAVY_ATOMS

    seqs = [line.split(",")[0] for line in (PEPLAND_DATA / "c-CPP.txt").read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    sizes = []
    with open(out, "w") as fh:
        fh.write("smiles\n")
        for _ in range(n):
            target = rng.randint(lo, hi)
            residues, atoms = [], 1  # the chain's terminal OH
            while atoms < target:
                for aa in rng.choice(seqs):
                    if atoms >= target:
                        break
                    residues.append(aa)
                    atoms += RESIDUE_HEAVY_ATOMS[aa]
            mol = Chem.MolFromSequence("".join(residues))
            sizes.append(mol.GetNumAtoms())
            fh.write(Chem.MolToSmiles(mol) + "\n")
    return sizes


def _tree_memory(pid: int) -> tuple[int, int]:
    """``(PSS, RSS)`` bytes summed over a process and all its descendants (Linux /proc).

    PSS splits each shared page among the processes mapping it, so its sum is the
    memory the tree really holds; the RSS sum counts pages a forked worker shares
    with its parent (the imported libraries) once per process."""
    pss = rss = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
            with open(f"/proc/{p}/task/{p}/children") as fh:
                stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return pss, rss


def featurize_child(corpus: Path, cache: Path, jobs: int) -> tuple[float, int, int]:
    """Run ``data featurize --jobs`` in a child process; ``(seconds, peak tree PSS, peak tree RSS)``."""
    env = {**os.environ, "PEPLAND_HPO_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "pepland_hpo.cli", "data", "featurize", str(corpus), "--jobs", str(jobs)]
    peak = [0, 0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def sample():
        while proc.poll() is None:
            pss, rss = _tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
            time.sleep(0.05)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"data featurize --jobs {jobs} failed:\n{out}")
    return seconds, peak[0], peak[1]


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def parallel_reference(n: int = 20_000_000) -> float:
    """Speedup of 2 processes over 1 on a pure-Python loop: how much of a second core this
    machine gives right now (1.0: none, ~2.0: a whole one). Read the jobs speedup against it."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    t = time.perf_counter()
    _spin(n)
    _spin(n)
    one = time.perf_counter() - t
    t = time.perf_counter()
    procs = [ctx.Process(target=_spin, args=(n,)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return one / (time.perf_counter() - t)


def bytes_per_molecule(folder: Path):
    """``(atoms, bytes)`` per molecule, from the shards' tensors (every field counted)."""
    import numpy as np
    import torch

    from pepland_hpo.data import cache

    entry = cache.load(folder)
    shards = [cache.load_shard(folder / item["file"]) for item in entry.manifest["shards"]]
    groups = {"node_ptr": ("x_bits", "x_mass", "degree", "atom_frag"), "edge_ptr": ("edge_index", "edge_attr"),
              "pair_ptr": ("pair_index", "pair_dist", "pair_path"), "frag_ptr": ("frag_x",),
              "fedge_ptr": ("frag_edge_index",), "fp_ptr": ("fp_index", "fp_count")}
    atoms, sizes = [], []
    for s in shards:
        n = np.diff(s["node_ptr"].numpy())
        per = np.full(len(n), 8.0 * len(cache.POINTERS))  # one int64 pointer per group
        for ptr, keys in groups.items():
            rows = np.diff(s[ptr].numpy())
            for k in keys:
                t: torch.Tensor = s[k]
                along = t.shape[1] if k in ("edge_index", "pair_index", "frag_edge_index") else t.shape[0]
                per += rows * (t.numel() * t.element_size() / max(along, 1))
        atoms.append(n)
        sizes.append(per)
    return np.concatenate(atoms), np.concatenate(sizes)


def spd_options(smiles_by_bin: dict, reach: int):
    """Per bin: bytes per atom of dense / sparse-within-reach / recompute, and ms per batch of 32."""
    import numpy as np
    from rdkit import Chem

    from pepland_hpo.data.featurize import mol_arrays
    from pepland_hpo.data.topology import spd_from_edges

    out = {}
    for (lo, hi), smiles in smiles_by_bin.items():
        graphs = [mol_arrays(Chem.MolFromSmiles(s)) for s in smiles]
        atoms = sum(g["x"].shape[0] for g in graphs)
        sparse = []  # per molecule: row pointer, neighbour ids (int16) and distances (uint8), j > i only
        for g in graphs:
            n = g["x"].shape[0]
            d = g["spd"].reshape(n, n)
            upper = np.triu((d >= 1) & (d < reach) & (d != 255), 1)
            i, j = np.nonzero(upper)
            ptr = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(np.bincount(i, minlength=n), out=ptr[1:])
            comp = np.zeros(n, dtype=np.int16)  # component id: unreachable vs far (one fragment here)
            sparse.append((n, ptr, j.astype(np.int16), d[i, j].astype(np.uint8), comp))
        sparse_bytes = sum(p.nbytes + j.nbytes + v.nbytes + c.nbytes for _, p, j, v, c in sparse)

        def decode(item):
            n, ptr, j, v, comp = item
            dense = np.full((n, n), reach, dtype=np.uint8)
            i = np.repeat(np.arange(n), np.diff(ptr))
            dense[i, j] = v
            dense[j, i] = v
            dense[comp[:, None] != comp[None, :]] = 255
            np.fill_diagonal(dense, 0)
            return dense.reshape(-1)

        def per_batch(fn, items):
            t = time.perf_counter()
            for it in items:
                fn(it)
            return (time.perf_counter() - t) / len(items) * 32 * 1e3

        recompute = statistics.median(
            per_batch(lambda g: spd_from_edges(g["edge_index"], g["x"].shape[0]), graphs) for _ in range(3))
        decoded = statistics.median(per_batch(decode, sparse) for _ in range(3))
        out[f"{lo}-{hi}"] = {
            "molecules": len(graphs),
            "dense_bytes_per_atom": round(sum(g["x"].shape[0] ** 2 for g in graphs) / atoms, 1),
            "sparse_reach_bytes_per_atom": round(sparse_bytes / atoms, 1),
            "recompute_bytes_per_atom": 0,
            "recompute_ms_per_batch32": round(recompute, 2),
            "sparse_decode_ms_per_batch32": round(decoded, 2),
        }
    return out


def run(args, workdir: Path) -> None:
    import numpy as np

    from pepland_hpo.models.config import ModelConfig

    corpus = workdir / "corpus.csv"
    t = time.perf_counter()
    sizes = synthesise(corpus, args.corpus_size, args.min_atoms, args.max_atoms, args.seed)
    emit("corpus_synthesis_s", round(time.perf_counter() - t, 1), unit="s", molecules=len(sizes),
         mean_atoms=round(float(np.mean(sizes)), 1), file_mb=round(corpus.stat().st_size / 1e6, 1),
         how="random c-CPP sequences joined to a target size, Chem.MolFromSequence, canonical SMILES")
    runs = {}
    for jobs in (1, 2):
        cache = workdir / f"cache-jobs{jobs}"
        seconds, pss, rss = featurize_child(corpus, cache, jobs)
        runs[jobs] = (seconds, pss, cache)
        emit("corpus_featurize_s", round(seconds, 1), unit="s", jobs=jobs, molecules=len(sizes),
             mol_per_s=round(len(sizes) / seconds, 1), peak_tree_pss_gb=round(pss / 2**30, 3),
             peak_tree_rss_sum_gb=round(rss / 2**30, 3))
    peak_gb = max(p for _, p, _ in runs.values()) / 2**30
    emit("corpus_peak_rss_gb", round(peak_gb, 3), unit="GB", target="<= 1", molecules=len(sizes),
         per_jobs={j: round(p / 2**30, 3) for j, (_, p, _) in runs.items()},
         note="peak over time of the featurising process tree's memory (sum of PSS: shared library pages "
              "counted once), the larger of --jobs 1 and --jobs 2")
    speedup = runs[1][0] / runs[2][0]
    emit("featurize_jobs2_speedup", round(speedup, 3), unit="x", target=">= 1.7", molecules=len(sizes),
         cpus=len(os.sched_getaffinity(0)), load_avg_1min=round(os.getloadavg()[0], 2),
         cpu_parallel_reference_speedup=round(parallel_reference(), 3),
         reference="the same command with --jobs 1, same run; cpu_parallel_reference_speedup: two pure-Python "
                   "loops in 2 processes vs 1, just after (what 2 processes can gain on this machine now)")
    folders = [p for p in runs[2][2].iterdir() if p.is_dir()]
    folder = folders[0]
    atoms, per_mol = bytes_per_molecule(folder)
    same = _same_entry(next(p for p in runs[1][2].iterdir() if p.is_dir()), folder)
    by_bin = {}
    for lo, hi in BINS:
        sel = (atoms >= lo) & (atoms < hi)
        if sel.any():
            by_bin[f"{lo}-{hi}"] = round(float((per_mol[sel] / atoms[sel]).mean()), 1)
    values = list(by_bin.values())
    emit("cache_bytes_per_atom_spread", round(max(values) / min(values) - 1, 4), unit="fraction", target="<= 0.2",
         bytes_per_atom_by_bin=by_bin, molecules=len(atoms), jobs1_and_jobs2_entries_identical=same)
    from pepland_hpo.data import cache as cache_mod

    emit("corpus_cache_bytes_per_mol", round(cache_mod.entry_bytes(folder) / len(atoms), 1), unit="bytes/mol",
         mean_atoms=round(float(atoms.mean()), 1), molecules=len(atoms), note="shards + manifest on disk")
    # sparse-within-reach vs recompute, on a sample of each bin
    smiles = corpus.read_text().splitlines()[1:]
    rng = random.Random(args.seed + 1)
    sample = {}
    for lo, hi in BINS:
        pool = [s for s, n in zip(smiles, sizes) if lo <= n < hi]
        sample[(lo, hi)] = rng.sample(pool, min(args.spd_sample, len(pool)))
    reach = ModelConfig().max_distance
    for name, row in spd_options(sample, reach).items():
        emit("spd_storage_options", name, unit="bin (heavy atoms)", reach=reach, **row)


def _same_entry(a: Path, b: Path) -> bool:
    import torch

    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    if ma != mb:
        return False
    for item in ma["shards"]:
        sa = torch.load(a / item["file"], weights_only=True)
        sb = torch.load(b / item["file"], weights_only=True)
        for k, v in sa.items():
            if isinstance(v, torch.Tensor) and not torch.equal(v, sb[k]):
                return False
    return True
