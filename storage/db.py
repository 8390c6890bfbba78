"""Engine, sessions and migrations. Sessions are opened by callers, never inside repositories.

SQLite has one writer. Every session of a SQLite database works on one connection, in turn, as a
transaction of its own (`Writer`). PostgreSQL takes concurrent writers itself: each session has a
pooled connection. Either way a session's work is durable once it has committed.

The rows every update reads and an administrator rarely changes (seasons, unions) are held between
sessions by `RefCache`, emptied by any write to them; on SQLite, where sessions take turns, so are an
application's files and a person's row with their roles and applications (what every update loads).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000  # another process's write lock (a backup, a second tool) is waited for this long
# The newest migration (checked against the migrations folder by tests): a database already there is
# not handed to Alembic, which is imported only to upgrade (it costs ~11 MB of memory for the whole run).
HEAD = "0013"


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


class Writer:
    """The one connection of a SQLite database, lent to one session at a time (SQLite has one writer).

    Each session is a transaction of its own on it (`BEGIN IMMEDIATE` … `COMMIT`): no savepoints, no
    connection checked out of a pool per session. In WAL mode with `synchronous=NORMAL` a commit writes
    the WAL without an fsync (~0.02 ms), so committing each session alone costs less than grouping them,
    which takes a savepoint and its release per session."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        self.conn: AsyncConnection | None = None
        self.owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def session(self, factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        if self.owner is not None and self.owner is asyncio.current_task():
            raise RuntimeError("a second session opened while this task holds one")
        async with self.lock:
            self.owner = asyncio.current_task()
            try:
                if self.conn is None or self.conn.invalidated:
                    await self.close()
                    self.conn = await self.engine.connect()
                session = factory(bind=self.conn)
                try:
                    yield session
                finally:
                    await session.close()  # what was not committed is rolled back
                    if self.conn.invalidated:
                        await self.close()
            finally:
                self.owner = None

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.close()

    async def flush(self) -> None:
        """Give the connection back (shutdown)."""
        async with self.lock:
            await self.close()


# Rows every update reads and an administrator rarely changes; see `RefCache`.
REF_TABLES = frozenset({"seasons", "unions"})
# Held too where sessions take turns on one connection (SQLite), so that no session reads between
# another's write and its end: an application's files, read by every wizard step once there are some.
# "people": a person's row, roles and applications, by user id.
TURN_TABLES = frozenset({"attachments", "people"})
# Tables held by a key that an INSERT names: a new row empties only the entry of its key.
_INSERT_KEYS = {"attachments": "application_id"}
# The tables of a "people" entry and the column naming its person: a session's flush empties the
# entries of the people whose rows it writes; any other write to them empties every entry.
PEOPLE = {"users": "id", "role_grants": "user_id", "applications": "applicant_id"}
MAX_PEOPLE = 2000
_WRITE = re.compile(r'\s*(?:UPDATE|INSERT(?:\s+OR\s+\w+)?\s+INTO|DELETE\s+FROM|REPLACE\s+INTO)\s+"?(\w+)', re.I)


class RefCache:
    """Seasons and unions held between sessions (`storage.repo` reads through it).

    Invalidated explicitly: any statement of this process that writes one of `REF_TABLES` (an
    administrator's change, a submission numbering its season, the seed) empties it at once and again
    when that session ends, and nothing read in between is kept, so no row of an uncommitted or
    rolled-back change stays. A change made by another process (a command-line tool) is seen after
    `TTL` seconds at the latest. An INSERT that names its rows' keys (`_INSERT_KEYS`: an application's
    new file) empties only the entries of those keys, in the same way.

    A person's entry ("people") is written back by the session that used it, once committed (`keep`),
    unless that session added or removed one of their applications or changed their roles."""

    TTL = 60.0

    def __init__(self, tables: frozenset[str] = REF_TABLES) -> None:
        self.rows: dict[str, dict[Any, tuple[float, Any]]] = {t: {} for t in tables}
        self.writing: set[str] = set()
        self.writing_keys: dict[str, set[Any]] = {}
        self.in_flush = False
        self.unkeepable: set[Any] = set()  # people whose applications or roles this session added or removed
        self.kept: list[tuple[Any, Any]] = []  # people entries to hold once this session ends
        self.reads = 0  # rows read from the database into the cache

    def holds(self, table: str) -> bool:
        return table in self.rows

    def get(self, table: str, key: Any) -> Any:
        held = self.rows.get(table)
        hit = held.get(key) if held is not None else None
        if hit is None or time.monotonic() - hit[0] > self.TTL:
            return None
        return hit[1]

    def put(self, table: str, key: Any, value: Any) -> None:
        self.reads += 1
        if table not in self.writing and table in self.rows and key not in self.writing_keys.get(table, ()):
            self.rows[table][key] = (time.monotonic(), value)

    def clear(self) -> None:
        for rows in self.rows.values():
            rows.clear()

    def drop(self, table: str) -> None:
        if table in self.rows:
            self.rows[table].clear()

    def keep(self, key: Any, value: Any) -> None:
        """A person's entry as the session committed it, held when the session ends."""
        if "people" in self.rows:
            self.kept.append((key, value))

    def flushing(self, new: Any, dirty: Any, deleted: Any) -> None:
        """A session's flush is about to write these rows: the people they belong to are emptied."""
        if "people" not in self.rows:
            return
        self.in_flush = True
        keys: set[Any] = set()
        for group, rows in ((0, new), (1, dirty), (2, deleted)):
            for row in rows:
                table = getattr(row, "__tablename__", "")
                column = PEOPLE.get(table)
                if column is None:
                    continue
                mine = {getattr(row, column), *(inspect(row).attrs[column].history.deleted or ())}
                keys |= mine
                if group != 1 or table == "role_grants":
                    self.unkeepable |= mine
        held = self.rows["people"]
        for key in keys:
            held.pop(key, None)
        self.writing_keys.setdefault("people", set()).update(keys)

    def seen(self, statement: str, context: Any = None) -> None:
        """A statement about to run: one that writes a cached table empties what is held of it."""
        if statement[:1] in "SsBb":  # SELECT, SAVEPOINT, BEGIN: most statements
            return
        m = _WRITE.match(statement)
        table = m.group(1).lower() if m is not None else ""
        if table in PEOPLE and "people" in self.rows and not self.in_flush:
            self.rows["people"].clear()
            self.writing.add("people")
        if table not in self.rows:
            return
        keys = _inserted_keys(table, statement, context)
        if keys is None:
            self.rows[table].clear()
            self.writing.add(table)
            return
        for key in keys:
            self.rows[table].pop(key, None)
        self.writing_keys.setdefault(table, set()).update(keys)

    def session_ended(self) -> None:
        for table in self.writing:
            self.rows[table].clear()
        for table, keys in self.writing_keys.items():
            for key in keys:
                self.rows[table].pop(key, None)
        if self.kept and "people" not in self.writing:
            held = self.rows["people"]
            for key, value in self.kept:
                if key not in self.unkeepable:
                    held.pop(key, None)
                    held[key] = (time.monotonic(), value)
            while len(held) > MAX_PEOPLE:
                del held[next(iter(held))]
        self.writing.clear()
        self.writing_keys.clear()
        self.unkeepable.clear()
        self.kept.clear()
        self.in_flush = False


def _inserted_keys(table: str, statement: str, context: Any) -> set[Any] | None:
    """The keys of the rows an INSERT into a table held by key writes (from the execution context's
    parameters), or None: any other write, which empties the whole table."""
    column = _INSERT_KEYS.get(table)
    params = getattr(context, "compiled_parameters", None)
    if column is None or not params or not statement.lstrip()[:6].upper() == "INSERT":
        return None
    if not all(column in p for p in params):
        return None
    return {p[column] for p in params}


class TrackedSession(Session):
    """The sessions of a `Database`: their flushes tell its `RefCache` whose rows they write."""


@event.listens_for(TrackedSession, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    refs = session.info.get("refs")
    if isinstance(refs, RefCache):
        refs.flushing(session.new, session.dirty, session.deleted)


@event.listens_for(TrackedSession, "after_flush_postexec")
def _after_flush(session: Session, _context: Any) -> None:
    refs = session.info.get("refs")
    if isinstance(refs, RefCache):
        refs.in_flush = False


@event.listens_for(TrackedSession, "do_orm_execute")
def _executing(state: Any) -> None:
    # a statement the session is asked to run is no part of a flush (one that found nothing to write
    # ends without `after_flush_postexec`)
    refs = state.session.info.get("refs")
    if isinstance(refs, RefCache):
        refs.in_flush = False


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
        self.writer: Writer | None = None
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            self.writer = Writer(self.engine)
        self.refs = RefCache(REF_TABLES | TURN_TABLES if self.writer is not None else REF_TABLES)
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._before_execute)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, info={"refs": self.refs},
                                           sync_session_class=TrackedSession)

    def _before_execute(self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
                        _many: bool) -> None:
        self.refs.seen(statement, context)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; on SQLite on the one connection, in turn (see `Writer`)."""
        try:
            if self.writer is not None:
                async with self.writer.session(self.sessions) as s:
                    yield s
                return
            async with self.sessions() as s:
                yield s
        finally:
            self.refs.session_ended()

    @staticmethod
    async def durable(session: AsyncSession) -> None:
        """Wait until what `session` committed is durable: each session commits alone, so at once (kept
        for callers written when commits were grouped)."""
        return

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
        if self.writer is not None:
            await self.writer.flush()
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
