"""Writing a study and its queued trials into the storage, and nothing else.

Everything is validated first (spec, variants, settings, data, split) so a bad
command leaves no study behind. Running it again is idempotent: a (variant,
seed) pair already present in any state is not queued again, and a search's
budget is topped up only to ``n_trials``. ``replace=True`` deletes the study
first.

A search's budget is queued here as ``n_trials`` blank WAITING trials. Workers
only ever *claim* queued trials (atomically, see :mod:`.queue`), so the global
budget can never be overshot, however many workers run: the pitfall of
per-worker ``n_trials`` and of ``MaxTrialsCallback`` racing does not arise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.study import StudySpec, validate_spec
from pepland_hpo.hpo.queue import mask_url, open_storage, resolve_url

log = logging.getLogger(__name__)

# Spec fields that may change between two `create` runs of the same study
# (they only add trials); anything else changing means a different study.
_EXTENDABLE = {"variants", "seeds", "n_trials", "source", "max_retries", "max_worker_losses"}


@dataclass
class CreateResult:
    study_name: str
    enqueued: int
    already: int
    data_lines: list[str] = field(default_factory=list)  # what was read and inferred, for the user


# rows skipped, shown one per line; the rest are counted by reason
SHOW_SKIPPED = 5
_SKIP_KINDS = (("protein", "unusable protein"), ("target", "missing or bad label"), ("space", "space inside the molecule"),
               ("fields", "extra fields"), ("heavy atoms", "too large"), ("empty", "empty molecule field"))


def describe_data(spec: StudySpec, dataset, split: dict[str, list[int]],
                  split_lines: list[str] | None = None) -> list[str]:
    """What ``create`` read and inferred, in plain lines: file, task and why, labels, split, skipped rows.

    ``split_lines`` (given partitions: each one's name, sizes and balance) replace the one ``split:`` line;
    a generation study's are all its lines (peptides, not molecules: :mod:`pepland_hpo.hpo.study`)."""
    if spec.kind == "generation":
        return list(split_lines or [])
    lines = [f"data: {spec.data}: {len(dataset)} molecule(s) from {dataset.n_rows} row(s), "
             f"column {dataset.smiles_col!r}"]
    if getattr(dataset, "protein_col", None):
        encoder = spec.settings.get("protein_encoder") or "composition"
        lines[0] = (f"data: {spec.data}: {len(dataset)} peptide-protein pair(s) from {dataset.n_rows} row(s), "
                    f"peptides {dataset.smiles_col!r}, proteins {dataset.protein_col!r} "
                    f"({len(set(dataset.protein_ids.tolist()))} distinct; protein encoder {encoder})")
    lines += [f"  read: {note}" for note in dataset.notes]
    names = ", ".join(repr(n) for n in dataset.target_names)
    lines.append(f"task: {dataset.task} (target {names}; {dataset.task_reason})")
    if dataset.label_map:
        lines.append("  label mapping: " + ", ".join(f"{k} -> {v:g}" for k, v in dataset.label_map.items()))
    y = dataset.targets[:, 0]
    if dataset.task == "classification":
        named = dataset.class_names
        counts = [(v, int((y == v).sum())) for v in (0.0, 1.0)]
        lines.append("  class balance: " + ", ".join(
            f"{v:g}{' (' + named[str(int(v))] + ')' if str(int(v)) in named else ''}: {c} ({c / len(y):.0%})"
            for v, c in counts))
    elif len(y):
        lines.append(f"  labels: mean {float(np.mean(y)):.4g}, sd {float(np.std(y)):.4g}, "
                     f"range {float(np.min(y)):.4g} .. {float(np.max(y)):.4g}")
    if split_lines is not None:
        lines += split_lines
    else:
        lines.append(f"split: {spec.split.kind} (seed {spec.split.seed}): train {len(split['train'])}, "
                     f"valid {len(split['valid'])}, test {len(split['test'])}")
    skipped = dataset.invalid
    if skipped:
        by_reason: dict[str, int] = {}
        for r in skipped:
            key = next((label for word, label in _SKIP_KINDS if word in r.reason), "unparsable molecule")
            by_reason[key] = by_reason.get(key, 0) + 1
        summary = "; ".join(f"{n} {why}" for why, n in sorted(by_reason.items(), key=lambda kv: -kv[1]))
        lines.append(f"skipped: {len(skipped)} row(s) ({summary})")
        for r in skipped[:SHOW_SKIPPED]:
            text = r.text if len(r.text) <= 40 else r.text[:37] + "..."
            lines.append(f"  line {r.row}: {text!r}: {r.reason}")
        if len(skipped) > SHOW_SKIPPED:
            lines.append(f"  ... and {len(skipped) - SHOW_SKIPPED} more (`pepland-hpo data inspect {spec.data}` lists all)")
    else:
        lines.append("skipped: none")
    return lines


@dataclass
class StudySplits:
    """The splits a study trains on, in order; given partitions also have names and what was read."""

    splits: list[dict[str, list[int]]]
    names: list[str] | None = None  # given partitions only
    lines: list[str] | None = None  # given partitions: what create prints instead of the `split:` line


def _given_splits(spec: StudySpec, dataset) -> StudySplits:
    from pepland_hpo.data.formats import read_layout
    from pepland_hpo.data.splits import load_given
    from pepland_hpo.data.splits import parts_text

    given = spec.split.given()
    # a search trains on one partition (its trials are not repeats of a pair)
    one = None if spec.kind == "ablation" else "split.partitions (--partitions NAME): a search trains on one"
    partitions, notes = load_given(given, dataset, read_layout(spec.data, smiles_col=spec.smiles_col), one=one)
    lines = [f"split: given, {given.source()}: {len(partitions)} partition(s)"]
    lines += [f"  read: {note}" for note in notes]
    for p in partitions:
        lines.append(f"  partition {p.name!r}: {parts_text(p.split, dataset.targets, dataset.task)}")
        lines += [f"    {note}" for note in p.notes]
    return StudySplits([p.split for p in partitions], [p.name for p in partitions], lines)


def _pair_splits(spec: StudySpec, dataset) -> StudySplits:
    """Splits of pairs; the lines say how many held-out proteins also have a pair in training."""
    from pepland_hpo.data.pairs import grouping_note, make_pair_splits, shared_proteins

    proteins = list(dataset.proteins)
    identity = spec.split.protein_identity()
    splits = make_pair_splits(proteins, spec.split.kind, tuple(spec.split.fractions), seed=spec.split.seed,
                              repeats=spec.split.repeats, identity=identity)
    lines = []
    for r, s in enumerate(splits):
        shared = shared_proteins(s, proteins)
        name = f" repeat {r}" if len(splits) > 1 else ""
        lines.append(f"split: {spec.split.kind}{name} (seed {spec.split.seed + r}): train {len(s.train)}, "
                     f"valid {len(s.valid)}, test {len(s.test)}; held-out proteins also in train: "
                     f"valid {shared['valid']}, test {shared['test']}")
    if spec.split.kind == "target":
        lines.append(f"  {grouping_note(proteins, identity)}")
    return StudySplits([s.to_dict() for s in splits], lines=lines)


def _homology_splits(spec: StudySpec, dataset) -> StudySplits:
    from pepland_hpo.data.formats import read_layout
    from pepland_hpo.data.homology import homology_partitions
    from pepland_hpo.data.splits import parts_text

    homology = spec.split.homology()
    kept, dropped, notes = homology_partitions(homology, dataset, read_layout(spec.data, smiles_col=spec.smiles_col))
    if spec.kind != "ablation" and len(kept) > 1:
        raise UserInputError(f"split.thresholds: a search trains on one partition; {len(kept)} were made "
                             f"({', '.join(repr(p.name) for p in kept)}); give one threshold")
    dropped_text = f", {len(dropped)} dropped" if dropped else ""
    lines = [f"split: homology (seed {homology.seed}): {len(kept)} partition(s){dropped_text}"]
    lines += [f"  similarity: {note}" for note in notes]
    for p in kept:
        lines.append(f"  partition {p.name!r}: {parts_text(p.split, dataset.targets, dataset.task)}")
        lines += [f"    {note}" for note in p.notes]
    lines += [f"  partition {d.name!r} dropped (degenerate): {d.reason}" for d in dropped]
    return StudySplits([p.split for p in kept], [p.name for p in kept], lines)


def study_splits_of(spec: StudySpec, dataset) -> StudySplits:
    """Every split the study trains on: ``split.repeats`` made ones (repeat 0 first), or the given partitions."""
    if spec.kind == "generation":
        from pepland_hpo.hpo.study import describe_generation_data, generation_split

        split = generation_split(spec, len(dataset))
        return StudySplits([split], lines=describe_generation_data(spec, dataset, split))
    if spec.split.kind == "given":
        return _given_splits(spec, dataset)
    if spec.split.kind == "homology":
        return _homology_splits(spec, dataset)
    if spec.split.kind in ("target", "pair-random"):
        return _pair_splits(spec, dataset)
    from pepland_hpo.data.splits import make_splits

    labels = dataset.targets[:, 0] if dataset.targets.shape[1] else None
    splits = make_splits(
        list(dataset.smiles),
        labels,
        kind=spec.split.kind,
        fractions=tuple(spec.split.fractions),
        seed=spec.split.seed,
        repeats=spec.split.repeats,
    )
    return StudySplits([s.to_dict() for s in splits])


def compute_split(spec: StudySpec, dataset) -> list[dict[str, list[int]]]:
    """Every split the study trains on (``split.repeats`` of them, repeat 0 first; or the given partitions)."""
    return study_splits_of(spec, dataset).splits


def _comparable(spec_dict: dict[str, Any]) -> dict[str, Any]:
    # through the schema, so a study stored by an older version (settings as strings) compares by value
    try:
        spec_dict = StudySpec.from_dict(spec_dict).to_dict()
    except UserInputError:
        pass
    return {k: v for k, v in spec_dict.items() if k not in _EXTENDABLE}


def trial_pair(trial) -> tuple[str, int, int] | None:
    """The (variant, seed, split repeat) an ablation trial stands for (see :mod:`.identity`)."""
    from pepland_hpo.hpo.study import trial_identity

    ident = trial_identity(trial)
    return None if ident is None else (ident.variant, ident.seed, ident.split_repeat)


def _same_partitions(spec: StudySpec, attrs: dict[str, Any], made: StudySplits) -> None:
    """A second ``create`` of a study on given partitions must find the partitions it was made with."""
    from pepland_hpo.hpo.study import partition_names, study_splits

    if partition_names(attrs) != made.names or study_splits(attrs) != made.splits:
        raise UserInputError(
            f"study {spec.name!r} already exists with other partitions (split "
            f"{spec.split.given().source() if spec.split.kind == 'given' else spec.split.kind} "
            "changed since it was created); use --replace or another --name"
        )


def create_study_from_spec(storage_url: str | None, spec: StudySpec, replace: bool = False,
                           retry_failed: bool = False) -> CreateResult:
    """Write the study and queue what is missing. ``retry_failed``: a (variant, seed) whose
    trials all FAILED (say, a bug fixed since) is queued again; otherwise it counts as present."""
    import optuna

    dataset = validate_spec(spec)
    made = study_splits_of(spec, dataset)
    splits = made.splits
    split = splits[0]
    if min(min(len(s["train"]), len(s["valid"])) for s in splits) == 0:
        raise UserInputError(f"{spec.data}: too few molecules ({len(dataset)}) for a train/valid split")
    spec_dict = spec.to_dict()
    data_lines = describe_data(spec, dataset, split, made.lines)

    url = resolve_url(storage_url)
    storage = open_storage(url, create=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    existing = {s.study_name: s for s in storage.get_all_studies()}
    if spec.name in existing and replace:
        optuna.delete_study(study_name=spec.name, storage=storage)
        log.info("deleted study %s in %s (replace)", spec.name, mask_url(url))
        existing.pop(spec.name)
    if spec.name in existing:
        study = optuna.load_study(study_name=spec.name, storage=storage)
        attrs = study.user_attrs
        if attrs.get("kind") != spec.kind:
            raise UserInputError(
                f"study {spec.name!r} already exists as a {attrs.get('kind')} study; use --replace or another --name"
            )
        if attrs.get("data_hash") != dataset.content_hash:
            raise UserInputError(
                f"study {spec.name!r} already exists with different data ({spec.data} changed); "
                "use --replace or another --name"
            )
        old = _comparable(attrs.get("spec") or {})
        new = _comparable(spec_dict)
        if old != new:
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise UserInputError(
                f"study {spec.name!r} already exists with other settings ({', '.join(diff)}); "
                "use --replace or another --name"
            )
        if made.names is not None:
            _same_partitions(spec, attrs, made)
        # Remember the union of variants/seeds so status/report know the plan.
        if spec.kind == "ablation":
            merged = dict(attrs["spec"])
            merged["variants"] = list(dict.fromkeys(merged["variants"] + spec.variants))
            merged["seeds"] = list(dict.fromkeys(merged["seeds"] + spec.seeds))
            study.set_user_attr("spec", merged)
    else:
        if spec.objectives:
            from pepland_hpo.hpo.study import directions

            study = optuna.create_study(study_name=spec.name, storage=storage, directions=directions(spec))
        else:
            study = optuna.create_study(study_name=spec.name, storage=storage, direction=spec.direction)
        study.set_user_attr("kind", spec.kind)
        study.set_user_attr("data_hash", dataset.content_hash)
        study.set_user_attr("split", split)
        if len(splits) > 1:
            study.set_user_attr("splits", splits)
        if made.names is not None:
            study.set_user_attr("partition_names", made.names)
        study.set_user_attr("n_molecules", len(dataset))
        if spec.metric:
            import warnings

            with warnings.catch_warnings():  # experimental API
                warnings.simplefilter("ignore")
                # the dashboard says what is optimised
                study.set_metric_names(list(spec.objectives) if spec.objectives else [f"val {spec.metric}"])
        # Last: the spec's presence marks a study as completely written.
        study.set_user_attr("spec", spec_dict)

    trials = study.get_trials(deepcopy=False)
    enqueued = 0
    if spec.kind == "ablation" and spec.tune:
        from pepland_hpo.hpo.study import advance as advance_tuning, enqueue_tuning

        # stage 1 now; stage 2 is queued per variant when its tuning is over (hpo.tuning)
        enqueued, already = enqueue_tuning(study, spec, trials)
        enqueued += sum(advance_tuning(study, storage).values())
    elif spec.kind == "ablation":
        counted = [t for t in trials if not (retry_failed and t.state == optuna.trial.TrialState.FAIL)]
        present = {p for p in (trial_pair(t) for t in counted) if p is not None}
        already = 0
        from pepland_hpo.hpo.study import identity_attrs

        # Identity as user attributes, not params: see hpo.identity (extending a study
        # with seeds or variants must not change a parameter's choices).
        for variant in spec.variants:
            for repeat in range(len(splits)):
                for seed in spec.seeds:
                    if (variant, seed, repeat) in present:
                        already += 1
                        continue
                    study.enqueue_trial({}, user_attrs=identity_attrs(variant, seed, repeat))
                    enqueued += 1
    else:
        if spec.n_trials is not None and spec.n_trials != (study.user_attrs["spec"] or {}).get("n_trials"):
            merged = dict(study.user_attrs["spec"])
            merged["n_trials"] = max(spec.n_trials, merged.get("n_trials") or 0)
            study.set_user_attr("spec", merged)
        from pepland_hpo.hpo.queue import budget_used

        already = budget_used(trials)
        for _ in range(max(0, (spec.n_trials or 0) - already)):
            study.enqueue_trial({}, user_attrs={"variant": spec.variants[0]})
            enqueued += 1
    storage.remove_session()
    storage.engine.dispose()
    log.info("study %s: %d queued, %d already present", spec.name, enqueued, already)
    return CreateResult(study_name=spec.name, enqueued=enqueued, already=already, data_lines=data_lines)


__all__ = ["CreateResult", "StudySplits", "compute_split", "create_study_from_spec", "describe_data",
           "study_splits_of", "trial_pair"]
