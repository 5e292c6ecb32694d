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

Loaders, targets and loss, precision and evaluation are their own modules
(:mod:`.loaders`, :mod:`.targets`, :mod:`.precision`, :mod:`.evaluation`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from pepland_hpo.errors import UserInputError
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.device import synchronize
from pepland_hpo.training.errors import NonFiniteLoss
from pepland_hpo.training.evaluation import evaluate, predict  # noqa: F401  (predict: re-exported)
from pepland_hpo.training.loaders import collect_targets, make_loader
from pepland_hpo.training.metrics import check_metric, check_task, is_better, metric_direction
from pepland_hpo.training.precision import autocast, autocast_settings
from pepland_hpo.training.resume import ResumePoint, loader_generator
from pepland_hpo.training.schedule import LRSchedule
from pepland_hpo.training.targets import TargetScaler, batch_targets, check_labels, masked_loss

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


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
    check_labels(task, train_targets, "training")
    scaler_t = (
        TargetScaler.fit(train_targets) if task == "regression" and cfg.standardize_targets else None
    )
    amp_dtype, use_grad_scaler = autocast_settings(device, cfg.precision)
    grad_scaler = torch.amp.GradScaler("cuda") if use_grad_scaler else None

    model.to(device)
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
                with autocast(device, amp_dtype):
                    out = model(batch)
                y = batch_targets(batch, scaler_t)
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


# evaluate, predict, make_loader, collect_targets, TargetScaler, masked_loss and
# autocast_settings live in their own modules; importable from here as before.
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
