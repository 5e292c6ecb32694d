"""The figure these benchmarks publish: the test metric against the partition (threshold), one
line per variant and per reference, with each partition's 95 % interval."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

from pepland_hpo.hpo.analysis.partitions._axis import PartitionAxis

matplotlib.use("Agg")  # workers and servers have no display


def _x_positions(axis: PartitionAxis) -> list[float]:
    """Thresholds at their value; other names (``random``, a fold) one step past the last, in order."""
    values = [float(n) if _number(n) else math.nan for n in axis.names]
    known = [v for v in values if math.isfinite(v)]
    step = (max(known) - min(known)) / max(len(known) - 1, 1) if len(known) > 1 else 1.0
    nxt = (max(known) if known else -step) + step
    out = []
    for v in values:
        if math.isfinite(v):
            out.append(v)
        else:
            out.append(nxt)
            nxt += step
    return out


def _number(name: str) -> bool:
    try:
        float(name)
        return True
    except ValueError:
        return False


def partition_plot(axis: PartitionAxis, path: Path) -> Path:
    import matplotlib.pyplot as plt

    m = axis.pooled.metric
    xs = _x_positions(axis)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    rows = axis.pooled.rows + axis.pooled.references
    # rows side by side around each partition, so their intervals do not hide each other
    dodge = 0.012 * ((max(xs) - min(xs)) or 1.0)
    for i, row in enumerate(rows):
        pts = []
        shift = (i - (len(rows) - 1) / 2) * dodge
        for x, rep in zip((x + shift for x in xs), axis.reports):
            mine = next((r for r in rep.all_rows() if r.variant == row.variant), None)
            est = mine.test.get(m) if mine is not None else None
            if est is not None and math.isfinite(est.value):
                lo = est.low if math.isfinite(est.low) else est.value
                hi = est.high if math.isfinite(est.high) else est.value
                pts.append((x, est.value, est.value - lo, hi - est.value))
        if not pts:
            continue
        px, py, lo, hi = zip(*pts)
        style = "--" if row.is_reference else "-"
        ax.errorbar(px, py, yerr=[lo, hi], fmt=f"o{style}", capsize=4, label=row.variant, alpha=0.9,
                    lw=1.5, ms=5, zorder=3 if not row.is_reference else 2)
    ax.set_xticks(xs)
    ax.set_xticklabels(axis.names)
    ax.set_xlabel("similarity threshold (partition)" if axis.numeric() else "partition")
    ax.set_ylabel(f"test {m}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    ax.set_title(f"{axis.pooled.study_name}: test {m} per partition, bars = bootstrap 95 % interval",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["partition_plot"]
