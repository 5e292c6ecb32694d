"""The Slurm scripts on a real one-node cluster (tests/hpo/slurm.py): sbatch, scancel, srun.

* ``scripts/slurm_workers.sh`` as a 2-task array on one PostgreSQL study; one task
  is ``scancel``led while its trial trains: the trial is handed back, the other task's
  worker resumes it from its last epoch, and every trial completes exactly once.
* ``scripts/slurm_pretrain.sh`` with 2 tasks (gloo on CPU): the ranks find each other
  and the pretrained encoder is stored.

No skip: where the cluster cannot start, the tests fail with the reason.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from pepland_hpo.hpo.queue import open_storage

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _load_slurm_helper():
    # tests/ is not a package; load the helper by path under a unique name (as conftest does pg.py)
    spec = importlib.util.spec_from_file_location("pepland_tests_slurm", Path(__file__).with_name("slurm.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["pepland_tests_slurm"] = module
    spec.loader.exec_module(module)
    return module


_slurm = _load_slurm_helper()

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def slurm():
    cluster = _slurm.PrivateSlurm()
    try:
        cluster.start()
    except _slurm.SlurmError as exc:
        # never a skip: the scripts are only proven against a real controller
        pytest.fail(f"the private Slurm cluster did not start: {exc}")
    yield cluster
    cluster.stop()


def _job_log(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(folder.glob("*.out")))


def test_worker_array_scancel_hands_the_trial_back(slurm, pg_url, cpp, hpo, tmp_path):
    # 4 tiny real GCN trials of 12 epochs: long enough to cancel one between two epochs
    hpo.gcn_ablation(pg_url, cpp(32), seeds=range(4), settings={**hpo.TINY, "epochs": "12"}, name="ab")
    job = slurm.sbatch(
        ["--array=0-1", "--cpus-per-task=1", f"--output={tmp_path}/slurm-%A_%a.out",
         str(REPO / "scripts" / "slurm_workers.sh"), "ab"],
        cwd=tmp_path,
        extra_env={"PEPLAND_HPO_STORAGE": pg_url, "PEPLAND_HPO": str(VENV_BIN / "pepland-hpo")},
    )
    study = optuna.load_study(study_name="ab", storage=open_storage(pg_url))

    def training_on_task_1():
        for t in study.get_trials(deepcopy=False):
            if (t.state == TrialState.RUNNING and t.user_attrs.get("worker", "").endswith("-cpu-1")
                    and t.intermediate_values):
                return t
        return None

    try:
        victim = hpo.wait_for(training_on_task_1, timeout=60, interval=0.2)
    except AssertionError:
        pytest.fail(f"no trial trained on array task 1: {slurm.jobs()}\n{_job_log(tmp_path)}")
    slurm.run(["scancel", f"{job}_1"])  # SIGTERM to every process of the task, as Slurm does it
    slurm.wait_gone(job, timeout=90)
    log = _job_log(tmp_path)
    assert slurm.state(f"{job}_1") == "CANCELLED", log
    assert slurm.state(f"{job}_0") == "COMPLETED", log

    trials = study.get_trials()
    done = Counter(t.user_attrs["seed"] for t in trials if t.state == TrialState.COMPLETE)
    assert done == Counter({0: 1, 1: 1, 2: 1, 3: 1}), (done, log)
    interrupted = [t for t in trials if t.user_attrs.get("failure_reason") == "interrupted"]
    assert [t.number for t in interrupted] == [victim.number], log
    (copy,) = [t for t in trials if victim.number in t.user_attrs.get("handback_history", [])]
    assert copy.state == TrialState.COMPLETE and copy.user_attrs["worker"].endswith("-cpu-0")
    # resumed from the epoch checkpoint the cancelled worker left, not started over
    assert copy.user_attrs.get("resumed_from_epoch", 0) >= 1, copy.user_attrs
    assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)


def test_pretrain_two_tasks_find_each_other(slurm, pepland_dir, write_slice, storage_home, tmp_path):
    corpus = write_slice(pepland_dir / "pretrained" / "train.csv", 48, name="corpus.csv")
    job = slurm.sbatch(
        ["--ntasks=2", "--cpus-per-task=1", f"--output={tmp_path}/pretrain-%j.out",
         str(REPO / "scripts" / "slurm_pretrain.sh"), str(corpus),
         "--variant", "graphormer", "--set", "hidden_dim=16", "--set", "num_layers=1",
         "--set", "pretrain_epochs=2", "--set", "pretrain_batch_size=16", "--checkpoint-every", "2"],
        cwd=tmp_path,
        extra_env={"PYTHON": sys.executable, "PEPLAND_HPO_DDP_TIMEOUT": "60"},
    )
    slurm.wait_gone(job, timeout=120)
    log = _job_log(tmp_path)
    assert slurm.state(job) == "COMPLETED", log
    artifacts = list((storage_home / "artifacts" / "pretrained").glob("*.pt"))
    assert len(artifacts) == 1, (artifacts, log)
    import torch

    payload = torch.load(artifacts[0], weights_only=True)
    assert payload["state_dict"] and len(payload["loss_per_epoch"]) == 2, log
    assert "pretrained by 2 process(es)" in log, log
