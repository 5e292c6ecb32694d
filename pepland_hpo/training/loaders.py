"""Batches for training and evaluation: PyG loaders with size-bucketed, seeded shuffling; targets as arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from pepland_hpo.errors import UserInputError
from pepland_hpo.training.batching import SizeBucketBatchSampler
from pepland_hpo.training.seeding import worker_init_fn


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


__all__ = ["collect_targets", "make_loader"]
