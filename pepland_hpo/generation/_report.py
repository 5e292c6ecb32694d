"""Writing an evaluation: one CSV (long form) and one Markdown table, methods as rows.

``report.csv``: ``method, metric, value, low, high`` — one row per number, so a
notebook can pivot it any way. ``report.md``: the table a reader scans, each cell
``value [low, high]`` (95 % bootstrap interval over that method's set), with the
notes a reader needs to interpret it (what the oracle is, what the baselines are).
"""

from __future__ import annotations

import csv
from pathlib import Path

from pepland_hpo.generation._evaluation import Estimate

# Columns of the Markdown table, in reading order (a metric absent for every method is left out).
COLUMNS = ("validity", "uniqueness", "novelty", "max_identity_mean", "identity_below_0.7", "diversity_edit",
           "diversity_tanimoto", "w_length", "w_composition", "w_net_charge", "w_hydrophobicity",
           "w_hydrophobic_moment", "oracle_positive_rate", "oracle_mean", "guide_positive_rate", "guide_mean")


def write_report(out_dir, results: dict[str, dict[str, Estimate]], title: str = "Generation report",
                 notes: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``report.csv`` and ``report.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "report.csv", out / "report.md"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "metric", "value", "low", "high"])
        for method, metrics in results.items():
            for metric, est in metrics.items():
                w.writerow([method, metric, f"{est.value:.6g}", f"{est.low:.6g}", f"{est.high:.6g}"])
    cols = [c for c in COLUMNS if any(c in m for m in results.values())]
    lines = [f"# {title}", "", "| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for method, metrics in results.items():
        cells = [_cell(metrics.get(c)) for c in cols]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "Each cell: value [95 % bootstrap interval over the method's generated set].", ""]
    lines += [f"* {n}" for n in (notes or [])]
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def _cell(est: Estimate | None) -> str:
    if est is None:
        return "–"
    return f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


__all__ = ["COLUMNS", "write_report"]
