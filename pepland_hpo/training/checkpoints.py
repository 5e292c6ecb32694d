"""Checkpoints that hold weights and plain data only.

A checkpoint is ``{"format": 1, "model_config": dict, "state_dict": ...,
"meta": dict}`` written with ``torch.save``. Loading always uses
``torch.load(..., weights_only=True)``: checkpoints travel between machines
and users (optuna-dashboard artifacts), and a full unpickler would run any
code a file carries. ``meta`` is therefore restricted to what that loader
accepts: str, int, float, bool, None, lists/tuples/dicts of those, tensors.

Example::

    save_checkpoint("best.pt", model, model_config, {"task": "classification"})
    model, meta = load_checkpoint("best.pt")
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pepland_hpo.atomic import atomic_torch_save
from pepland_hpo.models.config import ModelConfig
from pepland_hpo.training.errors import CheckpointError

CHECKPOINT_FORMAT = 1


def _plain(value: Any, where: str) -> Any:
    """``value`` as types ``weights_only`` loading accepts; numpy scalars/arrays are converted."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint meta key {where}.{k!r} must be str or int")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"checkpoint meta {where} is a {type(value).__name__}; only plain data "
        "(str, numbers, bool, None, lists, dicts, tensors) can be loaded with weights_only=True"
    )


def save_checkpoint(path: str | os.PathLike, model: nn.Module, model_config: ModelConfig,
                    meta: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint atomically (temporary file + rename) and return its path.

    Atomic because several workers may read the artifacts folder while one
    writes, and a worker killed mid-write must not leave a truncated file
    behind under the final name.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": _plain(model_config.to_dict(), "model_config"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": _plain(dict(meta or {}), "meta"),
    }
    return atomic_torch_save(payload, path)


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw payload, loaded with ``weights_only=True``; anything else is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global it does not know: the file holds code or objects
        raise CheckpointError(
            f"checkpoint {path} holds objects other than weights and plain data; "
            f"refusing to load it ({str(exc).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable torch file: {exc}") from None
    if not isinstance(payload, dict) or not {"model_config", "state_dict"} <= set(payload):
        raise CheckpointError(f"checkpoint {path} is not a pepland-hpo checkpoint (no model_config/state_dict)")
    if payload.get("format", CHECKPOINT_FORMAT) > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {payload['format']}; this version reads up to {CHECKPOINT_FORMAT}"
        )
    return payload


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    builder: Callable[[ModelConfig], nn.Module] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its stored config, load the weights, return ``(model, meta)``.

    The model is in eval mode. ``builder`` defaults to ``models.build_model``
    (a parameter so tools and tests can rebuild other module types).
    """
    payload = read_checkpoint(path, map_location)
    config = ModelConfig.from_dict(payload["model_config"])
    if builder is None:
        from pepland_hpo.models import build_model  # models/ is to the left of training/

        builder = build_model
    model = builder(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match its model config: {exc}") from None
    model.to(map_location)
    model.eval()
    meta = dict(payload.get("meta") or {})
    return model, meta


__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "read_checkpoint", "save_checkpoint"]
