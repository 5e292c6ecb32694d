"""Report figures: a headless matplotlib PNG for ablations, plotly HTML for searches."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pepland_hpo.hpo.report import AblationReport

import matplotlib

# Workers and servers have no display; Agg also avoids a GUI toolkit import.
matplotlib.use("Agg")


def ablation_plot(report: "AblationReport", path: Path) -> Path:
    """Validation and test metric per variant: mean ± sd bars, seeds as dots, reference as a band."""
    import matplotlib.pyplot as plt

    rows = report.rows
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.3 * len(rows) + 3), 4), sharey=True)
    for ax, part in zip(axes, ("val", "test")):
        xs = list(range(len(rows)))
        means = [getattr(r, part).mean for r in rows]
        sds = [getattr(r, part).sd if math.isfinite(getattr(r, part).sd) else 0.0 for r in rows]
        ax.errorbar(xs, means, yerr=sds, fmt="o", capsize=5, color="tab:blue", zorder=3, label="mean ± sd")
        for x, r in zip(xs, rows):
            seeds = list(getattr(r, f"{part}_by_seed").values())
            ax.scatter([x] * len(seeds), seeds, s=12, color="tab:gray", alpha=0.7, zorder=2)
        ref = report.reference
        if ref is not None and math.isfinite(getattr(ref, part).mean):
            s = getattr(ref, part)
            sd = s.sd if math.isfinite(s.sd) else 0.0
            ax.axhline(s.mean, color="tab:orange", lw=1.5, label=ref.variant)
            # a deterministic reference has sd 0; still draw a visible band
            ax.axhspan(s.mean - sd, s.mean + sd, color="tab:orange", alpha=0.2)
        ax.set_xticks(xs)
        ax.set_xticklabels([r.variant for r in rows], rotation=30, ha="right")
        ax.set_title("validation" if part == "val" else "test")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(report.metric)
    axes[1].legend(loc="best", fontsize=8)
    fig.suptitle(f"{report.study_name}: {report.metric} by variant (n seeds, mean ± sd)")
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
