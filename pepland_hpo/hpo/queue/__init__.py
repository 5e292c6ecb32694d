"""Where studies live and how trials are handed out: storage URLs (masked, checked), the claim /
fail / retry / hand-back transactions, the storage calls that ride out an outage.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "budget_used": "_claims",
    "claim_waiting": "_claims",
    "count_running": "_claims",
    "enqueue_missing": "_claims",
    "handback": "_claims",
    "reap_dead_local": "_claims",
    "reap_stale": "_claims",
    "retry_or_fail": "_claims",
    "set_user_attrs": "_claims",
    "engine": "_optuna_internals",
    "study_storage": "_optuna_internals",
    "tables": "_optuna_internals",
    "BACKOFF_CAP_S": "_resilient",
    "classify": "_resilient",
    "EnvironmentFailure": "_resilient",
    "failure_kind": "_resilient",
    "outage_setting": "_resilient",
    "Resilient": "_resilient",
    "SqliteIdentity": "_resilient",
    "StorageOutage": "_resilient",
    "WorkerMustStop": "_resilient",
    "check_url": "_storage",
    "ENV_STORAGE": "_storage",
    "has_password": "_storage",
    "is_sqlite": "_storage",
    "mask_text": "_storage",
    "mask_url": "_storage",
    "open_storage": "_storage",
    "resolve_url": "_storage",
    "SQLITE_MAX_WORKERS": "_storage",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
