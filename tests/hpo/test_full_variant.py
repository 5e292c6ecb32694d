"""The `full` variant as a normal ablation arm: pretrain, fine-tune, and record what happened."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.study import build_ablation_spec
from pepland_hpo.hpo.runner import run_worker

REPO = Path(__file__).resolve().parents[2]


def test_fragments_and_full_ablation_completes_and_records_pretraining(sqlite_url, cpp, hpo):
    settings = {**hpo.TINY, "pretrain_epochs": "2", "pretrain_batch_size": "8", "num_heads": "2"}
    spec = build_ablation_spec(
        REPO / "studies" / "ablation.yaml", data=str(cpp(40)), variants=["fragments", "full"],
        seeds=[0, 1], settings=settings, name="hf", validate=False,
    )
    spec.split = {"kind": "stratified", "fractions": [0.5, 0.25, 0.25], "seed": 0}
    create_study_from_spec(sqlite_url, spec)

    summary = run_worker(sqlite_url, "hf", gpu="cpu")
    assert summary.failed == 0

    trials = optuna.load_study(study_name="hf", storage=sqlite_url).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    full = [t for t in trials if t.user_attrs["variant"] == "full"]
    hierpool = [t for t in trials if t.user_attrs["variant"] == "fragments"]  # the step before full
    assert len(full) == 2 and len(hierpool) == 2
    for t in full:
        attrs = t.user_attrs
        assert len(attrs["pretrain_key"]) >= 16
        assert attrs["pretrain_reused"] is False  # each seed pretrains its own encoder
        assert len(attrs["pretrain_loss"]) == 2 and all(math.isfinite(x) for x in attrs["pretrain_loss"])
        assert attrs["non_finite_steps"] == 0
        assert math.isfinite(t.value)
    # seeds pretrain separately, so their keys differ; the fragments arm never pretrains
    assert full[0].user_attrs["pretrain_key"] != full[1].user_attrs["pretrain_key"]
    assert all("pretrain_key" not in t.user_attrs for t in hierpool)
    # the same encoder config and parameter count in both arms: the difference is the pretraining
    assert {t.user_attrs["param_count"] for t in trials} == {hierpool[0].user_attrs["param_count"]}
