"""Guides for design: callables ``texts → scores`` (higher is better).

* :func:`graph_model_guide`: trained property models of this package (an ablation's best
  checkpoint, or every seed of its best variant: the mean of their predictions), run on
  each peptide's molecule featurised exactly as training data is
  (:func:`pepland_hpo.data.featurize.featurize_mol`);
* :func:`composition_guide`: when no study is at hand, a gradient-boosting model on
  residue composition and global descriptors, fitted on the generator's training split.
  Its features differ from the oracle's fingerprints on purpose: a guide sharing the
  oracle's features and data would make the oracle's verdict meaningless.

A peptide that yields no molecule scores -1, below any model output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pepland_hpo.generation._descriptors import descriptor_table
from pepland_hpo.generation._evaluation import composition
from pepland_hpo.generation._oracle import one_thread
from pepland_hpo.generation._tokens import parse_sequence, tokens_to_mol


def _tokens(texts: Sequence[str]) -> list[list[str]]:
    return [parse_sequence(t) for t in texts]


def graph_model_guide(models: Sequence, task: str = "classification", scalers: Sequence | None = None,
                      device: str = "cpu", batch_size: int = 256) -> Callable[[list[str]], np.ndarray]:
    """The mean prediction of ``models`` (graph models from ``training.checkpoints.load_checkpoint``)."""
    import torch

    from pepland_hpo.data.featurize import featurize_mol
    from pepland_hpo.training.loaders import make_loader

    models = list(models)
    scalers = list(scalers) if scalers is not None else [None] * len(models)

    def guide(texts: list[str]) -> np.ndarray:
        decoded = [tokens_to_mol(t) for t in _tokens(texts)]
        ok = [i for i, d in enumerate(decoded) if d.valid]
        out = np.full(len(texts), -1.0)
        if not ok:
            return out
        graphs = [featurize_mol(decoded[i].mol) for i in ok]
        preds = []
        with torch.no_grad():
            for model, scaler in zip(models, scalers):
                model.eval()
                raw = torch.cat([model(b.to(device)).float().cpu() for b in make_loader(graphs, batch_size)])
                raw = raw[:, 0].numpy()
                if task == "classification":
                    raw = 1.0 / (1.0 + np.exp(-raw))
                elif scaler is not None:
                    raw = np.asarray(scaler.inverse(raw.reshape(-1, 1))).reshape(-1)
                preds.append(raw)
        out[ok] = np.mean(preds, axis=0)
        return out

    return guide


def composition_features(sequences) -> np.ndarray:
    """``[n, 24]``: residue fractions (20) and length, net charge, hydrophobicity, hydrophobic moment."""
    return np.hstack([composition(sequences), descriptor_table(sequences)])


def composition_guide(sequences, labels, task: str = "classification",
                      seed: int = 0) -> Callable[[list[str]], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    y = np.asarray(labels)
    with one_thread():
        if task == "classification":
            model = HistGradientBoostingClassifier(random_state=seed).fit(composition_features(sequences),
                                                                          y.astype(int))
        else:
            model = HistGradientBoostingRegressor(random_state=seed).fit(composition_features(sequences), y)

    def guide(texts: list[str]) -> np.ndarray:
        X = composition_features(_tokens(texts))
        with one_thread():
            return model.predict_proba(X)[:, 1] if task == "classification" else model.predict(X)

    return guide


__all__ = ["composition_features", "composition_guide", "graph_model_guide"]
