"""Training batches of similar-sized molecules.

Dense attention (and FAVOR+'s per-graph dense blocks) pays for the largest
molecule of a batch: every graph is padded to it, and softmax costs grow with
its square. Random batches of peptides from 5 to 60 residues pad two to three
times over. Shuffling first, then sorting by size only inside windows of a
few batches, and finally shuffling the batch order keeps the randomness SGD
needs while cutting that padding.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

# Sorting windows of this many batches: large enough to group sizes well, small
# enough that consecutive epochs still see different batch compositions.
WINDOW_BATCHES = 16


def size_bucketed_batches(
    sizes: Sequence[int] | np.ndarray,
    batch_size: int,
    generator: torch.Generator,
    window_batches: int = WINDOW_BATCHES,
    min_batch: int = 1,
) -> list[list[int]]:
    """One epoch of index batches: shuffled, sorted by size within windows, batch order shuffled.

    A last batch smaller than ``min_batch`` is merged into the one before it.
    """
    sizes = np.asarray(sizes)
    n = len(sizes)
    order = torch.randperm(n, generator=generator).numpy()
    window = batch_size * window_batches
    batches: list[list[int]] = []
    for start in range(0, n, window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size))
    if len(batches) > 1 and len(batches[-1]) < min_batch:
        tail = batches.pop()
        batches[-1].extend(tail)
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


class SizeBucketBatchSampler(Sampler[list[int]]):
    """A ``batch_sampler`` yielding :func:`size_bucketed_batches` anew each epoch."""

    def __init__(self, sizes: Sequence[int] | np.ndarray, batch_size: int, generator: torch.Generator,
                 min_batch: int = 1) -> None:
        self.sizes = np.asarray(sizes)
        self.batch_size = int(batch_size)
        self.generator = generator
        self.min_batch = min_batch

    def __iter__(self) -> Iterator[list[int]]:
        return iter(size_bucketed_batches(self.sizes, self.batch_size, self.generator, min_batch=self.min_batch))

    def __len__(self) -> int:
        full, rest = divmod(len(self.sizes), self.batch_size)
        return full + (1 if rest >= self.min_batch or full == 0 else 0)
