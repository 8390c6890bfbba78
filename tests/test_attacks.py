"""Attacks: forged, replayed and stale button presses, another person's application, a reviewer
of another union, hostile file names, and the bot token.

The rule for every press a user could not have received from the bot: nothing in the database changes
(a snapshot of every table except the audit trail is compared), the presser gets an alert
(`show_alert`), and the attempt is recorded in the audit trail with the presser's id.

The tests of stored state run on SQLite and, for those marked `ON_BOTH`, on PostgreSQL as well (the world is
built once per database and copied for each test: a directory copy, and on PostgreSQL `CREATE DATABASE …
TEMPLATE`); the many single-datum variants run on SQLite, and all their data at once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

import conversations.common  # noqa: F401 - every module's callback prefixes are registered
from bot import callbacks as cb
from bot.callbacks import Review, ReviewAux, ReviewOp, Wiz, WizardOp
from bot.domain import form
from bot.domain.workflow import Action
from storage.models import Application, Attachment, AuditEvent, Base
from tests.apply_steps import fill_until_summary, tap_op
from tests.conftest import JULY_10
from tests.databases import BOTH, create_pg_database, drop_pg_database, need_pg
from tests.e2e.conftest import bot_process_factory, fake_api  # noqa: F401 - fixtures of the e2e test below
from tests.e2e.fake_formatting import render
from tests.offline import TOKEN, Harness, buttons, close_harness, make_harness
from tests.roles import first_union_id, grant

OWNER, DRAFTER, DISTRICT, DISTRICT2, FOREIGN, CITY, CONTACT, ADMIN, NOBODY = 10, 11, 20, 22, 21, 30, 40, 900, 50
ROLES = {  # who presses: every role and no role
    "no role": NOBODY,
    "applicant (owner)": OWNER,
    "applicant (another draft)": DRAFTER,
    "district reviewer": DISTRICT,
    "district reviewer (other union)": FOREIGN,
    "city reviewer": CITY,
    "contact": CONTACT,
    "admin": ADMIN,
}
NAMES = {uid: f"U{uid}" for uid in (*ROLES.values(), DISTRICT2)}


@dataclass
class World:
    h: Harness
    submitted: int  # OWNER's application, submitted to the first union
    draft: int  # DRAFTER's application, a draft at the eligibility questions
    given: dict[int, set[str]]  # callback data the bot put on buttons for each user while building the world

    def user(self, uid: int) -> dict[str, Any]:
        return self.h.user(uid, name=NAMES.get(uid, "张三"))


async def _build(data_dir: Path, database_url: str | None) -> tuple[int, int, dict[int, set[str]]]:
    h = await make_harness(data_dir, now=JULY_10, admin_ids=str(ADMIN), database_url=database_url)
    try:
        union = await first_union_id(h)
        await grant(h, DISTRICT, "district_reviewer", union)
        await grant(h, DISTRICT2, "district_reviewer", union)
        await grant(h, FOREIGN, "district_reviewer", union + 1)
        await grant(h, CITY, "city_reviewer")
        await grant(h, CONTACT, "contact")
        owner = h.user(OWNER, name=NAMES[OWNER])
        await fill_until_summary(h, owner)
        await tap_op(h, owner, WizardOp.SUBMIT)
        await tap_op(h, owner, WizardOp.CONFIRM)
        drafter = h.user(DRAFTER, name=NAMES[DRAFTER])
        await h.text(drafter, "/apply")
        await tap_op(h, drafter, WizardOp.UNION)
        for uid in (NOBODY, ADMIN):
            await h.text(h.user(uid, name=NAMES[uid]), "/start")
        async with h.db.session() as s:
            apps = {a.applicant_id: a.id for a in (await s.scalars(select(Application))).all()}
        given = {uid: {d for _, p in h.request.sent(uid) for _, d in buttons(p)} for uid in NAMES}
        return apps[OWNER], apps[DRAFTER], given
    finally:
        await close_harness(h)


@dataclass
class Template:
    root: Path  # the data directory (and the SQLite file)
    database_url: str | None  # the PostgreSQL database to copy, None on SQLite
    submitted: int
    draft: int
    given: dict[int, set[str]]


class Templates:
    """The world built once per database, when a test first needs it (a submitted application, a draft, every
    role); each test gets a copy."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp = tmp_path_factory
        self.made: dict[str, Template] = {}

    async def get(self, kind: str) -> Template:
        if kind not in self.made:
            root = self.tmp.mktemp(f"world-{kind}") / "data"
            url = await create_pg_database() if kind == "postgresql" else None
            self.made[kind] = Template(root, url, *await _build(root, url))
        return self.made[kind]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    t = Templates(tmp_path_factory)
    yield t
    for tpl in t.made.values():
        if tpl.database_url:
            asyncio.run(drop_pg_database(tpl.database_url))


@pytest.fixture
def world_db(request: pytest.FixtureRequest) -> str:
    """The database of `world`: SQLite, unless the test is marked `ON_BOTH` (or parametrizes it indirectly)."""
    kind = getattr(request, "param", "sqlite")
    if kind == "postgresql":
        need_pg()
    return kind


ON_BOTH = pytest.mark.parametrize("world_db", BOTH, indirect=True)


@pytest_asyncio.fixture
async def world(templates, world_db, tmp_path) -> AsyncIterator[World]:
    tpl = await templates.get(world_db)
    shutil.copytree(tpl.root, tmp_path / "data")
    url = await create_pg_database(template=tpl.database_url) if tpl.database_url else None
    try:
        h = await make_harness(tmp_path / "data", now=JULY_10, admin_ids=str(ADMIN), database_url=url)
        yield World(h, tpl.submitted, tpl.draft, tpl.given)
        await close_harness(h)
    finally:
        if url:
            await drop_pg_database(url)


async def snapshot(h: Harness) -> dict[str, list[str]]:
    """Every row of every table except the (append-only) audit trail."""
    out = {}
    async with h.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in ("audit_events", "effects", "handled_updates"):  # the trail, what was owed
                out[table.name] = sorted(repr(tuple(r)) for r in (await conn.execute(select(table))).all())
    return out


async def audit_rows(h: Harness) -> list[AuditEvent]:
    async with h.db.session() as s:
        return list((await s.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


def offered(w: World, uid: int) -> set[str]:
    """Every callback data the bot ever put on a button for this user."""
    return w.given.get(uid, set()) | {d for _, p in w.h.request.sent(uid) for _, d in buttons(p)}


async def assert_refused(w: World, uid: int, data: str) -> None:
    """Press `data` as `uid`: nothing changes, an alert is shown, the attempt is in the audit trail."""
    h = w.h
    before, trail = await snapshot(h), await audit_rows(h)
    mark = await h.press(w.user(uid), data)
    after, trail_after = await snapshot(h), await audit_rows(h)
    changed = [t for t in before if before[t] != after[t]]
    assert not changed, (uid, data, changed)
    answers = h.request.alerts(since=mark)
    assert len(answers) == 1 and answers[0].get("show_alert") and answers[0].get("text"), (uid, data, answers)
    new = trail_after[len(trail):]
    assert len(new) == 1 and new[0].actor_id == uid, (uid, data, [(e.action, e.details) for e in new])
    assert "refused" in new[0].action and new[0].to_status is None, (new[0].action, new[0].to_status)
    sent = [n for n, _ in h.request.sent(uid, since=mark)]
    assert not {"sendDocument", "sendPhoto", "sendMediaGroup"} & set(sent), sent  # no materials leak


# --------------------------------------------------------------------------- review buttons


@ON_BOTH
async def test_every_review_action_by_every_role_is_refused_unless_offered(world):
    """Attacks, R-W1…R-W4, on SQLite and PostgreSQL: `rv:<action>:<app>` for every Action and every role
    (and no role) on a submitted application and on a draft — except the buttons the bot gave that reviewer —
    changes nothing, is answered with an alert and recorded in the audit trail."""
    w = world
    tried = 0
    for uid in ROLES.values():
        mine = offered(w, uid)
        for action in Action:
            for app_id in (w.submitted, w.draft, 999_999):
                data = Review(action, app_id).encode()
                if data in mine:
                    continue
                await assert_refused(w, uid, data)
                tried += 1
    assert tried >= len(ROLES) * len(Action) * 3 - 3


MALFORMED_REVIEW = [
    "rv:l1_approve:abc", "rv:l1_approve:-1", "rv:l1_approve:1e3", "rv:l1_approve: 1", "rv:l1_approve:",
    "rv:l1_approve", "rv:drop_tables:1", "rv:L1_APPROVE:1", "rv:l1_approve:1:extra", "rv:l1_approve:0x1",
    "rv:l1_approve:99999999999999999999", "rv:" + "x" * 80,
]


@pytest.mark.parametrize("data", MALFORMED_REVIEW)
async def test_malformed_review_data_is_refused(world, data):
    """Attacks: non-numeric, negative, extra or missing parts, made-up actions, overlong data."""
    for uid in (DISTRICT, NOBODY):
        await assert_refused(world, uid, data)


@ON_BOTH
async def test_replayed_and_stale_review_presses_change_nothing(world):
    """Attacks, on SQLite and PostgreSQL: once a reviewer decided, the same button pressed again (replay),
    another reviewer's card of the same union (stale) and a different action on the old card are refused."""
    w = world
    d = w.user(DISTRICT)
    await w.h.press(d, Review(Action.L1_APPROVE, w.submitted).encode())
    await w.h.press(d, ReviewAux(ReviewOp.DEFAULT, w.submitted).encode())
    async with w.h.db.session() as s:
        assert (await s.get(Application, w.submitted)).status == "forwarded"
    for uid in (DISTRICT, DISTRICT2):
        for action in (Action.L1_APPROVE, Action.L1_RETURN, Action.L1_REJECT):
            await assert_refused(w, uid, Review(action, w.submitted).encode())


@ON_BOTH
async def test_reviewer_of_another_union_cannot_act_or_see(world):
    """Attacks, R-C2, on SQLite and PostgreSQL: a district reviewer of another union gets no card, no /pending
    entry, and every action, the full view and the status timeline of the application are refused."""
    w = world
    assert not w.given[FOREIGN]
    mark = await w.h.text(w.user(FOREIGN), "/pending")
    assert not any(buttons(p) for _, p in w.h.request.sent(FOREIGN, since=mark))
    for data in [*(Review(a, w.submitted).encode() for a in Action),
                 *(ReviewAux(op, w.submitted).encode() for op in (ReviewOp.FULL, ReviewOp.PHOTOS, ReviewOp.FILES)),
                 cb.PendingOpen(w.submitted).encode(), cb.Status(w.submitted).encode()]:
        await assert_refused(w, FOREIGN, data)


@ON_BOTH
async def test_stale_review_aux_presses_are_recorded(world):
    """Attacks, on SQLite and PostgreSQL: the default-opinion, cancel and section buttons of a decision that
    is not in progress (already finished, cancelled, or never started) are refused and recorded."""
    w = world
    for uid in (DISTRICT, NOBODY, CITY):
        for data in (ReviewAux(ReviewOp.DEFAULT, w.submitted).encode(),
                     ReviewAux(ReviewOp.CANCEL, w.submitted).encode(),
                     cb.ReviewSection(w.submitted, "equipment").encode(), "rx:dflt:999999", "rx:zz:1"):
            await assert_refused(w, uid, data)


@pytest.mark.parametrize("data", ["rv:l1_approve:１", "rv:l1_approve:٣", "st:１", "f:１:y:"])
def test_only_canonical_ascii_ids_decode(data):
    """Attacks: the codec accepts only data this bot could have made."""
    assert cb.decode(data) is None


# --------------------------------------------------------------------------- wizard buttons


@ON_BOTH
async def test_wizard_buttons_with_another_users_application(world):
    """Attacks, on SQLite and PostgreSQL: every wizard operation carrying another person's application id (a
    submitted one, a draft, one that does not exist) is refused for every role — including the owner pressing a button
    for a draft that is not theirs."""
    w = world
    values: dict[WizardOp, str | None] = {WizardOp.UNION: "1", WizardOp.CHOICE: "male", WizardOp.EDIT: "leader",
                                          WizardOp.MEMBER_EDIT: "0", WizardOp.MEMBER_DEL: "0",
                                          WizardOp.MEMBER_FIELD: "name", WizardOp.FILE_DEL: "1"}
    for uid in (NOBODY, OWNER, DISTRICT, CITY, ADMIN):
        for op in WizardOp:
            for app_id in (w.draft, 999_999):
                await assert_refused(w, uid, Wiz(app_id, op, values.get(op)).encode())
    for op in (WizardOp.SUBMIT, WizardOp.CONFIRM, WizardOp.FILE_DEL, WizardOp.CLEAR):
        await assert_refused(w, DRAFTER, Wiz(w.submitted, op, "1" if op is WizardOp.FILE_DEL else None).encode())


MALFORMED_WIZARD = ["f:abc:y:", "f:1:zz:", "f:1:y:../../x", "f:" + "1" * 70, "f", "f:"]


@pytest.mark.parametrize("data", MALFORMED_WIZARD)
async def test_malformed_wizard_data_is_refused(world, data):
    """Attacks: malformed wizard data changes nothing (not even the conversation state)."""
    for uid in (NOBODY, DRAFTER):
        await assert_refused(world, uid, data)


@ON_BOTH
async def test_double_tap_and_old_wizard_buttons_change_nothing(world):
    """Attacks (replay), on SQLite and PostgreSQL: a button of a question already answered — pressed twice
    quickly, or on an older message — does not answer the question now on screen."""
    w = world
    u = w.user(DRAFTER)
    yes = Wiz(w.draft, WizardOp.YES, None, "elig_1").encode()
    assert yes in w.given[DRAFTER]
    await w.h.press(u, yes)  # answers elig_1
    await assert_refused(w, DRAFTER, yes)  # the same tap again: elig_2 must stay unanswered
    async with w.h.db.session() as s:
        app = await s.get(Application, w.draft)
    assert app is not None and "elig_2" not in (app.answers or {})


# --------------------------------------------------------------------------- everything else


@ON_BOTH
async def test_other_modules_buttons_refused_for_the_wrong_people(world):
    """Attacks, on SQLite and PostgreSQL: admin buttons by non-admins, a status timeline of someone else's
    application, the export archive by people without the right — refused, alerted and recorded."""
    w = world
    for uid in (NOBODY, OWNER, DISTRICT, CITY, CONTACT):
        for data in ("adm:menu:", "adm:unions:0", "adm:drop:", "adm:" + "x" * 60):
            await assert_refused(w, uid, data)
    for uid in (NOBODY, DRAFTER, FOREIGN):
        await assert_refused(w, uid, cb.Status(w.submitted).encode())
    for uid in (NOBODY, OWNER, DRAFTER):
        await assert_refused(w, uid, f"xz:{w.submitted}")
    for uid in (NOBODY, OWNER):
        for data in ("yr:d:999:", "yr:s:1:", "yr:file:1:1"):
            await assert_refused(w, uid, data)
    for uid in (NOBODY, OWNER, DISTRICT):
        await assert_refused(w, uid, "insp:ls:0:")


GARBAGE = ["zz:1", "", "x" * 65, "rv2:l1_approve:1", "lang:fr", "lang:../../etc", "lang:", "\u202erv:l1_approve:1",
           "adm\x00:menu"]


@pytest.mark.parametrize("data", GARBAGE)
async def test_made_up_prefixes_and_garbage_are_refused(world, data):
    """Attacks: data no button of this bot carries."""
    for uid in (NOBODY, ADMIN):
        await assert_refused(world, uid, data)


FORGED = [
    (NOBODY, "yr:go:1:"), (OWNER, "yr:go:999:"), (NOBODY, "mute:deadline"),
    (NOBODY, "mute:zz"), (CITY, "insp:new:999:"), (CITY, "insp:zz:1:"), (CITY, "xz:999999"), (ADMIN, "adm:drop:"),
    (NOBODY, "ns:2026:1:copy"), (DRAFTER, "ns:2026:1:fresh"), (OWNER, "ns:2027:999:copy"), (NOBODY, "ns:x:y:z"),
    (NOBODY, "res:add:1:s:"), (OWNER, "res:add:999:s:"), (FOREIGN, "res:add:1:a:"), (NOBODY, "res:ls:1:s:"),
    (NOBODY, "res:v:1::"), (NOBODY, "res:delok:1::"), (NOBODY, "res:p:0:invention:kind"), (NOBODY, "res:ok:0::"),
    (NOBODY, "insp:res:0:2026"), (CITY, "insp:res:0:1999"), (CITY, "insp:res:0:9999"),
    (NOBODY, "ov:h:2026:::"), (FOREIGN, "ov:c:2026:::1"), (DISTRICT, "ov:l:2026:submitted::0"),
    (CONTACT, "ov:c:2026:::1"), (NOBODY, "mt:ls::"), (DISTRICT, "mt:ok::"), (ADMIN, "mt:rec::"),
    (CONTACT, "mt:up:1:"), (OWNER, "mt:o:1:"), (CITY, "mt:zz::"), (CITY, "mt:up:999:"),
]


@pytest.mark.parametrize("who,data", FORGED)
async def test_forged_studio_export_and_admin_data_is_recorded(world, who, data):
    """Attacks: forged year-report, inspection, reminder, export and admin data."""
    await assert_refused(world, who, data)


@pytest.mark.parametrize("world_db", ["postgresql"], indirect=True)
async def test_malformed_garbage_and_forged_data_on_postgresql(world):
    """Attacks, on PostgreSQL: the data of the single-datum tests above (malformed review and wizard data,
    made-up prefixes and garbage — NUL, right-to-left and overlong data included —, forged studio, export and admin
    data), all in one world: each press changes nothing, gets an alert and one audit row."""
    for data in MALFORMED_REVIEW:
        for uid in (DISTRICT, NOBODY):
            await assert_refused(world, uid, data)
    for data in MALFORMED_WIZARD:
        for uid in (NOBODY, DRAFTER):
            await assert_refused(world, uid, data)
    for data in GARBAGE:
        for uid in (NOBODY, ADMIN):
            await assert_refused(world, uid, data)
    for who, data in FORGED:
        await assert_refused(world, who, data)


# --------------------------------------------------------------------------- files

HOSTILE_NAMES = [
    "../../x.pdf", "../../../../../../tmp/evil.pdf", "/etc/passwd.pdf", "..\\..\\windows\\win.ini.pdf",
    "a\x00b.pdf", "line\nbreak.pdf", "tab\there.pdf", "\x1b[31mred.pdf", "\u202efdp.exe.pdf", "..pdf", "..",
    ".", "CON.pdf", "x" * 300 + ".pdf", "<b>bold</b>&amp;.pdf", "名字 带空格 .pdf", "~/.ssh/id_rsa.pdf",
    "%2e%2e%2fx.pdf", "C:\\x.pdf", "\u200b.pdf",
]


async def test_uploaded_file_names_never_reach_the_file_system(tmp_path, pg_clean):
    """Attacks, R-M2, on SQLite and PostgreSQL: documents called `../../x.pdf`, with control characters,
    a path, HTML or 300 characters are stored under generated names inside DATA_DIR/materials/<application>/;
    nothing is written anywhere else; the name kept in the database and shown has no path or control characters
    and every reply is valid HTML."""
    from tests.test_wizard_inputs import goto_step

    data_dir = tmp_path / "data"
    url = pg_clean if pg_clean.startswith("postgresql") else None  # SQLite: the file inside DATA_DIR
    h = await make_harness(data_dir, now=JULY_10, database_url=url)
    try:
        u = h.user(70)
        await goto_step(h, u, "recommendation")
        outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(data_dir)}
        for name in HOSTILE_NAMES:
            inside = set(data_dir.rglob("*"))
            body = b"%PDF-1.4 " + name.encode("utf-8", "replace")
            mark = await h.document(u, body, name, "application/pdf")
            async with h.db.session() as s:
                att = (await s.scalars(select(Attachment).where(Attachment.field == "recommendation")
                                       .order_by(Attachment.id.desc()))).first()
            assert att is not None and att.sha256 == hashlib.sha256(body).hexdigest(), name
            assert re.fullmatch(r"materials/\d+/[0-9a-f]{32}\.pdf", att.stored_path), (name, att.stored_path)
            stored = (data_dir / att.stored_path).resolve()
            assert stored.is_relative_to(data_dir.resolve()) and stored.read_bytes() == body, name
            assert {p for p in tmp_path.rglob("*") if not p.is_relative_to(data_dir)} == outside, name
            new = {p for p in set(data_dir.rglob("*")) - inside if p.is_file()}
            assert new == {data_dir / att.stored_path}, (name, new)
            shown = att.original_name or ""
            assert not re.search(r"[\x00-\x1f\x7f/\\]", shown) and len(shown) <= 120, (name, shown)
            for _, p in h.request.sent(70, since=mark):
                render(p["text"], p.get("parse_mode"))  # Telegram accepts the answer that names the file
    finally:
        await close_harness(h)


# --------------------------------------------------------------------------- secrets


async def test_token_never_in_messages_to_users(world):
    """Secrets: no message, button, caption or alert the bot sends contains the bot token (a whole
    flow: application, review, help, errors)."""
    w = world
    await w.h.text(w.user(NOBODY), "/help")
    await w.h.text(w.user(ADMIN), "/admin")
    w.h.request.fail["sendMessage"] = [RuntimeError("boom")]  # an error: the apology must not carry it either
    await w.h.text(w.user(NOBODY), "/start")
    secret = TOKEN.split(":", 1)[1]
    for name, params in w.h.request.calls:
        blob = json.dumps(params, ensure_ascii=False, default=str)
        assert TOKEN not in blob and secret not in blob, name


def test_every_registered_prefix_is_covered():
    """Attacks: the tests above cover every callback prefix the bot registers (a new module's
    buttons must be added here)."""
    from conversations.exports import ExportZip

    covered = {"rv", "rx", "rs", "rt", "rm", "pp", "po", "f", "st", "adm", "xz", "lang", "yr", "insp", "mute", "ns",
               "go", "mine", "mf", "res", "ov", "mt"}
    assert set(cb.Codec.registry) <= covered, set(cb.Codec.registry) - covered
    assert ExportZip.prefix in covered
    assert all(f.key for f in form.STEPS)


@ON_BOTH
async def test_refusals_are_cheap_and_bounded(world):
    """Attacks, on SQLite and PostgreSQL: a burst of forged presses adds one bounded audit row each (overlong
    data is truncated to the 64 bytes Telegram allows) and nothing else."""
    w = world
    before = await snapshot(w.h)
    async with w.h.db.session() as s:
        n0 = await s.scalar(select(func.count()).select_from(AuditEvent))
    for i in range(50):
        await w.h.press(w.user(NOBODY), f"rv:l1_approve:{i}" + "9" * 60)
    async with w.h.db.session() as s:
        rows = (await s.scalars(select(AuditEvent).where(AuditEvent.id > (n0 or 0)))).all()
    assert len(rows) == 50 and await snapshot(w.h) == before
    assert all(len(json.dumps(r.details, ensure_ascii=False)) < 400 for r in rows)


@pytest.mark.e2e
@pytest.mark.timeout(120)
async def test_token_never_in_the_log_of_the_real_bot(fake_api, bot_process_factory, tmp_path):  # noqa: F811
    """Secrets: the real `python -m bot` process over HTTP, through errors (a 400 on an answer, a 500, a
    dropped and a failing getUpdates, an unknown file), a restart and a shutdown: the token appears nowhere in its
    log (tracebacks included) nor in anything it sent to the Bot API as message content."""
    from tests.e2e.driver import prepare, say

    data_dir = tmp_path / "data"
    await prepare(data_dir)
    bot = await bot_process_factory(data_dir=data_dir)
    u = fake_api.user(800, first_name="王建国")
    await say(fake_api, u, "/start")
    fake_api.inject("sendMessage", 400, description="Bad Request: can't parse entities: injected", times=1,
                    when=lambda p: p.get("chat_id") == 800)
    await say(fake_api, u, "/help")  # the answer fails: logged with a traceback, then the apology
    fake_api.inject("sendMessage", 500, times=1, when=lambda p: p.get("chat_id") == 800)
    await say(fake_api, u, "/apply")
    fake_api.inject("getUpdates", drop=True, times=1)
    fake_api.inject("getUpdates", 502, times=1)
    await say(fake_api, u, "/my")
    since = fake_api.mark()
    fake_api.send_raw(u, {"document": {"file_id": "BQACAgUAAxkBAAunknown", "file_unique_id": "zz",
                                       "file_name": "x.pdf", "mime_type": "application/pdf", "file_size": 10}})
    await fake_api.wait_reply(u, since=since, timeout=15)
    await bot.kill()
    await bot.start()
    await say(fake_api, u, "/start")
    await bot.stop()
    log = bot.log_text()
    assert "Traceback" in log and "ERROR" in log, log[-2000:]  # errors did happen and were logged
    secret = fake_api.token.split(":", 1)[1]
    assert fake_api.token not in log and secret not in log, [ln for ln in log.splitlines() if secret in ln][:5]
    for call in fake_api.calls:
        blob = json.dumps({k: v for k, v in call.params.items() if k != "files"}, ensure_ascii=False, default=str)
        assert secret not in blob, call.method
