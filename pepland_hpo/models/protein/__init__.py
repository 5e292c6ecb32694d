"""Protein encoders (``composition``, ``cnn``, ``embeddings``; ``none`` = the control) and the pair model.

``models.build_model(cfg)`` builds a :class:`PairModel` when ``cfg.protein_encoder``
is not ``"none"``: the variant's peptide encoder unchanged, the protein encoder
(one setting, identical across variants) and a head on ``[g ‖ t ‖ g ⊙ t]``.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "ConvProteinEncoder": "_encoders",
    "TOKEN_VOCAB": "_encoders",
    "VectorProteinEncoder": "_encoders",
    "build_protein_encoder": "_encoders",
    "PairModel": "_pair_model",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
