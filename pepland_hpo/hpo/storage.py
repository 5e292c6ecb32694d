"""Opening the Optuna storage (SQLite or PostgreSQL) the way many workers need it.

SQLite (the default, ``storage/pepland.db``) is for one machine:

* WAL journal, so readers (status, dashboard) never block the writer;
* a busy timeout, so a writer waits for the lock instead of failing with
  "database is locked";
* every transaction starts with ``BEGIN IMMEDIATE``. pysqlite otherwise opens
  transactions lazily and Optuna's read-check-write steps (e.g. "is the trial
  still WAITING? then set RUNNING") are not atomic across processes; with the
  write lock taken up front each transaction is serialisable and the busy
  timeout applies to every lock wait (a deferred transaction that upgrades
  from a stale WAL snapshot fails at once, busy timeout or not).

The promise on SQLite is :data:`SQLITE_MAX_WORKERS` workers on one machine,
local disk (no NFS). More workers or several machines: PostgreSQL via a
``postgresql+psycopg://`` URL, with pre-ping (servers drop idle connections),
recycling, and a small bounded pool per worker process.

Passwords never leave this module unmasked: log and print :func:`mask_url`.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from pepland_hpo.errors import UserInputError
from pepland_hpo.paths import default_storage_url

# What we promise (and what the tests run) on SQLite; `launch` refuses more.
SQLITE_MAX_WORKERS = 4
SQLITE_BUSY_TIMEOUT_S = 60.0

# Heartbeat: a running trial's worker writes a heartbeat every interval; a
# trial whose heartbeat is older than the grace period is failed and retried.
# Optuna wants whole seconds. Tests shorten both through the environment.
DEFAULT_HEARTBEAT_INTERVAL_S = 10
DEFAULT_GRACE_PERIOD_S = 60

_PASSWORD_RE = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)")
_QUERY_PW_RE = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&\s]*)", re.IGNORECASE)


def mask_url(url: str | None) -> str:
    """The URL with any password replaced by ``***`` (safe to print and log)."""
    if url is None:
        return ""
    text = _PASSWORD_RE.sub(lambda m: f"{m['head']}***{m['tail']}", str(url))
    return _QUERY_PW_RE.sub(lambda m: f"{m['head']}***", text)


def mask_text(text: str, url: str | None) -> str:
    """Scrub a message (e.g. an exception text from a driver) of the URL's password."""
    text = mask_url(text)
    if url:
        m = _PASSWORD_RE.search(url)
        if m and m["pw"]:
            text = text.replace(m["pw"], "***")
    return text


def resolve_url(url: str | None) -> str:
    return url or default_storage_url()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise UserInputError(f"{name} must be a whole number of seconds, got {value!r}") from None
    if parsed <= 0:
        raise UserInputError(f"{name} must be positive, got {value!r}")
    return parsed


def heartbeat_settings() -> tuple[int, int]:
    """(interval, grace) in seconds: ``PEPLAND_HPO_HEARTBEAT_S`` / ``PEPLAND_HPO_GRACE_S`` or defaults."""
    interval = _env_int("PEPLAND_HPO_HEARTBEAT_S", DEFAULT_HEARTBEAT_INTERVAL_S)
    grace = _env_int("PEPLAND_HPO_GRACE_S", max(DEFAULT_GRACE_PERIOD_S, 3 * interval))
    if grace <= interval:
        raise UserInputError(
            f"heartbeat grace period ({grace}s) must exceed the heartbeat interval ({interval}s)"
        )
    return interval, grace


def _sqlite_path(url: str) -> Path | None:
    # sqlite:///relative.db, sqlite:////abs/path.db; in-memory has no path.
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder and switch the file to WAL before SQLAlchemy sees it.

    WAL is a property of the database file, so setting it once here means even
    Optuna's first table-creation connection (opened before our engine events
    are attached) runs in WAL with a busy timeout.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_S)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _install_sqlite_events(engine: Any) -> None:
    from sqlalchemy import event

    busy_ms = int(SQLITE_BUSY_TIMEOUT_S * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Driver autocommit: we emit BEGIN ourselves (below), pysqlite must not.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync per checkpoint only
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    # Connections opened during RDBStorage.__init__ predate the events.
    engine.dispose()


def open_storage(
    url: str | None = None,
    *,
    heartbeat: bool = True,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
):
    """An :class:`optuna.storages.RDBStorage` for ``url`` (default: ``paths.default_storage_url()``).

    Heartbeats are on (interval/grace from :func:`heartbeat_settings`), but
    stale trials are reaped and retried by :mod:`pepland_hpo.hpo.queue`, not by
    Optuna's callback (see there why).
    """
    import optuna

    url = resolve_url(url)
    interval, grace = heartbeat_settings()
    interval = heartbeat_interval or interval
    grace = grace_period or grace
    engine_kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        path = _sqlite_path(url)
        if path is not None:
            try:
                _prepare_sqlite_file(path)
            except (OSError, sqlite3.Error) as exc:
                raise UserInputError(f"cannot open SQLite storage {mask_url(url)}: {exc}") from None
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    elif url.startswith("postgresql"):
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            # SQLAlchemy's bare postgresql:// means psycopg2, which we do not ship.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        engine_kwargs.update(
            pool_pre_ping=True,  # servers and firewalls drop idle connections
            pool_recycle=300,
            pool_size=2,  # one for the main loop, one spare: workers are many, connections scarce
            max_overflow=2,
            pool_timeout=60,
            connect_args={"connect_timeout": 15, "application_name": "pepland-hpo"},
        )
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=interval if heartbeat else None,
                grace_period=grace if heartbeat else None,
            )
    except ImportError as exc:
        raise UserInputError(
            f"no database driver for {mask_url(url)}: {exc} (PostgreSQL needs `pip install pepland-hpo[postgres]`)"
        ) from None
    except Exception as exc:  # connection refused, bad credentials, ...: never echo the password
        if type(exc).__name__ in {"OperationalError", "ArgumentError", "NoSuchModuleError", "StorageInternalError"}:
            raise UserInputError(f"cannot open storage {mask_url(url)}: {mask_text(str(exc), url)}") from None
        raise
    if is_sqlite(url):
        _install_sqlite_events(storage.engine)
    return storage


__all__ = [
    "SQLITE_MAX_WORKERS",
    "heartbeat_settings",
    "is_sqlite",
    "mask_text",
    "mask_url",
    "open_storage",
    "resolve_url",
]
