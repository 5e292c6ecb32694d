"""Targets and the loss on them: standardised regression targets, the masked loss, label checks.

NaN marks a missing label: it is masked out of the loss, never imputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pepland_hpo.errors import UserInputError


@dataclass
class TargetScaler:
    """Per-target ``(y - mean) / std`` from the training split (regression only).

    Training on standardised targets keeps the MSE of order one whatever the
    units; predictions are mapped back before any metric or checkpoint sees them.
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, targets: np.ndarray) -> "TargetScaler":
        t = np.asarray(targets, dtype=np.float64)
        with np.errstate(all="ignore"):
            mean = np.nanmean(t, axis=0) if len(t) else np.zeros(t.shape[1])
            std = np.nanstd(t, axis=0) if len(t) else np.ones(t.shape[1])
        mean = np.where(np.isfinite(mean), mean, 0.0)
        # a constant (or all-missing) target would divide by zero; leave it unscaled
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        return cls(mean=[float(v) for v in mean], std=[float(v) for v in std])

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=y.dtype, device=y.device)
        std = torch.as_tensor(self.std, dtype=y.dtype, device=y.device)
        return (y - mean) / std

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return y * np.asarray(self.std, dtype=y.dtype) + np.asarray(self.mean, dtype=y.dtype)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "TargetScaler | None":
        return None if not values else cls(mean=list(values["mean"]), std=list(values["std"]))


def masked_loss(task: str, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean loss over the known labels (NaN = missing) and how many there were.

    Computed in float32 whatever autocast produced: BCE-with-logits / MSE on
    half-precision outputs loses the small differences late training depends on.
    """
    if output.numel() != y.numel():
        raise ValueError(
            f"model predicts {tuple(output.shape)} but the batch has targets {tuple(y.shape)}; "
            "is ModelConfig.out_dim the number of targets?"
        )
    output = output.float().reshape(y.shape)
    known = ~torch.isnan(y)
    count = int(known.sum())
    if count == 0:
        return output.sum() * 0.0, 0
    target = torch.where(known, y, torch.zeros_like(y))
    if task == "classification":
        per = nn.functional.binary_cross_entropy_with_logits(output, target, reduction="none")
    else:
        per = (output - target) ** 2
    return (per * known).sum() / count, count


def batch_targets(batch, scaler: TargetScaler | None) -> torch.Tensor:
    y = batch.y.float()
    if y.dim() == 1:
        y = y.unsqueeze(1)
    return scaler.transform(y) if scaler is not None else y


def check_labels(task: str, targets: np.ndarray, what: str) -> None:
    if targets.size == 0 or targets.shape[1] == 0:
        raise UserInputError(f"the {what} split has no target values to train on")
    if task == "classification":
        values = np.unique(targets[~np.isnan(targets)])
        if not set(values.tolist()) <= {0.0, 1.0}:
            raise UserInputError(
                f"binary classification needs labels 0/1; the {what} split has {values[:6].tolist()}"
            )


__all__ = ["TargetScaler", "batch_targets", "check_labels", "masked_loss"]
