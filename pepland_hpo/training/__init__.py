"""Training: objectives (supervised, contrastive, fine-tune), the loop, metrics, checkpoints.

Nothing here imports Optuna; progress leaves through ``on_epoch(epoch, metrics)``.
The public names below are imported lazily, so ``from pepland_hpo.training
import TrainConfig`` (the CLI's import) does not pay for scikit-learn and PyG.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config",
    "compute_metrics": "metrics",
    "default_metric": "metrics",
    "metric_direction": "metrics",
    "METRIC_DIRECTION": "metrics",
    "NonFiniteLoss": "errors",
    "TrainingError": "errors",
    "CheckpointError": "errors",
    "resolve_device": "device",
    "seed_everything": "seeding",
    "TrainResult": "loop",
    "TargetScaler": "loop",
    "train_supervised": "loop",
    "evaluate": "loop",
    "make_loader": "loop",
    "save_checkpoint": "checkpoints",
    "load_checkpoint": "checkpoints",
    "ExperimentConfig": "run",
    "ExperimentResult": "run",
    "run_experiment": "run",
    "parse_settings": "settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
