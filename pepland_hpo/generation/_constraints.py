"""Design constraints: a length range, the residues allowed, a maximum identity to training data.

Length counts residues (caps left out). Identity is :mod:`._identity`'s
(1 − normalised edit distance) to the *nearest* training sequence, so
``max_identity=0.7`` asks for designs that differ from every known peptide in at
least 30 % of their positions. Constraints that no peptide can meet are refused
up front (:meth:`Constraints.check`) with a ``UserInputError`` naming the option.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pepland_hpo.data.fragments import RESIDUES
from pepland_hpo.errors import UserInputError
from pepland_hpo.generation._identity import as_string, max_identity
from pepland_hpo.generation._tokens import CAPS, TOKENS, residues_of, tokens_to_mol


@dataclass(frozen=True)
class Constraints:
    min_length: int = 5
    max_length: int = 30
    allowed: tuple[str, ...] = tuple(RESIDUES)  # residue tokens (and caps) a design may use
    max_identity: float = 1.0  # 1.0: no identity limit

    def check(self) -> "Constraints":
        """``self``, or a ``UserInputError`` when nothing can satisfy the constraints."""
        if self.min_length < 1:
            raise UserInputError(f"--min-length must be at least 1 (got {self.min_length})")
        if self.min_length > self.max_length:
            raise UserInputError(f"--min-length {self.min_length} is above --max-length {self.max_length}: "
                                 "no peptide can meet both")
        unknown = [t for t in self.allowed if t not in TOKENS]
        if unknown:
            raise UserInputError(f"--residues: unknown token(s) {', '.join(unknown[:5])} "
                                 "(use one-letter residues, dX, meX, Ac, NH2)")
        if not self.residues:
            raise UserInputError("--residues leaves no residue: no peptide can be built from caps alone")
        if not 0.0 < self.max_identity <= 1.0:
            raise UserInputError(f"--max-identity must be in (0, 1] (got {self.max_identity}); at 0 a design "
                                 "may share no position with any training sequence, which nothing can meet")
        return self

    @property
    def residues(self) -> tuple[str, ...]:
        return tuple(t for t in self.allowed if t not in CAPS)


def violations(sequences, constraints: Constraints, reference=None) -> tuple[list[str], np.ndarray]:
    """``(reason per sequence ('' when it meets everything), identity to the nearest reference)``.

    A reason names the first broken rule: no molecule, length, a residue not allowed,
    identity above the maximum."""
    allowed = set(constraints.allowed)
    ident = (max_identity([as_string(s) for s in sequences], [as_string(r) for r in reference])
             if reference is not None and len(reference) else np.zeros(len(sequences), dtype=np.float32))
    reasons = []
    for tokens, idn in zip(sequences, ident):
        n = len(residues_of(list(tokens)))
        bad = sorted({t for t in tokens if t not in allowed})
        if n < constraints.min_length or n > constraints.max_length:
            why = f"length {n} outside {constraints.min_length}..{constraints.max_length}"
        elif bad:
            why = f"token(s) not allowed: {', '.join(bad[:3])}"
        elif idn > constraints.max_identity + 1e-6:
            why = f"identity {idn:.2f} to a training sequence above {constraints.max_identity:g}"
        else:
            why = tokens_to_mol(list(tokens)).reason
        reasons.append(why)
    return reasons, ident


__all__ = ["Constraints", "violations"]
