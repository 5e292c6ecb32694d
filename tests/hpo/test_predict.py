"""End to end with the real worker: a tiny trained trial, its checkpoint artifact, predict and report.

`predict` on the study's test rows must reproduce the test metric the trial
recorded; unlabelled input still gets a predictions file.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pepland_hpo.hpo.analysis import build_report
from pepland_hpo.hpo.services import export_trials

N_ROWS = 160
TINY = {"hidden_dim": "16", "num_layers": "1", "num_heads": "2", "batch_size": "32", "lr": "1e-3", "patience": "0"}


@pytest.fixture
def trained_study(tmp_path, pepland_dir, write_slice):
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_ablation_spec
    from pepland_hpo.hpo.runner import run_worker

    data = write_slice(pepland_dir / "c-CPP.txt", N_ROWS, header=False)
    url = f"sqlite:///{tmp_path / 'pepland.db'}"
    spec = build_ablation_spec(data=str(data), variants=["gcn"], seeds=[0], epochs=2,
                               settings=dict(TINY), name="tiny", split_repeats=1)
    create_study_from_spec(url, spec)
    summary = run_worker(storage_url=url, study_name="tiny", gpu="cpu", wait=False, threads=1,
                         log_to_stderr=False)
    import optuna

    study = optuna.load_study(study_name="tiny", storage=url)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE", (summary, trial.user_attrs.get("failure_reason"))
    return url, study, trial, data


def test_predict_reproduces_recorded_test_metric(trained_study, tmp_path):
    from pepland_hpo.hpo.services import predict_with_trial

    url, study, trial, data = trained_study
    import optuna

    # the worker's checkpoint is an artifact of the trial (what the dashboard lists)
    metas = optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)
    assert trial.user_attrs.get("checkpoint_artifact") in [m.artifact_id for m in metas]
    # the study's test rows, written in the file's own format (no header: sequence,label)
    lines = data.read_text().splitlines()
    test_idx = study.user_attrs["split"]["test"]
    assert len(lines) == study.user_attrs.get("n_molecules", len(lines))  # indices are file rows
    test_file = tmp_path / "test_rows.txt"
    test_file.write_text("\n".join(lines[i] for i in test_idx) + "\n")

    out = tmp_path / "pred.csv"
    metrics = predict_with_trial(url, "tiny", trial.number, str(test_file), out)
    recorded = trial.user_attrs["test_metrics"]
    for name in ("auroc", "mcc", "accuracy"):
        if math.isfinite(recorded[name]):
            assert metrics[name] == pytest.approx(recorded[name], abs=1e-5), name
    frame = pd.read_csv(out)
    assert len(frame) == len(test_idx)
    pred_cols = [c for c in frame.columns if c.startswith("prediction_")]
    label_cols = [c for c in frame.columns if c.startswith("label_")]
    assert frame.columns[0] == "smiles" and len(pred_cols) == 1 and len(label_cols) == 1
    assert frame[pred_cols[0]].between(0, 1).all()  # probabilities

    # unlabelled molecules: predictions only, no metrics, and the same numbers as the
    # same SMILES with labels (compared within one input format: a sequence file and
    # a SMILES file are featurised by different reader paths)
    head = frame.head(6)
    labelled = tmp_path / "labelled.csv"
    pd.DataFrame({"smiles": head["smiles"], "label": head[label_cols[0]].astype(int)}).to_csv(labelled, index=False)
    unlabelled = tmp_path / "new.csv"
    pd.DataFrame({"smiles": head["smiles"]}).to_csv(unlabelled, index=False)
    assert predict_with_trial(url, "tiny", trial.number, str(labelled), tmp_path / "lab_pred.csv") is not None
    assert predict_with_trial(url, "tiny", trial.number, str(unlabelled), tmp_path / "new_pred.csv") is None
    new = pd.read_csv(tmp_path / "new_pred.csv")
    lab = pd.read_csv(tmp_path / "lab_pred.csv")
    assert list(new.columns) == ["smiles", pred_cols[0]]
    np.testing.assert_allclose(new[pred_cols[0]], lab[pred_cols[0]], atol=1e-6)

    # the report and the export work on what the real worker wrote
    report = build_report(url, "tiny", out_dir=tmp_path / "rep")
    row = report.rows[0]
    assert (row.variant, row.n_done, row.n_planned) == ("gcn", 1, 1)
    assert row.test[report.metric].value == pytest.approx(recorded[report.metric], abs=1e-5)  # from stored predictions
    assert row.param_count == trial.user_attrs["param_count"]
    assert report.reference is not None, report.reference_note
    assert export_trials(url, "tiny", tmp_path / "trials.csv") == 1
