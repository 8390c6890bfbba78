"""Engine, sessions and migrations. Sessions are opened by callers, never inside repositories.

SQLite has one writer. Every session of a SQLite database works on one connection, in turn: the
updates handled at the same moment each run in a savepoint of one open transaction, and that
transaction is committed once for all of them (group commit) when no one is waiting for the
connection any more, or once it holds `GROUP_MAX` sessions or is `GROUP_AGE` old. A session's work is
durable only after that commit: `Database.durable()` waits for it, and replies wait on that.
PostgreSQL takes concurrent writers itself: each session has a pooled connection and commits alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000  # another process's write lock (a backup, a second tool) is waited for this long
GROUP_MAX = 64  # sessions in one commit at most
GROUP_AGE = 0.05  # seconds: a transaction this old is committed even while others wait
# The newest migration (checked against the migrations folder by tests): a database already there is
# not handed to Alembic, which is imported only to upgrade (it costs ~11 MB of memory for the whole run).
HEAD = "0012"


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # SQLAlchemy's documented recipe for SAVEPOINT on pysqlite/aiosqlite: the driver's own transaction
    # handling off, BEGIN emitted by the "begin" listener below
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives the process being killed
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # waits in aiosqlite's thread, not the loop
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # the writer: take the write lock at once, never upgrade


class Group:
    """The transaction that the sessions of a SQLite database share, committed once for all."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.conn: AsyncConnection | None = None
        self.sessions = 0
        self.opened = 0.0
        self.done: asyncio.Future[None] | None = None  # resolved when the open transaction is committed
        self.owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def session(self, factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        if self.owner is not None and self.owner is asyncio.current_task():
            raise RuntimeError("a second session opened while this task holds one")
        self.waiting += 1
        try:
            await self.lock.acquire()
        finally:
            self.waiting -= 1
        self.owner = asyncio.current_task()
        session: AsyncSession | None = None
        try:
            if self.conn is None:
                conn = await self.engine.connect()
                try:
                    await conn.begin()
                except BaseException:
                    await conn.close()
                    raise
                self.conn = conn
                self.done = asyncio.get_running_loop().create_future()
                self.sessions, self.opened = 0, time.monotonic()
            self.sessions += 1
            session = factory(bind=self.conn, join_transaction_mode="create_savepoint")
            session.info["durable"] = self.done
            yield session
        finally:
            try:
                if session is not None:
                    await session.close()  # a savepoint not committed is rolled back
                if self.conn is not None and (self.waiting == 0 or self.sessions >= GROUP_MAX
                                              or time.monotonic() - self.opened > GROUP_AGE):
                    await self._commit()
            finally:
                self.owner = None
                self.lock.release()

    async def _commit(self) -> None:
        conn, done, self.conn, self.done = self.conn, self.done, None, None
        assert conn is not None and done is not None
        try:
            await conn.commit()
        except BaseException as exc:
            if not done.done():
                done.set_exception(exc)
                done.exception()  # retrieved here: not every session waits for it
            await conn.close()
            raise
        await conn.close()
        if not done.done():
            done.set_result(None)

    async def flush(self) -> None:
        """Commit what is open now (shutdown)."""
        async with self.lock:
            if self.conn is not None:
                await self._commit()


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        kwargs: dict[str, object] = {"echo": echo}
        if self.is_sqlite:
            path = self.url.database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self.group: Group | None = None
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            self.group = Group(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; on SQLite one of the shared transaction (see the module's text)."""
        if self.group is not None:
            async with self.group.session(self.sessions) as s:
                yield s
            return
        async with self.sessions() as s:
            yield s

    @staticmethod
    async def durable(session: AsyncSession) -> None:
        """Wait until what `session` committed is on disk (at once where sessions commit alone)."""
        done = session.info.get("durable")
        if done is not None:
            await asyncio.shield(done)

    async def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        async with self.engine.connect() as conn:
            current = await conn.run_sync(_revision)
            await conn.rollback()
        if current == HEAD:
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def dispose(self) -> None:
        if self.group is not None:
            await self.group.flush()
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


async def _main() -> None:  # pragma: no cover - developer helper
    import sys

    db = Database(sys.argv[1])
    await db.migrate()
    await db.dispose()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main())
