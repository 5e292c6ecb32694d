"""Where pepland-hpo keeps its files.

Everything lives under one storage root (``./storage`` by default, or
``PEPLAND_HPO_HOME``): the SQLite database, the featurisation cache, artifacts
and worker logs. Several workers on one machine share it.
"""

from __future__ import annotations

import os
from pathlib import Path


def storage_root() -> Path:
    return Path(os.environ.get("PEPLAND_HPO_HOME", "storage")).expanduser()


def cache_dir() -> Path:
    """Featurised datasets; ``PEPLAND_HPO_CACHE`` lets several storage roots share one."""
    env = os.environ.get("PEPLAND_HPO_CACHE")
    return Path(env).expanduser() if env else storage_root() / "cache"


def artifacts_dir() -> Path:
    return storage_root() / "artifacts"


def logs_dir() -> Path:
    return storage_root() / "logs"


def default_storage_url() -> str:
    """``PEPLAND_HPO_STORAGE`` if set, else SQLite under the storage root."""
    env = os.environ.get("PEPLAND_HPO_STORAGE")
    if env:
        return env
    return f"sqlite:///{storage_root() / 'pepland.db'}"
