"""The end of a study: predictions stored with trials, bootstrap statistics, the reference models,
the ablation / search / Pareto-front reports (rendering is :mod:`pepland_hpo.hpo.analysis.render`).
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "decode_predictions": "_evidence",
    "PREDICTIONS_ATTR": "_evidence",
    "AblationReport": "_ablation",
    "better": "_ablation",
    "build_ablation": "_ablation",
    "CHANCE": "_ablation",
    "VariantRow": "_ablation",
    "Difference": "_bootstrap",
    "make_plan": "_bootstrap",
    "encode_predictions": "_evidence",
    "Part": "_evidence",
    "trial_predictions": "_evidence",
    "FrontReport": "_front",
    "load_study_data": "_loading",
    "read_published": "_published",
    "published_markdown": "_published",
    "published_table": "_published",
    "ours_by_partition": "_published",
    "REFERENCE_LABEL": "_reference",
    "reference_results": "_reference",
    "REFERENCES": "_reference",
    "build_report": "_report",
    "open_study": "_report",
    "render_report": "_report",
    "SearchReport": "_search",
    "holm": "_stats",
    "paired_test": "_stats",
    "summarize": "_stats",
    "best_threshold": "_weighted_metrics",
    "BOUNDS": "_weighted_metrics",
    "weighted_metrics": "_weighted_metrics",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
