"""Contrastive pretraining stability at every searched temperature, for SimCLR and MoCo.

The searched space's failing regime: learning rate 5e-4, mixed precision (bf16
on CPU, fp16 with loss scaling on CUDA when --precision fp16), temperatures
0.05 / 0.07 / 0.1 / 0.2. For each (method, temperature) it pretrains the
`full` variant's encoder on PepLand ``pretrained/train.csv`` and prints JSON
lines ``{"metric": ..., "value": ..., "method": ..., "temperature": ...}``:
``loss_first``, ``loss_last``, ``loss_per_epoch``, ``non_finite_steps``,
``seconds``, and at the end ``non_finite_steps_total``.

Defaults are a reduced size that finishes in about ten minutes on two busy CPU
cores; ``--full`` is the issue's regime (all 998 molecules, 30 epochs, default
width 256 / 6 layers), meant for a GPU:

    python scripts/bench/contrastive_stability.py                 # reduced
    python scripts/bench/contrastive_stability.py --full --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "pepland" / "pretrained" / "train.csv"


def emit(metric: str, value, **tags) -> None:
    print(json.dumps({"metric": metric, "value": value, **tags}), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="CSV with a smiles column")
    p.add_argument("--full", action="store_true", help="issue regime: all molecules, 30 epochs, width 256 x 6")
    p.add_argument("--limit", type=int, default=None, help="molecules (default 24; --full: all)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 4; --full: 30)")
    p.add_argument("--hidden", type=int, default=None, help="hidden width (default 32; --full: 256)")
    p.add_argument("--layers", type=int, default=None, help="layers (default 2; --full: 6)")
    p.add_argument("--heads", type=int, default=None, help="heads (default 4; --full: 8)")
    p.add_argument("--variant", default="full", help="model variant whose encoder is pretrained")
    p.add_argument("--batch-size", type=int, default=None, help="default 16; --full: 64")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--methods", default="simclr,moco")
    p.add_argument("--temperatures", default="0.05,0.07,0.1,0.2")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    from pepland_hpo.data.featurize import featurize_smiles
    from pepland_hpo.data.readers import load_table
    from pepland_hpo.models import build_model, variant_model_config
    from pepland_hpo.training.config import TrainConfig
    from pepland_hpo.training.device import resolve_device
    from pepland_hpo.training.errors import NonFiniteLoss
    from pepland_hpo.training.pretrain import pretrain_encoder

    torch.set_num_threads(args.threads)
    full = args.full
    limit = args.limit if args.limit is not None else (None if full else 24)
    epochs = args.epochs or (30 if full else 4)
    hidden = args.hidden or (256 if full else 32)
    layers = args.layers or (6 if full else 2)
    heads = args.heads or (8 if full else 4)
    batch = args.batch_size or (64 if full else 8)
    device = resolve_device(args.device)

    table = load_table(args.data)
    smiles = table.smiles[:limit] if limit else table.smiles
    t0 = time.perf_counter()
    graphs = [featurize_smiles(s) for s in smiles]
    emit("molecules", len(graphs))
    emit("mean_atoms", sum(g.num_nodes for g in graphs) / len(graphs))
    emit("featurize_seconds", round(time.perf_counter() - t0, 2))
    emit("setup", {"epochs": epochs, "hidden": hidden, "layers": layers, "heads": heads, "batch_size": batch,
                   "lr": args.lr, "precision": args.precision, "device": str(device), "variant": args.variant})

    total_skipped = 0
    failures = 0
    for method in args.methods.split(","):
        for tau in (float(t) for t in args.temperatures.split(",")):
            tags = {"method": method, "temperature": tau}
            torch.manual_seed(args.seed)
            model = build_model(variant_model_config(args.variant, hidden_dim=hidden, num_layers=layers,
                                                     num_heads=heads))
            cfg = TrainConfig(pretrain_method=method, temperature=tau, pretrain_epochs=epochs,
                              pretrain_lr=args.lr, pretrain_batch_size=batch, precision=args.precision,
                              seed=args.seed, max_non_finite_steps=10**9)
            t = time.perf_counter()
            try:
                res = pretrain_encoder(model, graphs, cfg, device)
            except NonFiniteLoss as exc:  # cannot happen with the limit above; kept for clarity
                emit("error", str(exc), **tags)
                failures += 1
                continue
            losses = [round(v, 4) for v in res.loss_per_epoch]
            total_skipped += res.non_finite_steps
            emit("loss_first", losses[0], **tags)
            emit("loss_last", losses[-1], **tags)
            emit("loss_per_epoch", losses, **tags)
            emit("loss_decreased", bool(losses[-1] < losses[0]), **tags)
            emit("all_finite", all(math.isfinite(v) for v in losses), **tags)
            emit("non_finite_steps", res.non_finite_steps, **tags)
            emit("seconds", round(time.perf_counter() - t, 1), **tags)
    emit("non_finite_steps_total", total_skipped)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
