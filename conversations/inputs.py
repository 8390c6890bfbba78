"""A filter for flows that wait for typed text, flagged in the sender's `user_data`."""

from __future__ import annotations

from telegram import Message
from telegram.ext import Application, filters


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
