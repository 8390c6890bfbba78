"""SQLite for SQLAlchemy's asyncio engine, run on the event loop's own thread.

aiosqlite hands every call (cursor, execute, fetch, close, commit) to a worker thread and back, four
thread round trips per statement; for this bot's statements, indexed lookups that take microseconds in
SQLite itself, those hops cost more than the queries. Here the same aiosqlite-shaped connection calls
`sqlite3` directly. The one way SQLite can block, waiting for another connection's write lock, is not
left to SQLite's busy handler (it would stop the whole event loop): SQLite answers "busy" at once and the
call is retried after an asyncio sleep, so other updates go on meanwhile. The wait is bounded by
`busy_timeout`, like SQLite's own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class InlineCursor:
    """The aiosqlite cursor interface over a `sqlite3.Cursor`."""

    def __init__(self, conn: InlineConnection) -> None:
        assert conn.raw is not None, "connection closed"
        self._conn = conn
        self._cursor = conn.raw.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        await self._conn.run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> InlineCursor:
        rows = list(seq)  # may be retried
        await self._conn.run(self._cursor.executemany, sql, rows)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class InlineConnection:
    """The aiosqlite connection interface over a `sqlite3.Connection` used on the loop's thread."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.raw: sqlite3.Connection | None = sqlite3.connect(path, timeout=0, check_same_thread=False)
        self.busy_timeout = busy_timeout
        self.retries = 0  # calls that met another connection's lock (for tests and the benchmark)

    @property
    def _connection(self) -> sqlite3.Connection | None:  # what SQLAlchemy's adapter checks
        return self.raw

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Call now; while another connection holds the lock, retry after short sleeps."""
        delay, waited = 0.001, 0.0
        while True:
            try:
                return fn(*args)
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or waited >= self.busy_timeout:
                    raise
            self.retries += 1
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)

    def cursor(self) -> InlineCursor:
        assert self.raw is not None, "connection closed"
        return InlineCursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        cur = self.cursor()
        return await cur.execute(sql, parameters)

    async def commit(self) -> None:
        if self.raw is not None:
            await self.run(self.raw.commit)

    async def rollback(self) -> None:
        if self.raw is not None:
            self.raw.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self.raw is not None:
            self.raw.close()
            self.raw = None

    async def create_function(self, *args: Any, **kw: Any) -> None:
        assert self.raw is not None
        self.raw.create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        assert self.raw is not None
        return self.raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        assert self.raw is not None
        self.raw.isolation_level = value  # type: ignore[assignment]


def creator(path: str, busy_timeout: float = 10.0) -> Callable[[], Any]:
    """`create_async_engine(..., async_creator=creator(path))`."""

    async def connect() -> InlineConnection:
        return InlineConnection(path, busy_timeout)

    return connect
