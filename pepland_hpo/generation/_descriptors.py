"""Global physicochemical descriptors of peptides, as generation papers report them.

* **net charge** at pH 7.0, Bjellqvist's sum of Henderson–Hasselbalch terms with the
  CRC Handbook pKa values that modlamp's ``GlobalDescriptor.calculate_charge`` uses
  (N-terminus 9.38, K 10.67, R 12.10, H 6.04; C-terminus 2.15, D 3.71, E 4.15, C 8.14,
  Y 10.10). An ``Ac`` cap removes the N-terminal amine, an ``NH2`` cap the C-terminal acid.
* **hydrophobicity**: the mean of Eisenberg's normalised consensus scale (1984).
* **hydrophobic moment**: Eisenberg's μH over the whole peptide, ``|Σ h_k e^{i k δ}| / n``
  with δ = 100° (an α-helix), as modlamp's ``calculate_moment`` with its default window.

D- and N-methyl residues take their canonical residue's values: the scales were
measured on L-residues, and a mirror image has the same side chain.
"""

from __future__ import annotations

import numpy as np

from pepland_hpo.generation._tokens import C_CAP, N_CAP, base_residue, residues_of

EISENBERG = {
    "A": 0.62, "R": -2.53, "N": -0.78, "D": -0.90, "C": 0.29, "Q": -0.85, "E": -0.74, "G": 0.48,
    "H": -0.40, "I": 1.38, "L": 1.06, "K": -1.50, "M": 0.64, "F": 1.19, "P": 0.12, "S": -0.18,
    "T": -0.05, "W": 0.81, "Y": 0.26, "V": 1.08,
}
_POSITIVE_PKA = {"K": 10.67, "R": 12.10, "H": 6.04}
_NEGATIVE_PKA = {"D": 3.71, "E": 4.15, "C": 8.14, "Y": 10.10}
_N_TERM_PKA, _C_TERM_PKA = 9.38, 2.15
DESCRIPTOR_NAMES = ("length", "net_charge", "hydrophobicity", "hydrophobic_moment")


def _positive(pka: float, ph: float) -> float:
    r = 10.0 ** (pka - ph)
    return r / (r + 1.0)


def _negative(pka: float, ph: float) -> float:
    r = 10.0 ** (ph - pka)
    return r / (r + 1.0)


def net_charge(tokens, ph: float = 7.0) -> float:
    tokens = list(tokens)
    letters = [base_residue(t) for t in residues_of(tokens)]
    charge = sum(_positive(_POSITIVE_PKA[a], ph) for a in letters if a in _POSITIVE_PKA)
    charge -= sum(_negative(_NEGATIVE_PKA[a], ph) for a in letters if a in _NEGATIVE_PKA)
    if tokens[0] != N_CAP:
        charge += _positive(_N_TERM_PKA, ph)
    if tokens[-1] != C_CAP:
        charge -= _negative(_C_TERM_PKA, ph)
    return float(charge)


def _scale(tokens) -> np.ndarray:
    return np.array([EISENBERG[base_residue(t)] for t in residues_of(list(tokens))], dtype=np.float64)


def hydrophobicity(tokens) -> float:
    return float(_scale(tokens).mean())


def hydrophobic_moment(tokens, angle_degrees: float = 100.0) -> float:
    h = _scale(tokens)
    phase = np.deg2rad(angle_degrees) * np.arange(h.size)
    return float(np.hypot((h * np.cos(phase)).sum(), (h * np.sin(phase)).sum()) / h.size)


def descriptor_table(sequences) -> np.ndarray:
    """``[n, 4]`` float64 columns ``DESCRIPTOR_NAMES`` per token sequence."""
    out = np.zeros((len(sequences), len(DESCRIPTOR_NAMES)), dtype=np.float64)
    for i, tokens in enumerate(sequences):
        out[i] = (len(residues_of(list(tokens))), net_charge(tokens), hydrophobicity(tokens),
                  hydrophobic_moment(tokens))
    return out


__all__ = ["DESCRIPTOR_NAMES", "EISENBERG", "descriptor_table", "hydrophobic_moment", "hydrophobicity", "net_charge"]
