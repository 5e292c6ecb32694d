"""`pepland-hpo dashboard`: optuna-dashboard on the study storage, with checkpoints as artifacts.

It binds to 127.0.0.1 by default: optuna-dashboard has no login, so exposing
it on a shared server would let anyone edit notes or delete studies.
"""

from __future__ import annotations

import logging

from pepland_hpo.hpo.queue import mask_url, open_storage, resolve_url
from pepland_hpo.paths import artifacts_dir

log = logging.getLogger(__name__)


def run_dashboard(storage_url: str | None = None, host: str = "127.0.0.1", port: int = 8080) -> None:
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import run_server

    url = resolve_url(storage_url)
    # No heartbeat: the dashboard only reads (and writes notes), it runs no trial.
    storage = open_storage(url, heartbeat=False)
    artifacts_dir().mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(base_path=str(artifacts_dir()))
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("dashboard bound to %s: it has no login, anyone who can reach the port can edit studies", host)
    print(f"optuna-dashboard on http://{host}:{port}  (storage {mask_url(url)}; Ctrl-C to stop)", flush=True)
    run_server(storage, host=host, port=port, artifact_store=store)


__all__ = ["run_dashboard"]
