"""Sampling peptides from a generator: temperature, nucleus (top-p), a grammar, a seed.

The grammar is a mask on the next token, applied before sampling, so every emitted
token sequence is a peptide by construction: ``Ac`` only first, ``NH2`` only last
(followed by the end), no end before ``min_length`` residues, nothing but a cap or
the end after ``max_length`` residues, and only tokens in ``allowed`` (by default
the tokens the generator saw in training: a generator must not invent D-residues its
data never had). Validity is still measured on the molecule afterwards
(:func:`._tokens.tokens_to_mol`), never assumed.

The same seed, model and arguments give the same sequences (one ``torch.Generator``
drives every draw, on CPU).
"""

from __future__ import annotations

import torch

from pepland_hpo.generation._model import BOS, EOS, SPECIALS, TOKEN_ID, VOCAB, ConditionalGRU, decode
from pepland_hpo.generation._tokens import C_CAP, CAPS, N_CAP

_NEG = float("-inf")


def _token_mask(allowed) -> torch.Tensor:
    mask = torch.zeros(len(VOCAB), dtype=torch.bool)
    for t in allowed:
        mask[TOKEN_ID[t]] = True
    return mask


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Logits outside the smallest set of tokens whose probability reaches ``top_p`` set to -inf."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens ranked above each one
    drop_sorted = before >= top_p  # the top token always stays (its "before" is 0)
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, _NEG)


@torch.no_grad()
def sample(model: ConditionalGRU, n: int, condition: float, *, temperature: float = 1.0, top_p: float = 1.0,
           seed: int = 0, allowed=None, min_length: int = 2, max_length: int | None = None,
           batch_size: int = 512) -> list[list[str]]:
    """``n`` token sequences conditioned on ``condition`` (a class index or a target value)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError("temperature must be > 0 and top_p in (0, 1]")
    max_length = min(max_length or model.config.max_length, model.config.max_length)
    allowed = set(allowed) if allowed is not None else set(VOCAB[len(SPECIALS):])
    residue_mask = _token_mask(t for t in allowed if t not in CAPS)
    if not residue_mask.any():
        raise ValueError("no residue token is allowed")
    n_cap_ok, c_cap_ok = N_CAP in allowed, C_CAP in allowed
    gen = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    out: list[list[str]] = []
    try:
        for start in range(0, n, batch_size):
            out += _sample_batch(model, min(batch_size, n - start), condition, temperature, top_p, gen,
                                 residue_mask, n_cap_ok, c_cap_ok, min_length, max_length)
    finally:
        model.train(was_training)
    return out


def _sample_batch(model, B, condition, temperature, top_p, gen, residue_mask, n_cap_ok, c_cap_ok,
                  min_length, max_length) -> list[list[str]]:
    c = model.condition_vector(torch.full((B,), float(condition)))
    state = model.initial_state(c)
    current = torch.full((B, 1), BOS, dtype=torch.long)
    residues = torch.zeros(B, dtype=torch.long)
    steps = torch.zeros(B, dtype=torch.long)
    closed = torch.zeros(B, dtype=torch.bool)  # C-capped: only <eos> may follow
    done = torch.zeros(B, dtype=torch.bool)
    emitted = []
    n_cap, c_cap = TOKEN_ID[N_CAP], TOKEN_ID[C_CAP]
    for _ in range(max_length + 3):  # residues plus two caps plus the end
        logits, state = model.step(current, c, state)
        logits = logits[:, -1] / temperature
        allow = residue_mask.expand(B, -1).clone()
        allow &= (residues < max_length).unsqueeze(1)
        can_end = residues >= min_length
        allow[:, EOS] = can_end
        allow[:, c_cap] = can_end & c_cap_ok
        allow[:, n_cap] = (steps == 0) & n_cap_ok
        allow[closed] = False
        allow[closed, EOS] = True
        allow[done] = False
        allow[done, EOS] = True
        logits = top_p_filter(logits.masked_fill(~allow, _NEG), top_p)
        nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen).squeeze(1)
        nxt = torch.where(done, torch.full_like(nxt, EOS), nxt)
        emitted.append(nxt)
        is_residue = (nxt != EOS) & (nxt != n_cap) & (nxt != c_cap)
        residues += is_residue.long()
        steps += 1
        closed |= nxt == c_cap
        done |= nxt == EOS
        current = nxt.unsqueeze(1)
        if bool(done.all()):
            break
    ids = torch.stack(emitted, dim=1)
    return [decode(row.tolist()) for row in ids]


__all__ = ["sample", "top_p_filter"]
