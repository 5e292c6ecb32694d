"""Peptide-protein pairs on a slice of PepLand's real c-binding.csv: proteins, features, embeddings, splits."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pepland_hpo.data.pairs import (
    COMPOSITION_DIM,
    grouping_note,
    load_pair_dataset,
    load_protein_embeddings,
    make_pair_split,
    make_pair_splits,
    pair_identities,
    protein_key,
    protein_problem,
    shared_proteins,
)
from pepland_hpo.data.pairs import composition_features, residue_tokens
from pepland_hpo.errors import UserInputError


def _rows(pepland_dir, n):
    with open(pepland_dir / "c-binding.csv", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, [row for _, row in zip(range(n), reader)]


def _write(path, header, rows):
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


@pytest.fixture
def binding_csv(tmp_path, pepland_dir):
    """60 real c-binding pairs, then three bad rows: a 5,000-residue protein, a digit in one, no affinity."""
    header, rows = _rows(pepland_dir, 60)
    p_col, a_col = header.index("seq1"), header.index("affinity")
    bad = [list(rows[0]) for _ in range(3)]
    bad[0][p_col] = "M" + "KLV" * 1666 + "G"  # 5,000 residues
    bad[1][p_col] = rows[0][p_col][:20] + "1" + rows[0][p_col][20:]
    bad[2][a_col] = ""
    return _write(tmp_path / "binding.csv", header, rows + bad)


def _load(path, **kw):
    return load_pair_dataset(path, "seq1", target="affinity", smiles_col="seq2", **kw)


def test_bad_proteins_and_labels_are_skipped_with_reasons(binding_csv):
    ds = _load(binding_csv)
    reasons = {r.row: r.reason for r in ds.invalid}
    assert "over the limit of 2,000" in reasons[62] and "5,000 residues" in reasons[62]
    assert "'1' at position 21: not an amino-acid letter" in reasons[63]
    assert "missing target 'affinity'" in reasons[64]
    assert not {62, 63, 64} & set(ds.rows)
    # the rows the peptide reader refuses (an X in seq2) are listed too, and no pair is lost otherwise
    assert len(ds) + len(ds.invalid) == 63
    assert ds.task == "regression" and ds.protein_col == "seq1"


def test_protein_text_checks():
    assert protein_problem("MKV LLA") == "protein sequence contains a space at position 4"
    assert "'*'" in protein_problem("MKVLLA*")
    assert protein_problem("MKVXBZUO") == ""  # IUPAC's extra letters are residues
    assert "over the limit of 10" in protein_problem("A" * 11, limit=10)
    assert protein_problem("") == "empty protein sequence"


def test_each_pair_carries_its_encoders_input(binding_csv):
    ds = _load(binding_csv)
    g = ds[0]
    assert g.protein_x.shape == (1, COMPOSITION_DIM) and not hasattr(g, "protein_tokens")
    assert float(g.y) == pytest.approx(float(ds.targets[0, 0]))
    cnn = ds.with_protein_input("cnn")
    width = max(len(s) for s in ds.protein_table.sequences)
    assert cnn[0].protein_tokens.shape == (1, width) and cnn[0].protein_tokens.dtype.is_floating_point is False
    none = ds.with_protein_input("none")
    assert not hasattr(none[0], "protein_x") and not hasattr(none[0], "protein_tokens")
    # a subset keeps pairs, proteins and labels together
    sub = ds.subset([3, 1])
    assert sub.proteins == [ds.proteins[3], ds.proteins[1]]
    assert np.array_equal(sub.targets, ds.targets[[3, 1]])
    assert sub.smiles == [ds.smiles[3], ds.smiles[1]]
    # computed once per distinct protein
    assert ds.protein_table.features.shape[0] == len(set(ds.proteins)) < len(ds)


def test_composition_and_tokens_of_a_known_sequence():
    f = composition_features(["AAC", "ACX"])
    assert f.shape == (2, COMPOSITION_DIM)
    assert f[0, 0] == pytest.approx(2 / 3) and f[0, 1] == pytest.approx(1 / 3)  # A, C fractions
    assert f[0, 21 + 0] == pytest.approx(0.5) and f[0, 21 + 1] == pytest.approx(0.5)  # AA, AC
    assert f[1, 20] == pytest.approx(1 / 3)  # X is 'other'
    assert f[1, 21:21 + 400].sum() == pytest.approx(0.5)  # CX is no canonical dipeptide
    tok = residue_tokens(["AC", "W"])
    assert tok.tolist() == [[1, 2], [19, 0]]


def test_target_split_keeps_every_held_out_protein_out_of_training(binding_csv):
    ds = _load(binding_csv)
    proteins = ds.proteins
    for s in make_pair_splits(proteins, "target", (0.6, 0.2, 0.2), seed=0, repeats=3):
        assert shared_proteins(s, proteins) == {"valid": 0, "test": 0}
        assert len(s.test) and len(s.valid)
        assert sorted([*s.train, *s.valid, *s.test]) == list(range(len(ds)))
    again = make_pair_split(proteins, "target", (0.6, 0.2, 0.2), seed=0)
    assert again.test.tolist() == make_pair_splits(proteins, "target", (0.6, 0.2, 0.2), seed=0)[0].test.tolist()


def test_random_pairs_do_share_proteins(pepland_dir, tmp_path):
    header, rows = _rows(pepland_dir, 300)
    ds = _load(_write(tmp_path / "b300.csv", header, rows))
    shared = shared_proteins(make_pair_split(ds.proteins, "pair-random", seed=0), ds.proteins)
    assert shared["test"] > 0  # what the target split exists to prevent
    with pytest.raises(UserInputError, match="at least 3 groups of proteins"):
        make_pair_split(["MKV"] * 10, "target")


def _point_mutant(seq: str, at: int) -> str:
    return seq[:at] + ("A" if seq[at] != "A" else "G") + seq[at + 1:]


def test_a_point_mutant_lands_on_the_same_side_as_its_protein(binding_csv):
    ds = _load(binding_csv)
    parent = ds.proteins[0]
    proteins = [*ds.proteins, _point_mutant(parent, len(parent) // 2)]  # one residue apart: identity > 0.99
    mutant, parent_pairs = len(proteins) - 1, [i for i, p in enumerate(proteins) if p == parent]

    def side(split, i):
        return next(name for name in ("train", "valid", "test") if i in getattr(split, name))

    by_identity = [make_pair_split(proteins, "target", (0.6, 0.2, 0.2), seed=k) for k in range(8)]
    assert all(side(s, mutant) == side(s, parent_pairs[0]) for s in by_identity)
    exact = [make_pair_split(proteins, "target", (0.6, 0.2, 0.2), seed=k, identity=None) for k in range(8)]
    assert any(side(s, mutant) != side(s, parent_pairs[0]) for s in exact)  # what the grouping prevents
    assert "identity >= 0.9" in grouping_note(proteins) and "exact sequence" in grouping_note(proteins, None)
    with pytest.raises(UserInputError, match="identity must be a number"):
        make_pair_split(proteins, "target", identity=1.5)


def test_identity_is_the_best_alignment_of_an_independent_aligner(binding_csv):
    """Score-only packed identity = identities of Biopython's traced alignment at the same score, and no
    held-out protein of a target split is at identity >= 0.9 to a training protein by that aligner."""
    from Bio.Align import PairwiseAligner, substitution_matrices

    al = PairwiseAligner(mode="global")
    al.substitution_matrix = substitution_matrices.load("BLOSUM62")
    al.open_gap_score, al.extend_gap_score, al.end_gap_score = -10.0, -0.5, 0.0

    def bio(a, b):
        aln = al.align(a, b)[0]
        return sum(x == y != "-" for x, y in zip(aln[0], aln[1])) / min(len(a), len(b))

    ds = _load(binding_csv)
    distinct = sorted(set(ds.proteins))
    parent = distinct[0]
    seqs = [parent, _point_mutant(parent, 3), parent[5:-5], *distinct[1:6]]
    pairs = np.array([(0, j) for j in range(1, len(seqs))])
    ours = pair_identities(seqs, pairs)
    assert ours[0] == pytest.approx(1 - 1 / len(parent)) and ours[1] == 1.0  # a fragment is identical
    for (i, j), mine in zip(pairs, ours):
        assert mine >= bio(seqs[i], seqs[j]) - 1e-12  # the most identities among optimal alignments
    split = make_pair_split(ds.proteins, "target", (0.6, 0.2, 0.2), seed=1)
    train = {ds.proteins[i] for i in split.train}
    held = {ds.proteins[i] for i in [*split.valid, *split.test]}
    assert max(bio(a, b) for a in held for b in train) < 0.9


def test_binder_threshold_makes_a_classification(binding_csv):
    ds = _load(binding_csv, binder_threshold=6.0)
    raw = _load(binding_csv)
    assert ds.task == "classification" and "binder" in ds.task_reason
    assert np.array_equal(ds.targets[:, 0], (raw.targets[:, 0] >= 6.0).astype(np.float32))
    with pytest.raises(UserInputError, match="one class only"):
        _load(binding_csv, binder_threshold=100.0)


def test_supplied_embeddings_by_sequence_or_sha256(binding_csv, tmp_path):
    ds = _load(binding_csv)
    seqs = ds.protein_table.sequences
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(seqs), 8)).astype(np.float32)
    table = tmp_path / "emb.npz"
    np.savez(table, embeddings=vectors, sha256=np.array([protein_key(s) for s in seqs]))
    per_key = tmp_path / "per_key.npz"
    np.savez(per_key, **{s: v for s, v in zip(seqs, vectors)})
    for path in (table, per_key):
        got = load_protein_embeddings(path, seqs)
        assert np.allclose(got, vectors)
    with_emb = _load(binding_csv, protein_input="embeddings", protein_embeddings=table)
    assert with_emb[0].protein_x.shape == (1, 8)
    short = tmp_path / "short.npz"
    np.savez(short, embeddings=vectors[1:], sequences=np.array(seqs[1:]))
    with pytest.raises(UserInputError, match=r"short.npz: no embedding for 1 of"):
        _load(binding_csv, protein_input="embeddings", protein_embeddings=short)
    objects = tmp_path / "objects.npz"
    np.savez(objects, **{seqs[0]: np.array([object()], dtype=object)})
    with pytest.raises(UserInputError, match="without unpickling"):
        load_protein_embeddings(objects, seqs[:1])
    with pytest.raises(UserInputError, match="needs an embeddings file"):
        _load(binding_csv, protein_input="embeddings")


def test_the_protein_column_must_be_another_column(binding_csv):
    with pytest.raises(UserInputError, match="holds the peptides"):
        load_pair_dataset(binding_csv, "seq2", target="affinity", smiles_col="seq2")
    with pytest.raises(UserInputError, match="no protein column 'nope'; columns found"):
        load_pair_dataset(binding_csv, "nope", target="affinity", smiles_col="seq2")
