"""``pepland-hpo predict``: run a finished trial's best checkpoint on a data file.

The checkpoint comes from the study's artifact store (the worker uploads
each COMPLETE trial's best weights; the id is the trial's
``checkpoint_artifact`` user attribute), is downloaded to a temporary file and
loaded with ``weights_only=True`` (:func:`pepland_hpo.training.checkpoints.load_checkpoint`):
artifacts are shared between users, and a full unpickler would run whatever
code a file carries.

The data file goes through the same data layer as training (same parser,
featuriser and cache), so a molecule gets exactly the graph it had in the
trial. Labelled rows are scored with the same ``training.evaluation.predict`` +
``compute_metrics`` path the trial used, which is why predicting on the
study's test rows reproduces the recorded test metrics.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.services._pair_predict import load_pair_data, pair_of


def _checkpoint_artifact_id(trial) -> str | None:
    """The trial's checkpoint artifact: the recorded id, else any uploaded ``.pt`` artifact."""
    art = trial.user_attrs.get("checkpoint_artifact")
    if art:
        return str(art)
    from pepland_hpo.hpo.services._notes import live_artifacts

    for _key, meta in live_artifacts(trial.system_attrs):
        if str(meta.filename).endswith(".pt"):
            return str(meta.artifact_id)
    return None


def fetch_checkpoint(trial, folder: Path) -> Path:
    """Download the trial's checkpoint into ``folder`` (or use the local file a worker left)."""
    from optuna.artifacts import download_artifact

    from pepland_hpo.hpo.services._notes import artifact_store

    artifact_id = _checkpoint_artifact_id(trial)
    if artifact_id is not None:
        path = folder / f"trial{trial.number}.pt"
        try:
            download_artifact(artifact_store=artifact_store(), file_path=str(path), artifact_id=artifact_id)
        except Exception as exc:  # missing from the store: name what is missing, not a stack trace
            raise UserInputError(
                f"trial {trial.number}: checkpoint artifact {artifact_id} cannot be read from the "
                f"artifact store ({type(exc).__name__}: {exc}); is PEPLAND_HPO_HOME the study's storage root?"
            ) from None
        return path
    local = trial.user_attrs.get("checkpoint")
    if local and Path(local).is_file():
        return Path(local)
    raise UserInputError(f"trial {trial.number} has no checkpoint (no artifact, no local file)")


def _load_data(data_path: str, spec: dict, task: str, names: list[str]):
    """The file through the data layer; ``(dataset, labelled)``.

    Labels are looked for under the study's target, then under the names the
    checkpoint was trained with (a headed CSV needs them named; a headerless
    sequence file like c-CPP.txt names its label column itself). A file with
    none of them (new molecules to score) is read without labels.
    """
    from pepland_hpo.data.dataset import load_dataset

    extra = {"smiles_col": spec["smiles_col"]} if spec.get("smiles_col") else {}
    candidates: list[str | None] = []
    for target in (spec.get("target"), ",".join(names) if names else None, None):
        if target not in candidates:
            candidates.append(target)
    first_error: UserInputError | None = None
    for target in candidates:
        try:
            ds = load_dataset(data_path, **({"target": target} if target else {}), task=task, **extra)
        except UserInputError as exc:
            first_error = first_error or exc
            continue
        targets = np.asarray(getattr(ds, "targets", np.zeros((len(ds), 0))))
        if targets.ndim == 2 and targets.shape[1] == len(names) > 0:
            return ds, True
    try:
        # no label column: read the molecules only (a task needs labels, so leave it out)
        return load_dataset(data_path, **extra), False
    except UserInputError:
        if first_error is not None:
            raise first_error from None
        raise


def load_model_inputs(data_path: str, spec: dict, meta: dict, model, task: str | None, names: list[str],
                      protein_col: str | None = None, protein_embeddings: str | None = None):
    """The file read the way the model's training data was; ``(dataset, labelled)``.

    A pair model (the study's ``pair`` section, or ``protein_col``) gets each row's
    protein as well (:mod:`._pair_predict`). An empty result is exit 2."""
    pair = pair_of(spec, meta)
    if pair is not None or protein_col:
        protein_input = str(getattr(getattr(model, "config", None), "protein_encoder", "none"))
        ds, labelled = load_pair_data(data_path, spec, pair or {}, task, names, protein_input,
                                      protein_col, protein_embeddings)
    else:
        ds, labelled = _load_data(data_path, spec, task, names)
    if len(ds) == 0:
        raise UserInputError(f"{data_path}: no valid molecule to predict")
    return ds, labelled


def _predict_unlabelled(model, data, task: str, device, scaler) -> np.ndarray:
    import torch

    from pepland_hpo.training.loaders import make_loader

    outs = []
    with torch.no_grad():
        for batch in make_loader(data, 256):
            outs.append(model(batch.to(device)).float().cpu())
    raw = torch.cat(outs).numpy()
    if task == "classification":
        return torch.sigmoid(torch.from_numpy(raw)).numpy()
    return scaler.inverse(raw) if scaler is not None else raw


def predict_with_trial(
    storage_url: str | None,
    study_name: str,
    trial_number: int,
    data_path: str | Path,
    out_csv: str | Path,
    device: str = "cpu",
    protein_col: str | None = None,
    protein_embeddings: str | None = None,
) -> dict[str, float] | None:
    """Write ``smiles, prediction_<target>..., label_<target>...`` to ``out_csv``.

    Returns the metrics when the file has the study's labels, else ``None``. A pair
    study's trial reads the protein of each row from the study's protein column
    (``protein_col`` names another; ``._pair_predict``) and adds a ``protein`` column.
    """
    import pandas as pd

    from optuna.trial import TrialState

    from pepland_hpo.hpo.analysis import open_study
    from pepland_hpo.training.checkpoints import load_checkpoint
    from pepland_hpo.training.device import resolve_device
    from pepland_hpo.training.targets import TargetScaler
    from pepland_hpo.training.evaluation import predict as loop_predict
    from pepland_hpo.training.metrics import compute_metrics

    study = open_study(storage_url, study_name)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if trial_number not in trials:
        raise UserInputError(f"study {study_name!r} has no trial {trial_number} (0..{max(trials, default=-1)})")
    trial = trials[trial_number]
    if trial.state != TrialState.COMPLETE:
        raise UserInputError(f"trial {trial_number} is {trial.state.name}, not COMPLETE: it has no best checkpoint")
    dev = resolve_device(device)
    with tempfile.TemporaryDirectory() as tmp:
        path = fetch_checkpoint(trial, Path(tmp))
        model, meta = load_checkpoint(path, map_location=dev)
    spec: dict[str, Any] = dict(study.user_attrs.get("spec") or {})
    task = meta.get("task") or spec.get("task")
    names = [str(n) for n in (meta.get("target_names") or ["y"])]
    scaler = TargetScaler.from_dict(meta.get("target_scaler"))
    ds, labelled = load_model_inputs(str(data_path), spec, meta, model, task, names, protein_col,
                                     protein_embeddings)
    metrics = None
    if labelled:
        # bf16/fp16 only where the trial could have used it; CPU evaluation stays fp32
        precision = (meta.get("train_config") or {}).get("precision", "fp32") if dev.type == "cuda" else "fp32"
        y_true, y_pred, _ = loop_predict(model, ds, task, dev, 256, scaler, precision)
        metrics = compute_metrics(task, y_true, y_pred)
    else:
        y_pred = _predict_unlabelled(model, ds, task, dev, scaler)
        y_true = None
    y_pred = np.asarray(y_pred).reshape(len(ds), -1)
    frame = pd.DataFrame({"smiles": list(ds.smiles)})
    if hasattr(ds, "proteins"):
        frame["protein"] = list(ds.proteins)
    for j, name in enumerate(names):
        frame[f"prediction_{name}"] = y_pred[:, j]
    if y_true is not None:
        y_true = np.asarray(y_true).reshape(len(ds), -1)
        for j, name in enumerate(names):
            frame[f"label_{name}"] = y_true[:, j]
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return metrics


__all__ = ["fetch_checkpoint", "load_model_inputs", "predict_with_trial"]
