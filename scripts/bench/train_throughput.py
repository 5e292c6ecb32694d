"""Graphs per second of a supervised training epoch, every variant at the same size.

    python scripts/bench/train_throughput.py                       # CPU, 128 molecules
    python scripts/bench/train_throughput.py --device cuda --precision bf16 --limit 0 --batch-size 256

One epoch = a shuffled, size-bucketed ``make_loader`` pass over ``c-CPP.txt`` molecules (featurised
and cached by the data layer, ``data.dataset.load_dataset``), each batch forward +
BCE-with-logits + backward + AdamW step. Collation is inside the timed loop; the
one-off featurisation (cached on disk) is not. ``full`` has ``fragments``' encoder
(``hierpool`` plus the fragment view); its contrastive pretraining is a separate phase
and not part of an epoch. One warm-up pass
over a few batches precedes the timed epoch of each variant.

Output: JSON lines, ``<variant>_graphs_per_second`` with the ratio of its epoch time to
``gcn``'s, then ``full_vs_gcn_epoch_time_ratio`` (goal: at most 4 at the default size) and
``fragments_vs_hierpool_epoch_time_ratio``, the cost of the fragment view (goal: at most 1.3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "pepland" / "c-CPP.txt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--limit", type=int, default=128, help="molecules (0 = all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--variants", default="gcn,graphormer,performer,hierpool,fragments,full")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave)")
    args = p.parse_args()

    import torch

    from pepland_hpo.data.dataset import load_dataset
    from pepland_hpo.models import build_model, count_parameters, variant_model_config
    from pepland_hpo.training.loaders import make_loader

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    ds = load_dataset(args.data)
    load_s = time.perf_counter() - t0
    if args.limit:
        ds = ds.subset(list(range(min(args.limit, len(ds)))))
    n = len(ds)
    print(json.dumps({"metric": "dataset_load_seconds", "value": round(load_s, 3), "molecules": n,
                      "mean_atoms": float(ds.num_atoms.mean())}), flush=True)

    times: dict[str, float] = {}
    for variant in args.variants.split(","):
        torch.manual_seed(0)
        cfg = variant_model_config(variant, hidden_dim=args.hidden, num_layers=args.layers,
                                   num_heads=args.heads, out_dim=1)
        model = build_model(cfg).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        # the product's training loader (size-bucketed batches), so the figure is what a trial sees
        loader = make_loader(ds, args.batch_size, shuffle=True, seed=0, num_workers=args.workers)

        def step(batch):
            batch = batch.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                out = model(batch)
            loss = loss_fn(out.float(), batch.y.float())
            loss.backward()
            opt.step()

        for k, batch in enumerate(loader):  # warm-up: allocator, kernels, features
            step(batch)
            if k == 1:
                break
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for batch in loader:
            step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times[variant] = time.perf_counter() - t
        ref = times.get("gcn")
        print(json.dumps({
            "metric": f"{variant}_graphs_per_second", "value": round(n / times[variant], 2),
            "epoch_seconds": round(times[variant], 3),
            "epoch_time_ratio_to_gcn": None if ref is None else round(times[variant] / ref, 3),
            "params": count_parameters(model), "hidden": args.hidden, "layers": args.layers,
            "heads": args.heads, "batch_size": args.batch_size, "molecules": n,
            "device": str(device), "precision": args.precision,
        }), flush=True)
    if "gcn" in times and "full" in times:
        print(json.dumps({"metric": "full_vs_gcn_epoch_time_ratio",
                          "value": round(times["full"] / times["gcn"], 3),
                          "note": "epoch time of full (fragments encoder, no pretraining) / gcn; goal <= 4"}),
              flush=True)
    if "hierpool" in times and "fragments" in times:
        print(json.dumps({"metric": "fragments_vs_hierpool_epoch_time_ratio",
                          "value": round(times["fragments"] / times["hierpool"], 3),
                          "note": "epoch time with the fragment view / without; goal <= 1.3",
                          "hidden": args.hidden, "layers": args.layers, "molecules": n}), flush=True)


if __name__ == "__main__":
    main()
