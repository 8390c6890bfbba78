"""Bot API faults over HTTP: the real `python -m bot` process against the fake Bot API with
flood waits (429 + retry_after), server errors (500, nginx 502), slow calls and timeouts, and dropped
connections on sendMessage, getUpdates and getFile; SIGKILL at every step of an application.

What must hold: every user message is still answered; every reviewer notification arrives exactly once
(no duplicates after retries or restarts); an application filled in with crashes equals one without.

Database faults: a SQLite write lock held by another connection; on PostgreSQL, row and table locks held by
another connection, a deadlock, a lock timeout and dropped connections; a commit that fails.

The tests taking the `dbs` fixture run twice: on SQLite and on PostgreSQL (a new database per bot; skipped
when no server is reachable, see `tests.conftest.database_url`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.callbacks import Review, WizardOp
from bot.domain import form
from bot.domain.workflow import Action
from storage.db import Database
from storage.models import Application, Attachment, ReviewMessage

from ..apply_steps import png
from ..databases import Databases, asyncpg_dsn, databases, sqlite_url
from .driver import prepare, say, tap, wiz_data
from .fake_api import ChatMessage, FakeTelegramServer, FakeUser

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

APOLOGY = "抱歉，处理时出了点问题"  # error.internal (zh)


@pytest_asyncio.fixture
async def dbs(database_url: str) -> AsyncIterator[Databases]:
    """Fresh databases for the test's bots: SQLite files, or new PostgreSQL databases (dropped afterwards).

    Put it before `bot_process_factory` in a test's arguments, so the bots are killed before their databases
    are dropped."""
    async with databases("postgresql" if database_url.startswith("postgresql") else "sqlite") as d:
        yield d


@pytest_asyncio.fixture
async def pg_dbs() -> AsyncIterator[Databases]:
    """New PostgreSQL databases only (the test is skipped when no server is reachable)."""
    async with databases("postgresql") as d:
        yield d


def db_url(bot: Any) -> str:
    """The database the bot process uses: its `DATABASE_URL`, or the SQLite file in its data directory (a data
    directory is also accepted: its SQLite file)."""
    if isinstance(bot, Path):
        return sqlite_url(bot)
    return bot.database_url or sqlite_url(bot.data_dir)


async def stored(bot: Any, applicant: int) -> tuple[Application | None, list[Attachment]]:
    """The applicant's application and attachments, read from the bot's database."""
    db = Database(db_url(bot))
    try:
        async with db.session() as s:
            app = (await s.scalars(select(Application).where(Application.applicant_id == applicant))).first()
            if app is None:
                return None, []
            atts = list((await s.scalars(select(Attachment).where(Attachment.application_id == app.id)
                                         .order_by(Attachment.id))).all())
            return app, atts
    finally:
        await db.dispose()


async def review_rows(bot: Any) -> list[ReviewMessage]:
    db = Database(db_url(bot))
    try:
        async with db.session() as s:
            return list((await s.scalars(select(ReviewMessage).order_by(ReviewMessage.id))).all())
    finally:
        await db.dispose()


def to(user: FakeUser) -> Callable[[dict[str, Any]], bool]:
    return lambda p: p.get("chat_id") == user.id


def answers(api: FakeTelegramServer, u: FakeUser, since: int) -> list[ChatMessage]:
    """Messages the bot sent or rewrote in the user's chat since `since` (an earlier question losing
    its buttons is not an answer)."""
    return [e for e in api.reactions(u, since) if e.action in ("sent", "edited")]


async def one_answer(api: FakeTelegramServer, u: FakeUser, send: Callable[[], Any], *,
                     within: float = 20, settle: float = 1.0) -> ChatMessage:
    """Queue a user update, wait until the bot has answered and gone quiet; exactly one answer."""
    since = api.mark()
    send()
    await api.wait_reply(u, since=since, timeout=within, settle=settle)
    got = answers(api, u, since)
    assert len(got) == 1, [f"{e.action}: {(e.text or '')[:60]}" for e in got]
    return got[0]


async def prepare_on(data_dir: Path, grants: list[tuple[int, str, bool]] | None, database_url: str | None) -> None:
    """`driver.prepare` on the given database (its `Settings` read `DATABASE_URL`; None: the SQLite default)."""
    with pytest.MonkeyPatch.context() as mp:
        if database_url is None:
            mp.delenv("DATABASE_URL", raising=False)
        else:
            mp.setenv("DATABASE_URL", database_url)
        await prepare(data_dir, grants)


async def start_bot(api: FakeTelegramServer, factory: Any, tmp_path: Path,
                    grants: list[tuple[int, str, bool]] | None = None, name: str = "data",
                    dbs: Databases | None = None) -> tuple[Any, Path]:
    """A prepared database and a started bot on it: SQLite in the data directory, or a new one from `dbs`."""
    data_dir = tmp_path / name
    url = await dbs.new() if dbs is not None else None
    await prepare_on(data_dir, grants, url)
    bot = await factory(data_dir=data_dir, workdir=tmp_path / f"w-{name}", database_url=url)
    return bot, data_dir


def press_op(api: FakeTelegramServer, u: FakeUser, op: WizardOp, v: str | None = None) -> Callable[[], str]:
    mid, data = wiz_data(api, u, op, v)
    return lambda: api.press(u, mid, data)


# --------------------------------------------------------------------------- sendMessage


async def test_flood_waits_on_send_message_are_waited_out(fake_api, bot_process_factory, tmp_path):
    """Faults: 429 Too Many Requests with retry_after on the user's answers — the bot waits and
    sends the real answer once (not an apology, not twice)."""
    _, _ = await start_bot(fake_api, bot_process_factory, tmp_path)
    u = fake_api.user(510, first_name="王建国")
    fake_api.inject("sendMessage", 429, retry_after=1, times=2, when=to(u))
    msg = await one_answer(fake_api, u, lambda: fake_api.send_text(u, "/apply"), settle=1.5)
    assert "第 1/" in (msg.text or ""), msg.text
    fake_api.inject(("sendMessage", "editMessageText"), 429, retry_after=1, times=1, when=to(u))
    msg = await one_answer(fake_api, u, press_op(fake_api, u, WizardOp.UNION), settle=1.5)
    assert "第 2/" in (msg.text or ""), msg.text
    assert len([c for c in fake_api.calls if c.status == 429]) == 3


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 502}, {"drop": True}],
                         ids=["500", "502-nginx", "dropped"])
async def test_server_errors_on_send_message_still_answer(dbs, fake_api, bot_process_factory, tmp_path, fault):
    """Faults, on SQLite and PostgreSQL: a 500, an nginx 502 or a dropped connection on the answer — the
    user still gets exactly one answer, the real one (the reply is sent again, not replaced by an apology), and
    the answer is stored."""
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path, dbs=dbs)
    u = fake_api.user(520, first_name="王建国")
    await say(fake_api, u, "/apply")
    fake_api.inject(("sendMessage", "editMessageText"), times=1, when=to(u), **fault)
    msg = await one_answer(fake_api, u, press_op(fake_api, u, WizardOp.UNION), settle=2.5)
    app, _ = await stored(bot, 520)
    assert app is not None and app.union_id is not None
    assert "第 2/" in (msg.text or ""), msg.text


async def test_timeout_on_send_message_still_answers(fake_api, bot_process_factory, tmp_path):
    """Faults: an answer that times out (the Bot API does not respond within the bot's 15 s read
    timeout) — the user still gets one answer and the stored state matches what it says."""
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path)
    u = fake_api.user(530, first_name="王建国")
    await say(fake_api, u, "/apply")
    fake_api.inject(("sendMessage", "editMessageText"), delay=17, times=1, when=to(u))
    msg = await one_answer(fake_api, u, press_op(fake_api, u, WizardOp.UNION), within=40, settle=2.5)
    app, _ = await stored(bot, 530)
    assert app is not None and app.union_id is not None
    assert APOLOGY in (msg.text or "") or "第 2/" in (msg.text or ""), msg.text


# --------------------------------------------------------------------------- getUpdates


async def test_get_updates_faults_lose_no_message(dbs, fake_api, bot_process_factory, tmp_path):
    """Faults, on SQLite and PostgreSQL: getUpdates answered with 429 (retry_after), 500, nginx 502, a
    dropped connection and a slow response — every message sent meanwhile is answered exactly once and in order,
    and every answer is stored."""
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path, dbs=dbs)
    u = fake_api.user(540, first_name="王建国")
    await say(fake_api, u, "/apply")
    for fault in ({"status": 429, "retry_after": 1}, {"status": 500}, {"status": 502}, {"drop": True},
                  {"delay": 3.0}):
        fake_api.inject("getUpdates", times=1, **fault)
    since = fake_api.mark()
    mid, data = wiz_data(fake_api, u, WizardOp.UNION)
    fake_api.press(u, mid, data)
    await fake_api.wait_for(lambda: len(answers(fake_api, u, since)) >= 1, timeout=60)
    for i in range(5):  # five eligibility answers, one after the other
        msg = await one_answer(fake_api, u, press_op(fake_api, u, WizardOp.YES), within=60, settle=0.5)
        assert f"第 {i + 3}/" in (msg.text or ""), msg.text
    assert all(f.exhausted for f in fake_api.faults)
    app, _ = await stored(bot, 540)
    assert app is not None and [app.answers.get(f"elig_{n}") for n in range(1, 6)] == [True] * 5


# --------------------------------------------------------------------------- getFile


async def goto_photos(api: FakeTelegramServer, u: FakeUser) -> None:
    """Valid answers up to the photos step (the same sequence as test_e2e_bot.fill_application)."""
    await say(api, u, "/apply")
    await tap(api, u, WizardOp.UNION)
    for _ in range(5):
        await tap(api, u, WizardOp.YES)
    for step in STEPS_TO_PHOTOS:
        await step.run(api, u)


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 429, "retry_after": 1}, {"drop": True},
                                   {"delay": 3.0}], ids=["500", "429", "dropped", "slow"])
async def test_get_file_faults_answer_every_photo(fake_api, bot_process_factory, tmp_path, fault):
    """Faults, R-M4: getFile failing or slow while a photo is uploaded — the photo message gets
    exactly one answer; a photo that could not be fetched leaves neither a row nor a file and is answered with
    the apology (whose “everything is saved” wording is questioned in
    test_the_apology_after_a_failed_write_does_not_claim_the_answer_was_saved); sending it again works."""
    bot, data_dir = await start_bot(fake_api, bot_process_factory, tmp_path)
    u = fake_api.user(550, first_name="王建国")
    await goto_photos(fake_api, u)
    fake_api.inject("getFile", times=1, **fault)
    msg = await one_answer(fake_api, u, lambda: fake_api.send_photo(u, png(1)), within=40, settle=1.5)
    app, atts = await stored(bot, 550)
    assert app is not None
    files = sorted(p.relative_to(data_dir).as_posix() for p in (data_dir / "materials").rglob("*") if p.is_file()) \
        if (data_dir / "materials").exists() else []
    assert files == sorted(a.stored_path for a in atts), (files, atts)  # no orphan file, no row without file
    if atts:
        assert "1/5" in (msg.text or ""), msg.text
    else:
        assert APOLOGY in (msg.text or ""), msg.text
        msg = await one_answer(fake_api, u, lambda: fake_api.send_photo(u, png(1)))
        assert "1/5" in (msg.text or ""), msg.text


async def test_album_with_a_slow_get_file_gets_one_answer(fake_api, bot_process_factory, tmp_path):
    """Faults, R-M4: an album of three photos where fetching the second one is slow (2.5 s, longer
    than the 1.2 s album wait) still gets one answer and all three photos are stored."""
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path)
    u = fake_api.user(555, first_name="王建国")
    await goto_photos(fake_api, u)
    seen = []
    fake_api.inject("getFile", delay=2.5, times=1, when=lambda p: seen.append(p) or len(seen) == 2)
    since = fake_api.mark()
    fake_api.send_album(u, [png(1), png(2), png(3)])
    await fake_api.wait_reply(u, since=since, timeout=20, settle=4.0)
    got = answers(fake_api, u, since)
    _, atts = await stored(bot, 555)
    assert len(atts) == 3 and len(got) == 1, ([(e.text or "")[:40] for e in got], len(atts))


# --------------------------------------------------------------------------- reviewer notifications


async def submit_application(api: FakeTelegramServer, u: FakeUser) -> None:
    await goto_photos(api, u)
    for step in STEPS_FROM_PHOTOS:
        await step.run(api, u)


def cards(api: FakeTelegramServer, reviewer: FakeUser, app_id: int) -> list[ChatMessage]:
    """The review cards (messages with this application's action buttons) the reviewer received."""
    data = Review(Action.L1_APPROVE, app_id).encode()
    return [e for e in api.events(reviewer) if e.action == "sent"
            and any(b.get("callback_data") == data for row in e.inline_keyboard for b in row)]


def albums(api: FakeTelegramServer, reviewer: FakeUser) -> set[str]:
    return {e.media_group_id for e in api.events(reviewer) if e.action == "sent" and e.media_group_id}


async def test_reviewer_cards_arrive_exactly_once_despite_faults_and_restarts(dbs, fake_api, bot_process_factory,
                                                                             tmp_path):
    """Faults, R-W1, on SQLite and PostgreSQL: the submission card reaches each reviewer of the union
    exactly once although their sendMessage / sendMediaGroup / sendDocument calls meet a 500, a 429, an nginx 502
    and a dropped connection; restarting the bot (SIGTERM, then SIGKILL) sends nothing again."""
    grants = [(561, "district_reviewer", True), (562, "district_reviewer", True)]
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path, grants, dbs=dbs)
    r1, r2 = fake_api.user(561, first_name="区工会一"), fake_api.user(562, first_name="区工会二")
    fake_api.inject("sendMessage", 500, times=1, when=to(r1))
    fake_api.inject("sendMediaGroup", 429, retry_after=1, times=1, when=to(r1))
    fake_api.inject("sendMessage", drop=True, times=1, when=to(r2))
    fake_api.inject("sendDocument", 502, times=1, when=to(r2))
    u = fake_api.user(560, first_name="王建国")
    await submit_application(fake_api, u)
    app, _ = await stored(bot, 560)
    assert app is not None and app.status == "submitted"
    await fake_api.wait_for(lambda: cards(fake_api, r1, app.id) and cards(fake_api, r2, app.id), timeout=30)
    await fake_api.wait_idle(quiet=2.0, timeout=30)
    for r in (r1, r2):
        assert len(cards(fake_api, r, app.id)) == 1, fake_api.transcript(r)
        assert len(albums(fake_api, r)) == 1
    assert all(f.exhausted for f in fake_api.faults)
    await bot.stop()
    await bot.start()
    await bot.kill()
    await bot.start()
    await fake_api.wait_idle(quiet=2.0, timeout=30)
    for r in (r1, r2):
        assert len(cards(fake_api, r, app.id)) == 1 and len(albums(fake_api, r)) == 1
    rows = await review_rows(bot)
    assert sorted(r.chat_id for r in rows) == [561, 562] and all(r.message_id for r in rows)


async def test_reviewer_card_when_the_response_is_lost(fake_api, bot_process_factory, tmp_path):
    """Faults: Telegram delivered the card but the response was lost (the connection dropped after the
    message was sent). The Bot API has no idempotency key, so the bot cannot know: it retries, and the
    reviewer may see the card twice — never zero times, never more than twice."""
    grants = [(571, "district_reviewer", True)]
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path, grants)
    r1 = fake_api.user(571, first_name="区工会")
    fake_api.inject("sendMessage", drop=True, perform=True, times=1,
                    when=lambda p: p.get("chat_id") == 571 and "reply_markup" in p)
    u = fake_api.user(570, first_name="王建国")
    await submit_application(fake_api, u)
    app, _ = await stored(bot, 570)
    assert app is not None
    await fake_api.wait_for(lambda: cards(fake_api, r1, app.id), timeout=30)
    await fake_api.wait_idle(quiet=2.0, timeout=30)
    assert 1 <= len(cards(fake_api, r1, app.id)) <= 2


async def test_crash_before_the_reviewer_card_is_sent_loses_nothing(fake_api, bot_process_factory, tmp_path):
    """Faults: SIGKILL after the submission is stored but while the applicant's receipt is still being
    sent (slow network) — after the restart the reviewer still gets the card, once."""
    grants = [(581, "district_reviewer", True)]
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path, grants)
    r1 = fake_api.user(581, first_name="区工会")
    u = fake_api.user(580, first_name="王建国")
    await goto_photos(fake_api, u)
    for step in STEPS_FROM_PHOTOS[:-1]:
        await step.run(api=fake_api, u=u)
    fake_api.inject(("sendMessage", "editMessageText"), delay=10, times=1, when=to(u))
    since = fake_api.mark()
    press_op(fake_api, u, WizardOp.CONFIRM)()
    await fake_api.wait_for(lambda: [c for c in fake_api.calls[since:] if c.method in ("sendMessage", "editMessageText")
                                     and c.params.get("chat_id") == u.id], timeout=15)
    app, _ = await stored(bot, 580)
    assert app is not None and app.status == "submitted"
    await bot.kill()
    fake_api.clear_faults()
    await bot.start()
    await fake_api.wait_for(lambda: cards(fake_api, r1, app.id), timeout=20)
    await fake_api.wait_idle(quiet=2.0, timeout=30)
    assert len(cards(fake_api, r1, app.id)) == 1, fake_api.transcript(r1)


async def test_crash_while_the_reviewer_card_is_in_flight_loses_nothing(dbs, fake_api, bot_process_factory,
                                                                        tmp_path):
    """Faults, on SQLite and PostgreSQL: SIGKILL while the reviewer's card (or the photos before it) is
    being sent (slow network): after the restart the reviewer still gets the card, once."""
    grants = [(582, "district_reviewer", True)]
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path, grants, dbs=dbs)
    r1 = fake_api.user(582, first_name="区工会")
    fake_api.inject(("sendMessage", "sendMediaGroup", "sendDocument"), delay=10, times=1, when=to(r1))
    u = fake_api.user(583, first_name="王建国")
    await submit_application(fake_api, u)
    await fake_api.wait_for(lambda: [c for c in fake_api.calls if c.params.get("chat_id") == r1.id], timeout=15)
    app, _ = await stored(bot, 583)
    assert app is not None and app.status == "submitted"
    await bot.kill()
    fake_api.clear_faults()
    await bot.start()
    await asyncio.sleep(4)
    await fake_api.wait_idle(quiet=2.0, timeout=30)
    assert len(cards(fake_api, r1, app.id)) == 1, fake_api.transcript(r1)


async def test_crash_while_the_answer_is_in_flight_still_answers(dbs, fake_api, bot_process_factory, tmp_path):
    """Faults, on SQLite and PostgreSQL: SIGKILL while the answer to the user's message is being sent
    (slow network): after the restart the user still gets an answer (kept in the database's effects), without
    re-sending anything, and the answer it confirms is stored."""
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path, dbs=dbs)
    u = fake_api.user(590, first_name="王建国")
    await say(fake_api, u, "/apply")
    fake_api.inject(("sendMessage", "editMessageText"), delay=10, times=1, when=to(u))
    since = fake_api.mark()
    press_op(fake_api, u, WizardOp.UNION)()
    await fake_api.wait_for(lambda: [c for c in fake_api.calls[since:] if c.method in ("sendMessage", "editMessageText")
                                     and c.params.get("chat_id") == u.id], timeout=15)
    await bot.kill()
    fake_api.clear_faults()
    await bot.start()
    await fake_api.wait_reply(u, since=since, timeout=10)
    assert answers(fake_api, u, since)
    app, _ = await stored(bot, 590)
    assert app is not None and app.union_id is not None


# --------------------------------------------------------------------------- crash at every step


@dataclass
class Step:
    """One user action of `test_e2e_bot.fill_application`, as data."""

    kind: str  # say | tap | album | doc
    arg: Any = None
    v: str | None = None

    def send(self, api: FakeTelegramServer, u: FakeUser) -> list[int]:
        """Queue the update(s); their update ids."""
        if self.kind == "say":
            return [api.send_text(u, self.arg)]
        if self.kind == "tap":
            mid, data = wiz_data(api, u, self.arg, self.v)
            api.press(u, mid, data)
            return [api.updates[-1]["update_id"]]
        if self.kind == "album":
            return api.send_album(u, [png(i) for i in self.arg])
        return [api.send_document(u, b"%PDF-1.4 recommendation", file_name="推荐材料.pdf",
                                  mime_type="application/pdf")]

    async def run(self, api: FakeTelegramServer, u: FakeUser) -> None:
        since = api.mark()
        self.send(api, u)
        await api.wait_reply(u, since=since, timeout=20, settle=1.5 if self.kind == "album" else 0.2)

    def __str__(self) -> str:
        return f"{self.kind}({self.arg!r}{'' if self.v is None else ', ' + self.v})"


def _t(op: WizardOp, v: str | None = None) -> Step:
    return Step("tap", op, v)


def _s(text: str) -> Step:
    return Step("say", text)


STEPS_TO_PHOTOS: list[Step] = [
    _s("大连港集团有限公司"), _s("王建国"), _t(WizardOp.CHOICE, "male"), _s("1975年3月"),
    _t(WizardOp.CHOICE, "bachelor"), _t(WizardOp.CHOICE, "senior_technician"), _t(WizardOp.CHOICE, "national_model"),
    _s("大连港集团有限公司"), _s("主持完成工艺改造12项。"), _t(WizardOp.DONE), _s("3号楼"), _s("120平方米"),
    _s("50万元"), _s("数控机床\n三维扫描仪"), _t(WizardOp.DONE), _t(WizardOp.MEMBER_ADD), _s("李明"),
    _t(WizardOp.CHOICE, "female"), _s("1985-06"), _t(WizardOp.CHOICE, "master"), _s("高级工程师"), _s("大连港集团"),
    _s("工艺设计"), _t(WizardOp.DONE), _s("三年内完成智能码头关键技术攻关。"), _t(WizardOp.DONE),
]
# one-line fields after the materials (the opinion boxes of R-F8), however many the form declares
_TAIL = [_s("同意申报") for f in form.STEPS[form.step_index("other_materials"):] if f.kind is form.Kind.TEXT]
STEPS_FROM_PHOTOS: list[Step] = [
    Step("album", [1, 2, 3]), _t(WizardOp.DONE), _t(WizardOp.SKIP), Step("doc"), _t(WizardOp.DONE),
    _s("工作室实行周例会制度。"), _t(WizardOp.DONE), _t(WizardOp.SKIP), *_TAIL, _t(WizardOp.SUBMIT),
    _t(WizardOp.CONFIRM),
]
APPLICATION: list[Step] = [_s("/apply"), _t(WizardOp.UNION), *[_t(WizardOp.YES)] * 5, *STEPS_TO_PHOTOS,
                           *STEPS_FROM_PHOTOS]


async def fill(api: FakeTelegramServer, u: FakeUser, crash_at: Callable[[int], bool],
               crash: Callable[[], Awaitable[None]]) -> list[str]:
    """The whole application; after the updates of step i are fetched, `crash()` if `crash_at(i)`."""
    log = []
    for i, step in enumerate(APPLICATION):
        if not crash_at(i):
            await step.run(api, u)
            continue
        since = api.mark()
        ids = step.send(api, u)
        for uid in ids:
            await api.wait_fetched(uid, timeout=20)
        acked = all(api.is_acked(uid) for uid in ids)
        await crash()
        try:
            await api.wait_reply(u, since=since, timeout=25, settle=1.5 if step.kind == "album" else 0.3)
        except TimeoutError:
            raise AssertionError(f"no answer after a crash at step {i} {step} (acked before the kill: {acked})\n"
                                 f"{api.transcript(u)}") from None
        log.append(f"{i}:{step}:{'acked' if acked else 'pending'}")
    return log


def _normalized(app: Application) -> dict[str, Any]:
    return {"answers": app.answers, "status": app.status, "union": app.union_id, "date": app.application_date}


@pytest.mark.timeout(600)
async def test_crash_at_every_step_matches_a_clean_run(dbs, fake_api, bot_process_factory, tmp_path):
    """Faults, on SQLite and PostgreSQL: SIGKILL right after each update of a whole application is
    fetched (every step), restart, re-send nothing: the user gets an answer every time, and the submitted
    application (answers, photos and document checksums) equals the one filled in without crashes.

    By default the bot is killed at every single step on SQLite (~1 min) and at every 6th on PostgreSQL,
    starting at step 1 (1, 7, 13, …), to keep the suite short; CRASH_EVERY / CRASH_EVERY_PG change that."""
    every = int(os.environ.get("CRASH_EVERY_PG", "6") if dbs.is_pg else os.environ.get("CRASH_EVERY", "1"))
    phase = 1 % every if dbs.is_pg else 0
    results = []
    started = time.monotonic()
    for run, crashing in enumerate((False, True)):
        bot, data_dir = await start_bot(fake_api, bot_process_factory, tmp_path, name=f"run{run}", dbs=dbs)
        u = fake_api.user(600 + run, first_name="王建国")

        async def crash() -> None:
            await bot.kill()  # noqa: B023 - the bot of this run
            await bot.start()  # noqa: B023

        log = await fill(fake_api, u, (lambda i, c=crashing: c and i % every == phase), crash)
        assert "-0001" in (fake_api.last_message(u).text or ""), fake_api.transcript(u)
        await bot.stop()
        app, atts = await stored(bot, 600 + run)
        assert app is not None
        for att in atts:
            assert hashlib.sha256((data_dir / att.stored_path).read_bytes()).hexdigest() == att.sha256
        results.append((_normalized(app), sorted((a.field, a.sha256, a.original_name) for a in atts)))
        if crashing:
            assert len(log) == len(range(phase, len(APPLICATION), every)), log
    assert results[0] == results[1]
    acked = sum(entry.endswith(":acked") for entry in log)
    print(f"{dbs.kind}: crash at every {every} step(s): {time.monotonic() - started:.0f} s for both runs; "
          f"{acked}/{len(log)} updates were already acknowledged when the bot was killed")


# --------------------------------------------------------------------------- database faults


@pytest.mark.timeout(180)
@pytest.mark.parametrize("hold,write", [(2.0, False), (11.0, True)], ids=["brief-lock", "lock-past-busy-timeout"])
async def test_sqlite_write_lock_is_waited_out_and_retried(fake_api, bot_process_factory, tmp_path, hold, write):
    """Database faults: another connection holds SQLite's write lock while the user's answer is handled
    (briefly; then for longer than the 10 s busy timeout, writing meanwhile so the bot's snapshot goes stale) — the
    answer is still stored and the user gets the real answer once, not an apology."""
    import sqlite3

    bot, data_dir = await start_bot(fake_api, bot_process_factory, tmp_path)
    u = fake_api.user(610, first_name="王建国")
    await say(fake_api, u, "/apply")
    lock = sqlite3.connect(data_dir / "studio.db", isolation_level=None, timeout=30)
    try:
        lock.execute("BEGIN IMMEDIATE")
        if write:
            lock.execute("UPDATE seasons SET last_number = last_number")
        since = fake_api.mark()
        press_op(fake_api, u, WizardOp.UNION)()
        await asyncio.sleep(hold)
        assert not answers(fake_api, u, since)  # nothing was sent before the answer could be stored
    finally:
        lock.execute("COMMIT")
        lock.close()
    await fake_api.wait_reply(u, since=since, timeout=40, settle=1.5)
    got = answers(fake_api, u, since)
    assert len(got) == 1 and "第 2/" in (got[0].text or ""), [(e.text or "")[:50] for e in got]
    app, _ = await stored(bot, 610)
    assert app is not None and app.union_id is not None
    if write:
        assert "database busy" in bot.log_text()  # the retry path, not only SQLite's own busy wait


# PostgreSQL counterparts: the lock holder is another connection to the bot's database (asyncpg, autocommit
# outside its explicit transaction).


async def pg_connect(bot: Any) -> Any:
    import asyncpg

    return await asyncpg.connect(asyncpg_dsn(db_url(bot)))


async def bot_waits_for_a_lock(conn: Any, relation: str | None = None, timeout: float = 15.0) -> int:  # noqa: ASYNC109
    """The pid of the bot's connection once it waits for a lock (on the table `relation`, in a transaction that has
    written already)."""
    sql = ("SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted "
           "AND a.datname = current_database() AND l.pid <> pg_backend_pid()")
    args: list[str] = []
    if relation is not None:
        sql += " AND l.relation = $1::regclass AND a.backend_xid IS NOT NULL"
        args.append(relation)
    deadline = time.monotonic() + timeout
    while True:
        await conn.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        pid = await conn.fetchval(sql, *args)
        if pid is not None:
            return int(pid)
        if time.monotonic() > deadline:
            now = await conn.fetch("SELECT a.pid, a.state, a.backend_xid, l.locktype, l.relation::regclass, l.mode, "
                                   "l.granted FROM pg_stat_activity a JOIN pg_locks l ON a.pid = l.pid "
                                   "WHERE a.datname = current_database()")
            raise TimeoutError(f"the bot never waited for a lock{' on ' + relation if relation else ''}: "
                               f"{[tuple(r) for r in now]}")
        await asyncio.sleep(0.03)


async def app_version(bot: Any, applicant: int) -> int:
    app, _ = await stored(bot, applicant)
    assert app is not None
    return app.version


async def start_pg_bot(pg_dbs: Databases, factory: Any, tmp_path: Path, *settings: str) -> Any:
    """A bot on a new PostgreSQL database with `ALTER DATABASE … SET` `settings` applied before it connects."""
    import asyncpg

    data_dir = tmp_path / "data"
    url = await pg_dbs.new()
    assert url is not None
    await prepare_on(data_dir, None, url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for setting in settings:
            await conn.execute(f'ALTER DATABASE "{await conn.fetchval("SELECT current_database()")}" SET {setting}')
    finally:
        await conn.close()
    return await factory(data_dir=data_dir, workdir=tmp_path / "w-data", database_url=url)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lock,hold", [
    ("SELECT 1 FROM applications WHERE applicant_id = 615 FOR UPDATE", 3.0),
    ("LOCK TABLE applications IN ACCESS EXCLUSIVE MODE", 6.0),
], ids=["row-lock", "table-lock"])
async def test_postgresql_lock_is_waited_out(pg_dbs, fake_api, bot_process_factory, tmp_path, lock, hold):
    """Database faults, PostgreSQL (the counterpart of the held SQLite write lock): another connection
    holds a lock the bot needs while the user's answer is handled — the row of the user's application (SELECT …
    FOR UPDATE, 3 s) or the whole table (ACCESS EXCLUSIVE, as a migration or VACUUM FULL takes it, 6 s). The bot
    waits it out: nothing is sent before the answer is stored, then the user gets the real answer once, not an
    apology, and the answer is stored once (the application's version goes up by one)."""
    bot = await start_pg_bot(pg_dbs, bot_process_factory, tmp_path)
    u = fake_api.user(615, first_name="王建国")
    await say(fake_api, u, "/apply")
    version = await app_version(bot, 615)
    conn = await pg_connect(bot)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute(lock)
        since = fake_api.mark()
        press_op(fake_api, u, WizardOp.UNION)()
        await bot_waits_for_a_lock(conn)
        await asyncio.sleep(hold)
        assert not answers(fake_api, u, since)  # nothing was sent before the answer could be stored
        await tx.rollback()
    finally:
        await conn.close()
    await fake_api.wait_reply(u, since=since, timeout=30, settle=1.5)
    got = answers(fake_api, u, since)
    assert len(got) == 1 and "第 2/" in (got[0].text or ""), [(e.text or "")[:50] for e in got]
    app, _ = await stored(bot, 615)
    assert app is not None and app.union_id is not None and app.version == version + 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", ["deadlock", "lock-timeout"])
async def test_postgresql_deadlock_and_lock_timeout_are_retried(pg_dbs, fake_api, bot_process_factory, tmp_path,
                                                                fault):
    """Database faults, PostgreSQL (the counterpart of SQLite's “database is locked” after the busy
    timeout, which the bot retries): PostgreSQL aborts the bot's statement because of another connection — a
    deadlock (it holds a SHARE lock on `effects` the bot's insert waits for, then updates the application row the
    bot has just updated: “deadlock detected”), or a lock wait longer than the database's `lock_timeout` (1 s here,
    a common production setting; the row is held 1.5 s). Nothing was committed, so the bot must retry the update
    as it does on SQLite: the user gets the real answer once, not an apology, and the answer is stored once."""
    settings = ["lock_timeout = '1s'"] if fault == "lock-timeout" else []
    bot = await start_pg_bot(pg_dbs, bot_process_factory, tmp_path, *settings)
    u = fake_api.user(616, first_name="王建国")
    await say(fake_api, u, "/apply")
    version = await app_version(bot, 616)
    conn = await pg_connect(bot)
    try:
        tx = conn.transaction()
        await tx.start()
        if fault == "deadlock":
            await conn.execute("SET LOCAL deadlock_timeout = '5s'")  # the bot's check (1 s) finds the cycle first
            await conn.execute("LOCK TABLE effects IN SHARE MODE")
        else:
            await conn.fetch("SELECT 1 FROM applications WHERE applicant_id = 616 FOR UPDATE")
        since = fake_api.mark()
        press_op(fake_api, u, WizardOp.UNION)()
        if fault == "deadlock":
            await bot_waits_for_a_lock(conn, "effects")  # holding the application row it has updated
            await conn.execute("UPDATE applications SET version = version WHERE applicant_id = 616")
        else:
            await bot_waits_for_a_lock(conn)
            await asyncio.sleep(1.5)
        await tx.rollback()  # the other connection changes nothing
    finally:
        await conn.close()
    await fake_api.wait_reply(u, since=since, timeout=30, settle=1.5)
    log = bot.log_text()
    if ("deadlock detected" if fault == "deadlock" else "lock timeout") not in log:  # the fault really happened
        raise RuntimeError(f"the {fault} did not happen:\n{bot.log_tail()}")
    got = answers(fake_api, u, since)
    errors = [ln for ln in log.splitlines() if ln.startswith("sqlalchemy.exc.")]
    assert len(got) == 1 and "第 2/" in (got[0].text or ""), ([(e.text or "")[:50] for e in got], errors)
    app, _ = await stored(bot, 616)
    assert app is not None and app.union_id is not None and app.version == version + 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("when", ["idle", "mid-update"])
async def test_postgresql_connections_ended_by_the_server(pg_dbs, fake_api, bot_process_factory, tmp_path, when):
    """Database faults, PostgreSQL: the server ends the bot's connections (a restart, a fail-over, a
    proxy closing idle connections; here pg_terminate_backend). While the bot is idle: the next answer is handled
    normally — the real answer once, stored (the pool replaces the dead connections). In the middle of an update
    (the bot waiting for a row lock): nothing of the update was committed, so the bot tries it again on a new
    connection — the user gets exactly one answer, the real one, and the answer is stored once."""
    bot = await start_pg_bot(pg_dbs, bot_process_factory, tmp_path)
    u = fake_api.user(617, first_name="王建国")
    await say(fake_api, u, "/apply")
    version = await app_version(bot, 617)
    conn = await pg_connect(bot)
    try:
        if when == "idle":
            ended = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            assert ended, "the bot had no open connection"
            msg = await one_answer(fake_api, u, press_op(fake_api, u, WizardOp.UNION), settle=1.5)
        else:
            tx = conn.transaction()
            await tx.start()
            await conn.fetch("SELECT 1 FROM applications WHERE applicant_id = 617 FOR UPDATE")
            since = fake_api.mark()
            press_op(fake_api, u, WizardOp.UNION)()
            pid = await bot_waits_for_a_lock(conn)
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
            await tx.rollback()
            await fake_api.wait_reply(u, since=since, timeout=30, settle=1.5)
            got = answers(fake_api, u, since)
            assert len(got) == 1, [(e.text or "")[:50] for e in got]
            msg = got[0]
    finally:
        await conn.close()
    app, _ = await stored(bot, 617)
    assert app is not None
    assert "第 2/" in (msg.text or ""), msg.text  # not the apology
    assert app.union_id is not None and app.version == version + 1


class _FailingCommit:
    """Make the next commit (the handler's) raise a non-busy database error once. Patched on the ORM's
    `Session`, which the async session and the handler's write trip both commit through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from sqlalchemy.exc import OperationalError
        from sqlalchemy.orm import Session

        self.armed = False
        self.fired = 0
        original = Session.commit

        def commit(session: Session) -> None:
            if self.armed:
                self.armed = False
                self.fired += 1
                raise OperationalError("COMMIT", {}, Exception("disk I/O error"))
            original(session)

        monkeypatch.setattr(Session, "commit", commit)


async def _draft_state(h: Any, uid: int) -> tuple[Any, ...]:
    async with h.db.engine.connect() as conn:
        app = (await conn.execute(select(Application.__table__).where(Application.applicant_id == uid))).one()
        atts = (await conn.execute(select(Attachment.__table__.c.stored_path))).all()
    return app.answers, app.wizard, app.version, sorted(a[0] for a in atts)


def _files(h: Any) -> set[str]:
    root = h.settings.data_dir / "materials"
    return {p.relative_to(h.settings.data_dir).as_posix() for p in root.rglob("*") if p.is_file()} \
        if root.exists() else set()


async def test_failed_write_of_a_typed_answer_saves_nothing_and_says_try_again(any_bot, monkeypatch):
    """Database faults, on SQLite and PostgreSQL: the commit of a typed answer fails (a disk error, not a
    busy database) — nothing of that answer is stored, the user gets one answer telling them to try again, and
    sending it again works. (What the bot says: the apology asking to send the message again.)"""
    from tests.test_wizard_inputs import goto_step

    bot = any_bot
    fail = _FailingCommit(monkeypatch)
    u = bot.user(620)
    await goto_step(bot, u, "leader_name")
    before = await _draft_state(bot, 620)
    fail.armed = True
    mark = await bot.text(u, "王建国")
    assert fail.fired == 1
    assert await _draft_state(bot, 620) == before  # no half-saved answer
    texts = bot.request.texts(620, since=mark)
    assert len(texts) == 1 and "再发送一次" in texts[0], texts
    mark = await bot.text(u, "王建国")
    state = await _draft_state(bot, 620)
    assert state[0]["leader_name"] == "王建国" and state[1]["step"] == "leader_gender"


async def test_the_apology_after_a_failed_write_does_not_claim_the_answer_was_saved(any_bot, monkeypatch):
    """Database faults, on SQLite and PostgreSQL: the apology must be true — the answer whose write
    failed is not saved."""
    from tests.test_wizard_inputs import goto_step

    bot = any_bot
    fail = _FailingCommit(monkeypatch)
    u = bot.user(621)
    await goto_step(bot, u, "leader_name")
    fail.armed = True
    mark = await bot.text(u, "王建国")
    text = bot.request.texts(621, since=mark)[0]
    assert "都已保存" not in text and "已保存" not in text, text


async def test_failed_write_of_a_photo_leaves_no_orphan_file(any_bot, monkeypatch):
    """Database faults, R-M4, on SQLite and PostgreSQL: a failed commit while a photo is stored leaves
    the files on disk exactly matching the attachment rows."""
    from tests.test_wizard_inputs import goto_step

    bot = any_bot
    fail = _FailingCommit(monkeypatch)
    u = bot.user(622)
    await goto_step(bot, u, "photos")
    await bot.photo(u, png(1))
    fail.armed = True
    await bot.photo(u, png(2))  # the commit fails
    state = await _draft_state(bot, 622)
    assert set(state[3]) == _files(bot), (state[3], _files(bot))


async def test_failed_removal_of_a_photo_keeps_its_file(any_bot, monkeypatch):
    """Database faults, R-M4, on SQLite and PostgreSQL: a failed commit while a photo is removed leaves
    the photo and its row."""
    from tests.apply_steps import tap_op
    from tests.test_wizard_inputs import goto_step

    bot = any_bot
    fail = _FailingCommit(monkeypatch)
    u = bot.user(623)
    await goto_step(bot, u, "photos")
    await bot.photo(u, png(1))
    async with bot.db.session() as s:
        att = (await s.scalars(select(Attachment))).one()
    fail.armed = True
    await tap_op(bot, u, WizardOp.FILE_DEL, str(att.id))  # the commit fails
    state = await _draft_state(bot, 623)
    assert set(state[3]) == _files(bot), (state[3], _files(bot))


# --------------------------------------------------------------------------- calls that change nothing


def unchanged(api: FakeTelegramServer, since: int = 0) -> list[str]:
    """The calls the Bot API refused as changing nothing ("message is not modified")."""
    return [f"{c.method} {c.params.get('chat_id')}:{c.params.get('message_id')}" for c in api.calls[since:]
            if c.status == 400 and "not modified" in (c.error or "")]


@pytest.mark.timeout(300)
async def test_a_journey_and_a_review_make_no_call_that_changes_nothing(fake_api, bot_process_factory, tmp_path):
    """R-F1, R-W1…R-W3: a whole application and its review from the district's approval to the meeting's
    confirmation, then the applicant asking for the form twice more, without faults: no Bot API call is
    refused as "message is not modified" (buttons removed from a message that has none, such as the receipt,
    or an edit to the same text) — each would be a wasted call against Telegram's limits and a line in the
    error log."""
    from .test_e2e_review_crash import APPLICANT, CITY, DISTRICT, review

    data_dir, base = tmp_path / "data", 760
    await prepare(data_dir, [(base + DISTRICT, "district_reviewer", True), (base + CITY, "city_reviewer", False)])
    bot = await bot_process_factory(data_dir=data_dir, workdir=tmp_path / "w")
    result = await review(fake_api, bot, data_dir, base, crash=False)
    assert result["status"] == "notice"
    applicant = fake_api.user(base + APPLICANT)
    for _ in range(2):
        await say(fake_api, applicant, "/apply")
    await fake_api.wait_idle(quiet=1.0, timeout=30)
    assert unchanged(fake_api) == [], unchanged(fake_api)


# --------------------------------------------------------------------------- a flaky Bot API throughout

STEP_NO = re.compile(r"第 (\d+)/\d+ 步")


@pytest.mark.timeout(600)
async def test_a_whole_application_over_a_flaky_bot_api(fake_api, bot_process_factory, tmp_path, capsys):
    """R-F1, R-W1: 30 % of the bot's calls fail at random — an nginx 502, a 429 with retry_after, a lost answer
    (done, the connection dropped) and a stall longer than the bot's time-out for small calls — over a whole
    application. Every answer of the applicant is answered within 10 s, nothing saved is apologised for, the
    application is submitted; what arrived twice is counted and printed: at most one per lost answer, and never
    an older screen below a newer one (the step numbers of the chat's questions never go back)."""
    from bot.sender import SMALL_TIMEOUT

    await start_bot(fake_api, bot_process_factory, tmp_path)
    u = fake_api.user(640, first_name="王建国")
    chaos = fake_api.chaos(0.3, seed=int(os.environ.get("CHAOS_SEED", "22")), stall=SMALL_TIMEOUT + 2)
    latencies: list[float] = []
    for i, step in enumerate(APPLICATION):
        since = fake_api.mark()
        shown = {e.text for e in fake_api.events(u)}  # a late copy of one of these is no answer

        def answered(since: int = since, shown: set[str | None] = shown) -> bool:
            return any(e.action in ("sent", "edited") and e.text not in shown for e in fake_api.reactions(u, since))

        started = time.monotonic()
        try:
            step.send(fake_api, u)
            await fake_api.wait_for(answered, timeout=30)
        except (TimeoutError, AssertionError):
            raise AssertionError(f"no answer to step {i} {step}\n{fake_api.describe(u, last=40)}") from None
        latencies.append(time.monotonic() - started)
        await fake_api.wait_reply(u, since=since, timeout=30, settle=1.5 if step.kind == "album" else 0.5)
    await fake_api.wait_idle(quiet=2.0, timeout=60)
    mine = {c.index for c in fake_api.calls if c.params.get("chat_id") == u.id}
    visible = {c.index for c in fake_api.calls if c.method in ("sendMessage", "sendDocument", "sendMediaGroup")}
    lost = chaos.count("lost", where=lambda i: i in mine and i in visible)
    sent = [e for e in fake_api.events(u) if e.action == "sent" and e.text]
    seen: set[str] = set()
    duplicates = 0
    for e in sent:
        duplicates += e.text in seen
        seen.add(e.text or "")
    steps = [int(m.group(1)) for msg in fake_api.chat(u) if (m := STEP_NO.search(msg.text or ""))]
    app, _ = await stored(tmp_path / "data", 640)
    with capsys.disabled():
        faults = {k: chaos.count(k) for k in chaos.kinds}
        calls = sum(1 for c in fake_api.calls if c.method in chaos.methods)
        print(f"\nflaky Bot API, {len(APPLICATION)} steps: faults {faults} on {len(chaos.taken)} of {calls} calls; "
              f"slowest answer {max(latencies):.1f} s; {duplicates} duplicates for {lost} lost "
              f"answers of visible messages")
    assert app is not None and app.status == "submitted"
    assert not [e.text for e in fake_api.events(u) if APOLOGY in (e.text or "")]
    assert max(latencies) <= 10, [(str(APPLICATION[i]), round(t, 1)) for i, t in enumerate(latencies) if t > 10]
    assert duplicates <= lost, fake_api.transcript(u)
    assert steps == sorted(steps), (steps, fake_api.transcript(u))  # no older question below a newer one
