"""The supervised training loop shared by every variant, plain and fine-tuned.

One function, :func:`train_supervised`, trains a model that maps a PyG batch
to ``[B, out_dim]`` predictions (logits for classification) and selects the
best epoch on a validation metric. It knows nothing of Optuna: progress leaves
through ``on_epoch(epoch, metrics)``, and whatever that callback raises (the
HPO layer raises ``optuna.TrialPruned``) propagates unchanged.

Epochs are numbered from 1 in ``on_epoch``, ``history`` and ``best_epoch``.

Example (``model`` any such module, ``train``/``valid`` PeptideDatasets)::

    result = train_supervised(model, train, valid, "classification", "auroc",
                              TrainConfig(epochs=20), torch.device("cpu"))
    metrics, probs = evaluate(model, test, "classification", torch.device("cpu"))
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch_geometric.loader import DataLoader

from pepland_hpo.errors import UserInputError
from pepland_hpo.models.model import compile_layers
from pepland_hpo.training.batching import SizeBucketBatchSampler
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.device import synchronize
from pepland_hpo.training.errors import NonFiniteLoss
from pepland_hpo.training.metrics import check_metric, check_task, compute_metrics, is_better, metric_direction
from pepland_hpo.training.resume import ResumePoint, loader_generator
from pepland_hpo.training.schedule import LRSchedule
from pepland_hpo.training.seeding import worker_init_fn

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


# ---------------------------------------------------------------- data loading


def make_loader(
    data: Sequence[Any],
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    num_workers: int = 0,
    drop_last: bool | None = None,
) -> DataLoader:
    """A PyG ``DataLoader`` over a PeptideDataset, its ``subset(...)``, or any sequence of graphs.

    With ``shuffle`` the order comes from a generator seeded with ``seed``, so
    it does not depend on how much randomness model construction consumed.
    ``drop_last=None`` drops the last batch only when it would hold a single
    graph: normalisation layers fail in training mode on one sample.
    """
    if len(data) == 0:
        raise UserInputError("cannot train or evaluate on an empty split")
    generator = None
    if shuffle:
        generator = torch.Generator()
        generator.manual_seed(0 if seed is None else int(seed))
    sizes = getattr(data, "num_atoms", None)
    if shuffle and sizes is not None:
        # similar-sized molecules per batch: far less padding for dense attention
        # (a lone last graph is merged into the batch before it; see batching.py)
        sampler = SizeBucketBatchSampler(sizes, batch_size, generator, min_batch=2)
        return DataLoader(data, batch_sampler=sampler, num_workers=num_workers,
                          worker_init_fn=worker_init_fn if num_workers else None)
    if drop_last is None:
        drop_last = shuffle and len(data) > batch_size and len(data) % batch_size == 1
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        worker_init_fn=worker_init_fn if num_workers else None,
        drop_last=drop_last,
    )


def collect_targets(data: Sequence[Any]) -> np.ndarray:
    """Targets ``[n, T]`` float32: ``data.targets`` when the dataset has it, else stacked ``y``."""
    targets = getattr(data, "targets", None)
    if targets is not None:
        arr = np.asarray(targets, dtype=np.float32)
        return arr[:, None] if arr.ndim == 1 else arr
    ys = [torch.as_tensor(data[i].y, dtype=torch.float32).reshape(1, -1) for i in range(len(data))]
    return torch.cat(ys).numpy() if ys else np.zeros((0, 0), dtype=np.float32)


# ---------------------------------------------------------------- target scaling


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


# ---------------------------------------------------------------- precision


_FP16_FALLBACK_WARNED: set[str] = set()


def autocast_settings(device: torch.device, precision: str) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None, use GradScaler)`` for a precision setting on ``device``.

    fp16 needs loss scaling and is only worth it on CUDA; on CPU it falls back to
    bf16, which has fp32's exponent range and needs no scaler.
    """
    if precision == "fp32":
        return None, False
    if precision == "bf16":
        return torch.bfloat16, False
    if precision == "fp16":
        if device.type == "cuda":
            return torch.float16, True
        if device.type not in _FP16_FALLBACK_WARNED:  # once per process, not once per evaluation
            _FP16_FALLBACK_WARNED.add(device.type)
            log.warning("precision=fp16 needs CUDA; using bf16 autocast on %s", device)
        return torch.bfloat16, False
    raise UserInputError(f"precision must be fp32, bf16 or fp16, got {precision!r}")


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ---------------------------------------------------------------- loss


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


def _batch_targets(batch, scaler: TargetScaler | None) -> torch.Tensor:
    y = batch.y.float()
    if y.dim() == 1:
        y = y.unsqueeze(1)
    return scaler.transform(y) if scaler is not None else y


def _check_labels(task: str, targets: np.ndarray, what: str) -> None:
    if targets.size == 0 or targets.shape[1] == 0:
        raise UserInputError(f"the {what} split has no target values to train on")
    if task == "classification":
        values = np.unique(targets[~np.isnan(targets)])
        if not set(values.tolist()) <= {0.0, 1.0}:
            raise UserInputError(
                f"binary classification needs labels 0/1; the {what} split has {values[:6].tolist()}"
            )


# ---------------------------------------------------------------- evaluation


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
            with _autocast(device, amp_dtype):
                out = model(batch)
            y = batch.y.float().reshape(out.shape[0], -1)
            if out.numel() != y.numel():
                raise ValueError(f"model predicts {tuple(out.shape)} but the batch has targets {tuple(y.shape)}")
            out = out.float().reshape(y.shape)
            loss, count = masked_loss(task, out, _batch_targets(batch, target_scaler).reshape(y.shape))
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


# ---------------------------------------------------------------- training


@dataclass
class TrainResult:
    best_epoch: int  # 1-based; 0 only if no epoch ran
    best_value: float
    epochs_run: int
    epoch_seconds: list[float]
    history: list[dict[str, float]]
    best_state: dict[str, torch.Tensor]  # CPU copies
    non_finite_steps: int
    val_metrics: dict[str, float] = field(default_factory=dict)  # at best_epoch
    metric: str = ""
    direction: str = "maximize"
    stopped_early: bool = False
    overflow_steps: int = 0  # fp16 steps the GradScaler skipped while calibrating (not failures)
    target_scaler: TargetScaler | None = None
    precision: str = "fp32"


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _progress(enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )


def train_supervised(
    model: nn.Module,
    train,
    valid,
    task: str,
    metric: str | None,
    cfg: TrainConfig,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    progress: bool = False,
    num_workers: int = 0,
    resume: ResumePoint | None = None,
) -> TrainResult:
    """Train with AdamW, select the best epoch on ``metric`` over ``valid``.

    * classification: BCE-with-logits; regression: MSE, on targets standardised
      with training statistics when ``cfg.standardize_targets`` (kept in
      ``result.target_scaler``; pass it to :func:`evaluate`). NaN labels are masked.
    * ``cfg.precision``: autocast bf16 (CPU or GPU) or fp16 with a GradScaler (GPU).
    * a non-finite loss or gradient skips that step and counts it; more than
      ``cfg.max_non_finite_steps`` raises :class:`NonFiniteLoss`.
    * early stopping after ``cfg.patience`` epochs without improvement (0: never).
    * ``on_epoch(epoch, metrics)`` after each epoch with the validation metrics,
      ``loss`` (validation), ``train_loss``, ``epoch_seconds`` and
      ``non_finite_steps``; its exceptions propagate.
    * ``resume``: continue from its saved state when there is one (the saved
      epochs are replayed through ``on_epoch`` first, so a study sees them
      again) and save the state every ``resume.every`` epochs.

    On return the model holds the best epoch's weights.
    """
    task = check_task(task)
    metric = check_metric(task, metric)
    direction = metric_direction(metric)
    cfg.validate()
    device = torch.device(device)

    train_targets = collect_targets(train)
    _check_labels(task, train_targets, "training")
    scaler_t = (
        TargetScaler.fit(train_targets) if task == "regression" and cfg.standardize_targets else None
    )
    amp_dtype, use_grad_scaler = autocast_settings(device, cfg.precision)
    grad_scaler = torch.amp.GradScaler("cuda") if use_grad_scaler else None

    model.to(device)
    if cfg.compile:
        compile_layers(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UserInputError("the model has no trainable parameters (every layer frozen?)")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # no clipping still needs the norm: it is how a non-finite gradient is detected
    clip = cfg.grad_clip if cfg.grad_clip > 0 else math.inf

    train_loader = make_loader(train, cfg.batch_size, shuffle=True, seed=cfg.seed, num_workers=num_workers)
    valid_loader = make_loader(valid, max(cfg.batch_size, 64), num_workers=num_workers)
    # warm-up + cosine/plateau (cfg.lr_schedule); stepped per optimiser step and per epoch
    scheduler = LRSchedule(optimizer, cfg, len(train_loader), direction)

    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    best_value, best_epoch = float("nan"), 0
    best_state: dict[str, torch.Tensor] = {}
    best_metrics: dict[str, float] = {}
    non_finite = overflow = 0
    since_best = 0
    stopped_early = False

    start_epoch = 1
    # everything with a state_dict that shapes the rest of the run
    stateful = {"model": model, "optimizer": optimizer, "grad_scaler": grad_scaler, "lr_schedule": scheduler}
    if resume is not None:
        saved = resume.load(stateful, loader_generator(train_loader), device)
        if saved is not None:
            start_epoch = int(saved["epoch"]) + 1
            history, epoch_seconds = list(saved["history"]), list(saved["epoch_seconds"])
            best_value, best_epoch = float(saved["best_value"]), int(saved["best_epoch"])
            best_metrics = dict(saved["best_metrics"])
            best_state, since_best = dict(saved["best_state"]), int(saved["since_best"])
            non_finite, overflow = int(saved["non_finite"]), int(saved["overflow"])
            if cfg.patience and since_best >= cfg.patience:  # it had stopped early right there
                start_epoch, stopped_early = cfg.epochs + 1, int(saved["epoch"]) < cfg.epochs
            for row in history:  # the study sees the earlier epochs again (pruning, curves)
                if on_epoch is not None:
                    on_epoch(int(row["epoch"]), {k: v for k, v in row.items()
                                                 if k not in ("epoch", "train_seconds", "skipped_steps")})

    with _progress(progress) as bar:
        bar_task = None
        if bar is not None:
            bar_task = bar.add_task("epoch", total=len(train_loader), info="")
        for epoch in range(start_epoch, cfg.epochs + 1):
            start = time.perf_counter()
            model.train()
            loss_sum, loss_count, epoch_skipped = 0.0, 0, 0
            if bar is not None:
                bar.reset(bar_task, total=len(train_loader), description=f"epoch {epoch}/{cfg.epochs}")
            for batch in train_loader:
                batch = batch.to(device)
                optimizer.zero_grad(set_to_none=True)
                # the forward pass of a step we may skip still updates buffers (BatchNorm
                # running statistics, step counters); a poisoned batch would leave NaN
                # statistics behind and ruin every later evaluation, so keep them to restore
                saved_buffers = [(b, b.detach().clone()) for b in model.buffers()]
                with _autocast(device, amp_dtype):
                    out = model(batch)
                y = _batch_targets(batch, scaler_t)
                loss, count = masked_loss(task, out, y.reshape(out.shape[0], -1))
                if count == 0:  # nothing labelled in this batch: not a failure, nothing to learn
                    continue
                if not torch.isfinite(loss):
                    finite_step = False
                else:
                    if grad_scaler is not None:
                        grad_scaler.scale(loss).backward()
                        grad_scaler.unscale_(optimizer)
                    else:
                        loss.backward()
                    norm = torch.nn.utils.clip_grad_norm_(params, clip)
                    finite_step = bool(torch.isfinite(norm))
                    if grad_scaler is not None:
                        # fp16 overflow while the scale calibrates is routine: the scaler
                        # skips the step and halves the scale. Only once the scale is
                        # below 1 are even unscaled gradients non-finite — a real failure.
                        if not finite_step and grad_scaler.get_scale() >= 1.0:
                            overflow += 1
                            finite_step = True
                        grad_scaler.step(optimizer)
                        grad_scaler.update()
                    elif finite_step:
                        optimizer.step()
                    if finite_step:
                        scheduler.step_batch()
                if not finite_step:
                    optimizer.zero_grad(set_to_none=True)
                    with torch.no_grad():
                        for buf, saved in saved_buffers:
                            buf.copy_(saved)
                    non_finite += 1
                    epoch_skipped += 1
                    log.warning("epoch %d: skipped a step with a non-finite loss or gradient (%d so far)",
                                epoch, non_finite)
                    if non_finite > cfg.max_non_finite_steps:
                        raise NonFiniteLoss(non_finite, cfg.max_non_finite_steps, "supervised", epoch)
                else:
                    loss_sum += float(loss.detach()) * count
                    loss_count += count
                if bar is not None:
                    bar.advance(bar_task)
            train_seconds = time.perf_counter() - start
            val_metrics, _ = evaluate(model, valid_loader, task, device, target_scaler=scaler_t,
                                      precision=cfg.precision)
            synchronize(device)
            seconds = time.perf_counter() - start
            epoch_seconds.append(seconds)
            train_loss = loss_sum / loss_count if loss_count else float("nan")
            value = val_metrics.get(metric, float("nan"))
            scheduler.step_epoch(value)
            # the first epoch is "best" even when its value is nan, so a best state always exists
            if best_epoch == 0 or is_better(value, best_value, direction):
                best_value, best_epoch, best_metrics = value, epoch, dict(val_metrics)
                best_state = _state_copy(model)
                since_best = 0
            else:
                since_best += 1
            report = {
                **val_metrics,
                "train_loss": train_loss,
                "epoch_seconds": seconds,
                "non_finite_steps": float(non_finite),
                "lr": scheduler.current_lr(),
            }
            history.append({"epoch": float(epoch), "train_seconds": train_seconds,
                            "skipped_steps": float(epoch_skipped), **report})
            if bar is not None:
                bar.update(bar_task, info=f"train_loss {train_loss:.4f}  {metric} {value:.4f}")
            if resume is not None and resume.due(epoch, cfg.epochs):
                # saved before the epoch is reported: an epoch the study has seen is never lost
                resume.save(epoch, stateful,
                            {"epoch": epoch, "history": history, "epoch_seconds": epoch_seconds,
                             "best_value": best_value, "best_epoch": best_epoch, "best_metrics": best_metrics,
                             "best_state": best_state, "since_best": since_best, "non_finite": non_finite,
                             "overflow": overflow},
                            loader_generator(train_loader))
            if on_epoch is not None:
                on_epoch(epoch, dict(report))  # exceptions (e.g. optuna.TrialPruned) propagate
            if cfg.patience and since_best >= cfg.patience:
                stopped_early = epoch < cfg.epochs
                break

    model.load_state_dict(best_state)
    return TrainResult(
        best_epoch=best_epoch,
        best_value=best_value,
        epochs_run=len(history),
        epoch_seconds=epoch_seconds,
        history=history,
        best_state=best_state,
        non_finite_steps=non_finite,
        val_metrics=best_metrics,
        metric=metric,
        direction=direction,
        stopped_early=stopped_early,
        overflow_steps=overflow,
        target_scaler=scaler_t,
        precision=cfg.precision,
    )


__all__ = [
    "EpochCallback",
    "TargetScaler",
    "TrainResult",
    "autocast_settings",
    "collect_targets",
    "evaluate",
    "make_loader",
    "masked_loss",
    "predict",
    "train_supervised",
]
