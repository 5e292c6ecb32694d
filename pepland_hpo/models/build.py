"""One entry point from a :class:`ModelConfig` to the model it describes.

Apart from ``model.py`` so that the pair model (which wraps a peptide model) and the
peptide model do not import each other."""

from __future__ import annotations

from pepland_hpo.models.config import ModelConfig
from pepland_hpo.models.model import PeptideModel
from pepland_hpo.models.protein import PairModel


def build_model(cfg: ModelConfig) -> PeptideModel:
    """Validate ``cfg`` and build the model it describes.

    Example:
        >>> from pepland_hpo.models import build_model, count_parameters, variant_model_config
        >>> model = build_model(variant_model_config("gcn", hidden_dim=32, num_layers=2))
        >>> count_parameters(model) > 0
        True
    """
    cfg.validate()
    if cfg.protein_encoder != "none":  # a peptide-protein pair: the same peptide encoder, a protein beside it
        return PairModel(cfg)
    return PeptideModel(cfg)
