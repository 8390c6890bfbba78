"""Property-based sweep of the applicant's wizard.

At every step of the wizard — every field of the form, each member sub-question, the free-text "other"
mode of a choice, the summary and the declaration — every kind of message (text of any length and
script, emoji, zero-width and right-to-left characters, HTML and Markdown, stickers, voice, audio,
GIFs, locations, venues, contacts, dice, polls, photos, videos, video notes, documents of any type,
name and size) gets exactly one answer, in the user's language, that Telegram would accept (valid
HTML, not too long), showing the step the user is now at. The stored draft — answers, wizard state
and attachments — stays as it was unless the input was valid for the step; validity of text is
computed with the form declaration's own parser, `FormField.parse`.

One harness walks the whole form; at each step Hypothesis sends its examples and the draft is put back
after every accepted one, so every example meets the same step. The event loop is driven by hand
(`asyncio.Runner`) because Hypothesis calls a synchronous function per example.

Every test runs on SQLite and on PostgreSQL (a new database, dropped afterwards; skipped when no server is
reachable). PostgreSQL gets fewer examples per position (SWEEP_EXAMPLES_PG, default 5, against SWEEP_EXAMPLES,
default 15): the stored-state checks are what differs between the databases, and they run at every position.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.callbacks import WizardOp
from bot.domain import form
from bot.domain.form import FormField
from bot.domain.kinds import Ask
from bot.domain.values import InvalidInput, clean_text
from bot.files import DOC_TYPES, IMAGE_TYPES, MAX_DOWNLOAD, VIDEO_TYPES
from bot.i18n import Translator
from storage.models import Application, Attachment
from tests.apply_steps import png, tap_op
from tests.conftest import JULY_10
from tests.databases import BOTH, create_pg_database, drop_pg_database, need_pg
from tests.e2e.fake_formatting import EntityParseError, render, utf16_len
from tests.offline import Harness, close_harness, make_harness

UID = 4242
EXAMPLES = int(os.environ.get("SWEEP_EXAMPLES", "15"))
EXAMPLES_PG = int(os.environ.get("SWEEP_EXAMPLES_PG", "5"))
ALBUM_WAIT = 600.0  # albums are answered by running their pending job by hand (no sleeping, no races)
LANGS = ("zh-hans", "en", "zh-TW", "ar", "fr", None)

# --------------------------------------------------------------------------- what users send

PIECES = st.one_of(
    st.characters(codec="utf-8", exclude_categories=["Cs"]),
    st.sampled_from("王建国劳模创新工作室工会大连港，。、；：“”《》（）"),  # CJK and CJK punctuation
    st.sampled_from("مرحبا بالعالم שלום עולם"),  # Arabic, Hebrew
    st.sampled_from("Привет мир Ελληνικά हिन्दी ไทย 한국어 日本語"),
    st.sampled_from(["😀", "👍🏽", "👨‍👩‍👧", "🇨🇳", "❤️", "🏳️‍🌈", "\U0001f9d1\u200d\U0001f3ed"]),
    st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202a", "\u202b",
                     "\u202e", "\u202c", "\u0301", "\u00a0", "\u3000", "\t", "\n", " "]),
    st.sampled_from("0123456789０１２３４５６７８９.,-年月万元平方米㎡m²"),
)


def texts(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.lists(PIECES, min_size=min_size, max_size=max_size).map("".join)


MARKUP = st.sampled_from([
    "<b>粗体</b>", "<script>alert(1)</script>", "</b>", "<", ">", "&", "&amp;", "&lt;b&gt;", "<a href='x'>x</a>",
    "<i>", "*bold*", "_italic_", "`code`", "```pre```", "[link](http://example.com)", "~~strike~~", "||spoiler||",
    "\\", "{}", "{name}", "%s", "${x}", "'; DROP TABLE applications; --", "\x00", "\x1b[31m", "\r\n",
])
TEXTS = st.one_of(
    texts(1, 80),
    st.lists(st.one_of(texts(1, 10), MARKUP), min_size=1, max_size=12).map("".join),
    st.builds(lambda s, n: (s * n)[:4096], texts(1, 3), st.integers(1, 4096)),
    st.sampled_from(["1975-03", "1975年3月", "197503", "120", "120平方米", "50万元", "0", "-5", "1e9", "NaN",
                     "数控机床\n三维扫描仪", "王建国", "  王建国  ", "\u200b王\u200d建国\u202e", "1" * 31, "男"]),
).filter(lambda s: not s.startswith("/"))  # a leading slash is a command, not an answer

MIMES = st.one_of(
    st.sampled_from([*DOC_TYPES, *VIDEO_TYPES, "APPLICATION/PDF", "Image/PNG", "text/plain", "text/html",
                     "application/x-msdownload", "application/zip", "application/octet-stream", "audio/mpeg",
                     "image/gif", "image/svg+xml", ""]),
    st.none(),
)
NAMES = st.one_of(
    st.none(),
    st.sampled_from(["推荐材料.pdf", "../../x.pdf", "..\\..\\boot.ini", "/etc/passwd", "a\x00b.pdf", "a\nb.docx",
                     "\u202egpj.exe", "CON", ".", "..", "scan.PNG", "video.mp4", "x" * 300 + ".pdf", "照片.jpeg",
                     "noext", "report.DOCX", ".hidden.pdf"]),
    st.builds(lambda stem, ext: stem + ext, texts(0, 20),
              st.sampled_from([".pdf", ".doc", ".docx", ".jpg", ".png", ".mp4", ".exe", ".txt", ""])),
)
SIZES = st.one_of(st.none(), st.integers(0, 2048), st.integers(MAX_DOWNLOAD - 1, MAX_DOWNLOAD + 1),
                  st.integers(0, 25 * 1024 * 1024))
DATA = st.binary(min_size=1, max_size=64)


@dataclass(frozen=True)
class Msg:
    """A message as a user would send it (files are registered with the fake at send time)."""

    kind: str
    text: str | None = None
    data: bytes = b""
    name: str | None = None
    mime: str | None = None
    size: int | None = None

    @property
    def effective_mime(self) -> str:
        """The type Telegram reports, falling back to the name's extension like any client would read it."""
        if self.mime and self.mime.lower() != "application/octet-stream":
            return self.mime.lower()
        guessed = mimetypes.guess_type(self.name or "")[0]
        if guessed:
            return guessed
        ext = Path(self.name or "").suffix.lower()
        return {v: k for k, v in {**DOC_TYPES, **VIDEO_TYPES}.items()}.get(ext) or (
            "image/jpeg" if ext == ".jpeg" else "application/octet-stream")


STATIC_KINDS = ("sticker", "voice", "audio", "location", "venue", "contact", "dice", "poll")
MESSAGES = st.one_of(
    st.builds(Msg, kind=st.just("text"), text=TEXTS),
    st.builds(Msg, kind=st.just("text"), text=TEXTS),  # text is what people mostly send
    st.builds(Msg, kind=st.sampled_from(STATIC_KINDS)),
    st.builds(Msg, kind=st.just("photo"), data=DATA, size=st.one_of(st.none(), st.integers(1, 25 * 1024 * 1024))),
    st.builds(Msg, kind=st.sampled_from(["video", "video_note", "animation"]), data=DATA, size=SIZES),
    st.builds(Msg, kind=st.just("document"), data=DATA, name=NAMES, mime=MIMES, size=SIZES),
)


def _fid(data: bytes, kind: str) -> tuple[str, str]:
    digest = hashlib.sha256(data).hexdigest()
    return f"{kind[:2]}{digest[:24]}", digest[:16]  # same content → same file_unique_id, as on Telegram


def content(h: Harness, m: Msg) -> dict[str, Any]:
    """The `Message` fields for `m`; file bytes are registered so getFile and the download work."""
    if m.kind == "text":
        return {"text": m.text}
    static: dict[str, dict[str, Any]] = {
        "sticker": {"sticker": {"file_id": "stk", "file_unique_id": "stku", "width": 512, "height": 512,
                                "is_animated": False, "is_video": False, "type": "regular", "emoji": "👍"}},
        "voice": {"voice": {"file_id": "voi", "file_unique_id": "voiu", "duration": 2, "mime_type": "audio/ogg"}},
        "audio": {"audio": {"file_id": "aud", "file_unique_id": "audu", "duration": 200, "mime_type": "audio/mpeg",
                            "file_name": "song.mp3"}},
        "location": {"location": {"latitude": 38.91, "longitude": 121.6}},
        "venue": {"venue": {"location": {"latitude": 38.91, "longitude": 121.6}, "title": "大连港",
                            "address": "中山区港湾街1号"}},
        "contact": {"contact": {"phone_number": "+8641182610410", "first_name": "梁", "user_id": 7}},
        "dice": {"dice": {"emoji": "🎲", "value": 4}},
        "poll": {"poll": {"id": "p1", "question": "?",
                          "options": [{"text": "a", "voter_count": 0, "persistent_id": "o1"}],
                          "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
                          "allows_multiple_answers": False, "allows_revoting": False,
                          "members_only": False}},
    }
    if m.kind in static:
        return static[m.kind]
    fid, uid = _fid(m.data, m.kind)
    h.request.files[fid] = m.data
    base: dict[str, Any] = {"file_id": fid, "file_unique_id": uid}
    if m.size is not None:
        base["file_size"] = m.size
    if m.kind == "photo":
        return {"photo": [{**base, "width": 800, "height": 600}]}
    if m.kind == "video":
        return {"video": {**base, "width": 640, "height": 360, "duration": 5, "mime_type": "video/mp4"}}
    if m.kind == "video_note":
        return {"video_note": {**base, "length": 240, "duration": 5}}
    if m.kind == "animation":  # Telegram sends a GIF with both `animation` and `document`
        anim = {**base, "width": 320, "height": 240, "duration": 3, "mime_type": "video/mp4", "file_name": "a.mp4"}
        return {"animation": anim, "document": {**base, "mime_type": "video/mp4", "file_name": "a.mp4"}}
    doc = dict(base)
    if m.name is not None:
        doc["file_name"] = m.name
    if m.mime is not None:
        doc["mime_type"] = m.mime
    return {"document": doc}


# --------------------------------------------------------------------------- the oracle

BUFFERED = (Ask.PARTS, Ask.ITEMS, Ask.DOCUMENT)  # text collected over several messages, then Done


@dataclass
class Draft:
    answers: dict[str, Any]
    wizard: dict[str, Any]
    files: list[tuple[int, str, str, str]]  # id, field, sha256, stored_path


async def draft(h: Harness) -> Draft:
    apps, atts = Application.__table__, Attachment.__table__
    async with h.db.engine.connect() as conn:
        app = (await conn.execute(select(apps.c.id, apps.c.answers, apps.c.wizard)
                                  .where(apps.c.applicant_id == UID))).one()
        files = (await conn.execute(select(atts.c.id, atts.c.field, atts.c.sha256, atts.c.stored_path)
                                    .where(atts.c.application_id == app.id).order_by(atts.c.id))).all()
    return Draft(dict(app.answers or {}), dict(app.wizard or {}), [tuple(f) for f in files])


async def put_back(h: Harness, d: Draft) -> None:
    """Undo an accepted example: answers, wizard state, and any new attachment (row and file)."""
    keep = {f[0] for f in d.files}
    async with h.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == UID))).one()
        app.answers = dict(d.answers)
        app.wizard = dict(d.wizard)
        for att in (await s.scalars(select(Attachment).where(Attachment.application_id == app.id))).all():
            if att.id not in keep:
                (h.settings.data_dir / att.stored_path).unlink(missing_ok=True)
                await s.delete(att)
        await s.commit()


def field_at(d: Draft) -> FormField | None:
    """The question on screen: a member's sub-question, a form field, or None (summary, declaration)."""
    m = d.wizard.get("m") or {}
    if m.get("f"):
        return form.BY_KEY[m["f"]]
    step = d.wizard.get("step")
    return form.BY_KEY.get(step) if step else None


def _member_labels() -> dict[str, dict[str, str]]:
    from bot.domain.values import normal_label
    from bot.i18n import I18n

    i18n = I18n("zh")
    out: dict[str, dict[str, str]] = {}
    for mf in form.BY_KEY.values():
        if mf.choices:
            out[mf.key] = {normal_label(i18n.get(lang).plain(f"choice.{mf.choices}.{o}")): o
                           for lang in i18n.catalogs for o in mf.options()}
    return out


def pasted_members(text: str) -> bool:
    """Whether the text at the members list is taken for pasted member rows (a preview to confirm):
    within the limit, and some row with few enough faulty cells (as `conversations.apply._on_paste`)."""
    from bot.domain.values import table_rows
    from conversations.apply import PASTE_FIXABLE

    rows = table_rows(text)
    if not rows or len(rows) > form.MAX_MEMBERS:
        return False
    labels = _member_labels()
    return any(len(form.parse_member_cells(cells, today=JULY_10.date(), labels=labels)[1]) <= PASTE_FIXABLE
               for cells in rows)


def text_is_valid(f: FormField, text: str, at_members_list: bool) -> bool:
    if at_members_list:
        return pasted_members(text)
    try:  # a choice's label typed in either language is taken, as the button would be
        f.parse(text, today=JULY_10.date(), labels=_member_labels().get(f.key) if f.choices else None)
    except InvalidInput:
        return False
    return True


def file_is_valid(f: FormField, m: Msg, d: Draft) -> bool:
    """Whether the form wants this file here: the right kind and type, within 20 MB, not a duplicate,
    and room left (at most 5 photos, one video)."""
    if f.ask not in (Ask.PHOTOS, Ask.VIDEO, Ask.DOCUMENT) or (d.wizard.get("m") or {}):
        return False
    if m.size is not None and m.size > MAX_DOWNLOAD:
        return False
    mime = "video/mp4" if m.kind == "animation" else m.effective_mime
    if f.ask is Ask.PHOTOS:
        ok = m.kind == "photo" or (m.kind == "document" and mime in IMAGE_TYPES)
    elif f.ask is Ask.VIDEO:
        ok = m.kind in ("video", "video_note") or (m.kind in ("document", "animation") and mime in VIDEO_TYPES)
    else:
        ok = m.kind == "photo" or (m.kind == "document" and mime in DOC_TYPES)
    same_field = [x for x in d.files if x[1] == f.key]
    if f.ask is Ask.PHOTOS and len(same_field) >= form.MAX_PHOTOS:
        return False
    if f.ask is Ask.VIDEO and same_field:
        return False
    if ok and m.kind in ("document", "animation") and not genuine(mime, m.data):
        return False  # a document must be what its type says (checked by content)
    return ok and hashlib.sha256(m.data).hexdigest() not in {x[2] for x in same_field}


def genuine(mime: str, data: bytes) -> bool:
    from bot.files import FileRefused, checked_type

    try:
        checked_type(mime, data)
    except FileRefused:
        return False
    return True


def screen_label(t: Translator, d: Draft) -> str:
    """A text the screen for the draft's current position must show, in the user's language."""
    step = d.wizard.get("step")
    if step == "summary":
        return t.plain(f"section.{form.SECTIONS[0]}")
    if step == "confirm":
        return render(t("submit.declaration"), "HTML")[0].split("\n")[0]
    f = field_at(d)
    assert f is not None, d.wizard
    return t.plain(f.label_key)


_KEYS: list[re.Pattern[str]] = []


def raw_keys(h: Harness) -> re.Pattern[str]:
    """Matches any locale key (a text missing from a catalog is shown as its key)."""
    if not _KEYS:
        keys = set().union(*(set(c) for c in h.app.bot_data["services"].i18n.catalogs.values()))
        _KEYS.append(re.compile("|".join(rf"(?<![\w.]){re.escape(k)}(?![\w.])"
                                         for k in sorted(keys, key=len, reverse=True))))
    return _KEYS[0]


def plain_answers(h: Harness, mark: int) -> list[str]:
    """What the user sees of each answer sent since `mark`; each must be text Telegram accepts."""
    out = []
    for name, p in h.request.sent(UID, since=mark):
        assert name in ("sendMessage", "editMessageText"), name
        try:
            text, _ = render(p["text"], p.get("parse_mode"))
        except EntityParseError as exc:  # Telegram would refuse the message: the user gets nothing
            raise AssertionError(f"invalid HTML ({exc}): {p['text'][:300]!r}") from None
        assert 0 < utf16_len(text) <= 4096, f"message of {utf16_len(text)} characters"
        if name == "editMessageText" and not p.get("reply_markup"):
            continue  # the question before, left with the answer it got: not an answer of its own
        out.append(text)
    return out


async def check_one(h: Harness, m: Msg, lang: str | None) -> None:
    """Send `m` at the current position and check the answer and the stored draft."""
    before = await draft(h)
    f = field_at(before)
    try:
        await _check_one(h, m, lang, before, f)
    finally:
        await put_back(h, before)


async def _check_one(h: Harness, m: Msg, lang: str | None, before: Draft, f: FormField | None) -> None:
    user = h.user(UID, lang=lang) if lang else {**h.user(UID), "language_code": None}
    mark = await h.send(user, **content(h, m))
    after = await draft(h)
    t = h.app.bot_data["services"].i18n.get(h.app.bot_data["services"].i18n.pick(None, lang))
    answers = plain_answers(h, mark)
    assert len(answers) == 1, (m, answers)
    assert screen_label(t, after) in answers[0], (lang, answers[0][:300])
    untranslated = raw_keys(h).findall(answers[0].replace(m.text or "\x00", "").replace(m.name or "\x00", ""))
    assert not untranslated, (untranslated, answers[0][:300])  # a missing text shows its key

    if f is None:  # summary or declaration: buttons only
        valid = False
    elif m.kind == "text":
        valid = text_is_valid(f, m.text or "", before.wizard.get("step") == "members" and not before.wizard.get("m"))
    else:
        valid = file_is_valid(f, m, before)
    if not valid:
        assert (after.answers, after.wizard, after.files) == (before.answers, before.wizard, before.files), m
        return
    if m.kind == "text":
        assert f is not None
        if before.wizard.get("step") == "members" and not before.wizard.get("m"):  # a pasted table: a preview
            assert after.answers == before.answers and after.wizard.get("paste"), after.wizard
            return
        value = f.parse(m.text or "", today=JULY_10.date(), labels=_member_labels().get(f.key) if f.choices else None)
        sub = (before.wizard.get("m") or {}).get("f")
        if sub:
            short = sub.removeprefix("member_")
            row = (after.wizard.get("m") or {}).get("row") or ((after.answers.get("members") or [{}])[-1])
            assert row.get(short) == value, (sub, row, value)
        elif f.ask in BUFFERED:
            assert after.answers == before.answers and after.wizard.get("buf") == [clean_text(m.text or "")]
        else:
            assert after.answers.get(f.key) == value and after.wizard.get("step") != f.key
    else:
        new = [x for x in after.files if x not in before.files]
        assert after.answers == before.answers and len(new) == 1, (m, new)
        _, fld, sha, rel = new[0]
        assert f is not None and fld == f.key and sha == hashlib.sha256(m.data).hexdigest()
        assert re.fullmatch(r"materials/\d+/[0-9a-f]{32}\.[a-z0-9]{2,5}", rel), rel  # a generated name
        path = (h.settings.data_dir / rel).resolve()
        assert path.is_relative_to(h.settings.data_dir.resolve()) and path.read_bytes() == m.data


# --------------------------------------------------------------------------- walking the form

BUFFERED_TEXT = {Ask.PARTS: "内容", Ask.ITEMS: "数控机床", Ask.DOCUMENT: "材料正文"}


async def answer(h: Harness, f: FormField) -> None:
    """A valid answer for `f`, to move on to the next step (a typed field: its declared sample)."""
    u = h.user(UID)
    if f.ask is Ask.UNION:
        await tap_op(h, u, WizardOp.UNION)
    elif f.ask is Ask.YESNO:
        await tap_op(h, u, WizardOp.YES)
    elif f.ask is Ask.CHOICE and not f.allow_other:
        await tap_op(h, u, WizardOp.CHOICE, f.options()[0])
    elif f.ask is Ask.CHOICE:  # in its "other" mode
        await h.text(u, "其他")
    elif f.ask in BUFFERED:
        await h.text(u, BUFFERED_TEXT[f.ask])
        await tap_op(h, u, WizardOp.DONE)
    elif f.ask is Ask.PHOTOS:
        for i in range(form.MIN_PHOTOS):
            await h.photo(u, png(300 + i))
        await tap_op(h, u, WizardOp.DONE)
    elif f.ask is Ask.VIDEO:
        await tap_op(h, u, WizardOp.SKIP)
    else:
        await h.text(u, f.sample)


def walk(h: Harness, runner: asyncio.Runner, at_each: Callable[[str], None]) -> list[str]:
    """Go through the whole form once, calling `at_each(position)` at every position; returns them."""
    seen: list[str] = []
    u = h.user(UID)

    def here(name: str) -> None:
        seen.append(name)
        at_each(name)
        runner.run(h.text(u, "/apply"))  # the screen of the (restored) position again, with its buttons

    runner.run(h.text(u, "/apply"))
    for f in form.STEPS:
        assert runner.run(draft(h)).wizard.get("step") == f.key
        if f.ask is Ask.MEMBERS:
            here("members")
            runner.run(tap_op(h, u, WizardOp.MEMBER_ADD))
            for mf in form.MEMBER_FIELDS:
                here(mf.key)
                runner.run(answer(h, mf))
            runner.run(tap_op(h, u, WizardOp.DONE))
            continue
        here(f.key)
        if f.ask is Ask.CHOICE and f.allow_other:
            runner.run(tap_op(h, u, WizardOp.OTHER))
            here(f"{f.key}/other")
        runner.run(answer(h, f))
    assert runner.run(draft(h)).wizard.get("step") == "summary"
    here("summary")
    runner.run(tap_op(h, u, WizardOp.SUBMIT))
    here("confirm")
    return seen


@contextmanager
def bot_on(db: str, tmp_path: Path) -> Iterator[tuple[asyncio.Runner, Harness]]:
    """An event loop and a bot on SQLite (a file in `tmp_path`) or on a new PostgreSQL database."""
    if db == "postgresql":
        need_pg()
    with asyncio.Runner() as runner:
        url = runner.run(create_pg_database()) if db == "postgresql" else None
        try:
            h = runner.run(make_harness(tmp_path, now=JULY_10, album_wait_seconds=ALBUM_WAIT, database_url=url))
            try:
                yield runner, h
            finally:
                runner.run(close_harness(h))
        finally:
            if url:
                runner.run(drop_pg_database(url))


def sweep_form(tmp_path: Path, db: str, examples: int, *, only: str | None = None,
               lines: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Walk the whole form, sending Hypothesis's messages at every position (or only at `only`); `lines` are
    locale lines added to the bot's catalogs first. Returns the positions walked."""
    with bot_on(db, tmp_path) as (runner, h):
        catalogs = h.app.bot_data["services"].i18n.catalogs
        for lang, more in (lines or {}).items():
            catalogs[lang].update(more)

        def sweep(position: str) -> None:
            if only is not None and position != only:
                return

            @settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                             HealthCheck.large_base_example])
            @given(m=MESSAGES, lang=st.sampled_from(LANGS))
            def at_position(m: Msg, lang: str | None) -> None:
                runner.run(check_one(h, m, lang))

            try:
                at_position()
            except Exception as exc:
                exc.add_note(f"wizard position: {position}")
                raise

        return walk(h, runner, sweep)


@pytest.mark.parametrize("db", BOTH)
def test_every_message_kind_at_every_step_gets_one_answer_and_keeps_the_draft(tmp_path, db):
    """Sweep, on SQLite and PostgreSQL: at every step (and member sub-question, "other" text, summary,
    declaration) any single message gets exactly one localized, Telegram-valid answer showing the current step;
    the draft (answers, wizard state, attachments) changes only for input valid for that step (FormField.parse for
    text; type, size, count and duplicates for files), and accepted files are stored under generated names
    inside DATA_DIR."""
    positions = sweep_form(tmp_path, db, EXAMPLES_PG if db == "postgresql" else EXAMPLES)
    assert len(positions) == len(form.STEPS) + len(form.MEMBER_FIELDS) + 3 + 2  # 3 "other" modes


# --------------------------------------------------------------------------- albums

ALBUMS = st.lists(
    st.one_of(st.builds(Msg, kind=st.just("photo"), data=DATA),
              st.builds(Msg, kind=st.just("document"), data=DATA,
                        mime=st.sampled_from(["application/pdf", "image/png", "text/plain"]), name=NAMES),
              st.builds(Msg, kind=st.just("video"), data=DATA)),
    min_size=2, max_size=10,
)


async def check_album(h: Harness, items: list[Msg], group: str) -> None:
    before = await draft(h)
    f = field_at(before)
    mark = len(h.request.calls)
    for m in items:
        await h.send(h.user(UID), media_group_id=group, **content(h, m))
    for job in h.app.job_queue.get_jobs_by_name(f"album:{UID}"):  # the album is complete: answer it now
        job.schedule_removal()
        await job.run(h.app)
    answers = plain_answers(h, mark)
    assert len(answers) == 1, [a[:80] for a in answers]
    after = await draft(h)
    if f is None or f.ask not in (Ask.PHOTOS, Ask.VIDEO, Ask.DOCUMENT) or before.wizard.get("m"):
        assert (after.answers, after.wizard, after.files) == (before.answers, before.wizard, before.files)
    await put_back(h, before)


@pytest.mark.parametrize("db", BOTH)
def test_an_album_gets_one_answer_at_every_step(tmp_path, db):
    """Sweep, R-M4, on SQLite and PostgreSQL: an album (2–10 photos, documents or videos in one media
    group) gets exactly one answer at every position of the wizard, and changes the draft only where files are
    wanted."""
    counter = iter(range(10**6))
    examples = 2 if db == "postgresql" else 3
    with bot_on(db, tmp_path) as (runner, h):

        def sweep(position: str) -> None:
            @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(items=ALBUMS)
            def at_position(items: list[Msg]) -> None:
                runner.run(check_album(h, items, f"g{next(counter)}"))

            try:
                at_position()
            except Exception as exc:
                exc.add_note(f"wizard position: {position}")
                raise

        walk(h, runner, sweep)


async def test_long_text_limit_counts_what_the_parser_counts(any_bot):
    """Sweep (found by Hypothesis), on SQLite and PostgreSQL: a long-text answer within the limit once
    zero-width and control characters are removed — what `FormField.parse` stores — is accepted, not refused as too
    long."""
    f = form.BY_KEY["achievements"]
    text = "成" * (f.max_len - 10) + "\u200b" * 20  # parse keeps max_len - 10 characters
    assert len(f.parse(text, today=JULY_10.date())) == f.max_len - 10
    from tests.test_wizard_inputs import goto_step

    bot = any_bot
    u = bot.user(UID)
    await goto_step(bot, u, "achievements")
    await bot.text(u, text)
    async with bot.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == UID))).one()
    assert app.wizard.get("buf"), bot.request.texts(UID)[-1][:200]


async def test_members_list_escapes_what_members_typed(any_bot):
    """Sweep (found by Hypothesis), R-F6, on SQLite and PostgreSQL: the members list shows what was typed,
    escaped for Telegram's HTML — a role like “<研发>” must not make the members screen invalid (Telegram would
    answer 400 and the applicant could never see the members step again)."""
    from tests.test_wizard_inputs import goto_step

    bot = any_bot
    u = bot.user(UID)
    await goto_step(bot, u, "members")
    await tap_op(bot, u, WizardOp.MEMBER_ADD)
    for mf in form.MEMBER_FIELDS:
        if mf.ask is Ask.CHOICE:
            await tap_op(bot, u, WizardOp.CHOICE, mf.options()[0])
        else:
            await bot.text(u, {"member_birth": "1980-01", "member_role": "<研发> & 设计"}.get(mf.key, "李明"))
    mark = len(bot.request.calls)
    await bot.text(u, "/apply")
    plain_answers(bot, mark)  # must be text Telegram accepts
