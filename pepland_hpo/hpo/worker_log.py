"""A worker's log: ``storage/logs/worker-<name>.log`` and stderr, every line tagged with the worker's name."""

from __future__ import annotations

import logging
import sys

from pepland_hpo.paths import logs_dir


def setup_logging(name: str) -> list[logging.Handler]:
    logs_dir().mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s [%(worker)s] %(message)s")

    class _Tag(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.worker = name
            return True

    file_handler = logging.FileHandler(logs_dir() / f"worker-{name}.log")
    stream = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [file_handler, stream]
    root = logging.getLogger("pepland_hpo")
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(_Tag())
        root.addHandler(h)
    root.setLevel(logging.INFO)
    return handlers


def teardown_logging(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger("pepland_hpo")
    for h in handlers:
        root.removeHandler(h)
        h.close()


__all__ = ["setup_logging", "teardown_logging"]
