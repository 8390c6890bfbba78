"""Engine, sessions and migrations. Sessions are opened by callers, never inside repositories."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import sqlite_inline

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT = 10.0  # seconds a statement waits for another connection's write lock
# The newest migration (checked against the migrations folder by tests): a database already there is
# not handed to Alembic, which is imported only to upgrade (it costs ~11 MB of memory for the whole run).
HEAD = "0005"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives the process being killed.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # no waiting inside SQLite: a busy database is retried with asyncio sleeps (storage.sqlite_inline)
    cur.execute("PRAGMA busy_timeout=0")
    cur.close()


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        kwargs: dict[str, object] = {"echo": echo}
        if self.is_sqlite:
            path = self.url.database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                kwargs["async_creator"] = sqlite_inline.creator(path, BUSY_TIMEOUT)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        session = self.sessions()
        try:
            yield session
        finally:
            # closed directly: `async with AsyncSession` closes in a new task, shielded from cancellation,
            # which cost a tenth of a short transaction; a close cut short at shutdown only leaves the
            # connection to the pool's garbage collection
            await session.close()

    async def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        async with self.engine.connect() as conn:
            current = await conn.run_sync(_revision)
        if current == HEAD:
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def dispose(self) -> None:
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
