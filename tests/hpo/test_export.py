"""`export_trials`: one flat CSV row per trial, every state kept."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pepland_hpo.hpo.services import export_trials

from test_report_factory import make_ablation_study


def test_one_row_per_trial_with_flattened_attrs(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = make_ablation_study(url, fail={("graphormer", 1): "oom"})
    study.enqueue_trial({"variant": "gcn", "seed": 3}, user_attrs={"variant": "gcn", "seed": 3})
    n = export_trials(url, "abl", tmp_path / "out" / "trials.csv")
    frame = pd.read_csv(tmp_path / "out" / "trials.csv")
    trials = study.get_trials()
    assert n == len(frame) == len(trials) == 10
    assert list(frame["number"]) == [t.number for t in trials]
    assert frame["state"].value_counts().to_dict() == {"COMPLETE": 8, "FAIL": 1, "WAITING": 1}
    for col in ("value", "params.variant", "params.seed", "variant", "seed", "test_metrics.auroc", "val_metrics.mcc",
                "failure_reason", "param_count", "duration_s", "datetime_start"):
        assert col in frame.columns, col
    first = trials[0]
    row = frame.iloc[0]
    assert row["test_metrics.auroc"] == pytest.approx(first.user_attrs["test_metrics"]["auroc"])
    assert row["value"] == pytest.approx(first.value)
    assert row["duration_s"] == pytest.approx(60.0)
    assert json.loads(row["epoch_seconds"]) == first.user_attrs["epoch_seconds"]  # lists stay one cell
    assert frame.loc[frame["state"] == "FAIL", "failure_reason"].tolist() == ["oom"]
