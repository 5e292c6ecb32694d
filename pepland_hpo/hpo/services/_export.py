"""``pepland-hpo export``: every trial of a study as one flat CSV row.

Unlike ``study.trials_dataframe()`` this flattens nested user attributes
(``val_metrics`` / ``test_metrics`` dicts become ``test_metrics.auroc``
columns) so the file opens straight in pandas, R or a spreadsheet, and it
keeps every state (waiting, running, failed with its reason), because a
missing row is how failures get forgotten.

Columns: ``number, state, value, datetime_start, datetime_complete,
duration_s``, then ``params.<name>``, then the user attributes (flattened,
lists as JSON), sorted by name within each group. A trial's stored per-molecule
predictions become one ``predictions`` cell with their sizes ("valid 232, test
232"); the report reads the predictions themselves. Ablation trials carry
``variant``, ``seed`` and ``split_repeat`` as attribute columns (older studies
also as ``params.variant`` / ``params.seed``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from pepland_hpo.hpo.analysis import PREDICTIONS_ATTR, decode_predictions

FIXED_COLUMNS = ["number", "state", "value", "datetime_start", "datetime_complete", "duration_s"]


def flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become JSON text (one cell, not many columns)."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    duration = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    rec: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value if trial.values is not None and len(trial.values) == 1 else (
            json.dumps(trial.values) if trial.values else None
        ),
        "datetime_start": trial.datetime_start.isoformat() if trial.datetime_start else None,
        "datetime_complete": trial.datetime_complete.isoformat() if trial.datetime_complete else None,
        "duration_s": duration,
    }
    for k, v in trial.params.items():
        rec[f"params.{k}"] = v
    attrs = dict(trial.user_attrs)
    stored = attrs.pop(PREDICTIONS_ATTR, None)
    flatten(attrs, "", rec)
    if stored is not None:
        # per-molecule predictions are evidence for the report, not spreadsheet cells: sizes only
        parts = decode_predictions(stored) or {}
        rec["predictions"] = ", ".join(f"{name} {len(part)}" for name, part in parts.items()) or "unreadable"
    return rec


def trials_frame(study):
    import pandas as pd

    records = [trial_record(t) for t in study.get_trials(deepcopy=False)]
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame(columns=FIXED_COLUMNS)
    params = sorted(c for c in frame.columns if c.startswith("params."))
    attrs = sorted(c for c in frame.columns if c not in FIXED_COLUMNS and c not in params)
    return frame[FIXED_COLUMNS + params + attrs]


def export_trials(storage_url: str | None, study_name: str, csv_path: str | Path) -> int:
    """Write one row per trial of ``study_name`` to ``csv_path``; returns the number of rows."""
    from pepland_hpo.hpo.analysis import open_study

    study = open_study(storage_url, study_name)
    frame = trials_frame(study)
    path = Path(csv_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return len(frame)


__all__ = ["export_trials", "flatten", "trial_record", "trials_frame"]
