"""Resumable training state: what a crashed or handed-back run needs to continue at its last epoch.

Every ``every`` epochs the loop saves, atomically, everything that decides
the rest of the run: the weights and the state of every stateful object it
was given (optimiser, LR scheduler, GradScaler — anything with
``state_dict``/``load_state_dict``), the random states (Python, NumPy, torch
CPU and CUDA, and the data loader's shuffling generator), the epoch, the best
value, epoch and weights so far, the early-stopping counter and the per-epoch
history. Restoring all of it makes a resumed run on CPU end exactly where an
uninterrupted one would.

The file is plain tensors and data, loaded with ``weights_only=True`` like
every checkpoint here. Example::

    point = ResumePoint("storage/resume/ab/gcn-seed0-t3.pt", every=1)
    train_supervised(..., resume=point)   # continues from the file if it exists
    point.remove()                        # once the trial is finished for good
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pepland_hpo.atomic import atomic_torch_save
from pepland_hpo.training.seeding import capture_rng_state, restore_rng_state

log = logging.getLogger(__name__)

RESUME_FORMAT = 2


def loader_generator(loader) -> torch.Generator | None:
    """The generator a loader shuffles with (its batch sampler's, its sampler's or its own)."""
    for owner in (getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None), loader):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator):
            return gen
    return None


class ResumePoint:
    """Where one run's resumable state lives, and how often it is written (``every`` epochs; 0: never).

    ``on_resume(epoch)`` is called once a saved state was restored (the
    worker tells the study). ``resumed_from`` holds that epoch afterwards.
    """

    def __init__(self, path: str | os.PathLike, every: int = 1,
                 on_resume: Callable[[int], None] | None = None) -> None:
        self.path = Path(path)
        self.every = int(every)
        self.on_resume = on_resume
        self.resumed_from: int | None = None

    # -- writing ---------------------------------------------------------------------------
    def due(self, epoch: int, last_epoch: int) -> bool:
        return self.every > 0 and epoch < last_epoch and epoch % self.every == 0

    def save(self, epoch: int, objects: dict[str, Any], loop_state: dict[str, Any], generator) -> None:
        """Write the state after ``epoch`` (objects: name → thing with ``state_dict``; None entries skipped)."""
        payload = {
            "format": RESUME_FORMAT,
            "epoch": int(epoch),
            "objects": {name: _cpu(obj.state_dict()) for name, obj in objects.items() if obj is not None},
            "loop": _cpu(loop_state),
            "rng": capture_rng_state(),
            "generator": generator.get_state() if generator is not None else None,
        }
        atomic_torch_save(payload, self.path)

    # -- reading ---------------------------------------------------------------------------
    def load(self, objects: dict[str, Any], generator, device: torch.device) -> dict[str, Any] | None:
        """Restore a saved state into ``objects`` and the RNGs; return the loop state, or None if none."""
        if not self.path.is_file():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file: start over rather than fail
            log.warning("resume state %s unreadable (%s); starting from epoch 1", self.path, exc)
            return None
        if not isinstance(payload, dict) or payload.get("format") != RESUME_FORMAT:
            log.warning("resume state %s has an unknown format; starting from epoch 1", self.path)
            return None
        saved = payload["objects"]
        missing = [name for name, obj in objects.items() if obj is not None and name not in saved]
        if missing:
            log.warning("resume state %s lacks %s; starting from epoch 1", self.path, ", ".join(missing))
            return None
        for name, obj in objects.items():
            if obj is None:
                continue
            if isinstance(obj, torch.nn.Module):
                obj.load_state_dict(saved[name])
                obj.to(device)
            else:
                obj.load_state_dict(saved[name])
        restore_rng_state(payload["rng"])
        if generator is not None and payload.get("generator") is not None:
            generator.set_state(payload["generator"])
        self.resumed_from = int(payload["epoch"])
        log.info("resuming from %s after epoch %d", self.path, self.resumed_from)
        if self.on_resume is not None:
            self.on_resume(self.resumed_from)
        return dict(payload["loop"])

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_cpu(v) for v in value)
    if isinstance(value, list):
        return [_cpu(v) for v in value]
    return value


__all__ = ["RESUME_FORMAT", "ResumePoint", "loader_generator"]
