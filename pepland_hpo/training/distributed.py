"""Data-parallel training on ``torch.distributed``: process groups, launching, gathers.

What a data-parallel pretraining run needs, and nothing about contrastive
learning itself:

* :class:`DistContext` -- this process's rank, world size and device, and its
  share of a global batch (:meth:`DistContext.shard`, strided so every rank gets
  molecules of every size in a size-bucketed batch and finishes at the same time);
* :func:`gather_rows` -- a differentiable all-gather of rows of unequal counts
  (``torch.distributed.nn.functional.all_gather`` underneath, whose backward
  sums the gradients of every rank for each rank's rows);
* :func:`run_ranks` -- starts ``nproc`` ranks on this machine with
  ``torch.multiprocessing.start_processes`` and ends them all when one fails;
* :func:`context_from_env` -- joins a job started by ``torchrun`` (several
  machines, or a Slurm allocation);
* :func:`wrap_ddp` -- ``DistributedDataParallel`` around the trained modules.

Backends: NCCL on GPUs, gloo on CPU. Every collective runs under the group's
timeout (``timeout_s``), so a rank that hangs or dies makes the others raise
instead of waiting forever; a rank that dies under :func:`run_ranks` is seen at
once (its process sentinel) and the survivors are terminated.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import socket
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn

from pepland_hpo.envsettings import positive_from_env
from pepland_hpo.errors import UserInputError

DEFAULT_TIMEOUT_S = 600.0
TIMEOUT_ENV = "PEPLAND_HPO_DDP_TIMEOUT"
# The only differentiable all-gather torch ships publicly warns that a private
# replacement exists; the public one is what we want.
warnings.filterwarnings("ignore", message=r".*all_gather is deprecated", category=FutureWarning)


class DistributedJobFailed(RuntimeError):
    """A rank of a data-parallel job failed (an exception, a signal, or a collective timeout)."""


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: Sequence[int]) -> list[int]:
        """This rank's part of a global batch: every ``world_size``-th item from ``rank``.

        A size-bucketed batch is sorted by size, so a strided share balances
        atoms across ranks; the gathered rows are the global batch reordered,
        which leaves the contrastive losses unchanged (they average over rows).
        """
        return list(batch[self.rank :: self.world_size])


def default_timeout() -> float:
    return positive_from_env(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, float, "seconds")


def backend_for(device_type: str) -> str:
    return "nccl" if device_type == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    """True inside a process that torchrun (or a Slurm script exporting its variables) started."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def _init(rank: int, world_size: int, local_rank: int, device_type: str, timeout_s: float) -> DistContext:
    if device_type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserInputError(
                f"rank {rank} wants GPU {local_rank} but {torch.cuda.device_count()} are visible; "
                "use at most one process per GPU"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    dist.init_process_group(
        backend_for(device_type), rank=rank, world_size=world_size,
        timeout=datetime.timedelta(seconds=float(timeout_s)),
        # binds NCCL's communicator to this GPU up front (no guessing from the rank)
        device_id=device if device_type == "cuda" else None,
    )
    return DistContext(rank, world_size, local_rank, device)


def context_from_env(device_type: str, timeout_s: float | None = None) -> DistContext:
    """Join the process group described by torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*)."""
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    return _init(rank, world, local, device_type, default_timeout() if timeout_s is None else timeout_s)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------- collectives


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows of ``x`` (rank order), differentiably; counts may differ.

    Rows are padded to the largest count for the collective and the padding is
    cut off again, so gradients flow only to real rows. Outside a process group
    this is the identity.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    import torch.distributed.nn.functional as dist_fn

    world = dist.get_world_size()
    count = torch.tensor([x.size(0)], device=x.device, dtype=torch.long)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    most = max(sizes)
    padded = x if x.size(0) == most else torch.cat([x, x.new_zeros((most - x.size(0),) + tuple(x.shape[1:]))])
    if not x.requires_grad:
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
    else:
        parts = dist_fn.all_gather(padded.contiguous())
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` outside a process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def wrap_ddp(module: nn.Module, ctx: DistContext) -> nn.Module:
    """``DistributedDataParallel`` around ``module`` (already on ``ctx.device``).

    Buffers (FAVOR+'s random features) are broadcast from rank 0 at every
    forward, so all ranks attend with the same features even if their random
    streams drift apart (dropout draws a different amount of numbers per rank).
    """
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)  # buffers are synced by default


# --------------------------------------------------------------------------- launching


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: this rank gets SIGKILL when its launcher dies, so no orphan holds a GPU."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _rank_entry(local_rank: int, fn: Callable, nproc: int, port: int, device_type: str,
                timeout_s: float, threads: int | None, err_dir: str, args: tuple) -> None:
    _die_with_parent()
    if threads:
        torch.set_num_threads(int(threads))
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(local_rank),
                       "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(nproc)})
    try:
        ctx = _init(local_rank, nproc, local_rank, device_type, timeout_s)
        fn(ctx, *args)
    except BaseException as exc:
        # A failed collective leaves the process group waiting on peers that will never
        # answer; a normal interpreter exit can then block in its destructor. Report and
        # leave at once instead.
        first = (str(exc).strip().splitlines() or [""])[0]
        Path(err_dir, f"rank{local_rank}.txt").write_text(f"{type(exc).__name__}: {first}"[:500])
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    shutdown()


def run_ranks(fn: Callable, nproc: int, args: tuple = (), device_type: str = "cpu",
              timeout_s: float | None = None, threads: int | None = None) -> None:
    """Run ``fn(ctx, *args)`` in ``nproc`` new processes, one rank each, on this machine.

    CPU ranks are forked: they inherit the imports and the loaded (memory-mapped)
    corpus, so they start in milliseconds. GPU ranks are spawned, because CUDA
    does not survive a fork. When one rank fails -- an exception, a signal, a
    collective timeout -- the others are terminated (SIGTERM, SIGKILL after a
    grace period) and :class:`DistributedJobFailed` says which rank and why.
    """
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    if nproc < 1:
        raise UserInputError(f"--nproc must be at least 1, got {nproc}")
    if device_type == "cuda" and nproc > torch.cuda.device_count():
        raise UserInputError(f"--nproc {nproc}: only {torch.cuda.device_count()} GPU(s) visible")
    timeout_s = default_timeout() if timeout_s is None else float(timeout_s)
    start_method = "spawn" if device_type == "cuda" else "fork"
    with tempfile.TemporaryDirectory(prefix="pepland-ranks-") as err_dir:
        context = mp.start_processes(
            _rank_entry, args=(fn, nproc, free_port(), device_type, timeout_s, threads, err_dir, tuple(args)),
            nprocs=nproc, join=False, start_method=start_method,
        )
        try:
            while not context.join(grace_period=3.0):
                pass
        except ProcessException as exc:
            why = Path(err_dir, f"rank{exc.error_index}.txt")
            reason = why.read_text() if why.exists() else str(exc).strip()
            raise DistributedJobFailed(f"rank {exc.error_index} failed: {reason}") from None
        finally:
            for process in context.processes:  # Ctrl-C in the launcher: no orphan ranks
                if process.is_alive():
                    process.kill()
                    process.join()
