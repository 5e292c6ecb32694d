"""A tiny binding study end to end on real c-binding pairs: the CLI, a real worker, the report."""

from __future__ import annotations

import csv

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.data.pairs import load_pair_dataset
from pepland_hpo.hpo.analysis import build_report
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker
from pepland_hpo.hpo.study import study_splits

runner = CliRunner()
TINY = ["--set", "hidden_dim=8", "--set", "num_layers=1", "--set", "batch_size=16", "--set", "patience=0"]


def _slice(pepland_dir, path, n, edit=None):
    with open(pepland_dir / "c-binding.csv", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [row for _, row in zip(range(n), reader)]
    if edit:
        edit(header, rows)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


@pytest.fixture
def binding(pepland_dir, tmp_path):
    """120 real pairs, plus a 5,000-residue protein, a non-letter in a protein and a missing affinity."""

    def spoil(header, rows):
        p, a = header.index("seq1"), header.index("affinity")
        for k, (col, value) in enumerate([(p, "M" * 5000), (p, "MKV-LLA"), (a, "")]):
            row = list(rows[k])
            row[col] = value
            rows.append(row)

    return _slice(pepland_dir, tmp_path / "binding.csv", 120, spoil)


def _create(data, *extra):
    return runner.invoke(app, ["create", "ablation", "--data", str(data), "--target", "affinity",
                               "--smiles-col", "seq2", "--protein-col", "seq1", "--variants", "gcn",
                               "--seeds", "0", "--epochs", "1", *TINY, *extra])


def test_a_target_split_study_trains_every_trial_with_the_protein(binding, sqlite_url, tmp_path):
    result = _create(binding, "--split", "target", "--split-repeats", "2", "--name", "bind")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "peptide-protein pair(s)" in out and "protein encoder composition" in out
    assert "held-out proteins also in train: valid 0, test 0" in out
    assert "unusable protein" in out  # the 5,000-residue and the non-letter proteins, skipped with a reason

    summary = run_worker(sqlite_url, "bind", gpu="cpu")
    assert (summary.completed, summary.failed) == (2, 0)
    study = optuna.load_study(study_name="bind", storage=open_storage(sqlite_url))
    spec = study.user_attrs["spec"]
    assert spec["pair"]["protein"] == "seq1" and spec["split"]["kind"] == "target"
    ds = load_pair_dataset(binding, "seq1", target="affinity", smiles_col="seq2")
    proteins = ds.proteins
    for split in study_splits(study.user_attrs):  # no protein on both sides
        train = {proteins[i] for i in split["train"]}
        assert not train & {proteins[i] for i in split["test"]}
        assert not train & {proteins[i] for i in split["valid"]}
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        job = trial.user_attrs["job"]
        assert job["protein_col"] == "seq1"
        assert trial.user_attrs["param_count"] > 0
        assert {"spearman", "pearson", "rmse", "r2"} <= set(trial.user_attrs["test_metrics"])
    # every trial's model read the protein: more parameters than the same study with the control
    with_protein = {t.user_attrs["param_count"] for t in study.get_trials(states=(TrialState.COMPLETE,))}

    report = build_report(sqlite_url, "bind", out_dir=tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "target split(s) (unseen proteins" in text
    assert "proteins at sequence identity >= 0.9 kept on one side; protein encoder composition" in text

    # predict on the trial reads the protein column the study used; a file without it is exit 2 naming it
    trial = study.get_trials(states=(TrialState.COMPLETE,))[0].number
    base = ["predict", "--study", "bind", "--trial", str(trial), "--storage", sqlite_url]
    done = runner.invoke(app, [*base, "--data", str(binding), "--out", str(tmp_path / "pred.csv")])
    assert done.exit_code == 0, done.output
    pred = list(csv.DictReader(open(tmp_path / "pred.csv")))
    assert len(pred) == len(ds) and {"protein", "prediction_affinity", "label_affinity"} <= set(pred[0])
    assert pred[0]["protein"] == ds.proteins[0]
    test_rows = study_splits(study.user_attrs)[0]["test"]
    recorded = study.get_trials(states=(TrialState.COMPLETE,))[0].user_attrs["test_metrics"]["rmse"]
    err = [float(pred[i]["prediction_affinity"]) - float(pred[i]["label_affinity"]) for i in test_rows]
    assert float(np.sqrt(np.mean(np.square(err)))) == pytest.approx(recorded, rel=1e-3)  # same inputs as the trial
    renamed = tmp_path / "renamed.csv"
    text_in = binding.read_text().splitlines()
    renamed.write_text("\n".join([text_in[0].replace("seq1", "target_seq", 1), *text_in[1:]]) + "\n")
    missing = runner.invoke(app, [*base, "--data", str(renamed), "--out", str(tmp_path / "bad.csv")])
    assert missing.exit_code == 2 and "no column 'seq1'" in " ".join(missing.output.split()), missing.output
    assert not (tmp_path / "bad.csv").exists()
    other = runner.invoke(app, [*base, "--data", str(renamed), "--out", str(tmp_path / "p2.csv"),
                                "--protein-col", "target_seq"])
    assert other.exit_code == 0, other.output
    assert "protein composition + HGB" in text  # references see the protein too
    assert "test proteins with a pair in training: 0" in text
    assert report is not None

    control = _create(binding, "--split", "target", "--name", "bind-control", "--protein-encoder", "none")
    assert control.exit_code == 0, control.output
    run_worker(sqlite_url, "bind-control", gpu="cpu")
    ctrl = optuna.load_study(study_name="bind-control", storage=open_storage(sqlite_url))
    without = {t.user_attrs["param_count"] for t in ctrl.get_trials(states=(TrialState.COMPLETE,))}
    assert max(without) < min(with_protein)
    assert study_splits(ctrl.user_attrs)[0] == study_splits(study.user_attrs)[0]  # the same pairs apart


def test_binder_threshold_study_reports_auroc(binding, sqlite_url):
    result = _create(binding, "--split", "pair-random", "--binder-threshold", "6.0", "--name", "binder")
    assert result.exit_code == 0, result.output
    assert "binder (1)" in result.output and "classification" in result.output
    run_worker(sqlite_url, "binder", gpu="cpu")
    study = optuna.load_study(study_name="binder", storage=open_storage(sqlite_url))
    trial = study.get_trials(states=(TrialState.COMPLETE,))[0]
    assert "auroc" in trial.user_attrs["test_metrics"]
    assert study.user_attrs["spec"]["metric"] == "auroc"


def test_bad_pair_input_exits_2(binding, tmp_path):
    cases = [
        (["--protein-col", "nope"], "no protein column 'nope'"),
        (["--protein-encoder", "embeddings", "--protein-embeddings", str(tmp_path / "missing.npz")],
         "protein embeddings file not found"),
        (["--protein-encoder", "esm"], "protein_encoder"),
    ]
    for extra, text in cases:
        result = _create(binding, *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert text in " ".join(result.output.split()), (extra, result.output)
    no_pair = runner.invoke(app, ["create", "ablation", "--data", str(binding), "--target", "affinity",
                                  "--smiles-col", "seq2", "--split", "target", "--epochs", "1"])
    assert no_pair.exit_code == 2 and "needs pair" in " ".join(no_pair.output.split())


def test_train_prints_the_pair_split(binding):
    result = runner.invoke(app, ["train", "--data", str(binding), "--target", "affinity", "--smiles-col", "seq2",
                                 "--protein-col", "seq1", "--protein-encoder", "cnn", "--split", "target",
                                 "--set", "epochs=1", *TINY])
    assert result.exit_code == 0, result.output
    assert "split: target (seed 0)" in result.output
    assert "held-out proteins also in train: valid 0, test 0" in result.output


def test_the_split_identity_setting():
    from pepland_hpo.hpo.study import StudySpec

    def spec(**split):
        return StudySpec(kind="ablation", name="x", data="pairs.csv", variants=["gcn"], pair={"protein": "seq1"},
                         split=split)

    assert spec(kind="target").split.protein_identity() == 0.9
    assert spec(kind="target", identity=0.7).split.protein_identity() == 0.7
    assert spec(kind="target", identity="exact").split.protein_identity() is None
    assert "identity" not in spec(kind="target").model_dump()["split"]  # older specs read as before
    for bad, text in [({"kind": "pair-random", "identity": 0.9}, "applies to split kind target"),
                      ({"kind": "target", "identity": True}, "not a threshold"),
                      ({"kind": "target", "identity": 1.5}, "less than or equal to 1")]:
        with pytest.raises(Exception, match=text):
            spec(**bad)
