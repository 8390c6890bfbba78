"""Per-update plumbing: services, one DB session per update, effects written with its commit."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot import effects
from bot.clock import Clock
from bot.config import Settings
from bot.domain.workflow import Role
from bot.i18n import I18n, Translator
from bot.sender import Sender
from storage import repo
from storage.db import Database
from storage.models import Application as AppRow
from storage.models import Effect, HandledUpdate, User

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Services:
    """What handlers need, built once at start-up and injected through `bot_data`."""

    settings: Settings
    db: Database
    i18n: I18n
    clock: Clock
    extra: dict[str, Any] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    sender: Sender = field(init=False)
    handled: set[str] = field(default_factory=set)  # updates committed by the last run (see `load_handled`)

    def __post_init__(self) -> None:
        self.sender = Sender(self.db, self.clock)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run local work after the commit (removing a file), without holding up the user."""
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception:
            log.exception("background work failed")

    async def drain(self) -> None:
        """Wait for background work and for every effect owed so far (shutdown, tests)."""
        while self.tasks or self.sender.busy():
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
            await self.sender.idle()

    async def shutdown(self) -> None:
        """Finish local work, then what is being sent (the rest is sent at the next start)."""
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        await self.sender.stop()

    async def load_handled(self) -> None:
        """The updates the last run committed: one delivered again after a crash is not applied twice.
        An update is marked by the effect rows it wrote (their origin), or by a `handled_updates` row."""
        async with self.db.session() as s:
            marks = (await s.scalars(select(HandledUpdate.key))).all()
            origins = (await s.scalars(select(Effect.origin).where(Effect.origin.like("u%")).distinct())).all()
        self.handled = set(marks) | {o for o in origins if o is not None and UPDATE_KEY.fullmatch(o)}

    def today(self) -> date:
        return self.clock.now().astimezone(self.settings.tz).date()

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.settings.tz)

    def translator(self, user: User | None) -> Translator:
        return self.i18n.get(self.i18n.pick(user.locale if user else None, user.language_code if user else None))


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The per-update context; `pending` holds committed effects until the conversation state is stored."""

    def __init__(self, application: Application, chat_id: int | None = None,
                 user_id: int | None = None) -> None:
        super().__init__(application, chat_id, user_id)
        self.pending: list[Rq] = []


def flush_pending(context: BotContext) -> None:
    """Hand this update's committed effects to the sender (called after persistence is written)."""
    pending, context.pending = context.pending, []
    for rq in pending:
        rq.flush()


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data["services"]


def services_of(app: Application) -> Services:
    return app.bot_data["services"]


APPLICATIONS = "applications"  # Rq.cache: the user's applications as loaded with the user

# Set around a handler by the flow that runs it, for that update: what the handler's result leaves behind
# (the flow's conversation state, the person's waiting slots), written in the update's own transaction.
Settle = Callable[["Rq", Any], Awaitable[None]]
BEFORE_COMMIT: ContextVar[tuple[Update, Settle] | None] = ContextVar("before_commit", default=None)


@dataclass
class Outgoing:
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    edit: bool = False
    chat_id: int | None = None
    screen: str | None = None
    retire: str | None = None  # what the screen's previous message is to say once this one is there


class Rq:
    """One update being handled: the session, the user's row and language, what it owes people."""

    def __init__(self, update: Update | None, context: ContextTypes.DEFAULT_TYPE, session: AsyncSession, *,
                 user_id: int | None = None, chat_id: int | None = None) -> None:
        self.update = update or Update(0)
        self._user_id = user_id
        self._chat_id = chat_id
        self.context = context
        self.svc = services(context)
        self.session = session
        self.user: User = None  # type: ignore[assignment]
        self.roles: set[Role] = set()
        self.t: Translator = self.svc.i18n.get(None)
        self.out: list[Outgoing] = []
        self.answer: tuple[str, bool] | None = None
        self.owed: list[effects.Owed] = []  # to other people, and documents: after the actor's replies
        self.after_commit: list[Callable[[], Coroutine[Any, Any, Any]]] = []
        self.cache: dict[str, Any] = {}  # reads shared by the steps of this one update
        self.undo: list[Callable[[], None]] = []  # side effects to reverse when the commit fails
        self.rows: list[effects.Written] = []  # written with the commit, pushed to the sender after it
        self.on_commit: list[Callable[[], None]] = []  # bookkeeping once the commit went through
        self.loaded: list[AppRow] | None = None  # the user's applications as loaded with the user

    @property
    def query(self) -> CallbackQuery | None:
        return self.update.callback_query

    @property
    def message(self) -> Message | None:
        return self.update.effective_message if self.update.callback_query is None else None

    @property
    def chat_id(self) -> int:
        chat = self.update.effective_chat
        return chat.id if chat else (self._chat_id or self.user.id)

    async def load(self) -> None:
        tg = self.update.effective_user
        if tg is None:
            if self._user_id is None:
                return
            found = await repo.get_user(self.session, self._user_id)
            if found is None:
                raise LookupError(f"user {self._user_id} not found")
            self.user = found
        else:
            self.user, self.roles, apps = await repo.user_and_roles(
                self.session, tg.id, tg.first_name, tg.last_name, tg.username, tg.language_code,
                self.svc.clock.now(), self.svc.settings.admin_ids,
            )
            self.cache[APPLICATIONS] = apps
            self.loaded = apps
        if tg is None:
            self.roles = await repo.roles_of(self.session, self.user.id, self.svc.settings.admin_ids)
        self._set_language()

    def _set_language(self) -> None:
        self.t = self.svc.i18n.get(self.svc.i18n.pick(self.user.locale, self.user.language_code))

    @property
    def lang(self) -> str:
        return self.t.lang

    def reply(self, text: str, keyboard: InlineKeyboardMarkup | None = None, *, screen: str | None = None,
              retire: str | None = None) -> None:
        """A new message; `screen`: the flow it belongs to, `retire`: what that flow's previous message then
        says (see `bot.effects`)."""
        self.out.append(Outgoing(text, keyboard, screen=screen, retire=retire))

    def edit(self, text: str, keyboard: InlineKeyboardMarkup | None = None, *, screen: str | None = None,
             retire: str | None = None) -> None:
        """Replace the pressed message; falls back to a new message for text input."""
        self.out.append(Outgoing(text, keyboard, edit=self.query is not None, screen=screen, retire=retire))

    def alert(self, text: str) -> None:
        self.answer = (text, True)

    def refuse(self, text: str, why: str, app_id: int | None = None) -> None:
        """Refuse a press: an alert, and the attempt recorded in the audit trail (once per update)."""
        self.answer = (text, True)
        if self.cache.get("refused"):
            return
        self.cache["refused"] = True
        data = self.query.data if self.query is not None else None
        repo.audit(self.session, self.svc.clock.now(), "refused", application_id=app_id,
                   actor_id=self.user.id if self.user is not None else None, details={"data": data, "why": why})

    def toast(self, text: str) -> None:
        self.answer = (text, False)

    def owe(self, *owed: effects.Owed) -> None:
        """Effects for other people (or documents for the actor): written with this update's commit."""
        self.owed.extend(owed)

    def notify(self, chat_id: int, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        self.owed.append(effects.message(chat_id, text, keyboard))

    def later(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Local work to run once the commit is durable (never a message: use `owe`)."""
        self.after_commit.append(fn)

    def replies(self) -> list[effects.Owed]:
        """The actor's own answers: the callback answer first, then the messages in order."""
        q = self.query
        pressed = q.message if q is not None else None
        out: list[effects.Owed] = []
        if q is not None:
            text, alert = self.answer or ("", False)
            out.append(effects.answer(self.chat_id, q.id, text, alert))
        for o in self.out:
            if o.edit and pressed is not None:
                out.append(effects.edit(pressed.chat.id, pressed.message_id, o.text, o.keyboard, screen=o.screen,
                                        retire=o.retire))
            else:
                out.append(effects.message(o.chat_id or self.chat_id, o.text, o.keyboard, stale_ok=True,
                                           screen=o.screen, retire=o.retire))
        return out

    async def commit(self, key: str) -> None:
        """Write the answers and every effect owed with the changes, in one INSERT; the update is marked
        handled by its effect rows (their `origin`), or by a `handled_updates` row when it owes none."""
        now = self.svc.clock.now()
        self.rows = await effects.insert(self.session, [*self.replies(), *self.owed], key, now)
        if not self.rows:
            self.session.add(HandledUpdate(key=key, created_at=now))
        await self.session.commit()
        for fn in self.on_commit:
            fn()
        if self.loaded is not None:
            repo.keep_user(self.session, self.user, self.roles, self.loaded)

    def flush(self) -> None:
        """Hand the committed effects to the sender, the actor's own answers first (what the update owes
        other people follows once those are out); start the local work after the commit."""
        mine = [r for r in self.rows if r.chat_id == self.chat_id and r.kind != "render"] if self.user else []
        others = [r for r in self.rows if r not in mine]
        self.svc.sender.push(mine)
        if others:
            if mine:
                self.svc.sender.push_after(self.chat_id, others)
            else:
                self.svc.sender.push(others)
        for fn in self.after_commit:
            self.svc.spawn(fn())


Handler = Callable[[Rq], Awaitable[T]]

DB_RETRIES = 4


UPDATE_KEY = re.compile(r"u\d+(\.\d+)?")


def update_key(update_id: int, n: int = 0) -> str:
    return f"u{update_id}" if n == 0 else f"u{update_id}.{n}"


def handler(fn: Handler[T]) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, T]]:
    """Wrap a handler: open the session, load the user, commit once with every effect owed; the effects
    go to the sender after the conversation state is stored too.

    A database that is busy, or an application changed meanwhile by someone else, is retried from the
    start: nothing has been sent before the commit, so a retry never duplicates a reply.
    """

    @functools.wraps(fn)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> T:
        svc = services(context)
        pending = getattr(context, "pending", None)
        key = update_key(update.update_id, len(pending) if isinstance(pending, list) else 0)
        if key in svc.handled:  # delivered again after a crash: applied and answered already
            log.info("update %s was handled before the restart", update.update_id)
            return None  # type: ignore[return-value]
        for attempt in range(DB_RETRIES):
            try:
                async with svc.db.session() as session:
                    rq = Rq(update, context, session)
                    try:
                        await rq.load()
                        result = await fn(rq)
                        settle = BEFORE_COMMIT.get()
                        if settle is not None and settle[0] is update:
                            await settle[1](rq, result)
                        await rq.commit(key)
                    except BaseException:
                        for undo in rq.undo:  # e.g. a downloaded file no row will point to
                            undo()
                        raise
                await svc.db.durable(session)
            except (DBAPIError, StaleDataError) as exc:
                # a dropped connection is also worth a second try: had its commit gone through, the
                # second try would meet this update's handled mark and change nothing
                again = isinstance(exc, StaleDataError) or _is_busy(exc) or exc.connection_invalidated
                if attempt + 1 < DB_RETRIES and again:
                    if isinstance(exc, StaleDataError):
                        log.info("application changed meanwhile on update %s, retrying", update.update_id)
                        svc.db.refs.drop("people")  # what was held of it is older than the database
                    else:
                        log.warning("database busy on update %s, retrying: %s", update.update_id, exc.orig)
                    await asyncio.sleep(0.02 * (attempt + 1))
                    continue
                raise
            if isinstance(pending, list):
                pending.append(rq)  # pushed in group 1000, after the conversation state is stored
            else:
                rq.flush()
            return result
        raise AssertionError("unreachable")

    return wrapper


async def run_as(context: ContextTypes.DEFAULT_TYPE, user_id: int, chat_id: int,
                 body: Callable[[Rq], Awaitable[None]]) -> None:
    """Run `body` for a user outside an update (jobs): same session, commit and effect rules."""
    svc = services(context)
    async with svc.db.session() as session:
        rq = Rq(None, context, session, user_id=user_id, chat_id=chat_id)
        await rq.load()
        try:
            await body(rq)
            await rq.commit(f"j{uuid.uuid4().hex}")
        except BaseException:
            for undo in rq.undo:
                undo()
            raise
    await svc.db.durable(session)
    rq.flush()


async def owe(svc: Services, owed: list[effects.Owed], origin: str | None = None) -> None:
    """Write effects in a transaction of their own (work outside an update: jobs, error replies) and hand
    them to the sender once durable."""
    if not owed:
        return
    async with svc.db.session() as s:
        rows = await effects.insert(s, owed, origin, svc.clock.now())
        await s.commit()
    await svc.db.durable(s)
    svc.sender.push(rows)


# PostgreSQL's "try again" errors: serialization_failure, deadlock_detected, lock_not_available
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}


def _is_busy(exc: DBAPIError) -> bool:
    """A failure that a second attempt of the same update can get past (nothing of it was committed)."""
    if getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "deadlock" in text or "serialization" in text
