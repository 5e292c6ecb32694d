"""Studies and single runs on given partitions: real SQLite studies, real workers, the real CLI."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.analysis import trial_predictions
from pepland_hpo.hpo.study import partition_names, study_splits, trial_identity
from pepland_hpo.hpo.study import build_ablation_spec, build_search_spec
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker

REPO = Path(__file__).resolve().parents[2]
ABLATION = REPO / "studies" / "ablation.yaml"
SEARCH = REPO / "studies" / "search.yaml"
SPACED = "KWKLF KKIGAVLKVL"  # skipped by the reader (a space inside the sequence)
runner = CliRunner()


@pytest.fixture
def cpp_rows(pepland_dir):
    return [line.split(",") for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[:40]]


@pytest.fixture
def skipped_csv(tmp_path, cpp_rows):
    """40 c-CPP peptides with a header and one unusable row, data row 5 (line 7)."""
    rows = [f"{s},{y}" for s, y in cpp_rows]
    rows.insert(5, f"{SPACED},1")
    path = tmp_path / "cpp_skip.csv"
    path.write_text("sequence,label\n" + "\n".join(rows) + "\n")
    return path


def _spec(data, tiny, given, name="gp"):
    return build_ablation_spec(ABLATION, data=str(data), variants=["gcn"], seeds=[0], settings=dict(tiny),
                               name=name, given=given, validate=False)


def _study(url, name="gp"):
    return optuna.load_study(study_name=name, storage=open_storage(url))


def _run_and_check(url, expected: dict[str, dict[str, list[int]]]):
    """Every trial trained on exactly its partition: stored splits, names, identity, the job, the evidence."""
    summary = run_worker(url, "gp", gpu="cpu")
    assert (summary.completed, summary.failed) == (len(expected), 0)
    study = _study(url)
    assert partition_names(study.user_attrs) == list(expected)
    splits = study_splits(study.user_attrs)
    assert splits == list(expected.values())
    assert "repeats" not in study.user_attrs["spec"]["split"]
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(trial_identity(t).split_repeat for t in trials) == list(range(len(expected)))
    for t in trials:
        repeat = trial_identity(t).split_repeat
        assert t.user_attrs["job"]["split_repeat"] == repeat
        pred = trial_predictions(t.user_attrs)
        assert pred["test"].index.tolist() == splits[repeat]["test"]
        assert pred["valid"].index.tolist() == splits[repeat]["valid"]
        assert not set(splits[repeat]["train"]) & set(splits[repeat]["test"])
    return study


def test_study_from_a_fold_column(sqlite_url, tmp_path, cpp_rows, hpo):
    path = tmp_path / "folds.csv"
    path.write_text("sequence,label,fold\n" + "\n".join(f"{s},{y},{i % 3}" for i, (s, y) in enumerate(cpp_rows))
                    + "\n")
    result = create_study_from_spec(sqlite_url, _spec(path, hpo.TINY, {"column": "fold"}))
    assert result.enqueued == 3
    assert "split: given, column 'fold': 3 partition(s)" in result.data_lines
    assert any(line.startswith("  partition 'fold-0': train ") and "(0: " in line for line in result.data_lines)
    rows = np.arange(40)
    expected = {f"fold-{f}": {"train": rows[(rows % 3 != f) & (rows % 3 != (f + 1) % 3)].tolist(),
                              "valid": rows[rows % 3 == (f + 1) % 3].tolist(), "test": rows[rows % 3 == f].tolist()}
                for f in range(3)}
    _run_and_check(sqlite_url, expected)
    # the report labels its per-run columns with the partitions' names
    from pepland_hpo.hpo.analysis import build_report

    report = build_report(sqlite_url, "gp", out_dir=tmp_path / "rep", reference=False, publish=False)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "3 partition(s) ('fold-0', 'fold-1', 'fold-2')" in md and "partition 'fold-2', seed 0" in md
    assert report.partition_names == ["fold-0", "fold-1", "fold-2"]


def test_study_from_a_json_file_counts_data_rows_with_skipped_ones(sqlite_url, tmp_path, skipped_csv, hpo):
    parts = tmp_path / "parts.json"
    # data rows: row 5 is the skipped one; row r > 5 is dataset position r - 1
    parts.write_text(json.dumps({
        "first": {"train": [*range(0, 5), *range(6, 28)], "validation": [28, 29, 30, 31], "test": list(range(32, 41))},
        "second": {"train": list(range(12, 41)), "test": [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]},
    }))
    result = create_study_from_spec(sqlite_url, _spec(skipped_csv, hpo.TINY, {"file": str(parts)}))
    assert result.enqueued == 2
    assert any("valid: none given; 3 row(s), a seeded 10 % of train (split seed 0)" in line
               for line in result.data_lines)
    second = study_splits(_study(sqlite_url).user_attrs)[1]
    assert len(second["valid"]) == 3 and sorted(second["train"] + second["valid"]) == list(range(11, 40))
    expected = {"first": {"train": list(range(0, 27)), "valid": [27, 28, 29, 30], "test": list(range(31, 40))},
                "second": second}
    assert second["test"] == list(range(0, 11))
    _run_and_check(sqlite_url, expected)
    # creating it again finds the same partitions; a changed file is refused, not silently ignored
    assert create_study_from_spec(sqlite_url, _spec(skipped_csv, hpo.TINY, {"file": str(parts)})).enqueued == 0
    parts.write_text(json.dumps({"first": {"train": list(range(0, 5)) + list(range(6, 30)),
                                           "test": list(range(30, 41))}}))
    with pytest.raises(UserInputError, match="already exists with other partitions"):
        create_study_from_spec(sqlite_url, _spec(skipped_csv, hpo.TINY, {"file": str(parts)}))


def test_study_from_a_hestia_pickle(sqlite_url, tmp_path, pepland_dir, write_slice, hpo):
    data = write_slice(pepland_dir / "c-CPP.txt", 40, header=False, name="cpp40.txt")
    rng = np.random.default_rng(1)
    test = np.sort(rng.choice(40, 8, replace=False))
    others = np.setdiff1d(np.arange(40), test)
    pos = rng.permutation(len(others))
    # as hestia-good's save_precalculated writes it: threshold partitions as rows (1.2), `random` as
    # positions among the non-test rows (data.iloc[non_test].reset_index()), numpy arrays, clusters kept
    partitions = {0.4: {"train": others[pos[4:]], "valid": others[pos[:4]], "test": test,
                        "clusters": rng.integers(0, 4, 40)},
                  "random": {"train": pos[4:].tolist(), "valid": pos[:4].tolist(), "test": test.tolist()}}
    path = tmp_path / "parts.gz"
    path.write_bytes(gzip.compress(pickle.dumps({"partitions": partitions, "metadata": {"cluster_composition": {}}})))
    with pytest.raises(UserInputError, match=r"partition 'random': read literally.*reading: \{random: "):
        create_study_from_spec(sqlite_url, _spec(data, hpo.TINY, {"file": str(path)}))
    result = create_study_from_spec(sqlite_url, _spec(data, hpo.TINY, {
        "file": str(path), "format": "hestia", "reading": {"random": "non-test-positions"}}))
    assert "  read: reading of 'random': non-test-positions (as asked)" in result.data_lines
    sorted_rows = lambda a: sorted(int(i) for i in a)  # noqa: E731
    _run_and_check(sqlite_url, {
        "0.4": {"train": sorted_rows(others[pos[4:]]), "valid": sorted_rows(others[pos[:4]]),
                "test": sorted_rows(test)},
        "random": {"train": sorted_rows(others[pos[4:]]), "valid": sorted_rows(others[pos[:4]]),
                   "test": sorted_rows(test)},
    })


def test_given_split_refuses_repeats_and_a_search_over_several(tmp_path, cpp_rows, hpo, sqlite_url):
    path = tmp_path / "folds.csv"
    path.write_text("sequence,label,fold\n" + "\n".join(f"{s},{y},{i % 3}" for i, (s, y) in enumerate(cpp_rows))
                    + "\n")
    with pytest.raises(UserInputError, match="split.repeats: given partitions are used as given"):
        build_ablation_spec(ABLATION, data=str(path), given={"column": "fold"}, split_repeats=2, validate=False)
    made = build_ablation_spec(ABLATION, data=str(path), validate=False)
    with pytest.raises(UserInputError, match="split.column: applies to split kind given, not random"):
        made.updated(split={"kind": "random", "column": "fold"})
    with pytest.raises(UserInputError, match="split.fractions: given partitions are used as given"):
        made.updated(split={"kind": "given", "column": "fold", "fractions": [0.5, 0.25, 0.25]})
    spec = build_search_spec(SEARCH, data=str(path), given={"column": "fold"}, validate=False, n_trials=1)
    with pytest.raises(UserInputError, match=r"holds 3 partitions .*a search trains on one"):
        create_study_from_spec(sqlite_url, spec)


def test_the_reference_refuses_an_overlapping_split():
    from pepland_hpo.hpo.analysis import reference_results

    smiles = ["CCO", "CCN", "CCC", "CCCl", "CCBr", "CCF"]
    leaky = {(0, 0): {"train": [0, 1, 2, 3], "valid": [4], "test": [3, 5]}}
    with pytest.raises(UserInputError, match=r"reference ecfp4, split of \(0, 0\): train and test share 1 row"):
        reference_results(smiles, np.array([0, 1, 0, 1, 0, 1.0]), "classification", leaky, data_hash="x")


# ------------------------------------------------------------------ the command line


def _create(db, data, *extra):
    return runner.invoke(app, ["create", "ablation", "--data", str(data), "--variants", "gcn", "--seeds", "0",
                               "--epochs", "1", "--storage", db, *extra])


def _studies(db):
    return [s.study_name for s in optuna.get_all_study_summaries(db)]


@pytest.mark.parametrize("parts, needle", [
    ({"p": {"train": list(range(0, 30)), "test": [30, 41]}}, "partition 'p': test refers to row 41, but the data "
                                                           "has 41 rows (0..40); indices count data rows from 0"),
    ({"p": {"train": list(range(6, 30)), "test": [29, 30, 31]}}, "partition 'p': train and test share 1 row(s)"),
    ({"p": {"train": list(range(6, 30)), "test": []}}, "partition 'p': the test split is empty"),
    ({"p": {"train": [], "test": [7, 8]}}, "partition 'p': the train split is empty"),
    ({"ok": {"train": list(range(6, 30)), "test": [30, 31]}, "p": {"train": list(range(0, 30)), "test": [30]}},
     "partition 'p': train lists row 5 (line 7), which was skipped when the data was read: sequence contains a "
     "space"),
])
def test_bad_partitions_exit_2_naming_the_partition(tmp_path, skipped_csv, parts, needle):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(parts))
    result = _create(db, skipped_csv, "--split-file", str(path))
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.split())
    assert _studies(db) == []


def test_a_malicious_pickle_exits_2_and_runs_nothing(tmp_path, skipped_csv):
    import os

    marker = tmp_path / "ran"

    class RunsACommand:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "parts.pkl"
    path.write_bytes(pickle.dumps({"partitions": {0.3: {"train": RunsACommand(), "test": [1]}}}))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = _create(db, skipped_csv, "--split-file", str(path))
    assert result.exit_code == 2, result.output
    assert "refusing to load" in result.output and "system" in result.output
    assert not marker.exists() and _studies(db) == []


def test_given_options_on_the_command_line(tmp_path, skipped_csv):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = _create(db, skipped_csv, "--split", "random", "--split-column", "x")
    assert result.exit_code == 2 and "--split-column applies to --split given, not --split random" in result.output
    result = _create(db, skipped_csv, "--split-column", "label")
    assert result.exit_code == 2 and "column 'label' is the target" in result.output
    parts = tmp_path / "parts.json"
    parts.write_text(json.dumps({"a": {"train": list(range(6, 30)), "test": [30, 31, 32]},
                                 "b": {"train": list(range(6, 30)), "test": [33, 34]}}))
    result = _create(db, skipped_csv, "--split-file", str(parts), "--partitions", "b,c")
    assert result.exit_code == 2 and "no partition 'c'; the partitions are 'a', 'b'" in result.output
    result = _create(db, skipped_csv, "--split-file", str(parts), "--partitions", "b", "--set", "hidden_dim=8")
    assert result.exit_code == 0, result.output
    assert "split: given, file" in result.output and "partition 'b': train " in result.output
    assert partition_names(optuna.load_study(study_name="ablation", storage=db).user_attrs) == ["b"]


def test_train_on_a_given_partition_prints_the_split(tmp_path, skipped_csv, hpo):
    parts = tmp_path / "parts.json"
    parts.write_text(json.dumps({"a": {"train": list(range(6, 30)), "val": [30, 31, 32], "test": list(range(33, 41))},
                                 "b": {"train": list(range(6, 30)), "test": [33, 34]}}))
    base = ["train", "--data", str(skipped_csv), "--split-file", str(parts), "--device", "cpu",
            "--out", str(tmp_path / "ck"), *[a for k, v in hpo.TINY.items() for a in ("--set", f"{k}={v}")]]
    result = runner.invoke(app, base)
    assert result.exit_code == 2
    assert "holds 2 partitions ('a', 'b'); choose one with --partition NAME" in " ".join(result.output.split())
    result = runner.invoke(app, [*base, "--partition", "a"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("split: "))
    assert line.startswith("split: given, file ") and "partition 'a': train 24 (0: " in line
    assert "valid 3 (" in line and "test 8 (" in line
