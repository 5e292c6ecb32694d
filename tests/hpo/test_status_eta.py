"""The ETA weighs each queued trial by what its variant costs, not by the study-wide mean."""

from __future__ import annotations

import datetime as dt

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from pepland_hpo.hpo.services import collect_status


def _finished(variant: str, seconds: float):
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    return FrozenTrial(
        number=0, trial_id=0, state=TrialState.COMPLETE, value=0.5, values=None,
        datetime_start=start, datetime_complete=start + dt.timedelta(seconds=seconds),
        params={"variant": variant},
        distributions={"variant": CategoricalDistribution(["gcn", "graphormer", "performer"])},
        user_attrs={"variant": variant}, system_attrs={}, intermediate_values={},
    )


def test_eta_uses_per_variant_cost(tmp_path):
    url = f"sqlite:///{tmp_path / 'eta.db'}"
    study = optuna.create_study(study_name="eta", storage=url)
    for _ in range(2):
        study.add_trial(_finished("gcn", 10))
    study.add_trial(_finished("graphormer", 100))
    study.enqueue_trial({}, user_attrs={"variant": "graphormer"})
    study.enqueue_trial({}, user_attrs={"variant": "graphormer"})
    study.enqueue_trial({}, user_attrs={"variant": "performer"})
    running = study.ask()  # takes the first queued graphormer
    running.set_user_attr("worker", "w1")

    status = collect_status(url, "eta", reap=False)["studies"][0]
    # queued: graphormer 100 + performer (unseen: as costly as the costliest seen, 100);
    # running graphormer: ~100 s still to go; one live worker
    assert 290 <= status["eta_seconds"] <= 300
    # the study-wide mean (40 s) would have promised 120 s
    assert abs(status["mean_trial_seconds"] - 40) < 1e-6
