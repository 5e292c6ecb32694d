"""What the benchmark scripts share: where the real data lies, JSON-lines output, a balanced c-CPP slice."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEPLAND_DATA = REPO.parent / "shared" / "datasets" / "pepland"


def emit(metric: str, value, **extra) -> None:
    """One benchmark result: a JSON object on its own line."""
    print(json.dumps({"metric": metric, "value": value, **extra}), flush=True)


def balanced_slice(src: Path, n: int, out: Path) -> Path:
    """The first ``n // 2`` positives and ``n - n // 2`` negatives of a headerless ``sequence,label`` file.

    c-CPP lists its positives first, so its first ``n`` lines would hold one class only.
    """
    lines = [line for line in src.read_text().splitlines() if line.strip()]
    half = n // 2
    pos = [x for x in lines if x.endswith(",1")][:half]
    neg = [x for x in lines if x.endswith(",0")][: n - half]
    out.write_text("\n".join(pos + neg) + "\n")
    return out
