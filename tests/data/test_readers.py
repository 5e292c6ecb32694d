"""Readers on real PepLand files, builtins and every user-error case."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from rdkit import Chem

from pepland_hpo.data.readers import load_table
from pepland_hpo.errors import UserInputError


def test_smiles_csv_slice(pretrained_slice):
    t = load_table(pretrained_slice)
    assert len(t) == 20 and t.n_rows == 20 and t.invalid == []
    assert t.targets.shape == (20, 0) and t.task is None and t.target_names == []
    assert t.rows[:3] == [2, 3, 4]  # file lines; the header is line 1
    assert t.content_hash == hashlib.sha256(pretrained_slice.read_bytes()).hexdigest()
    # stored SMILES are canonical
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in t.smiles[:3])


def test_headerless_sequence_file(cpp_slice):
    t = load_table(cpp_slice)
    assert len(t) == 40 and t.kind == "sequence" and t.rows[0] == 1
    assert t.target_names == ["label"] and t.task == "classification"
    assert t.targets.dtype == np.float32 and set(np.unique(t.targets)) == {0.0, 1.0}
    assert t.smiles[0] == Chem.MolToSmiles(Chem.MolFromSequence("MIIFAIAASHKK"))


def test_sequence_column_csv_and_txt(tmp_path):
    csv = tmp_path / "pep.csv"
    csv.write_text("seq,activity\nGAG,1.5\nKLK,2.0\nGBX,3\n")
    t = load_table(csv, target="activity")
    assert len(t) == 2 and t.task == "regression" and t.smiles_col == "seq"
    assert t.invalid[0].row == 4 and "residue" in t.invalid[0].reason and t.invalid[0].text == "GBX"
    txt = tmp_path / "seqs.txt"
    txt.write_text("GAG\nKLKLK\n\nWW\n")
    t = load_table(txt)
    assert len(t) == 3 and t.rows == [1, 2, 4] and t.targets.shape == (3, 0)


def test_builtins_without_importing_modlamp(monkeypatch):
    import sys

    from pepland_hpo.data import readers

    amp = load_table("builtin:amp")
    assert len(amp) == 412 and amp.task == "classification" and amp.rows[0] == 2  # line 1 is "412,1,TM,AMP"
    # 5,200 sequences through RDKit take too long here; the file format is what is under test
    gly = Chem.MolFromSmiles("NCC(=O)O")
    monkeypatch.setattr(readers, "mol_from_text", lambda text, kind: (gly, ""))
    uni = load_table("builtin:amp-uniprot")
    assert len(uni) == 5200 and set(np.unique(uni.targets)) == {0.0, 1.0}  # " 1" parses
    assert "modlamp.descriptors" not in sys.modules
    with pytest.raises(UserInputError, match="builtin:amp"):
        load_table("builtin:nope")


def test_several_smiles_columns_pick_fullest_or_asked(pepland_dir, write_slice):
    nc = write_slice(pepland_dir / "nc-binding.csv", 22)
    t = load_table(nc, target="affinity")
    assert t.smiles_col == "Merge_SMILES" and t.task == "regression"
    assert all("empty" in r.reason for r in t.invalid)
    t2 = load_table(nc, target="affinity", smiles_col="ligand_smiles")  # case-insensitive
    assert t2.smiles_col == "ligand_SMILES"
    # seq2 of the non-canonical set spells unknown residues as X: every row is invalid
    with pytest.raises(UserInputError, match="unknown residue letter.*'X'"):
        load_table(nc, target="affinity", smiles_col="seq2")


def test_multi_target_and_task_rules(tmp_path):
    f = tmp_path / "multi.csv"
    f.write_text("smiles,a,b,c\nCCO,0,1.5,1\nCCN,1,2.5,0\nCCC,1,,1\n")
    t = load_table(f, target="a, b")
    assert t.target_names == ["a", "b"] and t.targets.shape == (2, 2) and t.task == "regression"
    assert t.invalid[0].row == 4 and "missing target 'b'" in t.invalid[0].reason
    assert load_table(f, target="a,c").task == "classification"
    assert load_table(f, target="a", task="regression").task == "regression"
    with pytest.raises(UserInputError, match="0/1"):
        load_table(f, target="b", task="classification")
    with pytest.raises(UserInputError, match="unknown task"):
        load_table(f, target="a", task="ranking")


def test_invalid_smiles_rows_are_skipped_with_reasons(tmp_path, pretrained_slice):
    lines = pretrained_slice.read_text().splitlines()[:6]
    lines.insert(3, "this-is-not-smiles")
    lines.insert(5, "C1CC")
    lines.insert(6, "N(C)(C)(C)(C)C")
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    t = load_table(broken)
    assert len(t) == 5
    assert [(r.row, r.text) for r in t.invalid] == [(4, "this-is-not-smiles"), (6, "C1CC"), (7, "N(C)(C)(C)(C)C")]
    assert "syntax" in t.invalid[0].reason and "valence" in t.invalid[2].reason.lower()


@pytest.mark.parametrize(
    "content, target, match",
    [
        (None, None, "not found"),
        ("", None, "empty"),
        ("smiles,label\n", "label", "no rows"),
        ("smiles,label\nnot-a-smiles,1\nC1CC,0\n", "label", "no valid row"),
        ("foo,bar\nCCO,1\n", None, "columns found: foo, bar"),
        ("smiles,bar\nCCO,1\n", "label", "no target column 'label'; columns found: smiles, bar"),
        ("smiles,label\nCCO,yes\nCCN,no\n", "label", "not numeric"),
    ],
)
def test_user_errors_name_file_and_columns(tmp_path, content, target, match):
    path = tmp_path / "input.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserInputError, match=match) as err:
        load_table(path, target=target)
    assert "input.csv" in str(err.value)
