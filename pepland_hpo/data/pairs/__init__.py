"""Peptide-protein pairs: the protein is an input beside the peptide, and splits keep proteins apart.

* ``load_pair_dataset`` / ``PairDataset`` (``_dataset``): the peptide's cached graph
  plus its protein's input, per row; the label is the pair's.
* ``read_protein_column``, ``protein_problem`` (``_proteins``): the protein column,
  checked on its text (amino-acid letters, a length limit).
* ``composition_features``, ``residue_tokens`` (``_features``): what the protein
  encoders read, computed once per distinct protein.
* ``load_protein_embeddings``, ``protein_key`` (``_embeddings``): vectors computed elsewhere.
* ``make_pair_split``, ``make_pair_splits``, ``PAIR_SPLIT_KINDS``, ``grouping_note`` (``_splits``):
  ``target`` (no test protein, nor one at sequence identity >= 0.9 to it, in training) and ``pair-random``.
* ``identity_components``, ``DEFAULT_IDENTITY`` (``_identity_groups``): proteins grouped by identity.
* ``binarise`` (``_labels``): affinity -> binder / non-binder.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "PROTEIN_INPUTS": "_dataset",
    "PairDataset": "_dataset",
    "ProteinTable": "_dataset",
    "build_protein_table": "_dataset",
    "load_pair_dataset": "_dataset",
    "load_protein_embeddings": "_embeddings",
    "protein_key": "_embeddings",
    "read_embedding_file": "_embeddings",
    "COMPOSITION_DIM": "_features",
    "TOKEN_VOCAB": "_features",
    "composition_column_names": "_features",
    "composition_features": "_features",
    "residue_tokens": "_features",
    "DEFAULT_IDENTITY": "_identity_groups",
    "identity_components": "_identity_groups",
    "pair_identities": "_identity_groups",
    "binarise": "_labels",
    "max_protein_residues": "_proteins",
    "protein_problem": "_proteins",
    "read_protein_column": "_proteins",
    "GROUPING_NOTE": "_splits",
    "PAIR_SPLIT_KINDS": "_splits",
    "check_identity": "_splits",
    "deal_groups": "_splits",
    "grouping_note": "_splits",
    "make_pair_split": "_splits",
    "make_pair_splits": "_splits",
    "protein_groups": "_splits",
    "shared_proteins": "_splits",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
