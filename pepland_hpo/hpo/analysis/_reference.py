"""The references every ablation is measured against: feature sets + one model.

A reference is a named feature function (SMILES -> ``[n, d]`` matrix) fed to
one model, scikit-learn's histogram gradient boosting; :data:`REFERENCES`
lists them, the first is the primary one every variant's "Δ vs reference" and
"variant ⊕ reference" rows use, and adding a feature set is one
:func:`register` line. The primary one: Morgan count fingerprints (radius 2 = ECFP4, 2048 bits, counts rather than
bits) fed to scikit-learn's histogram gradient boosting. In an independent
peptide benchmark this simple model out-ranked PepLand and the pretrained
language models on binding and CPP tasks, so a graph variant that does not
beat it has not earned its cost; the report puts it on every table and plot.
The second one is residue composition (20 residue counts, non-canonical
fragments, length, read off the fragment view so that SMILES with modified
residues work too): the first baseline a peptide researcher tries.

It is trained on exactly the split stored with the study (train rows only; a split
whose parts overlap is refused by :func:`~pepland_hpo.data.splits._check.check_partition`),
scored on the same validation and test rows with the same
:func:`~pepland_hpo.training.metrics.compute_metrics` as the graph models, once
per study split and seed (``random_state=seed``), and keeps its per-molecule
predictions in the same encoding trials store (:mod:`pepland_hpo.hpo.analysis._evidence`),
so the report's bootstrap treats it exactly like a variant. Results are cached
on disk, keyed by what determines them (reference, data hash, split indices,
task, targets, seed, versions), so rerunning a report costs nothing and a
re-created study with a different split can never read a stale entry.

Note: without early stopping (scikit-learn only turns it on above 10,000
samples) HGB is deterministic, so its seed-to-seed spread is usually zero; the
seeds are kept so the reference pairs with the variants seed by seed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Mapping, Sequence

import numpy as np

from pepland_hpo import paths
from pepland_hpo.data import FP_RADIUS, FP_SIZE
from pepland_hpo.data.composition import composition_features
from pepland_hpo.data.splits import check_partition

REFERENCE_VERSION = 3  # bump when the model or the cached entry changes so caches are not reused
REFERENCE_THREADS = 1


def morgan_counts(smiles: Sequence[str]) -> np.ndarray:
    """``[n, FP_SIZE]`` float32 Morgan count fingerprints; unparsable SMILES give a zero row."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")  # the data layer already reported bad rows
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_SIZE)
    out = np.zeros((len(smiles), FP_SIZE), dtype=np.float32)
    for i, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(smi)
        if mol is not None:
            out[i] = gen.GetCountFingerprintAsNumPy(mol)
    return out


@dataclass(frozen=True)
class Reference:
    name: str  # short key (cache, CSV)
    label: str  # how the report names the row
    features: Callable[[Sequence[str]], np.ndarray]
    description: str


REFERENCES: dict[str, Reference] = {}


def register(name: str, label: str, features: Callable[[Sequence[str]], np.ndarray], description: str = "") -> None:
    """Add a reference row: ``features(smiles) -> [n, d]`` + histogram gradient boosting."""
    REFERENCES[name] = Reference(name, label, features, description)


register("ecfp4", "reference (ECFP4 counts + HGB)", morgan_counts,
         f"Morgan count fingerprint (radius {FP_RADIUS}, {FP_SIZE} bits)")
# The first baseline a peptide researcher tries, and the one a fragment-aware model must beat.
register("composition", "reference (residue composition + HGB)", composition_features,
         "counts of the 20 canonical residues, non-canonical fragments and length, from the fragment view")

PRIMARY = "ecfp4"
REFERENCE_LABEL = REFERENCES[PRIMARY].label


def _as_2d(targets) -> np.ndarray:
    y = np.asarray(targets, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


def fit_and_predict(
    X: np.ndarray, y: np.ndarray, task: str, train: np.ndarray, seed: int
) -> np.ndarray:
    """Fit one HGB per target on ``train`` rows and predict every row.

    Classification returns P(class 1), the same quantity the graph models'
    metrics are computed from.
    """
    from threadpoolctl import threadpool_limits

    y = _as_2d(y)
    preds = np.zeros(y.shape, dtype=np.float64)
    # One OpenMP thread: the report runs beside workers, and HGB's OpenMP threads
    # spin-wait badly when cores are busy (c-CPP, 2 loaded cores: 4 s with 1
    # thread, 51 s with 2).
    with threadpool_limits(limits=REFERENCE_THREADS):
        for t in range(y.shape[1]):
            rows = train[np.isfinite(y[train, t])]  # missing labels do not train
            preds[:, t] = _fit_one(X, y[rows, t], rows, task, seed)
    return preds


def _fit_one(X: np.ndarray, yt: np.ndarray, rows: np.ndarray, task: str, seed: int) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if len(rows) == 0:
        return np.full(len(X), np.nan)
    # Bits constant on the training rows (most of the 2048 for peptides) fall into a
    # single histogram bin and can never be split on, so dropping them leaves the
    # model unchanged and makes it ~8x cheaper.
    Xt = X[rows]
    cols = np.flatnonzero(Xt.max(axis=0) != Xt.min(axis=0))
    if task == "classification":
        classes = np.unique(yt)
        if len(classes) < 2 or len(cols) == 0:  # nothing to learn: the training prior is the honest guess
            return np.full(len(X), float(np.mean(yt)))
        model = HistGradientBoostingClassifier(random_state=seed)
        model.fit(Xt[:, cols], yt.astype(int))
        return model.predict_proba(X[:, cols])[:, list(model.classes_).index(1)]
    if len(cols) == 0:
        return np.full(len(X), float(np.mean(yt)))
    model = HistGradientBoostingRegressor(random_state=seed)
    model.fit(Xt[:, cols], yt)
    return model.predict(X[:, cols])


def _cache_key(data_hash: str, task: str, split: Mapping[str, Sequence[int]], targets: np.ndarray, seed: int,
               reference: str = PRIMARY) -> str:
    import sklearn

    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "version": REFERENCE_VERSION,
                "reference": reference,
                "sklearn": sklearn.__version__,
                "data_hash": data_hash,
                "task": task,
                "seed": int(seed),
                "split": {k: [int(i) for i in split[k]] for k in ("train", "valid", "test")},
            },
            sort_keys=True,
        ).encode()
    )
    # the labels themselves, so a different target column of the same file is a different entry
    h.update(np.ascontiguousarray(_as_2d(targets), dtype=np.float64).tobytes())
    return h.hexdigest()[:32]


def reference_cache_dir() -> Path:
    return paths.cache_dir() / "reference"


def reference_results(
    smiles: Sequence[str],
    targets,
    task: str,
    splits: Mapping[Hashable, Mapping[str, Sequence[int]]],
    data_hash: str,
    cache_dir: Path | None = None,
    reference: str = PRIMARY,
    seed_of: Callable[[Hashable], int] | None = None,
    extra_features: np.ndarray | None = None,
) -> dict[Hashable, dict]:
    """Train and score one reference per cell; ``splits`` maps a cell (a seed, or a
    ``(split repeat, seed)`` pair) to its split, ``seed_of(cell)`` gives the model's seed
    (default: the cell itself, or its last element).

    Returns ``{cell: {"val_metrics": {...}, "test_metrics": {...}, "predictions": <evidence>,
    "seconds": s, "cached": bool}}``. Features are only computed when some cell misses the cache.
    ``extra_features`` ``[n, d]`` (a pair's protein composition) are concatenated to every row's.
    """
    from pepland_hpo.hpo.analysis._evidence import encode_predictions
    from pepland_hpo.training.metrics import compute_metrics

    ref = REFERENCES[reference]
    seed_of = seed_of or (lambda cell: int(cell[-1]) if isinstance(cell, tuple) else int(cell))
    cache = Path(cache_dir) if cache_dir is not None else reference_cache_dir()
    y = _as_2d(targets)
    out: dict[Hashable, dict] = {}
    X = None
    for cell, split in splits.items():
        # a leaky split would score the reference on its own training rows (0.97 test AUROC where the
        # leak-free reading of the same benchmark gives 0.33): refused, like every path that trains
        check_partition(None, split, len(smiles), source=f"reference {reference}, split of {cell}",
                        required=("train",))
        seed = seed_of(cell)
        key = _cache_key(data_hash, task, split, y, seed, reference)
        if extra_features is not None:  # the same rows with the protein beside them are another entry
            extra_digest = hashlib.sha256(np.ascontiguousarray(extra_features, dtype=np.float32).tobytes())
            key = hashlib.sha256(f"{key}:{extra_digest.hexdigest()}".encode()).hexdigest()[:32]
        path = cache / f"{key}.json"
        if path.is_file():
            try:
                entry = json.loads(path.read_text())
                entry["cached"] = True
                out[cell] = entry
                continue
            except (OSError, ValueError):
                pass  # a torn write by a concurrent report: recompute and overwrite
        if X is None:
            X = np.asarray(ref.features(smiles), dtype=np.float32)
            if extra_features is not None:
                X = np.concatenate([X, np.asarray(extra_features, dtype=np.float32)], axis=1)
        t0 = time.perf_counter()
        train = np.asarray(split["train"], dtype=np.int64)
        preds = fit_and_predict(X, y, task, train, int(seed))
        entry = {"seconds": time.perf_counter() - t0}
        parts = {}
        for part, key in (("valid", "val_metrics"), ("test", "test_metrics")):
            idx = np.asarray(split[part], dtype=np.int64)
            if len(idx):
                entry[key] = compute_metrics(task, y[idx], preds[idx])
                parts[part] = (idx, y[idx], preds[idx])
        entry["predictions"] = encode_predictions(parts)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{time.time_ns()}.tmp")
        tmp.write_text(json.dumps(entry))
        tmp.replace(path)  # atomic, so a reader never sees half a file
        entry["cached"] = False
        out[cell] = entry
    return out


__all__ = ["PRIMARY", "REFERENCES", "REFERENCE_LABEL", "Reference", "fit_and_predict", "morgan_counts", "reference_results",
           "register"]
