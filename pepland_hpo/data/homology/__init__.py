"""Homology-aware partitions (``split: {kind: homology, ...}``): no test molecule more similar than a
threshold to any training molecule, at several thresholds - sequence identity by global alignment
for sequences, Morgan-fingerprint Tanimoto for SMILES.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "identity_edges": "_identity",
    "identity_pairs": "_identity",
    "tanimoto_edges": "_tanimoto",
    "HomologyPartition": "_partition",
    "partition_at": "_partition",
    "HomologySplit": "_split",
    "homology_partitions": "_split",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
