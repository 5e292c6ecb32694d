"""``pepland-hpo design``: the best generator of a generation study, improved by a guide, judged honestly.

1. The generator: the generation study's COMPLETE trial with the lowest validation NLL,
   sampled at that trial's temperature (:mod:`._generation_report`).
2. The guide: with ``from_study``, the ablation (or search) study's best variant chosen on
   *validation* (the mean of its trials' objective values, in the study's direction), as
   the ensemble of its finished seeds (:func:`pepland_hpo.generation.graph_model_guide`:
   the mean positive-class probability); it must be a classifier of one molecule. Without
   ``from_study``, the composition guide, fitted on the generator's training split only.
3. The genetic algorithm of :func:`pepland_hpo.generation.run_design` under the
   constraints (length range, residues allowed, identity to the study's data).
4. The evaluation of :mod:`._generation_report` with two rows more: the generator alone
   (same constraints, no guide) and the designs, each with the guide's own score beside
   the independent oracle's, so over-optimisation against the guide shows.

Every request is checked before anything is written: ``--n 0``, constraints nothing can
meet, no such study, a guide study that is not a classifier. ``out_dir`` then gets
``designs.csv``, ``report.md``, ``report.csv``, ``design_history.csv`` and ``identity.png``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.services._generation_report import (ORACLE_NOTES, best_generator, identity_figure,
                                                         open_generation_study, study_sequences, write_sequences)


@dataclass
class Guide:
    score: Any  # texts -> scores
    name: str
    note: str


@dataclass
class DesignOutcome:
    out_dir: Path
    n: int
    guide: str
    seconds: dict[str, float]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def parse_residues(text: str | None) -> tuple[str, ...] | None:
    """``--residues``: ``ACDEK...`` (one-letter residues) or a comma list of tokens (``K,dK,meA,Ac,NH2``)."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")] if "," in text else list(text.strip())
    parts = [p for p in parts if p]
    if not parts:
        raise UserInputError("--residues is empty: no peptide can be built from no residue")
    return tuple(dict.fromkeys(parts))


def _open_any(storage_url: str | None, name: str):
    import optuna

    from pepland_hpo.hpo.queue import open_storage

    storage = open_storage(storage_url, heartbeat=False)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in storage.get_all_studies()]
        raise UserInputError(f"--from-study: no study named {name!r} in the storage; studies: "
                             f"{', '.join(names) or '(none)'}") from None


def model_guide(storage_url: str | None, name: str) -> Guide:
    """The best variant of an ablation/search study (chosen on validation) as an ensemble of its seeds."""
    import optuna

    from pepland_hpo.hpo.services._predict import fetch_checkpoint
    from pepland_hpo.generation import graph_model_guide
    from pepland_hpo.training.checkpoints import load_checkpoint

    study = _open_any(storage_url, name)
    kind = study.user_attrs.get("kind")
    spec = dict(study.user_attrs.get("spec") or {})
    if kind not in ("ablation", "search"):
        raise UserInputError(f"--from-study {name!r} is a {kind or 'foreign'} study; the guide must be the "
                             "classifier of an ablation or search study")
    if spec.get("task") != "classification":
        raise UserInputError(f"--from-study {name!r} trains {spec.get('task') or 'unknown-task'} models, not a "
                             "classifier; a guide must score the probability of the property")
    if spec.get("pair"):
        raise UserInputError(f"--from-study {name!r} models peptide-protein pairs; a design guide scores a "
                             "peptide alone")
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None and (t.user_attrs.get("checkpoint_artifact") or t.user_attrs.get("checkpoint"))]
    if not done:
        raise UserInputError(f"--from-study {name!r} has no finished trial with a model yet")
    by_variant: dict[str, list] = {}
    for t in done:
        by_variant.setdefault(str(t.user_attrs.get("variant", "?")), []).append(t)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    variant = min(by_variant, key=lambda v: (sign * float(np.mean([t.value for t in by_variant[v]])), v))
    trials = by_variant[variant]
    models = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in trials:
            model, _ = load_checkpoint(fetch_checkpoint(t, Path(tmp)), map_location="cpu")
            models.append(model)
    mean_val = float(np.mean([t.value for t in trials]))
    metric = spec.get("metric") or "objective"
    note = (f"Guide: study {name!r}, variant {variant} (best mean validation {metric} {mean_val:.4f} over "
            f"{len(trials)} finished trial(s): {', '.join(str(t.number) for t in trials)}), the mean "
            "positive-class probability of its models.")
    return Guide(graph_model_guide(models, "classification"), f"{variant} ({name})", note)


def composition_guide_for(data, meta: dict) -> Guide:
    """Fitted on the generator's training rows only (its validation and test rows stay unseen)."""
    from pepland_hpo.generation import composition_guide

    index = np.asarray(meta.get("train_index") or range(len(data)), dtype=np.int64)
    train = data.subset(index)
    if data.task != "classification" or len(set(train.labels.tolist())) < 2:
        raise UserInputError("the composition guide needs a classification target with both classes in the "
                             "generator's training rows; give --from-study ABLATION")
    note = ("Guide: gradient boosting on residue composition and global descriptors, fitted on the "
            f"generator's {len(train)} training rows (no --from-study).")
    return Guide(composition_guide(train.tokens, train.labels, "classification"), "composition", note)


def design_from_study(storage_url: str | None, study_name: str, out_dir, n: int, *, from_study: str | None = None,
                      min_length: int | None = None, max_length: int | None = None, max_identity: float = 1.0,
                      residues: str | None = None, generations: int = 20, top_p: float = 1.0, seed: int = 0,
                      n_boot: int = 200) -> DesignOutcome:
    """Design ``n`` peptides (module docstring); raises :class:`UserInputError` before writing anything."""
    from pepland_hpo.generation import (Constraints, DesignSettings, evaluate_generation, format_tokens,
                                        load_generator, run_design, sample_from, write_report)

    if n < 1:
        raise UserInputError(f"--n must be at least 1 (got {n})")
    if generations < 1:
        raise UserInputError(f"--generations must be at least 1 (got {generations})")
    allowed = parse_residues(residues)
    defaults = Constraints()
    min_length = defaults.min_length if min_length is None else min_length
    max_length = defaults.max_length if max_length is None else max_length
    # checked on their own first: an impossible request is refused before any study is read
    Constraints(min_length=min_length, max_length=max_length, allowed=allowed or defaults.allowed,
                max_identity=max_identity).check()
    study = open_generation_study(storage_url, study_name)
    best = best_generator(study)
    _, meta = load_generator(best.checkpoint)
    data = study_sequences(best.spec)
    if allowed is None:  # what the generator learned: D- and N-methyl residues only where the data has them
        allowed = tuple(meta.get("tokens_seen") or defaults.allowed)
    constraints = Constraints(min_length=min_length, max_length=max_length, allowed=allowed,
                              max_identity=max_identity).check()
    guide = model_guide(storage_url, from_study) if from_study else composition_guide_for(data, meta)

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    result = run_design(best.checkpoint, guide.score, n, constraints, data.tokens,
                        DesignSettings(generations=generations, seed=seed), temperature=best.temperature,
                        top_p=top_p, seed=seed)
    seconds["design"] = time.perf_counter() - start
    start = time.perf_counter()
    plain, _ = sample_from(best.checkpoint, n, temperature=best.temperature, top_p=top_p, seed=seed + 1,
                           constraints=constraints)
    plain_name, design_name = "generator alone (no guide)", f"designs (guide: {guide.name})"
    results = evaluate_generation(data, {plain_name: plain, design_name: result.sequences}, n=n, seed=seed,
                                  constraints={plain_name: constraints, design_name: constraints},
                                  guide=guide.score, n_boot=n_boot)
    seconds["evaluation"] = time.perf_counter() - start

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"rank": i + 1, "sequence": format_tokens(s), "length": len([t for t in s if t not in ("Ac", "NH2")]),
             "guide_score": f"{float(score):.6g}", "max_identity": f"{float(ident):.4f}", "feasible": bool(ok)}
            for i, (s, score, ident, ok) in enumerate(zip(result.sequences, result.scores, result.identity,
                                                          result.feasible))]
    files = {"designs": write_sequences(out / "designs.csv", rows)}
    if result.history:
        files["history"] = write_sequences(out / "design_history.csv", result.history)
    notes = [f"Generator: trial {best.trial.number} of study {study_name!r}, the lowest validation NLL "
             f"({best.value:.4f} nats per token), temperature {best.temperature:.2f}, top-p {top_p:g}.",
             guide.note,
             f"Design: genetic algorithm with deterministic crowding, {generations} generations from {2 * n} "
             f"generator samples, {result.guide_calls} sequences scored by the guide, "
             f"{seconds['design']:.1f} s; seed {seed}.",
             f"Constraints: length {constraints.min_length}..{constraints.max_length}, residues "
             f"{' '.join(constraints.allowed)}, maximum identity {constraints.max_identity:g}; validity counts "
             "them for the generator and design rows only.",
             *ORACLE_NOTES]
    csv_path, md_path = write_report(out, results, title=f"Design report: {study_name}", notes=notes)
    files.update(markdown=md_path, csv=csv_path)
    files["identity"] = identity_figure(out / "identity.png", {plain_name: plain, design_name: result.sequences},
                                        data.tokens)
    return DesignOutcome(out, n, guide.name, seconds, results, files)


__all__ = ["DesignOutcome", "design_from_study", "model_guide", "parse_residues"]
