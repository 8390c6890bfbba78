"""Replies kept in the outbox until Telegram has them (issue 7, faults: every user message is answered)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from telegram import Update
from telegram.error import NetworkError

from bot.callbacks import WizardOp
from storage.models import Application, Outbox
from tests.apply_steps import tap_op
from tests.conftest import JULY_10
from tests.offline import UPDATE_IDS, Harness, close_harness, make_harness


async def restart(h: Harness, tmp_path: Any, url: str | None) -> Harness:
    """A new process on the same database, started the way `bot.app.run` starts it."""
    await close_harness(h)
    h2 = await make_harness(tmp_path, now=JULY_10, admin_ids="900", database_url=url)
    await h2.app.bot_data["services"].outbox.start(h2.app.bot)
    await h2.app.bot_data["services"].drain()
    return h2


async def answers(h: Harness, user_id: int) -> dict[str, Any]:
    async with h.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == user_id))).one()
        return dict(app.answers)


async def to_first_text_step(h: Harness, u: dict[str, Any]) -> None:
    await h.text(u, "/apply")
    await tap_op(h, u, WizardOp.UNION)
    for _ in range(5):
        await tap_op(h, u, WizardOp.YES)


async def test_reply_lost_in_transit_is_sent_at_the_next_start(tmp_path, pg_clean):
    """Issue 7 / faults: the answer is stored but Telegram cannot be reached to confirm it (three network
    failures); the bot restarts and the user gets that reply then, once, while the answer stays stored once."""
    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900", database_url=pg_clean)
    u = h.user(801)
    await to_first_text_step(h, u)
    h.request.fail["sendMessage"] = [NetworkError("connection reset")] * 3
    await h.text(u, "大连港集团有限公司")
    assert (await answers(h, 801))["applying_unit"] == "大连港集团有限公司"
    async with h.db.session() as s:
        unsent = (await s.scalars(select(Outbox).where(Outbox.chat_id == 801, Outbox.sent_at.is_(None)))).all()
    assert len(unsent) == 1
    question = unsent[0].payload["m"][-1]["t"]
    assert "leader_name" in str(unsent[0].payload)  # the next question, with its Back button
    h = await restart(h, tmp_path, pg_clean)
    try:
        assert h.request.texts(801) == [question]
        async with h.db.session() as s:
            assert not (await s.scalars(select(Outbox).where(Outbox.sent_at.is_(None)))).all()
        h2 = await restart(h, tmp_path, pg_clean)  # a second restart sends nothing again
        h = h2
        assert h.request.texts(801) == []
    finally:
        await close_harness(h)


async def test_update_delivered_again_after_a_crash_is_not_applied_twice(tmp_path, pg_clean):
    """Issue 7 / faults (crash at every step): Telegram delivers an update again when the bot died before
    confirming it; the restarted bot recognises it as handled and does not store the text as the answer to
    the next question."""
    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900", database_url=pg_clean)
    u = h.user(802)
    await to_first_text_step(h, u)
    payload = {"update_id": next(UPDATE_IDS), "message": h._msg(u, text="大连港集团有限公司")}
    await h.app.process_update(Update.de_json(payload, h.app.bot))
    before = await answers(h, 802)
    assert before["applying_unit"] == "大连港集团有限公司" and "leader_name" not in before
    h = await restart(h, tmp_path, pg_clean)
    try:
        await h.app.process_update(Update.de_json(payload, h.app.bot))
        await h.app.bot_data["services"].drain()
        assert await answers(h, 802) == before
        assert h.request.texts(802) == []
        await h.text(u, "王建国")  # the next message is the next answer, as the user expects
        assert (await answers(h, 802))["leader_name"] == "王建国"
    finally:
        await close_harness(h)
