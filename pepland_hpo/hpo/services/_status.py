"""`pepland-hpo status`: progress, failures, compute spent, ETA, and what runs where.

Collecting the status also reaps stale trials (workers that died without a
heartbeat), so zombies are failed and their retries queued even when every
worker is gone — Optuna itself only does that when a worker starts a trial.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from typing import Any

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.study import lost_pairs, trial_identity
from pepland_hpo.hpo.queue import mask_url, open_storage, resolve_url

_STATES = ("WAITING", "RUNNING", "COMPLETE", "PRUNED", "FAIL")


def _variant(trial):
    ident = trial_identity(trial)
    return ident.variant if ident else trial.user_attrs.get("variant")


def _seconds(trial) -> float | None:
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def _study_status(study, rdb, reap: bool) -> dict[str, Any]:
    from pepland_hpo.hpo.queue import reap_stale
    from pepland_hpo.hpo.study import StudySpec

    attrs = study.user_attrs
    spec = StudySpec.from_dict(attrs["spec"]) if "spec" in attrs else None
    reaped: list[int] = []
    if reap and spec is not None:
        reaped = reap_stale(rdb.get_study_id_from_name(study.study_name), rdb, spec.max_worker_losses)
    tuned = spec is not None and bool(spec.tune)
    if tuned and reap:
        from pepland_hpo.hpo.study import advance as advance_tuning, best_for_status, describe_progress, progress as tuning_progress

        # a writer already: queue the seeds of variants whose tuning is over, if no worker did
        # (before counting, so the counts and the ETA include what this queues)
        advance_tuning(study, rdb)
    trials = study.get_trials(deepcopy=False)
    by_state = Counter(t.state.name for t in trials)
    reasons = Counter(
        str(t.user_attrs["failure_reason"]) for t in trials
        if t.state.name == "FAIL" and "failure_reason" in t.user_attrs
    )
    durations = [d for d in (_seconds(t) for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")) if d]
    finished_ok = [d for d in (_seconds(t) for t in trials if t.state.name in ("COMPLETE", "PRUNED")) if d]
    now = _dt.datetime.now()
    running = []
    for t in trials:
        if t.state.name != "RUNNING":
            continue
        running.append({
            "trial": t.number,
            "worker": t.user_attrs.get("worker"),
            "host": t.user_attrs.get("host"),
            "gpu": t.user_attrs.get("gpu"),
            "device": t.user_attrs.get("device"),
            "variant": (ident := trial_identity(t)) and ident.variant,
            "seed": ident and ident.seed,
            "split": ident and ident.split_repeat,
            "epoch": max(t.intermediate_values) if t.intermediate_values else 0,
            "running_s": (now - t.datetime_start).total_seconds() if t.datetime_start else None,
        })
    best_value = None
    best_trial = None
    best_stage = None
    multi = len(study.directions) > 1
    try:
        if by_state.get("COMPLETE") and not multi and not tuned:  # multi-objective: a front, not one best
            best = study.best_trial
            best_value, best_trial = best.value, best.number
    except ValueError:
        pass
    stages: dict[str, str] = {}
    if tuned:
        from pepland_hpo.hpo.study import advance as advance_tuning, best_for_status, describe_progress, progress as tuning_progress

        stages = {v: describe_progress(p) for v, p in tuning_progress(trials, attrs["spec"]).items()}
        if not multi:
            best, best_stage = best_for_status(trials, study.direction.name.lower())
            if best is not None:
                best_value, best_trial = best.value, best.number
    waiting = by_state.get("WAITING", 0)
    workers = len({r["worker"] for r in running if r["worker"]}) or len(running)
    eta_s = None
    if finished_ok and workers:
        # Variants differ in cost by 10x or more (gcn vs a transformer), so a trial is
        # expected to take what finished trials of its variant took; a variant with none
        # finished yet is taken to cost as much as the costliest finished variant, and at
        # least what its running trials have already spent.
        per_variant: dict[Any, list[float]] = {}
        for t in trials:
            d = _seconds(t) if t.state.name in ("COMPLETE", "PRUNED") else None
            if d:
                per_variant.setdefault(_variant(t), []).append(d)
        overall = sum(finished_ok) / len(finished_ok)

        def expected(variant) -> float:
            if variant in per_variant:
                return sum(per_variant[variant]) / len(per_variant[variant])
            spent = [r["running_s"] or 0.0 for r in running if r["variant"] == variant]
            return max([overall, *spent, *(sum(v) / len(v) for v in per_variant.values())])

        queued = sum(expected(_variant(t)) for t in trials if t.state.name == "WAITING")
        left_running = sum(max(0.0, expected(r["variant"]) - (r["running_s"] or 0.0)) for r in running)
        eta_s = (queued + left_running) / workers
    elif waiting == 0 and not running:
        eta_s = 0.0
    return {
        "name": study.study_name,
        "kind": attrs.get("kind"),
        "direction": ",".join(d.name.lower() for d in study.directions),
        "metric": spec.metric if spec else None,
        "states": {s: by_state.get(s, 0) for s in _STATES},
        "total": len(trials),
        "best_value": best_value,
        "best_trial": best_trial,
        "best_stage": best_stage,  # tuned ablation: "final" (a seed run) or "tune" (no seed run complete yet)
        "failure_reasons": dict(reasons),
        "compute_seconds": float(sum(durations)),
        "mean_trial_seconds": (sum(finished_ok) / len(finished_ok)) if finished_ok else None,
        "live_workers": workers,
        "eta_seconds": eta_s,
        "running": running,
        "reaped": reaped,
        "stages": stages,  # tuned ablation: per variant "tuning k/N", "seeds d/M" or "done d/M"
        "front_size": len(study.best_trials) if multi and by_state.get("COMPLETE") else None,
        # ablation pairs whose every attempt failed: the comparison will miss them until re-queued
        "lost_pairs": lost_pairs(trials) if attrs.get("kind") == "ablation" else [],
    }


def collect_status(storage_url: str | None = None, study_name: str | None = None, reap: bool = True) -> dict:
    """Status of one study (or all): ``{"storage": masked url, "studies": [...]}``."""
    import optuna

    url = resolve_url(storage_url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = open_storage(url)
    try:
        names = [s.study_name for s in rdb.get_all_studies()]
        if study_name is not None:
            if study_name not in names:
                raise UserInputError(f"no study named {study_name!r} (studies: {', '.join(names) or 'none'})")
            names = [study_name]
        studies = [
            _study_status(optuna.load_study(study_name=name, storage=rdb), rdb, reap) for name in names
        ]
    finally:
        rdb.remove_session()
        rdb.engine.dispose()
    return {"storage": mask_url(url), "studies": studies}


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def render_status(status: dict, console) -> None:
    from rich.table import Table

    console.print(f"storage: {status['storage']}", highlight=False)
    if not status["studies"]:
        console.print("no study yet: `pepland-hpo create ablation --data FILE`")
        return
    table = Table(title="studies")
    for col in ("study", "kind", *[s.lower() for s in _STATES], "best", "compute", "ETA", "failures"):
        table.add_column(col)
    for st in status["studies"]:
        best = "-" if st["best_value"] is None else f"{st['best_value']:.4f} (#{st['best_trial']}, {st['metric']})"
        if st.get("best_stage") == "tune" and st["best_value"] is not None:
            best = f"{st['best_value']:.4f} (#{st['best_trial']}, {st['metric']}, tuning trial: no seed run yet)"
        if st.get("front_size"):
            best = f"Pareto front of {st['front_size']} trial(s)"
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(st["failure_reasons"].items())) or "-"
        table.add_row(
            st["name"], str(st["kind"]), *[str(st["states"][s]) for s in _STATES], best,
            _fmt_seconds(st["compute_seconds"]), _fmt_seconds(st["eta_seconds"]), fails,
        )
    console.print(table)
    for st in status["studies"]:
        if st.get("stages"):
            stage_table = Table(title=f"{st['name']}: stages")
            stage_table.add_column("variant")
            stage_table.add_column("stage")
            for variant, text in st["stages"].items():
                stage_table.add_row(variant, text)
            console.print(stage_table)
    running = [(st["name"], r) for st in status["studies"] for r in st["running"]]
    if running:
        rt = Table(title="running trials")
        for col in ("study", "trial", "variant", "split", "seed", "epoch", "worker", "host", "gpu", "running"):
            rt.add_column(col)
        for name, r in running:
            rt.add_row(name, str(r["trial"]), str(r["variant"]), str(r.get("split")), str(r["seed"]), str(r["epoch"]),
                       str(r["worker"]), str(r["host"]), str(r["gpu"]), _fmt_seconds(r["running_s"]))
        console.print(rt)
    for st in status["studies"]:
        for pair in st.get("lost_pairs") or []:
            console.print(f"{st['name']}: {pair['variant']} seed {pair['seed']} split {pair['split']} can no longer "
                          f"complete (trials {', '.join(map(str, pair['trials']))}: {pair['reason']}); "
                          "`pepland-hpo create ... --retry-failed` queues it again", highlight=False)
        if st["reaped"]:
            console.print(f"{st['name']}: failed stale trial(s) {st['reaped']} (worker lost) and queued them "
                          "again to resume (no retry spent)")


__all__ = ["collect_status", "render_status"]
