"""The retry wrapper on its own: which errors are waited out, which stop at once, and the bound."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from pepland_hpo.hpo.queue import (
    BACKOFF_CAP_S,
    EnvironmentFailure,
    Resilient,
    SqliteIdentity,
    StorageOutage,
    classify,
    failure_kind,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _operational(text: str) -> Exception:
    import sqlalchemy.exc

    return sqlalchemy.exc.OperationalError("UPDATE trials ...", {}, sqlite3.OperationalError(text))


def test_classification_of_real_driver_errors():
    assert classify(_operational("database is locked")) == "transient"
    assert classify(_operational("database or disk is full")) == "environment"
    assert classify(_operational("attempt to write a readonly database")) == "environment"
    assert classify(OSError(errno.ENOSPC, "No space left on device")) == "environment"
    assert classify(ValueError("a bug")) is None
    wrapped = RuntimeError("unexpected pos 704 vs 598")  # how torch.save reports a full disk
    wrapped.__context__ = OSError(errno.ENOSPC, "No space left on device")
    assert classify(wrapped) == "environment" and failure_kind(wrapped) == "environment"
    assert failure_kind(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/trial-1")) == \
        failure_kind(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/trial-2"))


def test_transient_errors_are_retried_with_capped_backoff_until_success():
    clock = FakeClock()
    res = Resilient(300, wait=clock.wait, clock=clock)
    attempts = iter([_operational("server closed the connection")] * 8 + [None])

    def flaky():
        exc = next(attempts)
        if exc is not None:
            raise exc
        return "ok"

    assert res.call("heartbeat", flaky) == "ok"
    assert clock.waits[:4] == [0.5, 1.0, 2.0, 4.0] and max(clock.waits) == BACKOFF_CAP_S
    assert res.down_since is None  # the outage is over


def test_outage_past_the_bound_raises_and_the_bound_is_shared_by_calls():
    clock = FakeClock()
    res = Resilient(20, wait=clock.wait, clock=clock)

    def down():
        raise _operational("connection refused")

    with pytest.raises(StorageOutage, match="unreachable for 20s"):
        res.call("report", down)
    assert clock.now == pytest.approx(20)  # never waits past the bound


def test_environment_errors_and_bugs_are_not_retried():
    clock = FakeClock()
    res = Resilient(300, wait=clock.wait, clock=clock)

    def full():
        raise _operational("database or disk is full")

    with pytest.raises(EnvironmentFailure, match="disk is full"):
        res.call("tell", full)
    with pytest.raises(KeyError):
        res.call("tell", lambda: {}["missing"])
    assert clock.waits == []


def test_sqlite_identity_notices_deletion_and_replacement(tmp_path):
    db = tmp_path / "pepland.db"
    sqlite3.connect(db).close()
    ident = SqliteIdentity(db)
    ident.check()
    db.rename(tmp_path / "moved.db")
    sqlite3.connect(db).close()  # a new, empty file under the same name
    with pytest.raises(EnvironmentFailure, match="replaced"):
        ident.check()
    db.unlink()
    with pytest.raises(EnvironmentFailure, match="deleted"):
        ident.check()


def test_one_attempt_reports_an_outage_without_waiting_and_keeps_the_bound():
    clock = FakeClock()
    res = Resilient(20, wait=clock.wait, clock=clock)

    def down():
        raise _operational("connection refused")

    assert res.try_once("report", down) == (False, None)
    clock.now = 19.0
    assert res.try_once("heartbeat", down) == (False, None)  # one outage, one clock, shared by every call
    assert clock.waits == [] and res.outage_seconds() == pytest.approx(19)
    clock.now = 20.0
    with pytest.raises(StorageOutage, match="unreachable for 20s"):
        res.try_once("report", down)
    res.down_since = None
    assert res.try_once("report", lambda: 7) == (True, 7)


def test_the_outage_line_says_unreachable_for_how_long_never_the_drivers_text(caplog):
    import optuna

    clock = FakeClock()
    res = Resilient(300, wait=clock.wait, clock=clock, where="postgresql+psycopg://u:***@127.0.0.1:5433/db")

    def down():
        # what Optuna raises for a connection dropped mid-commit
        try:
            raise _operational("connection refused")
        except Exception as exc:
            raise optuna.exceptions.StorageInternalError(
                "An exception is raised during the commit. This typically happens due to invalid data "
                "in the commit, e.g. exceeding max length.") from exc

    caplog.set_level("DEBUG", logger="pepland_hpo.worker")
    for now in (0.0, 12.0, 31.0, 45.0):
        clock.now = now
        res.try_once("report", down)
    clock.now = 50.0
    res.try_once("report", lambda: None)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "storage unreachable (postgresql+psycopg://u:***@127.0.0.1:5433/db); retrying, giving up after 300s",
        "storage unreachable for 31s (postgresql+psycopg://u:***@127.0.0.1:5433/db); retrying, giving up after 300s",
        "storage reachable again after 50s (postgresql+psycopg://u:***@127.0.0.1:5433/db)",
    ]
    debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    assert len(debug) == 4 and "invalid data" in debug[0] and "connection refused" in debug[0]
