"""The partition axis as one flat table (``report_partitions.csv``): the ablation report's columns
per partition, with the partition's name first."""

from __future__ import annotations

from pepland_hpo.hpo.analysis.partitions._axis import PartitionAxis


def partition_frame(axis: PartitionAxis):
    import pandas as pd

    frames = []
    for name, rep in zip(axis.names, axis.reports):
        frame = rep.to_frame()
        frame.insert(0, "partition", name)
        frame["compared_reference"] = rep.compared_reference or ""
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


__all__ = ["partition_frame"]
