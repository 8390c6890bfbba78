"""Concurrent handling: different people in parallel, one person's updates in order."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.ordering import PerUserOrder


def upd(uid: int, n: int) -> Update:
    return Update.de_json({"update_id": n, "message": {
        "message_id": n, "date": 1, "text": str(n), "chat": {"id": uid, "type": "private"},
        "from": {"id": uid, "is_bot": False, "first_name": "x"}}}, None)


async def test_same_user_in_order_others_in_parallel():
    proc = PerUserOrder(16)
    log: list[tuple[int, int, str]] = []

    async def work(uid: int, n: int, delay: float) -> None:
        log.append((uid, n, "start"))
        await asyncio.sleep(delay)
        log.append((uid, n, "end"))

    tasks = [asyncio.create_task(proc.process_update(upd(1, 1), work(1, 1, 0.05))),
             asyncio.create_task(proc.process_update(upd(1, 2), work(1, 2, 0.0))),
             asyncio.create_task(proc.process_update(upd(2, 3), work(2, 3, 0.0)))]
    await asyncio.gather(*tasks)
    user1 = [(n, e) for u, n, e in log if u == 1]
    assert user1 == [(1, "start"), (1, "end"), (2, "start"), (2, "end")]
    # user 2 finished while user 1's first update was still running
    assert log.index((2, 3, "end")) < log.index((1, 1, "end"))
    assert proc._locks == {}
