"""Trial identity in user attrs, repeated splits, and the per-molecule evidence a worker stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from pepland_hpo.data.splits import make_split, make_splits
from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.services import create_study_from_spec, trial_pair
from pepland_hpo.hpo.analysis import trial_predictions
from pepland_hpo.hpo.study import study_splits, trial_identity
from pepland_hpo.hpo.study import build_ablation_spec
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker

REPO = Path(__file__).resolve().parents[2]
ABLATION = REPO / "studies" / "ablation.yaml"


def _spec(data, seeds, tiny, variants=("gcn",), repeats=1, kind="stratified"):
    spec = build_ablation_spec(ABLATION, data=str(data), variants=list(variants), seeds=list(seeds),
                               settings=dict(tiny), name="ab", split_repeats=repeats, validate=False)
    spec.split = {"kind": kind, "fractions": [0.5, 0.25, 0.25], "seed": 0, **({"repeats": repeats} if repeats > 1 else {})}
    return spec


def _study(url):
    return optuna.load_study(study_name="ab", storage=open_storage(url))


def test_extending_seeds_then_worker_runs_every_trial(sqlite_url, cpp, hpo):
    """A second `create` with more seeds used to kill every worker (dynamic value space)."""
    data = cpp(32)
    assert create_study_from_spec(sqlite_url, _spec(data, [0], hpo.TINY)).enqueued == 1
    assert create_study_from_spec(sqlite_url, _spec(data, [0, 1, 2], hpo.TINY)).enqueued == 2
    summary = run_worker(sqlite_url, "ab", gpu="cpu")
    assert (summary.completed, summary.failed) == (3, 0)
    trials = _study(sqlite_url).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    # identity is not an Optuna parameter (the dashboard must not rank `seed`)
    assert all(t.params == {} for t in trials)
    assert sorted(trial_pair(t) for t in trials) == [("gcn", 0, 0), ("gcn", 1, 0), ("gcn", 2, 0)]
    split = _study(sqlite_url).user_attrs["split"]
    for t in trials:
        pred = trial_predictions(t.user_attrs)
        assert pred is not None and set(pred) == {"valid", "test"}
        assert pred["test"].index.tolist() == split["test"]
        assert pred["valid"].index.tolist() == split["valid"]
        assert np.all((pred["test"].pred >= 0) & (pred["test"].pred <= 1))
        # the stored predictions reproduce the stored metric
        from pepland_hpo.training.metrics import compute_metrics

        again = compute_metrics("classification", pred["test"].true, pred["test"].pred)["auroc"]
        assert again == pytest.approx(t.user_attrs["test_metrics"]["auroc"], abs=1e-5)


def test_repeated_splits_pair_variants_by_split_and_seed(sqlite_url, cpp, hpo):
    data = cpp(32)
    spec = _spec(data, [0], hpo.TINY, variants=("gcn", "graphormer"), repeats=2)
    assert create_study_from_spec(sqlite_url, spec).enqueued == 4
    study = _study(sqlite_url)
    splits = study_splits(study.user_attrs)
    assert len(splits) == 2 and splits[0] == study.user_attrs["split"]
    assert splits[0]["test"] != splits[1]["test"]
    assert study.user_attrs["spec"]["split"]["repeats"] == 2
    # idempotent: nothing new the second time
    assert create_study_from_spec(sqlite_url, spec).enqueued == 0
    run_worker(sqlite_url, "ab", gpu="cpu", n_trials=None)
    test_rows = {}
    for t in _study(sqlite_url).get_trials(states=(TrialState.COMPLETE,)):
        ident = trial_identity(t)
        test_rows[ident] = trial_predictions(t.user_attrs)["test"].index.tolist()
    assert len(test_rows) == 4
    for repeat in (0, 1):
        # the same split for every variant of one (split, seed), a different one per repeat
        assert test_rows[("gcn", 0, repeat)] == test_rows[("graphormer", 0, repeat)] == splits[repeat]["test"]


def test_one_split_spec_is_unchanged_and_bad_repeats_refused(cpp, hpo):
    spec = build_ablation_spec(ABLATION, data=str(cpp(24)), variants=["gcn"], seeds=[0],
                               settings=hpo.TINY, split_repeats=1)
    assert "repeats" not in spec.to_dict()["split"]  # old studies compare equal to new one-split specs
    with pytest.raises(UserInputError, match="split-repeats"):
        build_ablation_spec(ABLATION, data=str(cpp(24)), variants=["gcn"], split_repeats=0)


def test_make_splits_repeat_zero_is_the_single_split():
    from rdkit import Chem

    rng = np.random.default_rng(0)
    aa = "ACDEFGHIKLMNPQRSTVWY"
    smiles = [Chem.MolToSmiles(Chem.MolFromSequence("".join(rng.choice(list(aa), 6)))) for _ in range(40)]
    for kind in ("random", "similarity"):
        many = make_splits(smiles, kind=kind, seed=3, repeats=3)
        one = make_split(smiles, kind=kind, seed=3)
        assert many[0].test.tolist() == one.test.tolist()
        assert len({tuple(s.test.tolist()) for s in many}) > 1


def test_old_trials_with_params_still_identify():
    dists = {"variant": optuna.distributions.CategoricalDistribution(["gcn"]),
             "seed": optuna.distributions.CategoricalDistribution([0, 1])}
    old = optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.5, params={"variant": "gcn", "seed": 1},
                                    distributions=dists)
    assert trial_identity(old) == ("gcn", 1, 0)
    assert trial_pair(old) == ("gcn", 1, 0)
