"""Seeds that make a CPU run repeatable.

Same seed, same data, same thread count → bit-identical losses on CPU. On a
GPU some PyG scatter kernels use atomics and stay non-deterministic; when
deterministic algorithms are asked for there, ``warn_only=True`` makes those
ops warn instead of failing a trial.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a torch generator.

    The returned generator is meant for ``DataLoader(generator=...)`` so the
    shuffling order depends on ``seed`` only, not on how many random numbers
    model construction happened to draw.

    ``deterministic=True`` also selects deterministic algorithms where torch
    has them (``warn_only``: CUDA scatter-add has no deterministic version and
    must not crash a trial) and turns cuDNN autotuning off. ``None`` (default)
    means True when no GPU is visible: on a GPU the deterministic versions of
    PyG's scatter kernels are much slower and a GPU run is not bit-repeatable
    anyway, while on CPU they cost nothing. ``run_experiment`` passes
    ``device.type == "cpu"``.
    """
    seed = int(seed)
    if deterministic is None:
        deterministic = not torch.cuda.is_available()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device, lazily
    # Only affects child processes (hash randomisation of this one is fixed at start-up).
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace for deterministic matmuls; it reads the
        # variable when it initialises, so set it only if nobody chose one.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # set either way: a worker process runs many trials, and one trial's choice
    # must not leak into the next
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def worker_init_fn(worker_id: int) -> None:
    """Seed NumPy and ``random`` in a DataLoader worker from torch's per-worker seed.

    torch already gives each worker ``base_seed + worker_id``; NumPy and
    ``random`` would otherwise repeat the parent's state in every worker.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def capture_rng_state(cuda_device: torch.device | None = None) -> dict:
    """Python, NumPy and torch random states as tensors and plain data (loadable with ``weights_only``).

    ``cuda_device``: also that GPU's state (``None``: every initialised GPU's).
    """
    py_version, py_inner, py_gauss = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": [int(py_version), list(py_inner), py_gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
    }
    if cuda_device is not None and cuda_device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(cuda_device)
    elif cuda_device is None and torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_all"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict, cuda_device: torch.device | None = None) -> None:
    """Undo :func:`capture_rng_state` in this process."""
    py_version, py_inner, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_inner), py_gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and cuda_device is not None and cuda_device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], cuda_device)
    if "cuda_all" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_all"])
