"""Sampling: a seed fixes the output, the grammar and alphabet hold, decoded tokens are molecules."""

from __future__ import annotations

import torch

from pepland_hpo.generation import ConditionalGRU, GeneratorConfig, load_generator, sample, tokens_to_mol
from pepland_hpo.generation._sampling import top_p_filter


def test_same_seed_same_sequences_other_seed_others(tiny_generator):
    model, _ = load_generator(tiny_generator[0])
    a = sample(model, 50, 1.0, seed=3, temperature=0.9, top_p=0.95)
    b = sample(model, 50, 1.0, seed=3, temperature=0.9, top_p=0.95)
    c = sample(model, 50, 1.0, seed=4, temperature=0.9, top_p=0.95)
    assert a == b
    assert a != c


def test_decoded_samples_are_valid_molecules(tiny_generator):
    model, meta = load_generator(tiny_generator[0])
    seqs = sample(model, 200, 1.0, seed=0, allowed=meta["tokens_seen"])
    valid = [tokens_to_mol(s).valid for s in seqs]
    assert sum(valid) / len(valid) >= 0.95


def test_grammar_length_and_alphabet_hold_even_for_an_untrained_model():
    torch.manual_seed(0)
    model = ConditionalGRU(GeneratorConfig(hidden_dim=16, embed_dim=8, max_length=40))
    allowed = {"K", "R", "dK", "Ac", "NH2"}
    seqs = sample(model, 300, 0.0, seed=1, temperature=2.0, allowed=allowed, min_length=4, max_length=9)
    for s in seqs:
        body = [t for t in s if t not in ("Ac", "NH2")]
        assert 4 <= len(body) <= 9
        assert set(s) <= allowed
        assert "Ac" not in s[1:] and "NH2" not in s[:-1]
        assert tokens_to_mol(s).valid
    assert any(s[0] == "Ac" for s in seqs) and any(s[-1] == "NH2" for s in seqs)


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(top_p_filter(probs.log(), 0.75))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.75 <= 0.5 + 0.3
    assert torch.isfinite(top_p_filter(probs.log(), 0.1)).sum() == 1  # the top token always stays
