"""Generation: a conditional peptide generator, guided design, and its evaluation.

Beside ``training/`` in the layer order: it may use ``data/``, ``models/`` and
``training/``, never ``hpo/`` or ``cli/``. Nothing here imports Optuna; training
reports through ``on_epoch(epoch, metrics)`` like the rest of ``training/``.

* tokens (``_tokens``): residue vocabulary (canonical, D-, N-methyl residues, caps) and
  token sequence → molecule through the data layer's parser;
* ``_sequences``: a data file as token sequences and labels;
* ``_model``, ``_sampling``, ``_train``: the conditional GRU, temperature / top-p
  sampling under a grammar, training on held-out likelihood with exact resume;
* ``_constraints``, ``_design``: design constraints and the genetic algorithm;
* ``_identity``, ``_descriptors``, ``_oracle``, ``_baselines``, ``_evaluation``,
  ``_report``: the evaluation and its writer.

Example::

    >>> from pepland_hpo.generation import tokens_to_mol
    >>> tokens_to_mol(["Ac", "K", "dL", "NH2"]).valid
    True
"""

from __future__ import annotations

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "TOKENS": "_tokens", "RESIDUE_TOKENS": "_tokens", "Decoded": "_tokens", "tokens_to_mol": "_tokens",
    "tokens_to_smiles": "_tokens", "format_tokens": "_tokens", "parse_sequence": "_tokens",
    "grammar_error": "_tokens", "d_swap": "_tokens",
    "SequenceSet": "_sequences", "load_sequences": "_sequences",
    "identity_matrix": "_identity", "max_identity": "_identity",
    "descriptor_table": "_descriptors", "net_charge": "_descriptors", "hydrophobicity": "_descriptors",
    "hydrophobic_moment": "_descriptors",
    "GeneratorConfig": "_model", "ConditionalGRU": "_model", "count_parameters": "_model",
    "sample": "_sampling",
    "GeneratorSettings": "_train", "GeneratorResult": "_train", "train_generator": "_train",
    "load_generator": "_train", "save_generator": "_train", "sequence_nll": "_train",
    "Constraints": "_constraints", "violations": "_constraints",
    "DesignSettings": "_design", "DesignResult": "_design", "design": "_design",
    "FingerprintOracle": "_oracle",
    "graph_model_guide": "_guides", "composition_guide": "_guides",
    "random_like": "_baselines", "point_mutants": "_baselines",
    "Estimate": "_evaluation", "EvaluationContext": "_evaluation", "evaluate_set": "_evaluation",
    "write_report": "_report",
    "GenerationJob": "_job", "run_generation_job": "_job", "run_design": "_job",
    "evaluate_generation": "_job", "sample_from": "_job",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
