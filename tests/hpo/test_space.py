"""Search spaces as users write them: ranges, log scales, steps, categoricals, conditionals;
bad spaces exit 2 naming ``space.KEY``; impossible combinations never train; the typed job round-trips."""

from __future__ import annotations

import math
import re
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.queue import set_user_attrs
from pepland_hpo.hpo.study import build_search_spec, load_spec
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.study import TrialJob
from pepland_hpo.hpo.runner import run_worker
from pepland_hpo.training.config import TrainConfig

SPACE_YAML = """
kind: search
name: sp
variant: graphormer          # a transformer (num_heads must divide hidden_dim) that does not pretrain
split: {kind: stratified, fractions: [0.5, 0.25, 0.25], seed: 0}
n_trials: 3
sampler: {kind: random}
pruner: none
settings: {num_layers: 1, epochs: 1, batch_size: 16, patience: 0}
space:
  lr: {low: 1e-4, high: 1e-2, log: true}   # YAML reads 1e-4 (no dot) as text: still a number here
  hidden_dim: {low: 8, high: 16, step: 8}
  dropout: [0.0, 0.1]
  num_heads: [2, 3]            # 3 divides neither 8 nor 16: such trials must never train
  temperature: [0.05, 0.1]     # pretraining only: never suggested for graphormer
"""


def _spec_file(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_space_of_every_kind_samples_inside_its_ranges_and_never_trains_the_impossible(sqlite_url, cpp, tmp_path):
    spec = build_search_spec(_spec_file(tmp_path, SPACE_YAML), data=str(cpp(32)))
    assert spec.to_dict()["space"]["lr"] == {"low": 1e-4, "high": 1e-2, "log": True}  # stored as written
    create_study_from_spec(sqlite_url, spec)
    study = optuna.load_study(study_name="sp", storage=open_storage(sqlite_url))
    # one more queued trial with fixed params through Optuna's public API: certainly impossible
    study.enqueue_trial({"hidden_dim": 8, "num_heads": 3, "lr": 1e-3, "dropout": 0.0}, user_attrs={"variant": "graphormer"})
    summary = run_worker(sqlite_url, "sp", gpu="cpu", wait=False)
    trials = optuna.load_study(study_name="sp", storage=open_storage(sqlite_url)).get_trials()
    assert len(trials) == 4 and summary.failed == 0
    assert summary.completed + summary.pruned == 4 and summary.pruned >= 1
    for t in trials:
        p, d = t.params, t.distributions
        assert 1e-4 <= p["lr"] <= 1e-2
        assert d["lr"] == FloatDistribution(1e-4, 1e-2, log=True)
        assert p["hidden_dim"] in (8, 16) and d["hidden_dim"] == IntDistribution(8, 16, step=8)
        assert p["dropout"] in (0.0, 0.1) and isinstance(d["dropout"], CategoricalDistribution)
        assert "temperature" not in p  # conditional: graphormer does not pretrain
        if p["hidden_dim"] % p["num_heads"]:
            # impossible: pruned before any training, with the reason
            assert t.state == TrialState.PRUNED, t
            assert "not divisible by num_heads" in t.user_attrs["pruned_reason"]
            assert not t.intermediate_values and "param_count" not in t.user_attrs and "job" not in t.user_attrs
        else:
            assert t.state == TrialState.COMPLETE and math.isfinite(t.value), t
            assert t.user_attrs["param_count"] > 0 and t.intermediate_values
            job = TrialJob.from_stored(t.user_attrs["job"])  # what the child ran, back from storage
            assert job.to_stored() == t.user_attrs["job"] and job.params == p
            assert job.model["hidden_dim"] == p["hidden_dim"] and job.model["num_heads"] == p["num_heads"]
            assert job.model["num_layers"] == 1 and job.train.lr == p["lr"] and job.train.epochs == 1
    # the log range is sampled on a log scale: Optuna's distribution says so, and the values agree
    assert all(math.log10(t.params["lr"]) >= -4 for t in trials)


def test_pretraining_parameter_is_suggested_for_a_variant_that_pretrains():
    from pepland_hpo.hpo.study import parse_space, suggest

    space = parse_space({"temperature": [0.05, 0.1], "dropout": [0.0, 0.1]})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    full = suggest(study.ask(), space, "full", {})
    plain = suggest(study.ask(), space, "fragments", {})
    forced = suggest(study.ask(), space, "fragments", {"pretraining": "contrastive"})
    assert set(full) == {"temperature", "dropout"} and set(forced) == {"temperature", "dropout"}
    assert set(plain) == {"dropout"}


def test_typed_job_round_trips_through_storage_unchanged(sqlite_url):
    storage = open_storage(sqlite_url, create=True)
    study = optuna.create_study(study_name="j", storage=storage)
    trial = study.ask()
    job = TrialJob(number=trial.number, variant="graphormer", seed=3, split_repeat=1,
                   params={"lr": 3e-4, "num_heads": 2, "pooling": "hierarchical"}, data="builtin:amp",
                   task="classification", metric="auroc", model={"hidden_dim": 16, "spatial": True},
                   train=TrainConfig(lr=3e-4, epochs=2, precision="bf16"), fault=None, device="cpu", threads=1,
                   parent_pid=123, checkpoint_dir="/tmp/x", resume_path=None)
    set_user_attrs(storage, trial._trial_id, {"job": job.to_stored()})
    stored = optuna.load_study(study_name="j", storage=open_storage(sqlite_url)).trials[0].user_attrs["job"]
    again = TrialJob.from_stored(stored)
    assert again == job and isinstance(again.train, TrainConfig) and again.train.precision == "bf16"
    with pytest.raises(Exception):  # frozen
        again.seed = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ("lr: {low: 1.0e-2, high: 1.0e-4}", "space.lr", "below high"),
        ("lr: {low: 0.0, high: 1.0e-2, log: true}", "space.lr.low", "greater than 0"),
        ("weight_decay: {low: 0.0, high: 1.0e-2, log: true}", "space.weight_decay.low", "log range needs low > 0"),
        ("num_layers: {low: 2, high: 12, step: 4}", "space.num_layers.step", "does not divide"),
        ("num_layers: {low: 2, high: 12.5}", "space.num_layers.high", "integer"),
        ("lr: {low: 1.0e-4, high: 1.0e-2, lg: true}", "space.lr.lg", "unknown key"),
        ("lr: {low: 1.0e-4, high: 1.0e-2, log: true, step: 1.0e-4}", "space.lr", "step or log"),
        ("dropout: {low: 0.0, high: 1.0}", "space.dropout.high", "less than 1"),
        ("pooling: {low: 1, high: 2}", "space.pooling", "list of choices"),
        ("hidden_dimm: [8, 16]", "space.hidden_dimm", "did you mean hidden_dim"),
        ("dropout: []", "space.dropout", "non-empty"),
        ("dropout: [0.1, 2.0]", "space.dropout", "less than 1"),
    ],
)
def test_bad_space_exits_2_naming_the_key(tmp_path, entry, key, words):
    text = SPACE_YAML.split("space:")[0] + "space:\n  " + entry + "\n"
    spec = _spec_file(tmp_path, text, "bad.yaml")
    with pytest.raises(UserInputError, match=re.escape(f"bad.yaml: {key}: ") + ".*" + re.escape(words)):
        load_spec(spec)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(app, ["create", "search", "--spec", str(spec), "--storage", url])
    assert result.exit_code == 2, result.output
    assert key in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.db").exists()  # nothing written


def test_space_with_no_buildable_point_is_refused_at_create(tmp_path, cpp):
    text = SPACE_YAML.replace("num_heads: [2, 3]", "num_heads: [3]")
    with pytest.raises(UserInputError, match=r"space: no combination tried can be built .*not divisible"):
        build_search_spec(_spec_file(tmp_path, text), data=str(cpp(32)))
    # a --set of a searched key takes it out of the space, and is typed once
    spec = build_search_spec(_spec_file(tmp_path, SPACE_YAML), data=str(cpp(32)), settings={"num_heads": "2"},
                             validate=False)
    assert "num_heads" not in spec.space and spec.settings["num_heads"] == 2


def test_spec_stored_by_the_previous_version_reads_typed_and_round_trips():
    from pepland_hpo.hpo.study import StudySpec

    old = {  # as the dataclass spec stored it: --set values as strings, a partial sampler, no repeats
        "kind": "search", "name": "se", "data": "builtin:amp", "target": None, "task": "classification",
        "smiles_col": None, "split": {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0},
        "metric": "auroc", "direction": "maximize", "variants": ["full"], "seeds": [0],
        "settings": {"hidden_dim": "32", "fragments": "true", "epochs": 3},
        "space": {"lr": [1e-5, 1e-4], "dropout": [0.0, 0.1]}, "sampler": {"kind": "tpe"},
        "pruner": {"kind": "median", "n_startup_trials": 5}, "n_trials": 4, "max_retries": 2, "source": "x.yaml",
    }
    spec = StudySpec.from_dict(old)
    assert spec.settings == {"hidden_dim": 32, "fragments": True, "epochs": 3}
    assert spec.sampler.multivariate is True and spec.pruner.n_warmup_steps == 2
    stored = spec.to_dict()
    assert stored["settings"]["hidden_dim"] == 32 and stored["space"] == old["space"]
    assert StudySpec.from_dict(stored) == spec  # the stored form reads back unchanged
    with pytest.raises(UserInputError, match=r"x\.yaml: settings\.hidden_dim: .*greater than 0"):
        StudySpec.from_dict({**old, "settings": {"hidden_dim": "0"}})


def test_a_set_value_is_typed_once_and_stored_typed(tmp_path, cpp):
    url = f"sqlite:///{tmp_path / 'typed.db'}"
    result = CliRunner().invoke(app, ["create", "ablation", "--data", str(cpp(24)), "--variants", "gcn",
                                      "--seeds", "0", "--split-repeats", "1", "--name", "typed", "--storage", url,
                                      "--set", "hidden_dim=32", "--set", "sum_readout=off", "--set", "lr=5e-4"])
    assert result.exit_code == 0, result.output
    stored = optuna.load_study(study_name="typed", storage=open_storage(url)).user_attrs["spec"]["settings"]
    assert stored["hidden_dim"] == 32 and stored["sum_readout"] is False and stored["lr"] == 5e-4
    # a setting no listed variant can be built with is refused at create, naming the variant and the key
    bad = CliRunner().invoke(app, ["create", "ablation", "--data", str(cpp(24)), "--variants", "gcn",
                                   "--storage", url, "--name", "bad", "--set", "spatial=true"])
    assert bad.exit_code == 2 and "variant gcn" in bad.output and "spatial" in bad.output, bad.output
