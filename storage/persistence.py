"""A python-telegram-bot persistence kept in the database (table `ptb_state`)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from copy import deepcopy
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import BasePersistence, PersistenceInput

from storage.db import Database
from storage.models import PersistedState

# the shapes BasePersistence's methods take (python-telegram-bot names them only in a private module)
ConversationKey = tuple[int | str, ...]
ConversationDict = dict[ConversationKey, object]
CDCData = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]

_MISSING = object()
# the rows an update's persistence writes, gathered to be written in one transaction (`SqlPersistence.batch`)
Row = tuple[str, str, str, Any]  # kind, name, key, data (None: no row)
_BATCH: ContextVar[list[Row] | None] = ContextVar("persistence_batch", default=None)
_TABLE = cast(Table, PersistedState.__table__)
_ROW = and_(_TABLE.c.kind == bindparam("_kind"), _TABLE.c.name == bindparam("_name"), _TABLE.c.key == bindparam("_key"))
# built once: PTB hands over a changed state after many updates (a reviewer's every step)
_DELETE = delete(_TABLE).where(_ROW)


def _upsert(dialect: str) -> Any:
    """The row written in one statement (INSERT … ON CONFLICT DO UPDATE; the two databases the bot runs on)."""
    module: Any
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite as module
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        raise ValueError(f"no state upsert for the {dialect} database")
    stmt = module.insert(_TABLE)
    return stmt.on_conflict_do_update(index_elements=[_TABLE.c.kind, _TABLE.c.name, _TABLE.c.key],
                                      set_={"data": stmt.excluded.data})


class SqlPersistence(BasePersistence[dict[str, Any], dict[str, Any], dict[str, Any]]):
    """Stores PTB's data as JSON rows; each update is written as soon as PTB hands it over."""

    def __init__(self, db: Database, *, update_interval: float = 60) -> None:
        super().__init__(store_data=PersistenceInput(), update_interval=update_interval)
        self.db = db
        # what the database holds, so an unchanged value is not written again
        self._stored: dict[tuple[str, str, str], Any] = {}
        self._upsert = _upsert(db.engine.dialect.name)

    async def _load(self, kind: str, name: str | None = None) -> list[PersistedState]:
        q = select(PersistedState).where(PersistedState.kind == kind)
        if name is not None:
            q = q.where(PersistedState.name == name)
        async with self.db.session() as s:
            rows = list((await s.scalars(q)).all())
        for r in rows:
            self._stored[(r.kind, r.name, r.key)] = deepcopy(r.data)
        return rows

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """What is handed over inside (PTB's `update_persistence` after one update: its conversations and its
        user data) is written together, in one transaction, when the block ends."""
        rows: list[Row] = []
        token = _BATCH.set(rows)
        try:
            yield
        finally:
            _BATCH.reset(token)
        await self._write(rows)

    async def _put(self, row: Row) -> None:
        kind, name, key, data = row
        if self._stored.get((kind, name, key), _MISSING) == data:
            return
        own = (kind, name, key, deepcopy(data))
        rows = _BATCH.get()
        if rows is not None:
            rows.append(own)
        else:
            await self._write([own])

    async def _write(self, rows: list[Row]) -> None:
        if not rows:
            return
        async with self.db.session() as s:
            await self._execute(s, rows)
            await s.commit()
        await self.db.durable(s)
        self._remember(rows)

    async def _execute(self, session: AsyncSession, rows: list[Row]) -> None:
        for kind, name, key, data in rows:
            if data is None:
                await session.execute(_DELETE, {"_kind": kind, "_name": name, "_key": key})
            else:
                await session.execute(self._upsert, {"kind": kind, "name": name, "key": key, "data": data})

    def _remember(self, rows: list[Row]) -> None:
        """Rows written (their values the persistence's own copies) as the database now holds them."""
        for kind, name, key, data in rows:
            self._stored[(kind, name, key)] = data

    @staticmethod
    def conversation_row(name: str, key: ConversationKey, state: object | None) -> Row:
        return ("conv", name, json.dumps(list(key)), state)

    @staticmethod
    def user_row(user_id: int, data: dict[str, Any] | None) -> Row:
        return ("user", "", str(user_id), data or None)

    async def stage(self, session: AsyncSession, rows: list[Row]) -> Callable[[], None]:
        """Write what an update's handler already knows it leaves behind (`conversation_row`, `user_row`)
        in that update's own transaction; call the result once it is committed. What PTB hands over
        afterwards is then found stored already and costs no transaction of its own."""
        changed = [(k, n, key, deepcopy(d)) for k, n, key, d in rows if self._stored.get((k, n, key), _MISSING) != d]
        await self._execute(session, changed)
        return lambda: self._remember(changed)

    async def get_user_data(self) -> dict[int, dict[str, Any]]:
        return defaultdict(dict, {int(r.key): r.data for r in await self._load("user")})

    async def get_chat_data(self) -> dict[int, dict[str, Any]]:
        return defaultdict(dict, {int(r.key): r.data for r in await self._load("chat")})

    async def get_bot_data(self) -> dict[str, Any]:
        rows = await self._load("bot")
        return rows[0].data if rows else {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        return {tuple(json.loads(r.key)): r.data for r in await self._load("conv", name)}

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        await self._put(self.conversation_row(name, key, new_state))

    async def update_user_data(self, user_id: int, data: dict[str, Any]) -> None:
        await self._put(self.user_row(user_id, data))

    async def update_chat_data(self, chat_id: int, data: dict[str, Any]) -> None:
        await self._put(("chat", "", str(chat_id), data or None))

    async def update_bot_data(self, data: dict[str, Any]) -> None:
        await self._put(("bot", "", "", data))

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._put(("chat", "", str(chat_id), None))

    async def drop_user_data(self, user_id: int) -> None:
        await self._put(("user", "", str(user_id), None))

    async def refresh_user_data(self, user_id: int, user_data: dict[str, Any]) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[str, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[str, Any]) -> None:
        return None

    async def flush(self) -> None:
        return None

