"""Size-bucketed batches: every molecule once per epoch, less padding than random batches."""

from __future__ import annotations

import numpy as np
import torch

from pepland_hpo.training.batching import SizeBucketBatchSampler, size_bucketed_batches


def _padding(batches, sizes):
    return sum(len(b) * sizes[b].max() - sizes[b].sum() for b in map(np.asarray, batches))


def test_each_index_once_and_padding_shrinks():
    rng = np.random.default_rng(0)
    sizes = rng.integers(20, 500, size=1000)
    gen = torch.Generator().manual_seed(0)
    batches = size_bucketed_batches(sizes, 32, gen, min_batch=2)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    assert all(len(b) >= 2 for b in batches)
    random_batches = [list(range(i, min(i + 32, 1000))) for i in range(0, 1000, 32)]
    assert _padding(batches, sizes) < 0.3 * _padding(random_batches, sizes)


def test_epochs_differ_but_are_seeded():
    sizes = np.arange(200) % 37 + 10
    a = list(SizeBucketBatchSampler(sizes, 16, torch.Generator().manual_seed(3)))
    sampler = SizeBucketBatchSampler(sizes, 16, torch.Generator().manual_seed(3))
    b1, b2 = list(sampler), list(sampler)
    assert a == b1 and b1 != b2
    assert len(sampler) == len(b1)


def test_lone_last_molecule_is_merged():
    sizes = np.ones(33)
    batches = size_bucketed_batches(sizes, 16, torch.Generator().manual_seed(0), min_batch=2)
    assert sum(map(len, batches)) == 33 and min(map(len, batches)) >= 2
