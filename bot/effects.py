"""What the bot owes people on Telegram, as rows written with the change that causes them.

Every reply, card, notice, document and callback answer is an `Effect` added to the session of the
update (or job) whose change causes it, so it is committed together with that change or not at all;
`bot.sender` delivers the committed rows. Kinds and their payloads:

- `answer`   the answer to a button press: `id`, `text`, `alert`
- `message`  an HTML message: `text`, `keyboard` (the Bot API's dict, or none), `screen`
- `edit`     the pressed message replaced: `message_id`, `text`, `keyboard`, `screen`; sent anew if it
             cannot be edited

A `screen` names a flow whose questions are answered one after another (the wizard): only its newest
message keeps buttons, the one before loses them when the next is delivered (if it still has any), so
nothing stale is left to press; with `retire` it is changed into that text (the question with the answer
it got).

A scheduled notice (a reminder, an escalation, an opening notice, a digest, returned materials) carries a
key `once` = kind:recipient:subject:occasion, unique among the effects: the job that decides to send it
writes it with `write_once` in the same transaction, so a run after a crash finds it owed already and
adds nothing.
- `album`    photos by Telegram file id: `photos`, `caption`
- `file`     one document, video or photo by file id: `type`, `file_id`, `caption`
- `card`     a reviewer's card (`review` = its `review_messages` row, which gets the message id); with a
             `screen`, the screen's previous message loses its buttons once the card is delivered
- `close`    a decided card's text replaced, its decision buttons removed: `review`, `text`, `keyboard`
- `render`   a document made after the commit and sent (`what`: form, roster, archive, chart …)
- `commands` the person's command menu, set from their roles as they are when it is sent
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy import insert as sa_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from storage.models import Effect

MAX_MESSAGE = 4096


@dataclass
class Owed:
    """One effect before it is written."""

    chat_id: int
    kind: str
    payload: dict[str, Any]
    stale_ok: bool = False
    once: str | None = None  # a scheduled notice's key

    def row(self, origin: str | None, now: Any) -> Effect:
        return Effect(origin=origin, chat_id=self.chat_id, kind=self.kind, payload=self.payload,
                      stale_ok=self.stale_ok, created_at=now, attempts=0, once=self.once)


def keyboard_json(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    """The buttons as Telegram's JSON, as `markup.to_dict()` gives them; a button that has only its text and
    callback data is written directly (every screen has a keyboard; the generic walk costs several times
    as much)."""
    if markup is None:
        return None
    return {"inline_keyboard": [[_button_json(b) for b in row] for row in markup.inline_keyboard]}


def _button_json(b: InlineKeyboardButton) -> dict[str, Any]:
    if type(b.callback_data) is str and not b.api_kwargs and all(getattr(b, n) is None for n in _other_fields()):
        return {"text": b.text, "callback_data": b.callback_data}
    return b.to_dict()


@cache
def _other_fields() -> tuple[str, ...]:
    """What a button may carry besides its text and callback data, as this python-telegram-bot names it."""
    names = inspect.signature(InlineKeyboardButton.__init__).parameters
    return tuple(n for n in names if n not in ("self", "text", "callback_data", "api_kwargs"))


def message(chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None, *, stale_ok: bool = False,
            screen: str | None = None, once: str | None = None, retire: str | None = None) -> Owed:
    payload: dict[str, Any] = {"text": text, "keyboard": keyboard_json(markup)}
    _screen(payload, screen, retire)
    return Owed(chat_id, "message", payload, stale_ok, once)


def edit(chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None, *,
         screen: str | None = None, retire: str | None = None) -> Owed:
    payload: dict[str, Any] = {"message_id": message_id, "text": text, "keyboard": keyboard_json(markup)}
    _screen(payload, screen, retire)
    return Owed(chat_id, "edit", payload, True)


def _screen(payload: dict[str, Any], screen: str | None, retire: str | None) -> None:
    if screen:
        payload["screen"] = screen
        if retire:
            payload["retire"] = retire


def answer(chat_id: int, query_id: str, text: str = "", alert: bool = False) -> Owed:
    return Owed(chat_id, "answer", {"id": query_id, "text": text[:200], "alert": alert}, True)


def album(chat_id: int, photos: list[str], caption: str = "") -> Owed:
    return Owed(chat_id, "album", {"photos": photos[:10], "caption": caption})


def file(chat_id: int, kind: str, file_id: str, caption: str = "") -> Owed:
    return Owed(chat_id, "file", {"type": kind, "file_id": file_id, "caption": caption})


def card(chat_id: int, review_id: int, text: str, markup: InlineKeyboardMarkup | None, *,
         screen: str | None = None) -> Owed:
    payload: dict[str, Any] = {"review": review_id, "text": text, "keyboard": keyboard_json(markup)}
    if screen:
        payload["screen"] = screen
    return Owed(chat_id, "card", payload)


def close(chat_id: int, review_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> Owed:
    return Owed(chat_id, "close", {"review": review_id, "text": text, "keyboard": keyboard_json(markup)})


def render(chat_id: int, what: str, *, once: str | None = None, **params: Any) -> Owed:
    return Owed(chat_id, "render", {"what": what, **params}, once=once)


def commands(chat_id: int) -> Owed:
    return Owed(chat_id, "commands", {})


def write(session: AsyncSession, owed: list[Owed], origin: str | None, now: Any) -> list[Effect]:
    """Add the rows to the session (they are committed with it); the rows, for the sender afterwards."""
    rows = [o.row(origin, now) for o in owed]
    session.add_all(rows)
    return rows


TABLE = cast(Table, Effect.__table__)  # the effect rows, for statements of Core
_INSERT = sa_insert(TABLE).returning(TABLE.c.id)
_INSERT_ORDERED = sa_insert(TABLE).returning(TABLE.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class Written:
    """An effect row as `insert` stored it (what the sender takes, without an ORM object per row)."""

    id: int
    origin: str | None
    chat_id: int
    kind: str
    payload: dict[str, Any]
    stale_ok: bool
    created_at: Any
    once: str | None
    attempts: int = 0


async def insert(session: AsyncSession, owed: list[Owed], origin: str | None, now: Any) -> list[Written]:
    """The rows inserted in one statement, committed with the session; the rows, for the sender. A Core
    INSERT … RETURNING id of the table, its parameters a list: SQLAlchemy renders them as one multi-row
    statement ("insertmanyvalues") from a compiled form it caches, where a statement built with the rows
    in `values()` (or through the ORM) is compiled again on every call.

    SQLite gives the rows of one multi-row INSERT increasing rowids in the order of their VALUES (one
    writer, each row one more than the largest), so its ids, sorted, are given out in order; elsewhere
    SQLAlchemy matches the returned ids to the rows itself (`sort_by_parameter_order`)."""
    if not owed:
        return []
    values = [{"origin": origin, "chat_id": o.chat_id, "kind": o.kind, "payload": o.payload, "stale_ok": o.stale_ok,
               "created_at": now, "attempts": 0, "due_at": None, "sent_at": None, "result": None, "once": o.once}
              for o in owed]
    if session.get_bind().dialect.name == "sqlite":
        ids = sorted((await session.execute(_INSERT, values)).scalars())
    else:
        ids = list((await session.execute(_INSERT_ORDERED, values)).scalars())
    return [Written(row_id, origin, o.chat_id, o.kind, o.payload, o.stale_ok, now, o.once)
            for row_id, o in zip(ids, owed, strict=True)]


async def write_once(session: AsyncSession, owed: Owed, origin: str | None, now: Any) -> Effect | None:
    """Add a scheduled notice unless its key is owed already (in this transaction or before); the row, or
    None. Each in a savepoint, so a key taken meanwhile by another run undoes only this row."""
    assert owed.once, "a scheduled notice needs its key"
    if await session.scalar(select(Effect.id).where(Effect.once == owed.once)) is not None:
        return None
    row = owed.row(origin, now)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


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
