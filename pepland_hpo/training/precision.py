"""Mixed precision: which autocast dtype (and whether a GradScaler) a ``precision`` setting means on a device."""

from __future__ import annotations

import contextlib
import logging

import torch

from pepland_hpo.errors import UserInputError

log = logging.getLogger("pepland_hpo.training.loop")  # the training loop is what warns, whichever module decides


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


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


__all__ = ["autocast", "autocast_settings"]
