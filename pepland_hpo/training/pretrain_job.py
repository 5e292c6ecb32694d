"""`pepland-hpo pretrain`: one process, ``--nproc N`` processes on this machine, or a rank of torchrun.

Whichever way it runs, the job ends in the same content-addressed artifact
``<artifacts>/pretrained/<key>.pt`` that study trials look up (the key does not
depend on the number of processes: the global batch, the views and the loss
are the same), and an existing artifact is reused without training.

* ``nproc == 1``: the plain loop in this process.
* ``nproc > 1``: :func:`~pepland_hpo.training.distributed.run_ranks` starts the
  ranks (forked on CPU, spawned on GPUs), each loads the featurised corpus from
  the shared cache, and rank 0 writes checkpoints and the artifact.
* under ``torchrun`` (``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` set): this process
  is one rank of a job on one or several machines; ``--nproc`` is ignored.

A checkpoint every ``checkpoint_every`` steps goes to ``<key>.resume.pt``;
``resume=True`` continues from it (bit for bit on CPU with the same number of
processes) and it is deleted once the artifact is written.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import torch

from pepland_hpo.errors import UserInputError
from pepland_hpo.training import distributed as ddp
from pepland_hpo.training import encoder_store as store
from pepland_hpo.training.pretrain import PretrainResult, pretrain_encoder
from pepland_hpo.training.pretrain_corpus import corpus_from_file
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.pretrain_checkpoint import Checkpointer

# Tests make a rank die or hang at a given step: "kill@RANK:STEP" or "stop@RANK:STEP".
FAULT_ENV = "PEPLAND_HPO_DDP_FAULT"
ALLOW_FAULTS_ENV = "PEPLAND_HPO_ALLOW_FAULTS"


def resume_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.stem + ".resume.pt")


def _fault_hook(rank: int):
    text = os.environ.get(FAULT_ENV, "")
    if not text or os.environ.get(ALLOW_FAULTS_ENV) != "1":
        return None
    kind, _, where = text.partition("@")
    fault_rank, _, step = where.partition(":")
    if kind not in ("kill", "stop") or int(fault_rank) != rank:
        return None

    def hook(done: int, loss: float) -> None:
        if done == int(step):
            os.kill(os.getpid(), signal.SIGKILL if kind == "kill" else signal.SIGSTOP)

    return hook


def _train_and_store(ctx, corpus, job: dict[str, Any]) -> PretrainResult:
    """Every rank (or the only process) trains; rank 0 writes the artifact and drops the checkpoint."""
    cfg = TrainConfig.from_dict(job["train"])
    path = Path(job["path"])
    torch.manual_seed(cfg.seed)  # same key -> same initial weights on every rank
    model = store.build_encoder_model(job["model"])
    checkpointer = Checkpointer(resume_path(path), job["checkpoint_every"], job["resume"],
                                identity={"key": job["key"]})
    main = ctx is None or ctx.is_main
    device = ctx.device if ctx is not None else torch.device(job["device"])
    result = pretrain_encoder(
        model, corpus, cfg, device, progress=job["progress"] and main, dist_ctx=ctx,
        checkpointer=checkpointer, on_step=_fault_hook(ctx.rank if ctx is not None else 0),
    )
    if main:
        store.save_pretrained_artifact(path, result, job["key"], job["settings"], job["model"],
                                    corpus.content_hash, len(corpus))
        checkpointer.clear()
    ddp.barrier()  # nobody leaves before the artifact exists
    return result


def _rank_main(ctx, job: dict[str, Any]) -> None:
    corpus = corpus_from_file(job["data"])  # a cache hit: the launcher featurised it
    _train_and_store(ctx, corpus, job)


def _configs(variant: str, settings: dict[str, Any] | None):
    from pepland_hpo.models.variants import variant_model_config
    from pepland_hpo.training.settings import parse_settings

    model_over, train_over = parse_settings(settings or {})
    return variant_model_config(variant, **model_over), TrainConfig.from_dict(train_over)


def _job(data, model_config, cfg, corpus, store_dir, device, checkpoint_every, resume, progress) -> dict:
    settings = store.pretrain_settings(cfg)
    key = store.pretrain_key(store.config_dict(model_config), corpus.content_hash, settings)
    path = store.pretrained_dir(store_dir) / f"{key}.pt"
    return {
        "data": data, "model": store.config_dict(model_config), "train": cfg.to_dict(), "settings": settings,
        "key": key, "path": str(path), "device": str(device), "checkpoint_every": int(checkpoint_every),
        "resume": bool(resume), "progress": bool(progress),
    }


def run_pretraining(
    data: str,
    variant: str = "full",
    settings: dict[str, Any] | None = None,
    device: str = "auto",
    nproc: int = 1,
    checkpoint_every: int = 0,
    resume: bool = False,
    timeout_s: float | None = None,
    progress: bool = False,
    store_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Pretrain (or reuse) the encoder of ``variant`` on the corpus file ``data``.

    Returns ``key``, ``reused``, ``loss_per_epoch``, ``non_finite_steps``,
    ``path`` and ``nproc`` (the processes that trained; 0 when reused).
    """
    from pepland_hpo.training.device import resolve_device

    if checkpoint_every < 0:
        raise UserInputError(f"--checkpoint-every must be >= 0 (0: never), got {checkpoint_every}")
    model_config, cfg = _configs(variant, settings)
    if ddp.launched_by_torchrun():
        return _torchrun_rank(data, model_config, cfg, device, checkpoint_every, resume, timeout_s,
                              progress, store_dir)
    if nproc < 1:
        raise UserInputError(f"--nproc must be at least 1, got {nproc}")
    dev = resolve_device(device)
    if nproc > 1 and cfg.pretrain_batch_size < nproc:
        raise UserInputError(f"pretrain_batch_size {cfg.pretrain_batch_size} is the global batch; "
                             f"it must be at least --nproc {nproc}")
    corpus = corpus_from_file(data, progress=progress)
    job = _job(data, model_config, cfg, corpus, store_dir, dev, checkpoint_every, resume, progress)
    if resume and not resume_path(Path(job["path"])).exists() and not Path(job["path"]).exists():
        print(f"no checkpoint {resume_path(Path(job['path'])).name} to resume from: starting afresh", flush=True)

    def train_now(key: str, path: Path) -> None:
        if nproc == 1:
            _train_and_store(None, corpus, job)
        else:
            threads = None if dev.type == "cuda" else max(1, (os.cpu_count() or 1) // nproc)
            ddp.run_ranks(_rank_main, nproc, (job,), device_type=dev.type, timeout_s=timeout_s, threads=threads)

    result = store.pretrain_or_reuse(model_config, corpus, corpus.content_hash, cfg, dev, store_dir=store_dir,
                                  progress=progress, train_now=train_now)
    result.pop("state_dict", None)
    result["nproc"] = 0 if result["reused"] else nproc
    return result


def _torchrun_rank(data, model_config, cfg, device, checkpoint_every, resume, timeout_s, progress, store_dir):
    """One rank of a torchrun job: local rank 0 featurises first, rank 0 decides reuse and writes."""
    device_type = "cuda" if str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else "cpu"
    ctx = ddp.context_from_env(device_type, timeout_s)
    try:
        if ctx.local_rank != 0:
            ddp.barrier()  # the featurised corpus is written by local rank 0 of each machine
        corpus = corpus_from_file(data, progress=progress and ctx.is_main)
        if ctx.local_rank == 0:
            ddp.barrier()
        job = _job(data, model_config, cfg, corpus, store_dir, ctx.device, checkpoint_every, resume,
                   progress)
        path = Path(job["path"])
        if ddp.broadcast_object(path.exists()):
            payload = store.load_pretrained_artifact(path)
            return {"key": job["key"], "reused": True, "path": str(path), "nproc": 0,
                    "loss_per_epoch": [float(x) for x in payload.get("loss_per_epoch", [])],
                    "non_finite_steps": int(payload.get("non_finite_steps", 0))}
        path.parent.mkdir(parents=True, exist_ok=True)
        result = _train_and_store(ctx, corpus, job)
        return {"key": job["key"], "reused": False, "path": str(path), "nproc": ctx.world_size,
                "loss_per_epoch": [float(x) for x in result.loss_per_epoch],
                "non_finite_steps": int(result.non_finite_steps)}
    finally:
        ddp.shutdown()
