"""Benchmark: the hand-written training loop against PyTorch Lightning, on what a study needs from a loop.

    python scripts/bench/lightning_loop.py [--molecules 120] [--epochs 8] [--stop-after 5]

Needs ``pytorch-lightning`` (not a dependency of pepland-hpo: ``pip install pytorch-lightning``).

Both loops train the same small GCN (dropout and batch norm, so a resumed run
needs the RNG streams and the buffers back) on the same c-CPP slice, with AdamW
and shuffled batches from a seeded generator. Each is run twice: straight
through ``--epochs`` epochs, and stopped by an exception after ``--stop-after``
epochs and resumed in a fresh model from its own checkpoint (the loop's
``ResumePoint`` here; ``ModelCheckpoint(save_last=True)`` + ``fit(ckpt_path="last")``
for Lightning, its documented resume path). A worker resumes every trial whose
process was killed, so a resumed trial must end with the weights of the
uninterrupted one, or the ablation's seeds stop being comparable.

Prints JSON lines:

* ``ours_resume_max_abs_weight_diff`` / ``lightning_resume_max_abs_weight_diff``:
  the largest difference between the final weights of the resumed and the
  uninterrupted run (goal: 0 — bit-exact);
* ``ours_seconds_per_epoch`` / ``lightning_seconds_per_epoch``: mean epoch time
  of the uninterrupted runs, measured in this run, one torch thread.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchlib import PEPLAND_DATA, balanced_slice, emit  # noqa: E402

from pepland_hpo.training.config import TrainConfig  # noqa: E402
from pepland_hpo.training.loop import train_supervised  # noqa: E402
from pepland_hpo.training.resume import ResumePoint  # noqa: E402
from pepland_hpo.training.seeding import seed_everything  # noqa: E402

CPU = torch.device("cpu")
LR, BATCH = 5e-3, 16


class DropoutGCN(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 32):
        from torch_geometric.nn import GCNConv

        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.conv = GCNConv(hidden, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(hidden, 1)

    def forward(self, batch):
        from torch_geometric.nn import global_mean_pool

        h = torch.relu(self.embed(batch.x.float()))
        h = torch.relu(self.conv(h, batch.edge_index)) + h
        return self.head(self.drop(self.norm(global_mean_pool(h, batch.batch))))


class Stop(Exception):
    """Stands for the kill: raised after the stop epoch's checkpoint is written."""


def fresh_model(in_dim: int, seed: int) -> DropoutGCN:
    seed_everything(seed)
    return DropoutGCN(in_dim)


def max_weight_diff(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa)


# ------------------------------------------------------------------------------ ours
def ours(train, valid, epochs: int, resume=None, on_epoch=None) -> tuple[nn.Module, list[float]]:
    model = fresh_model(train[0].x.shape[1], 0)
    times: list[float] = []

    def record(epoch, metrics):
        times.append(float(metrics["epoch_seconds"]))
        if on_epoch is not None:
            on_epoch(epoch)

    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr=LR, patience=0, seed=0)
    train_supervised(model, train, valid, "classification", "auroc", cfg, CPU, on_epoch=record, resume=resume)
    return model, times


# ------------------------------------------------------------------------- Lightning
def lightning(train, valid, epochs: int, root: Path, stop_after: int | None = None, resume: bool = False):
    import pytorch_lightning as pl
    from torch_geometric.loader import DataLoader

    class Module(pl.LightningModule):
        def __init__(self, net):
            super().__init__()
            self.net = net
            self.loss = nn.BCEWithLogitsLoss()

        def training_step(self, batch, _index):
            return self.loss(self.net(batch).squeeze(-1), batch.y.float().view(-1))

        def validation_step(self, batch, _index):
            self.log("val_loss", self.loss(self.net(batch).squeeze(-1), batch.y.float().view(-1)),
                     batch_size=batch.num_graphs)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=LR)

    class Timer(pl.Callback):
        def __init__(self):
            self.times: list[float] = []

        def on_train_epoch_start(self, *_):
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer, *_):
            self.times.append(time.perf_counter() - self.started)

    class StopAt(pl.Callback):
        def on_train_epoch_end(self, trainer, *_):  # runs after ModelCheckpoint's save (callback order)
            if stop_after is not None and trainer.current_epoch + 1 == stop_after:
                raise Stop

    net = fresh_model(train[0].x.shape[1], 0)
    module = Module(net)
    generator = torch.Generator().manual_seed(0)
    loaders = (DataLoader(train, batch_size=BATCH, shuffle=True, generator=generator),
               DataLoader(valid, batch_size=BATCH))
    timer = Timer()
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=root, save_last=True, every_n_epochs=1, save_top_k=-1,
                                              save_on_train_epoch_end=True)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, deterministic=True, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[checkpoint, timer, StopAt()], num_sanity_val_steps=0)
    pl.seed_everything(0, verbose=False)
    trainer.fit(module, *loaders, ckpt_path="last" if resume else None)
    return net, timer.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--stop-after", type=int, default=5)
    args = parser.parse_args()
    try:
        import pytorch_lightning  # noqa: F401
    except ImportError:
        sys.exit("lightning_loop.py needs pytorch-lightning: pip install pytorch-lightning")
    torch.set_num_threads(1)

    from pepland_hpo.data.dataset import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = balanced_slice(PEPLAND_DATA / "c-CPP.txt", args.molecules, root / "slice.txt")
        dataset = load_dataset(data)
        graphs = [dataset[i] for i in range(len(dataset))]
        cut = int(len(graphs) * 0.75)
        train, valid = graphs[:cut], graphs[cut:]

        straight, our_times = ours(train, valid, args.epochs)
        point = ResumePoint(root / "ours.pt", every=1)

        def stop(epoch):
            if epoch == args.stop_after:
                raise Stop

        try:
            ours(train, valid, args.epochs, resume=point, on_epoch=stop)
        except Stop:
            pass
        resumed, _ = ours(train, valid, args.epochs, resume=ResumePoint(root / "ours.pt", every=1))
        emit("ours_resume_max_abs_weight_diff", max_weight_diff(straight, resumed))

        l_straight, l_times = lightning(train, valid, args.epochs, root / "l-straight")
        try:
            lightning(train, valid, args.epochs, root / "l-resumed", stop_after=args.stop_after)
        except Stop:
            pass
        saved = sorted(p.name for p in (root / "l-resumed").glob("*.ckpt"))
        if "last.ckpt" not in saved:
            sys.exit(f"Lightning wrote no last.ckpt before the stop (found {saved}): the comparison would be void")
        l_resumed, _ = lightning(train, valid, args.epochs, root / "l-resumed", resume=True)
        emit("lightning_resume_max_abs_weight_diff", max_weight_diff(l_straight, l_resumed))

        emit("ours_seconds_per_epoch", round(sum(our_times) / len(our_times), 4))
        emit("lightning_seconds_per_epoch", round(sum(l_times) / len(l_times), 4))


if __name__ == "__main__":
    main()
