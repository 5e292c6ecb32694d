"""The demo behind `pepland-hpo quickstart`: a small real ablation, start to finish.

It goes through exactly the path a user takes (spec → study in SQL storage →
worker → status), only with a small model so it ends within a few minutes on
two CPU cores.
"""

from __future__ import annotations

from rich.console import Console

from pepland_hpo.hpo.queue import mask_url
from pepland_hpo.paths import default_storage_url

QUICKSTART_STUDY = "quickstart"
QUICKSTART_VARIANTS = ["gcn", "graphormer", "performer", "hierpool", "full"]
QUICKSTART_SEEDS = [0, 1]
# Small enough for 2 CPU cores; the comparison is real, only the size is not the paper's.
QUICKSTART_SETTINGS = {
    "hidden_dim": "32",
    "num_layers": "2",
    "num_heads": "4",
    "batch_size": "32",
    "lr": "1e-3",
    "patience": "4",
    "pretrain_epochs": "2",
}
QUICKSTART_EPOCHS = 8


def run_quickstart(storage_url: str | None, console: Console) -> None:
    from pepland_hpo.hpo.services._create import create_study_from_spec
    from pepland_hpo.hpo.study import build_ablation_spec
    from pepland_hpo.hpo.services._status import collect_status, render_status
    from pepland_hpo.hpo.runner import run_worker

    url = storage_url or default_storage_url()
    console.rule("pepland-hpo quickstart")
    console.print(f"storage: {mask_url(url)}")
    spec = build_ablation_spec(
        data="builtin:amp",
        variants=QUICKSTART_VARIANTS,
        seeds=QUICKSTART_SEEDS,
        epochs=QUICKSTART_EPOCHS,
        settings=dict(QUICKSTART_SETTINGS),
        name=QUICKSTART_STUDY,
        split_repeats=1,  # the demo's budget: one split x 2 seeds (studies/ablation.yaml ships 3 splits)
    )
    created = create_study_from_spec(url, spec)
    console.print(
        f"study [bold]{created.study_name}[/]: {created.enqueued} trial(s) queued "
        f"({created.already} already there) — AMP vs transmembrane peptides, 412 sequences"
    )
    run_worker(storage_url=url, study_name=QUICKSTART_STUDY, gpu="cpu")
    render_status(collect_status(url, QUICKSTART_STUDY), console)
    console.print("\nnext:")
    console.print(f"  [cyan]pepland-hpo report {QUICKSTART_STUDY} --out storage/reports/{QUICKSTART_STUDY}[/]")
    console.print("  [cyan]pepland-hpo dashboard[/]   (http://127.0.0.1:8080)")
