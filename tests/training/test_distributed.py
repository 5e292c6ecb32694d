"""Data-parallel pretraining with 2 gloo processes on CPU: the loss of the global batch, one MoCo
queue, a dead or hung rank ending the job, and resuming after a kill bit for bit."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
import torch

from pepland_hpo.training import distributed as ddp
from pepland_hpo.training.contrastive import MoCo, SimCLR
from pepland_hpo.training.encoder_store import load_pretrained_artifact
from pepland_hpo.training.pretrain import _collate, _Online
from pepland_hpo.training.pretrain_job import FAULT_ENV, resume_path, run_pretraining

# the `full` encoder (FAVOR+, encodings, hierarchical pooling) at test size; FAVOR+'s
# features are redrawn every 2 steps so a resumed run must restore the random streams
TINY = {"hidden_dim": "16", "num_layers": "1", "num_heads": "2", "redraw_interval": "2",
        "pretrain_batch_size": "8", "pretrain_epochs": "3"}


@pytest.fixture(scope="module")
def smallest(pepland_dir) -> list[str]:
    """The 24 shortest SMILES of the first 120 of PepLand's pretraining file."""
    lines = (pepland_dir / "pretrained" / "train.csv").read_text().splitlines()[1:121]
    return sorted((s.strip() for s in lines), key=len)[:24]


@pytest.fixture
def corpus_file(smallest, tmp_path) -> str:
    path = tmp_path / "corpus.csv"
    path.write_text("smiles\n" + "\n".join(smallest) + "\n")
    return str(path)


def _model():
    from pepland_hpo.models import build_model, variant_model_config

    torch.manual_seed(0)
    return build_model(variant_model_config("full", hidden_dim=16, num_layers=1, num_heads=2, dropout=0.0))


def _objectives(model):
    torch.manual_seed(1)
    simclr = SimCLR(16, 0.1)
    torch.manual_seed(1)
    moco = MoCo(model, 16, 0.1, queue_size=12)
    return simclr, moco


def _one_step(ctx, graphs, out: str) -> None:
    """One SimCLR step (loss, gradients) and one MoCo step (loss, queue) on this rank's share of 8."""
    mine = ctx.shard(list(range(8)))
    b1, b2 = _collate([graphs[i] for i in mine]), _collate([graphs[i + 8] for i in mine])
    result = {}
    for name in ("simclr", "moco"):
        model = _model()
        objective = _objectives(model)[0 if name == "simclr" else 1]
        objective.gather = ddp.gather_rows
        online = ddp.wrap_ddp(_Online(model.encoder, objective.head), ctx)
        loss = objective.loss(model.encode, b1, b2, project=online)
        loss.backward()
        result[name] = {"loss": loss.detach(),
                        "grads": {n: p.grad.clone() for n, p in online.module.named_parameters()}}
        if name == "moco":
            objective.after_step(model)  # enqueues the gathered keys
            result[name]["queue"] = objective.queue.clone()
            result[name]["filled"] = int(objective.queue_filled)
    torch.save(result, Path(out) / f"rank{ctx.rank}.pt")


def test_gathered_loss_is_the_global_batch_loss_and_moco_queues_agree(smallest, tmp_path):
    from pepland_hpo.data.featurize import featurize_smiles

    graphs = [featurize_smiles(s) for s in smallest[:16]]
    ddp.run_ranks(_one_step, 2, (graphs, str(tmp_path)), timeout_s=60, threads=1)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]

    # one process on the concatenated batch: rank 0's rows, then rank 1's
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    b1, b2 = _collate([graphs[i] for i in order]), _collate([graphs[i + 8] for i in order])
    for name in ("simclr", "moco"):
        model = _model()
        objective = _objectives(model)[0 if name == "simclr" else 1]
        loss = objective.loss(model.encode, b1, b2)
        loss.backward()
        params = dict(_Online(model.encoder, objective.head).named_parameters())
        for rank in ranks:
            got = rank[name]
            assert got["loss"].item() == pytest.approx(loss.item(), abs=1e-6), name
            for key, p in params.items():
                assert torch.allclose(got["grads"][key], p.grad, atol=1e-6, rtol=1e-4), (name, key)
        if name == "moco":
            objective.after_step(model)
            assert ranks[0]["moco"]["filled"] == ranks[1]["moco"]["filled"] == 8
            assert torch.equal(ranks[0]["moco"]["queue"], ranks[1]["moco"]["queue"])  # one queue
            assert torch.allclose(ranks[0]["moco"]["queue"], objective.queue, atol=1e-6)


def test_a_killed_rank_ends_the_job_at_once(corpus_file, monkeypatch, storage_home):
    monkeypatch.setenv("PEPLAND_HPO_ALLOW_FAULTS", "1")
    monkeypatch.setenv(FAULT_ENV, "kill@1:2")
    started = time.monotonic()
    with pytest.raises(ddp.DistributedJobFailed, match="rank 1 failed.*SIGKILL"):
        run_pretraining(corpus_file, settings=TINY, device="cpu", nproc=2, timeout_s=60)
    assert time.monotonic() - started < 60  # well within the collective timeout
    assert not mp.active_children()
    assert not list((storage_home / "artifacts" / "pretrained").glob("*.pt"))  # no artifact from a failed job


def test_a_hung_rank_times_out_the_collective(corpus_file, monkeypatch):
    monkeypatch.setenv("PEPLAND_HPO_ALLOW_FAULTS", "1")
    monkeypatch.setenv(FAULT_ENV, "stop@1:2")  # SIGSTOP: alive, but never answers again
    started = time.monotonic()
    with pytest.raises(ddp.DistributedJobFailed, match="rank 0 failed"):
        run_pretraining(corpus_file, settings=TINY, device="cpu", nproc=2, timeout_s=4)
    elapsed = time.monotonic() - started
    assert 4 <= elapsed < 45, elapsed
    assert not mp.active_children()  # the stopped rank was killed too


def test_resume_after_a_kill_reproduces_the_uninterrupted_run(corpus_file, monkeypatch, tmp_path, storage_home):
    settings = {**TINY, "pretrain_method": "moco", "moco_queue_fraction": "0.5"}  # dropout on (0.1)
    whole = run_pretraining(corpus_file, settings=settings, device="cpu", nproc=2, checkpoint_every=2)
    assert not whole["reused"] and len(whole["loss_per_epoch"]) == 3

    store = tmp_path / "interrupted"
    monkeypatch.setenv("PEPLAND_HPO_ALLOW_FAULTS", "1")
    monkeypatch.setenv(FAULT_ENV, "kill@1:5")  # 3 steps an epoch: dies in epoch 2, after the step-4 checkpoint
    with pytest.raises(ddp.DistributedJobFailed):
        run_pretraining(corpus_file, settings=settings, device="cpu", nproc=2, checkpoint_every=2, store_dir=store)
    artifact = Path(store / Path(whole["path"]).name)
    assert resume_path(artifact).exists() and not artifact.exists()
    monkeypatch.delenv(FAULT_ENV)
    with pytest.raises(Exception, match="--nproc 2"):  # a checkpoint continues with the same processes
        run_pretraining(corpus_file, settings=settings, device="cpu", nproc=1, resume=True, store_dir=store)
    resumed = run_pretraining(corpus_file, settings=settings, device="cpu", nproc=2, checkpoint_every=2,
                              resume=True, store_dir=store)
    assert resumed["key"] == whole["key"] and not resume_path(artifact).exists()
    assert resumed["loss_per_epoch"] == whole["loss_per_epoch"]
    a, b = load_pretrained_artifact(whole["path"]), load_pretrained_artifact(resumed["path"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key

    # a study trial names that encoder by key: no pretraining, the key recorded
    _trial_uses_named_encoder(whole, settings, corpus_file, tmp_path)


def _trial_uses_named_encoder(whole, settings, corpus_file, tmp_path):
    from pepland_hpo.errors import UserInputError
    from pepland_hpo.training import pretrain as pt
    from pepland_hpo.training.run import ExperimentConfig, run_experiment

    repo = Path(__file__).resolve().parents[2]
    lines = (repo.parent / "shared/datasets/pepland/c-CPP.txt").read_text().splitlines()
    data = tmp_path / "cpp.txt"
    data.write_text("\n".join(lines[:20] + lines[-12:]) + "\n")  # both classes
    model_keys = {"hidden_dim", "num_layers", "num_heads", "redraw_interval"}
    base = {k: v for k, v in settings.items() if k in model_keys}
    cfg = ExperimentConfig(data=str(data), variant="full", device="cpu", save_checkpoint=False).with_settings(
        {**base, "epochs": "1", "pretrained": whole["key"][:12]})
    calls = pt.PRETRAIN_CALLS["count"]
    result = run_experiment(cfg)
    assert pt.PRETRAIN_CALLS["count"] == calls  # nothing pretrained in the trial
    assert result.extra["pretrain_key"] == whole["key"] and result.extra["pretrain_reused"] is True
    assert result.extra["pretrain_loss"] == whole["loss_per_epoch"]
    other = cfg.with_settings({"hidden_dim": "8"})
    with pytest.raises(UserInputError, match="hidden_dim"):
        run_experiment(other)
