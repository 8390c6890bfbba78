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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for `-n auto`: twice the CPUs, up to eight (at least one per CPU). Most of the suite waits
    on the real bot processes, the fake Bot API and timers rather than on the CPU."""
    cpus = os.cpu_count() or 1
    return max(cpus, min(2 * cpus, 8))


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
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh database per test: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}"
    if PG_URL is None:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432 and TEST_DATABASE_URL not set")
    return PG_URL


@pytest_asyncio.fixture
async def pg_clean(database_url: str) -> AsyncIterator[str]:
    """For PostgreSQL, a new empty database for the test (dropped afterwards)."""
    if not database_url.startswith("postgresql"):
        yield database_url
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    name = "t_" + uuid.uuid4().hex[:12]
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield url.set(database=name).render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest_asyncio.fixture
async def bot(tmp_path) -> AsyncIterator[Harness]:
    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900")
    yield h
    await close_harness(h)


@pytest_asyncio.fixture
async def any_bot(tmp_path, pg_clean) -> AsyncIterator[Harness]:
    """The bot on SQLite and, when reachable, on PostgreSQL."""
    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900", database_url=pg_clean)
    yield h
    await close_harness(h)
