"""Learning-rate schedule: warm-up, cosine, plateau, and a resumable state."""

from __future__ import annotations

import math

import pytest
import torch

from pepland_hpo.errors import UserInputError
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.schedule import LRSchedule


def _opt(lr=1.0):
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _run(cfg, steps_per_epoch, values=None):
    opt = _opt(cfg.lr)
    sched = LRSchedule(opt, cfg, steps_per_epoch, "maximize")
    lrs = []
    for epoch in range(cfg.epochs):
        for _ in range(steps_per_epoch):
            lrs.append(sched.current_lr())
            opt.step()
            sched.step_batch()
        sched.step_epoch(values[epoch] if values else 0.5)
    return lrs, sched


def test_warmup_then_cosine_to_floor():
    cfg = TrainConfig(epochs=10, lr=1.0, lr_schedule="cosine", warmup_epochs=2, min_lr_ratio=0.1)
    lrs, _ = _run(cfg, 5)
    assert lrs[:10] == pytest.approx([(k + 1) / 10 for k in range(10)])  # linear warm-up
    assert lrs[10] == pytest.approx(1.0)
    decay = lrs[10:]
    assert all(a >= b for a, b in zip(decay, decay[1:]))  # monotone decay
    assert decay[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 39 / 40)))
    assert decay[len(decay) // 2] == pytest.approx(0.55, abs=0.05)  # halfway: (1 + r) / 2


def test_plateau_halves_after_patience_and_constant_stays():
    cfg = TrainConfig(epochs=8, lr=1.0, lr_schedule="plateau", warmup_epochs=0,
                      plateau_factor=0.5, plateau_patience=1)
    values = [0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7]
    lrs, _ = _run(cfg, 2, values)
    per_epoch = lrs[::2]
    assert per_epoch[:3] == pytest.approx([1.0, 1.0, 1.0])
    assert per_epoch[-1] < 1.0 and min(per_epoch) == pytest.approx(per_epoch[-1])
    lrs_c, _ = _run(TrainConfig(epochs=3, lr=0.3, lr_schedule="constant", warmup_epochs=0), 4)
    assert lrs_c == pytest.approx([0.3] * 12)


def test_state_dict_resumes_the_same_curve():
    cfg = TrainConfig(epochs=6, lr=1.0, warmup_epochs=1)
    full, _ = _run(cfg, 3)
    opt = _opt()
    first = LRSchedule(opt, cfg, 3)
    for _ in range(7):
        opt.step()
        first.step_batch()
    opt2 = _opt()
    opt2.load_state_dict(opt.state_dict())
    resumed = LRSchedule(opt2, cfg, 3)
    resumed.load_state_dict(first.state_dict())
    assert resumed.current_lr() == pytest.approx(full[7])


@pytest.mark.parametrize("bad", [{"lr_schedule": "linear"}, {"warmup_epochs": -1},
                                 {"min_lr_ratio": 2.0}, {"plateau_factor": 1.0}])
def test_bad_schedule_settings_are_user_errors(bad):
    with pytest.raises(UserInputError):
        TrainConfig(**bad).validate()
