"""The sender's own rules, offline: notices marked one by one, a failed reply superseded by the person's newer
one, a long reply resumed where it stopped, short time-outs for small calls, no call that changes nothing
(R-D1, R-F1, R-W1)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import event, func, select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from bot import effects
from bot import sender as sender_mod
from storage.models import Effect
from tests.conftest import JULY_10
from tests.offline import Harness, close_harness, make_harness

CHAT = 4242
KEYS = InlineKeyboardMarkup([[InlineKeyboardButton("继续", callback_data="x")]])


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender_mod, "BACKOFF", (0.0,))


@pytest.fixture
async def h(tmp_path: Any) -> Any:
    harness = await make_harness(tmp_path, now=JULY_10)
    yield harness
    await close_harness(harness)


async def owed(h: Harness, *batches: tuple[str, list[effects.Owed]]) -> list[effects.Written]:
    """Rows committed as the given updates (origin, effects) would commit them, not yet pushed."""
    rows: list[effects.Written] = []
    async with h.db.session() as s:
        for origin, batch in batches:
            rows += await effects.insert(s, batch, origin, h.clock.now())
        await s.commit()
    return rows


async def deliver(h: Harness, rows: list[effects.Written]) -> None:
    sender = h.app.bot_data["services"].sender
    sender.push(rows)
    await sender.idle()


async def results(h: Harness) -> list[str | None]:
    async with h.db.session() as s:
        return list((await s.scalars(select(Effect.result).order_by(Effect.id))).all())


def calls(h: Harness, name: str, since: int = 0) -> list[dict[str, Any]]:
    return [p for n, p in h.request.calls[since:] if n == name]


def wrap(h: Harness, before: Any) -> None:
    """Call `before(name, params)` ahead of every Bot API call (it may raise, as Telegram's answer)."""
    inner = h.request.do_request

    async def do_request(url: str, method: str, request_data: Any = None, *args: Any, **kw: Any) -> Any:
        before(url.rsplit("/", 1)[-1], dict(request_data.parameters) if request_data else {}, kw)
        return await inner(url, method, request_data, *args, **kw)

    h.request.do_request = do_request  # type: ignore[method-assign]


async def test_scheduled_notices_go_out_one_by_one_each_marked_before_the_next(h, tmp_path):
    """R-D1: a batch of reminders to five people: when each one is sent, every reminder sent before it is
    already marked in the database — a kill at any moment repeats at most the one in hand."""
    rows = await owed(h, *[("p", [effects.message(CHAT + i, f"提醒 {i}", once=f"draft:{CHAT + i}:1:7")])
                           for i in range(5)])
    db = sqlite3.connect(tmp_path / "studio.db")
    seen: list[tuple[int, int]] = []  # (sent before, marked before)

    def check(name: str, params: dict[str, Any], _: Any) -> None:
        if name == "sendMessage":
            marked = db.execute("SELECT count(*) FROM effects WHERE once IS NOT NULL AND sent_at IS NOT NULL")
            seen.append((len(seen), marked.fetchone()[0]))

    wrap(h, check)
    await deliver(h, rows)
    db.close()
    assert seen == [(i, i) for i in range(5)], seen
    assert await results(h) == ["ok"] * 5


async def test_a_job_run_again_owes_no_notice_twice(h):
    """R-D1: a notice's key is owed once: a second run of the job that decides to send it adds nothing."""
    for _ in range(2):
        async with h.db.session() as s:
            await effects.write_once(s, effects.message(CHAT, "提醒", once="draft:4242:2027:7"), "p", h.clock.now())
            await s.commit()
    async with h.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Effect).where(Effect.once.is_not(None))) == 1


async def test_a_reply_that_failed_gives_way_to_the_persons_newer_one(h):
    """R-F1: the answer to one message times out while the person has sent another: the old answer is not
    tried again (it would arrive above or below the newer one as a stale screen), the newer one goes out."""
    rows = await owed(h, ("u1", [effects.message(CHAT, "第 3/28 步", KEYS, stale_ok=True, screen="wizard")]),
                      ("u2", [effects.message(CHAT, "第 4/28 步", KEYS, stale_ok=True, screen="wizard")]))
    h.request.fail["sendMessage"] = [TimedOut("timed out")]
    mark = len(h.request.calls)
    await deliver(h, rows)
    assert [p["text"] for p in calls(h, "sendMessage", mark)] == ["第 4/28 步"]
    assert await results(h) == ["superseded", "ok"]


async def test_a_failed_notice_to_someone_else_is_tried_again(h):
    """R-W1: what is owed to other people is never superseded: a card that failed once is sent again."""
    rows = await owed(h, ("u1", [effects.message(CHAT, "卡片 1", KEYS)]), ("u2", [effects.message(CHAT, "卡片 2")]))
    h.request.fail["sendMessage"] = [NetworkError("Bad Gateway")]
    mark = len(h.request.calls)
    await deliver(h, rows)
    assert [p["text"] for p in calls(h, "sendMessage", mark)] == ["卡片 1", "卡片 2"]


async def test_a_long_reply_is_resumed_after_the_parts_telegram_took(h):
    """R-F1: a reply too long for one message goes out in parts; when the second part fails, the retry sends
    the second part, not the first one again."""
    text = "\n\n".join(["甲" * 3000, "乙" * 3000, "丙" * 100])
    rows = await owed(h, ("u1", [effects.message(CHAT, text, stale_ok=True)]))
    n = 0

    def second_fails(name: str, params: dict[str, Any], _: Any) -> None:
        nonlocal n
        if name == "sendMessage":
            n += 1
            if n == 2:
                raise NetworkError("Bad Gateway")

    wrap(h, second_fails)
    mark = len(h.request.calls)
    await deliver(h, rows)
    firsts = [p["text"][0] for p in calls(h, "sendMessage", mark)]
    assert firsts == ["甲", "乙"], firsts


async def test_small_calls_have_short_time_outs(h):
    """R-F1: a reply, an edit and a callback answer are given up after `SMALL_TIMEOUT` seconds (and tried
    again), not after the connection's long default, so a stalled call costs the person seconds."""
    timeouts: dict[str, Any] = {}
    wrap(h, lambda name, params, kw: timeouts.setdefault(name, kw.get("read_timeout")))
    rows = await owed(h, ("u1", [effects.answer(CHAT, "q1"), effects.message(CHAT, "你好", stale_ok=True),
                                 effects.edit(CHAT, 7, "改好了")]))
    await deliver(h, rows)
    assert {n: timeouts.get(n) for n in ("answerCallbackQuery", "sendMessage", "editMessageText")} == {
        "answerCallbackQuery": sender_mod.SMALL_TIMEOUT, "sendMessage": sender_mod.SMALL_TIMEOUT,
        "editMessageText": sender_mod.SMALL_TIMEOUT}


async def test_buttons_are_removed_only_from_a_message_that_has_some(h):
    """R-F1: of a flow's screens only the newest keeps buttons; removing them from the one before is skipped
    when it has none (Telegram would answer "message is not modified")."""
    screens = [("第 1 步", None), ("第 2 步", KEYS), ("第 3 步", KEYS)]
    mark = len(h.request.calls)
    for i, (text, keys) in enumerate(screens):
        await deliver(h, await owed(h, (f"u{i}", [effects.message(CHAT, text, keys, stale_ok=True, screen="w")])))
    stripped = calls(h, "editMessageReplyMarkup", mark)
    sent = calls(h, "sendMessage", mark)
    assert [p["message_id"] for p in stripped] == [sent[1]["_message_id"]]


async def test_an_edit_to_what_the_message_shows_already_is_not_sent(h):
    """R-F1: a press that renders the same screen again (the same text and buttons) makes no Bot API call
    (Telegram would answer "message is not modified")."""
    await deliver(h, await owed(h, ("u1", [effects.message(CHAT, "第 5 步", KEYS, stale_ok=True, screen="w")])))
    shown = calls(h, "sendMessage")[-1]["_message_id"]
    mark = len(h.request.calls)
    again = effects.edit(CHAT, shown, "第 5 步", KEYS, screen="w")
    changed = effects.edit(CHAT, shown, "第 6 步", KEYS, screen="w")
    await deliver(h, await owed(h, ("u2", [again]), ("u3", [changed])))
    assert [p["text"] for p in calls(h, "editMessageText", mark)] == ["第 6 步"]
    assert await results(h) == ["ok"] * 3


def statements(h: Harness, prefix: str) -> list[str]:
    """The statements starting with `prefix` run from now on (a list that grows)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(prefix):
            seen.append(statement)

    event.listen(h.db.engine.sync_engine, "before_cursor_execute", count)
    return seen


async def test_a_chats_next_row_waits_for_the_mark_of_the_one_before_except_after_an_answer(h, tmp_path):
    """R-W1: when a row goes out, every row of the chat before it is marked sent, so a kill repeats at most
    the one in hand; only a callback answer's mark may come with the next row's (Telegram refuses a
    second answer to a press, so one given again shows nothing)."""
    rows = await owed(h, ("u1", [effects.answer(CHAT, "q1"), effects.message(CHAT, "第 1 条", stale_ok=True),
                                 effects.message(CHAT, "第 2 条", stale_ok=True)]))
    db = sqlite3.connect(tmp_path / "studio.db")
    seen: list[int] = []

    def check(name: str, params: dict[str, Any], _: Any) -> None:
        if name == "sendMessage":
            seen.append(db.execute("SELECT count(*) FROM effects WHERE sent_at IS NOT NULL").fetchone()[0])

    wrap(h, check)
    await deliver(h, rows)
    db.close()
    assert seen == [0, 2], seen
    assert await results(h) == ["ok"] * 3


async def test_the_marks_of_chats_delivered_together_share_a_transaction(h):
    """R-W1: replies to five people delivered at the same moment are marked sent in one transaction, not
    one each."""
    rows = await owed(h, *[(f"u{i}", [effects.message(CHAT + i, "你好", stale_ok=True)]) for i in range(5)])
    marks = statements(h, "UPDATE effects SET sent_at")
    await deliver(h, rows)
    assert len(marks) == 1, marks
    assert await results(h) == ["ok"] * 5


async def test_a_screen_edited_in_place_is_not_written_again(h):
    """R-F1: the flow's newest message is stored when it changes (a new message), not when it is edited in
    place (it is the same message)."""
    await deliver(h, await owed(h, ("u1", [effects.message(CHAT, "第 5 步", KEYS, stale_ok=True, screen="w")])))
    shown = calls(h, "sendMessage")[-1]["_message_id"]
    written = statements(h, "UPDATE screens")
    await deliver(h, await owed(h, ("u2", [effects.edit(CHAT, shown, "第 6 步", KEYS, screen="w")])))
    await deliver(h, await owed(h, ("u3", [effects.message(CHAT, "第 7 步", KEYS, stale_ok=True, screen="w")])))
    assert len(written) == 1, written
