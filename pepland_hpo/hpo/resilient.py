"""Storage calls that ride out an outage, and the failures that must stop a worker instead.

A worker's parent process talks to the database all the time: heartbeats,
``trial.report``, ``tell``, attribute writes, claims, reaping. A database
restart, a dropped connection or a long lock makes any of those raise; left
alone, the exception escapes the loop that supervises the trial's child and
the two end up waiting on each other. :class:`Resilient` wraps each call:

* a **transient** error (connection refused or dropped, a lock timeout) is
  retried with capped exponential back-off, for at most ``outage_s`` counted
  from the first failure of the current outage (any success ends it), then
  :class:`StorageOutage` is raised;
* an **environmental** error (disk full, read-only database, the SQLite file
  deleted or replaced under the worker) cannot heal by waiting:
  :class:`EnvironmentFailure` is raised at once;
* anything else is the caller's business and propagates unchanged (e.g.
  Optuna's ``UpdateFinishedTrialError``).

Both stop exceptions derive from :class:`WorkerMustStop`: the worker kills
its child, leaves the trial to be re-queued (by itself if the storage still
answers, by a reaper otherwise) and exits non-zero with one line.

Example::

    res = Resilient(outage_s=300, check=SqliteIdentity.of(url).check)
    res.call("heartbeat", rdb.record_heartbeat, trial_id)
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("pepland_hpo.worker")

T = TypeVar("T")

DEFAULT_OUTAGE_S = 300.0  # 5 minutes: a database restart or fail-over, not a lost server
BACKOFF_START_S = 0.5
BACKOFF_CAP_S = 15.0
ENV_OUTAGE = "PEPLAND_HPO_STORAGE_OUTAGE_S"

# errno values no amount of waiting fixes without an operator
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
_ENVIRONMENT_TEXT = ("database or disk is full", "readonly database", "read-only file system",
                     "no space left on device", "disk quota exceeded")
_TRANSIENT_TYPES = {"OperationalError", "InterfaceError", "StorageInternalError", "TimeoutError",
                    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError",
                    "DisconnectionError", "PendingRollbackError"}


class WorkerMustStop(Exception):
    """The worker cannot go on; the message is the one line it exits with."""

    exit_code = 3


class StorageOutage(WorkerMustStop):
    pass


class EnvironmentFailure(WorkerMustStop):
    pass


def _chain(exc: BaseException):
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend([e.__cause__, e.__context__, getattr(e, "orig", None)])


def environmental_cause(exc: BaseException) -> BaseException | None:
    """The disk-full, quota or read-only error anywhere in the exception's chain, or None."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS:
            return e
        text = str(e).lower()
        if any(t in text for t in _ENVIRONMENT_TEXT):
            return e
    return None


def is_environmental(exc: BaseException) -> bool:
    return environmental_cause(exc) is not None


def classify(exc: BaseException) -> str | None:
    """``"environment"``, ``"transient"`` or None (not a storage failure: let it propagate)."""
    if is_environmental(exc):
        return "environment"
    for e in _chain(exc):
        if type(e).__name__ in _TRANSIENT_TYPES or getattr(e, "connection_invalidated", False):
            return "transient"
    return None


def failure_kind(exc: BaseException) -> str:
    """How a trial's exception involves the machine: ``"environment"``, ``"os:<type>:<errno>"`` or ``""``.

    The OS error's type and errno, not its message: the message names a
    per-trial path, and the same error trial after trial is what matters.
    """
    if is_environmental(exc):
        return "environment"
    for e in _chain(exc):
        if isinstance(e, OSError):
            return f"os:{type(e).__name__}:{e.errno}"
    return ""


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}"


def outage_setting(value: float | None = None) -> float:
    """The outage bound in seconds: ``value``, else ``PEPLAND_HPO_STORAGE_OUTAGE_S``, else 300."""
    from pepland_hpo.envsettings import positive_from_env
    from pepland_hpo.errors import UserInputError

    if value is None:
        return positive_from_env(ENV_OUTAGE, DEFAULT_OUTAGE_S, float, "seconds")
    if not value > 0:
        raise UserInputError(f"the storage outage bound must be positive, got {value}")
    return float(value)


class SqliteIdentity:
    """The SQLite file a worker opened: deleted or replaced later means stop, not write into the void.

    SQLite keeps writing to an unlinked file through its open descriptor
    and every write "succeeds"; the results vanish with the last worker.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        st = path.stat()
        self.ident = (st.st_dev, st.st_ino)

    @classmethod
    def of(cls, url: str) -> "SqliteIdentity | None":
        from pepland_hpo.hpo.storage import _sqlite_path, is_sqlite

        path = _sqlite_path(url) if is_sqlite(url) else None
        return cls(path) if path is not None and path.exists() else None

    def check(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise EnvironmentFailure(f"the SQLite storage {self.path} was deleted while the worker ran") from None
        if (st.st_dev, st.st_ino) != self.ident:
            raise EnvironmentFailure(f"the SQLite storage {self.path} was replaced by another file while the worker ran")
        if not os.access(self.path, os.W_OK):
            raise EnvironmentFailure(f"the SQLite storage {self.path} became read-only")


class Resilient:
    """Run storage calls with bounded retries; see the module docstring.

    ``wait(seconds)`` is how the caller sleeps between attempts (the worker
    passes one that notices a stop request); ``check()`` runs before every
    attempt (the SQLite identity check).
    """

    def __init__(self, outage_s: float = DEFAULT_OUTAGE_S, *, check: Callable[[], None] | None = None,
                 wait: Callable[[float], None] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.outage_s = float(outage_s)
        self.check = check
        self.wait = wait or time.sleep
        self.clock = clock
        self.down_since: float | None = None  # start of the current outage, shared by every call
        self.recovered_at: float | None = None  # end of the last outage
        self.retries = 0

    def since_outage(self) -> float:
        """Seconds since the last outage ended (infinite if there was none)."""
        return float("inf") if self.recovered_at is None else self.clock() - self.recovered_at

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        delay = BACKOFF_START_S
        while True:
            if self.check is not None:
                self.check()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - sorted below; the rest propagates
                kind = classify(exc)
                if kind is None:
                    raise
                if kind == "environment":
                    cause = environmental_cause(exc) or exc
                    raise EnvironmentFailure(f"storage write failed ({what}): {short(cause)}") from exc
                now = self.clock()
                if self.down_since is None:
                    self.down_since = now
                    log.warning("storage unreachable (%s: %s); retrying for up to %.0fs",
                                what, short(exc), self.outage_s)
                left = self.outage_s - (now - self.down_since)
                if left <= 0:
                    raise StorageOutage(
                        f"storage unreachable for {now - self.down_since:.0f}s (bound {self.outage_s:.0f}s, "
                        f"last: {what}: {short(exc)})"
                    ) from exc
                self.retries += 1
                self.wait(min(delay, left))
                delay = min(delay * 2, BACKOFF_CAP_S)
                continue
            if self.down_since is not None:
                self.recovered_at = self.clock()
                log.warning("storage reachable again after %.1fs", self.recovered_at - self.down_since)
                self.down_since = None
            return result


__all__ = ["EnvironmentFailure", "Resilient", "SqliteIdentity", "StorageOutage", "WorkerMustStop",
           "classify", "failure_kind", "is_environmental", "outage_setting"]
