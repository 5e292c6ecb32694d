"""A worker's log: ``storage/logs/worker-<name>.log`` and stderr, every line tagged with the worker's name."""

from __future__ import annotations

import logging
import sys

from pepland_hpo.paths import logs_dir


class _OneLine(logging.Formatter):
    """The terminal gets each record's first line; tracebacks and a child's stack stay in the log file."""

    def __init__(self, fmt: str, log_file: str) -> None:
        super().__init__(fmt)
        self.log_file = log_file

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        first = message.split("\n", 1)[0]
        cut = first != message or record.exc_info is not None or record.stack_info is not None
        line = logging.Formatter.format(self, logging.makeLogRecord(
            {**record.__dict__, "msg": first, "args": None, "exc_info": None, "exc_text": None, "stack_info": None}))
        return f"{line} (details in {self.log_file})" if cut else line


def setup_logging(name: str) -> list[logging.Handler]:
    logs_dir().mkdir(parents=True, exist_ok=True)
    pattern = "%(asctime)s %(levelname)s [%(worker)s] %(message)s"
    fmt = logging.Formatter(pattern)

    class _Tag(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.worker = name
            return True

    log_file = logs_dir() / f"worker-{name}.log"
    file_handler = logging.FileHandler(log_file)
    file_handler.setFormatter(fmt)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(_OneLine(pattern, str(log_file)))
    handlers: list[logging.Handler] = [file_handler, stream]
    root = logging.getLogger("pepland_hpo")
    for h in handlers:
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
