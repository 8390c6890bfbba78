"""Shared fixtures: a fresh SQLite file per test, and the same on PostgreSQL when reachable."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from tests.offline import Harness, close_harness, make_harness

SH = ZoneInfo("Asia/Shanghai")
JULY_10 = datetime(2026, 7, 10, 10, 0, tzinfo=SH)


def _pg_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    except OSError:
        return None


PG_URL = _pg_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh database per test: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}"
    if PG_URL is None:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432 and TEST_DATABASE_URL not set")
    return PG_URL


@pytest_asyncio.fixture
async def pg_clean(database_url: str) -> AsyncIterator[str]:
    """For PostgreSQL, isolate the test in its own schema (dropped afterwards)."""
    if not database_url.startswith("postgresql"):
        yield database_url
        return
    import asyncpg

    schema = "t_" + uuid.uuid4().hex[:12]
    dsn = database_url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    yield f"{database_url}?options=-csearch_path%3D{schema}" if "?" not in database_url else database_url
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()


@pytest_asyncio.fixture
async def bot(tmp_path) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900")
    yield h
    await close_harness(h)
