"""The command line as a user meets it: exit codes, messages, and what is left behind."""

from __future__ import annotations

import math
import subprocess
import sys

import optuna
import pytest
from typer.testing import CliRunner

from pepland_hpo.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def study_names(url: str) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(url)]


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_help_teaches_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("create", "worker", "launch", "status", "report", "dashboard", "data", "quickstart"):
        assert command in result.output


def test_malformed_set_is_a_usage_error(db_url):
    result = invoke("create", "ablation", "--data", "builtin:amp", "--set", "hidden_dim", "--storage", db_url)
    assert result.exit_code == 2
    assert "key=value" in result.output


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--variants", "gcn,transformerx"], "transformerx"),
        (["--set", "hidden_dim=abc"], "hidden_dim"),
        (["--set", "no_such_key=1"], "no_such_key"),
    ],
)
def test_bad_study_options_exit_2_and_leave_no_study(db_url, extra, needle):
    result = invoke("create", "ablation", "--data", "builtin:amp", "--storage", db_url, *extra)
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert study_names(db_url) == []


def test_bad_files_exit_2_naming_the_file(tmp_path, db_url):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    no_valid = tmp_path / "novalid.csv"
    no_valid.write_text("smiles,label\nnot-a-smiles,1\nC1CC,0\n")
    wrong_cols = tmp_path / "wrongcols.csv"
    wrong_cols.write_text("foo,bar\nCCO,1\n")
    for path in (empty, no_valid, wrong_cols):
        result = invoke("create", "ablation", "--data", str(path), "--target", "label", "--storage", db_url)
        assert result.exit_code == 2, (path, result.output)
        assert path.name in result.output
    assert "foo" in invoke("create", "ablation", "--data", str(wrong_cols), "--storage", db_url).output
    assert study_names(db_url) == []


def test_inspect_reports_upstream_overlap_and_invalid_rows(pepland_dir, tmp_path):
    pre = pepland_dir / "pretrained"
    result = invoke(
        "data", "inspect", str(pre / "train.csv"), "--valid", str(pre / "valid.csv"), "--test", str(pre / "test.csv")
    )
    assert result.exit_code == 0, result.output
    assert "100" in result.output and "overlap" in result.output.lower()

    lines = (pre / "train.csv").read_text().splitlines()[:6]
    lines.insert(3, "this-is-not-smiles")
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    result = invoke("data", "inspect", str(broken))
    assert result.exit_code == 0, result.output
    # the file's line 4 (the header is line 1), named with its text and the reason
    assert "skipped row 4: 'this-is-not-smiles': invalid SMILES syntax" in result.output


def test_create_then_worker_completes_and_create_is_idempotent(db_url, tmp_path):
    args = [
        "create", "ablation", "--data", "builtin:amp", "--variants", "gcn", "--seeds", "0,1", "--split-repeats", "1",
        "--epochs", "2", "--set", "hidden_dim=32", "--storage", db_url,
    ]
    assert invoke(*args).exit_code == 0
    study_name = study_names(db_url)[0]
    # the real console entry point, in its own process, as a user would start it
    done = subprocess.run(
        [sys.executable, "-m", "pepland_hpo.cli", "worker", "--storage", db_url],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    trials = optuna.load_study(study_name=study_name, storage=db_url).get_trials()
    assert len(trials) == 2
    for trial in trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert math.isfinite(trial.value)
        for key in ("variant", "seed", "param_count", "device", "host", "epochs_run", "seconds_per_epoch", "test_metrics"):
            assert key in trial.user_attrs, key
    assert sorted(t.user_attrs["seed"] for t in trials) == [0, 1]

    again = invoke(*args)
    assert again.exit_code == 0
    assert len(optuna.load_study(study_name=study_name, storage=db_url).get_trials()) == 2

    out = tmp_path / "report"
    shown = invoke("report", study_name, "--out", str(out), "--storage", db_url)
    assert shown.exit_code == 0, shown.output
    assert "gcn" in shown.output and "reference" in shown.output
    assert {"report.md", "report.csv", "report.png"} <= {p.name for p in out.iterdir()}
    exported = invoke("export", study_name, "--csv", str(tmp_path / "trials.csv"), "--storage", db_url)
    assert exported.exit_code == 0 and "2 trial(s)" in exported.output


def test_leave_one_out_ablation_expands_from_full(db_url):
    from pepland_hpo.models.variants import leave_one_out_variants

    result = invoke(
        "create", "ablation", "--data", "builtin:amp", "--variants", "leave-one-out", "--seeds", "0",
        "--split-repeats", "1", "--storage", db_url, "--name", "loo",
    )
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="loo", storage=db_url).get_trials()
    assert sorted(t.user_attrs["variant"] for t in trials) == sorted(["full", *leave_one_out_variants()])


def test_train_and_pretrain_single_jobs(pepland_dir, write_slice):
    data = write_slice(pepland_dir / "c-CPP.txt", 40, header=False, name="cpp40.txt")
    tiny = ["--set", "hidden_dim=8", "--set", "num_layers=1", "--set", "num_heads=2"]
    trained = invoke("train", "--data", str(data), "--variant", "gcn", "--split", "stratified",
                     "--set", "epochs=2", "--device", "cpu", *tiny)
    assert trained.exit_code == 0, trained.output
    assert "best auroc" in trained.output and "test:" in trained.output and "checkpoint:" in trained.output

    pre = ["pretrain", "--data", str(data), "--variant", "full", "--device", "cpu",
           "--set", "pretrain_epochs=1", "--set", "pretrain_batch_size=8", *tiny]
    first = invoke(*pre)
    assert first.exit_code == 0, first.output
    assert "encoder pretrained" in first.output
    second = invoke(*pre)
    assert second.exit_code == 0 and "encoder reused" in second.output
