"""One running instance per database.

SQLite: an exclusive `flock` on `DATA_DIR/bot.lock` (the kernel releases it when the process ends, however
it ends). PostgreSQL: a session-level advisory lock held by one dedicated connection (the server releases
it when that connection closes, also when the process is killed or its machine goes away).

`acquire` refuses at once when another process holds the lock; with `standby=True` it waits and returns
as soon as the lock is free. `restore` takes the same lock, so it cannot run under a running bot and a bot
cannot start in the middle of a restore.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

LOCK_FILE = "bot.lock"
# pg_advisory_lock takes a bigint; this one is the bot's own (the bytes of "studiobt").
ADVISORY_KEY = int.from_bytes(b"studiobt", "big") & 0x7FFF_FFFF_FFFF_FFFF
POLL_SECONDS = 1.0  # a standby's look at the lock; a PostgreSQL connection's health check
CHECK_SECONDS = 5.0


class LockHeld(Exception):
    """Another process holds the lock; the message says who, when it can."""


class LockUnavailable(Exception):
    """The lock could not even be asked for (the database is unreachable); the message says why."""


class InstanceLock:
    on_lost: Callable[[], None] | None = None  # called when the lock is gone while held

    async def release(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class FileLock(InstanceLock):
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def try_take(cls, path: Path) -> FileLock:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = os.read(fd, 32).decode(errors="replace").strip()
            finally:
                os.close(fd)
            raise LockHeld(f"another instance (pid {pid or '?'}) holds {path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    async def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


class AdvisoryLock(InstanceLock):
    def __init__(self, engine: AsyncEngine, conn: AsyncConnection, on_lost: Callable[[], None] | None) -> None:
        self.engine = engine
        self.conn = conn
        self.on_lost = on_lost
        self._watch: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(self._watchdog())

    async def _watchdog(self) -> None:
        """The lock lives as long as its connection: when that is gone, so is the lock, and another
        instance may already be serving. Tell the owner to stop."""
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await asyncio.wait_for(self.conn.execute(text("SELECT 1")), CHECK_SECONDS)
            except Exception as exc:  # noqa: BLE001 - any failure means the lock may be gone
                log.error("lost the connection that holds the instance lock (%s): stopping",
                          type(exc).__name__)
                if self.on_lost is not None:
                    self.on_lost()
                return

    async def release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        with contextlib.suppress(Exception):
            await self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
        with contextlib.suppress(Exception):
            await self.conn.close()
        await self.engine.dispose()


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOCK_FILE


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


async def _pg_connect(url: str) -> tuple[AsyncEngine, AsyncConnection]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        conn = await engine.connect()
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
    except Exception as exc:  # noqa: BLE001 - any driver's fault becomes one line
        await engine.dispose()
        raise LockUnavailable(describe_db_error(exc)) from None
    return engine, conn


async def _pg_holder(conn: AsyncConnection) -> str:
    row = (await conn.execute(text(
        "SELECT a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k LIMIT 1"), {"k": ADVISORY_KEY})).first()
    if row is None:
        return "another instance"
    addr = row[0] or "a local connection"
    return f"another instance (connected from {addr} since {row[1]:%Y-%m-%d %H:%M:%S})"


async def acquire(data_dir: Path, database_url: str, *, standby: bool = False,
                  on_lost: Callable[[], None] | None = None) -> InstanceLock:
    """The instance lock for this database, or `LockHeld` (at once, unless `standby`: then wait)."""
    if is_postgres(database_url):
        return await _acquire_pg(database_url, standby=standby, on_lost=on_lost)
    path = lock_path(data_dir)
    announced = False
    while True:
        try:
            return FileLock.try_take(path)
        except LockHeld as exc:
            if not standby:
                raise
            if not announced:
                log.info("standby: %s; taking over when it stops", exc)
                announced = True
        await asyncio.sleep(POLL_SECONDS / 4)


async def _acquire_pg(url: str, *, standby: bool, on_lost: Callable[[], None] | None) -> InstanceLock:
    announced = False
    while True:
        engine, conn = await _pg_connect(url)
        try:
            while True:
                got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})
                if got:
                    return AdvisoryLock(engine, conn, on_lost)
                who = await _pg_holder(conn)
                if not standby:
                    raise LockHeld(f"{who} holds the instance lock on database {make_url(url).database!r}")
                if not announced:
                    log.info("standby: %s holds the instance lock; taking over when it stops", who)
                    announced = True
                await asyncio.sleep(POLL_SECONDS)
        except LockHeld:
            await conn.close()
            await engine.dispose()
            raise
        except Exception as exc:  # noqa: BLE001 - the server went away while we waited: connect again
            with contextlib.suppress(Exception):
                await conn.close()
            await engine.dispose()
            if not standby:
                raise LockUnavailable(describe_db_error(exc)) from None
            log.warning("standby: %s; connecting again", describe_db_error(exc))
            await asyncio.sleep(POLL_SECONDS)


def describe_db_error(exc: BaseException) -> str:
    """One line for a failure to reach a database (no traceback, no password)."""
    inner: BaseException = exc
    seen = 0
    while seen < 5:
        nxt = getattr(inner, "orig", None) or inner.__cause__
        if nxt is None or nxt is inner:
            break
        inner = nxt
        seen += 1
    name = type(inner).__name__
    message = " ".join(str(inner).split())[:200]
    return f"{name}: {message}" if message else name
