"""Recording a result (成果) in chat, step by step, as a studio's leader or an applicant does."""

from __future__ import annotations

from typing import Any

from bot.callbacks import ResultBtn, ResultOp, decode
from tests.offline import Harness


def result_button(h: Harness, chat: int, op: ResultOp, v: str | None = None) -> str:
    for _, data in h.last_buttons(chat):
        d = decode(data)
        if isinstance(d, ResultBtn) and d.op is op and (v is None or d.v == v):
            return data
    raise AssertionError(f"no {op} {v} in {h.last_buttons(chat)}")


async def tap_result(h: Harness, u: dict[str, Any], op: ResultOp, v: str | None = None) -> int:
    return await h.press(u, result_button(h, u["id"], op, v))


async def record_result(h: Harness, u: dict[str, Any], title: str, kind: str, on: str, *, level: str | None = None,
                        body: str | None = None, number: str | None = None, in_use: bool = False,
                        benefit: str | None = None, save: bool = True) -> int:
    """From a screen with the "record a result" button: every question answered, then saved; the mark
    before the first press."""
    mark = await tap_result(h, u, ResultOp.ADD)
    await h.text(u, title)
    await tap_result(h, u, ResultOp.PICK, kind)
    await h.text(u, on)
    if level is None:
        await tap_result(h, u, ResultOp.SKIP)
    else:
        await tap_result(h, u, ResultOp.PICK, level)
        await h.text(u, body or "省总工会")
    if number is None:
        await tap_result(h, u, ResultOp.SKIP)
    else:
        await h.text(u, number)
    await tap_result(h, u, ResultOp.YES if in_use else ResultOp.NO)
    if benefit is None:
        await tap_result(h, u, ResultOp.SKIP)
    else:
        await h.text(u, benefit)
    for _ in ("social", "members", "ownership", "certificate"):
        await tap_result(h, u, ResultOp.SKIP)
    if save:
        await tap_result(h, u, ResultOp.SAVE)
    return mark
