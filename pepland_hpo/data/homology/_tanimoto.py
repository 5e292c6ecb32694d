"""Fingerprint similarity of every pair of molecules: Tanimoto on Morgan bits (radius 2, 2048 bits).

The SMILES route for non-canonical peptides (D-amino acids, staples, caps),
where no residue alignment exists. The fingerprints are the ones the
``similarity`` split kind clusters on (:func:`pepland_hpo.data.splits.fingerprints`),
so the two kinds speak of the same similarity.
"""

from __future__ import annotations

import numpy as np
from rdkit import DataStructs


def tanimoto_edges(smiles: list[str], floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` with Tanimoto > ``floor``: ``(pairs [E, 2], similarity [E])``."""
    from pepland_hpo.data.splits import fingerprints

    fps = fingerprints(list(smiles))
    pairs, sims = [], []
    for i in range(1, len(fps)):
        s = np.asarray(DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i]))
        hit = np.flatnonzero(s > floor)
        if hit.size:
            pairs.append(np.stack([hit, np.full(hit.size, i)], axis=1))
            sims.append(s[hit])
    if not pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    return np.concatenate(pairs).astype(np.int64), np.concatenate(sims)


__all__ = ["tanimoto_edges"]
