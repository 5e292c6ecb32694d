"""Benchmark: do the report's 95 % intervals cover the truth? And how long does a report take?

    python scripts/bench/ci_coverage.py [--studies 500] [--resamples 1000] [--sizes 232,41] [--splits 1,3]

Simulated ablation studies with a known ground truth. A model's score for
molecule i is ``(2y - 1)·d/2 + a_i + e_i`` (a_i: the molecule's difficulty,
shared by every model; e_i: this run's own noise; var(a) + var(e) = 1), so its
population AUROC is Φ(d/√2). A run's d is the variant's d plus a split effect
(the training set; shared by the variants of that split) plus a seed effect.
Variant A has AUROC ≈ 0.85, variant B ≈ 0.87; test sets are balanced, 232
(c-CPP) or 41 (builtin:amp) molecules; 3 seeds; 1 or 3 splits (each split a
fresh test sample).

Estimands: a variant's mean AUROC over seeds - given the training split when
there is one split (nothing can say more from one split), over splits too when
there are several - and the difference B − A of those. Methods:

* ``bootstrap``: the report's own code (pepland_hpo.hpo.analysis._bootstrap):
  paired, class-stratified, hierarchical over splits, percentile intervals;
* ``t_interval``: the previous report's method, a t interval over the runs'
  AUROCs (paired t for the difference), which ignores test-set sampling.

Prints JSON lines: ``coverage`` per (method, size, splits, quantity), then
``bootstrap_coverage_min`` and ``t_interval_coverage_min`` (goal for the
bootstrap: >= 0.93), ``bootstrap_coverage_1split_unconditional`` (how often a
one-split interval covers the mean over training splits: why repeated splits
matter), and timings: ``report_seconds_5x3x3`` (a 5-variant × 3-seed ×
3-split study at c-CPP's size, written to SQLite, report built without the
reference; goal < 5 s) and ``bootstrap_cell_speedup_vs_sklearn_loop`` (one
run's 2,000 resamples, vectorised vs a scikit-learn loop, the reference
measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "hpo"))

D_A, D_B = 1.466, 1.62  # population AUROC Φ(d/√2): 0.85 and 0.87
TAU_SPLIT, TAU_SEED = 0.10, 0.06  # sd of d across training splits / seeds (AUROC sd ≈ 0.017 / 0.010)
VAR_DIFFICULTY = 0.9  # share of a molecule's score noise common to every model (seeds agree closely)


def emit(metric: str, value, **extra) -> None:
    print(json.dumps({"metric": metric, "value": value, **extra}), flush=True)


def _auroc_truth(d: float, tau2: float) -> float:
    # E[Φ((d + Z)/√2)], Z ~ N(0, tau2) = Φ(d / √(2 + tau2))
    return float(stats.norm.cdf(d / math.sqrt(2 + tau2)))


def simulate(rng, n: int, n_splits: int, n_seeds: int):
    """One study: ``{variant: {(split, seed): scores}}``, labels per split, and the estimands."""
    n_pos = n // 2
    labels, scores = {}, {"A": {}, "B": {}}
    truth = {}
    u = rng.normal(0, TAU_SPLIT, n_splits)
    for r in range(n_splits):
        y = np.r_[np.ones(n_pos), np.zeros(n - n_pos)]
        labels[r] = y
        a = rng.normal(0, math.sqrt(VAR_DIFFICULTY), n)
        for v, d in (("A", D_A), ("B", D_B)):
            for s in range(n_seeds):
                d_run = d + u[r] + rng.normal(0, TAU_SEED)
                e = rng.normal(0, math.sqrt(1 - VAR_DIFFICULTY), n)
                scores[v][(r, s)] = (2 * y - 1) * d_run / 2 + a + e
    for v, d in (("A", D_A), ("B", D_B)):
        if n_splits == 1:
            truth[v] = _auroc_truth(d + u[0], TAU_SEED**2)  # given the one training split
        else:
            truth[v] = _auroc_truth(d, TAU_SEED**2 + TAU_SPLIT**2)
        truth[v + "_unconditional"] = _auroc_truth(d, TAU_SEED**2 + TAU_SPLIT**2)
    return labels, scores, truth


def bootstrap_intervals(labels, scores, n_resamples: int, seed: int):
    from pepland_hpo.hpo.analysis import _bootstrap as bs
    from pepland_hpo.hpo.analysis import weighted_metrics

    index = {r: np.arange(len(y)) + 10_000 * r for r, y in labels.items()}
    plan = bs.make_plan(index, labels, n_resamples, seed=seed)
    values = {v: {c: weighted_metrics("classification", labels[c[0]], sc, plan.weights[c[0]], names=("auroc",))["auroc"]
                  for c, sc in cells.items()} for v, cells in scores.items()}
    a, b = bs.estimate(plan, values["A"]), bs.estimate(plan, values["B"])
    d = bs.difference(plan, values["B"], values["A"])
    return {"A": (a.low, a.high), "B": (b.low, b.high), "delta": (d.low, d.high)}


def t_intervals(labels, scores):
    from sklearn.metrics import roc_auc_score

    runs = {v: {c: roc_auc_score(labels[c[0]], sc) for c, sc in cells.items()} for v, cells in scores.items()}
    out = {}
    for v in ("A", "B"):
        x = np.array(list(runs[v].values()))
        out[v] = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    diff = np.array([runs["B"][c] - runs["A"][c] for c in runs["A"]])
    out["delta"] = stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff))
    return out


def coverage(n_studies: int, n: int, n_splits: int, n_seeds: int, n_resamples: int):
    rng = np.random.default_rng(1000 * n + n_splits)
    hits = {m: {q: 0 for q in ("A", "B", "delta")} for m in ("bootstrap", "t_interval")}
    unconditional = 0
    for i in range(n_studies):
        labels, scores, truth = simulate(rng, n, n_splits, n_seeds)
        target = {"A": truth["A"], "B": truth["B"], "delta": truth["B"] - truth["A"]}
        for method, ci in (("bootstrap", bootstrap_intervals(labels, scores, n_resamples, seed=i)),
                           ("t_interval", t_intervals(labels, scores))):
            for q, (lo, hi) in ci.items():
                hits[method][q] += int(lo <= target[q] <= hi)
            if method == "bootstrap" and n_splits == 1:
                lo, hi = ci["A"]
                unconditional += int(lo <= truth["A_unconditional"] <= hi)
    return {m: {q: h / n_studies for q, h in qs.items()} for m, qs in hits.items()}, unconditional / n_studies


def time_report(n_resamples: int) -> dict[str, float]:
    """Seconds (wall and CPU) to build the report of a 5-variant × 3-seed × 3-split study at c-CPP's
    size (2,324 molecules, 232 test), without the reference row (its cached fits are not what is timed)."""
    import optuna

    from pepland_hpo.hpo.analysis import build_report
    from pepland_hpo.hpo.analysis import build_ablation
    from test_report_factory import make_evidence_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = 2324
    labels = (np.random.default_rng(0).random(n) < 0.5).astype(float)
    splits = []
    for r in range(3):
        perm = np.random.default_rng(r).permutation(n)
        splits.append({"train": sorted(perm[464:].tolist()), "valid": sorted(perm[232:464].tolist()),
                       "test": sorted(perm[:232].tolist())})
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/s.db"
        variants = ["gcn", "graphormer", "performer", "hierpool", "full"]
        make_evidence_study(url, labels, splits, variants=variants, seeds=(0, 1, 2))
        study = optuna.load_study(study_name="ev", storage=url)
        build_ablation(study, dict(study.user_attrs["spec"]), None, reference=False, n_resamples=50)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        build_ablation(study, dict(study.user_attrs["spec"]), None, reference=False, n_resamples=n_resamples)
        out["compute_wall"], out["compute_cpu"] = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        build_report(url, "ev", out_dir=Path(tmp) / "out", reference=False, publish=True)
        out["report_wall"], out["report_cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    return out


def cell_speed() -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    from pepland_hpo.hpo.analysis import _bootstrap as bs
    from pepland_hpo.hpo.analysis import weighted_metrics

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(116), np.zeros(116)]
    p = rng.random(232) * 0.5 + 0.3 * y
    plan = bs.make_plan({0: np.arange(232)}, {0: y}, 2000)
    start = time.perf_counter()
    weighted_metrics("classification", y, p, plan.weights[0], names=("auroc",))
    fast = time.perf_counter() - start
    start = time.perf_counter()
    for w in plan.weights[0][1:]:
        idx = np.repeat(np.arange(232), w.astype(int))
        roc_auc_score(y[idx], p[idx])
    return fast, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies", type=int, default=500, help="simulated studies per setting (>= 500 for the goal)")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per simulated study")
    ap.add_argument("--sizes", default="232,41", help="test-set sizes")
    ap.add_argument("--splits", default="1,3", help="numbers of splits")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--only-timing", action="store_true")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    mins = {"bootstrap": 1.0, "t_interval": 1.0}
    for n in [] if args.only_timing else (int(x) for x in args.sizes.split(",")):
        for k in (int(x) for x in args.splits.split(",")):
            start = time.perf_counter()
            cov, uncond = coverage(args.studies, n, k, args.seeds, args.resamples)
            for method, qs in cov.items():
                for q, value in qs.items():
                    emit("coverage", round(value, 4), method=method, test_size=n, splits=k, seeds=args.seeds,
                         quantity="delta B-A" if q == "delta" else f"mean auroc {q}", studies=args.studies)
                    mins[method] = min(mins[method], value)
            if k == 1:
                emit("bootstrap_coverage_1split_unconditional", round(uncond, 4), test_size=n,
                     note="a one-split interval vs the mean over training splits")
            emit("coverage_setting_seconds", round(time.perf_counter() - start, 1), test_size=n, splits=k)
    if not args.only_timing:
        emit("bootstrap_coverage_min", round(mins["bootstrap"], 4), goal=">= 0.93", studies=args.studies,
             resamples=args.resamples)
        emit("t_interval_coverage_min", round(mins["t_interval"], 4), reference="the previous report's method")
    if not args.skip_timing:
        t = time_report(2000)
        emit("report_seconds_5x3x3", round(t["report_wall"], 2), cpu_seconds=round(t["report_cpu"], 2),
             statistics_wall=round(t["compute_wall"], 2), statistics_cpu=round(t["compute_cpu"], 2), goal="< 5",
             resamples=2000, test_molecules=232, note="5 variants x 3 seeds x 3 splits = 45 runs, no reference "
             "row; the whole report (read, bootstrap, Markdown, CSV, plot, dashboard note)")
        fast, slow = cell_speed()
        emit("bootstrap_cell_speedup_vs_sklearn_loop", round(slow / fast, 1), vectorised_s=round(fast, 4),
             sklearn_loop_s=round(slow, 3), resamples=2000, molecules=232)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
