"""What a study is: its spec (schema, YAML, settings), search space, objectives, the identity of a
trial (variant, seed, split), the job a trial runs, staged tuning and the held-out molecules.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "tuning_summary": "_tuning",
    "final_trials": "_tuning",
    "progress": "_tuning",
    "describe_progress": "_tuning",
    "best_for_status": "_tuning",
    "enqueue_tuning": "_tuning",
    "tuned_params": "_tuning",
    "stage_of": "_tuning",
    "is_tuning": "_tuning",
    "study_held_out": "_heldout",
    "identity_attrs": "_identity",
    "lost_pairs": "_identity",
    "partition_names": "_identity",
    "study_splits": "_identity",
    "trial_identity": "_identity",
    "directions": "_objectives",
    "parse_objectives": "_objectives",
    "values": "_objectives",
    "StudySpec": "_schema",
    "infeasible_reason": "_space",
    "parse_space": "_space",
    "suggest": "_space",
    "build_ablation_spec": "_spec",
    "build_pruner": "_spec",
    "build_sampler": "_spec",
    "build_search_spec": "_spec",
    "load_spec": "_spec",
    "load_spec_data": "_spec",
    "validate_spec": "_spec",
    "Infeasible": "_trial_job",
    "TrialJob": "_trial_job",
    "pair_job_fields": "_trial_job",
    "pair_protein_input": "_spec",
    "advance": "_tuning",
    "config_text": "_tuning",
    "tuning_markdown": "_tuning",
    "GENERATION_METRIC": "_generation",
    "build_generation_spec": "_spec",
    "generation_job_fields": "_generation",
    "generation_split": "_generation",
    "describe_generation_data": "_generation",
    "run_generation_trial": "_generation",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
