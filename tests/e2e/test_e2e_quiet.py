"""The applicant's chat stays quiet over HTTP: one living message per screen, counted from a mark."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from bot.callbacks import WizardOp

from ..apply_steps import png
from .driver import prepare, tap

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

NEW = {"sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendMediaGroup", "sendAnimation", "copyMessage",
       "forwardMessage"}
TO_CHAT = ("send", "edit", "answer", "delete", "copy", "forward")


@dataclass
class Tally:
    """Bot API calls per action of the applicant, by kind of action."""

    typed: list[list[str]] = field(default_factory=list)
    pressed: list[list[str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @staticmethod
    def new(calls: list[str]) -> int:
        return sum(c in NEW for c in calls)


async def walk(api, u) -> Tally:
    """A clean application: two members, three photos as an album, two documents, no detours."""
    tally = Tally()

    async def counted(into: list[list[str]], action: Callable[[], Awaitable[object]]) -> None:
        since = api.mark()
        await action()
        await api.wait_reply(u, since=since, timeout=15, settle=0.6)  # all of it, even on a busy machine
        into.append([c.method for c in api.calls[since:] if c.method.startswith(TO_CHAT)])
        tally.failed += [f"{c.method} {c.status}" for c in api.failed_calls(since)]

    async def say(text: str) -> None:
        await counted(tally.typed, lambda: _send(api, u, text))

    async def press(op: WizardOp, v: str | None = None) -> None:
        await counted(tally.pressed, lambda: tap(api, u, op, v))

    await say("/apply")
    await press(WizardOp.UNION)
    for _ in range(5):
        await press(WizardOp.YES)
    await say("大连港集团有限公司")
    await say("王建国")
    await press(WizardOp.CHOICE, "male")
    await say("1975年3月")
    for option in ("bachelor", "senior_technician", "national_model"):
        await press(WizardOp.CHOICE, option)
    await say("大连港集团有限公司")
    await say("主持完成工艺改造12项。")
    await press(WizardOp.DONE)
    for text in ("3号楼", "约150平米", "每年80万元", "数控机床\n三维扫描仪"):
        await say(text)
    await press(WizardOp.DONE)
    for name, gender in (("李明", "female"), ("赵强", "male")):
        await press(WizardOp.MEMBER_ADD)
        await say(name)
        await press(WizardOp.CHOICE, gender)
        await say("1985-06")
        await press(WizardOp.CHOICE, "master")
        await say("高级工程师")
        await say("大连港集团")
        await say("工艺设计")
    await press(WizardOp.DONE)
    await say("三年内完成智能码头关键技术攻关。")
    await press(WizardOp.DONE)
    await counted(tally.typed, lambda: _album(api, u))
    await press(WizardOp.DONE)
    await press(WizardOp.SKIP)  # no video
    for name in ("推荐材料.pdf", "工作制度.pdf"):
        await counted(tally.typed, functools.partial(_pdf, api, u, name))
        await press(WizardOp.DONE)
    await press(WizardOp.SKIP)  # no other materials
    await say("同意申报")
    await say("同意推荐")  # the summary
    await press(WizardOp.SUBMIT)  # the pledge
    since = api.mark()
    await tap(api, u, WizardOp.CONFIRM)  # the receipt, then the printed form
    await api.wait_for(lambda: any(c.method == "sendDocument" for c in api.calls[since:]), timeout=30)
    tally.typed.append([c.method for c in api.calls[since:] if c.method.startswith(TO_CHAT)])
    return tally


async def _send(api, u, text: str) -> None:
    api.send_text(u, text)


async def _album(api, u) -> None:
    api.send_album(u, [png(1), png(2), png(3)])


async def _pdf(api, u, name: str) -> None:
    api.send_document(u, b"%PDF-1.4 " + name.encode(), file_name=name, mime_type="application/pdf")


async def test_a_clean_application_costs_one_message_per_typed_answer_and_none_per_button(
        fake_api, bot_process_factory, tmp_path):
    """R-F1…R-F8, R-M2, R-M4 in a quiet chat: a button answer is answered and its message changed in place
    (two Bot API calls, no new message); a typed answer or an upload brings at most one new message; with
    the intro, summary, pledge and receipt, that is the whole application; no call is refused."""
    await prepare(tmp_path / "data")
    await bot_process_factory(data_dir=tmp_path / "data")
    u = fake_api.user(900, first_name="王建国")
    tally = await walk(fake_api, u)
    assert tally.failed == [], tally.failed
    for calls in tally.pressed:
        assert sorted(calls) == ["answerCallbackQuery", "editMessageText"], tally.pressed
    per_typed = [Tally.new(calls) for calls in tally.typed[:-1]]
    assert all(n <= 1 for n in per_typed), tally.typed
    receipt = tally.typed[-1]
    assert Tally.new(receipt) == 1 and receipt.count("sendDocument") == 1, receipt  # the printed form
    total = sum(Tally.new(c) for c in (*tally.typed, *tally.pressed))
    uploads_and_typed = len(tally.typed) - 1
    assert total <= uploads_and_typed + 4, (total, uploads_and_typed)
    print(f"\nquiet wizard: {len(tally.pressed)} presses, {uploads_and_typed} typed answers or uploads, "
          f"{total} new messages, calls per press {sorted({len(c) for c in tally.pressed})}")
