"""Multi-objective search: ``objectives: [val_auroc, params]`` (``create search --objectives ...``).

An objective is ``val_<metric>`` (a validation metric of the task, in its
natural direction), ``params`` (the model's parameter count, minimised) or
``seconds_per_epoch`` (mean training seconds per epoch, minimised). The study
is Optuna's multi-objective study (one direction per objective); a worker
tells the list of values in this order. Optuna cannot report intermediate
values or prune in a multi-objective study, so such a search's pruner is
``none`` (set when the spec is read) and workers report no epochs to Optuna. The report shows the Pareto front, ``study.best_trials``.
"""

from __future__ import annotations

import math
from typing import Any

from pepland_hpo.errors import UserInputError

# objective -> (user attribute of a finished trial, direction); val_<metric> is handled apart
COSTS = {"params": ("param_count", "minimize"), "seconds_per_epoch": ("seconds_per_epoch", "minimize")}
VAL_PREFIX = "val_"


def parse_objectives(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [p.strip() for p in str(text).split(",")]


def objectives_problem(objectives: Any, kind: str) -> str | None:
    """What is wrong with ``objectives`` (structure only; the metric's task is known once the data is
    loaded: :func:`resolve_objectives`), or None."""
    if kind != "search":
        return "several objectives apply to a search only"
    if (not isinstance(objectives, list) or len(objectives) < 2
            or not all(isinstance(o, str) and o.strip() for o in objectives)):
        return f"expected two or more names, e.g. val_auroc,params; got {objectives!r}"
    if len(set(objectives)) != len(objectives):
        return "an objective is listed twice"
    for name in objectives:
        if name not in COSTS and not name.startswith(VAL_PREFIX):
            return f"unknown objective {name!r}; expected val_<metric> (e.g. val_auroc), {', '.join(COSTS)}"
    vals = [o for o in objectives if o.startswith(VAL_PREFIX)]
    if len(vals) != 1:
        return f"expected exactly one validation metric (val_<metric>), got {len(vals)}"
    return None


def resolve_objectives(spec, task: str) -> None:
    """Check the validation metric against the task; it becomes the study's ``metric``."""
    if not spec.objectives:
        return
    from pepland_hpo.training.metrics import metric_names

    metric = next(o for o in spec.objectives if o.startswith(VAL_PREFIX))[len(VAL_PREFIX):]
    allowed = set(metric_names(task)) | {"loss"}
    if metric not in allowed:
        where = f"{spec.source}: objectives" if spec.source else "objectives"
        raise UserInputError(f"{where}: {VAL_PREFIX}{metric} is not a {task} metric; expected "
                             + ", ".join(VAL_PREFIX + m for m in sorted(allowed)))
    if spec.metric not in (None, metric):
        where = f"{spec.source}: metric" if spec.source else "metric"
        raise UserInputError(f"{where}: {spec.metric} differs from the objective {VAL_PREFIX}{metric}")
    spec.metric = metric


def directions(spec) -> list[str]:
    """One Optuna direction per objective, in order."""
    from pepland_hpo.training.metrics import METRIC_DIRECTION

    return [COSTS[o][1] if o in COSTS else METRIC_DIRECTION[o[len(VAL_PREFIX):]] for o in spec.objectives]


def values(spec, best_value: float, attrs: dict[str, Any]) -> list[float] | None:
    """The values a finished trial tells, in objective order; None when one is missing or not finite."""
    out = []
    for name in spec.objectives:
        value = best_value if name.startswith(VAL_PREFIX) else attrs.get(COSTS[name][0])
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        out.append(value)
    return out


__all__ = ["COSTS", "objectives_problem", "directions", "parse_objectives", "resolve_objectives", "values"]
