"""Forward+backward time and peak memory of the graphormer (softmax + dense bias) and
performer (structure-aware FAVOR+) encoders on peptide graphs of 64 … 2,048 atoms.

    python scripts/bench/attention_scaling.py                 # defaults: a few minutes on CPU
    python scripts/bench/attention_scaling.py --layers 6 --sizes 256,512,1024
    python scripts/bench/attention_scaling.py --compare backends              # dense vs flex bias
    python scripts/bench/attention_scaling.py --compare backends --device cuda --graphs 8

``--compare backends``: the graphormer encoder with ``attention_backend=dense`` (the bias
as a float32 ``[B, H, T, T]`` tensor) against ``flex`` (the same bias looked up inside
FlexAttention, compiled). On CPU PyTorch's flex kernel is inference-only, so both run
forward only, in eval mode; on CUDA forward+backward. The flex process also runs the
dense model on the same weights and reports the largest output difference. Compilation
happens in the warm-up passes, outside time and memory. ``--graphs K`` batches K
molecules of ~N atoms (different sizes, so padding is part of what is measured).
On CUDA memory is ``torch.cuda.max_memory_allocated`` over the measured pass, above
what was allocated before it.

Molecules: random peptide sequences through RDKit (``Chem.MolFromSequence``, ~8 heavy
atoms per residue) featurised by the data layer, trimmed to the wanted residue count.

Memory: every (variant, size) runs in a fresh subprocess. torch's CPU allocator keeps
no statistics and tracemalloc does not see its buffers, so we use the kernel's own
accounting: after two warm-up passes (lazily loaded kernels and libraries are then
resident) we reset the process's peak-RSS mark (``/proc/self/clear_refs`` ← 5), run one
forward+backward, and report ``VmHWM − VmRSS_before`` (falling back to
``getrusage().ru_maxrss`` where clear_refs is unavailable). Large tensors are mmap-backed by glibc and unmapped when freed, so
the high-water mark is the peak of live activations + gradients of that pass (the
subprocess runs with ``MALLOC_MMAP_THRESHOLD_=65536`` so that this holds for every
tensor above 64 KiB).
Time: fastest of ``--repeats`` forward+backward passes after two warm-ups, same process
(other jobs on a shared machine only ever add time).

Output: one JSON object per line (``metric``, ``value`` and context). Slopes are
least-squares fits of log(y) on log(atoms); the crossover is where the performer's time
falls below the graphormer's (log-linear interpolation between measured sizes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def peptide_graph(num_atoms: int, seed: int = 0):
    """Featurised random peptide with about ``num_atoms`` heavy atoms."""
    from rdkit import Chem

    rng = random.Random(seed)
    seq = ""
    mol = None
    while mol is None or mol.GetNumAtoms() < num_atoms:
        seq += "".join(rng.choice(AMINO) for _ in range(max(1, (num_atoms - (mol.GetNumAtoms() if mol else 0)) // 9)))
        mol = Chem.MolFromSequence(seq)
    try:
        from pepland_hpo.data.featurize import featurize_mol

        return featurize_mol(mol), "data.featurize"
    except ImportError:  # data layer absent: same fields from the models' stand-in
        from pepland_hpo.models.synthetic import graph_from_mol

        return graph_from_mol(mol), "models.synthetic"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def worker(args) -> None:
    import torch
    from torch_geometric.data import Batch

    from pepland_hpo.models import build_model, variant_model_config

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    # K molecules of ~N atoms: sizes differ by a few residues, so the batch is padded
    graphs = [peptide_graph(args.size - 9 * k, seed=args.size + k) for k in range(args.graphs)]
    graph, featuriser = graphs[0]
    batch = Batch.from_data_list([g for g, _ in graphs]).to(device)
    over = dict(hidden_dim=args.hidden, num_layers=args.layers, num_heads=args.heads, dropout=0.0)
    cfg = variant_model_config(args.variant, **over, attention_backend=args.backend)
    encoder = build_model(cfg).encoder.to(device)
    forward_only = device.type == "cpu" and args.compare == "backends"
    encoder.train(not forward_only)

    def step():
        if forward_only:
            with torch.no_grad():
                return encoder(batch)
        # keep gradient buffers allocated: they are constant in N, and the peak should be
        # the activations of the pass, not re-allocation of parameter-sized buffers
        encoder.zero_grad(set_to_none=False)
        out = encoder(batch)
        out.sum().backward()
        return out

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up: lazily loaded kernels and libraries land in RSS once, not per pass
    step()  # (and the compiled flex kernel: compiled here, recompiled for dynamic shapes)
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        sync()
        peak_kb = (torch.cuda.max_memory_allocated() - before) / 1024
    elif _reset_peak():
        before = _status_kb("VmRSS")
        step()
        peak_kb = _status_kb("VmHWM") - before
    else:  # no clear_refs: high-water mark of the whole process minus the current RSS
        before = _status_kb("VmRSS")
        step()
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    diff = None
    if args.backend != "dense":  # the same weights through the dense bias
        reference = build_model(variant_model_config(args.variant, **over)).encoder.to(device)
        reference.load_state_dict(encoder.state_dict())
        reference.train(encoder.training)
        with torch.no_grad():
            diff = float((reference(batch) - encoder(batch)).abs().max())
    # min, not median: on a shared machine other jobs only ever add time
    print(
        json.dumps(
            {
                "atoms": graph.num_nodes,
                "batch_atoms": int(batch.num_nodes),
                "max_abs_diff_vs_dense": diff,
                "forward_only": forward_only,
                "near_pairs": int((graph.pair_dist <= cfg.near_hops).sum()),
                "seconds": min(times),
                "peak_mb": max(peak_kb, 0) / 1024,
                "featuriser": featuriser,
            }
        )
    )


def slope(xs, ys) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def crossover(sizes, soft, favor) -> float | None:
    """First size where favor time < softmax time, interpolated on log scales."""
    for k, n in enumerate(sizes):
        if favor[k] < soft[k]:
            if k == 0:
                return float(n)
            r0 = math.log(favor[k - 1] / soft[k - 1])
            r1 = math.log(favor[k] / soft[k])
            frac = r0 / (r0 - r1)
            return math.exp(math.log(sizes[k - 1]) + frac * (math.log(n) - math.log(sizes[k - 1])))
    return None


def _common(args) -> list[str]:
    return ["--hidden", str(args.hidden), "--heads", str(args.heads), "--layers", str(args.layers),
            "--repeats", str(args.repeats), "--threads", str(args.threads), "--device", args.device,
            "--graphs", str(args.graphs), "--compare", args.compare]


def backends_main(args) -> None:
    """Dense vs flex bias of the graphormer encoder, one fresh process per (backend, size)."""
    sizes = [int(s) for s in args.sizes.split(",")]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    res: dict[str, dict[int, dict]] = {"dense": {}, "flex": {}}
    for n in sizes:
        for backend in res:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", "graphormer", str(n), backend, *_common(args)],
                capture_output=True, text=True, cwd=REPO, env=env,
            )
            if out.returncode != 0:  # e.g. out of memory at the largest size: say so, go on
                print(json.dumps({"metric": f"{backend}_bias_failed", "value": n,
                                  "error": out.stderr.strip().splitlines()[-1:]}), flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            res[backend][n] = r
            print(json.dumps({"metric": f"{backend}_bias_seconds", "value": round(r["seconds"], 5), "unit": "s",
                              "target_atoms": n, "atoms": r["atoms"], "batch_atoms": r["batch_atoms"],
                              "graphs": args.graphs, "peak_mb": round(r["peak_mb"], 1),
                              "pass": "forward" if r["forward_only"] else "forward+backward",
                              "max_abs_diff_vs_dense": r["max_abs_diff_vs_dense"], "device": args.device,
                              "layers": args.layers, "hidden": args.hidden, "heads": args.heads,
                              "threads": args.threads}), flush=True)
    both = [n for n in sizes if n in res["dense"] and n in res["flex"]]
    for n in both:
        d, f = res["dense"][n], res["flex"][n]
        print(json.dumps({"metric": f"flex_memory_ratio_at_{n}",
                          "value": round(d["peak_mb"] / max(f["peak_mb"], 1e-3), 3),
                          "note": "dense-bias peak / flex peak (above 1: flex uses less)"}), flush=True)
        print(json.dumps({"metric": f"flex_speedup_at_{n}", "value": round(d["seconds"] / f["seconds"], 3),
                          "note": "dense-bias time / flex time"}), flush=True)
    diffs = [res["flex"][n]["max_abs_diff_vs_dense"] for n in res["flex"]]
    if diffs:
        print(json.dumps({"metric": "flex_max_abs_diff", "value": max(diffs),
                          "note": "largest |flex - dense| of the encoder output over all sizes"}), flush=True)
    if len(both) >= 2:
        for backend in res:
            ms = [max(res[backend][n]["peak_mb"], 1e-3) for n in both]
            print(json.dumps({"metric": f"{backend}_bias_memory_slope",
                              "value": round(slope([res[backend][n]["atoms"] for n in both], ms), 3),
                              "note": "log-log over sizes"}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,128,256,512,1024,2048")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=4)
    # one thread by default: on a shared machine every OpenMP barrier of a small op can
    # cost a scheduler time slice, which swamps the many small ops of sparse attention
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compare", choices=["variants", "backends"], default="variants",
                   help="graphormer vs performer (default), or graphormer's dense vs flex bias")
    p.add_argument("--device", default="cpu")
    p.add_argument("--graphs", type=int, default=1, help="molecules per batch (~N atoms each)")
    p.add_argument("--worker", nargs=3, metavar=("VARIANT", "SIZE", "BACKEND"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.variant, args.size, args.backend = args.worker[0], int(args.worker[1]), args.worker[2]
        worker(args)
        return
    if args.compare == "backends":
        backends_main(args)
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    # fixed glibc mmap threshold: every tensor above 64 KiB gets its own mapping and is
    # unmapped when freed, so resident memory follows live tensors (with the default
    # dynamic threshold freed blocks stay in the heap and the peak reads as a high tide)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    results: dict[str, dict[int, dict]] = {"graphormer": {}, "performer": {}}
    common = _common(args)
    for n in sizes:
        for variant in results:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", variant, str(n), "dense", *common],
                capture_output=True, text=True, check=True, cwd=REPO, env=env,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[variant][n] = r
            print(json.dumps({"metric": f"{variant}_fwd_bwd_seconds", "value": round(r["seconds"], 5),
                              "unit": "s", "target_atoms": n, **{k: r[k] for k in ("atoms", "near_pairs")},
                              "peak_mb": round(r["peak_mb"], 1), "layers": args.layers,
                              "hidden": args.hidden, "heads": args.heads, "threads": args.threads,
                              "featuriser": r["featuriser"]}), flush=True)

    atoms = [results["performer"][n]["atoms"] for n in sizes]
    perf_t = [results["performer"][n]["seconds"] for n in sizes]
    soft_t = [results["graphormer"][n]["seconds"] for n in sizes]
    perf_m = [max(results["performer"][n]["peak_mb"], 1e-3) for n in sizes]
    soft_m = [max(results["graphormer"][n]["peak_mb"], 1e-3) for n in sizes]
    upper = [k for k, n in enumerate(sizes) if n >= 256]
    rows = [
        ("performer_time_slope", slope(atoms, perf_t), "log-log, all sizes"),
        ("performer_memory_slope", slope(atoms, perf_m), "log-log, all sizes"),
        ("performer_time_slope_256plus", slope([atoms[k] for k in upper], [perf_t[k] for k in upper]), "log-log, sizes >= 256"),
        ("performer_memory_slope_256plus", slope([atoms[k] for k in upper], [perf_m[k] for k in upper]), "log-log, sizes >= 256"),
        ("graphormer_time_slope", slope(atoms, soft_t), "log-log, all sizes (reference)"),
        ("graphormer_memory_slope", slope(atoms, soft_m), "log-log, all sizes (reference)"),
    ]
    largest = sizes[-1]
    rows.append((f"speedup_at_{largest}", soft_t[-1] / perf_t[-1], "graphormer time / performer time"))
    rows.append((f"memory_ratio_at_{largest}", soft_m[-1] / perf_m[-1], "graphormer peak / performer peak"))
    cross = crossover(sizes, soft_t, perf_t)
    rows.append(("softmax_favor_crossover_atoms", cross, "performer faster above this many atoms"))
    for metric, value, note in rows:
        print(json.dumps({"metric": metric, "value": None if value is None else round(value, 3), "note": note}))


if __name__ == "__main__":
    main()
