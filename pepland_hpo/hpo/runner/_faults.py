"""Trial faults: injecting them (tests and benchmarks only) and naming the ones that happen.

Injection: the study setting ``fault`` (see :func:`.spec.parse_fault`) is
honoured only when ``PEPLAND_HPO_ALLOW_FAULTS=1``. ``oom`` allocates far more
than exists (a real ``MemoryError``, or ``torch.cuda.OutOfMemoryError`` on a
GPU), ``nan`` makes every module output NaN so the training loop itself raises
``NonFiniteLoss``, ``segfault`` reads address 0, ``error`` raises, ``sleep:S``
replaces training by a light trial that sleeps S seconds over its epochs and
reports a synthetic metric.

Naming: :func:`classify_failure` turns an exception into the trial's
``failure_reason``.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import sys
import time
from typing import Any

from pepland_hpo.errors import UserInputError


def inject_fault(kind: str, device: str) -> None:
    if kind == "oom":
        if device.startswith("cuda"):
            import torch

            torch.empty(1 << 45, dtype=torch.uint8, device=device)  # 32 TiB: torch.cuda.OutOfMemoryError
        bytearray(1 << 62)  # malloc fails at once: a real MemoryError, no swap storm
    elif kind == "segfault":
        import faulthandler

        faulthandler.disable()  # an injected crash needs no Python traceback dump in the logs
        ctypes.string_at(0)  # dereference NULL inside a native call
    elif kind == "error":
        raise RuntimeError("injected error")
    elif kind == "nan":
        import torch

        def _poison(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and output.is_floating_point():
                return output * float("nan")
            return output

        # Every module's output becomes NaN: the real loop sees non-finite
        # losses, skips the steps and raises NonFiniteLoss past its limit.
        torch.nn.modules.module.register_module_forward_hook(_poison)


def light_trial(job, seconds: float, on_epoch) -> dict[str, Any]:
    """``fault=sleep:S``: no training, S seconds of sleep over the epochs, a synthetic metric.

    For scheduling tests and the benchmark, where what matters is the
    framework around a trial rather than learning.
    """
    epochs = job.train.epochs  # job: a hpo.trial_job.TrialJob
    key = json.dumps([job.variant, job.seed, job.params], sort_keys=True)
    base = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    metric = job.metric
    epoch_seconds = []
    best = None
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        time.sleep(seconds / epochs)
        value = base + 0.01 * epoch
        epoch_seconds.append(time.perf_counter() - start)
        on_epoch(epoch, {metric: value, "loss": 1.0 - value})
        best = value
    return {
        "best_value": best, "best_epoch": epochs, "val_metrics": {metric: best}, "test_metrics": {},
        "param_count": 0, "epochs_run": epochs, "epoch_seconds": epoch_seconds, "non_finite_steps": 0,
        "checkpoint": None, "device": job.device, "extra": {"light_trial": True},
    }


def classify_failure(exc: BaseException) -> str:
    """The ``failure_reason`` of a trial that raised ``exc``."""
    try:
        from pepland_hpo.training.errors import NonFiniteLoss
    except ImportError:  # pragma: no cover
        NonFiniteLoss = ()  # type: ignore[assignment]
    if NonFiniteLoss and isinstance(exc, NonFiniteLoss):
        return "non_finite_loss"
    if isinstance(exc, MemoryError):
        return "oom"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return "oom"
    text = str(exc)
    if isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "not enough memory" in text.lower()):
        return "oom"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"error: {type(exc).__name__}: {first[:300]}"




FAULT_KINDS = ("oom", "nan", "segfault", "error", "sleep")
FAULTS_ENV = "PEPLAND_HPO_ALLOW_FAULTS"


def parse_fault(text: str | None) -> dict[str, str]:
    """``fault`` grammar: ``KIND[@SEED][,KIND[@SEED]...]``; KIND is oom, nan, segfault, error or sleep:S.

    Returns ``{"*" or seed: kind}``. Only honoured when ``PEPLAND_HPO_ALLOW_FAULTS=1``:
    it exists so tests can make a real OOM, NaN or segfault happen inside a trial.
    """
    if text is None or str(text).strip() == "":
        return {}
    out: dict[str, str] = {}
    for part in str(text).split(","):
        part = part.strip()
        kind, _, seed = part.partition("@")
        base = kind.split(":", 1)[0]
        if base not in FAULT_KINDS:
            raise UserInputError(f"fault: unknown kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if base == "sleep":
            try:
                float(kind.split(":", 1)[1])
            except (IndexError, ValueError):
                raise UserInputError(f"fault: sleep needs seconds, e.g. sleep:2, got {kind!r}") from None
        if seed and not seed.lstrip("-").isdigit():
            raise UserInputError(f"fault: {part!r}: expected KIND@SEED with an integer seed")
        out[seed or "*"] = kind
    return out


def fault_for_seed(settings: dict[str, Any], seed: int) -> str | None:
    faults = parse_fault(settings.get("fault"))
    return faults.get(str(seed), faults.get("*"))


def faults_allowed() -> bool:
    return os.environ.get(FAULTS_ENV) == "1"


__all__ = ["FAULTS_ENV", "FAULT_KINDS", "classify_failure", "fault_for_seed", "faults_allowed", "inject_fault",
           "light_trial", "parse_fault"]
