"""Evaluating a generated set as a generation paper would, every number with a bootstrap interval.

For one set of token sequences (generator samples, designs, or a baseline):

* ``validity``: share that parse to a molecule (:func:`._tokens.tokens_to_mol`) and meet
  the constraints given (length range, allowed residues, identity limit);
* ``uniqueness``: distinct sequences / valid sequences;
* ``novelty``: share of the valid ones not in the training data; ``max_identity_mean``,
  ``max_identity_median`` and ``identity_below_0.7`` describe the identity to the nearest
  training sequence (:mod:`._identity`);
* ``diversity_edit``: mean pairwise normalised edit distance; ``diversity_tanimoto``:
  mean pairwise 1 − Tanimoto of Morgan bit fingerprints (radius 2, 2,048 bits);
* ``w_length``, ``w_net_charge``, ``w_hydrophobicity``, ``w_hydrophobic_moment``: 1-D
  Wasserstein distances to the real positives (:mod:`._descriptors`); ``w_composition``:
  the mean over residues of the Wasserstein distance between per-peptide residue fractions;
* ``oracle_positive_rate`` (oracle P ≥ 0.5; for regression ``oracle_mean``) and, where a
  guide is given, ``guide_positive_rate``.

Intervals: the percentile bootstrap over the generated set (the reference sets held
fixed), 95 %. A pairwise mean is resampled by drawing peptides and averaging the
pairs of two different draws, so a peptide drawn twice is not paired with itself
(which would count a distance of 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator
from scipy.stats import wasserstein_distance

from pepland_hpo.data import FP_RADIUS, FP_SIZE
from pepland_hpo.data.fragments import RESIDUES
from pepland_hpo.generation._constraints import Constraints, violations
from pepland_hpo.generation._descriptors import DESCRIPTOR_NAMES, descriptor_table
from pepland_hpo.generation._identity import as_string, identity_matrix, max_identity
from pepland_hpo.generation._tokens import base_residue, format_tokens, residues_of, tokens_to_mol

_BITS = rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_SIZE)
IDENTITY_LIMIT = 0.7


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def composition(sequences) -> np.ndarray:
    """``[n, 20]`` residue fractions per peptide (a D- or N-methyl residue counts as its residue)."""
    index = {a: k for k, a in enumerate(RESIDUES)}
    out = np.zeros((len(sequences), len(RESIDUES)))
    for i, s in enumerate(sequences):
        body = residues_of(list(s))
        for t in body:
            out[i, index[base_residue(t)]] += 1.0
        out[i] /= max(len(body), 1)
    return out


def _pairwise_mean(matrix: np.ndarray, idx: np.ndarray) -> float:
    sub = matrix[np.ix_(idx, idx)]
    different = idx[:, None] != idx[None, :]
    return float(sub[different].mean()) if different.any() else float("nan")


def tanimoto_distance_matrix(sequences) -> np.ndarray:
    fps = [_BITS.GetFingerprint(tokens_to_mol(list(s)).mol) for s in sequences]
    out = np.zeros((len(fps), len(fps)))
    for i, fp in enumerate(fps):
        out[i] = 1.0 - np.asarray(DataStructs.BulkTanimotoSimilarity(fp, fps))
    return out


@dataclass
class EvaluationContext:
    """What every set is compared with: training sequences, real positives, the oracle."""

    training: list[list[str]]
    positives: list[list[str]]
    oracle: Callable[[list[list[str]]], np.ndarray] | None = None
    task: str = "classification"

    def __post_init__(self):
        self._training_text = {format_tokens(s) for s in self.training}
        self._training_str = [as_string(s) for s in self.training]
        self._pos_desc = descriptor_table(self.positives)
        self._pos_comp = composition(self.positives)

    def is_training(self, sequences) -> np.ndarray:
        return np.array([format_tokens(s) in self._training_text for s in sequences])

    def identity(self, sequences) -> np.ndarray:
        return max_identity([as_string(s) for s in sequences], self._training_str)


def evaluate_set(sequences, context: EvaluationContext, constraints: Constraints | None = None,
                 guide: Callable[[list[str]], np.ndarray] | None = None, n_boot: int = 200,
                 seed: int = 0) -> dict[str, Estimate]:
    """The metrics of the module docstring for ``sequences`` (token lists)."""
    sequences = [list(s) for s in sequences]
    rng = np.random.default_rng(seed)
    n = len(sequences)
    if n == 0:
        raise ValueError("nothing to evaluate")
    parsed = np.array([tokens_to_mol(s).valid for s in sequences])
    if constraints is not None:
        reasons, _ = violations(sequences, constraints, context.training if constraints.max_identity < 1 else None)
        ok = np.array([not r for r in reasons])
    else:
        ok = parsed
    boot = rng.integers(n, size=(n_boot, n))
    out = {"validity": _mean_estimate(ok.astype(float), boot)}

    valid = [s for s, p in zip(sequences, parsed) if p]
    m = len(valid)
    if m == 0:
        return out
    vboot = rng.integers(m, size=(n_boot, m))
    texts = [format_tokens(s) for s in valid]
    seen: set[str] = set()
    first = np.zeros(m)
    for i, t in enumerate(texts):
        first[i] = t not in seen
        seen.add(t)
    out["uniqueness"] = _mean_estimate(first, vboot)
    out["novelty"] = _mean_estimate((~context.is_training(valid)).astype(float), vboot)
    ident = context.identity(valid)
    out["max_identity_mean"] = _mean_estimate(ident, vboot)
    out["max_identity_median"] = _estimate(ident, vboot, np.median)
    out[f"identity_below_{IDENTITY_LIMIT:g}"] = _mean_estimate((ident < IDENTITY_LIMIT).astype(float), vboot)

    strings = [as_string(s) for s in valid]
    edit = 1.0 - identity_matrix(strings, strings)
    tani = tanimoto_distance_matrix(valid)
    all_idx = np.arange(m)
    for name, matrix in (("diversity_edit", edit), ("diversity_tanimoto", tani)):
        values = np.array([_pairwise_mean(matrix, b) for b in vboot])
        out[name] = _interval(_pairwise_mean(matrix, all_idx), values)

    desc = descriptor_table(valid)
    for k, name in enumerate(DESCRIPTOR_NAMES):
        ref = context._pos_desc[:, k]
        values = np.array([wasserstein_distance(desc[b, k], ref) for b in vboot])
        out[f"w_{name}"] = _interval(wasserstein_distance(desc[:, k], ref), values)
    comp = composition(valid)

    def w_comp(rows):
        return float(np.mean([wasserstein_distance(comp[rows, r], context._pos_comp[:, r])
                              for r in range(comp.shape[1])]))

    out["w_composition"] = _interval(w_comp(all_idx), np.array([w_comp(b) for b in vboot[: max(n_boot // 4, 20)]]))

    if context.oracle is not None:
        pred = np.asarray(context.oracle(valid), dtype=float)
        if context.task == "classification":
            out["oracle_positive_rate"] = _mean_estimate((pred >= 0.5).astype(float), vboot)
            out["oracle_mean_probability"] = _mean_estimate(pred, vboot)
        else:
            out["oracle_mean"] = _mean_estimate(pred, vboot)
    if guide is not None:
        score = np.asarray(guide(texts), dtype=float)
        if context.task == "classification":
            out["guide_positive_rate"] = _mean_estimate((score >= 0.5).astype(float), vboot)
        out["guide_mean"] = _mean_estimate(score, vboot)
    return out


def _interval(value: float, values: np.ndarray) -> Estimate:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Estimate(float(value), float("nan"), float("nan"))
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(float(value), float(low), float(high))


def _estimate(x: np.ndarray, boot: np.ndarray, stat) -> Estimate:
    return _interval(float(stat(x)), np.array([stat(x[b]) for b in boot]))


def _mean_estimate(x: np.ndarray, boot: np.ndarray) -> Estimate:
    return _interval(float(x.mean()), x[boot].mean(axis=1))


__all__ = ["Estimate", "EvaluationContext", "IDENTITY_LIMIT", "composition", "evaluate_set",
           "tanimoto_distance_matrix"]
