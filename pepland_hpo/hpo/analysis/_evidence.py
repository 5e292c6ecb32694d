"""Per-molecule predictions a trial (or the reference) leaves behind, stored compactly.

Every statistic of the report is recomputed from these: a bootstrap over test
molecules needs each molecule's label and prediction, not a trial's summary
metric. One finished trial stores one user attribute, :data:`PREDICTIONS_ATTR`, holding
for the validation and the test part the molecules' row indices in the study's
data, their labels and the model's predictions (probabilities of class 1 for
classification, values in the target's units for regression), as
little-endian int32 / float32 arrays in base64 inside a small JSON object.
At c-CPP's size (232 + 232 molecules) that is 7.6 KB, less than half the same
numbers written as JSON text, and it stays readable from any language.

float32 keeps seven significant digits: far below any difference a bootstrap
over a few hundred molecules can resolve.

>>> import numpy as np
>>> enc = encode_predictions({"test": (np.array([3, 7]), np.array([1.0, 0.0]), np.array([0.9, 0.2]))})
>>> part = decode_predictions(enc)["test"]
>>> part.index.tolist(), part.true[:, 0].tolist(), [round(x, 3) for x in part.pred[:, 0]]
([3, 7], [1.0, 0.0], [0.9, 0.2])
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

PREDICTIONS_ATTR = "predictions"  # the trial user attribute
FORMAT = "pepland-predictions/1"
PARTS = ("valid", "test")


@dataclass(frozen=True)
class Part:
    """One part's molecules: ``index`` [n] rows of the study's data, ``true``/``pred`` [n, targets]."""

    index: np.ndarray
    true: np.ndarray
    pred: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def _b64(arr: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def _2d(values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return arr[:, None] if arr.ndim == 1 else arr


def encode_predictions(parts: Mapping[str, tuple[Any, Any, Any]]) -> dict[str, Any]:
    """``{"valid": (index, true, pred), "test": ...}`` (tuples, or mappings with those keys)
    -> a JSON-safe dict, the attribute's value."""
    out: dict[str, Any] = {"format": FORMAT}
    for name, value in parts.items():
        index, true, pred = (value["index"], value["true"], value["pred"]) if isinstance(value, Mapping) else value
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        y, p = _2d(true), _2d(pred)
        if not (len(idx) == len(y) == len(p)) or y.shape != p.shape:
            raise ValueError(f"predictions[{name}]: index {idx.shape}, true {y.shape}, pred {p.shape} disagree")
        out[name] = {
            "n": int(len(idx)),
            "targets": int(y.shape[1]),
            "index": _b64(idx, "<i4"),
            "true": _b64(y, "<f4"),
            "pred": _b64(p, "<f4"),
        }
    return out


def decode_predictions(value: Any) -> dict[str, Part] | None:
    """The stored attribute back as ``{part: Part}``; ``None`` when absent or unreadable."""
    if not isinstance(value, Mapping) or value.get("format") != FORMAT:
        return None
    out: dict[str, Part] = {}
    try:
        for name in PARTS:
            if name not in value:
                continue
            d = value[name]
            n, t = int(d["n"]), int(d["targets"])
            out[name] = Part(
                index=_unb64(d["index"], "<i4").astype(np.int64),
                true=_unb64(d["true"], "<f4").astype(np.float64).reshape(n, t),
                pred=_unb64(d["pred"], "<f4").astype(np.float64).reshape(n, t),
            )
    except (KeyError, TypeError, ValueError):
        return None
    return out


def trial_predictions(user_attrs: Mapping[str, Any]) -> dict[str, Part] | None:
    return decode_predictions(user_attrs.get(PREDICTIONS_ATTR))


__all__ = ["PREDICTIONS_ATTR", "Part", "decode_predictions", "encode_predictions", "trial_predictions"]
