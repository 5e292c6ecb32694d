"""A study on homology partitions: made at create, stored with the study, each trial trains on its own."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.analysis import trial_predictions
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.study import StudySpec, build_ablation_spec, partition_names, study_splits, trial_identity

pytest.importorskip("Bio.Align")
ABLATION = Path(__file__).resolve().parents[2] / "studies" / "ablation.yaml"


def _spec(data, tiny, split: dict, name="hom"):
    spec = build_ablation_spec(ABLATION, data=str(data), variants=["gcn"], seeds=[0], settings=dict(tiny),
                               name=name, validate=False)
    return StudySpec.from_dict({**spec.to_dict(), "split": split})


def test_homology_study_stores_its_partitions_and_drops_the_degenerate_one(sqlite_url, cpp, hpo):
    data = cpp(120)
    split = {"kind": "homology", "thresholds": [0.05, 0.9, "random"], "similarity": "identity", "seed": 1}
    result = create_study_from_spec(sqlite_url, _spec(data, hpo.TINY, split))
    lines = "\n".join(result.data_lines)
    assert "split: homology (seed 1): 2 partition(s), 1 dropped" in lines
    assert "partition '0.05' dropped (degenerate): test part has" in lines
    assert result.enqueued == 2
    study = optuna.load_study(study_name="hom", storage=open_storage(sqlite_url))
    assert partition_names(study.user_attrs) == ["0.9", "random"]
    splits = study_splits(study.user_attrs)
    summary = run_worker(sqlite_url, "hom", gpu="cpu")
    assert (summary.completed, summary.failed) == (2, 0)
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        s = splits[trial_identity(t).split_repeat]
        assert trial_predictions(t.user_attrs)["test"].index.tolist() == s["test"]
    # creating it again finds the same partitions (seeded), so nothing is queued twice
    assert create_study_from_spec(sqlite_url, _spec(data, hpo.TINY, split)).enqueued == 0


def test_homology_keys_belong_to_the_homology_kind(cpp, hpo):
    with pytest.raises(UserInputError, match="thresholds.*applies to split kind homology"):
        _spec(cpp(20), hpo.TINY, {"kind": "random", "thresholds": [0.5]})
    with pytest.raises(UserInputError, match="not a similarity"):
        _spec(cpp(20), hpo.TINY, {"kind": "homology", "thresholds": [1.5]})
