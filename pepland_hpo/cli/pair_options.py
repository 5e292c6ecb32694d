"""The peptide-protein pair options, one definition for `train` and `create ablation|search`."""

from __future__ import annotations

from typing import Optional

import typer

ProteinColOption = typer.Option(
    None, "--protein-col", help="Peptide-protein pairs: the column holding the protein sequence (e.g. seq1); "
    "--smiles-col names the peptide column and --target the pair's label. Proteins: amino-acid letters, at most "
    "PEPLAND_HPO_MAX_PROTEIN_RESIDUES (2,000) residues; other rows are skipped with the reason.")
ProteinEncoderOption = typer.Option(
    None, "--protein-encoder", help="composition (residue + dipeptide composition MLP; default with "
    "--protein-col), cnn (DeepDTA-style 1D CNN over the residues), embeddings (MLP over --protein-embeddings) "
    "or none (the control: same pairs and splits, protein unseen). The same for every variant.")
ProteinEmbeddingsOption = typer.Option(
    None, "--protein-embeddings", help="Vectors per protein computed elsewhere (ESM, ProtT5): .npz (arrays "
    "'embeddings' + 'sequences' or 'sha256', or one array per sequence / sha256) or .parquet. A protein "
    "without a vector is exit 2. Nothing is downloaded.")
BinderThresholdOption = typer.Option(
    None, "--binder-threshold", help="Turn the label into binder (>= threshold, e.g. 6.0 = 1 uM in -log10 M) / "
    "non-binder: classification with AUROC. Default: regression on the label.")


def pair_section(protein_col: Optional[str], protein_embeddings: Optional[str],
                 binder_threshold: Optional[float]) -> dict:
    """The spec's ``pair`` changes the options make (None values: not given)."""
    return {"protein": protein_col, "embeddings": protein_embeddings, "binder_threshold": binder_threshold}


def with_protein_encoder(settings: dict[str, str], protein_encoder: Optional[str]) -> dict[str, str]:
    """``--protein-encoder X`` is the setting ``protein_encoder=X`` (typed and checked with the others)."""
    return {**settings, "protein_encoder": protein_encoder} if protein_encoder is not None else settings


__all__ = ["BinderThresholdOption", "ProteinColOption", "ProteinEmbeddingsOption", "ProteinEncoderOption",
           "pair_section", "with_protein_encoder"]
