"""SIGKILL between a decision and the last message it owes (R-W1, R-F9): the real `python -m bot` is
killed at several moments after the final confirm and after a reviewer's decisive press; after the
restart every message owed arrives — the receipt and the printed form, each reviewer's card, the
applicant's news, the decided cards' edits — and what arrived twice is counted and printed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.callbacks import Review, ReviewAux, ReviewOp, WizardOp
from bot.domain.workflow import Action

from .driver import prepare, wiz_data
from .fake_api import FakeTelegramServer
from .test_e2e_bot import fill_application, stored

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

DISTRICTS, CITY, BASE = (901, 902), 903, 910
KILL_AFTER = (0.0, 0.03, 0.1, 0.2)  # seconds after the update was fetched


def accepted(api: FakeTelegramServer, since: int, method: str, chat: int) -> list[Any]:
    return [c for c in api.calls[since:] if c.method == method and c.status == 200
            and int(c.params.get("chat_id", 0) or 0) == chat]


def cards(api: FakeTelegramServer, since: int, chat: int, app_id: int, first: str) -> int:
    data = f"{first}:{app_id}"
    return sum(1 for c in accepted(api, since, "sendMessage", chat) if data in str(c.params.get("reply_markup")))


def docx(api: FakeTelegramServer, since: int, chat: int) -> int:
    return sum(1 for c in accepted(api, since, "sendDocument", chat)
               if any(f.filename.endswith(".docx") for f in c.files.values()))


async def kill_after(api: FakeTelegramServer, bot: Any, update_id: int, delay: float) -> None:
    await api.wait_fetched(update_id, timeout=20)
    await asyncio.sleep(delay)
    await bot.kill()
    await bot.start()


async def settle(api: FakeTelegramServer, done: Any) -> None:
    await api.wait_for(done, timeout=30)
    await asyncio.sleep(1.0)  # anything sent twice arrives meanwhile


@pytest.mark.timeout(480)
async def test_sigkill_after_confirm_and_after_a_decisive_press_loses_nothing(fake_api, bot_process_factory,
                                                                               tmp_path, capsys):
    """R-W1, R-F9: for each kill moment, a new application is confirmed and the bot killed; then the district
    reviewer's decisive press and a kill. Every effect arrives at least once; duplicates are counted."""
    data_dir = tmp_path / "data"
    grants = [(d, "district_reviewer", True) for d in DISTRICTS] + [(CITY, "city_reviewer", False)]
    await prepare(data_dir, grants)
    bot = await bot_process_factory(data_dir=data_dir)
    api = fake_api
    reviewers = {d: api.user(d, first_name=f"区{d}") for d in DISTRICTS}
    api.user(CITY, first_name="市总")
    duplicates: list[int] = []
    for i, delay in enumerate(KILL_AFTER):
        uid = BASE + i
        u = api.user(uid, first_name="王建国")
        await fill_application(api, u, set(), bot, confirm=False)
        mid, data = wiz_data(api, u, WizardOp.CONFIRM)
        since = api.mark()
        api.press(u, mid, data)
        await kill_after(api, bot, api.updates[-1]["update_id"], delay)
        app_id = (await stored(data_dir, uid))[0].id
        first = Review(Action.L1_APPROVE, app_id).encode().rsplit(":", 1)[0]

        def confirmed(since: int = since, uid: int = uid, app_id: int = app_id, first: str = first) -> bool:
            return docx(api, since, uid) >= 1 and all(cards(api, since, d, app_id, first) >= 1 for d in DISTRICTS)

        await settle(api, confirmed)
        got = [docx(api, since, uid)] + [cards(api, since, d, app_id, first) for d in DISTRICTS]
        duplicates.append(sum(n - 1 for n in got))

        # the district's decisive press: approve, then the default opinion
        d = reviewers[DISTRICTS[0]]
        for msg in reversed(api.chat(d)):
            if any(b.get("callback_data") == Review(Action.L1_APPROVE, app_id).encode()
                   for row in msg.inline_keyboard for b in row):
                s0 = api.mark()
                api.press(d, msg.message_id, Review(Action.L1_APPROVE, app_id).encode())
                await api.wait_reply(d, since=s0, timeout=15)
                break
        default = ReviewAux(ReviewOp.DEFAULT, app_id).encode()
        prompt = next(m for m in reversed(api.chat(d))  # the card, turned into the prompt in place
                      if any(b.get("callback_data") == default for row in m.inline_keyboard for b in row))
        since = api.mark()
        api.press(d, prompt.message_id, default)
        await kill_after(api, bot, api.updates[-1]["update_id"], delay)
        city_first = Review(Action.SCHEDULE, app_id).encode().rsplit(":", 1)[0]

        def news(since: int = since, uid: int = uid) -> int:
            sent = accepted(api, since, "sendMessage", uid)
            return sum(1 for c in sent if "已通过区市县" in c.params.get("text", ""))

        def closed(chat: int, since: int = since) -> int:
            return sum(1 for c in accepted(api, since, "editMessageText", chat)  # the card shows who moved it
                       if "最近：" in c.params.get("text", "") and "待市总工会审核" in c.params.get("text", ""))

        def decided(since: int = since, app_id: int = app_id, city_first: str = city_first) -> bool:
            return news() >= 1 and cards(api, since, CITY, app_id, city_first) >= 1 and all(
                closed(x) >= 1 for x in DISTRICTS[1:])

        await settle(api, decided)
        got = [news(), cards(api, since, CITY, app_id, city_first)]
        duplicates.append(sum(n - 1 for n in got))
        assert (await stored(data_dir, uid))[0].status == "forwarded"
    await bot.stop()
    kills = 2 * len(KILL_AFTER)
    with capsys.disabled():
        print(f"\nSIGKILL after confirm / decisive press: {kills} kills, duplicates per kill {duplicates}, "
              f"{100 * sum(duplicates) / kills:.0f} duplicates per 100 kills")
    # a duplicate needs a kill between Telegram's answer and the mark
    assert sum(duplicates) <= kills // 2, duplicates
