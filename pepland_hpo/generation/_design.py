"""Guided design: a genetic algorithm over residue edits, scored by a guide model.

Why a GA (with deterministic crowding) rather than MCMC or sampling + reranking:

* the guide is a black box over molecules (a graph model, an ensemble of seeds):
  no gradient reaches the tokens, and each call costs a featurisation, so calls are
  best made in large batches — a GA scores a whole generation at once, an MCMC chain
  one proposal at a time;
* sampling + reranking can only pick among what the generator already emits; edits
  (substitution, insertion, deletion, D-swap) move designs past the generator's modes
  while staying close to its plausible starts;
* a plain GA converges on one family and a design run must return many different
  peptides. Deterministic crowding (Mahfoud, 1995) keeps the population diverse
  without a tuned niche radius: each child competes only with the more similar of its
  two parents, so one good family cannot take over the others' slots.

Constraints (:class:`._constraints.Constraints`): length and allowed residues hold by
construction (starts are repaired, edits that would break them are not proposed);
the identity limit is a penalty — an infeasible design always ranks below a feasible
one, so the population drifts away from the training data where the guide allows.

``guide(texts) → scores [n]`` takes peptides in the text form of :mod:`._tokens`
(higher is better: the positive-class probability of a classifier); scores are
cached by text, so a sequence is never scored twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pepland_hpo.errors import UserInputError
from pepland_hpo.generation._constraints import Constraints, violations
from pepland_hpo.generation._identity import as_string, identity_matrix, max_identity
from pepland_hpo.generation._tokens import CAPS, d_swap, format_tokens, residues_of

Guide = Callable[[list[str]], np.ndarray]


@dataclass
class DesignSettings:
    generations: int = 20
    crossover_rate: float = 0.5
    max_edits: int = 2  # edits per child: 1..max_edits
    seed: int = 0


@dataclass
class DesignResult:
    sequences: list[list[str]]  # best first
    scores: np.ndarray  # guide score per design
    identity: np.ndarray  # identity to the nearest training sequence
    feasible: np.ndarray  # bool: meets every constraint
    history: list[dict] = field(default_factory=list)  # per generation: mean / best score, feasible share
    guide_calls: int = 0  # sequences scored

    @property
    def texts(self) -> list[str]:
        return [format_tokens(s) for s in self.sequences]


class _ScoredGuide:
    """The guide with a cache by text, counting the sequences it really scored."""

    def __init__(self, guide: Guide):
        self.guide, self.cache, self.calls = guide, {}, 0

    def __call__(self, seqs: list[list[str]]) -> np.ndarray:
        texts = [format_tokens(s) for s in seqs]
        new = sorted({t for t in texts if t not in self.cache})
        if new:
            scores = np.asarray(self.guide(new), dtype=np.float64).reshape(-1)
            if scores.shape[0] != len(new):
                raise ValueError(f"guide returned {scores.shape[0]} scores for {len(new)} sequences")
            self.cache.update(zip(new, scores.tolist()))
            self.calls += len(new)
        return np.array([self.cache[t] for t in texts], dtype=np.float64)


def repair(tokens: list[str], constraints: Constraints, rng: np.random.Generator) -> list[str]:
    """``tokens`` made to meet the length range and the allowed residues (caps kept where allowed)."""
    residues = list(constraints.residues)
    allowed = set(constraints.allowed)
    head = [tokens[0]] if tokens and tokens[0] in CAPS and tokens[0] in allowed and tokens[0] == "Ac" else []
    tail = [tokens[-1]] if tokens and tokens[-1] == "NH2" and "NH2" in allowed else []
    body = [t if t in allowed else residues[rng.integers(len(residues))] for t in residues_of(tokens)]
    body = body[: constraints.max_length]
    while len(body) < constraints.min_length:
        body.append(residues[rng.integers(len(residues))])
    return head + body + tail


def mutate(tokens: list[str], constraints: Constraints, rng: np.random.Generator) -> list[str]:
    """One edit (substitution, insertion, deletion or D-swap) that keeps length and alphabet."""
    head = [t for t in tokens[:1] if t == "Ac"]
    tail = [t for t in tokens[-1:] if t == "NH2"]
    body = residues_of(tokens)
    residues = list(constraints.residues)
    allowed = set(constraints.allowed)
    kinds = ["substitution"]
    if len(body) < constraints.max_length:
        kinds.append("insertion")
    if len(body) > constraints.min_length:
        kinds.append("deletion")
    swappable = [i for i, t in enumerate(body) if d_swap(t) in allowed]
    if swappable:
        kinds.append("d-swap")
    kind = kinds[rng.integers(len(kinds))]
    body = list(body)
    if kind == "substitution":
        i = int(rng.integers(len(body)))
        choices = [r for r in residues if r != body[i]] or residues
        body[i] = choices[rng.integers(len(choices))]
    elif kind == "insertion":
        body.insert(int(rng.integers(len(body) + 1)), residues[rng.integers(len(residues))])
    elif kind == "deletion":
        del body[int(rng.integers(len(body)))]
    else:
        i = swappable[rng.integers(len(swappable))]
        body[i] = d_swap(body[i])
    return head + body + tail


def crossover(a: list[str], b: list[str], constraints: Constraints, rng: np.random.Generator) -> list[str]:
    """A's head (caps included) up to a cut, B's tail from a cut; A itself if the child's length is out of range."""
    ra, rb = residues_of(a), residues_of(b)
    i, j = int(rng.integers(1, len(ra) + 1)), int(rng.integers(0, len(rb)))
    body = ra[:i] + rb[j:]
    if not constraints.min_length <= len(body) <= constraints.max_length:
        return list(a)
    head = [t for t in a[:1] if t == "Ac"]
    tail = [t for t in b[-1:] if t == "NH2"]
    return head + body + tail


def _fitness(scores: np.ndarray, ident: np.ndarray, reasons: list[str], constraints: Constraints) -> np.ndarray:
    """Guide score if feasible; below every feasible score (by how far over the limit) otherwise."""
    over = np.maximum(ident - constraints.max_identity, 0.0)
    broken = np.array([bool(r) for r in reasons])
    return np.where(broken, scores - 2.0 - over, scores)


def design(starts: list[list[str]], guide: Guide, constraints: Constraints, reference: list[list[str]],
           n: int, settings: DesignSettings | None = None,
           on_generation: Callable[[int, dict], None] | None = None) -> DesignResult:
    """Improve ``starts`` (e.g. generator samples) into ``n`` designs (module docstring).

    ``reference``: the training sequences the identity limit is measured against.
    """
    settings = settings or DesignSettings()
    if n < 1:
        raise UserInputError(f"--n must be at least 1 (got {n})")
    constraints.check()
    rng = np.random.default_rng(settings.seed)
    scorer = _ScoredGuide(guide)
    ref = [as_string(r) for r in reference]

    pop, seen = [], set()
    for s in starts:
        s = repair(list(s), constraints, rng)
        key = format_tokens(s)
        if key not in seen:
            seen.add(key)
            pop.append(s)
        if len(pop) == n:
            break
    while len(pop) < n:  # too few distinct starts: fill with mutants of what there is
        if not pop:
            raise UserInputError("design needs at least one start sequence (the generator produced none)")
        child = mutate(pop[rng.integers(len(pop))], constraints, rng)
        if format_tokens(child) not in seen:
            seen.add(format_tokens(child))
            pop.append(child)

    def evaluate(seqs):
        reasons, ident = violations(seqs, constraints, reference if ref else None)
        scores = scorer(seqs)
        return scores, ident, reasons, _fitness(scores, ident, reasons, constraints)

    scores, ident, reasons, fit = evaluate(pop)
    history = []
    for gen in range(settings.generations):
        order = rng.permutation(n)
        pairs = [(int(order[k]), int(order[k + 1])) for k in range(0, n - 1, 2)]
        children = []
        for i, j in pairs:
            a, b = pop[i], pop[j]
            if rng.random() < settings.crossover_rate:
                c1, c2 = crossover(a, b, constraints, rng), crossover(b, a, constraints, rng)
            else:
                c1, c2 = list(a), list(b)
            for _ in range(int(rng.integers(1, settings.max_edits + 1))):
                c1 = mutate(c1, constraints, rng)
            for _ in range(int(rng.integers(1, settings.max_edits + 1))):
                c2 = mutate(c2, constraints, rng)
            children += [c1, c2]
        if not children:
            break
        c_scores, c_ident, c_reasons, c_fit = evaluate(children)
        parents = [p for pair in pairs for p in pair]
        sim = identity_matrix([as_string(pop[p]) for p in parents], [as_string(c) for c in children])
        for k, (i, j) in enumerate(pairs):
            c1, c2 = 2 * k, 2 * k + 1
            # each child competes with its more similar parent (deterministic crowding)
            straight = sim[2 * k, c1] + sim[2 * k + 1, c2]
            crossed = sim[2 * k, c2] + sim[2 * k + 1, c1]
            matches = [(i, c1), (j, c2)] if straight >= crossed else [(i, c2), (j, c1)]
            for p, c in matches:
                key = format_tokens(children[c])
                if c_fit[c] > fit[p] and key not in seen:
                    seen.discard(format_tokens(pop[p]))
                    seen.add(key)
                    pop[p] = children[c]
                    scores[p], ident[p], reasons[p], fit[p] = c_scores[c], c_ident[c], c_reasons[c], c_fit[c]
        feasible = np.array([not r for r in reasons])
        record = {"generation": gen, "mean_score": float(scores[feasible].mean()) if feasible.any() else 0.0,
                  "best_score": float(scores[feasible].max()) if feasible.any() else 0.0,
                  "feasible": float(feasible.mean()), "guide_calls": scorer.calls}
        history.append(record)
        if on_generation is not None:
            on_generation(gen, record)

    feasible = np.array([not r for r in reasons])
    if not feasible.any():
        raise UserInputError(
            f"no design meets the constraints after {settings.generations} generations (first reason: "
            f"{reasons[0]}); relax --max-identity, the length range or --residues")
    rank = np.lexsort((-scores, ~feasible))  # feasible first, then by score
    ident = max_identity([as_string(pop[i]) for i in rank], ref) if ref else ident[rank]
    return DesignResult([pop[i] for i in rank], scores[rank], ident, feasible[rank], history, scorer.calls)


__all__ = ["DesignResult", "DesignSettings", "Guide", "crossover", "design", "mutate", "repair"]
