"""Homology partitions: at threshold t no test molecule is more similar than t to any train molecule,
checked by an independent aligner (Biopython's PairwiseAligner) on real c-CPP peptides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pepland_hpo.data.homology._identity import encode, identity_edges, identity_pairs
from pepland_hpo.data.homology._partition import Dropped, HomologyPartition, partition_at
from pepland_hpo.data.homology._split import HomologySplit
from pepland_hpo.errors import UserInputError

Align = pytest.importorskip("Bio.Align")
CPP = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "pepland" / "c-CPP.txt"


def _cpp(n: int):
    if not CPP.exists():
        pytest.skip(f"{CPP} not present")
    rows = [line.strip().split(",") for line in CPP.read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(7)
    pick = np.sort(rng.choice(len(rows), n, replace=False))
    return [rows[i][0] for i in pick], np.array([float(rows[i][1]) for i in pick])


def _aligner():
    from Bio.Align import substitution_matrices

    al = Align.PairwiseAligner()
    al.mode = "global"
    al.substitution_matrix = substitution_matrices.load("BLOSUM62")
    al.open_gap_score, al.extend_gap_score = -10.0, -0.5
    al.end_gap_score = 0.0  # EMBOSS needle's default: end gaps free
    return al


def _bio_identity(al, a: str, b: str) -> float:
    """Identical positions / shorter length in the alignment Biopython returns first."""
    aln = al.align(a, b)[0]
    same = sum(x == y != "-" for x, y in zip(aln[0], aln[1]))
    return same / min(len(a), len(b))


def test_no_test_peptide_above_t_to_any_train_peptide_by_an_independent_aligner():
    seqs, labels = _cpp(200)
    pairs, sims = identity_edges(seqs, 0.5)
    al = _aligner()
    kept = 0
    for t in (0.5, 0.7):
        part = partition_at(len(seqs), pairs, sims, t, (0.8, 0.1, 0.1), seed=0, labels=labels, floor=0.5)
        if isinstance(part, Dropped):
            continue
        kept += 1
        test, train = part.split["test"], part.split["train"]
        assert len(test) >= 10 and not set(test) & set(train)
        worst = max(_bio_identity(al, seqs[i], seqs[j]) for i in test for j in train)
        assert worst <= t + 1e-12, (t, worst)
    assert kept >= 1  # at least one threshold gave a usable partition on 200 real peptides


def test_identity_equals_the_best_co_optimal_biopython_alignment():
    seqs, _ = _cpp(60)
    codes, sub2 = encode(seqs)
    rng = np.random.default_rng(1)
    pairs = rng.integers(0, len(seqs), (80, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    ours = identity_pairs(codes, sub2, pairs)
    al = _aligner()
    for (i, j), got in zip(pairs, ours):
        alns = al.align(seqs[i], seqs[j])
        best = max(sum(x == y != "-" for x, y in zip(a[0], a[1])) for _, a in zip(range(500), alns))
        assert got == pytest.approx(best / min(len(seqs[i]), len(seqs[j])))


def test_a_partition_that_chains_into_one_group_is_dropped_with_the_reason():
    seqs = ["KKKKLLLL", "KKKKLLLA", "KKKKLLAA", "KKKKLAAA", "KKKKAAAA"] * 4  # all linked above 0.3
    pairs, sims = identity_edges(seqs, 0.3)
    got = partition_at(len(seqs), pairs, sims, 0.3, (0.6, 0.2, 0.2), seed=0)
    assert isinstance(got, Dropped) and got.name == "0.3"
    assert "test part has 0 molecule(s)" in got.reason and "largest group" in got.reason


def test_partitions_are_seeded():
    seqs, labels = _cpp(120)
    pairs, sims = identity_edges(seqs, 0.7)
    a, b, c = (partition_at(len(seqs), pairs, sims, 0.9, (0.8, 0.1, 0.1), seed=s, labels=labels) for s in (3, 3, 4))
    assert isinstance(a, HomologyPartition) and a.split == b.split and a.split != c.split


def test_tanimoto_partition_keeps_test_under_t_by_rdkit_directly():
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    from pepland_hpo.data.homology._tanimoto import tanimoto_edges

    seqs, labels = _cpp(80)
    smiles = [Chem.MolToSmiles(Chem.MolFromSequence(s)) for s in seqs]
    pairs, sims = tanimoto_edges(smiles, 0.5)
    part = partition_at(len(smiles), pairs, sims, 0.7, (0.7, 0.1, 0.2), seed=0, labels=labels, measure="tanimoto")
    assert isinstance(part, HomologyPartition)
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
    worst = max(DataStructs.TanimotoSimilarity(fps[i], fps[j]) for i in part.split["test"] for j in part.split["train"])
    assert worst <= 0.7


def test_bad_thresholds_are_user_errors():
    with pytest.raises(UserInputError, match="thresholds: 1.5"):
        HomologySplit(thresholds=(0.3, 1.5)).check()
    with pytest.raises(UserInputError, match="listed twice"):
        HomologySplit(thresholds=(0.3, 0.3)).check()
    with pytest.raises(UserInputError, match="outside the amino-acid alphabet"):
        encode(["KKLL", "C(=O)O"])
