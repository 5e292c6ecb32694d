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

import re
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

from pepland_hpo.envsettings import positive_from_env
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

_QUERY_PW_RE = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&\s]*)", re.IGNORECASE)
_URL_IN_TEXT_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"]+")
# What a password may hold unencoded in a URL: RFC 3986 unreserved and sub-delims; '%' only as %XX.
_PASSWORD_OK_RE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_HOST_RE = re.compile(r"[A-Za-z0-9.\-\[\]:_]*(?:[/?]|$)")
ENV_STORAGE = "PEPLAND_HPO_STORAGE"
ENCODE_HINT = ("percent-encode it: python -c \"import urllib.parse,getpass; "
               "print(urllib.parse.quote(getpass.getpass(), safe=''))\"; or leave the password out of the URL "
               "and put it in ~/.pgpass (PGPASSFILE) or PGPASSWORD")


class _Parts(NamedTuple):
    scheme: str  # "postgresql+psycopg"
    user: str  # as typed; "" when none
    password: str | None  # as typed (percent-encoded or not); None when none
    rest: str  # host[:port][/db][?query]


def _split(url: str) -> _Parts | None:
    """A URL cut at ``://`` and at the *last* ``@`` before the path, without decoding anything.

    Cutting at the last ``@`` (not the first) and taking the user to the first
    ``:`` finds a password whole even when it holds a raw ``@``, ``:`` or ``/``,
    which SQLAlchemy would misread as host, port or database.
    """
    if "://" not in url:
        return None
    scheme, after = url.split("://", 1)
    # the userinfo ends at the last '@' that a host[:port] (then '/', '?' or the end) follows
    cut = next((m.start() for m in reversed(list(re.finditer("@", after)))
                if _HOST_RE.match(after, m.start() + 1)), None)
    if cut is None:
        return _Parts(scheme, "", None, after)
    userinfo, host = after[:cut], after[cut + 1:]
    user, sep, password = userinfo.partition(":")
    return _Parts(scheme, user, password if sep else None, host)


def url_password(url: str | None) -> str | None:
    """The password as written in the URL (percent-encoded as typed), or None."""
    parts = _split(str(url or ""))
    return parts.password if parts else None


def mask_url(url: str | None) -> str:
    """The URL with any password replaced by ``***`` (safe to print and log).

    Built from the parsed parts, never by replacing the password's text in
    the string: a short password must not eat its letters elsewhere in the URL.
    A ``password=`` query parameter is masked too.
    """
    if url is None:
        return ""
    text = str(url)
    parts = _split(text)
    if parts is not None and parts.password is not None:
        text = f"{parts.scheme}://{parts.user}:***@{parts.rest}"
    return _QUERY_PW_RE.sub(lambda m: f"{m['head']}***", text)


def mask_text(text: str, url: str | None = None) -> str:
    """Scrub a message (e.g. an exception text from a driver) of every URL's password, URL by URL.

    ``url`` (the one in use) is replaced whole where it appears, even when a raw
    space in it hides its end from the URL pattern; other URLs are found in the
    text itself. The password's bare text is never searched for: a short one
    would eat its letters everywhere in the message.
    """
    if url and has_password(url):
        text = str(text).replace(str(url), mask_url(url))
    text = _URL_IN_TEXT_RE.sub(lambda m: mask_url(m.group(0)), str(text))
    return _QUERY_PW_RE.sub(lambda m: f"{m['head']}***", text)


def check_url(url: str) -> None:
    """Refuse a URL whose password holds a character that must be percent-encoded (``@ : / ? # %`` space...).

    The driver would take part of such a password as host, port or database,
    and its error would print that part; the message here shows no character of it.
    """
    parts = _split(url)
    if parts is None or parts.password is None:
        return
    if not _PASSWORD_OK_RE.fullmatch(parts.password) or " " in parts.rest.split("?", 1)[0]:
        raise UserInputError(
            f"storage URL {parts.scheme}://{parts.user}:***@...: the password holds a character that a URL "
            f"cannot carry raw (one of @ : / ? # % or a space); {ENCODE_HINT}"
        )


def resolve_url(url: str | None) -> str:
    """``url``, the contents of a file for ``@PATH`` (first line; keeps the password off the command
    line), or the default SQLite storage."""
    url = url or default_storage_url()
    if url.startswith("@"):
        path = Path(url[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeError) as exc:
            raise UserInputError(f"--storage @{path}: cannot read the storage URL file: {exc}") from None
        url = next((line.strip() for line in lines if line.strip() and not line.startswith("#")), "")
        if not url:
            raise UserInputError(f"--storage @{path}: the file holds no storage URL")
    return url


def has_password(url: str | None) -> bool:
    return bool(url_password(url))


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _env_int(name: str, default: int) -> int:
    return positive_from_env(name, default, int, "seconds")


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
    create: bool = False,
    heartbeat: bool = True,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
):
    """An :class:`optuna.storages.RDBStorage` for ``url`` (default: ``paths.default_storage_url()``).

    Heartbeats are on (interval/grace from :func:`heartbeat_settings`), but
    stale trials are reaped and retried by :mod:`pepland_hpo.hpo.queue._claims`, not by
    Optuna's callback (see there why).

    Only ``create=True`` (``pepland-hpo create``) may bring a SQLite file into
    being: every other command reads or works on a study that must already
    exist, and a mistyped path or a deleted file is an error, not a fresh empty
    database.
    """
    import optuna

    url = resolve_url(url)
    check_url(url)
    interval, grace = heartbeat_settings()
    interval = heartbeat_interval or interval
    grace = grace_period or grace
    engine_kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        path = _sqlite_path(url)
        if path is not None and not create and not path.is_file():
            raise UserInputError(
                f"no study storage at {path} (SQLite file not found); create a study first with "
                "`pepland-hpo create ablation|search`, or point --storage / PEPLAND_HPO_STORAGE at the right one"
            )
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
        from pepland_hpo.hpo.queue._optuna_internals import engine

        _install_sqlite_events(engine(storage))
    return storage


__all__ = [
    "SQLITE_MAX_WORKERS",
    "heartbeat_settings",
    "is_sqlite",
    "ENV_STORAGE",
    "check_url",
    "has_password",
    "mask_text",
    "mask_url",
    "open_storage",
    "url_password",
    "resolve_url",
]
