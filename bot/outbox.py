"""Replies kept in the database until Telegram has them.

A handler's replies are written to `outbox` in the transaction that stores the answer they confirm, and
sent after the commit. A bot killed in between sends them when it starts again. The same row marks the
update as handled, so an update Telegram delivers again after a crash is not applied twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.warnings import PTBUserWarning

from bot.clock import Clock
from storage.db import Database
from storage.models import Outbox as OutboxRow

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_MESSAGE = 4096
SEND_TRIES = 3
KEEP_SENT = timedelta(days=2)  # long enough to recognise an update delivered again after a crash
KEEP_UNSENT = timedelta(days=7)


def update_key(update_id: int, n: int = 0) -> str:
    return f"u{update_id}" if n == 0 else f"u{update_id}.{n}"


@dataclass
class Reply:
    """One message to send, or to put in place of the pressed one (`edit` = [chat_id, message_id])."""

    text: str
    keyboard: dict[str, Any] | None = None
    chat_id: int = 0
    edit: list[int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"t": self.text, "k": self.keyboard, "c": self.chat_id, "e": self.edit}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Reply:
        return cls(d["t"], d.get("k"), int(d["c"]), d.get("e"))


@dataclass
class Payload:
    """Everything one update answers: the callback answer and the messages, in order."""

    query: list[Any] | None = None  # [callback query id, text, show_alert]
    replies: list[Reply] = field(default_factory=list)

    def empty(self) -> bool:
        return self.query is None and not self.replies

    def to_json(self) -> dict[str, Any]:
        return {"q": self.query, "m": [r.to_json() for r in self.replies]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Payload:
        return cls(d.get("q"), [Reply.from_json(r) for r in d.get("m") or []])


_OTHER_FIELDS = tuple(n for n in InlineKeyboardButton.__slots__ if n not in ("text", "callback_data"))


class Key(InlineKeyboardButton):
    """A button of text and callback data, made without PTB's constructor (which validates and freezes
    every field): the wizard makes a few dozen per update. Read only by `markup_json` and `to_dict`."""

    __slots__ = ()

    def __init__(self, text: str, callback_data: str) -> None:  # PTB's __init__ skipped on purpose
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "callback_data", callback_data)

    def to_dict(self, recursive: bool = True) -> dict[str, Any]:
        return {"text": self.text, "callback_data": self.callback_data}


def markup_json(markup: InlineKeyboardMarkup) -> dict[str, Any]:
    """The keyboard as the Bot API takes it: `to_dict()`, written out directly for our buttons (text and
    callback data only), which are nearly all of them (PTB's generic `to_dict` was a tenth of the load)."""
    rows = []
    for row in markup.inline_keyboard:
        out = []
        for b in row:
            plain = type(b) is InlineKeyboardButton and all(getattr(b, n) is None for n in _OTHER_FIELDS)
            if type(b) is Key or plain:
                out.append({"text": b.text, "callback_data": b.callback_data})
            else:
                out.append(b.to_dict())
        rows.append(out)
    return {"inline_keyboard": rows}


def allow_raw_calls() -> None:
    """The outbox (and the notifications) send their JSON with `Bot.do_api_request` on purpose: the typed
    methods would rebuild PTB objects from it and parse every reply into a `Message` nobody reads
    (together an eighth of the bot's work under load). PTB's hint to use the typed methods is silenced
    for these calls."""
    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.(sendMessage|editMessageText|answerCallbackQuery"
                            r"|sendDocument|sendVideo)'",
                            category=PTBUserWarning)


_NO_PREVIEW = {"is_disabled": True}


def message_params(chat_id: int, text: str, keyboard: dict[str, Any] | None = None) -> dict[str, Any]:
    """sendMessage's (and, with a message_id, editMessageText's) parameters: HTML, no link previews."""
    params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML.value,
                              "link_preview_options": _NO_PREVIEW}
    if keyboard:
        params["reply_markup"] = keyboard
    return params


async def deliver(bot: Bot, payload: Payload) -> None:
    """Send a payload: answer the press, then each message (split when too long)."""
    if payload.query is not None:
        qid, text, alert = payload.query
        answer: dict[str, Any] = {"callback_query_id": qid, "show_alert": bool(alert)}
        if text:
            answer["text"] = text[:200]
        try:
            await bot.do_api_request("answerCallbackQuery", answer)
        except BadRequest as exc:  # too old to answer (e.g. sent again after a restart); the reply informs
            log.info("callback answer failed: %s", exc)
    for r in payload.replies:
        parts = split_message(r.text)
        if len(parts) > 1:  # too long for one message: send it in parts, buttons on the last
            for i, part in enumerate(parts):
                keyboard = r.keyboard if i == len(parts) - 1 else None
                await retrying(functools.partial(bot.do_api_request, "sendMessage",
                                                 message_params(r.chat_id, part, keyboard)))
            continue
        if r.edit:
            edit = {**message_params(r.edit[0], r.text, r.keyboard), "message_id": r.edit[1]}
            try:
                await retrying(functools.partial(bot.do_api_request, "editMessageText", edit))
                continue
            except BadRequest as exc:
                if "not modified" in str(exc):
                    continue
                log.info("edit failed, sending instead: %s", exc)
        await retrying(functools.partial(bot.do_api_request, "sendMessage",
                                         message_params(r.chat_id, r.text, r.keyboard)))


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """A reply whose request failed in transit (5xx, dropped, timed out) is tried again: the answer is
    already saved, so the user should see it rather than the apology."""
    for attempt in range(SEND_TRIES):
        try:
            return await call()
        except BadRequest:
            raise
        except (TimedOut, NetworkError):
            if attempt + 1 == SEND_TRIES:
                raise
            await asyncio.sleep(0.3 * 2**attempt)
    raise AssertionError("unreachable")


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split at paragraph breaks (where no HTML tag is open in our texts) to fit Telegram's limit."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for para in text.split("\n\n"):
        while len(para) > limit:  # a single huge paragraph: cut at line breaks
            cut = para.rfind("\n", 0, limit)
            cut = cut if cut > 0 else limit
            parts.append(para[:cut])
            para = para[cut:].lstrip("\n")
        candidate = f"{current}\n\n{para}" if current else para
        if len(candidate) > limit:
            parts.append(current)
            current = para
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


# Built once: these run for every update, and building a statement costs more than running it.
_TABLE = cast(Table, OutboxRow.__table__)
_INSERT = insert(_TABLE)
_MARK = update(_TABLE).where(_TABLE.c.key.in_(bindparam("keys", expanding=True))).values(sent_at=bindparam("at"))
MARK_IDLE = 0.05  # seconds; marks not taken by a handler's transaction by then get their own
MARK_BATCH = 8  # a handler's transaction takes the marks along once this many are waiting


class Outbox:
    """Writes rows with the handler's transaction; marks them sent with the next one.

    Rows whose replies went out are marked along with a handler's transaction (whoever's it is) once
    `MARK_BATCH` are waiting, so under load marking costs one statement per batch and no commit of its
    own; otherwise a background task marks them after `MARK_IDLE`.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.handled: set[str] = set()  # keys found at start-up: updates that may be delivered again
        self._sent: list[str] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, session: Session, key: str, chat_id: int | None, payload: Payload) -> Callable[[], None]:
        """Write the row (in the caller's transaction, from sync code: `AsyncSession.run_sync`), and the
        marks of replies sent meanwhile when enough are waiting; returns the undo that hands the marks
        back when this transaction fails."""
        now = self.clock.now()
        conn = session.connection()  # Core statements: the ORM has nothing to add to them
        conn.execute(_INSERT, {"key": key, "chat_id": chat_id, "payload": payload.to_json(),
                               "created_at": now, "sent_at": now if payload.empty() else None})
        if len(self._sent) < MARK_BATCH:
            return lambda: None
        keys, self._sent = self._sent, []
        conn.execute(_MARK, {"keys": keys, "at": now})
        return lambda: self._sent.extend(keys)

    def sent(self, key: str) -> None:
        """Record later, in one transaction with others sent meanwhile."""
        self._sent.append(key)
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._marker())
        assert self._wake is not None
        self._wake.set()

    async def _marker(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(MARK_IDLE)  # a handler's transaction may take them meanwhile
            try:
                await self._mark()
            except Exception:  # noqa: BLE001 - at worst the reply is sent again after a restart
                log.exception("could not mark replies sent")

    async def flush(self) -> None:
        """Write the pending marks now (shutdown, tests)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._mark()

    async def _mark(self) -> None:
        keys, self._sent = self._sent, []
        if keys:
            try:
                async with self.db.session() as s:
                    await s.execute(_MARK, {"keys": keys, "at": self.clock.now()})
                    await s.commit()
            except BaseException:
                self._sent.extend(keys)
                raise

    async def start(self, bot: Bot) -> int:
        """At start-up: drop old rows, remember recent keys, send what a crash left unsent; how many."""
        now = self.clock.now()
        async with self.db.session() as s:
            await s.execute(delete(OutboxRow).where(
                ((OutboxRow.sent_at.is_not(None)) & (OutboxRow.created_at < now - KEEP_SENT))
                | (OutboxRow.created_at < now - KEEP_UNSENT)))
            self.handled = set((await s.scalars(select(OutboxRow.key).where(
                OutboxRow.key.like("u%"), OutboxRow.created_at >= now - KEEP_SENT))).all())
            unsent = list((await s.execute(select(OutboxRow.key, OutboxRow.payload).where(
                OutboxRow.sent_at.is_(None)).order_by(OutboxRow.created_at, OutboxRow.key))).all())
            await s.commit()
        for key, data in unsent:
            try:
                await deliver(bot, Payload.from_json(data))
            except Exception as exc:  # noqa: BLE001 - a blocked chat or a reply Telegram refuses: keep going
                log.warning("reply %s left from before the restart not sent: %s", key, exc)
            self.sent(key)
        if unsent:
            log.info("sent %d replies left unsent by the last run", len(unsent))
        return len(unsent)
