"""Turning a device setting into a ``torch.device``.

A worker pins itself to one GPU by setting ``CUDA_VISIBLE_DEVICES`` before
anything touches CUDA, so inside a worker the visible GPU is always
``cuda:0`` (or there is none and the device is ``cpu``). This module therefore
never enumerates GPUs at import time; :func:`resolve_device` queries CUDA only
when called.
"""

from __future__ import annotations

import torch

from pepland_hpo.errors import UserInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Return the device a run should use.

    * ``"auto"`` / ``None``: ``cuda:0`` when a GPU is visible, else ``cpu``;
    * ``"cpu"``;
    * ``"cuda"``: ``cuda:0``, an error when no GPU is visible;
    * ``"cuda:N"``: that GPU (numbered among the *visible* ones).

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = "auto" if spec is None else str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise UserInputError(f"device {spec!r}: expected cuda:N with N a number")
        if not torch.cuda.is_available():
            raise UserInputError(
                f"device {spec!r} asked for, but no CUDA GPU is visible "
                "(check CUDA_VISIBLE_DEVICES and the torch build); use device=cpu or auto"
            )
        index = int(index_text)
        count = torch.cuda.device_count()
        if index >= count:
            raise UserInputError(
                f"device {spec!r}: only {count} GPU(s) visible; inside a worker the pinned GPU is cuda:0"
            )
        return torch.device("cuda", index)
    raise UserInputError(f"unknown device {spec!r}; expected one of {', '.join(DEVICE_CHOICES)}")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timings measure the work, not the queueing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
