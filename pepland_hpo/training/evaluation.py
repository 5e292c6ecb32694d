"""Predictions and metrics of a model on a dataset (or a loader), in the data's units."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pepland_hpo.training.loaders import make_loader
from pepland_hpo.training.metrics import check_task, compute_metrics
from pepland_hpo.training.precision import autocast, autocast_settings
from pepland_hpo.training.targets import TargetScaler, batch_targets, masked_loss


@torch.no_grad()
def predict(
    model: nn.Module,
    data,
    task: str,
    device: torch.device,
    batch_size: int = 256,
    target_scaler: TargetScaler | None = None,
    precision: str = "fp32",
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(y_true [n, T], y_pred [n, T], mean loss)``; probabilities for classification,
    values in the data's units for regression. ``data`` may be a dataset or a loader."""
    task = check_task(task)
    loader = data if isinstance(data, torch.utils.data.DataLoader) else make_loader(data, batch_size)
    amp_dtype, _ = autocast_settings(device, precision)
    was_training = model.training
    model.eval()
    trues, outs = [], []
    loss_sum, loss_count = 0.0, 0
    try:
        for batch in loader:
            batch = batch.to(device)
            with autocast(device, amp_dtype):
                out = model(batch)
            y = batch.y.float().reshape(out.shape[0], -1)
            if out.numel() != y.numel():
                raise ValueError(f"model predicts {tuple(out.shape)} but the batch has targets {tuple(y.shape)}")
            out = out.float().reshape(y.shape)
            loss, count = masked_loss(task, out, batch_targets(batch, target_scaler).reshape(y.shape))
            if count:
                loss_sum += float(loss) * count
                loss_count += count
            trues.append(y.cpu())
            outs.append(out.cpu())
    finally:
        model.train(was_training)
    y_true = torch.cat(trues).numpy()
    raw = torch.cat(outs).numpy()
    if task == "classification":
        y_pred = torch.sigmoid(torch.from_numpy(raw)).numpy()
    else:
        y_pred = target_scaler.inverse(raw) if target_scaler is not None else raw
    return y_true, y_pred, (loss_sum / loss_count if loss_count else float("nan"))


def evaluate(
    model: nn.Module,
    data,
    task: str,
    device: torch.device,
    batch_size: int = 256,
    target_scaler: TargetScaler | None = None,
    precision: str = "fp32",
) -> tuple[dict[str, float], np.ndarray]:
    """``(metrics, y_pred)``: every metric of the task plus ``loss`` (in training units),
    and predictions ``[n, T]`` (probabilities / de-standardised values)."""
    y_true, y_pred, loss = predict(model, data, task, device, batch_size, target_scaler, precision)
    metrics = compute_metrics(task, y_true, y_pred)
    metrics["loss"] = loss
    return metrics, y_pred


__all__ = ["evaluate", "predict"]
