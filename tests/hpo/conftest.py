"""Fixtures for the study/worker tests: a private PostgreSQL server, tiny real data, fast heartbeats."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest


def _load_pg_helper():
    # tests/ is not a package; load the helper by path under a unique name.
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("pepland_tests_pg", Path(__file__).with_name("pg.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["pepland_tests_pg"] = module
    spec.loader.exec_module(module)
    return module


_pg = _load_pg_helper()
PrivatePostgres, binaries_available = _pg.PrivatePostgres, _pg.binaries_available

# Tiny but real: a 1-layer, 8-wide model on a few dozen c-CPP peptides, 1 epoch.
TINY = {"hidden_dim": "8", "num_layers": "1", "epochs": "1", "batch_size": "16", "patience": "0"}

_db_counter = itertools.count()


@pytest.fixture(autouse=True)
def fast_heartbeat(monkeypatch):
    """Heartbeat every second, stale after 10 s, fault injection allowed (tests only).

    Generous: eight workers and a database server on two shared cores can delay a
    heartbeat by seconds (production default: every 10 s, stale after 60 s).
    """
    monkeypatch.setenv("PEPLAND_HPO_HEARTBEAT_S", "1")
    monkeypatch.setenv("PEPLAND_HPO_GRACE_S", "10")
    monkeypatch.setenv("PEPLAND_HPO_ALLOW_FAULTS", "1")


@pytest.fixture(scope="session")
def pg_server():
    if not binaries_available():
        # never a skip: the multi-machine guarantees are only proven against a real server
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; "
                    "install them (Debian: apt-get install postgresql) — .ci/run does")
    server = PrivatePostgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.fresh_database(f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def sqlite_url(storage_home) -> str:
    return f"sqlite:///{storage_home / 'pepland.db'}"


@pytest.fixture
def cpp(pepland_dir, write_slice):
    """``cpp(n)``: the first n lines of c-CPP.txt (sequence,label; both classes from line 1)."""

    def _make(n: int = 32, name: str | None = None) -> Path:
        return write_slice(pepland_dir / "c-CPP.txt", n, header=False, name=name or f"cpp{n}.txt")

    return _make


def _worker_entry(url, study, name, kwargs):
    from pepland_hpo.hpo.runner import run_worker

    run_worker(url, study, "cpu", worker_name=name, **kwargs)


def start_workers(n: int, url: str, study: str, prefix: str = "w", **kwargs) -> list:
    """``n`` real worker processes, forked from the test process (imports done: they start at once)."""
    ctx = mp.get_context("fork")
    procs = []
    for i in range(n):
        p = ctx.Process(target=_worker_entry, args=(url, study, f"{prefix}{i}", kwargs), name=f"{prefix}{i}")
        p.start()
        procs.append(p)
    return procs


def join_all(procs, timeout: float = 120.0) -> list[int]:
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(timeout=max(0.1, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    return [p.exitcode for p in procs]


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def gcn_ablation(url, data, seeds, settings, name="ab"):
    """A GCN-only ablation over ``seeds`` on a stratified half/quarter/quarter split, queued in ``url``."""
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_ablation_spec

    spec = build_ablation_spec(Path(__file__).resolve().parents[2] / "studies" / "ablation.yaml", data=str(data),
                               variants=["gcn"], seeds=list(seeds), settings=dict(settings), name=name,
                               validate=False)
    spec.split = {"kind": "stratified", "fractions": [0.5, 0.25, 0.25], "seed": 0}
    create_study_from_spec(url, spec)


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size, where=None)``: a fresh tmpfs of that size (e.g. "4m"), unmounted afterwards."""
    import subprocess

    mounted: list[Path] = []

    def _mount(size: str, where: Path | None = None) -> Path:
        where = where or tmp_path / f"fs{len(mounted)}"
        where.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {res.stderr.strip()}")
        mounted.append(where)
        return where

    yield _mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill_filesystem(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte, as another program would; the filler file."""
    filler = folder / "filler"
    try:
        with open(filler, "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    except OSError:  # ENOSPC: full, as wanted
        pass
    return filler


@pytest.fixture
def hpo():
    """Helpers for the worker tests, as one namespace."""
    from types import SimpleNamespace

    return SimpleNamespace(start_workers=start_workers, join_all=join_all, wait_for=wait_for, TINY=dict(TINY), gcn_ablation=gcn_ablation,
                           fill=fill_filesystem)
