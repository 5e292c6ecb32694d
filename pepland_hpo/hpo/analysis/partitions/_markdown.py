"""The partition axis in Markdown: the metric across partitions, then one table per partition."""

from __future__ import annotations

import math

from pepland_hpo.hpo.analysis.partitions._axis import PartitionAxis
from pepland_hpo.hpo.analysis.render import fmt_diff


def _label(row) -> str:
    return f"*{row.variant}*" if row.kind != "variant" else row.variant


def _rows(report):
    """Variants, then references: ensembles stay in the pooled table."""
    return report.rows + report.references


def _estimate(report, variant: str, metric: str) -> str:
    row = next((r for r in report.all_rows() if r.variant == variant), None)
    est = row.test.get(metric) if row is not None else None
    return est.fmt() if est is not None else "-"


def _sizes(report, r: int) -> str:
    sizes = report.all_split_sizes[r] if r < len(report.all_split_sizes) else report.split_sizes
    return " / ".join(f"{k} {v}" for k, v in sizes.items())


def summary_lines(axis: PartitionAxis) -> list[str]:
    """Test metric of every variant and reference per partition, and the across-partition mean."""
    m = axis.pooled.metric
    what = "threshold" if axis.numeric() else "partition"
    out = [f"## Test {m} per {what}", "",
           "| variant | " + " | ".join(f"{what} {n}" for n in axis.names) + " | mean over partitions |",
           "| --- | " + " | ".join("---" for _ in axis.names) + " | --- |"]
    for row in _rows(axis.pooled):
        cells = [_estimate(rep, row.variant, m) for rep in axis.reports]
        est = row.test.get(m)
        out.append(f"| {_label(row)} | " + " | ".join(cells) + f" | {est.fmt() if est else '-'} |")
    out += ["", f"Estimate [95 % interval]: within a {what}, the paired bootstrap over its test molecules "
            f"(and seeds); the mean over partitions is the pooled table above, whose interval also draws the "
            f"partitions. Each {what}'s own table follows, with its own Holm family."]
    if "plot" in axis.files:
        out += ["", f"![test {m} per {what}]({axis.files['plot'].name})"]
    return out + [""]


def partition_lines(axis: PartitionAxis, r: int) -> list[str]:
    """One partition's table: every metric with its interval, Δ vs the validation-best reference."""
    rep = axis.reports[r]
    m = rep.metric
    compared = rep.compared_reference
    head = ["variant", "runs", f"val {m}", *(f"test {x}" for x in rep.metrics),
            f"Δ {m} vs best reference"]
    out = [f"### Partition {axis.names[r]!r} ({_sizes(rep, r)} molecules)", "",
           "| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for row in _rows(rep):
        val = f"{row.val_mean:.3f}" if math.isfinite(row.val_mean) else "-"
        cells = [_label(row), f"{row.n_done}/{row.n_planned}", val,
                 *(row.test[x].fmt() if x in row.test else "-" for x in rep.metrics),
                 "" if row.is_reference else fmt_diff(row.vs_reference)]
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    flagged = [f"{row.variant} ({'; '.join(row.flags)})" for row in _rows(rep) if row.flags]
    out.append("")
    if compared:
        out.append(f"Best reference by validation {m}: *{compared}*; Δ with its 95 % interval, p and "
                   f"Holm-adjusted p over the {rep.n_comparisons} comparisons of this partition.")
    else:
        out.append(f"No reference in this partition: {rep.reference_note}")
    if flagged:
        out.append("Flags: " + " · ".join(flagged) + ".")
    return out + [""]


def partition_markdown(axis: PartitionAxis) -> list[str]:
    """The sections a report with a partition axis adds (before its verdict)."""
    out = summary_lines(axis)
    what = "threshold" if axis.numeric() else "partition"
    out += [f"## Per {what}", ""]
    for r in range(len(axis.names)):
        out += partition_lines(axis, r)
    return out


__all__ = ["partition_lines", "partition_markdown", "summary_lines"]
