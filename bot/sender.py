"""The one sender of effects (`bot.effects`): in order per chat, retried until Telegram takes them.

Rows come in two ways: pushed right after the commit that wrote them (the usual way, no read), and
read from the database at start-up and by a periodic sweep (what a crash or a long outage left
unsent). Each chat's rows go out one at a time in the order they were written (documents that are made after
the commit in a lane of their own, so that they never hold up the next answer); chats are served
concurrently. Flood waits (429) wait `retry_after`; time-outs, dropped connections and 5xx are
retried with a bounded back-off, then parked for the sweep; one row that fails never holds up
another chat. A row is marked sent as soon as Telegram accepted it, and a chat's next row goes out only
once that mark is stored: a kill repeats at most the one row per chat that was in hand. The marks of all
chats share a transaction: the sender's recording transaction takes every mark waiting by the time it has
the connection (under load, the marks of many chats). A callback answer is the exception to waiting: the
row after it goes out before its mark is stored (with that row's mark at the latest), since Telegram
refuses a second answer to the same press, so an answer given again after a kill shows nothing.

Scheduled notices (rows with a `once` key: reminders, digests …) go out one after another in a lane of
their own, each marked before the next is sent, so a kill in the middle of a batch repeats at most one.

Small calls (a reply, an edit, a callback answer) have short time-outs (`SMALL`), so a stalled call is
given up and tried again within seconds; the person's own replies never wait for a free slot behind calls
to other people (`OTHERS_AT_ONCE`). A retry never shows a person an old screen: when a try of their own
reply fails and a newer reply of theirs is already queued, the old one is superseded, not sent; a flow's
screen older than the one last delivered is never sent. A reply too long for one message is resumed
after the parts Telegram already took.

Of a flow's screens (`screen` in the payload) only the newest message keeps its buttons: once the next
one is delivered, the previous one's are removed if it still has any, or it is changed into the
payload's `retire` text (best effort, once; a stale press is refused anyway).

After a restart the person's own screens that went stale meanwhile are not replayed one by one:
per chat only the newest is sent (it says where they are), and old callback answers are dropped.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.clock import Clock
from bot.effects import TABLE as _EFFECTS
from bot.effects import Written, split_message
from storage.db import Database
from storage.models import Effect, HandledUpdate, ReviewMessage, Screen, User

log = logging.getLogger(__name__)

OTHERS_AT_ONCE = 12  # calls to other people at once; the connection pool (16) keeps room for replies
QUICK_TRIES = 6  # then the row is parked for the sweep
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
PARK = timedelta(minutes=2)
SWEEP_SECONDS = 30.0
ANSWER_TTL = timedelta(seconds=10)  # Telegram no longer takes the answer to an older press
KEEP_SENT = timedelta(days=2)
KEEP_UNSENT = timedelta(days=7)
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
SMALL_TIMEOUT = 4.0  # seconds for a reply, an edit, an answer; Telegram takes them in well under one
SMALL: dict[str, Any] = {f"{what}_timeout": SMALL_TIMEOUT for what in ("read", "write", "connect", "pool")}

CHAT, RENDER, ONCE = "chat", "render", "once"
Lane = tuple[int, str]  # (chat, CHAT or RENDER), or (0, ONCE) for the scheduled notices
Renderer = Callable[[Bot, int, dict[str, Any]], Awaitable[None]]


class Failed(Exception):
    """A row that cannot be delivered, for good (not worth another try)."""


@dataclass
class Item:
    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int = 0
    origin: str | None = None
    own: bool = False  # the actor's own reply (`Effect.stale_ok`)
    once: str | None = None
    parts: list[int] = field(default_factory=list)  # messages of a long reply Telegram took already

    @property
    def lane(self) -> Lane:
        """Messages of a chat go out in order; documents made after the commit go out in order too, in a
        lane of their own, so that a form taking seconds to make never holds up the person's next answer;
        scheduled notices one after another, in one lane for all."""
        if self.kind == "render":
            return (self.chat_id, RENDER)
        return (0, ONCE) if self.once else (self.chat_id, CHAT)

    @property
    def screen(self) -> str | None:
        return self.payload.get("screen") if self.kind in ("message", "edit", "card") else None

    @classmethod
    def of(cls, row: Effect | Written) -> Item:
        return cls(row.id, row.chat_id, row.kind, row.payload, row.created_at, row.attempts or 0, row.origin,
                   bool(row.stale_ok), row.once)


@dataclass(eq=False)
class Mark:
    item: Item
    result: str
    message_id: int | None = None
    blocked: bool = False
    park_until: datetime | None = None


ScreenKey = tuple[int, str]  # (chat, flow)


@dataclass(eq=False)
class Carried:
    """Marks written in a transaction not yet committed: `Sender.stored` once it is, `Sender.put_back` if
    it is not."""

    marks: list[Mark]
    waiters: list[asyncio.Future[None]]
    screens: dict[ScreenKey, tuple[int, bool]]


class Sender:
    """Delivers effect rows; see the module's text."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.bot: Bot | None = None
        self.renderers: dict[str, Renderer] = {}
        self.on_commands: Callable[[Bot, int], Awaitable[None]] | None = None
        self.on_failed: Callable[[Item, str], Awaitable[None]] | None = None  # a render that failed for good
        self.on_blocked: Callable[[Item], Awaitable[None]] | None = None  # a card's reviewer blocked the bot
        self.queues: dict[Lane, deque[Item]] = {}
        self.workers: dict[Lane, asyncio.Task[None]] = {}
        self.known: set[int] = set()
        self.limit = asyncio.Semaphore(OTHERS_AT_ONCE)
        self.unrecorded: list[Mark] = []  # accepted, their marks not stored yet
        self._waiters: list[asyncio.Future[None]] = []  # lanes waiting for `unrecorded` to be stored
        self._recorder: asyncio.Task[None] | None = None
        self.recorded: dict[ScreenKey, tuple[int, bool] | None] = {}  # the `screens` rows as stored
        self._sweeper: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.delivered = 0
        # a flow's newest message per chat: its id and whether it still has buttons
        self.screens: dict[tuple[int, str], tuple[int, bool] | None] = {}
        self.shown: dict[tuple[int, str], int] = {}  # the effect of a flow's screen delivered last
        self.looks: dict[tuple[int, int], tuple[str, Any]] = {}  # a screen message's text and buttons, as sent
        self.waiting = 0  # batches held back until an actor's own answer is out (`push_after`)
        self.stopping = False

    # ------------------------------------------------------------------ intake

    def push(self, rows: Iterable[Effect | Written | Item]) -> None:
        """Deliver these committed rows (in their order, after what each chat has queued already). Before
        the bot is known they stay owed in the database, for `start` or the sweep."""
        if self.bot is None:
            return
        for row in rows:
            item = row if isinstance(row, Item) else Item.of(row)
            if item.id in self.known:
                continue
            self.known.add(item.id)
            lane = item.lane
            self.queues.setdefault(lane, deque()).append(item)
            self._idle.clear()
            if lane not in self.workers:
                self.workers[lane] = asyncio.get_running_loop().create_task(self._serve(lane))

    def push_after(self, chat_id: int, rows: Sequence[Effect | Written]) -> None:
        """Deliver `rows` once the messages queued for `chat_id` are out (an update's effects for other
        people follow the actor's own answer, as they would be seen: a kill in between then repeats
        nothing that was already delivered to them)."""
        worker = self.workers.get((chat_id, CHAT))
        if worker is None or worker.done():
            self.push(rows)
            return
        self._idle.clear()
        self.waiting += 1

        def later(_: asyncio.Task[None]) -> None:
            self.waiting -= 1
            self.push(rows)
            self._check_idle()

        worker.add_done_callback(later)

    async def start(self, bot: Bot, *, sweep: float | None = SWEEP_SECONDS) -> int:
        """Drop old rows, send what the last run left unsent (stale screens folded), start the sweep; how
        many rows were taken up."""
        self.bot = bot
        now = self.clock.now()
        async with self.db.session() as s:
            await s.execute(delete(Effect).where(
                (Effect.sent_at.is_not(None) & (Effect.created_at < now - KEEP_SENT))
                | (Effect.created_at < now - KEEP_UNSENT)))
            await s.execute(delete(HandledUpdate).where(HandledUpdate.created_at < now - KEEP_SENT))
            rows = list((await s.scalars(select(Effect).where(Effect.sent_at.is_(None)).order_by(Effect.id))).all())
            keep, dropped = fold_stale(rows, now)
            if dropped:
                await s.execute(update(Effect).where(Effect.id.in_([r.id for r in dropped]))
                                .values(sent_at=now, result="superseded"))
            await s.commit()
        await self.db.durable(s)
        if dropped:
            log.info("%d stale replies from before the restart folded into the newest per chat", len(dropped))
        self.push(keep)
        if sweep:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(sweep))
        if keep:
            log.info("%d effects left unsent by the last run taken up", len(keep))
        return len(keep)

    async def _sweep(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except Exception:
                log.exception("effects sweep failed")

    async def sweep(self) -> int:
        """Take up unsent rows that are due and not in hand (parked ones, a lost push); how many."""
        now = self.clock.now()
        async with self.db.session() as s:
            rows = list((await s.scalars(select(Effect).where(
                Effect.sent_at.is_(None), (Effect.due_at.is_(None) & (Effect.created_at < now - timedelta(seconds=10)))
                | (Effect.due_at <= now)).order_by(Effect.id).limit(500))).all())
        rows = [r for r in rows if r.id not in self.known]
        self.push(rows)
        return len(rows)

    # ------------------------------------------------------------------ delivery

    async def _serve(self, lane: Lane) -> None:
        queue = self.queues[lane]
        try:
            while queue and not self.stopping:
                item = queue[0]
                if item.own:  # never waits behind calls to other people
                    mark = await self._attempt(item, queue)
                else:
                    async with self.limit:
                        mark = await self._attempt(item, queue)
                if mark is None:  # retry after the back-off
                    continue
                queue.popleft()
                marks = [mark]
                if mark.blocked:  # the rest for this chat would meet the same refusal
                    for other in [x for x in queue if x.chat_id == item.chat_id]:
                        queue.remove(other)
                        marks.append(Mark(other, mark.result, blocked=True))
                # an answer given again is refused by Telegram: the next row need not wait for its mark
                await self._record(marks, wait=not (item.kind == "answer" and queue and mark.park_until is None))
        finally:
            self.workers.pop(lane, None)
            if not queue:
                self.queues.pop(lane, None)
            elif not self.stopping:  # pushed while finishing
                self.workers[lane] = asyncio.get_running_loop().create_task(self._serve(lane))
            self._check_idle()

    async def _attempt(self, item: Item, queue: deque[Item]) -> Mark | None:
        """One try: the mark to record, or None to try again (after sleeping the back-off here)."""
        assert self.bot is not None
        if (screen := item.screen) and self.shown.get((item.chat_id, screen), 0) > item.id:
            return Mark(item, "superseded")  # a newer screen of the flow is out already
        try:
            message_id = await self._deliver(self.bot, item)
        except RetryAfter as exc:
            wait = exc.retry_after
            delay = float(wait if isinstance(wait, int | float) else wait.total_seconds())
            return self._superseded(item, queue) or await self._again(item, delay + 0.1, str(exc))
        except (TimedOut, NetworkError) as exc:
            if isinstance(exc, BadRequest):  # a subclass of NetworkError in PTB: not transient
                return self._refused(item, exc)
            return self._superseded(item, queue) or await self._again(
                item, BACKOFF[min(item.attempts, len(BACKOFF) - 1)], str(exc))
        except Forbidden as exc:
            return Mark(item, f"forbidden: {exc}"[:200], blocked=True)
        except TelegramError as exc:
            return self._refused(item, exc)
        except Failed as exc:
            return Mark(item, f"failed: {exc}"[:200])
        except Exception as exc:
            log.exception("effect %s (%s) failed", item.id, item.kind)
            if self.on_failed is not None:
                try:
                    await self.on_failed(item, repr(exc))
                except Exception:
                    log.exception("could not report the failed effect %s", item.id)
            return Mark(item, f"error: {exc!r}"[:200])
        self.delivered += 1
        return Mark(item, "ok", message_id)

    @staticmethod
    def _superseded(item: Item, queue: deque[Item]) -> Mark | None:
        """A reply of the person's own that did not go out, when a newer one of theirs waits behind it (what
        a restart folds, see `fold_stale`): not tried again, so nothing older turns up below the newer."""
        if not item.own or item.kind == "answer" or item.parts:
            return None
        for later in queue:
            if later is item or not later.own or later.kind == "answer":
                continue
            if later.origin != item.origin or (item.screen is not None and later.screen == item.screen):
                log.info("effect %s to %s superseded by %s after a failed try", item.id, item.chat_id, later.id)
                return Mark(item, "superseded")
        return None

    def _refused(self, item: Item, exc: TelegramError) -> Mark:
        text = str(exc).lower()
        if "chat not found" in text or "user is deactivated" in text:
            return Mark(item, f"unreachable: {exc}"[:200], blocked=True)
        log.warning("effect %s (%s) refused by Telegram: %s", item.id, item.kind, exc)
        return Mark(item, f"refused: {exc}"[:200])

    async def _again(self, item: Item, delay: float, why: str) -> Mark | None:
        item.attempts += 1
        if item.kind == "answer" and self.clock.now() - item.created_at > ANSWER_TTL:
            return Mark(item, "expired")
        if item.attempts >= QUICK_TRIES:
            log.warning("effect %s (%s) to %s parked after %d tries: %s", item.id, item.kind, item.chat_id,
                        item.attempts, why)
            return Mark(item, "", park_until=self.clock.now() + PARK)
        await asyncio.sleep(delay)
        return None

    async def _deliver(self, bot: Bot, item: Item) -> int | None:
        p, chat = item.payload, item.chat_id
        kind = item.kind
        if kind == "answer":
            await self._answer(bot, item)
            return None
        if item.screen is not None:
            return await self._show_screen(bot, item, item.screen)
        if kind in ("message", "edit", "card"):
            return await self._send_or_edit(bot, item)
        if kind == "close":
            await self._update_card(bot, item)
        elif kind == "album":
            media = [InputMediaPhoto(fid) for fid in p["photos"]]
            if p.get("caption"):
                media[0] = InputMediaPhoto(p["photos"][0], caption=p["caption"])
            await bot.send_media_group(chat, media)
        elif kind == "file":
            await self._send_file(bot, item)
        elif kind == "render":
            renderer = self.renderers.get(p["what"])
            if renderer is None:
                raise Failed(f"nothing renders {p['what']}")
            await renderer(bot, chat, p)
        elif kind == "commands":
            if self.on_commands is not None:
                await self.on_commands(bot, chat)
        else:
            raise Failed(f"unknown kind {kind}")
        return None

    async def _answer(self, bot: Bot, item: Item) -> None:
        p = item.payload
        if self.clock.now() - item.created_at > ANSWER_TTL:
            return
        try:
            await bot.answer_callback_query(p["id"], text=p.get("text") or None, show_alert=bool(p.get("alert")),
                                            **SMALL)
        except BadRequest as exc:  # too old, or answered already: the message that follows informs
            log.info("callback answer not taken: %s", exc)

    async def _show_screen(self, bot: Bot, item: Item, screen: str) -> int:
        """A flow's next screen: the previous one retired (its buttons off, its answer kept) once it is
        no longer the newest."""
        p, chat = item.payload, item.chat_id
        before = await self._screen(chat, screen)
        if before is not None and before[1] and item.kind in ("message", "card"):  # the next one comes below it
            await self._strip(bot, chat, before[0], p.get("retire"))
            self.screens[(chat, screen)] = (before[0], False)
            self.looks.pop((chat, before[0]), None)
            before = None
        shown = await self._send_or_edit(bot, item)
        self.screens[(chat, screen)] = (shown, bool(p.get("keyboard")))
        self.shown[(chat, screen)] = item.id
        self.looks[(chat, shown)] = (p["text"], p.get("keyboard"))
        if before is not None and before[0] != shown:
            self.looks.pop((chat, before[0]), None)
            if before[1]:
                await self._strip(bot, chat, before[0], p.get("retire"))
        return shown

    async def _update_card(self, bot: Bot, item: Item) -> None:
        """A reviewer's card changed in place."""
        p, chat = item.payload, item.chat_id
        card = await self._card_message(p["review"])
        if card is None:
            return  # the card never went out
        try:
            await bot.edit_message_text(p["text"], chat_id=chat, message_id=card,
                                        parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW,
                                        reply_markup=_markup(bot, p.get("keyboard")), **SMALL)
        except BadRequest as exc:  # deleted by the reviewer, or too old to edit
            log.info("card %s not updated: %s", p["review"], exc)

    @staticmethod
    async def _send_file(bot: Bot, item: Item) -> None:
        p, chat = item.payload, item.chat_id
        caption = p.get("caption") or None
        if p["type"] == "video":
            await bot.send_video(chat, p["file_id"], caption=caption)
        elif p["type"] == "photo":
            await bot.send_photo(chat, p["file_id"], caption=caption)
        else:
            await bot.send_document(chat, p["file_id"], caption=caption)

    async def _send_or_edit(self, bot: Bot, item: Item) -> int:
        """The message's id: the pressed one edited (unless it shows that already), or a new one (also when
        it cannot be edited)."""
        p, chat = item.payload, item.chat_id
        if item.kind == "edit":
            if self.looks.get((chat, int(p["message_id"]))) == (p["text"], p.get("keyboard")):
                return int(p["message_id"])  # already shows exactly this: an edit would change nothing
            try:
                await bot.edit_message_text(p["text"], chat_id=chat, message_id=p["message_id"],
                                            parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW,
                                            reply_markup=_markup(bot, p.get("keyboard")), **SMALL)
                return int(p["message_id"])
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return int(p["message_id"])
                log.info("edit failed, sending instead: %s", exc)
        return await self._send_text(bot, item)

    async def _screen(self, chat: int, name: str) -> tuple[int, bool] | None:
        """The flow's newest message in the chat and whether it still has buttons, as last recorded."""
        key = (chat, name)
        if key not in self.screens:
            async with self.db.session() as s:
                found = (await s.execute(select(Screen.message_id, Screen.keyboard)
                                         .where(Screen.chat_id == chat, Screen.name == name))).first()
            self.screens[key] = (int(found[0]), bool(found[1])) if found is not None else None
            self.recorded[key] = self.screens[key]
        return self.screens[key]

    @staticmethod
    async def _strip(bot: Bot, chat: int, message_id: int, retire: str | None = None) -> None:
        """The buttons of a flow's previous message removed (and its text changed to `retire`), once the
        next one is there."""
        try:
            if retire:
                await bot.edit_message_text(retire, chat_id=chat, message_id=message_id, parse_mode=ParseMode.HTML,
                                            link_preview_options=_NO_PREVIEW, **SMALL)
            else:
                await bot.edit_message_reply_markup(chat_id=chat, message_id=message_id, reply_markup=None, **SMALL)
        except TelegramError as exc:  # deleted, too old, no buttons left: nothing to press there anyway
            log.debug("buttons of message %s in %s not removed: %s", message_id, chat, exc)

    @staticmethod
    async def _send_text(bot: Bot, item: Item) -> int:
        """The text as new messages: in parts when too long for one, the buttons on the last; a retry goes
        on after the parts already taken."""
        chat, keyboard = item.chat_id, item.payload.get("keyboard")
        parts = split_message(item.payload["text"])
        for i, part in enumerate(parts[len(item.parts):], start=len(item.parts)):
            markup = _markup(bot, keyboard) if i == len(parts) - 1 else None
            try:
                sent = await bot.send_message(chat, part, parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW,
                                              reply_markup=markup, **SMALL)
            except BadRequest as exc:
                if "parse entities" not in str(exc).lower():
                    raise
                # markup Telegram refuses: the words matter more than the bold
                log.warning("message to %s refused as HTML (%s); sent as plain text", chat, exc)
                sent = await bot.send_message(chat, plain(part), link_preview_options=_NO_PREVIEW, reply_markup=markup,
                                              **SMALL)
            item.parts.append(sent.message_id)
        return item.parts[-1]

    async def _card_message(self, review_id: int) -> int | None:
        async with self.db.session() as s:
            return await s.scalar(select(ReviewMessage.message_id).where(ReviewMessage.id == review_id))

    # ------------------------------------------------------------------ marks

    async def _record(self, marks: list[Mark], *, wait: bool = True) -> None:
        """Store the marks before the lane's next row goes out (unless `wait` is false), in the next
        transaction that carries the marks waiting."""
        done = asyncio.get_running_loop().create_future()
        self.unrecorded.extend(marks)
        self._waiters.append(done)
        if self._recorder is None:
            self._recorder = asyncio.get_running_loop().create_task(self._record_waiting())
        if not wait:
            return
        await asyncio.shield(done)
        for m in marks:
            if m.blocked and m.item.kind == "card" and self.on_blocked is not None:
                try:
                    await self.on_blocked(m.item)
                except Exception:
                    log.exception("could not handle the blocked reviewer of effect %s", m.item.id)

    async def _record_waiting(self) -> None:
        """The sender's own transaction for the marks waiting, when no update's transaction took them
        while this one waited for the connection."""
        try:
            while self.unrecorded and not self.stopping:
                carried = None
                try:
                    async with self.db.session() as s:
                        carried = await self.carry(s)
                        if carried is not None:
                            await s.commit()
                    await self.db.durable(s)
                except Exception:
                    if carried is not None:
                        self.put_back(carried)
                    log.exception("could not record %d delivered effects", len(self.unrecorded))
                    await asyncio.sleep(1.0)
                    continue
                if carried is not None:
                    self.stored(carried)
        finally:
            self._recorder = None

    async def carry(self, s: AsyncSession) -> Carried | None:
        """Write the marks waiting into `s`, a transaction about to commit; what to confirm with `stored`
        once it has committed (or `put_back` if it did not), or None when no mark waits."""
        if not self.unrecorded:
            return None
        carried = Carried(self.unrecorded, self._waiters, {})
        self.unrecorded, self._waiters = [], []
        try:
            await self._write(s, carried)
        except BaseException:
            self.put_back(carried)
            raise
        return carried

    def put_back(self, carried: Carried) -> None:
        """Marks whose transaction did not commit: waiting again, ahead of the newer ones."""
        self.unrecorded[:0] = carried.marks
        self._waiters[:0] = carried.waiters
        carried.marks, carried.waiters = [], []
        if self._recorder is None and self.unrecorded and not self.stopping:
            self._recorder = asyncio.get_running_loop().create_task(self._record_waiting())

    def stored(self, carried: Carried) -> None:
        """The transaction that carried these marks committed."""
        self.recorded.update(carried.screens)
        for m in carried.marks:
            if m.park_until is not None:
                self.known.discard(m.item.id)  # the sweep takes it up again
        for done in carried.waiters:
            if not done.done():
                done.set_result(None)

    async def _write(self, s: AsyncSession, carried: Carried) -> None:
        now = self.clock.now()
        marks = carried.marks
        by_result: dict[str, list[int]] = {}
        for m in marks:
            if m.park_until is None:
                by_result.setdefault(m.result, []).append(m.item.id)
        for result, ids in by_result.items():
            await s.execute(update(_EFFECTS).where(_EFFECTS.c.id.in_(ids)).values(sent_at=now, result=result))
        for m in marks:
            if m.park_until is not None:
                await s.execute(update(_EFFECTS).where(_EFFECTS.c.id == m.item.id)
                                .values(attempts=m.item.attempts, due_at=m.park_until))
            elif m.item.kind == "card":
                values: dict[str, Any] = ({"message_id": m.message_id, "sent_at": now} if m.result == "ok"
                                          else {"error": m.result[:200]})
                await s.execute(update(ReviewMessage).where(ReviewMessage.id == m.item.payload["review"])
                                .values(**values))
            if m.result == "ok" and m.message_id and (name := m.item.screen):
                carried.screens[(m.item.chat_id, name)] = (m.message_id, bool(m.item.payload.get("keyboard")))
            if m.blocked:
                await s.execute(update(User).where(User.id == m.item.chat_id, User.blocked_at.is_(None))
                                .values(blocked_at=now))
        await self._write_screens(s, carried.screens)

    async def _write_screens(self, s: AsyncSession, screens: dict[ScreenKey, tuple[int, bool]]) -> None:
        """Each flow's newest message, written only where it changed: one UPDATE for the rows there (edits
        in place change nothing), an INSERT for a flow's first."""
        changed: list[dict[str, Any]] = []
        new: list[dict[str, Any]] = []
        for (chat, name), (message_id, keyboard) in screens.items():
            before = self.recorded.get((chat, name), _UNKNOWN)
            if before == (message_id, keyboard):
                continue
            if before is _UNKNOWN:  # not read by this run: the row may be there or not
                await s.merge(Screen(chat_id=chat, name=name, message_id=message_id, keyboard=keyboard))
            elif before is None:
                new.append({"chat_id": chat, "name": name, "message_id": message_id, "keyboard": keyboard})
            else:
                changed.append({"c": chat, "n": name, "m": message_id, "k": keyboard})
        if changed:
            await s.execute(_SCREEN_UPDATE, changed)
        if new:
            await s.execute(insert(_SCREENS), new)

    # ------------------------------------------------------------------ waiting

    def _check_idle(self) -> None:
        if not self.busy():
            self._idle.set()

    async def chat_idle(self, chat_id: int) -> None:
        """Wait until the messages pushed for this chat are delivered (or parked); documents being made
        for it are not waited for."""
        while (task := self.workers.get((chat_id, CHAT))) is not None:
            await asyncio.wait([task])

    def busy(self) -> bool:
        return bool(self.queues or self.workers or self.waiting or self.unrecorded or self._recorder)

    async def idle(self) -> None:
        """Wait until everything pushed so far is delivered (or parked) and recorded."""
        while self.busy():
            self._idle.clear()
            tasks = [t for t in [*self.workers.values(), self._recorder] if t is not None and not t.done()]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            else:
                await asyncio.sleep(0)

    async def stop(self) -> None:
        """Finish what is being sent now, record it, and stop."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        try:
            await asyncio.wait_for(self.idle(), 10)
        except TimeoutError:
            log.warning("stopping with %d chats still owed effects (sent at the next start)", len(self.queues))
        self.stopping = True
        for task in list(self.workers.values()):
            task.cancel()
        await asyncio.gather(*self.workers.values(), return_exceptions=True)
        if self._recorder is not None:
            await asyncio.gather(self._recorder, return_exceptions=True)
        if self.unrecorded:
            async with self.db.session() as s:
                carried = await self.carry(s)
                await s.commit()
            if carried is not None:
                self.stored(carried)


_SCREENS = cast(Table, Screen.__table__)
_SCREEN_UPDATE = (update(_SCREENS).where(_SCREENS.c.chat_id == bindparam("c"), _SCREENS.c.name == bindparam("n"))
                  .values(message_id=bindparam("m"), keyboard=bindparam("k")))
_UNKNOWN: Any = object()
_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """HTML text without its tags, as the reader would see it."""
    return html.unescape(_TAG.sub("", text))


def _markup(bot: Bot, keyboard: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(keyboard, bot) if keyboard else None


def fold_stale(rows: list[Effect], now: datetime) -> tuple[list[Effect], list[Effect]]:
    """Of the rows left from before a restart: (to send, to drop). Per chat, of the person's own screens
    only those of the newest update are kept; callback answers too old to be taken are dropped; the rest
    (cards, notices, documents) is kept."""
    newest: dict[int, str | None] = {}
    for r in rows:
        if r.stale_ok and r.kind != "answer":
            newest[r.chat_id] = r.origin
    keep: list[Effect] = []
    dropped: list[Effect] = []
    for r in rows:
        if r.kind == "answer":
            (keep if now - r.created_at <= ANSWER_TTL else dropped).append(r)
        elif r.stale_ok and newest.get(r.chat_id) != r.origin:
            dropped.append(r)
        else:
            keep.append(r)
    return keep, dropped
