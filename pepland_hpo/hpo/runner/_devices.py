"""Which device a worker runs its trials on: a GPU index, cpu, or the least-used GPU.

The worker pins itself through ``CUDA_VISIBLE_DEVICES`` before anything
initialises CUDA, so its forked trial children see one GPU only.
"""

from __future__ import annotations

import os
import subprocess

from pepland_hpo.errors import UserInputError


def _nvidia_smi_memory() -> list[tuple[str, int]]:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[1].isdigit():
            gpus.append((parts[0], int(parts[1])))
    return gpus


def pick_gpu(gpu: str | int | None) -> str:
    """``"cpu"``, a GPU index as a string, or for ``"auto"`` the GPU with least memory in use (cpu if none)."""
    text = "cpu" if gpu is None else str(gpu).strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "auto":
        gpus = _nvidia_smi_memory()
        if not gpus:
            return "cpu"
        return min(gpus, key=lambda g: (g[1], int(g[0]) if g[0].isdigit() else 0))[0]
    if text.isdigit():
        return text
    raise UserInputError(f"--gpu: expected a GPU index, cpu or auto, got {gpu!r}")


def pin_device(gpu: str) -> str:
    """Set CUDA_VISIBLE_DEVICES (before anything initialises CUDA) and return the trial device."""
    if gpu == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # nothing may grab a GPU by accident
        return "cpu"
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return "cuda:0"  # the only visible GPU


__all__ = ["pick_gpu", "pin_device"]
