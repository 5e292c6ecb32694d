"""Fixtures for the data-layer tests: small slices of the real PepLand files."""

from __future__ import annotations

import pytest


@pytest.fixture
def pretrained_slice(pepland_dir, write_slice):
    """First 20 peptides of pretrained/train.csv (header kept)."""
    return write_slice(pepland_dir / "pretrained" / "train.csv", 20)


@pytest.fixture
def cpp_slice(pepland_dir, write_slice):
    """First 40 rows of the headerless c-CPP.txt (sequence,label)."""
    return write_slice(pepland_dir / "c-CPP.txt", 40, header=False)


@pytest.fixture
def cyclic_smiles(pepland_dir):
    """Cyclic / non-canonical peptides from further_training/train.csv."""
    return (pepland_dir / "further_training" / "train.csv").read_text().splitlines()[1:6]


@pytest.fixture
def count_featurize(monkeypatch):
    """Counts molecules featurised by load_dataset (0 on a cache hit)."""
    from pepland_hpo.data import build

    calls = {"molecules": 0}
    real = build._featurize_one

    def counting(mol):
        calls["molecules"] += 1
        return real(mol)

    monkeypatch.setattr(build, "_featurize_one", counting)
    return calls
