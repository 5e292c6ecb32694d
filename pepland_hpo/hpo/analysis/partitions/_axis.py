"""The partition axis: the study's ablation report rebuilt once per partition.

A study whose splits are *named* partitions - a benchmark's given partitions or homology
thresholds (``partition_names``) - is read the way such benchmarks publish results: a table per
partition, then the metric against the partition. Each partition's report is the ordinary
ablation report of that partition's trials (:func:`~pepland_hpo.hpo.analysis.build_ablation` with
``partition=r``): its own bootstrap over that partition's test molecules and seeds, its own Holm
family, the references trained on that partition. "Δ vs reference" in these tables is against the
reference with the best *validation* metric of that partition, so the choice never looks at test.
The across-partition mean (the field's headline) is the study's pooled report, whose hierarchical
bootstrap draws the partitions too. Repeated random splits are redraws of one split, not an axis:
they stay pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pepland_hpo.hpo.analysis import AblationReport, build_ablation
from pepland_hpo.hpo.study import partition_names


@dataclass
class PartitionAxis:
    names: list[str]  # in the study's order
    reports: list[AblationReport]  # one per partition, same order
    pooled: AblationReport  # every partition together: the across-partition mean
    files: dict[str, Any] = field(default_factory=dict)

    def numeric(self) -> bool:
        """Whether every partition is named by a number (thresholds), so a line plot reads as one."""
        return all(_as_float(n) is not None for n in self.names)


def _as_float(name: str) -> float | None:
    try:
        return float(name)
    except ValueError:
        return None


def has_partition_axis(study) -> bool:
    names = partition_names(study.user_attrs)
    return bool(names) and len(names) > 1


def build_partition_axis(study, spec: dict, pooled: AblationReport, reference: bool,
                         n_resamples: int | None = None) -> PartitionAxis:
    """One report per partition of ``study``; ``pooled`` is its report over every partition."""
    from pepland_hpo.hpo.analysis import load_study_data

    names = partition_names(study.user_attrs) or []
    kwargs = {} if n_resamples is None else {"n_resamples": n_resamples}
    data = load_study_data(study, spec, pooled.task) if reference else (None, "not needed")
    reports = [build_ablation(study, spec, pooled.metric, reference, partition=r, vs_reference="best-valid",
                              data=data, **kwargs)
               for r in range(len(names))]
    return PartitionAxis(names, reports, pooled)


__all__ = ["PartitionAxis", "build_partition_axis", "has_partition_axis"]
