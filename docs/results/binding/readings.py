"""Two readings of the binding studies that the report does not print, from what the studies stored.

1. Binder AUROC: the training plan's target is "binding AUROC > 0.85". The studies are
   regressions on affinity (-log10 M); a regression's prediction ranks pairs, so the AUROC of
   the predicted affinity against "binder" (true affinity >= 6, i.e. <= 1 uM) on the test pairs
   is a classification reading of the same models, with no extra training.
2. What the protein adds to the references: ECFP4 counts + HGB with and without the protein's
   residue + dipeptide composition, on the same unseen-protein splits (the issue's figures are
   0.496 peptide-only / 0.596 with the protein on IBM's random partition).

Intervals: 95 % percentile bootstrap over the test pairs of every split, pooled (2,000 resamples,
seed 0). Run from the repository root, after run.sh:

    PEPLAND_HPO_HOME=storage/binding .venv/bin/python docs/results/binding/readings.py
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from pepland_hpo.hpo.analysis import (decode_predictions, load_study_data, open_study, reference_results,
                                     trial_predictions)
from pepland_hpo.hpo.study import study_splits

BINDER = 6.0
RESAMPLES = 2000


def _interval(true: np.ndarray, pred: np.ndarray, metric) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    values = []
    for _ in range(RESAMPLES):
        pick = rng.integers(0, len(true), len(true))
        if len(set(true[pick] >= BINDER)) == 2:
            values.append(metric(true[pick], pred[pick]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return metric(true, pred), lo, hi


def _auroc(true, pred):
    return roc_auc_score(true >= BINDER, pred)


def _spearman(true, pred):
    return spearmanr(true, pred).statistic


def _line(name: str, true: np.ndarray, pred: np.ndarray) -> str:
    cells = []
    for metric in (_auroc, _spearman):
        est, lo, hi = _interval(true, pred, metric)
        cells.append(f"{est:.3f} [{lo:.3f}, {hi:.3f}]")
    return f"| {name} | {len(true)} | {cells[0]} | {cells[1]} |"


def main(study_names: list[str]) -> None:
    print("| model | test pairs (pooled) | binder AUROC (affinity >= 6) | test Spearman |")
    print("| --- | --- | --- | --- |")
    for name in study_names:
        study = open_study(None, name)
        spec = study.user_attrs["spec"]
        by_variant: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for t in study.get_trials(deepcopy=False):
            parts = trial_predictions(t.user_attrs) if t.state.name == "COMPLETE" else None
            if parts and "test" in parts:
                by_variant.setdefault(t.user_attrs["variant"], []).append((parts["test"].true[:, 0],
                                                                          parts["test"].pred[:, 0]))
        encoder = (spec.get("settings") or {}).get("protein_encoder", "composition")
        for variant, chunks in by_variant.items():
            true, pred = (np.concatenate(c) for c in zip(*chunks))
            print(_line(f"{name}: {variant} (protein encoder {encoder})", true, pred))
        if encoder == "none":
            continue
        ds, why = load_study_data(study, spec, spec.get("task") or "regression")
        if ds is None:
            sys.exit(f"{name}: cannot read its data: {why}")
        splits = {(r, 0): s for r, s in enumerate(study_splits(study.user_attrs))}
        for label, extra in (("ECFP4 counts + HGB, peptide only", None),
                             ("ECFP4 counts + protein composition + HGB", ds.protein_features)):
            results = reference_results(ds.smiles, ds.targets, "regression", splits, data_hash=ds.content_hash,
                                        extra_features=extra)
            chunks = []
            for entry in results.values():
                test = decode_predictions(entry["predictions"])["test"]
                chunks.append((test.true[:, 0], test.pred[:, 0]))
            true, pred = (np.concatenate(c) for c in zip(*chunks))
            print(_line(f"{name}: {label}", true, pred))


if __name__ == "__main__":
    main(sys.argv[1:] or ["c-binding-target", "c-binding-target-control"])
