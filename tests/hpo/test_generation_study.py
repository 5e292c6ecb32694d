"""A generation study runs through the one route: create -> worker (one child per trial) -> COMPLETE trials
with a stored generator, reports per epoch, resume from the trial's resume file."""

from __future__ import annotations

import math

import pytest

from pepland_hpo.errors import UserInputError

TINY_SPACE = {"hidden_dim": [16, 24], "temperature": {"low": 0.8, "high": 1.2}}
TINY_SETTINGS = {"embed_dim": "8", "batch_size": "32", "num_layers": "1"}


@pytest.fixture
def cpp_every_7th(pepland_dir, tmp_path):
    """200 real c-CPP rows, every 7th line (the file is grouped by class; this takes both)."""
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()[::7][:200]
    path = tmp_path / "cpp200.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _create(url, data, **kw):
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_generation_spec

    spec = build_generation_spec(data=str(data), n_trials=kw.pop("n_trials", 2), epochs=kw.pop("epochs", 2),
                                 settings=TINY_SETTINGS, space=TINY_SPACE, name=kw.pop("name", "gen"), **kw)
    return spec, create_study_from_spec(url, spec)


def test_generation_study_trials_complete_with_a_stored_generator(sqlite_url, cpp_every_7th):
    import optuna

    from pepland_hpo.generation import load_generator
    from pepland_hpo.hpo.runner import run_worker

    spec, created = _create(sqlite_url, cpp_every_7th)
    assert spec.kind == "generation" and spec.metric == "nll" and spec.direction == "minimize"
    assert created.enqueued == 2
    assert any(line.startswith("split: random") and "train 160" in line for line in created.data_lines)
    summary = run_worker(sqlite_url, "gen", "cpu", wait=False)
    assert summary.completed == 2 and summary.failed == 0
    study = optuna.load_study(study_name="gen", storage=sqlite_url)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    for trial in study.trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        val = trial.user_attrs["val_metrics"]["nll"]
        assert math.isfinite(val) and trial.value == val
        assert sorted(trial.intermediate_values) == [1, 2]  # epochs report from 1, like model trials
        assert set(trial.params) == {"hidden_dim", "temperature"}
        model, meta = load_generator(trial.user_attrs["checkpoint"])
        assert model.config.hidden_dim == trial.params["hidden_dim"]
        assert meta["settings"]["temperature"] == pytest.approx(trial.params["temperature"])
        # the study's stored split is the one the generator trained on
        assert meta["valid_index"] == study.user_attrs["split"]["valid"]


def test_generation_trial_resumes_from_its_resume_file(tmp_path, cpp_every_7th):
    """Two epochs, then the same trial asked for three: it continues after epoch 2 and ends like a 3-epoch run."""
    from pepland_hpo.hpo.study import TrialJob, generation_job_fields, run_generation_trial

    def job(epochs, folder, resume):
        fields = generation_job_fields({"hidden_dim": 16, "embed_dim": 8, "num_layers": 1, "epochs": epochs,
                                        "batch_size": 32})
        return TrialJob(number=0, variant="generator", seed=0, data=str(cpp_every_7th), parent_pid=1,
                        checkpoint_dir=str(folder), resume_path=str(resume) if resume else None, **fields)

    from pepland_hpo.hpo.study import generation_split
    from pepland_hpo.hpo.study import build_generation_spec

    spec = build_generation_spec(data=str(cpp_every_7th), validate=False)
    split = generation_split(spec, 200)
    reports, resumed = [], []
    resume = tmp_path / "resume" / "trial-0.pt"
    run_generation_trial(job(2, tmp_path / "a", resume), split, lambda e, m: reports.append(e))
    out = run_generation_trial(job(3, tmp_path / "b", resume), split, lambda e, m: reports.append(e),
                               on_resume=resumed.append)
    straight = run_generation_trial(job(3, tmp_path / "c", None), split, lambda e, m: None)
    assert resumed == [2] and reports == [1, 2, 3]
    assert out["epochs_run"] == 3
    assert out["best_value"] == pytest.approx(straight["best_value"], abs=1e-6)


def test_generation_spec_refuses_what_the_generator_cannot_do(cpp_every_7th):
    from pepland_hpo.hpo.study import build_generation_spec

    with pytest.raises(UserInputError, match="hiden_dim: unknown generator setting; did you mean hidden_dim"):
        build_generation_spec(data=str(cpp_every_7th), settings={"hiden_dim": "8"}, validate=False)
    with pytest.raises(UserInputError, match="space.dropout.high"):
        build_generation_spec(data=str(cpp_every_7th), space={"dropout": {"low": 0.0, "high": 1.0}}, validate=False)
    with pytest.raises(UserInputError, match="--trials must be positive"):
        build_generation_spec(data=str(cpp_every_7th), n_trials=0, validate=False)
