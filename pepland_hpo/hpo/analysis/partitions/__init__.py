"""A study's partition axis in its report: one table per partition (given partitions or homology
thresholds), the metric across partitions as a table and a figure, and the per-partition CSV.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "PartitionAxis": "_axis",
    "build_partition_axis": "_axis",
    "has_partition_axis": "_axis",
    "partition_frame": "_frame",
    "partition_markdown": "_markdown",
    "partition_plot": "_plot",
    "report_sections": "_sections",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
