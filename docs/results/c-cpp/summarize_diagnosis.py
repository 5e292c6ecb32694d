"""Table of diagnosis_runs.jsonl: mean (and per-seed) validation / test AUROC per named run.

    python docs/results/c-cpp/summarize_diagnosis.py
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

runs = defaultdict(list)
for line in (Path(__file__).parent / "diagnosis_runs.jsonl").read_text().splitlines():
    r = json.loads(line)
    runs[(r["name"], r["split"])].append(r)
print("| run | split | seeds | val AUROC (mean) | test AUROC (mean) | per seed val / test | best epoch | s/run | params |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (name, split), rs in runs.items():
    rs.sort(key=lambda r: r["seed"])
    val = statistics.mean(r["val_auroc"] for r in rs)
    test = statistics.mean(r["test_auroc"] for r in rs)
    per = ", ".join(f"{r['val_auroc']:.3f}/{r['test_auroc']:.3f}" for r in rs)
    print(f"| {name} | {split} | {len(rs)} | {val:.4f} | {test:.4f} | {per} | "
          f"{','.join(str(r['best_epoch']) for r in rs)} | {statistics.mean(r['seconds'] for r in rs):.0f} | "
          f"{rs[0]['params']} |")
