"""Reading peptides for generation through the data layer."""

from __future__ import annotations

import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.generation import load_sequences


def test_cpp_slice_reads_both_classes(cpp):
    assert len(cpp) == 300 and cpp.task == "classification"
    assert set(cpp.labels.tolist()) == {0.0, 1.0}
    assert 0 < len(cpp.positives()) < 300


def test_bad_rows_are_skipped_and_listed(tmp_path):
    f = tmp_path / "pep.csv"
    f.write_text("sequence,label\nKLAKLAK,1\nAc-K-dL-NH2,0\nKLBZ,1\nRRRR,\n")
    data = load_sequences(f)
    assert data.texts == ["KLAKLAK", "Ac-K-dL-NH2"]
    assert [line for line, _, _ in data.skipped] == [4, 5]


def test_a_smiles_file_is_refused_with_its_name(pepland_dir, write_slice):
    path = write_slice(pepland_dir / "pretrained" / "train.csv", 5)
    with pytest.raises(UserInputError, match="train.csv.*SMILES"):
        load_sequences(path, labelled=False)
