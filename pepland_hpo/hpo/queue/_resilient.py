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

:meth:`Resilient.try_once` is the same without the waiting, for a caller
with other work meanwhile (the loop that answers a training child): one
attempt, ``(False, None)`` while the storage is down, the same outage clock
and bound. The outage is logged as what is known - the storage (``where``,
a masked URL) is unreachable, for how long, and when the worker gives up -
every ``OUTAGE_LOG_EVERY_S``; the driver's text goes to the debug log only.

Example::

    res = Resilient(outage_s=300, check=SqliteIdentity.of(url).check, where=mask_url(url))
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
OUTAGE_LOG_EVERY_S = 30.0  # how often a long outage is mentioned again

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
        from pepland_hpo.hpo.queue._storage import _sqlite_path, is_sqlite

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
                 wait: Callable[[float], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 where: str = "") -> None:
        self.outage_s = float(outage_s)
        self.where = where  # the storage, as an operator may read it (a masked URL): named in the outage lines
        self.check = check
        self.wait = wait or time.sleep
        self.clock = clock
        self.down_since: float | None = None  # start of the current outage, shared by every call
        self.recovered_at: float | None = None  # end of the last outage
        self.retries = 0
        self._last_said = 0.0  # when the current outage was last logged

    def since_outage(self) -> float:
        """Seconds since the last outage ended (infinite if there was none)."""
        return float("inf") if self.recovered_at is None else self.clock() - self.recovered_at

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried through a transient outage for at most ``outage_s``."""
        delay = BACKOFF_START_S
        while True:
            done, result = self.try_once(what, fn, *args, **kwargs)
            if done:
                return result
            self.retries += 1
            self.wait(min(delay, max(0.0, self.outage_s - self.outage_seconds())))
            delay = min(delay * 2, BACKOFF_CAP_S)

    def try_once(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
        """One attempt: ``(True, result)``, or ``(False, None)`` when the storage is unreachable.

        For a caller that has other work while the storage is down (the
        supervising loop answers its training child). The outage bound counts
        here as in :meth:`call`: past it :class:`StorageOutage` is raised.
        """
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
            self._note_outage(what, exc)
            return False, None
        if self.down_since is not None:
            self.recovered_at = self.clock()
            log.warning("storage reachable again after %.0fs%s", self.recovered_at - self.down_since, self._named())
            self.down_since = None
        return True, result

    def outage_seconds(self) -> float:
        """How long the current outage has lasted (0 when the storage answers)."""
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    def _named(self) -> str:
        return f" ({self.where})" if self.where else ""

    def _note_outage(self, what: str, exc: BaseException) -> None:
        # The driver's own words (Optuna's StorageInternalError: "invalid data in the commit,
        # e.g. exceeding max length" for a dropped connection) send a user looking for a bug in
        # their data: they go to the debug log; the warning says what is known - unreachable,
        # for how long, until when it is waited for.
        now = self.clock()
        log.debug("storage call %s failed: %s (cause: %s)", what, short(exc), short(_root(exc)))
        if self.down_since is None:
            self.down_since = self._last_said = now
            log.warning("storage unreachable%s; retrying, giving up after %.0fs", self._named(), self.outage_s)
        elif now - self._last_said >= OUTAGE_LOG_EVERY_S:
            self._last_said = now
            log.warning("storage unreachable for %.0fs%s; retrying, giving up after %.0fs",
                        now - self.down_since, self._named(), self.outage_s)
        if now - self.down_since >= self.outage_s:
            raise StorageOutage(
                f"storage unreachable for {now - self.down_since:.0f}s{self._named()} "
                f"(bound {self.outage_s:.0f}s, last call: {what})"
            ) from exc


def _root(exc: BaseException) -> BaseException:
    """The innermost cause: the driver's error under SQLAlchemy's and Optuna's wrappers."""
    seen = {id(exc)}
    while (nxt := exc.__cause__ or getattr(exc, "orig", None)) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        exc = nxt
    return exc


__all__ = ["EnvironmentFailure", "Resilient", "SqliteIdentity", "StorageOutage", "WorkerMustStop",
           "classify", "failure_kind", "is_environmental", "outage_setting"]
