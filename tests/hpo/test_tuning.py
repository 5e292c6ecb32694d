"""Tuned ablations: a search per variant, then the seeds at each variant's best configuration."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from pepland_hpo.hpo.study import _tuning as tuning
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.analysis import build_report
from pepland_hpo.hpo.study import build_ablation_spec
from pepland_hpo.hpo.services import collect_status
from pepland_hpo.hpo.queue import open_storage

REPO = Path(__file__).resolve().parents[2]
ABLATION = REPO / "studies" / "ablation.yaml"
SPACE = {"hidden_dim": [8, 16], "lr": [1e-3, 1e-2], "dropout": [0.0, 0.1]}


def _study(url, name):
    return optuna.load_study(study_name=name, storage=open_storage(url))


def _tuned(url, data, variants, seeds, tune, settings, name="tuned", repeats=1, pruner=None):
    settings = {k: v for k, v in settings.items() if k not in SPACE}
    spec = build_ablation_spec(ABLATION, data=str(data), variants=list(variants), seeds=list(seeds),
                               settings=dict(settings), name=name, split_repeats=repeats, tune=tune, validate=False)
    spec.split = {"kind": "stratified", "fractions": [0.5, 0.25, 0.25], "seed": 0, "repeats": repeats}
    spec.space = dict(SPACE)
    if pruner:
        spec.pruner = pruner
    return create_study_from_spec(url, spec)


def _by_stage(study):
    out: dict[tuple[str, str], list] = {}
    for t in study.get_trials():
        out.setdefault((t.user_attrs.get("variant"), tuning.stage_of(t)), []).append(t)
    return out


def test_tuned_ablation_two_workers_end_to_end(sqlite_url, cpp, hpo, tmp_path):
    """3 search trials per variant, then 2 seeds at each variant's best configuration, with two workers
    racing for the switch; the report compares stage-2 runs only and lists the configurations.
    (Split repeats in stage 2: the racing test below.)"""
    settings = {**hpo.TINY, "num_heads": "2"}
    result = _tuned(sqlite_url, cpp(40), ["gcn", "graphormer"], [0, 1], 3, settings)
    assert result.enqueued == 6  # stage 1 only: stage 2 waits for the tuning
    codes = hpo.join_all(hpo.start_workers(2, sqlite_url, "tuned", threads=1), timeout=150)
    assert codes == [0, 0]
    study = _study(sqlite_url, "tuned")
    stages = _by_stage(study)
    for variant in ("gcn", "graphormer"):
        search = stages[(variant, "tune")]
        final = stages[(variant, "final")]
        assert len(search) == 3 and all(t.state == TrialState.COMPLETE for t in search)
        assert all(set(t.params) == set(SPACE) for t in search)
        best = max(search, key=lambda t: (t.value, -t.number))
        # exactly one stage-2 trial per (split, seed): the switch happened once
        assert Counter((t.user_attrs["split_repeat"], t.user_attrs["seed"]) for t in final) == {(0, 0): 1, (0, 1): 1}
        assert all(t.state == TrialState.COMPLETE for t in final)
        assert all(t.user_attrs["tuned_params"] == best.params and t.user_attrs["tuned_from"] == best.number
                   for t in final)
        # they trained at that configuration: hidden_dim decides the parameter count
        assert {t.user_attrs["param_count"] for t in final} == {best.user_attrs["param_count"]}
        # no stage-2 trial started before its variant's tuning was over
        assert min(t.datetime_start for t in final) >= max(t.datetime_complete for t in search)
    status = collect_status(sqlite_url, "tuned")["studies"][0]
    assert status["stages"] == {"gcn": "done 2/2", "graphormer": "done 2/2"}

    report = build_report(sqlite_url, "tuned", out_dir=tmp_path / "r", reference=False, publish=False)
    assert [(r.variant, r.n_done, r.n_planned) for r in report.rows] == [("gcn", 2, 2), ("graphormer", 2, 2)]
    assert "each variant tuned with 3 trials" in report.markdown.lower()
    for variant in ("gcn", "graphormer"):
        best = report.tuning["variants"][variant]
        config = tuning.config_text(best["params"])
        assert config.startswith("dropout=") and "hidden_dim=" in config and "lr=" in config
        assert f"| {variant} | done 2/2 | {config} |" in report.markdown
    frame = report.files["csv"].read_text()
    assert "tuned_params" in frame.splitlines()[0]


def _advance_when_told(url, name, barrier, out):
    rdb = open_storage(url)
    study = optuna.load_study(study_name=name, storage=rdb)
    barrier.wait()
    out.put(tuning.advance(study, rdb))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_stage_two_is_queued_once_by_racing_processes(backend, request, cpp, hpo):
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    _tuned(url, cpp(24), ["gcn", "graphormer"], [0, 1, 2], 2, hpo.TINY, repeats=2)
    study = _study(url, "tuned")
    # stage 1 by hand through Optuna's API: gcn's two trials finish, graphormer's second still waits
    for _ in range(3):
        trial = study.ask()  # pops the oldest waiting trial: gcn 0, gcn 1, graphormer 0
        trial.suggest_categorical("hidden_dim", SPACE["hidden_dim"])
        study.tell(trial, 0.5 + 0.1 * trial.number)
    n = 6
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_advance_when_told, args=(url, "tuned", barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    assert hpo.join_all(procs, timeout=60) == [0] * n
    final = [t for t in _study(url, "tuned").get_trials() if tuning.stage_of(t) == "final"]
    assert Counter(t.user_attrs["variant"] for t in final) == {"gcn": 6}  # 2 splits x 3 seeds, once
    assert len({t.number for t in final}) == 6
    best = max((t for t in study.get_trials() if tuning.is_tuning(t) and t.user_attrs["variant"] == "gcn"
                and t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert {t.user_attrs["tuned_from"] for t in final} == {best.number}


def test_pruner_and_sampler_see_only_their_own_variant(sqlite_url, cpp, hpo):
    from pepland_hpo.hpo.study import StudySpec, build_pruner, build_sampler

    median = {"kind": "median", "n_startup_trials": 1, "n_warmup_steps": 0}
    _tuned(sqlite_url, cpp(24), ["gcn", "graphormer"], [0], 2, hpo.TINY, pruner=median)
    study = _study(sqlite_url, "tuned")
    spec = StudySpec.from_dict(study.user_attrs["spec"])
    pruner = build_pruner(spec)
    assert isinstance(pruner, tuning.VariantPruner) and isinstance(build_sampler(spec, 1), tuning.VariantSampler)

    def run(value, finish):
        trial = study.ask()  # the oldest queued trial: gcn 0, gcn 1, graphormer 0, graphormer 1
        trial.report(value, 1)
        frozen = next(t for t in study.get_trials() if t.number == trial.number)
        verdict = pruner.prune(study, frozen)
        if finish:
            study.tell(trial, value)
        return frozen, verdict

    run(0.9, True)
    run(0.9, True)
    first, verdict = run(0.8, True)
    assert first.user_attrs["variant"] == "graphormer"
    # gcn's better trials must not prune graphormer's first one; over the whole study they would
    assert verdict is False
    assert bool(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0).prune(study, first))
    later, verdict = run(0.1, False)
    assert verdict is True  # below its own variant's median (0.8)
    history = tuning.variant_study(study, later, (TrialState.COMPLETE,))
    assert [t.user_attrs["variant"] for t in history.get_trials()] == ["graphormer"]


def _finish_next(study, value, suggest=False):
    """Run the oldest queued trial through Optuna's API to ``value`` (metrics as a worker records them)."""
    trial = study.ask()
    if suggest:
        for name, choices in SPACE.items():
            trial.suggest_categorical(name, choices)
    for key in ("val_metrics", "test_metrics"):
        trial.set_user_attr(key, {"auroc": value})
    study.tell(trial, value)
    return trial.number


def test_status_best_and_report_csv_follow_the_stages(sqlite_url, cpp, hpo, tmp_path):
    """`status` shows the best seed run once there is one, the best tuning trial (labelled) before;
    report.csv carries each variant's chosen configuration, exactly."""
    import csv
    import json

    from rich.console import Console

    from pepland_hpo.hpo.services import render_status

    _tuned(sqlite_url, cpp(24), ["gcn", "graphormer"], [0, 1], 2, hpo.TINY)
    study = _study(sqlite_url, "tuned")
    # stage 1: gcn 0.9 and 0.6, graphormer 0.7 and 0.5 (queue order: gcn 0, gcn 1, graphormer 0, 1)
    tuned = [_finish_next(study, v, suggest=True) for v in (0.9, 0.6, 0.7, 0.5)]
    status = collect_status(sqlite_url, "tuned", reap=False)["studies"][0]
    assert (status["best_value"], status["best_trial"], status["best_stage"]) == (0.9, tuned[0], "tune")
    console = Console(record=True, width=250)
    render_status({"storage": "x", "studies": [status]}, console)
    assert "0.9000 (#0, auroc, tuning trial" in console.export_text()

    status = collect_status(sqlite_url, "tuned")["studies"][0]  # reap: queues stage 2 (2 seeds x 2 variants)
    assert status["states"]["WAITING"] == 4 and status["best_stage"] == "tune"
    first = _finish_next(study, 0.65)  # gcn seed 0: worse than the best tuning value
    status = collect_status(sqlite_url, "tuned", reap=False)["studies"][0]
    assert (status["best_value"], status["best_trial"], status["best_stage"]) == (0.65, first, "final")
    assert study.best_trial.value == 0.9  # what the column showed before: a tuning trial
    console = Console(record=True, width=250)
    render_status({"storage": "x", "studies": [status]}, console)
    assert f"0.6500 (#{first}, auroc)" in console.export_text() and "tuning trial" not in console.export_text()
    rest = [_finish_next(study, v) for v in (0.6, 0.75, 0.7)]
    status = collect_status(sqlite_url, "tuned", reap=False)["studies"][0]
    assert (status["best_value"], status["best_trial"]) == (0.75, rest[1])

    build_report(sqlite_url, "tuned", out_dir=tmp_path / "r", reference=False, publish=False)
    with open(tmp_path / "r" / "report.csv", newline="") as fh:
        rows = {r["variant"]: r for r in csv.DictReader(fh)}
    trials = {t.number: t for t in study.get_trials()}
    for variant, source in (("gcn", tuned[0]), ("graphormer", tuned[2])):
        assert json.loads(rows[variant]["tuned_params"]) == trials[source].params
        assert int(rows[variant]["tuned_from"]) == source
        assert {t.user_attrs["tuned_from"] for t in trials.values() if tuning.stage_of(t) == "final"
                and t.user_attrs["variant"] == variant} == {source}


@pytest.mark.parametrize("args, needle", [
    (["ablation", "--tune", "0"], "tune"),
    (["ablation", "--tune", "-3"], "tune"),
    (["search", "--objectives", "val_auroc"], "objectives"),
    (["search", "--objectives", "val_auroc,flops"], "flops"),
    (["search", "--objectives", "val_auroc,params,params"], "objectives"),
    (["search", "--objectives", "val_rmse,params"], "objectives"),
    (["search", "--objectives", "params,seconds_per_epoch"], "objectives"),
])
def test_bad_tune_and_objectives_exit_2_naming_the_key(tmp_path, args, needle):
    from typer.testing import CliRunner

    from pepland_hpo.cli import app

    sqlite_url = f"sqlite:///{tmp_path / 'cli.db'}"

    result = CliRunner().invoke(app, ["create", *args, "--data", "builtin:amp", "--storage", sqlite_url])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert optuna.get_all_study_summaries(sqlite_url) == []


@pytest.mark.parametrize("yaml_text, needle", [
    ("kind: search\nvariant: gcn\nn_trials: 2\nspace: {lr: [0.001]}\ntune: 3\n", "tune"),
    ("kind: ablation\nvariants: [gcn]\ntune: 2\npruner: {kind: hyperband}\n", "pruner.kind"),
    ("kind: ablation\nvariants: [gcn]\nspace: {lr: [0.001, 0.01]}\n", "space"),
    ("kind: ablation\nvariants: [gcn]\ntune: two\n", "tune"),
    ("kind: ablation\nvariants: [gcn]\nobjectives: [val_auroc, params]\n", "objectives"),
])
def test_bad_yaml_tune_and_objectives_name_file_and_key(tmp_path, yaml_text, needle):
    from typer.testing import CliRunner

    from pepland_hpo.cli import app

    sqlite_url = f"sqlite:///{tmp_path / 'cli.db'}"

    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    kind = "search" if "kind: search" in yaml_text else "ablation"
    result = CliRunner().invoke(app, ["create", kind, "--spec", str(path), "--storage", sqlite_url])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output.replace("\n", "") and needle in result.output, result.output
    assert optuna.get_all_study_summaries(sqlite_url) == []


def test_create_tune_on_builtin_amp_queues_the_search_over_the_plan_grid(tmp_path):
    from typer.testing import CliRunner

    from pepland_hpo.cli import app

    sqlite_url = f"sqlite:///{tmp_path / 'cli.db'}"

    result = CliRunner().invoke(app, ["create", "ablation", "--data", "builtin:amp", "--variants", "gcn,graphormer",
                                      "--seeds", "0,1", "--tune", "3", "--set", "hidden_dim=16",
                                      "--storage", sqlite_url])
    assert result.exit_code == 0, result.output
    study = _study(sqlite_url, "ablation")
    spec = study.user_attrs["spec"]
    assert spec["tune"] == 3
    assert spec["space"] == {k: v for k, v in tuning.PLAN_GRID.items() if k != "hidden_dim"}
    trials = study.get_trials()
    assert Counter((t.user_attrs["variant"], t.user_attrs["stage"]) for t in trials) == {
        ("gcn", "tune"): 3, ("graphormer", "tune"): 3}
    # running create again adds nothing; the stage table says where each variant is
    again = CliRunner().invoke(app, ["create", "ablation", "--data", "builtin:amp", "--variants", "gcn,graphormer",
                                     "--seeds", "0,1", "--tune", "3", "--set", "hidden_dim=16",
                                     "--storage", sqlite_url])
    assert again.exit_code == 0 and len(_study(sqlite_url, "ablation").get_trials()) == 6
    status = collect_status(sqlite_url, "ablation")["studies"][0]
    assert status["stages"] == {"gcn": "tuning 0/3", "graphormer": "tuning 0/3"}


def test_multi_objective_search_completes_and_reports_the_front(sqlite_url, cpp, hpo, tmp_path):
    from pepland_hpo.hpo.study import build_search_spec
    from pepland_hpo.hpo.runner import run_worker

    spec_file = tmp_path / "mo.yaml"
    spec_file.write_text(
        "kind: search\nname: mo\nvariant: gcn\n"
        "split: {kind: stratified, fractions: [0.5, 0.25, 0.25], seed: 0}\n"
        "space:\n  hidden_dim: [8, 16]\n  num_layers: [1, 2]\n  lr: [1.0e-3, 1.0e-2]\n"
        "sampler: {kind: random}\npruner: {kind: median}\n"
        "n_trials: 5\nsettings: {epochs: 1, batch_size: 16, patience: 0}\n"
    )
    spec = build_search_spec(spec_file, data=str(cpp(32)), objectives=["val_auroc", "params"])
    assert spec.pruner.kind == "none"  # Optuna cannot prune a multi-objective study
    create_study_from_spec(sqlite_url, spec)
    summary = run_worker(sqlite_url, "mo", gpu="cpu", threads=1)
    assert summary.completed == 5 and summary.failed == 0
    study = _study(sqlite_url, "mo")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_auroc", "params"]
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    for t in trials:
        assert t.values[1] == t.user_attrs["param_count"]
        assert t.values[0] == pytest.approx(t.user_attrs["val_metrics"]["auroc"])
        assert t.intermediate_values == {}
    # the front by definition, computed here without Optuna
    def dominated(a):
        return any(b.values[0] >= a.values[0] and b.values[1] <= a.values[1] and b.values != a.values
                   for b in trials)
    expected = {t.number for t in trials if not dominated(t)}
    report = build_report(sqlite_url, "mo", out_dir=tmp_path / "r", publish=False)
    assert {row["number"] for row in report.front} == expected
    assert "## Pareto front" in report.markdown
    for number in expected:
        assert f"\n| {number} |" in report.markdown
    assert (tmp_path / "r" / "front.png").stat().st_size > 1000
    assert (tmp_path / "r" / "pareto.html").is_file()
    status = collect_status(sqlite_url, "mo")["studies"][0]
    assert status["front_size"] == len(expected) and status["direction"] == "maximize,minimize"


def test_sampler_learns_from_its_own_variant_only():
    """12 gcn tuning trials say lr=0.001 is best: TPE picks it for gcn, and a graphormer trial, with no
    history of its own, still samples every choice (seeded: deterministic)."""
    from pepland_hpo.hpo.study import StudySpec

    choices = [0.001, 0.01, 0.1, 1.0]
    spec = StudySpec(kind="ablation", name="x", data="builtin:amp", variants=["gcn", "graphormer"], tune=30,
                     space={"lr": choices}, direction="maximize",
                     sampler={"kind": "tpe", "n_startup_trials": 4, "multivariate": True, "constant_liar": True})
    dist = optuna.distributions.CategoricalDistribution(choices)

    def picks(variant):
        out = Counter()
        for seed in range(20):
            study = optuna.create_study(direction="maximize", sampler=tuning.VariantSampler(spec, seed))
            for i in range(12):
                lr = choices[i % 4]
                study.add_trial(optuna.trial.create_trial(
                    params={"lr": lr}, distributions={"lr": dist}, value=1.0 if lr == 0.001 else 0.0,
                    user_attrs=tuning.tuning_attrs("gcn", 0, i)))
            study.enqueue_trial({}, user_attrs=tuning.tuning_attrs(variant, 0, 99))
            out[study.ask().suggest_categorical("lr", choices)] += 1
        return out

    assert picks("gcn")[0.001] >= 18
    assert len(picks("graphormer")) >= 3  # no borrowed history: spread over the choices


def test_objective_values_and_directions_in_objective_order():
    from pepland_hpo.hpo.study import directions, values
    from pepland_hpo.hpo.study import StudySpec

    spec = StudySpec(kind="search", name="m", variants=["gcn"], n_trials=2, space={"lr": [0.1, 0.2]},
                     objectives=["seconds_per_epoch", "val_rmse", "params"])
    assert directions(spec) == ["minimize", "minimize", "minimize"]
    attrs = {"param_count": 1234, "seconds_per_epoch": 0.5}
    assert values(spec, 0.7, attrs) == [0.5, 0.7, 1234.0]
    assert values(spec, 0.7, {"param_count": 1234}) is None  # a missing objective fails the trial
    assert values(spec, float("nan"), attrs) is None
    auroc = StudySpec(kind="search", name="m", variants=["gcn"], n_trials=2, space={"lr": [0.1, 0.2]},
                      objectives=["val_auroc", "params"], pruner={"kind": "median"})
    assert directions(auroc) == ["maximize", "minimize"] and auroc.pruner.kind == "none"
