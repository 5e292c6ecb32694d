"""The real optuna-dashboard server shows the report as the study's note and the plot as an artifact."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from pepland_hpo import paths
from pepland_hpo.hpo.analysis import build_report

from test_report_factory import make_ablation_study

SERVER = """
import sys
from optuna.artifacts import FileSystemArtifactStore
from optuna_dashboard import run_server
run_server(sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]), artifact_store=FileSystemArtifactStore(sys.argv[3]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


@pytest.fixture
def dashboard(tmp_path):
    """Start optuna-dashboard on 127.0.0.1 in a subprocess (stoppable, unlike a wsgiref thread)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    port = _free_port()
    started = {}

    def start():
        paths.artifacts_dir().mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, url, str(port), str(paths.artifacts_dir())],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ),
        )
        started["proc"] = proc
        return proc

    def wait_ready(proc):
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dashboard exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                _get(base + "/api/meta", timeout=1)
                return base
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("dashboard did not start within 30 s")

    yield url, start, wait_ready
    proc = started.get("proc")
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_dashboard_api_returns_note_and_artifacts(dashboard, tmp_path):
    url, start, wait_ready = dashboard
    make_ablation_study(url, fail={("performer", 2): "oom"})
    proc = start()  # importing the dashboard takes seconds: let it start while the reports build
    build_report(url, "abl", out_dir=tmp_path / "out", reference=False)
    # a rerun replaces the plot instead of piling up a second copy
    report = build_report(url, "abl", out_dir=tmp_path / "out", reference=False)
    base = wait_ready(proc)
    studies = json.loads(_get(base + "/api/studies"))["study_summaries"]
    study_id = next(s["study_id"] for s in studies if s["study_name"] == "abl")
    detail = json.loads(_get(f"{base}/api/studies/{study_id}"))
    assert detail["note"]["body"] == report.markdown
    assert detail["note"]["version"] == 2
    assert "| performer | 2/3 |" in detail["note"]["body"]
    arts = [a for a in detail["artifacts"]]
    assert [a["filename"] for a in arts] == ["report.png"]
    assert arts[0]["artifact_id"] == report.artifact_ids["plot"]
    assert arts[0]["mimetype"] == "image/png"
    png = _get(f"{base}/artifacts/{study_id}/{arts[0]['artifact_id']}")
    assert png == (tmp_path / "out" / "report.png").read_bytes()
