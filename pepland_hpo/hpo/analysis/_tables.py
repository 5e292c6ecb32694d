"""The ablation report as one flat table (``report.csv``): one line per row, every metric
with its interval, every comparison with raw and Holm-adjusted p, and the per-run values.

A tuned ablation adds two last columns, ``tuned_params`` (the configuration a
variant's runs used, as JSON with the exact values) and ``tuned_from`` (the
tuning trial it came from); an untuned ablation's columns are unchanged."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the report is only read here; _ablation imports this module
    from pepland_hpo.hpo.analysis._ablation import AblationReport

NAN = float("nan")


def _cell_key(cell: tuple[int, int]) -> str:
    return f"split{cell[0]}/seed{cell[1]}"


def _tuning_columns(summary: dict[str, Any], row) -> dict[str, Any]:
    """A variant row's chosen configuration; empty for references, ensembles and a variant whose
    tuning chose nothing (every tuning trial failed or was pruned)."""
    chosen = summary["variants"].get(row.variant) if row.kind == "variant" else None
    if not chosen or chosen.get("best_trial") is None:
        return {"tuned_params": "", "tuned_from": ""}
    return {"tuned_params": json.dumps(chosen["params"], sort_keys=True), "tuned_from": int(chosen["best_trial"])}


def ablation_frame(report: AblationReport):
    import pandas as pd

    records = []
    for row in report.all_rows():
        rec: dict[str, Any] = {"variant": row.variant, "kind": row.kind, "n": row.n_done, "n_planned": row.n_planned,
                               "n_splits": len({c[0] for c in row.cells}), "evidence": report.evidence}
        rec["val_mean"], rec["val_sd"] = row.val_mean, row.val_sd
        main = row.test.get(report.metric)
        rec["test_mean"] = main.value if main else NAN
        rec["test_ci_low"] = main.low if main else NAN
        rec["test_ci_high"] = main.high if main else NAN
        for m in report.metrics:
            est = row.test.get(m)
            rec[f"test_{m}"] = est.value if est else NAN
            rec[f"test_{m}_ci_low"] = est.low if est else NAN
            rec[f"test_{m}_ci_high"] = est.high if est else NAN
        for name in ("baseline", "previous", "reference"):
            d = getattr(row, f"vs_{name}")
            rec[f"diff_vs_{name}"] = d.diff if d else NAN
            rec[f"diff_vs_{name}_ci_low"] = d.low if d else NAN
            rec[f"diff_vs_{name}_ci_high"] = d.high if d else NAN
            rec[f"p_vs_{name}"] = d.p if d else NAN
            rec[f"p_holm_vs_{name}"] = d.p_adjusted if d else NAN
            rec[f"n_vs_{name}"] = d.n_cells if d else 0
        rec["param_count"] = row.param_count
        rec["epochs"] = row.epochs
        rec["pretrain_epochs"] = row.pretrain_epochs
        rec["seconds_per_trial"] = row.seconds_per_trial
        rec["total_seconds"] = row.total_seconds
        rec["thresholds"] = " ".join(f"{t:.3f}" for t in row.thresholds)
        # the per-run (split, seed) values of the study metric, and of every metric as JSON
        rec["per_run"] = " ".join(f"{_cell_key(c)}={v.get(report.metric, NAN):.4f}" for c, v in sorted(row.cells.items()))
        rec["per_run_json"] = json.dumps({_cell_key(c): {m: (x if math.isfinite(x) else None) for m, x in v.items()}
                                          for c, v in sorted(row.cells.items())})
        rec["flags"] = "; ".join(row.flags)
        rec["failures"] = "; ".join(f"{k}: {v}" for k, v in sorted(row.failures.items()))
        if report.tuning is not None:
            rec.update(_tuning_columns(report.tuning, row))
        records.append(rec)
    return pd.DataFrame.from_records(records)


__all__ = ["ablation_frame"]
