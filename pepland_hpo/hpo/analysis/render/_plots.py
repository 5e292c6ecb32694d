"""Report figures: a headless matplotlib PNG for ablations, plotly HTML for searches."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pepland_hpo.hpo.analysis import AblationReport

import matplotlib

# Workers and servers have no display; Agg also avoids a GUI toolkit import.
matplotlib.use("Agg")


def _panel(ax, report: "AblationReport", metric: str) -> None:
    from pepland_hpo.hpo.analysis import CHANCE
    from pepland_hpo.hpo.analysis import BOUNDS

    rows = [r for r in report.all_rows() if r.kind != "reference"]
    xs = list(range(len(rows)))
    lows, highs = [], []
    for x, r in zip(xs, rows):
        est = r.test.get(metric)
        color = "tab:blue" if r.kind == "variant" else "tab:purple"
        if est is not None and math.isfinite(est.value):
            lo = est.low if math.isfinite(est.low) else est.value
            hi = est.high if math.isfinite(est.high) else est.value
            ax.errorbar([x], [est.value], yerr=[[est.value - lo], [hi - est.value]], fmt="o", capsize=5,
                        color=color, zorder=3)
            lows.append(lo)
            highs.append(hi)
        runs = [v.get(metric) for v in r.cells.values()]
        runs = [v for v in runs if v is not None and math.isfinite(v)]
        ax.scatter([x] * len(runs), runs, s=12, color="tab:gray", alpha=0.7, zorder=2)
    for i, ref in enumerate(report.references):
        est = ref.test.get(metric)
        if est is None or not math.isfinite(est.value):
            continue
        color = ("tab:orange", "tab:green", "tab:red")[i % 3]
        ax.axhline(est.value, color=color, lw=1.5, label=ref.variant)
        if math.isfinite(est.low):
            ax.axhspan(est.low, est.high, color=color, alpha=0.15)
            lows.append(est.low)
            highs.append(est.high)
    chance = CHANCE.get(metric)
    if chance is None and metric == "auprc" and report.task == "classification":
        chance = None  # prevalence differs per split; no single line
    if chance is not None:
        ax.axhline(chance, color="black", lw=1, ls="--", label="chance")
        lows.append(chance)
    lo_bound, hi_bound = BOUNDS.get(metric, (-math.inf, math.inf))
    if lows and highs:
        # never zoom in so far that small gaps look large: at least 0.2 of axis, chance included
        lo, hi = min(lows), max(highs)
        span = max(hi - lo, 0.2)
        pad = 0.05 * span
        ax.set_ylim(max(lo - pad, lo_bound - 0.01 * span), min(lo + span + pad, hi_bound + 0.01 * span))
    ax.set_xticks(xs)
    ax.set_xticklabels([r.variant for r in rows], rotation=30, ha="right")
    ax.set_ylabel(f"test {metric}")
    ax.grid(axis="y", alpha=0.3)


def ablation_plot(report: "AblationReport", path: Path) -> Path:
    """Test metric (and the second metric) per row: estimate with its 95 % interval, runs as dots,
    references as bands, chance as a dashed line."""
    import matplotlib.pyplot as plt

    metrics = [report.metric] + ([report.second_metric] if report.second_metric else [])
    n_rows = len([r for r in report.all_rows() if r.kind != "reference"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(6.0, 0.9 * n_rows + 3) * len(metrics) / 1.5, 4.5),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _panel(ax, report, metric)
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(loc="best", fontsize=7)
    what = "bootstrap 95 % interval" if report.evidence == "molecules" else "t interval over seeds (seed-only)"
    fig.suptitle(f"{report.study_name}: {report.splits_text()}, dots = runs, bars = {what}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plotly(fig, path: Path) -> Path:
    """Self-contained HTML (plotly.js embedded): GPU servers are often offline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


__all__ = ["ablation_plot", "write_plotly"]
