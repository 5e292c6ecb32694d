"""Paired, stratified, hierarchical bootstrap over test molecules (and splits).

One :class:`Plan` is drawn per report and shared by every row, so differences
between rows are paired: resample ``b`` gives every row the same molecules of
every split, and the same splits.

* **Molecules.** Within each split's test set, ``B`` resamples with
  replacement, stratified by class for classification (each resample keeps the
  test set's class counts, so AUROC is always defined). A resample is a row of
  counts, see :mod:`.weighted_metrics`.
* **Seeds.** A row's value on one split is the mean of its seeds' metrics on
  the same resampled molecules; each resample also draws the seeds with
  replacement (the same draws for every row), so seed-to-seed variation enters
  the interval. It matters most for differences: pairing by molecule cancels
  most of the test-sample noise two models share, and what is left is largely
  which seeds (initialisations) were drawn.
* **Splits.** With several splits (repeated random or similarity splits) each
  resample also draws the splits with replacement and averages over them: the
  interval then carries the split-to-split variation too (a hierarchical
  bootstrap: splits, then seeds, then molecules). With one split the interval
  is about the model trained on that split; it cannot speak for other
  training sets.

Intervals are percentile intervals: every resampled value is a metric value,
so the interval cannot leave the metric's range (an AUROC interval stays in
[0, 1]). A difference's two-sided p-value is read off the same resamples:
``2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0))`` with the usual +1 correction, which is below
0.05 exactly when 0 lies outside the 95 % interval.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from pepland_hpo.hpo.analysis._evidence import Part
from pepland_hpo.hpo.analysis._weighted_metrics import weighted_metrics

N_RESAMPLES = 2000
CONFIDENCE = 0.95
Cell = tuple[int, int]  # (split repeat, seed)


@dataclass
class Plan:
    """The resamples every row shares. ``index[r]``: split r's sorted test rows;
    ``weights[r]``: ``[1 + B, n_r]`` counts, row 0 all ones (the original sample)."""

    n_resamples: int
    seed: int
    index: dict[int, np.ndarray]
    weights: dict[int, np.ndarray]
    stratified: bool
    _draws: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)

    def draws(self, key: tuple, n: int) -> np.ndarray:
        """``[B, n]`` positions in ``0..n-1``, drawn with replacement; the same for every row that
        resamples the same things (``key`` names them), so paired rows stay paired."""
        key = (key, n)
        if key not in self._draws:
            digest = hashlib.sha256(repr((self.seed, key)).encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            self._draws[key] = rng.integers(0, n, size=(self.n_resamples, n))
        return self._draws[key]

    def split_draws(self, splits: tuple[int, ...]) -> np.ndarray:
        """``[B, len(splits)]`` positions into ``splits``."""
        return self.draws(("splits", splits), len(splits))

    def seed_draws(self, split: int, seeds: tuple[int, ...]) -> np.ndarray:
        """``[B, len(seeds)]`` positions into ``seeds`` of one split."""
        return self.draws(("seeds", split, seeds), len(seeds))


def make_plan(test_index: Mapping[int, np.ndarray], labels: Mapping[int, np.ndarray] | None,
              n_resamples: int = N_RESAMPLES, seed: int = 0) -> Plan:
    """``test_index[r]``: split r's test rows; ``labels[r]``: their class (same order) to stratify by, or None."""
    rng = np.random.default_rng(seed)
    index, weights = {}, {}
    for r in sorted(test_index):
        idx = np.asarray(test_index[r], dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        index[r] = idx[order]
        n = len(idx)
        W = np.empty((n_resamples + 1, n), dtype=np.float64)
        W[0] = 1.0
        if labels is not None and labels.get(r) is not None:
            lab = np.asarray(labels[r])[order]
            strata = [np.flatnonzero(lab == c) for c in np.unique(lab[np.isfinite(lab)])]
            strata.append(np.flatnonzero(~np.isfinite(lab)))
        else:
            strata = [np.arange(n)]
        for members in strata:
            if len(members):
                W[1:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)),
                                                 size=n_resamples)
        weights[r] = W
    return Plan(n_resamples, seed, index, weights, stratified=labels is not None)


def align(part: Part, index: np.ndarray) -> Part | None:
    """``part`` reordered to ``index`` (a split's sorted test rows); None if it holds other molecules."""
    if len(part.index) != len(index):
        return None
    order = np.argsort(part.index, kind="stable")
    if not np.array_equal(part.index[order], index):
        return None
    return Part(index=index, true=part.true[order], pred=part.pred[order])


def cell_metrics(task: str, part: Part, W: np.ndarray, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Every metric for the original sample and each resample: ``{metric: [1 + B]}``.

    Several targets: each is scored on the molecules where it is known, then averaged.
    """
    per_target = []
    for t in range(part.true.shape[1]):
        known = np.isfinite(part.true[:, t])
        per_target.append(weighted_metrics(task, part.true[known, t], part.pred[known, t], W[:, known], threshold))
    if len(per_target) == 1:
        return per_target[0]
    with np.errstate(all="ignore"):
        return {m: np.nanmean(np.stack([d[m] for d in per_target]), axis=0) for m in per_target[0]}


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n_cells: int
    n_splits: int

    def fmt(self, digits: int = 3) -> str:
        if not math.isfinite(self.value):
            return "-"
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class Difference:
    diff: float  # row − other
    low: float
    high: float
    p: float
    n_cells: int
    n_splits: int
    method: str = "bootstrap"
    p_adjusted: float = float("nan")


def _resample_rows(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``values`` [k, 1 + B], ``draws`` [B, k] -> [B]: resample b averages rows ``draws[b]`` at column 1 + b."""
    cols = np.arange(1, values.shape[1])[:, None]
    return values[draws, cols].mean(axis=1)


def _resampled(plan: Plan, values: Mapping[Cell, np.ndarray], cells: list[Cell]) -> np.ndarray:
    """``[1 + B]``: element 0 the point value (mean over splits of the mean over seeds), then each
    resample, which redraws splits, then seeds within each split, then molecules."""
    splits = tuple(sorted({r for r, _ in cells}))
    per_split = []
    for r in splits:
        seeds = tuple(sorted(s for rr, s in cells if rr == r))
        v = np.stack([values[(r, s)] for s in seeds])
        boot = _resample_rows(v, plan.seed_draws(r, seeds)) if len(seeds) > 1 else v[0, 1:]
        per_split.append(np.concatenate(([v[:, 0].mean()], boot)))
    per_split = np.stack(per_split)
    boot = _resample_rows(per_split, plan.split_draws(splits)) if len(splits) > 1 else per_split[0, 1:]
    return np.concatenate(([per_split[:, 0].mean()], boot))


def _interval(boot: np.ndarray) -> tuple[float, float]:
    finite = boot[np.isfinite(boot)]
    if len(finite) < 0.9 * len(boot) or len(finite) == 0:
        return math.nan, math.nan
    alpha = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return float(lo), float(hi)


def estimate(plan: Plan, values: Mapping[Cell, np.ndarray], cells: list[Cell] | None = None) -> Estimate:
    cells = sorted(values if cells is None else cells)
    if not cells:
        return Estimate(math.nan, math.nan, math.nan, 0, 0)
    res = _resampled(plan, values, cells)
    lo, hi = _interval(res[1:])
    return Estimate(float(res[0]), lo, hi, len(cells), len({r for r, _ in cells}))


def difference(plan: Plan, row: Mapping[Cell, np.ndarray], other: Mapping[Cell, np.ndarray]) -> Difference:
    """``row − other`` on the cells both have, with the same resamples for both."""
    cells = sorted(set(row) & set(other))
    if not cells:
        return Difference(math.nan, math.nan, math.nan, math.nan, 0, 0)
    d = _resampled(plan, row, cells) - _resampled(plan, other, cells)
    boot = d[1:][np.isfinite(d[1:])]
    lo, hi = _interval(d[1:])
    n = len(boot)
    if n == 0:
        p = math.nan
    else:
        below, above = (np.sum(boot <= 0) + 1) / (n + 1), (np.sum(boot >= 0) + 1) / (n + 1)
        p = float(min(1.0, 2 * min(below, above)))
    return Difference(float(d[0]), lo, hi, p, len(cells), len({r for r, _ in cells}))


__all__ = ["CONFIDENCE", "N_RESAMPLES", "Difference", "Estimate", "Plan", "align", "cell_metrics",
           "difference", "estimate", "make_plan"]
