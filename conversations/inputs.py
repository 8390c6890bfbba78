"""How a flow waits for what the person types next: one mechanism for the wizard, a reviewer's decision,
the year report, an inspection and the admin's edits.

A flow is a `Flow`: a name, the callback prefixes of its own buttons, and whether it is `sticky`. While
it waits for text it holds a slot in the person's `user_data` (`wait`), with what it needs to take the
text (its `state`: the decision being recorded, the union being renamed …); `done` gives the slot up.
Several flows may wait at once (an admin renaming a union with a draft application open); the text goes
to the one that asked last: its handlers carry `Awaiting(app, flow)`, true only for that one, so the
order in which the modules register their handlers does not decide where text goes.

A flow that is not sticky (an admin's edit, a report's answer, an inspection's note) stops waiting when
the person turns to something else: another command than /cancel, or a button of another flow
(`ender`, in a group before the others). A sticky flow (the wizard, a reviewer's decision) stays open,
as a paper form stays on the desk, until it is finished or cancelled.

Flows with several screens are ConversationHandlers (`conversation`): a callback's result moves the slot
too (a state: the flow waits and is the newest; END: it is done; None: nothing changes).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.ext import (
    Application,
    BaseHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.callbacks import Codec
from bot.runtime import BEFORE_COMMIT, Rq, Settle
from storage.persistence import SqlPersistence

KEY = "awaiting"  # user_data: [[flow name, state], …], the oldest first
PRE_GROUP = -40  # the ender's group: before every handler that takes text

Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class Flow:
    """A flow that waits for typed text."""

    name: str
    buttons: tuple[str, ...] = ()  # callback-data prefixes of its own buttons
    sticky: bool = False  # stays open when the person turns to something else

    @classmethod
    def of(cls, name: str, *codecs: type[Codec], sticky: bool = False) -> Flow:
        """A flow whose own buttons are those of these callback codecs."""
        return cls(name, tuple(c.prefix + ":" for c in codecs), sticky)


def _slots(data: Mapping[str, Any] | None) -> list[list[Any]]:
    value = (data or {}).get(KEY)
    return [list(s) for s in value] if isinstance(value, list) else []


def newest(data: Mapping[str, Any] | None) -> str | None:
    """The flow that gets the next text (the last to ask), if any waits."""
    slots = _slots(data)
    return str(slots[-1][0]) if slots else None


def _read(context: ContextTypes.DEFAULT_TYPE, user_id: int | None) -> dict[str, Any] | None:
    """The person's user_data, without creating an entry for someone who has none."""
    data = context.application.user_data.get(user_id) if user_id is not None else None
    return data if isinstance(data, dict) else None


def _write(context: ContextTypes.DEFAULT_TYPE, user_id: int, slots: list[list[Any]]) -> None:
    data = context.application.user_data[user_id]
    if slots:
        data[KEY] = slots
    else:
        data.pop(KEY, None)
    context.application.mark_data_for_update_persistence(user_ids=[user_id])


def state_of(context: ContextTypes.DEFAULT_TYPE, user_id: int | None, flow: Flow) -> dict[str, Any] | None:
    """What `flow` waits with (a copy), or None when it does not wait."""
    for name, state in _slots(_read(context, user_id)):
        if name == flow.name:
            return dict(state or {})
    return None


def wait_for(context: ContextTypes.DEFAULT_TYPE, user_id: int, flow: Flow,
             state: Mapping[str, Any] | None = None) -> None:
    """`flow` waits for the next text, as the newest; `state` replaces what it waits with (None keeps it)."""
    slots = _slots(_read(context, user_id))
    kept = next((s for n, s in slots if n == flow.name), None)
    slots = [s for s in slots if s[0] != flow.name]
    slots.append([flow.name, dict(state) if state is not None else (kept or {})])
    _write(context, user_id, slots)


def done_with(context: ContextTypes.DEFAULT_TYPE, user_id: int | None, flow: Flow) -> None:
    """`flow` waits for nothing any more."""
    slots = _slots(_read(context, user_id))
    if user_id is not None and any(n == flow.name for n, _ in slots):
        _write(context, user_id, [s for s in slots if s[0] != flow.name])


def state(rq: Rq, flow: Flow) -> dict[str, Any] | None:
    """What `flow` waits with for this update's person, or None."""
    return state_of(rq.context, rq.user.id, flow)


def _undoable(rq: Rq) -> None:
    """The slots as they were before this update, put back if it fails or is retried (its changes to
    the database are rolled back too)."""
    if KEY in rq.cache:
        return
    before = _slots(_read(rq.context, rq.user.id))
    rq.cache[KEY] = before
    uid, context = rq.user.id, rq.context
    rq.undo.append(lambda: _write(context, uid, before))


def wait(rq: Rq, flow: Flow, state: Mapping[str, Any] | None = None) -> None:
    _undoable(rq)
    wait_for(rq.context, rq.user.id, flow, state)


def done(rq: Rq, *flows: Flow) -> None:
    _undoable(rq)
    for flow in flows:
        done_with(rq.context, rq.user.id, flow)


class Awaiting(filters.MessageFilter):
    """True for a message from someone whose newest waiting flow is `flow`."""

    def __init__(self, app: Application, flow: Flow) -> None:
        super().__init__(name=f"awaiting_{flow.name}")
        self._app = app
        self._flow = flow

    def filter(self, message: Message) -> bool:
        user = message.from_user
        return user is not None and newest(self._app.user_data.get(user.id)) == self._flow.name


def ender(flows: Sequence[Flow]) -> Callback:
    """The handler (for `PRE_GROUP`) that ends the waits of the flows that are not sticky when the person
    turns to something else: another command than /cancel, or a button that is not the flow's own."""
    transient = {f.name: f for f in flows if not f.sticky}

    async def end(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if user is None:
            return
        slots = _slots(_read(context, user.id))
        if not any(n in transient for n, _ in slots):
            return
        query = update.callback_query
        if query is not None:
            data = query.data or ""

            def kept(name: str) -> bool:
                return name not in transient or data.startswith(transient[name].buttons or ("\0",))
        else:
            msg = update.effective_message
            if msg is None or not filters.COMMAND.check_update(update):
                return
            if (msg.text or "").split()[0][1:].split("@")[0].lower() == "cancel":
                return

            def kept(name: str) -> bool:
                return name not in transient
        left = [s for s in slots if kept(str(s[0]))]
        if len(left) != len(slots):
            _write(context, user.id, left)

    return end


def _move(context: ContextTypes.DEFAULT_TYPE, user_id: int, flow: Flow, result: Any) -> None:
    """The slot moved by a callback's result (see the module's text)."""
    if result == ConversationHandler.END:
        done_with(context, user_id, flow)
    elif result is not None:
        wait_for(context, user_id, flow)


def _settle(flow: Flow) -> Settle:
    """Before the handler's commit: the conversation's next state and the person's slots, as PTB will hand
    them to the persistence after the update, written with the handler's own changes."""

    async def settle(rq: Rq, result: Any) -> None:
        chat = rq.update.effective_chat
        persistence = rq.context.application.persistence
        if result is None or chat is None or rq.user is None or not isinstance(persistence, SqlPersistence):
            return
        _undoable(rq)
        _move(rq.context, rq.user.id, flow, result)
        key = (chat.id, rq.user.id)  # the conversation's key: per chat and per user (`conversation`)
        state = None if result == ConversationHandler.END else result
        rows = [persistence.conversation_row(flow.name, key, state),
                persistence.user_row(rq.user.id, _read(rq.context, rq.user.id))]
        rq.on_commit.append(await persistence.stage(rq.session, rows))

    return settle


def _tracked(flow: Flow, callback: Callback) -> Callback:
    settle = _settle(flow)

    @functools.wraps(callback)
    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Any:
        token = BEFORE_COMMIT.set((update, settle))
        try:
            result = await callback(update, context)
        finally:
            BEFORE_COMMIT.reset(token)
        user = update.effective_user
        if user is not None:
            _move(context, user.id, flow, result)
        return result

    return run


def conversation(flow: Flow, **kwargs: Any) -> ConversationHandler[Any]:
    """A persistent ConversationHandler for `flow` whose callbacks' results move its slot (see the
    module's text). Its buttons are tracked per chat on purpose (the flow's position lives in the
    database or in its slot, not per message): PTB's hint about `per_message` is silenced for this
    construction only."""
    handlers: list[BaseHandler[Any, Any, Any]] = [*kwargs["entry_points"], *kwargs.get("fallbacks", [])]
    for state in kwargs["states"].values():
        handlers += state
    for h in {id(h): h for h in handlers}.values():  # a handler may serve an entry point and a state
        h.callback = _tracked(flow, h.callback)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        return ConversationHandler(name=flow.name, persistent=True, allow_reentry=True, per_chat=True, per_user=True,
                                   per_message=False, **kwargs)


def typed(app: Application, flow: Flow, on_text: Callback, on_cancel: Callback) -> list[BaseHandler[Any, Any, Any]]:
    """A flow's typed answers and its /cancel, taken only while `flow` is the one that asked."""
    waiting = Awaiting(app, flow)
    return [MessageHandler(waiting & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_text),
            CommandHandler("cancel", on_cancel, filters=waiting)]


def add_all(app: Application, handlers: Sequence[BaseHandler[Any, Any, Any]]) -> None:
    for h in handlers:
        app.add_handler(h)


def year_arg(rq: Rq) -> int:
    """The year a command names (`/notice 2025`), else this year."""
    args = rq.context.args or []
    return int(args[0]) if args and args[0].isdigit() and len(args[0]) == 4 else rq.svc.today().year
