"""Telegram hears "got it" for an update only once its answer is stored.

With polling, Telegram forgets an update when the next getUpdates call moves the offset past it;
python-telegram-bot makes that call as soon as the update is queued. Here the next getUpdates waits
until every update fetched so far has been handled (its changes and its replies committed), so a bot
killed mid-update gets the update again after the restart. With a webhook, the HTTP answer waits the same
way. Updates handled before the crash are recognised by their `handled_updates` row (see `bot.runtime`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)

SETTLE_TIMEOUT = 30.0  # an update stuck longer than this no longer holds back everyone else's


class Inflight:
    """Update ids received and not yet handled."""

    def __init__(self) -> None:
        self._open: dict[int, asyncio.Event] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self, update_id: int) -> None:
        self._open.setdefault(update_id, asyncio.Event())
        self._idle.clear()

    def end(self, update_id: int) -> None:
        done = self._open.pop(update_id, None)
        if done is not None:
            done.set()
        if not self._open:
            self._idle.set()

    def __len__(self) -> int:
        return len(self._open)

    async def handled(self, update_id: int) -> None:
        done = self._open.get(update_id)
        if done is not None:
            await done.wait()

    async def settled(self, patience: float = SETTLE_TIMEOUT) -> None:
        try:
            await asyncio.wait_for(self._idle.wait(), patience)
        except TimeoutError:
            log.warning("%d updates still being handled after %.0f s; fetching more anyway", len(self), patience)


class TrackingQueue(asyncio.Queue[object]):
    """The application's update queue: notes each update as in flight; for a webhook, `put` (and with it
    the HTTP answer to Telegram) returns only when the update is handled."""

    def __init__(self, inflight: Inflight) -> None:
        super().__init__()
        self.inflight = inflight
        self.wait_each = False

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            self.inflight.begin(item.update_id)
        await super().put(item)
        if self.wait_each and isinstance(item, Update):
            await self.inflight.handled(item.update_id)


class GatedRequest(BaseRequest):
    """The getUpdates connection: each call waits until the updates of the previous ones are handled."""

    def __init__(self, inner: BaseRequest, inflight: Inflight) -> None:
        self.inner = inner
        self.inflight = inflight
        self._last: tuple[object, bool] = (None, False)  # the previous call's offset; whether it brought updates

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if not url.endswith("/getUpdates"):
            return await self.inner.do_request(url, method, request_data, read_timeout, write_timeout,
                                               connect_timeout, pool_timeout)
        await self.inflight.settled()
        code, body = await self.inner.do_request(url, method, request_data, read_timeout, write_timeout,
                                                 connect_timeout, pool_timeout)
        offset = (request_data.parameters if request_data is not None else {}).get("offset")
        if code == 200:
            if self._last == (offset, True):
                # The same offset again after a batch: python-telegram-bot could not read that batch (it logs
                # that once and asks again at once, forever). The updates it cannot read are skipped.
                body = skip_unreadable(body)
            self._last = (offset, b'"update_id"' in body)
        return code, body


def skip_unreadable(body: bytes) -> bytes:
    """The getUpdates answer with each update python-telegram-bot cannot read replaced by its bare id (an
    update of no kind: no handler sees it, and the offset moves past it). Each one is logged once."""
    import json

    try:
        payload = json.loads(body)
        updates = payload["result"]
    except (ValueError, KeyError, TypeError):
        return body
    if not isinstance(updates, list):
        return body
    changed = False
    for i, raw in enumerate(updates):
        try:
            Update.de_json(raw, None)
        except Exception as exc:  # noqa: BLE001 - whatever the library raises for data it cannot read
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if not isinstance(update_id, int):
                continue
            log.warning("update %s cannot be read (%s: %s): skipped", update_id, type(exc).__name__,
                        " ".join(str(exc).split())[:200])
            updates[i] = {"update_id": update_id}
            changed = True
    return json.dumps(payload).encode() if changed else body


class TrackedApplication(Application):
    """Marks an update handled when its processing ends, whatever happened in it."""

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            handled(self, update)


def handled(app: Application, update: object) -> None:
    """The update's changes and replies are committed: Telegram may forget it."""
    queue = app.update_queue
    if isinstance(queue, TrackingQueue) and isinstance(update, Update):
        queue.inflight.end(update.update_id)
