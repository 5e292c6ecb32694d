"""Given partitions in the data layer: the one check, the safe pickle, files, hestia readings, columns."""

from __future__ import annotations

import gzip
import json
import os
import pickle

import numpy as np
import pytest

from pepland_hpo.data.dataset import load_dataset
from pepland_hpo.data.formats import read_layout
from pepland_hpo.data.splits import GivenSplit, load_given
from pepland_hpo.data.splits import parse_reading
from pepland_hpo.data.splits import read_partition_file
from pepland_hpo.data.splits import carve_valid, check_partition
from pepland_hpo.data.splits import load_plain_pickle
from pepland_hpo.errors import UserInputError

SPACED = "KWKLF KKIGAVLKVL"  # a space inside the sequence: the reader skips the row


@pytest.fixture
def cpp_rows(pepland_dir):
    """The first 40 (sequence, label) rows of c-CPP.txt."""
    return [line.split(",") for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[:40]]


@pytest.fixture
def skipped_file(tmp_path, cpp_rows):
    """c-CPP rows with a header and one unusable row: data row 5 (line 7) is skipped."""
    rows = [f"{s},{y}" for s, y in cpp_rows]
    rows.insert(5, f"{SPACED},1")
    path = tmp_path / "cpp_skip.csv"
    path.write_text("sequence,label\n" + "\n".join(rows) + "\n")
    return path


def _load(path, **given):
    ds = load_dataset(str(path))
    return load_given(GivenSplit(**given), ds, read_layout(str(path))), ds


def _write_json(tmp_path, obj, name="parts.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


# ------------------------------------------------------------------ the check


@pytest.mark.parametrize("parts, needle", [
    ({"train": [0, 1], "test": [9]}, "test refers to row 9, but the data has 5 rows"),
    ({"train": [0, 1, 2], "test": [2, 3]}, "train and test share 1 row(s), e.g. [2]"),
    ({"train": [0, 1], "valid": [1], "test": [3]}, "train and valid share 1 row(s)"),
    ({"train": [0, 1], "test": []}, "the test split is empty"),
    ({"train": [], "test": [1]}, "the train split is empty"),
    ({"train": [0, 0, 1], "test": [2]}, "train lists 1 row(s) more than once"),
    ({"train": [0, 1], "test": [2], "dev": [3]}, "unknown part(s) dev"),
    ({"train": [0, "x"], "test": [2]}, "whole numbers"),
])
def test_check_partition_names_source_partition_and_problem(parts, needle):
    with pytest.raises(UserInputError) as err:
        check_partition("p1", parts, 5, source="bench.json")
    assert str(err.value).startswith("bench.json: partition 'p1': ")
    assert needle in str(err.value)


def test_check_partition_names_a_skipped_row_and_why():
    with pytest.raises(UserInputError, match=r"test lists row 3 \(line 5\), which was skipped .*: bad SMILES"):
        check_partition("p", {"train": [0, 1], "test": [3]}, 5, {3: "bad SMILES"}, source="f",
                        row_label=lambda i: f" (line {i + 2})")
    ok = check_partition("p", {"train": [0, 1], "valid": [2], "test": [4]}, 5, {3: "bad SMILES"})
    assert ok["test"].tolist() == [4]


def test_carve_valid_is_seeded_and_disjoint():
    train, valid = carve_valid(np.arange(40), seed=3)
    assert len(valid) == 4 and not set(train) & set(valid) and sorted([*train, *valid]) == list(range(40))
    assert carve_valid(np.arange(40), seed=3)[1].tolist() == valid.tolist()
    assert carve_valid(np.arange(40), seed=4)[1].tolist() != valid.tolist()


# ------------------------------------------------------------------ the pickle


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_a_command_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    evil = {"partitions": {0.3: {"train": [0, 1], "test": [2]}}, "metadata": _RunsACommand(marker)}
    for data in (pickle.dumps(evil), gzip.compress(pickle.dumps(evil, protocol=2))):
        path = tmp_path / "evil.pkl"
        path.write_bytes(data)
        with pytest.raises(UserInputError, match=r"refusing to load (posix|os)\.system from .*evil\.pkl: only plain "
                                                 r"containers and numpy arrays are read"):
            read_partition_file(path)
    assert not marker.exists()


def test_plain_containers_and_numpy_arrays_load_under_every_protocol():
    obj = {0.3: {"train": np.arange(4), "test": [np.int64(5)], "ids": {1, 2}, "b": b"x"}}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = load_plain_pickle(pickle.dumps(obj, protocol=protocol), "mem")
        assert back[0.3]["train"].tolist() == [0, 1, 2, 3] and int(back[0.3]["test"][0]) == 5


# ------------------------------------------------------------------ files


def test_json_file_rows_count_skipped_rows_and_map_to_positions(tmp_path, skipped_file):
    path = _write_json(tmp_path, {"a": {"TRAIN": list(range(0, 5)) + list(range(6, 30)), "val": [30, 31, 32],
                                        "Test": list(range(33, 41))}})
    (parts, notes), ds = _load(skipped_file, file=str(path))
    assert len(ds) == 40 and len(parts) == 1 and parts[0].name == "a"
    # data row r is dataset position r below the skipped row 5, r - 1 after it
    assert parts[0].split["train"] == list(range(0, 29))
    assert parts[0].split["valid"] == [29, 30, 31] and parts[0].split["test"] == list(range(32, 40))
    assert any("count data rows from 0" in n for n in notes)


def test_json_row_pointing_at_a_skipped_row_is_refused_with_its_line_and_reason(tmp_path, skipped_file):
    path = _write_json(tmp_path, {"a": {"train": list(range(0, 30)), "test": list(range(30, 41))}})
    with pytest.raises(UserInputError, match=r"partition 'a': train lists row 5 \(line 7\), which was skipped when "
                                             r"the data was read: sequence contains a space"):
        _load(skipped_file, file=str(path))


def test_missing_valid_is_a_seeded_tenth_of_train_and_said(tmp_path, skipped_file):
    path = _write_json(tmp_path, {"train": list(range(0, 5)) + list(range(6, 31)), "test": list(range(31, 41))})
    (parts, _), _ = _load(skipped_file, file=str(path), seed=7)
    p = parts[0]
    assert p.name == "parts"  # a bare {train, test} is one partition named after the file
    assert len(p.split["valid"]) == 3 and len(p.split["train"]) == 27
    assert "valid: none given; 3 row(s), a seeded 10 % of train (split seed 7)" in p.notes


def test_id_column_matches_values_and_names_unknown_ids(tmp_path, cpp_rows):
    rows = [f"p{i},{s},{y}" for i, (s, y) in enumerate(cpp_rows)]
    data = tmp_path / "ids.csv"
    data.write_text("id,sequence,label\n" + "\n".join(rows) + "\n")
    ids = [f"p{i}" for i in range(40)]
    path = _write_json(tmp_path, {"x": {"train": ids[10:], "valid": ids[5:10], "test": ids[:5]}})
    (parts, _), _ = _load(data, file=str(path), id_column="id")
    assert parts[0].split["test"] == [0, 1, 2, 3, 4] and parts[0].split["train"] == list(range(10, 40))
    path = _write_json(tmp_path, {"x": {"train": ids[10:], "test": ["p1", "nope"]}})
    with pytest.raises(UserInputError, match=r"partition 'x': test lists id 'nope', which no row"):
        _load(data, file=str(path), id_column="id")


def test_json_with_a_key_twice_is_refused(tmp_path, cpp_rows):
    path = tmp_path / "dup.json"
    path.write_text('{"a": {"train": [1], "test": [2]}, "a": {"train": [3], "test": [4]}}')
    with pytest.raises(UserInputError, match="key 'a' appears twice"):
        read_partition_file(path)


# ------------------------------------------------------------------ hestia-good files


def _hestia_file(tmp_path, n, *, positions_for_thresholds: bool, gz: bool = True):
    """A partition file as hestia-good's save_precalculated writes it (a pickle of numpy arrays and lists).

    ``random``: train/valid are positions among the non-test rows (``data.iloc[non_test].reset_index()``),
    as every hestia-good release builds it; thresholds too when ``positions_for_thresholds`` (releases
    before 1.x, IBM's PeptideGeneralizationBenchmarks), else their train/valid are rows (1.2).
    """
    rng = np.random.default_rng(0)
    partitions = {}
    for th, n_test in ((0.5, 8), ("random", 8)):
        test = np.sort(rng.choice(n, n_test, replace=False))
        others = np.setdiff1d(np.arange(n), test)
        pos = rng.permutation(len(others))
        valid_pos, train_pos = pos[:3], pos[3:]
        rows = th != "random" and not positions_for_thresholds
        part = {"train": others[train_pos] if rows else train_pos.tolist(),
                "valid": others[valid_pos] if rows else valid_pos.tolist(), "test": list(test)}
        if th != "random":
            part["clusters"] = rng.integers(0, 5, n)  # hestia-good keeps each threshold's clusters
        partitions[th] = part
    obj = {"partitions": partitions, "metadata": {"partition_algorithm": {"algorithm": "ccpart"},
                                                  "cluster_composition": {0.5: partitions[0.5]["clusters"]}}}
    data = pickle.dumps(obj)
    path = tmp_path / ("parts.gz" if gz else "parts.pkl")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path, partitions


def test_hestia_literal_overlap_is_refused_naming_partition_count_and_option(tmp_path, pepland_dir, write_slice):
    data = write_slice(pepland_dir / "c-CPP.txt", 40, header=False, name="cpp40.txt")
    path, raw = _hestia_file(tmp_path, 40, positions_for_thresholds=True)
    with pytest.raises(UserInputError) as err:
        _load(data, file=str(path))
    msg = str(err.value)
    assert "partition '0.5': read literally" in msg and "share" in msg
    assert "every partition of the file is disjoint and covers all 40 data rows" in msg
    assert "`reading: non-test-positions`" in msg
    (parts, notes), _ = _load(data, file=str(path), reading="non-test-positions")
    others = np.setdiff1d(np.arange(40), raw[0.5]["test"])
    assert parts[0].split["train"] == sorted(others[raw[0.5]["train"]].tolist())
    assert parts[0].split["test"] == sorted(int(i) for i in raw[0.5]["test"])
    assert any("not recorded in the file" in n for n in notes)


def test_hestia_per_partition_reading_for_a_current_release_file(tmp_path, pepland_dir, write_slice):
    data = write_slice(pepland_dir / "c-CPP.txt", 40, header=False, name="cpp40.txt")
    path, raw = _hestia_file(tmp_path, 40, positions_for_thresholds=False, gz=False)
    with pytest.raises(UserInputError, match=r"partition 'random': read literally.*`reading: \{random: "
                                             r"non-test-positions\}` \(command line: --split-reading "
                                             r"random=non-test-positions\)"):
        _load(data, file=str(path))
    (parts, notes), _ = _load(data, file=str(path), reading=parse_reading("random=non-test-positions"))
    assert [p.name for p in parts] == ["0.5", "random"]
    assert parts[0].split["valid"] == sorted(raw[0.5]["valid"].tolist())
    assert "reading of '0.5': literal (disjoint as stored)" in notes
    (only, _), _ = _load(data, file=str(path), partitions=("0.5",))  # an unused partition needs no reading
    assert [p.name for p in only] == ["0.5"]
    with pytest.raises(UserInputError, match=r"no partition '0.7'; the partitions are '0.5', 'random'"):
        _load(data, file=str(path), partitions=("0.7",))


def test_hestia_cross_validation_folds_are_refused(tmp_path, cpp_slice):
    path = tmp_path / "folds.pkl"
    path.write_bytes(pickle.dumps({"partitions": {0.3: {0: [1, 2], 1: [3, 4]}}}))
    with pytest.raises(UserInputError, match="partition '0.3' holds cross-validation folds"):
        _load(cpp_slice, file=str(path))


# ------------------------------------------------------------------ columns


def _column_file(tmp_path, cpp_rows, values, bad_row=None):
    rows = [f"{s},{y},{v}" for (s, y), v in zip(cpp_rows, values)]
    if bad_row is not None:
        rows.insert(bad_row, f"{SPACED},1,zzz")  # skipped: its split value is never read
    path = tmp_path / "col.csv"
    path.write_text("sequence,label,split\n" + "\n".join(rows) + "\n")
    return path


def test_column_of_part_names_any_case(tmp_path, cpp_rows):
    values = ["Train"] * 28 + ["VAL"] * 2 + ["validation"] * 2 + ["test"] * 8
    (parts, notes), _ = _load(_column_file(tmp_path, cpp_rows, values, bad_row=3), column="Split")
    p = parts[0]
    assert p.name == "split" and p.split["train"] == list(range(28)) and p.split["valid"] == [28, 29, 30, 31]
    assert p.split["test"] == list(range(32, 40)) and "1 skipped row(s) left out" in notes


def test_column_of_fold_numbers(tmp_path, cpp_rows):
    folds = [i % 4 for i in range(40)]
    (parts, _), _ = _load(_column_file(tmp_path, cpp_rows, folds), column="split")
    assert [p.name for p in parts] == ["fold-0", "fold-1", "fold-2", "fold-3"]
    f1 = parts[1].split
    assert f1["test"] == [i for i in range(40) if i % 4 == 1] and f1["valid"] == [i for i in range(40) if i % 4 == 2]
    assert f1["train"] == [i for i in range(40) if i % 4 in (0, 3)]


@pytest.mark.parametrize("values, needle", [
    (["train"] * 30 + ["dev"] * 10, "line 32: split column 'split' has 'dev'"),
    ([i % 2 for i in range(40)], "2 fold(s); folds need at least 3"),
    ([i % 4 * 2 for i in range(40)], "fold numbers must be 0..k-1 with none missing"),
    (["train"] * 40, "the test split is empty"),
])
def test_bad_split_columns(tmp_path, cpp_rows, values, needle):
    with pytest.raises(UserInputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        _load(_column_file(tmp_path, cpp_rows, values), column="split")


def test_the_split_column_cannot_be_the_target(tmp_path, cpp_rows):
    path = _column_file(tmp_path, cpp_rows, ["train"] * 40)
    ds = load_dataset(str(path), target="label")
    with pytest.raises(UserInputError, match="column 'label' is the target"):
        load_given(GivenSplit(column="label"), ds, read_layout(str(path)))
