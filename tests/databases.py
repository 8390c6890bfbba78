"""Fresh databases for tests that run the bot on SQLite and on PostgreSQL.

SQLite needs nothing: the bot's default is a file in its data directory (``None`` below). On PostgreSQL each
use gets a new database on the server of ``tests.conftest.PG_URL`` (optionally a copy of a template database,
which PostgreSQL makes by copying files: much cheaper than building the state again), dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL

BOTH = ["sqlite", "postgresql"]
NO_PG = "PostgreSQL not reachable on 127.0.0.1:5432 and TEST_DATABASE_URL not set"


def need_pg() -> str:
    """The server's URL, or skip the test (as `tests.conftest.database_url` does)."""
    if PG_URL is None:
        pytest.skip(NO_PG)
    return PG_URL


def sqlite_url(data_dir: Path) -> str:
    """The bot's default database for this data directory (`Settings._default_database`)."""
    return f"sqlite+aiosqlite:///{(Path(data_dir) / 'studio.db').resolve()}"


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as a DSN for ``asyncpg.connect``."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin_dsn() -> str:
    return asyncpg_dsn(need_pg())


async def create_pg_database(template: str | None = None) -> str:
    """A new database (empty, or a copy of the database `template` names); its SQLAlchemy URL."""
    import asyncpg

    name = "t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(_admin_dsn())
    try:
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return make_url(need_pg()).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    """Drop the database (connections still open to it are ended)."""
    import asyncpg

    conn = await asyncpg.connect(_admin_dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


class Databases:
    """Hands out fresh databases of one kind and drops the PostgreSQL ones at `close()`.

    ``await new()`` is ``None`` for SQLite (the bot's file in its data directory) or a new PostgreSQL URL.
    """

    def __init__(self, kind: str) -> None:
        assert kind in BOTH, kind
        if kind == "postgresql":
            need_pg()
        self.kind = kind
        self.made: list[str] = []

    @property
    def is_pg(self) -> bool:
        return self.kind == "postgresql"

    async def new(self, template: str | None = None) -> str | None:
        if not self.is_pg:
            return None
        url = await create_pg_database(template)
        self.made.append(url)
        return url

    async def close(self) -> None:
        for url in self.made:
            await drop_pg_database(url)
        self.made.clear()


@asynccontextmanager
async def databases(kind: str) -> AsyncIterator[Databases]:
    dbs = Databases(kind)
    try:
        yield dbs
    finally:
        await dbs.close()
