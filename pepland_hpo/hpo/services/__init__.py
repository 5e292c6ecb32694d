"""What the commands do, below the CLI: create a study, its status, export, predict, notes and
artifacts in the dashboard, the dashboard server, the quick-start demo.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "create_study_from_spec": "_create",
    "trial_pair": "_create",
    "run_dashboard": "_dashboard",
    "export_trials": "_export",
    "artifact_store": "_notes",
    "save_study_note": "_notes",
    "upload_study_file": "_notes",
    "predict_with_trial": "_predict",
    "run_quickstart": "_quickstart",
    "collect_status": "_status",
    "render_status": "_status",
    "design_from_study": "_design",
    "generation_report": "_generation_report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
