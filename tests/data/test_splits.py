"""Splits (seeded, disjoint, similarity-aware), overlap detection, and inspect."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import DataStructs

from pepland_hpo.data.inspect import inspect_files
from pepland_hpo.data.readers import load_table
from pepland_hpo.data.splits import find_overlap, fingerprints, make_split
from pepland_hpo.errors import UserInputError


@pytest.fixture(scope="module")
def cpp_table(pepland_dir, tmp_path_factory):
    # 300 rows keep the Butina step quick while still giving real clusters
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()
    path = tmp_path_factory.mktemp("cpp") / "cpp300.txt"
    path.write_text("\n".join(lines[:150] + lines[-150:]) + "\n")
    return load_table(path)


@pytest.mark.parametrize("kind", ["random", "stratified", "similarity"])
def test_split_is_seeded_disjoint_and_complete(cpp_table, kind):
    a = make_split(cpp_table.smiles, cpp_table.targets, kind=kind, seed=3)
    b = make_split(cpp_table.smiles, cpp_table.targets, kind=kind, seed=3)
    c = make_split(cpp_table.smiles, cpp_table.targets, kind=kind, seed=4)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)
    parts = [a.train, a.valid, a.test]
    assert sum(len(p) for p in parts) == len(cpp_table)
    assert len(np.unique(np.concatenate(parts))) == len(cpp_table)
    assert abs(len(a.test) - 30) <= 3 and len(a.train) >= 230


def test_stratified_keeps_balance(cpp_table):
    s = make_split(cpp_table.smiles, cpp_table.targets, kind="stratified", seed=0)
    y = cpp_table.targets[:, 0]
    assert abs(y[s.test].mean() - y.mean()) < 0.05


def _max_cross_similarity(fps, split):
    return [max(DataStructs.BulkTanimotoSimilarity(fps[i], [fps[j] for j in split.train])) for i in split.test]


def test_similarity_split_holds_out_unlike_peptides(cpp_table):
    fps = fingerprints(cpp_table.smiles)
    sim = np.mean(_max_cross_similarity(fps, make_split(cpp_table.smiles, kind="similarity", seed=0)))
    rnd = np.mean(_max_cross_similarity(fps, make_split(cpp_table.smiles, kind="random", seed=0)))
    assert sim < rnd  # test peptides are further from their nearest training peptide


def test_split_errors():
    with pytest.raises(UserInputError, match="fractions"):
        make_split(["C"] * 10, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(UserInputError, match="unknown split kind"):
        make_split(["C"] * 10, kind="scaffold")
    with pytest.raises(UserInputError, match="labels"):
        make_split(["C"] * 10, kind="stratified")


def test_overlap_of_upstream_pepland_splits_is_total(pepland_dir):
    pre = pepland_dir / "further_training"
    tables = {k: load_table(pre / f"{k}.csv").smiles for k in ("train", "valid", "test")}
    report = find_overlap(tables)
    assert report.has_overlap and report.max_fraction == 1.0
    assert all(p.frac_a == 1.0 and p.frac_b == 1.0 for p in report.pairs)
    assert any("100%" in line for line in report.messages())
    disjoint = find_overlap({"a": ["CCO", "CCN"], "b": ["CCC"]})
    assert not disjoint.has_overlap and disjoint.messages() == []


def test_inspect_reports_rows_atoms_labels_and_overlap(cpp_slice, tmp_path):
    lines = cpp_slice.read_text().splitlines()
    other = tmp_path / "test.txt"
    other.write_text("\n".join(lines[:10] + ["NOT_A_PEPTIDE1,1"]) + "\n")
    report = inspect_files(cpp_slice, test=other)
    train, test = report.files
    assert (train.rows, train.valid, len(train.invalid)) == (40, 40, 0)
    assert (test.rows, test.valid, test.invalid[0].row) == (11, 10, 11)
    assert 0 < train.atoms_min <= train.atoms_mean <= train.atoms_max
    assert sum(train.labels["label"].values()) == 40
    assert report.overlap.pairs[0].shared == 10 and report.overlap.pairs[0].frac_b == pytest.approx(1.0)
    assert report.to_dict()["files"][1]["invalid"][0]["row"] == 11
