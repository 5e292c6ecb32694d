"""File layouts a new user brings: FASTA, ';' and tab files, count lines, headers, odd rows, labels, size limits."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from pepland_hpo.data.formats import read_layout
from pepland_hpo.data.readers import load_table
from pepland_hpo.errors import UserInputError


@pytest.fixture
def cpp_rows(pepland_dir) -> list[tuple[str, str]]:
    """(sequence, label) of the first 40 rows of c-CPP.txt (both classes)."""
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()[:40]
    return [tuple(line.split(",")) for line in lines]


def modlamp_file(name: str) -> Path:
    root = importlib.util.find_spec("modlamp").submodule_search_locations[0]
    return Path(root) / "data" / name


def test_fasta_with_labels_in_the_header(tmp_path, cpp_rows):
    text = ""
    for i, (seq, label) in enumerate(cpp_rows):
        head = f">p{i}|{label}" if i % 2 else f">pep{i} source=cpp label={label}"
        text += f"{head}\n{seq[:7]}\n{seq[7:]}\n"  # wrapped over two lines
    path = tmp_path / "cpp.fasta"
    path.write_text(text)
    t = load_table(path)
    assert len(t) == 40 and t.kind == "sequence" and t.target_names == ["label"] and t.task == "classification"
    assert t.rows[:2] == [1, 4]  # the header line of each record
    assert t.smiles[0] == Chem.MolToSmiles(Chem.MolFromSequence(cpp_rows[0][0]))
    assert t.targets[:, 0].tolist() == [float(label) for _, label in cpp_rows]
    assert any("FASTA" in n for n in t.notes)


def test_fasta_without_labels_is_a_molecule_corpus(tmp_path, cpp_rows):
    path = tmp_path / "corpus.fa"
    path.write_text("".join(f">s{i}\n{seq}\n" for i, (seq, _) in enumerate(cpp_rows[:5])))
    t = load_table(path)
    assert len(t) == 5 and t.target_names == [] and t.task is None


@pytest.mark.parametrize("delimiter, name", [(";", "semicolon"), ("\t", "tab")])
def test_semicolon_and_tab_files_are_sniffed(tmp_path, cpp_rows, delimiter, name):
    path = tmp_path / "cpp.txt"
    path.write_text(f"sequence{delimiter}label\n" + "".join(f"{s}{delimiter}{y}\n" for s, y in cpp_rows))
    t = load_table(path)  # no target given: the file's only label column
    assert len(t) == 40 and t.target_names == ["label"] and t.task == "classification"
    assert f"delimiter: {name}" in t.notes


def test_header_decision_real_header_and_count_line(tmp_path, pepland_dir, write_slice, cpp_slice):
    header = read_layout(write_slice(pepland_dir / "nc-binding.csv", 5))
    assert header.header and header.columns[0] == "Unnamed: 0" and "header" in header.notes[-1]
    data = read_layout(cpp_slice)
    assert not data.header and data.notes[-1].startswith("no header: line 1 is data")
    # modlamp's published anticancer set opens with a count line "826,1,TM,ACP"
    lines = modlamp_file("ACP_CancPPD_vs_TM.csv").read_text().splitlines()
    assert lines[0] == "826,1,TM,ACP"
    acp = tmp_path / "acp.csv"
    acp.write_text("\n".join(lines[:16] + lines[-15:]) + "\n")  # the count line, 15 ACP, 15 TM
    t = load_table(acp)
    assert len(t) == 30 and t.rows[0] == 2 and t.task == "classification"
    assert t.class_names == {"0": "TM", "1": "ACP"}
    assert any("count line" in n and "0=TM, 1=ACP" in n for n in t.notes)


def test_space_inside_a_sequence_and_extra_fields_are_listed(tmp_path, cpp_rows):
    rows = [f"{s},{y}" for s, y in cpp_rows[:10]]
    rows[3] = "KWKLF KKIGAVLKVL,1"
    rows[6] = f"{cpp_rows[6][0]},1,0.5"
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(rows) + "\n")
    t = load_table(path)
    assert len(t) == 8 and 4 not in t.rows and 7 not in t.rows
    bad = {r.row: r.reason for r in t.invalid}
    assert "space at position 6" in bad[4]
    assert "3 fields" in bad[7] and "'0.5'" in bad[7]
    # a space in a SMILES is refused too (RDKit would read the rest as a name)
    smi = tmp_path / "smi.csv"
    smi.write_text("smiles,label\nCCO extra,1\nCCN,0\nCCC,1\n")
    assert "space" in load_table(smi).invalid[0].reason


def test_label_inference_says_what_and_why(tmp_path, cpp_rows):
    seqs = [s for s, _ in cpp_rows[:30]]

    def write(name, labels):
        path = tmp_path / name
        path.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in zip(seqs, labels)))
        return path

    t = load_table(write("pm.csv", [("-1", "+1")[i % 2] for i in range(30)]))
    assert t.task == "classification" and t.label_map == {"-1": 0.0, "1": 1.0}
    assert set(np.unique(t.targets)) == {0.0, 1.0} and "-1/+1" in t.task_reason
    three = write("three.csv", [str(i % 3) for i in range(30)])
    with pytest.raises(UserInputError, match="3 integer values.*--task regression") as err:
        load_table(three)
    assert "three.csv" in str(err.value)
    assert load_table(three, task="regression").task == "regression"
    with pytest.raises(UserInputError, match="multi-class is not supported"):
        load_table(three, task="classification")
    nan = write("nan.csv", ["0", "1", "nan", "", "1"] * 6)
    t = load_table(nan)
    assert len(t) == 18 and sum("missing target 'label'" in r.reason for r in t.invalid) == 12
    assert t.invalid[0].row == 4 and t.task_reason == "labels are 0/1: classification"
    reg = load_table(write("reg.csv", [f"{i / 7:.3f}" for i in range(30)]))
    assert reg.task == "regression" and "30 distinct values" in reg.task_reason


def test_huge_sequence_and_smiles_are_skipped_before_rdkit(tmp_path, cpp_rows, monkeypatch):
    parsed = []
    real_seq, real_smi = Chem.MolFromSequence, Chem.MolFromSmiles
    monkeypatch.setattr(Chem, "MolFromSequence", lambda text, *a: parsed.append(len(text)) or real_seq(text, *a))
    monkeypatch.setattr(Chem, "MolFromSmiles", lambda text, *a, **k: parsed.append(len(text)) or real_smi(text, *a, **k))
    seqs = tmp_path / "long.csv"
    seqs.write_text("sequence,label\n" + "W" * 20_000 + ",1\n" + "".join(f"{s},{y}\n" for s, y in cpp_rows[:10]))
    t = load_table(seqs)
    assert len(t) == 10 and t.invalid[0].row == 2 and "20,000 residues" in t.invalid[0].reason
    # an 18k-atom peptide SMILES (4,500 glycines)
    smiles = tmp_path / "big.csv"
    big = "NCC(=O)" * 4500 + "O"
    smiles.write_text(f"smiles,label\nCCO,0\n{big},1\nCCN,1\nCCC,0\n")
    t = load_table(smiles)
    assert len(t) == 3 and t.invalid[0].row == 3 and "18,001 heavy atoms" in t.invalid[0].reason
    assert max(parsed) < 1000  # neither giant ever reached RDKit


def test_atom_limit_is_a_setting(tmp_path, cpp_rows, monkeypatch):
    path = tmp_path / "cpp.txt"
    path.write_text("".join(f"{s},{y}\n" for s, y in cpp_rows))
    monkeypatch.setenv("PEPLAND_HPO_MAX_ATOMS", "100")
    t = load_table(path)
    assert t.invalid and all("over the limit of 100" in r.reason for r in t.invalid)
    assert int(t.num_atoms.max()) <= 100
    monkeypatch.setenv("PEPLAND_HPO_MAX_ATOMS", "lots")
    with pytest.raises(UserInputError, match="PEPLAND_HPO_MAX_ATOMS"):
        load_table(path)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"\x00\x01\x02\x03binary", "not a text file"),
        ("sequence,label\nGAGÉ,1\n".encode("latin-1"), "not UTF-8 text .* line 2"),
        (gzip.compress(b"sequence,label\nGAG,1\n"), "gzip"),
        ("sequence,label\nGAG,1\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_binary_and_non_utf8_files_name_the_file(tmp_path, payload, match):
    path = tmp_path / "weird.csv"
    path.write_bytes(payload)
    with pytest.raises(UserInputError, match=match) as err:
        load_table(path)
    assert "weird.csv" in str(err.value)
