"""Models: the one encoder built from a ModelConfig, its layers, and the named variants."""

from pepland_hpo.models.config import ModelConfig
from pepland_hpo.models.build import build_model
from pepland_hpo.models.model import PeptideModel, compile_layers, count_parameters
from pepland_hpo.models.variants import (
    VARIANTS,
    leave_one_out_variants,
    variant_model_config,
    variant_needs_pretraining,
)

__all__ = [
    "ModelConfig",
    "PeptideModel",
    "build_model",
    "count_parameters",
    "compile_layers",
    "VARIANTS",
    "variant_model_config",
    "variant_needs_pretraining",
    "leave_one_out_variants",
]
