"""Flows that wait for typed text (an admin's edit, a report's answer), flagged in the sender's
`user_data`: the filter that gives them the text while they wait, and the pre-group handler that ends
the wait when the person turns to something else (another command, another module's button)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Message, Update
from telegram.ext import Application, ContextTypes, ConversationHandler, filters
from telegram.warnings import PTBUserWarning


class AwaitingInput(filters.MessageFilter):
    """True while the sender's user_data holds one of `keys` (a flow is waiting for their text)."""

    def __init__(self, app: Application, keys: tuple[str, ...], name: str) -> None:  # type: ignore[type-arg]
        super().__init__(name=name)
        self._app = app
        self._keys = keys

    def filter(self, message: Message) -> bool:
        user = message.from_user
        if user is None:
            return False
        data = self._app.user_data.get(user.id)
        return bool(data and any(k in data for k in self._keys))


def stale_input_dropper(keys: tuple[str, ...], own_prefixes: tuple[str, ...]
                        ) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """A handler for a group before 0: another command (not /cancel) or a button of another module
    ends the wait for `keys`, so the next text goes where the person now expects it (what was typed
    before stays saved)."""

    async def drop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if user is None:
            return
        data = context.application.user_data.get(user.id)
        if not data or not any(k in data for k in keys):
            return
        query = update.callback_query
        if query is not None:
            if (query.data or "").startswith(own_prefixes):
                return
        else:
            msg = update.effective_message
            if msg is None or not filters.COMMAND.check_update(update):
                return
            command = (msg.text or "").split()[0][1:].split("@")[0].lower() if msg.text else ""
            if command == "cancel":
                return
        for k in keys:
            data.pop(k, None)

    return drop


def conversation(**kwargs: Any) -> ConversationHandler[Any]:
    """A ConversationHandler whose buttons are tracked per chat on purpose (the flow's position lives in
    the database or in `user_data`, not per message): PTB's hint about `per_message` is silenced for
    this construction only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        return ConversationHandler(**kwargs)
