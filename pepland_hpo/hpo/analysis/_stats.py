"""Seed-level statistics and multiplicity control for the ablation report.

The report's intervals come from a bootstrap over test molecules
(:mod:`pepland_hpo.hpo.analysis._bootstrap`). What lives here is what does not
need per-molecule predictions:

* :func:`holm` - Holm's step-down adjustment of a family of p-values (every
  comparison of one report table is one family);

and the seed-only statistics a study made before predictions were stored falls
back to (its rows say so). Two small, pure functions, kept apart from the
report so a test can check them against numpy/scipy directly:

* :func:`summarize` - mean, sample standard deviation and a two-sided 95 %
  confidence interval from Student's t distribution (seeds are few, so a
  normal interval would be too narrow);
* :func:`paired_test` - the difference between two variants paired by seed
  (the same seed means the same initialisation stream and batch order, so
  pairing removes the seed-to-seed noise both share), with a paired t-test and,
  from :data:`WILCOXON_MIN_PAIRS` pairs on, the Wilcoxon signed-rank test too.

Nothing here raises on too few values: one seed gives a mean with ``nan``
spread, fewer than two pairs give ``nan`` p-values, because a half-finished
study must still produce a report.

>>> s = summarize([0.70, 0.72, 0.74])
>>> round(s.mean, 3), round(s.sd, 3), s.n
(0.72, 0.02, 3)
>>> r = paired_test({0: 0.70, 1: 0.71}, {0: 0.75, 1: 0.77})
>>> r.n_pairs, round(r.mean_diff, 3)
(2, 0.055)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
# Below six pairs the exact signed-rank test cannot reach p < 0.05 two-sided
# (its smallest p with n = 5 is 0.0625), so reporting it would only mislead.
WILCOXON_MIN_PAIRS = 6

NAN = float("nan")


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    def fmt(self, digits: int = 3) -> str:
        """``0.812 ± 0.011 [0.785, 0.839]``; ``-`` when there is no value."""
        if self.n == 0 or not math.isfinite(self.mean):
            return "-"
        if not math.isfinite(self.sd):
            return f"{self.mean:.{digits}f}"
        return (
            f"{self.mean:.{digits}f} ± {self.sd:.{digits}f} "
            f"[{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"
        )


@dataclass(frozen=True)
class PairedResult:
    n_pairs: int
    mean_diff: float  # mean over seeds of (other - reference)
    ci_low: float
    ci_high: float
    p_ttest: float
    p_wilcoxon: float  # nan below WILCOXON_MIN_PAIRS pairs

    @property
    def test_name(self) -> str:
        if self.n_pairs < 2:
            return "none (fewer than 2 paired seeds)"
        if self.n_pairs >= WILCOXON_MIN_PAIRS:
            return "paired t-test + Wilcoxon signed-rank"
        return "paired t-test"


def _finite(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray([float(v) for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def _t_interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """mean, sd (ddof=1), and the t-based CI of the mean."""
    n = len(values)
    if n == 0:
        return NAN, NAN, NAN, NAN
    mean = float(values.mean())
    if n < 2:
        return mean, NAN, NAN, NAN
    sd = float(values.std(ddof=1))
    half = float(sps.t.ppf(0.5 + CONFIDENCE / 2, df=n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def summarize(values: Iterable[float]) -> Summary:
    """Mean ± sd and 95 % t interval of the finite values (NaN seeds are left out)."""
    arr = _finite(values)
    mean, sd, lo, hi = _t_interval(arr)
    return Summary(n=len(arr), mean=mean, sd=sd, ci_low=lo, ci_high=hi)


def paired_test(reference: Mapping[object, float], other: Mapping[object, float]) -> PairedResult:
    """Compare ``other`` with ``reference`` on the seeds both have a finite value for."""
    keys = [
        k
        for k in reference
        if k in other and math.isfinite(float(reference[k])) and math.isfinite(float(other[k]))
    ]
    a = np.asarray([float(reference[k]) for k in keys], dtype=np.float64)
    b = np.asarray([float(other[k]) for k in keys], dtype=np.float64)
    diff = b - a
    mean, _sd, lo, hi = _t_interval(diff)
    p_t = p_w = NAN
    if len(keys) >= 2:
        with warnings.catch_warnings():
            # identical differences make t undefined; scipy warns and returns nan, which we keep
            warnings.simplefilter("ignore")
            p_t = float(sps.ttest_rel(b, a).pvalue)
            if len(keys) >= WILCOXON_MIN_PAIRS:
                try:
                    p_w = float(sps.wilcoxon(b, a).pvalue)
                except ValueError:  # all differences zero
                    p_w = NAN
    return PairedResult(
        n_pairs=len(keys), mean_diff=mean, ci_low=lo, ci_high=hi, p_ttest=p_t, p_wilcoxon=p_w
    )


def holm(pvalues: Iterable[float]) -> list[float]:
    """Holm-adjusted p-values (same order); NaN stays NaN and is not counted in the family.

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i),
    a running maximum keeps the order, and values are capped at 1; controls the
    family-wise error rate under any dependence between the tests.

    >>> holm([0.01, 0.04, 0.03, float("nan")])
    [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray([float(x) for x in pvalues], dtype=np.float64)
    out = np.full(p.shape, NAN)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        out[order] = np.minimum(adjusted, 1.0)
    return [float(round(x, 12)) if math.isfinite(x) else NAN for x in out]


__all__ = ["holm", "CONFIDENCE", "WILCOXON_MIN_PAIRS", "PairedResult", "Summary", "paired_test", "summarize"]
