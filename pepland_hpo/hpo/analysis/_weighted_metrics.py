"""The report's metrics for many bootstrap resamples at once, read from the metric registry.

The math lives in :mod:`pepland_hpo.training.resampled_metrics` and each
metric's entry (direction, bounds, chance level, threshold rule) in
:mod:`pepland_hpo.training.metric_registry`; this module keeps the names the
report has always called. A resample is a row of counts of a ``[B, n]``
weight matrix; a row of ones is the original sample. ``threshold`` is the one
the report chose on validation: ``mcc``, ``f1`` and ``accuracy`` binarise
there, ``mcc@0.5`` always at 0.5.
"""

from __future__ import annotations

import numpy as np

from pepland_hpo.training import metric_registry as registry
from pepland_hpo.training.resampled_metrics import best_threshold

CLASSIFICATION = registry.names("classification")
REGRESSION = registry.names("regression")
# the range each metric lives in: intervals and chance lines are drawn inside it
BOUNDS = {name: m.bounds for name, m in registry.REGISTRY.items()}


def metric_names(task: str) -> tuple[str, ...]:
    return registry.names(task)


def weighted_metrics(task: str, y: np.ndarray, p: np.ndarray, W: np.ndarray, threshold: float = 0.5,
                     names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every metric of ``task`` (or ``names``) for each row of ``W``: ``{name: [B]}``.

    ``y``, ``p``: ``[n]`` (one target, no missing label); ``W``: ``[B, n]`` counts.
    """
    return registry.score_resampled(task, y, p, W, threshold=threshold, which=names)


__all__ = ["BOUNDS", "CLASSIFICATION", "REGRESSION", "best_threshold", "metric_names", "weighted_metrics"]
