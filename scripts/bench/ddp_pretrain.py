"""Data-parallel pretraining on CPU: 1 vs 2 gloo processes at the same global batch.

Prints JSON lines:

* ``ddp_loss_max_abs_diff`` -- the largest difference between the per-step
  losses of 1 and 2 processes over the first ``--steps`` steps (dropout off;
  goal <= 1e-4: the gathered loss is the loss of the global batch);
* ``ddp_speedup_2proc`` -- samples/s of 2 processes over 1 process (1 thread
  each), steps after the first 2 (goal >= 1.7 on 2 free cores);
* ``fp32_reorder_loss_max_abs_diff`` -- one process, no DDP, each batch's rows
  in the order 2 ranks gather them: the same loss, only float32 sums in another
  order. AdamW amplifies rounding differences step by step; this is the floor
  any reordering of the computation is held to;
* ``ddp_samples_per_s`` -- each run's figures, plus one process with 2 threads
  (what a user without DDP would run) for context.

Run from the repository root (``--data`` defaults to PepLand's pretraining file):

    python scripts/bench/ddp_pretrain.py --molecules 256 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pepland_hpo.training import distributed as ddp  # noqa: E402
from pepland_hpo.training import pretrain as pt  # noqa: E402
from pepland_hpo.training.encoder_store import build_encoder_model  # noqa: E402
from pepland_hpo.training.pretrain_corpus import corpus_from_file  # noqa: E402
from pepland_hpo.training.config import TrainConfig  # noqa: E402


class _Enough(Exception):
    pass


def _run(ctx, corpus, model_config, cfg: TrainConfig, steps: int, out: str, reorder: bool = False) -> None:
    """One rank (or the only process): ``steps`` steps, per-step loss and time to ``out`` (rank 0).

    ``reorder``: one process, each batch's rows in the order 2 ranks gather them
    (even positions, then odd) -- the same batch, only float32 sums in another order."""
    record: list[tuple[int, float, float]] = []
    batches = pt.size_bucketed_batches
    if reorder:
        pt.size_bucketed_batches = lambda *a, **k: [b[0::2] + b[1::2] for b in batches(*a, **k)]

    def on_step(step: int, loss: float) -> None:
        record.append((step, loss, time.perf_counter()))
        if step >= steps:
            raise _Enough

    torch.manual_seed(cfg.seed)
    model = build_encoder_model(model_config)
    device = ctx.device if ctx is not None else torch.device("cpu")
    try:
        pt.pretrain_encoder(model, corpus, cfg, device, dist_ctx=ctx, on_step=on_step)
    except _Enough:
        pass
    finally:
        pt.size_bucketed_batches = batches
    if ctx is None or ctx.is_main:
        Path(out).write_text(json.dumps(record))


def _measure(nproc: int, threads: int, corpus, model_config, cfg, steps: int, tmp: Path,
             reorder: bool = False) -> dict:
    out = tmp / f"run-{nproc}-{threads}-{reorder}.json"
    if reorder or (nproc == 1 and threads > 1):  # plain process, no process group
        torch.set_num_threads(threads)
        _run(None, corpus, model_config, cfg, steps, str(out), reorder)
        torch.set_num_threads(1)
    else:
        ddp.run_ranks(_run, nproc, (corpus, model_config, cfg, steps, str(out)), threads=threads)
    record = json.loads(out.read_text())
    losses = [loss for _, loss, _ in record]
    skip = 2  # first steps pay for allocator and thread-pool warm-up
    elapsed = record[-1][2] - record[skip - 1][2]
    samples = cfg.pretrain_batch_size * (len(record) - skip)
    return {"losses": losses, "samples_per_s": samples / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/pepland/pretrained/train.csv"))
    ap.add_argument("--molecules", type=int, default=256, help="first N molecules of --data")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32, help="global batch (split over the processes)")
    ap.add_argument("--variant", default="full")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--method", default="simclr", choices=["simclr", "moco"])
    ap.add_argument("--reference-steps", type=int, default=6,
                    help="steps of the 1-process, 2-thread throughput context run (slow on a shared machine)")
    args = ap.parse_args()

    from pepland_hpo.models.variants import variant_model_config

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="ddp-bench-"))
    os.environ.setdefault("PEPLAND_HPO_CACHE", str(tmp / "cache"))
    lines = Path(args.data).read_text().splitlines()
    corpus_file = tmp / "corpus.csv"
    corpus_file.write_text("\n".join(lines[: args.molecules + 1]) + "\n")
    corpus = corpus_from_file(str(corpus_file))
    model_config = variant_model_config(args.variant, hidden_dim=args.hidden, num_layers=args.layers,
                                        num_heads=4, dropout=0.0)
    epochs = -(-args.steps // max(1, len(corpus) // args.batch)) + 1
    cfg = TrainConfig(pretrain_method=args.method, pretrain_batch_size=args.batch, pretrain_epochs=epochs,
                      temperature=0.1, seed=0)
    context = {"molecules": len(corpus), "global_batch": args.batch, "steps": args.steps,
               "variant": args.variant, "hidden_dim": args.hidden, "num_layers": args.layers,
               "method": args.method, "cores": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]}

    one = _measure(1, 1, corpus, model_config, cfg, args.steps, tmp)
    two = _measure(2, 1, corpus, model_config, cfg, args.steps, tmp)
    plain = _measure(1, 2, corpus, model_config, cfg, args.reference_steps, tmp)
    shuffled = _measure(1, 1, corpus, model_config, cfg, args.steps, tmp, reorder=True)
    diff = max(abs(a - b) for a, b in zip(one["losses"], two["losses"], strict=True))
    first = {f"first_{k}_steps": max(abs(a - b) for a, b in zip(one["losses"][:k], two["losses"][:k]))
             for k in (1, 5, 10) if k < args.steps}
    print(json.dumps({"metric": "ddp_loss_max_abs_diff", "value": diff, "goal": 1e-4, **first,
                      "losses_1proc": one["losses"], "losses_2proc": two["losses"], **context}))
    # The same single process, each batch's rows in the order DDP gathers them: the same
    # batch and loss, only float32 sums in another order. How far that alone moves the
    # curve (AdamW turns rounding noise in near-zero gradients into lr-sized steps) is the
    # floor any reordering of the same computation is held to.
    floor = [abs(a - b) for a, b in zip(one["losses"], shuffled["losses"], strict=True)]
    print(json.dumps({"metric": "fp32_reorder_loss_max_abs_diff", "value": max(floor),
                      "what": "1 process, batch rows in DDP's gathered order vs in order, no DDP",
                      **{f"first_{k}_steps": max(floor[:k]) for k in (1, 5, 10) if k < args.steps},
                      "losses_1proc_reordered": shuffled["losses"], **context}))
    print(json.dumps({"metric": "ddp_speedup_2proc", "value": two["samples_per_s"] / one["samples_per_s"],
                      "goal": 1.7, "reference": "1 gloo process, 1 thread",
                      "vs_1proc_2threads": two["samples_per_s"] / plain["samples_per_s"], **context}))
    for name, run in (("2proc_1thread", two), ("1proc_1thread", one), ("1proc_2threads_no_ddp", plain)):
        print(json.dumps({"metric": "ddp_samples_per_s", "run": name, "value": run["samples_per_s"], **context}))


if __name__ == "__main__":
    main()
