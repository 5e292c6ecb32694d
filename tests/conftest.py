"""Shared fixtures: real PepLand data slices and an isolated storage root per test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
PEPLAND_DATA = REPO_ROOT.parent / "shared" / "datasets" / "pepland"

# Tiny test models spend their time in thread hand-offs, not arithmetic: one
# thread was 35-75x faster per batch than two on the 2-core CI machine.
torch.set_num_threads(1)


def _has_cuda() -> bool:
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def pepland_dir() -> Path:
    assert PEPLAND_DATA.is_dir(), f"real data expected at {PEPLAND_DATA}"
    return PEPLAND_DATA


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One featurisation cache for the whole session, so each file is featurised once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def storage_home(tmp_path, shared_cache, monkeypatch) -> Path:
    home = tmp_path / "storage"
    monkeypatch.setenv("PEPLAND_HPO_HOME", str(home))
    monkeypatch.setenv("PEPLAND_HPO_CACHE", str(shared_cache))
    monkeypatch.delenv("PEPLAND_HPO_STORAGE", raising=False)
    return home


@pytest.fixture
def write_slice(tmp_path):
    """Write the first ``n`` data lines of a real file (keeping a header line if asked)."""

    def _write(src: Path, n: int, header: bool = True, name: str | None = None) -> Path:
        lines = src.read_text().splitlines()
        head, body = (lines[:1], lines[1:]) if header else ([], lines)
        out = tmp_path / (name or src.name)
        out.write_text("\n".join(head + body[:n]) + "\n")
        return out

    return _write
