"""The independent oracle: a fingerprint model trained on every labelled row.

Generated peptides are judged by a model that had no part in making them: Morgan
count fingerprints (radius 2, 2,048 bins, as the study's fingerprint reference row)
of each peptide's molecule and scikit-learn's ``HistGradientBoosting`` (classifier
or regressor by the task), fitted on all labelled rows of the data — never the guide.
Its score beside the guide's shows over-optimisation: designs the guide loves and
the oracle does not were fitted to the guide's quirks, not to the property.
"""

from __future__ import annotations

import numpy as np
from rdkit.Chem import rdFingerprintGenerator

from pepland_hpo.data import FP_RADIUS, FP_SIZE
from pepland_hpo.generation._tokens import tokens_to_mol

_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_SIZE)


def morgan_counts(sequences) -> np.ndarray:
    """``[n, FP_SIZE]`` float32 Morgan counts of token sequences (a zero row where no molecule)."""
    out = np.zeros((len(sequences), FP_SIZE), dtype=np.float32)
    for i, tokens in enumerate(sequences):
        mol = tokens_to_mol(list(tokens)).mol
        if mol is not None:
            out[i] = _MORGAN.GetCountFingerprintAsNumPy(mol)
    return out


class FingerprintOracle:
    """``FingerprintOracle(task).fit(seqs, labels)``; ``predict(seqs)`` → P(class 1) or the value."""

    def __init__(self, task: str = "classification", seed: int = 0):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        self.task = task
        cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
        self.model = cls(random_state=seed)

    def fit(self, sequences, labels) -> "FingerprintOracle":
        y = np.asarray(labels)
        with one_thread():
            self.model.fit(morgan_counts(sequences), y.astype(int) if self.task == "classification" else y)
        return self

    def predict(self, sequences) -> np.ndarray:
        if not len(sequences):
            return np.zeros(0)
        X = morgan_counts(sequences)
        with one_thread():
            if self.task == "classification":
                return self.model.predict_proba(X)[:, 1]
            return self.model.predict(X)


def one_thread():
    """OpenMP to one thread for a few hundred rows: HistGradientBoosting's threads spin-wait, and on
    shared cores that cost 10x (fit on 300 c-CPP rows under load: 78 s with every thread, 7.4 s with one)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


__all__ = ["FingerprintOracle", "morgan_counts", "one_thread"]
