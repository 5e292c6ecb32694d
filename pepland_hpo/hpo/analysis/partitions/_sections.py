"""What an ablation report adds for its partition axis and for published numbers: the Markdown
sections (placed before the verdict) and their files (figure, per-partition CSV)."""

from __future__ import annotations

from pathlib import Path

from pepland_hpo.hpo.analysis import AblationReport, ours_by_partition, published_table
from pepland_hpo.hpo.analysis.partitions._axis import build_partition_axis, has_partition_axis
from pepland_hpo.hpo.analysis.partitions._frame import partition_frame
from pepland_hpo.hpo.analysis.partitions._markdown import partition_markdown
from pepland_hpo.hpo.analysis.partitions._plot import partition_plot


def report_sections(study, spec: dict, report: AblationReport, out: Path, reference: bool,
                    published=None, published_name: str = "") -> list[str]:
    """Markdown lines for the partition axis (only when the study has more than one named partition:
    a single-partition report is unchanged) and for ``published`` rows (only when given).
    Writes ``report_partitions.png`` and ``report_partitions.csv`` into ``out`` and lists them in
    ``report.files``."""
    lines: list[str] = []
    axis = None
    if has_partition_axis(study) and report.evidence == "molecules":
        axis = build_partition_axis(study, spec, report, reference, n_resamples=report.n_resamples or None)
        axis.files["plot"] = partition_plot(axis, out / "report_partitions.png")
        csv_path = out / "report_partitions.csv"
        partition_frame(axis).to_csv(csv_path, index=False)
        report.files["partitions_plot"] = axis.files["plot"]
        report.files["partitions_csv"] = csv_path
        lines += partition_markdown(axis)
    elif has_partition_axis(study):
        lines += ["## Per partition", "", "Not computed: per-partition tables need the trials' per-molecule "
                  "predictions (see the intervals note above).", ""]
    if published:
        lines += published_table(published, ours_by_partition(report, axis), published_name)
    return lines


__all__ = ["report_sections"]
