"""Put a report where people look: the study's note and artifacts in optuna-dashboard.

The note is optuna-dashboard's Markdown note (stored in the study's system
attributes, so it travels with the storage); files go through Optuna's
artifact API into the file-system store under :func:`pepland_hpo.paths.artifacts_dir`
(the same store the workers put checkpoints in, and the one ``pepland-hpo
dashboard`` serves).

A report is rerun as trials finish, so uploading must replace, not pile up:
an earlier study artifact with the same file name is removed from the store
and its metadata entry blanked the way optuna-dashboard's own delete does
(the entry becomes JSON ``null``, which both Optuna and the dashboard skip).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

import optuna
from optuna.artifacts import ArtifactMeta

from pepland_hpo import paths

_ARTIFACT_PREFIX = "artifacts:"  # Optuna's key prefix for study/trial artifact metadata


def live_artifacts(system_attrs: dict) -> list[tuple[str, ArtifactMeta]]:
    """``(system-attr key, meta)`` of each artifact that has not been deleted, by key.

    Not ``optuna.artifacts.get_all_artifact_meta``: in Optuna 5.0 it raises
    ``TypeError`` on a deleted entry (JSON ``null``, written by optuna-dashboard's
    delete and by :func:`upload_study_file`), and it does not give the key that
    deleting needs.
    """
    out = []
    for key, value in sorted(system_attrs.items()):
        if not key.startswith(_ARTIFACT_PREFIX) or value is None:
            continue
        try:
            meta = json.loads(value) if isinstance(value, str) else value
            out.append((key, ArtifactMeta(meta["artifact_id"], meta.get("filename", ""),
                                          meta.get("mimetype", ""), meta.get("encoding"))))
        except (ValueError, TypeError, KeyError):  # null (deleted) or not artifact metadata
            continue
    return out


def artifact_store(base: Path | None = None):
    """The file-system artifact store (created if missing)."""
    from optuna.artifacts import FileSystemArtifactStore

    root = Path(base) if base is not None else paths.artifacts_dir()
    root.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(root))


def save_study_note(study: optuna.Study, markdown: str) -> None:
    from optuna_dashboard import save_note

    save_note(study, markdown)


def upload_study_file(study: optuna.Study, path: Path, store=None) -> str:
    """Upload ``path`` as a study artifact, replacing one with the same file name."""
    from optuna.artifacts import upload_artifact

    from pepland_hpo.hpo.queue import study_storage

    store = store if store is not None else artifact_store()
    storage, study_id = study_storage(study)
    for key, meta in live_artifacts(storage.get_study_system_attrs(study_id)):
        if meta.filename == path.name:
            try:
                store.remove(meta.artifact_id)
            except Exception:  # already gone from the store: the metadata is what matters
                pass
            storage.set_study_system_attr(study_id, key, json.dumps(None))
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return upload_artifact(
        artifact_store=store, file_path=str(path), study_or_trial=study, mimetype=mimetype
    )


__all__ = ["artifact_store", "live_artifacts", "save_study_note", "upload_study_file"]
