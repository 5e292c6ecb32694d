"""Guided design: constraints hold, the guide's score rises, bad requests are UserInputErrors."""

from __future__ import annotations

import numpy as np
import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.generation import Constraints, DesignSettings, design, max_identity, parse_sequence
from pepland_hpo.generation._design import mutate


def lysine_share(texts):
    # a guide anyone can check: the share of K and dK residues
    out = []
    for t in texts:
        body = [x for x in parse_sequence(t) if x not in ("Ac", "NH2")]
        out.append(sum(x in ("K", "dK") for x in body) / len(body))
    return np.array(out)


def test_ga_respects_constraints_and_improves_the_guide(cpp):
    constraints = Constraints(min_length=8, max_length=14, allowed=("A", "K", "L", "R", "G", "dK"), max_identity=0.6)
    starts = cpp.tokens[:80]
    result = design(starts, lysine_share, constraints, cpp.tokens, n=40, settings=DesignSettings(generations=8))
    assert len(result.sequences) == 40
    assert len({tuple(s) for s in result.sequences}) == 40
    for s in result.sequences:
        assert 8 <= len(s) <= 14 and set(s) <= {"A", "K", "L", "R", "G", "dK"}
    ident = max_identity(result.sequences, cpp.tokens)
    assert np.all(ident[result.feasible] <= 0.6 + 1e-6)
    assert result.feasible.mean() >= 0.9
    assert result.history[-1]["mean_score"] > result.history[0]["mean_score"]
    assert np.all(np.diff(result.scores[result.feasible]) <= 1e-12)  # best first


def test_d_swap_is_an_edit_when_d_residues_are_allowed():
    rng = np.random.default_rng(0)
    constraints = Constraints(min_length=3, max_length=3, allowed=("K", "dK"))
    seen = {tuple(mutate(["K", "K", "K"], constraints, rng)) for _ in range(50)}
    assert any("dK" in s for s in seen)  # length fixed at 3, so only substitutions and D-swaps


@pytest.mark.parametrize("kwargs, message", [
    ({"min_length": 10, "max_length": 5}, "no peptide can meet both"),
    ({"allowed": ("Ac", "NH2")}, "no residue"),
    ({"allowed": ("K", "Z")}, "unknown token"),
    ({"max_identity": 0.0}, "--max-identity"),
])
def test_constraints_nothing_can_meet_are_refused(cpp, kwargs, message):
    with pytest.raises(UserInputError, match=message):
        design(cpp.tokens[:5], lysine_share, Constraints(**kwargs), cpp.tokens, n=5)


def test_n_zero_is_refused(cpp):
    with pytest.raises(UserInputError, match="--n must be at least 1"):
        design(cpp.tokens[:5], lysine_share, Constraints(), cpp.tokens, n=0)
