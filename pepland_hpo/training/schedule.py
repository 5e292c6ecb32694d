"""Learning-rate schedules of the supervised loop: linear warm-up, then cosine decay or plateau.

``LRSchedule(optimizer, cfg, steps_per_epoch, direction)`` is stepped twice: after
every optimiser step (:meth:`LRSchedule.step_batch`) and after every validation
(:meth:`LRSchedule.step_epoch`). It is built from PyTorch's own schedulers:

* ``constant``: warm-up, then the base learning rate;
* ``cosine``: warm-up, then ``lr · (r + (1 − r)(1 + cos πt)/2)`` over the remaining
  steps of ``cfg.epochs`` (``t`` from 0 to 1, ``r = cfg.min_lr_ratio``), one
  ``LambdaLR`` stepped per batch;
* ``plateau``: warm-up, then ``ReduceLROnPlateau`` on the validation metric (its
  direction), multiplying by ``cfg.plateau_factor`` after ``cfg.plateau_patience``
  epochs without improvement.

Warm-up rises linearly from ``lr / warmup_steps`` to ``lr`` over
``cfg.warmup_epochs`` epochs (fractions allowed): large early steps on a freshly
initialised transformer (post-LN statistics, attention logits) are what make
runs seed-sensitive. ``state_dict``/``load_state_dict`` cover both parts, so a
resumed run continues the same curve.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

SCHEDULES = ("constant", "cosine", "plateau")


class LRSchedule:
    def __init__(self, optimizer: torch.optim.Optimizer, cfg, steps_per_epoch: int,
                 direction: str = "maximize"):
        if cfg.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {cfg.lr_schedule!r}")
        self.kind = cfg.lr_schedule
        steps_per_epoch = max(1, int(steps_per_epoch))
        self.warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))
        self.total_steps = max(1, cfg.epochs * steps_per_epoch)
        self.min_ratio = float(cfg.min_lr_ratio)
        self.steps = 0
        self.lambda_lr = LambdaLR(optimizer, lambda step: self._factor(step))
        self.plateau = None
        if self.kind == "plateau":
            self.plateau = ReduceLROnPlateau(
                optimizer, mode="max" if direction == "maximize" else "min",
                factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            )

    def _factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind != "cosine":
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))

    def step_batch(self) -> None:
        """After an optimiser step. Under ``plateau`` only the warm-up is per step: once it is
        over, the learning rate belongs to ``ReduceLROnPlateau``."""
        self.steps += 1
        if self.plateau is None or self.steps <= self.warmup_steps:
            self.lambda_lr.step()

    def step_epoch(self, value: float) -> None:
        """After validation, with the epoch's validation metric."""
        if self.plateau is not None and self.steps >= self.warmup_steps and math.isfinite(value):
            self.plateau.step(value)

    def current_lr(self) -> float:
        return float(self.lambda_lr.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "steps": self.steps, "lambda_lr": self.lambda_lr.state_dict(),
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
            "lrs": [float(g["lr"]) for g in self.lambda_lr.optimizer.param_groups],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"schedule state is for {state.get('kind')!r}, this run uses {self.kind!r}")
        self.steps = int(state["steps"])
        self.lambda_lr.load_state_dict(state["lambda_lr"])
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(state["plateau"])
        # the learning rates themselves, whichever of optimizer and schedule is restored first
        for group, lr in zip(self.lambda_lr.optimizer.param_groups, state.get("lrs", [])):
            group["lr"] = lr


__all__ = ["LRSchedule", "SCHEDULES"]
