"""Evaluation metrics on inputs small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pepland_hpo.generation import (EvaluationContext, evaluate_set, hydrophobic_moment, hydrophobicity,
                                    identity_matrix, max_identity, net_charge, point_mutants, random_like)

SEQS = [list("KKKK"), list("KKKK"), list("AAAA"), list("KKAA")]


def test_identity_is_one_minus_normalised_edit_distance():
    m = identity_matrix([list("KKKK"), list("KLAK")], [list("KKKK"), list("KKK"), list("AAAA")])
    assert m[0].tolist() == pytest.approx([1.0, 0.75, 0.0])  # one deletion in four; four substitutions
    assert m[1, 0] == pytest.approx(0.5)
    assert max_identity([list("KLAK")], [list("AAAA"), list("KLAA")]).tolist() == pytest.approx([0.75])
    assert identity_matrix([["K", "dK"]], [["K", "K"]])[0, 0] == pytest.approx(0.5)  # D-residue is another token


def test_descriptors_match_modlamp_and_hand_values():
    from modlamp.descriptors import GlobalDescriptor  # here, not at collection: tests/data checks the readers never import it

    for seq in ("GLFDIVKKVVGALGSL", "KKRRHDDEECY"):
        g = GlobalDescriptor([seq])
        g.calculate_charge(ph=7.0, amide=False)
        assert net_charge(list(seq)) == pytest.approx(g.descriptor[0][0], abs=1e-3)
    assert net_charge(["Ac", "K", "NH2"]) == pytest.approx(1 / (1 + 10 ** (7 - 10.67)))  # caps remove both termini
    assert hydrophobicity(list("IR")) == pytest.approx((1.38 - 2.53) / 2)
    assert hydrophobic_moment(list("KKKK")) == pytest.approx(
        abs(sum(-1.5 * np.exp(1j * np.deg2rad(100) * k) for k in range(4))) / 4)


def test_evaluate_set_on_hand_checkable_input():
    training = [list("KKKK"), list("LLLL")]
    context = EvaluationContext(training=training, positives=[list("KKKK"), list("KKAA")], oracle=None)
    out = evaluate_set(SEQS + [["K", "Z"]], context, n_boot=50)
    assert out["validity"].value == pytest.approx(4 / 5)  # 'Z' is no residue
    assert out["uniqueness"].value == pytest.approx(3 / 4)
    assert out["novelty"].value == pytest.approx(2 / 4)  # KKKK twice is in training
    assert out["max_identity_mean"].value == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    # pairs: KKKK-KKKK 0, KKKK-AAAA 1 (x2), KKKK-KKAA .5 (x2), AAAA-KKAA .5
    assert out["diversity_edit"].value == pytest.approx((0 + 1 + 1 + 0.5 + 0.5 + 0.5) / 6)
    assert out["w_length"].value == pytest.approx(0.0)
    assert out["diversity_edit"].low <= out["diversity_edit"].high


def test_the_positives_match_themselves():
    positives = [list("KLAKLAK"), list("RRRRWW"), list("GKKLLA")]
    context = EvaluationContext(training=positives, positives=positives, oracle=lambda s: np.ones(len(s)))
    out = evaluate_set(positives, context, n_boot=20)
    for key in ("w_length", "w_net_charge", "w_hydrophobicity", "w_composition"):
        assert out[key].value == pytest.approx(0.0, abs=1e-12)
    assert out["oracle_positive_rate"].value == 1.0 and out["novelty"].value == 0.0


def test_baselines_keep_lengths_and_alphabet():
    positives = [list("KLAK"), list("RRWWRR")]
    rand = random_like(positives, 100, seed=0)
    assert {len(s) for s in rand} <= {4, 6} and set().union(*rand) <= set("KLARW")
    mutants = point_mutants(positives, 50, "KLARW", seed=0)
    assert all(max_identity([m], positives)[0] == pytest.approx(1 - 1 / len(m)) for m in mutants)
