"""The applicant's wizard (`/apply`): union, eligibility, every field of the form, members (step by
step or pasted as a table), photos, documents, summary with edit, declaration and submission.

Every screen is derived from `bot.domain.form` and drawn by `bot.views.wizard`; the cursor lives in the
application row, so a restart, `kill -9` or another device continues exactly where the user was.
One living message per screen: a button changes the message it was pressed on into the next screen;
a typed answer or an upload brings the next screen in one new message, and the screen before keeps
the answer it got, without buttons. Every button carries the position it was shown at, so one pressed
on an older question is refused. A short answer (an error, a part received) carries the step's buttons
without repeating the question.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from telegram import InlineKeyboardMarkup, Message
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import callbacks as cb
from bot import effects, notify
from bot import files as fileio
from bot.callbacks import Codec
from bot.callbacks import WizardOp as Op
from bot.domain import form, values
from bot.domain.form import FormField
from bot.domain.kinds import Ask
from bot.domain.results import record_of
from bot.domain.values import InvalidInput, clean_text
from bot.domain.wizard_state import Album, MemberCursor, PastedRow, WizardState
from bot.domain.workflow import Status
from bot.i18n import Translator
from bot.ordering import PerUserOrder
from bot.runtime import APPLICATIONS, Rq, handler, run_as
from bot.services import drafts, results
from bot.views import wizard as views
from bot.views.wizard import Draft, position, step_of
from conversations import inputs, season_entry
from storage import repo
from storage.models import Application as App

log = logging.getLogger(__name__)

FORM = "form"
NAME = "apply"
SCREEN = "wizard"  # only the newest question keeps its buttons (`bot.effects`)
PASTE_FIXABLE = 3  # a pasted row with more faulty cells than this is not taken for a member row


@dataclass(frozen=True)
class Go(Codec):
    """Fill in or continue the application (the /start and /my button)."""

    prefix: ClassVar[str] = "go"


# the wizard waits for answers until it is cancelled or the application is submitted; the person may
# look at /my or /help meanwhile and go on typing answers
WIZARD = inputs.Flow.of(NAME, cb.Wiz, Go, season_entry.NewSeason, sticky=True)


# --------------------------------------------------------------------------- loading


async def standing(rq: Rq) -> drafts.Standing:
    apps = rq.cache.pop(APPLICATIONS, None)  # loaded with the user; read once, later calls ask again
    if apps is None:
        apps = await repo.applications_of(rq.session, rq.user.id)
    return await drafts.standing(rq.session, apps, rq.svc.clock.now(), rq.svc.settings.tz)


async def active_application(rq: Rq, *, create: bool) -> App | None:
    """The user's application in progress (an earlier season's decided or forfeited one is a record,
    not in progress), else this season's; a new draft when `create`."""
    app = (await standing(rq)).current
    if app is not None or not create:
        return app
    app, _ = await drafts.find_or_create(rq.session, rq.user.id, rq.svc.clock.now(), rq.svc.settings.tz)
    return app


def files_of(app: App) -> dict[str, int]:
    """How many files each field holds (kept on the application with every file added or removed)."""
    return app.files or {}


def _first_open_step(app: App, files: dict[str, int]) -> str:
    for f in form.STEPS:
        if not form.is_answered(f, app.answers or {}, files) and drafts.may_edit(app, f.key):
            return f.key
    return "summary"


async def load(rq: Rq, app: App) -> Draft:
    """Everything the wizard's screens show for `app`."""
    unions = rq.cache.get("unions")
    if unions is None:
        unions = rq.cache["unions"] = await repo.unions_for_display(rq.session)
    by_field: dict[str, list[Any]] = {}
    if app.files:
        await rq.session.flush()
        for att in await repo.attachments(rq.session, app.id):
            by_field.setdefault(att.field, []).append(att)
    season = await repo.season(rq.session, app.season_year)
    now, tz = rq.svc.clock.now(), rq.svc.settings.tz
    recorded, asked = None, form.BY_KEY.get(step_of(app))
    # what stands in the way of submitting is shown by the summary (and checked by its submit button)
    found = drafts.obstacles(app, season, now, tz) if asked is None else []
    if asked is not None and asked.condition == results.ELIGIBILITY:
        recorded = [record_of(r) for r in await results.recent_recognised(rq.session, app.id, rq.svc.today())]
    return Draft(t=rq.t, app=app, unions={u.id: u.name(rq.lang) for u in unions},
                 offered=[(u.id, u.name(rq.lang)) for u in unions if u.active], atts=by_field, season=season,
                 now=now, tz=tz, obstacles=[(r.key, r.params) for r in found],
                 editable=drafts.editable_keys(app), recorded=recorded)


async def summary_text(rq: Rq, app: App) -> str:
    """The whole application, section by section, every answer whole (the reviewer's full view)."""
    return views.summary_text(await load(rq, app), limit=None)


def labels(rq: Rq, f: FormField) -> dict[str, str]:
    """A choice's option labels in every language (normalised label → option): "男" and "Male" alike,
    and the short forms people use ("M", "F")."""
    out: dict[str, str] = {}
    for lang in rq.svc.i18n.catalogs:
        t = rq.svc.i18n.get(lang)
        for option in f.options():
            out[values.normal_label(t.plain(f"choice.{f.choices}.{option}"))] = option
    for option, words in form.ALIASES.get(f.choices or "", {}).items():
        out.update({values.normal_label(w): option for w in words})
    return out


def _is_header(rq: Rq, cells: list[str]) -> bool:
    """Whether a pasted row is the table's head: two or more cells that name a member's column."""
    names = {values.normal_label(rq.svc.i18n.get(lang).plain(mf.label_key))
             for lang in rq.svc.i18n.catalogs for mf in form.MEMBER_FIELDS}
    named = 0
    for cell in map(values.normal_label, cells):
        named += len(cell) >= 2 and any(cell in name or name in cell for name in names)
    return named >= 2


# --------------------------------------------------------------------------- sending


Answered = tuple[FormField, Any]  # a question and the answer typed to it


async def show(rq: Rq, app: App, note: str | None = None, *, short: bool = False, new: bool = False,
               answered: Answered | None = None) -> None:
    """The screen of where the wizard stands: the pressed message changed into it, or (after text, or
    `new`) a new message. `short`: only the note with the step's name and buttons; `answered`: the
    previous screen then shows that question with its answer."""
    d = await load(rq, app)
    text, markup = views.short_reply(d, note) if short and note else views.screen(d, note)
    retire = views.answered_line(d, *answered) if answered and rq.query is None else None
    send(rq, text, markup, new=new, retire=retire)


def send(rq: Rq, text: str, markup: InlineKeyboardMarkup | None, *, new: bool = False,
         retire: str | None = None) -> None:
    if new:
        rq.reply(text, markup, screen=SCREEN, retire=retire)
    else:
        rq.edit(text, markup, screen=SCREEN, retire=retire)


# --------------------------------------------------------------------------- moving


async def goto(rq: Rq, app: App, step: str, note: str | None = None, *, answered: Answered | None = None) -> None:
    st = drafts.state(app).moved(step)
    if step == "summary":
        st = st.model_copy(update={"edit": None, "section": None, "seen_summary": True})
    drafts.save_state(app, st)
    await show(rq, app, note, answered=answered)


async def advance(rq: Rq, app: App, key: str, note: str | None = None, *, answered: Answered | None = None) -> None:
    files = files_of(app)
    await goto(rq, app, drafts.next_step(app, files, key), note, answered=answered)


async def accept(rq: Rq, app: App, f: FormField, value: Any, also: str | None = None) -> None:
    """Store one answer and move on; `also`: what else the applicant is told with it."""
    drafts.set_answer(app, f.key, value, rq.svc.clock.now())
    note = rq.t("elig.failed", condition=rq.t(f.label_key)) if f.ask is Ask.YESNO and value is False else None
    note = "\n".join(x for x in (note, also) if x) or None
    await advance(rq, app, f.key, note, answered=(f, value))


# --------------------------------------------------------------------------- handlers


async def _enter(rq: Rq, *, new: bool = False) -> str | int:
    """Into the wizard: the season's draft, or in a new season the choice of last year's answers."""
    st = await standing(rq)
    if st.current is None and st.previous is not None:  # a new season: last year's answers or a fresh form
        late = await season_entry.missed_deadline(rq.session, st.previous, rq.svc.clock.now(), rq.svc.settings.tz)
        rq.reply(*season_entry.offer(rq.t, st, late), screen=SCREEN)
        return FORM
    app = st.current
    if app is None:  # no application at all: a first draft, its first step set before it is stored
        now = rq.svc.clock.now()
        app = drafts.draft(rq.user.id, st.season.year, now)
        drafts.set_wizard(app, step=_first_open_step(app, {}))
        await drafts.add_draft(rq.session, app, now)
    return await _open(rq, app, new=new)


@handler
async def cmd_apply(rq: Rq) -> str | int:
    return await _enter(rq)


@handler
async def on_go(rq: Rq) -> str | int:
    """The /start or /my button: as /apply, in a new message."""
    if not isinstance(cb.decode(rq.query.data if rq.query else None), Go):
        rq.refuse(rq.t("error.bad_button"), "bad_button")
        return None  # type: ignore[return-value]
    return await _enter(rq, new=True)


@handler
async def on_new_season(rq: Rq) -> str | int:
    data = cb.decode(rq.query.data if rq.query else None)
    st = await standing(rq)
    if not isinstance(data, season_entry.NewSeason) or st.current is not None or st.previous is None \
            or (data.year, data.source) != (st.season.year, st.previous.id):
        rq.refuse(rq.t("error.stale_button"), "stale_button")
        return FORM if st.current is not None else ConversationHandler.END
    source = st.previous if data.how == season_entry.COPY else None
    app, written, lost = await drafts.start_season(rq.session, rq.user.id, source, rq.svc.clock.now(),
                                                   rq.svc.settings.tz, rq.svc.settings.data_dir)
    rq.undo += [functools.partial((rq.svc.settings.data_dir / rel).unlink, missing_ok=True) for rel in written]
    note = rq.t("season_entry.copied", year=app.season_year, last=st.previous.season_year, files=len(written)) \
        if source is not None else None
    if lost:
        note = (note or "") + "\n" + rq.t("season_entry.files_lost", n=lost)
    return await _open(rq, app, note, intro=source is None)


async def _open(rq: Rq, app: App, note: str | None = None, *, intro: bool = False, new: bool = False) -> str | int:
    if not drafts.editable(app):
        rq.reply(rq.t("apply.one_per_season", year=app.season_year, number=app.number or "",
                      status=rq.t(f"status.{app.status}")), screen=SCREEN)
        return ConversationHandler.END
    files = files_of(app)
    if not drafts.state(app).step:
        drafts.set_wizard(app, step=_first_open_step(app, files))
    d = await load(rq, app)
    if intro or (note is None and not app.answers):
        note = views.intro(d) if note is None else note + "\n\n" + views.intro(d)
    elif note is None:
        note = rq.t("apply.returned", number=app.number or "") if Status(app.status) is not Status.DRAFT \
            else rq.t("apply.resume")
        if step_of(app) != "summary":
            window = views.window_line(d)
            note += "\n" + window if window else ""
    await show(rq, app, note, new=new)
    return FORM


@handler
async def cmd_cancel(rq: Rq) -> int:
    rq.reply(rq.t("cancel.done"))
    return ConversationHandler.END


def _message_kind(msg: Message) -> str:
    if msg.text is not None:
        return "text"
    for kind in ("photo", "video", "video_note", "document", "sticker", "voice", "audio", "animation",
                 "location", "contact", "poll", "dice", "venue"):
        if getattr(msg, kind, None):
            return kind
    return "other"


def _wanted(f: FormField, m: MemberCursor | None) -> str:
    if m is not None and m.question:
        mf = form.BY_KEY[m.question]
        return "buttons" if mf.ask is Ask.CHOICE and not mf.allow_other else "text"
    if f.ask is Ask.CHOICE and f.allow_other:
        return "text"
    return f.kind_spec.wants


async def _hint(rq: Rq, app: App, got: str, want: str) -> None:
    note = "⚠️ " + rq.t("wrong.hint", got=rq.t(f"msgkind.{got}"), want=rq.t(f"wrong.want.{want}"))
    await show(rq, app, note, short=True)


@handler
async def on_message(rq: Rq) -> str | int:
    msg = rq.update.effective_message
    assert msg is not None
    app = await active_application(rq, create=False)
    if app is None or not drafts.editable(app):
        rq.reply(rq.t("apply.gone"))
        return ConversationHandler.END
    st = drafts.state(app)
    got = _message_kind(msg)
    f = form.BY_KEY.get(st.step or "summary")
    m = st.member
    want = _wanted(f, m) if f is not None else "buttons"
    takes_file = want in ("photo", "video", "document") and got in ("photo", "video", "video_note", "document")
    if msg.media_group_id and not takes_file:
        hinted: dict[int, str] = rq.svc.extra.setdefault("album_hints", {})  # memory only: not the draft
        if hinted.get(rq.user.id) == msg.media_group_id:
            return FORM  # one answer for a whole album
        hinted[rq.user.id] = msg.media_group_id
    if f is None:
        await show(rq, app, rq.t("wizard.use_buttons_summary"))
    elif got == "text" and m is not None and m.question:
        await _on_member_text(rq, app, m, msg.text or "")
    elif got == "text" and f.ask is Ask.MEMBERS:
        await _on_paste(rq, app, msg.text or "")
    elif got == "text" and (want in ("text", "document") or st.other or f.ask is Ask.CHOICE):
        await _on_text(rq, app, f, msg.text or "")
    elif takes_file:
        await _on_file(rq, app, f, msg)
    else:
        await _hint(rq, app, got, want)
    return FORM


def _error(rq: Rq, exc: InvalidInput, f: FormField) -> str:
    """What is wrong, with the field's example once."""
    msg = rq.t(f"error.{exc.code}", **exc.params)
    if rq.t.has(f.example_key) and exc.code not in ("too_long", "too_many_lines", "empty", "one_item",
                                                        "item_listed"):
        msg += "\n" + rq.t("wizard.example", example=rq.t(f.example_key))
    return "⚠️ " + msg


async def _on_text(rq: Rq, app: App, f: FormField, text: str) -> None:
    if f.ask is Ask.ITEMS:
        await _on_items(rq, app, f, text)
    elif f.ask in (Ask.PARTS, Ask.DOCUMENT):
        await _on_part(rq, app, f, text)
    else:
        try:
            value = f.parse(text, today=rq.svc.today(), labels=labels(rq, f) if f.choices else None)
        except InvalidInput as exc:
            await show(rq, app, _error(rq, exc, f), short=True)
            return
        await accept(rq, app, f, value)


async def _on_part(rq: Rq, app: App, f: FormField, text: str) -> None:
    """One part of a long text: kept until "Done" (checked as the parser counts it)."""
    parts = list(drafts.state(app).parts or [])
    text = clean_text(text)
    before = sum(len(b) for b in parts)
    total = before + len(text)
    if total > f.max_len:
        await show(rq, app, "⚠️ " + rq.t("error.too_long_parts", max=f.max_len, length=total, now=before),
                   short=True)
        return
    try:
        f.parse(text, today=rq.svc.today())
    except InvalidInput as exc:
        await show(rq, app, _error(rq, exc, f), short=True)
        return
    parts.append(text)
    drafts.set_wizard(app, parts=parts)
    await show(rq, app, rq.t("wizard.buffer_saved", part=len(parts), chars=total, max=f.max_len), short=True)


def _merged(f: FormField, items: list[str], buf: list[str], today: Any) -> tuple[list[str], int, int]:
    """The list with the buffered lines added (an item already listed is not added twice): the list,
    how many were added and how many were already there."""
    new = f.parse("\n".join(buf), today=today) if buf else []
    added = [x for x in dict.fromkeys(new) if x not in items]
    return items + added, len(added), len(new) - len(added)


async def _on_items(rq: Rq, app: App, f: FormField, text: str) -> None:
    """A message's lines are collected (each item checked on its own); "Done" adds them to the list. With
    one item picked, the message replaces that item."""
    items = list((app.answers or {}).get(f.key) or [])
    st = drafts.state(app)
    parts = list(st.parts or [])
    text = clean_text(text)
    if st.item is not None and st.item < len(items):
        await _replace_item(rq, app, f, items, st.item, text)
        return
    try:
        f.parse(text, today=rq.svc.today())
        merged, added, _ = _merged(f, items, [*parts, text], rq.svc.today())
    except InvalidInput as exc:
        await show(rq, app, _error(rq, exc, f), short=True)
        return
    if len(merged) > f.max_items:
        await show(rq, app, "⚠️ " + rq.t("error.too_many_lines", max=f.max_items), short=True)
        return
    drafts.set_wizard(app, parts=[*parts, text])
    await show(rq, app, rq.t("wizard.items_added", n=added, total=len(merged)), short=True)


async def _replace_item(rq: Rq, app: App, f: FormField, items: list[str], picked: int, text: str) -> None:
    try:
        new = f.parse(text, today=rq.svc.today())
        if len(new) != 1:
            raise InvalidInput("one_item")
        if new[0] in items and items.index(new[0]) != picked:
            raise InvalidInput("item_listed")
    except InvalidInput as exc:
        await show(rq, app, _error(rq, exc, f), short=True)
        return
    items[picked] = new[0]
    drafts.set_answer(app, f.key, items, rq.svc.clock.now())
    drafts.set_wizard(app, item=None)
    await show(rq, app, rq.t("wizard.item_replaced", item=new[0]))


async def _on_member_text(rq: Rq, app: App, m: MemberCursor, text: str) -> None:
    mf = form.BY_KEY[m.question or ""]
    try:
        value = mf.parse(text, today=rq.svc.today(), labels=labels(rq, mf) if mf.choices else None)
    except InvalidInput as exc:
        await show(rq, app, _error(rq, exc, mf), short=True)
        return
    await _member_value(rq, app, m, mf, value)


async def _member_value(rq: Rq, app: App, m: MemberCursor, mf: FormField, value: Any) -> None:
    now = rq.svc.clock.now()
    short = mf.key.removeprefix("member_")
    members = [dict(r) for r in (app.answers or {}).get("members") or []]
    if m.index is not None:  # editing one field of an existing member
        members[m.index][short] = value
        drafts.set_answer(app, "members", members, now)
        drafts.set_wizard(app, member=None, other=False)
        await show(rq, app, rq.t("members.updated"), answered=(mf, value))
        return
    row = {**m.row, short: value}
    ask = m.questions(MEMBER_KEYS)
    idx = ask.index(mf.key) if mf.key in ask else len(ask) - 1
    if idx + 1 < len(ask):
        drafts.set_wizard(app, member=m.model_copy(update={"question": ask[idx + 1], "row": row}), other=False)
        await show(rq, app, answered=(mf, value))
        return
    members.append(row)
    drafts.set_answer(app, "members", members, now)
    paste = list(drafts.state(app).paste or [])
    if m.paste is not None and m.paste < len(paste):
        paste.pop(m.paste)
    drafts.set_wizard(app, member=None, other=False, paste=paste or None)
    await show(rq, app, rq.t("members.added", name=row.get("name", ""), n=len(members)), answered=(mf, value))


async def _on_paste(rq: Rq, app: App, text: str) -> None:
    """Members pasted as a table (one per line, cells split by tabs, commas or 、): a preview to confirm."""
    today = rq.svc.today()
    by_field = {mf.key: labels(rq, mf) for mf in form.MEMBER_FIELDS if mf.choices}
    rows = values.table_rows(text)
    if rows and _is_header(rq, rows[0]):  # the table's head, copied with it
        rows = rows[1:]
    members = (app.answers or {}).get("members") or []
    if not rows:
        await show(rq, app, "⚠️ " + rq.t("error.empty"))
        return
    if len(rows) + len(members) > form.MAX_MEMBERS:
        await show(rq, app, "⚠️ " + rq.t("paste.too_many", max=form.MAX_MEMBERS, n=len(rows)))
        return
    preview = []
    for cells in rows:
        row, errors = form.parse_member_cells(cells, today=today, labels=by_field)
        preview.append(PastedRow(row=row, err={k: (e.code, dict(e.params)) for k, e in errors.items()}))
    if not any(len(r.err) <= PASTE_FIXABLE for r in preview):  # nothing like a member row: say how
        d = await load(rq, app)
        drafts.set_wizard(app, paste=preview)
        text, _ = views.paste_screen(d)
        drafts.set_wizard(app, paste=None)
        await show(rq, app, "⚠️ " + rq.t("paste.unreadable") + "\n\n" + text, short=True)
        return
    drafts.set_wizard(app, paste=preview, member=None)
    await show(rq, app)


async def _on_file(rq: Rq, app: App, f: FormField, msg: Message) -> None:
    t = rq.t
    want = f.kind_spec.wants
    album = msg.media_group_id
    try:
        item = fileio.incoming(msg, want)
        if item is None:
            raise fileio.FileRefused(f"file.want_{want}")
        existing = await repo.attachments(rq.session, app.id, f.key)
        if item.original_name is None and f.ask is Ask.DOCUMENT:  # a photo: named after what it stands for
            item.original_name = t.plain("file.photo_name", field=t.plain(f.label_key), n=len(existing) + 1)
        room = {Ask.PHOTOS: (form.MAX_PHOTOS, fileio.FileRefused("photos.too_many", max=form.MAX_PHOTOS)),
                Ask.VIDEO: (1, fileio.FileRefused("file.one_video"))}.get(f.ask)
        rel, size, sha = await fileio.take(rq.context.bot, item, existing, rq.svc.settings.data_dir, str(app.id),
                                           room=room)
        rq.undo.append(lambda: (rq.svc.settings.data_dir / rel).unlink(missing_ok=True))
    except fileio.FileRefused as exc:
        if album:
            _album_note(rq, app, album, refused=t.plain(exc.key, **exc.params))
            return
        await show(rq, app, "⚠️ " + t(exc.key, **exc.params), short=f.ask is not Ask.PHOTOS)
        return
    drafts.add_attachment(rq.session, app, f.key, fileio.stored(item, rel, size, sha), rq.svc.clock.now())
    await rq.session.flush()
    if album:
        _album_note(rq, app, album, added=True)
        return
    if f.ask is Ask.VIDEO:
        await advance(rq, app, f.key, t("file.video_saved"))
        return
    if f.ask is Ask.DOCUMENT:
        await show(rq, app, t("file.doc_saved", name=item.original_name or t.plain("file.unnamed")))
        return
    await show(rq, app, t("photos.saved"))


def _album_note(rq: Rq, app: App, group: str, *, added: bool = False, refused: str | None = None) -> None:
    """Collect an album's items; one answer is sent when the album is complete."""
    album = drafts.state(app).album
    if album is None or album.group != group:
        album = Album(group=group)
    album.seen += 1
    if added:
        album.taken += 1
    if refused:
        album.refused = [*album.refused, (album.seen, refused)]
    drafts.set_wizard(app, album=album)
    jq = rq.context.job_queue
    name = f"album:{rq.user.id}"
    if jq is not None:
        for job in jq.get_jobs_by_name(name):
            job.schedule_removal()
        jq.run_once(album_done, rq.svc.settings.album_wait_seconds, name=name,
                    data={"user": rq.user.id, "chat": rq.chat_id}, user_id=rq.user.id, chat_id=rq.chat_id)


async def album_done(context: Any) -> None:
    """Answer once for a whole album."""
    data = context.job.data

    async def body(rq: Rq) -> None:
        app = await active_application(rq, create=False)
        if app is None:
            return
        await answer_album(rq, app)

    processor = context.application.update_processor
    if isinstance(processor, PerUserOrder):  # wait for the album's items still being handled
        async with processor.hold(data["user"]):
            await run_as(context, data["user"], data["chat"], body)
    else:
        await run_as(context, data["user"], data["chat"], body)


async def answer_album(rq: Rq, app: App) -> None:
    album = drafts.state(app).album
    if album is None:
        return
    t = rq.t
    parts = []
    if album.taken:
        parts.append(t("photos.album_added", n=album.taken, total=album.seen or album.taken))
    by_reason: dict[str, list[str]] = {}
    for n, reason in album.refused:
        by_reason.setdefault(reason, []).append(str(n))
    for reason, numbers in by_reason.items():
        which = t.join(numbers) if numbers and numbers[0] != "0" else ""
        parts.append("⚠️ " + (t("photos.album_refused", which=which, why=reason) if which else t("photos.why",
                                                                                                why=reason)))
    drafts.set_wizard(app, album=None)
    await show(rq, app, "\n".join(parts) or None)


# --------------------------------------------------------------------------- buttons


@handler
async def on_button(rq: Rq) -> str | int:
    data = cb.decode(rq.query.data if rq.query else None)
    if not isinstance(data, cb.Wiz):
        rq.refuse(rq.t("error.bad_button"), "bad_button")
        return None  # type: ignore[return-value]  # None: the conversation state stays as it was
    app = await active_application(rq, create=False)
    if app is None or app.id != data.app:
        record = await repo.get_application(rq.session, data.app)
        if record is not None and record.applicant_id == rq.user.id:  # an earlier season's, read-only now
            rq.edit(await season_entry.record_note(rq.session, rq.t, record, rq.svc.clock.now(), rq.svc.settings.tz))
            return ConversationHandler.END if app is None else None  # type: ignore[return-value]
        rq.refuse(rq.t("error.stale_button"), "not_own", app.id if app else None)
        return None  # type: ignore[return-value]
    if not drafts.editable(app):
        rq.refuse(rq.t("apply.not_editable", number=app.number or "", status=rq.t(f"status.{app.status}")),
                  "not_editable", app.id)
        return ConversationHandler.END
    if data.at is not None and data.at != position(app) and data.op is not Op.RESUME:
        rq.refuse(rq.t("wizard.stale_step"), "stale_step", app.id)  # a double tap or an older message
        return None  # type: ignore[return-value]  # refused: which flow waits stays as it was
    await dispatch_button(rq, app, data)
    return FORM


@dataclass
class Press:
    """A wizard button pressed: the request, the draft, where the wizard stood and the button's argument."""

    rq: Rq
    app: App
    st: WizardState
    op: Op
    v: str | None

    @property
    def t(self) -> Translator:
        return self.rq.t

    @property
    def field(self) -> FormField:
        return form.BY_KEY[self.st.step or ""]

    def index(self, n: int) -> int | None:
        """The button's argument as an index below `n` (None when it is not one)."""
        return int(self.v) if self.v is not None and self.v.isdigit() and int(self.v) < n else None

    def stale(self) -> None:
        self.rq.alert(self.t("error.stale_button"))

    def bad(self) -> None:
        self.rq.alert(self.t("error.bad_button"))

    async def show(self, note: str | None = None) -> None:
        await show(self.rq, self.app, note)


Action = Callable[[Press], Awaitable[None]]


async def dispatch_button(rq: Rq, app: App, data: cb.Wiz) -> None:
    """Run the operation of a wizard button: one that works anywhere, else one of the step it was shown on."""
    p = Press(rq, app, drafts.state(app), data.op, data.v)
    action = ANYWHERE.get(p.op)
    if action is None:
        action = _stale
        if p.st.step not in (None, "summary", "confirm"):
            table = ON_STEP
            if p.field.ask is Ask.MEMBERS:
                table = ON_MEMBER_QUESTION if p.st.member is not None and p.st.member.question else ON_MEMBERS
            action = table.get(p.op, _stale)
    await action(p)


async def _stale(p: Press) -> None:
    p.stale()


# --- anywhere in the wizard


async def _resume(p: Press) -> None:
    await show(p.rq, p.app)


async def _to_summary(p: Press) -> None:
    await goto(p.rq, p.app, "summary")


async def _full(p: Press) -> None:
    f = form.BY_KEY.get(p.v or "")
    if f is None or f not in form.STEPS:
        p.bad()
        return
    p.rq.reply(views.full_text(await load(p.rq, p.app), f))  # a new message: the summary stays


async def _album(p: Press) -> None:
    """The photos as an album; on the photos step its screen follows below them, its buttons under what
    they remove."""
    if not await _send_photos(p.rq, p.app) or p.st.step != "photos":
        return
    text, markup = views.screen(await load(p.rq, p.app))
    p.rq.owe(effects.message(p.rq.chat_id, text, markup, stale_ok=True, screen=SCREEN))


async def _edit_section(p: Press) -> None:
    if p.v not in form.SECTIONS:
        p.bad()
        return
    fields = [f for f in form.section_fields(p.v) if drafts.may_edit(p.app, f.key)]
    if not fields:
        p.rq.alert(p.t("apply.locked"))
    elif len(fields) == 1:
        await _edit_one(p, fields[0])
    else:
        drafts.set_wizard(p.app, section=p.v)
        await p.show()


async def _edit_field(p: Press) -> None:
    f = form.BY_KEY.get(p.v or "")
    if f is None or f not in form.STEPS or p.st.step not in (None, "summary"):
        p.bad()
    elif not drafts.may_edit(p.app, f.key):
        p.rq.alert(p.t("apply.locked"))
    else:
        await _edit_one(p, f)


async def _edit_one(p: Press, f: FormField) -> None:
    """One field asked on its own; its answer leads back to the summary."""
    drafts.set_wizard(p.app, edit="edit", section=None)
    await goto(p.rq, p.app, f.key)


async def _submit_pressed(p: Press) -> None:
    if p.st.step not in (None, "summary"):  # the declaration is reached from the summary only
        p.rq.refuse(p.t("error.stale_button"), "submit_not_from_summary", p.app.id)
        return
    d = await load(p.rq, p.app)
    if d.obstacles:  # submission cannot succeed: say why, before any pledge
        send(p.rq, *views.summary_screen(d, "⛔ " + p.t("summary.blocked")))
        return
    await goto(p.rq, p.app, "confirm")


async def _confirm(p: Press) -> None:
    if p.st.step != "confirm":  # submission only from the screen that showed the pledge
        p.rq.refuse(p.t("error.stale_button"), "confirm_without_pledge", p.app.id)
        return
    await _submit(p.rq, p.app)


ANYWHERE: dict[Op, Action] = {
    Op.RESUME: _resume, Op.SUMMARY: _to_summary, Op.FULL: _full, Op.ALBUM: _album, Op.EDIT: _edit_section,
    Op.FIELD: _edit_field,
    Op.SUBMIT: _submit_pressed, Op.CONFIRM: _confirm,
}


# --- on a question of the form


async def _back(p: Press) -> None:
    if p.st.other or p.st.item is not None:  # from a typed "other" or one item back to the step
        drafts.set_wizard(p.app, other=False, item=None)
        await p.show()
        return
    prev = form.previous_step(p.field.key)
    if prev is None:
        p.rq.toast(p.t("wizard.first_step"))
        return
    await goto(p.rq, p.app, prev)


async def _skip(p: Press) -> None:
    f = p.field
    if f.required:
        p.rq.alert(p.t("wizard.required"))
        return
    if not form.is_answered(f, p.app.answers or {}, files_of(p.app)):
        drafts.set_answer(p.app, f.key, None, p.rq.svc.clock.now())
    await advance(p.rq, p.app, f.key)


async def _keep(p: Press) -> None:
    if not form.is_answered(p.field, p.app.answers or {}, files_of(p.app)):
        p.rq.alert(p.t("wizard.required"))
        return
    await advance(p.rq, p.app, p.field.key)


async def _union(p: Press) -> None:
    if p.field.ask is not Ask.UNION:
        p.stale()
        return
    unions = {u.id for u in await repo.unions_for_display(p.rq.session) if u.active}
    if p.v is None or not p.v.isdigit() or int(p.v) not in unions:
        p.bad()
        return
    await accept(p.rq, p.app, p.field, int(p.v), await notify.unstaffed_pick(p.rq, p.app, int(p.v)))


async def _yes_no(p: Press) -> None:
    if p.field.ask is not Ask.YESNO:
        p.stale()
        return
    await accept(p.rq, p.app, p.field, p.op is Op.YES)


async def _choice(p: Press) -> None:
    f = p.field
    if f.ask is not Ask.CHOICE:
        p.stale()
    elif p.v not in f.options():
        p.bad()
    else:
        await accept(p.rq, p.app, f, p.v)


async def _other(p: Press) -> None:
    asked = form.BY_KEY[p.st.member.question] if p.st.member and p.st.member.question else p.field
    if not asked.allow_other:
        p.stale()
        return
    drafts.set_wizard(p.app, other=True)
    await p.show()


async def _clear(p: Press) -> None:
    drafts.set_wizard(p.app, parts=None)
    await p.show(p.t("wizard.cleared"))


async def _item(p: Press) -> None:
    f = p.field
    items = list((p.app.answers or {}).get(f.key) or [])
    i = p.index(len(items))
    if f.ask is not Ask.ITEMS or i is None:
        p.stale()
    elif p.op is Op.ITEM_PICK:  # the item on its own: the next text replaces it, or its button removes it
        drafts.set_wizard(p.app, item=i)
        await p.show()
    else:
        gone = items.pop(i)
        drafts.set_answer(p.app, f.key, items, p.rq.svc.clock.now())
        drafts.set_wizard(p.app, item=None)
        await p.show(p.t("wizard.item_removed", item=gone))


async def _file_del(p: Press) -> None:
    f, rq = p.field, p.rq
    if not f.kind_spec.file:
        p.stale()
        return
    att = await drafts.remove_attachment(rq.session, p.app, f.key, p.v, rq.user.id, rq.svc.clock.now())
    if att is None:
        p.stale()
        return
    gone = rq.svc.settings.data_dir / att.stored_path

    async def unlink() -> None:  # only once the removal is committed
        gone.unlink(missing_ok=True)

    rq.later(unlink)
    name = att.original_name if f.ask is not Ask.PHOTOS else None
    await p.show(p.t("file.removed", name=name) if name else p.t("photos.removed"))


async def _done(p: Press) -> None:
    rq, app, f, t = p.rq, p.app, p.field, p.t
    parts = p.st.parts or []
    if f.ask is Ask.PHOTOS:
        n = files_of(app).get(f.key, 0)
        if n < form.MIN_PHOTOS:
            rq.alert(t("photos.too_few", n=n, min=form.MIN_PHOTOS))
            return
        await advance(rq, app, f.key)
    elif parts and f.ask is Ask.ITEMS:
        await _add_lines(p, parts)
    elif parts:
        try:
            value = f.parse("\n".join(parts), today=rq.svc.today())
        except InvalidInput as exc:
            rq.alert(t(f"error.{exc.code}", **exc.params))
            return
        drafts.set_wizard(app, parts=None)
        await accept(rq, app, f, value)
    elif form.is_answered(f, app.answers or {}, files_of(app)):
        await advance(rq, app, f.key)
    else:
        rq.alert(t("wizard.nothing_yet"))


async def _add_lines(p: Press, parts: list[str]) -> None:
    rq, f, t = p.rq, p.field, p.t
    try:
        value, _, known = _merged(f, list((p.app.answers or {}).get(f.key) or []), parts, rq.svc.today())
    except InvalidInput as exc:
        rq.alert(t(f"error.{exc.code}", **exc.params))
        return
    drafts.set_wizard(p.app, parts=None)
    drafts.set_answer(p.app, f.key, value, rq.svc.clock.now())
    note = t("wizard.saved") + ("\n" + t("wizard.items_known", n=known) if known else "")
    await advance(rq, p.app, f.key, note)


ON_STEP: dict[Op, Action] = {
    Op.BACK: _back, Op.SKIP: _skip, Op.KEEP: _keep, Op.UNION: _union, Op.YES: _yes_no, Op.NO: _yes_no,
    Op.CHOICE: _choice, Op.OTHER: _other, Op.CLEAR: _clear, Op.DONE: _done, Op.ITEM_PICK: _item,
    Op.ITEM_DEL: _item, Op.FILE_DEL: _file_del,
}


# --- the members table

MEMBER_KEYS = [f.key for f in form.MEMBER_FIELDS]


def _members(app: App) -> list[dict[str, Any]]:
    return [dict(r) for r in (app.answers or {}).get("members") or []]


async def _member_question_back(p: Press) -> None:
    m = p.st.member
    assert m is not None and m.question
    if p.st.other:
        drafts.set_wizard(p.app, other=False)
    else:
        ask = m.questions(MEMBER_KEYS)
        idx = ask.index(m.question) if m.question in ask else 0
        back = m.model_copy(update={"question": ask[idx - 1]}) if m.index is None and idx > 0 else None
        drafts.set_wizard(p.app, member=back)
    await p.show()


async def _member_choice(p: Press) -> None:
    m = p.st.member
    assert m is not None and m.question
    mf = form.BY_KEY[m.question]
    if mf.ask is not Ask.CHOICE or p.v not in mf.options():
        p.stale()
        return
    await _member_value(p.rq, p.app, m, mf, p.v)


ON_MEMBER_QUESTION: dict[Op, Action] = {Op.BACK: _member_question_back, Op.CHOICE: _member_choice,
                                        Op.OTHER: _other}


async def _paste_ok(p: Press) -> None:
    paste = p.st.paste or []
    if not paste:
        p.stale()
        return
    good = [dict(r.row) for r in paste if not r.err]
    rest = [r for r in paste if r.err]
    members = _members(p.app) + good
    drafts.set_answer(p.app, "members", members, p.rq.svc.clock.now())
    drafts.set_wizard(p.app, paste=rest or None)
    await p.show(p.t("paste.added_rest", n=len(good), total=len(members), rest=len(rest)) if rest
                 else p.t("paste.added", n=len(good), total=len(members)))


async def _paste_fix(p: Press) -> None:
    paste = p.st.paste or []
    i = p.index(len(paste))
    if i is None or not paste[i].err:
        p.stale()
        return
    r = paste[i]
    ask = [k for k in MEMBER_KEYS if k in r.err]
    drafts.set_wizard(p.app, member=MemberCursor(question=ask[0], row=dict(r.row), ask=ask, paste=i))
    await p.show()


async def _paste_drop(p: Press) -> None:
    paste = p.st.paste or []
    if not paste:
        p.stale()
        return
    drafts.set_wizard(p.app, paste=None)
    # rows that were complete are added all at once: with none left, what is dropped is the rest
    await p.show(p.t("paste.dropped") if any(not r.err for r in paste) else p.t("paste.dropped_rest", n=len(paste)))


async def _member_add(p: Press) -> None:
    if len(_members(p.app)) >= form.MAX_MEMBERS:
        p.rq.alert(p.t("paste.too_many", max=form.MAX_MEMBERS, n=1))
        return
    drafts.set_wizard(p.app, member=MemberCursor(question=MEMBER_KEYS[0]))
    await p.show()


async def _member_edit(p: Press) -> None:
    i = p.index(len(_members(p.app)))
    if i is None:
        p.stale()
        return
    drafts.set_wizard(p.app, member=MemberCursor(pick=i))
    await p.show()


async def _member_del(p: Press) -> None:
    members = _members(p.app)
    i = p.index(len(members))
    if i is None:
        p.stale()
        return
    removed = members.pop(i)
    drafts.set_answer(p.app, "members", members, p.rq.svc.clock.now())
    await p.show(p.t("members.removed", name=removed.get("name", "")))


async def _member_field(p: Press) -> None:
    m = p.st.member
    if m is None or m.pick is None or f"member_{p.v}" not in MEMBER_KEYS:
        p.stale()
        return
    drafts.set_wizard(p.app, member=MemberCursor(question=f"member_{p.v}", index=m.pick))
    await p.show()


async def _members_back(p: Press) -> None:
    if p.st.member is not None:
        drafts.set_wizard(p.app, member=None)
        await p.show()
        return
    await goto(p.rq, p.app, form.previous_step("members") or "members")


async def _members_done(p: Press) -> None:
    if not _members(p.app):
        p.rq.alert(p.t("members.at_least_one"))
        return
    await advance(p.rq, p.app, "members")


ON_MEMBERS: dict[Op, Action] = {
    Op.PASTE_OK: _paste_ok, Op.PASTE_FIX: _paste_fix, Op.PASTE_DROP: _paste_drop, Op.MEMBER_ADD: _member_add,
    Op.MEMBER_EDIT: _member_edit, Op.MEMBER_DEL: _member_del, Op.MEMBER_FIELD: _member_field,
    Op.BACK: _members_back, Op.DONE: _members_done,
}


async def _send_photos(rq: Rq, app: App) -> bool:
    """The uploaded photos, as an album (an image sent as a file goes as that file); False when none."""
    atts = list(await repo.attachments(rq.session, app.id, "photos"))
    if not atts:
        rq.alert(rq.t("photos.none"))
        return False
    photos = [a.telegram_file_id for a in atts if a.kind == "photo"]
    if photos:
        rq.owe(effects.album(rq.chat_id, photos, rq.t.plain("photos.album_caption", n=len(atts))))
    for a in atts:
        if a.kind != "photo":
            rq.owe(effects.file(rq.chat_id, "document", a.telegram_file_id, a.original_name or ""))
    rq.toast(rq.t("photos.sending", n=len(atts)))
    return True


async def _submit(rq: Rq, app: App) -> None:
    t = rq.t
    season = await repo.ensure_season(rq.session, app.season_year)
    try:
        transition = await drafts.submit(rq.session, app, rq.user.id, season, rq.svc.clock.now(), rq.svc.settings.tz)
    except drafts.Refused as exc:
        params: dict[str, Any] = dict(exc.params)
        if "fields" in params:
            params["fields"] = t.join([t(form.BY_KEY[k].label_key) for k in params["fields"]])
        if "conditions" in params:
            params["conditions"] = "\n".join(t(f"field.elig_{c[-1]}.label") for c in params["conditions"])
        drafts.set_wizard(app, step="summary")
        await show(rq, app, "⛔ " + t(exc.key, **params))
        return
    record_pledge(rq, app)
    rq.edit(t("submit.receipt", number=app.number, date=app.application_date.isoformat() if app.application_date
              else "", status=t(f"status.{app.status}")), screen=SCREEN)
    from bot import notify

    await notify.transitioned(rq, app, transition.action.value)
    rq.owe(effects.render(rq.user.id, "form", app=app.id, version=app.version))  # the printable form (R-F9)


def record_pledge(rq: Rq, app: App) -> None:
    """The truthfulness pledge the applicant accepted, in the audit trail (and so in the archive): who,
    when, and which text — the words shown, their language and a version (the SHA-256 of the Chinese text)."""
    import hashlib

    shown = rq.t.plain("submit.declaration")
    version = hashlib.sha256(rq.svc.i18n.get("zh").plain("submit.declaration").encode()).hexdigest()[:16]
    repo.audit(rq.session, rq.svc.clock.now(), "pledge_accepted", application_id=app.id, actor_id=rq.user.id,
               details={"version": version, "lang": rq.lang, "text": shown})


def register(app: Application) -> None:
    mine = inputs.Awaiting(app, WIZARD)
    entries = [
        CommandHandler("apply", cmd_apply),
        CallbackQueryHandler(on_go, pattern=Go.pattern()),
        CallbackQueryHandler(on_button, pattern=cb.Wiz.pattern()),
        CallbackQueryHandler(on_new_season, pattern=season_entry.NewSeason.pattern()),
    ]
    app.add_handler(inputs.conversation(
        WIZARD,
        entry_points=entries,
        states={FORM: [*entries, MessageHandler(mine & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_message)]},
        fallbacks=[CommandHandler("cancel", cmd_cancel, filters=mine)],
    ))


async def recover_albums(application: Application) -> int:
    """After a restart, answer albums whose single reply was still pending (the job is gone)."""
    from bot.runtime import BotContext, services_of

    svc = services_of(application)
    async with svc.db.session() as s:
        rows = await drafts.albums_pending(s)
    context = BotContext(application)
    for user_id in rows:

        async def body(rq: Rq) -> None:
            app = await active_application(rq, create=False)
            if app is not None:
                await answer_album(rq, app)

        await run_as(context, user_id, user_id, body)
    return len(rows)
