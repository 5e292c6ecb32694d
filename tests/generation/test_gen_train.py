"""Generator training: held-out likelihood improves, checkpoints resume exactly and load safely."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

from pepland_hpo.generation import GeneratorConfig, GeneratorSettings, train_generator
from pepland_hpo.generation._train import read_generator
from pepland_hpo.training.errors import CheckpointError

CONFIG = GeneratorConfig(hidden_dim=24, embed_dim=8, num_layers=2, dropout=0.2)


def _data(cpp):
    train, valid = cpp.subset(np.arange(0, 240)), cpp.subset(np.arange(240, 300))
    return (train.tokens, train.labels), (valid.tokens, valid.labels)


class _Killed(Exception):
    pass


def test_resume_equals_uninterrupted(cpp, tmp_path):
    train, valid = _data(cpp)
    settings = GeneratorSettings(epochs=4, batch_size=32, seed=5)
    straight = train_generator(CONFIG, train, valid, settings, tmp_path / "a")

    def kill_after_two(epoch, metrics):
        if epoch == 1:
            raise _Killed

    with pytest.raises(_Killed):
        train_generator(CONFIG, train, valid, settings, tmp_path / "b", on_epoch=kill_after_two)
    assert read_generator(tmp_path / "b" / "last.pt")["train_state"]["epoch"] == 1
    resumed = train_generator(CONFIG, train, valid, settings, tmp_path / "b")
    assert [h["valid_nll"] for h in resumed.history] == [h["valid_nll"] for h in straight.history]
    a = read_generator(tmp_path / "a" / "last.pt")["state_dict"]
    b = read_generator(tmp_path / "b" / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_validation_nll_is_the_objective_and_improves(cpp, tmp_path):
    train, valid = _data(cpp)
    result = train_generator(CONFIG, train, valid, GeneratorSettings(epochs=3, batch_size=32), tmp_path)
    first = result.history[0]["valid_nll"]
    assert result.best_valid_nll == min(h["valid_nll"] for h in result.history) <= first
    assert result.best_valid_nll < math.log(63)  # better than uniform over the vocabulary


def test_checkpoint_with_code_is_refused(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"kind": "generator", "payload": pickle.loads(pickle.dumps(np.random.default_rng()))}, bad)
    with pytest.raises(CheckpointError, match="refusing"):
        read_generator(bad)
