"""The applicant's wizard (`/apply`): union, eligibility, every field of the form, members,
photos, documents, summary with edit, declaration and submission.

Every screen is derived from `bot.domain.form`; the cursor lives in the application row, so a
restart, `kill -9` or another device continues exactly where the user was.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup, Message
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import callbacks as cb
from bot import effects
from bot import files as fileio
from bot.callbacks import WizardOp as Op
from bot.domain import calendar, form
from bot.domain.form import FormField, Kind
from bot.domain.render import display, member_line
from bot.domain.values import InvalidInput, clean_text
from bot.domain.workflow import EDITABLE, Status
from bot.i18n import Markup, Translator
from bot.ordering import PerUserOrder
from bot.runtime import APPLICATIONS, Rq, handler, run_as
from bot.services import drafts
from conversations import season_entry
from storage import repo
from storage.models import Application as App

log = logging.getLogger(__name__)

FORM = "form"
NAME = "apply"
BAR = 10


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


def step_of(app: App) -> str:
    return str((app.wizard or {}).get("step") or "summary")


def _first_open_step(app: App, files: dict[str, int]) -> str:
    for f in form.STEPS:
        if not form.is_answered(f, app.answers or {}, files) and drafts.may_edit(app, f.key):
            return f.key
    return "summary"


# --------------------------------------------------------------------------- rendering


def kb(rows: list[list[Btn]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([r for r in rows if r])


def position(app: App) -> str:
    """Where the wizard stands, down to a member's question; carried by every wizard button."""
    w = app.wizard or {}
    m = w.get("m") or {}
    pos = step_of(app)
    if m.get("f"):
        pos += "-" + str(m["f"]).removeprefix("member_")
    elif m.get("pick") is not None:
        pos += "-pick"
    return pos


def button(t: Translator, app: App, op: Op, v: str | None = None, *, label: str | None = None,
           key: str | None = None) -> Btn:
    return Btn(label if label is not None else t(key or f"wizard.button.{op.name.lower()}"),
               callback_data=cb.Wiz(app.id, op, v, position(app)).encode())


def progress(t: Translator, key: str) -> str:
    n, total = form.step_index(key), len(form.STEPS)
    filled = round(BAR * n / total)
    return t("wizard.progress", n=n, total=total, bar=Markup("▰" * filled + "▱" * (BAR - filled)))


def union_names(unions: Any, lang: str) -> dict[int, str]:
    return {u.id: u.name(lang) for u in unions}


async def current_value(rq: Rq, app: App, f: FormField) -> str:
    value = (app.answers or {}).get(f.key)
    if f.kind is Kind.UNION and value is not None:
        return display(f, value, rq.t, unions=union_names(await repo.unions_for_display(rq.session), rq.lang))
    return display(f, value, rq.t)


def nav_row(rq: Rq, app: App, f: FormField, answered: bool) -> list[Btn]:
    t = rq.t
    row: list[Btn] = []
    if (app.wizard or {}).get("mode") != "edit" and drafts.previous_step(app, f.key):
        row.append(button(t, app, Op.BACK))
    if not f.required:
        row.append(button(t, app, Op.SKIP))
    if answered and f.kind not in (Kind.PHOTOS, Kind.MEMBERS):
        row.append(button(t, app, Op.KEEP))
    if (app.wizard or {}).get("mode") == "edit" or app.wizard.get("seen_summary"):
        row.append(button(t, app, Op.SUMMARY))
    return row


async def render_step(rq: Rq, app: App, note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    key = step_of(app)
    if key == "summary":
        return await render_summary(rq, app, note)
    if key == "confirm":
        return render_confirm(rq, app, note)
    f = form.BY_KEY[key]
    if f.kind is Kind.MEMBERS:
        return render_members(rq, app, note)
    if f.kind is Kind.PHOTOS:
        return await render_photos(rq, app, note)
    t = rq.t
    files = files_of(app)
    answered = form.is_answered(f, app.answers or {}, files)
    parts = [note] if note else []
    parts += [progress(t, key), f"<b>{t(f.label_key)}</b>", t(f.prompt_key)]
    if t.has(f.example_key):
        parts.append(t("wizard.example", example=t(f.example_key)))
    buf = (app.wizard or {}).get("buf") or []
    if buf:
        parts.append(t("wizard.buffer", chars=sum(len(b) for b in buf), max=f.max_len))
    elif answered:
        shown = await current_value(rq, app, f)
        if f.kind is Kind.DOCUMENT:
            shown = document_state(rq, app, f, files)
        if shown:
            parts.append(t("wizard.current", value=_clip(shown)))
    rows: list[list[Btn]] = []
    if f.kind is Kind.UNION:
        unions = [u for u in await repo.unions_for_display(rq.session) if u.active]
        btns = [button(t, app, Op.UNION, str(u.id), label=u.name(rq.lang)) for u in unions]
        rows += [btns[i : i + 2] for i in range(0, len(btns), 2)]
    elif f.kind is Kind.YESNO:
        rows.append([button(t, app, Op.YES, key="common.yes"), button(t, app, Op.NO, key="common.no")])
    elif f.kind is Kind.CHOICE:
        btns = [button(t, app, Op.CHOICE, o, label=t(f"choice.{f.choices}.{o}")) for o in f.options()]
        rows += [btns[i : i + 2] for i in range(0, len(btns), 2)]
        if f.allow_other:
            rows.append([button(t, app, Op.OTHER)])
    elif f.kind in (Kind.LONGTEXT, Kind.LINES, Kind.DOCUMENT):
        rows.append([button(t, app, Op.DONE)])
        if buf:
            rows.append([button(t, app, Op.CLEAR)])
    elif f.kind is Kind.VIDEO and files.get(f.key):
        atts = await repo.attachments(rq.session, app.id, f.key)
        rows.append([button(t, app, Op.FILE_DEL, str(a.id), label=t("wizard.button.remove_video")) for a in atts])
        rows.append([button(t, app, Op.DONE)])
    rows.append(nav_row(rq, app, f, answered))
    return "\n\n".join(parts), kb(rows)


def document_state(rq: Rq, app: App, f: FormField, files: dict[str, int]) -> str:
    bits = []
    if files.get(f.key):
        bits.append(rq.t("wizard.files_count", n=files[f.key]))
    text = (app.answers or {}).get(f.key)
    if text:
        bits.append(str(text))
    return "\n".join(bits)


def _clip(text: str, n: int = 600) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render_members(rq: Rq, app: App, note: str | None) -> tuple[str, InlineKeyboardMarkup]:
    t = rq.t
    w = app.wizard or {}
    m = w.get("m")
    if m and m.get("f"):
        return render_member_field(rq, app, m, note)
    members = (app.answers or {}).get("members") or []
    if m and m.get("pick") is not None:
        i = int(m["pick"])
        row = members[i]
        lines = [note] if note else []
        lines += [t("members.edit_which", n=i + 1, name=row.get("name", ""))]
        btns = [
            button(t, app, Op.MEMBER_FIELD, mf.key.removeprefix("member_"), label=t(mf.label_key))
            for mf in form.MEMBER_FIELDS
        ]
        pick_rows = [btns[j : j + 2] for j in range(0, len(btns), 2)]
        pick_rows.append([button(t, app, Op.BACK)])
        return "\n\n".join(lines), kb(pick_rows)
    parts = [note] if note else []
    parts += [progress(t, "members"), f"<b>{t('field.members.label')}</b>", t("field.members.prompt")]
    if members:
        listing = "\n".join(f"{i}. {_escape(member_line(r, t))}" for i, r in enumerate(members, start=1))
        parts.append(t("members.list", n=len(members), rows=form.PRINTED_MEMBER_ROWS) + "\n" + listing)
    else:
        parts.append(t("members.none"))
    rows: list[list[Btn]] = []
    for i, r in enumerate(members):
        edit_label = t.plain("members.button.edit", n=i + 1, name=r.get("name", ""))
        rows.append([
            button(t, app, Op.MEMBER_EDIT, str(i), label=edit_label),
            button(t, app, Op.MEMBER_DEL, str(i), label=t("members.button.remove", n=i + 1)),
        ])
    rows.append([button(t, app, Op.MEMBER_ADD, key="members.button.add" if not members else "members.button.more")])
    if members:
        rows.append([button(t, app, Op.DONE)])
    rows.append(nav_row(rq, app, form.BY_KEY["members"], False))
    return "\n\n".join(parts), kb(rows)


def render_member_field(rq: Rq, app: App, m: dict[str, Any], note: str | None) -> tuple[str, InlineKeyboardMarkup]:
    t = rq.t
    mf = form.BY_KEY[m["f"]]
    idx = [f.key for f in form.MEMBER_FIELDS].index(mf.key) + 1
    number = (m["i"] + 1) if m.get("i") is not None else len((app.answers or {}).get("members") or []) + 1
    parts = [note] if note else []
    parts += [t("members.progress", n=number, k=idx, total=len(form.MEMBER_FIELDS)),
              f"<b>{t(mf.label_key)}</b>", t(mf.prompt_key)]
    if t.has(mf.example_key):
        parts.append(t("wizard.example", example=t(mf.example_key)))
    rows: list[list[Btn]] = []
    if mf.kind is Kind.CHOICE:
        btns = [button(t, app, Op.CHOICE, o, label=t(f"choice.{mf.choices}.{o}")) for o in mf.options()]
        rows += [btns[i : i + 2] for i in range(0, len(btns), 2)]
        if mf.allow_other:
            rows.append([button(t, app, Op.OTHER)])
    rows.append([button(t, app, Op.BACK)])
    return "\n\n".join(parts), kb(rows)


PHOTOS = "photos"  # Rq.cache "photos:<app id>": the photos this update listed and added to


async def render_photos(rq: Rq, app: App, note: str | None) -> tuple[str, InlineKeyboardMarkup]:
    t = rq.t
    atts = rq.cache.pop(f"{PHOTOS}:{app.id}", None) or await repo.attachments(rq.session, app.id, "photos")
    n = len(atts)
    parts = [note] if note else []
    parts += [progress(t, "photos"), f"<b>{t('field.photos.label')}</b>", t("field.photos.prompt"),
              t("photos.counter", n=n, max=form.MAX_PHOTOS, min=form.MIN_PHOTOS)]
    rows: list[list[Btn]] = []
    btns = [button(t, app, Op.FILE_DEL, str(a.id), label=t("photos.button.remove", n=i))
            for i, a in enumerate(atts, start=1)]
    rows += [btns[i : i + 3] for i in range(0, len(btns), 3)]
    if n >= form.MIN_PHOTOS:
        rows.append([button(t, app, Op.DONE)])
    rows.append(nav_row(rq, app, form.BY_KEY["photos"], n >= form.MIN_PHOTOS))
    return "\n\n".join(parts), kb(rows)


async def summary_text(rq: Rq, app: App) -> str:
    """The whole application, section by section (used by the applicant's summary)."""
    t = rq.t
    files = files_of(app)
    unions = union_names(await repo.unions_for_display(rq.session), rq.lang)
    out = [t("summary.title", number=app.number or t("summary.no_number"))]
    answers = app.answers or {}
    for section in form.SECTIONS:
        lines = []
        for f in form.section_fields(section):
            if f.kind is Kind.PHOTOS:
                value = t("photos.counter", n=files.get(f.key, 0), max=form.MAX_PHOTOS, min=form.MIN_PHOTOS)
            elif f.kind in (Kind.VIDEO, Kind.DOCUMENT):
                value = document_state(rq, app, f, files) if form.is_answered(f, answers, files) else ""
                value = value or (t("summary.skipped") if f.key in answers else "")
            else:
                value = display(f, answers.get(f.key), t, unions=unions)
            shown = _clip(value, 300) if value else t("summary.missing" if f.required else "summary.skipped")
            sep = "\n" if "\n" in shown or len(shown) > 40 else " "
            lines.append(f"<b>{t(f.label_key)}</b>:{sep}{_escape(shown)}")
        out.append(f"<u>{t(f'section.{section}')}</u>\n" + "\n".join(lines))
    return "\n\n".join(out)


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


async def render_summary(rq: Rq, app: App, note: str | None) -> tuple[str, InlineKeyboardMarkup]:
    t = rq.t
    files = files_of(app)
    text = await summary_text(rq, app)
    gaps = drafts.missing(app, files)
    tail = []
    if gaps:
        labels = t.join([t(form.BY_KEY[k].label_key) for k in gaps[:6]])
        tail.append(t("summary.gaps", fields=labels))
    failed = form.failed_conditions(app.answers or {})
    if failed:
        tail.append(t("summary.ineligible"))
    season = await repo.season(rq.session, app.season_year)
    if season is not None and Status(app.status) is Status.DRAFT:
        left = calendar.days_left(season.deadline, rq.svc.clock.now(), rq.svc.settings.tz)
        tail.append(t("summary.deadline", date=season.deadline.isoformat(), days=max(left, 0)))
    body = "\n\n".join(([note] if note else []) + [text] + tail)
    rows: list[list[Btn]] = []
    btns = [button(t, app, Op.EDIT, s, label=t("summary.button.edit", section=t(f"section.{s}")))
            for s in form.SECTIONS if any(drafts.may_edit(app, f.key) for f in form.section_fields(s))]
    rows += [btns[i : i + 2] for i in range(0, len(btns), 2)]
    rows.append([button(t, app, Op.SUBMIT, key="summary.button.submit")])
    return body, kb(rows)


def render_confirm(rq: Rq, app: App, note: str | None) -> tuple[str, InlineKeyboardMarkup]:
    t = rq.t
    parts = ([note] if note else []) + [t("submit.declaration")]
    rows = [[button(t, app, Op.CONFIRM, key="submit.button.confirm")],
            [button(t, app, Op.SUMMARY)]]
    return "\n\n".join(parts), kb(rows)


async def show(rq: Rq, app: App, note: str | None = None, *, edit: bool = False) -> None:
    text, markup = await render_step(rq, app, note)
    if edit:
        rq.edit(text, markup)
    else:
        rq.reply(text, markup)


# --------------------------------------------------------------------------- moving


async def goto(rq: Rq, app: App, step: str, note: str | None = None, *, edit: bool = False) -> None:
    changes: dict[str, Any] = {"step": step, "buf": None, "m": None, "other": None}
    if step == "summary":
        changes["mode"] = None
        changes["seen_summary"] = True
    drafts.set_wizard(app, **changes)
    await show(rq, app, note, edit=edit)


async def advance(rq: Rq, app: App, key: str, note: str | None = None) -> None:
    files = files_of(app)
    await goto(rq, app, drafts.next_step(app, files, key), note)


async def accept(rq: Rq, app: App, f: FormField, value: Any) -> None:
    """Store one answer and move on."""
    drafts.set_answer(app, f.key, value, rq.svc.clock.now())
    note = rq.t("wizard.saved")
    if f.kind is Kind.YESNO and value is False:
        note = rq.t("elig.failed", condition=rq.t(f.label_key))
    await advance(rq, app, f.key, note)


# --------------------------------------------------------------------------- handlers


@handler
async def cmd_apply(rq: Rq) -> str | int:
    st = await standing(rq)
    if st.current is None and st.previous is not None:  # a new season: last year's answers or a fresh form
        rq.reply(*season_entry.offer(rq.t, st))
        return FORM
    app = st.current or (await drafts.find_or_create(rq.session, rq.user.id, rq.svc.clock.now(),
                                                     rq.svc.settings.tz))[0]
    return await _open(rq, app)


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
        if source is not None else rq.t("apply.intro")
    if lost:
        note += "\n" + rq.t("season_entry.files_lost", n=lost)
    return await _open(rq, app, note)


async def _open(rq: Rq, app: App, note: str | None = None) -> str | int:
    if not drafts.editable(app):
        rq.reply(rq.t("apply.not_editable", number=app.number or "", status=rq.t(f"status.{app.status}")))
        return ConversationHandler.END
    files = files_of(app)
    if not (app.wizard or {}).get("step"):
        drafts.set_wizard(app, step=_first_open_step(app, files))
    if note is None and not app.answers:
        note = rq.t("apply.intro")
    elif note is None:
        note = rq.t("apply.returned", number=app.number or "") if Status(app.status) is not Status.DRAFT \
            else rq.t("apply.resume")
    await show(rq, app, note)
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


def _wanted(f: FormField, m: dict[str, Any] | None) -> str:
    if m and m.get("f"):
        mf = form.BY_KEY[m["f"]]
        return "buttons" if mf.kind is Kind.CHOICE and not mf.allow_other else "text"
    if f.kind in (Kind.UNION, Kind.YESNO) or (f.kind is Kind.CHOICE and not f.allow_other):
        return "buttons"
    if f.kind is Kind.MEMBERS:
        return "buttons"
    if f.kind is Kind.PHOTOS:
        return "photo"
    if f.kind is Kind.VIDEO:
        return "video"
    if f.kind is Kind.DOCUMENT:
        return "document"
    return "text"


async def _hint(rq: Rq, app: App, got: str, want: str) -> None:
    note = "⚠️ " + rq.t("wrong.hint", got=rq.t(f"msgkind.{got}"), want=rq.t(f"wrong.want.{want}"))
    await show(rq, app, note)


@handler
async def on_message(rq: Rq) -> str | int:
    msg = rq.update.effective_message
    assert msg is not None
    app = await active_application(rq, create=False)
    if app is None or not drafts.editable(app):
        rq.reply(rq.t("apply.gone"))
        return ConversationHandler.END
    key = step_of(app)
    got = _message_kind(msg)
    f = form.BY_KEY.get(key)
    w = app.wizard or {}
    m = w.get("m")
    want = _wanted(f, m) if f is not None else "buttons"
    takes_file = want in ("photo", "video", "document") and got in ("photo", "video", "video_note", "document")
    if msg.media_group_id and not takes_file:
        hinted: dict[int, str] = rq.svc.extra.setdefault("album_hints", {})  # memory only: not the draft
        if hinted.get(rq.user.id) == msg.media_group_id:
            return FORM  # one answer for a whole album
        hinted[rq.user.id] = msg.media_group_id
    if f is None:
        await show(rq, app, rq.t("wizard.use_buttons_summary"))
    elif got == "text" and want in ("text", "document") or (got == "text" and w.get("other")):
        await _on_text(rq, app, f, msg.text or "")
    elif got == "text" and want == "buttons" and m and m.get("f"):
        await _on_member_text(rq, app, msg.text or "")
    elif takes_file:
        await _on_file(rq, app, f, msg)
    else:
        await _hint(rq, app, got, want)
    return FORM
    f = form.BY_KEY[key]
    w = app.wizard or {}
    m = w.get("m")
    want = _wanted(f, m)
    if got == "text" and want in ("text", "document") or (got == "text" and w.get("other")):
        await _on_text(rq, app, f, msg.text or "")
    elif got == "text" and want == "buttons" and m and m.get("f"):
        await _on_member_text(rq, app, msg.text or "")
    elif want in ("photo", "video", "document") and got in ("photo", "video", "video_note", "document"):
        await _on_file(rq, app, f, msg)
    else:
        group = msg.media_group_id
        hinted = rq.svc.extra.setdefault("album_hints", {})  # memory only: not the draft
        if group and hinted.get(rq.user.id) == group:
            return FORM  # one answer for a whole album
        if group:
            hinted[rq.user.id] = group
        await _hint(rq, app, got, want)
    return FORM


async def _on_text(rq: Rq, app: App, f: FormField, text: str) -> None:
    w = app.wizard or {}
    if w.get("m") and w["m"].get("f"):
        await _on_member_text(rq, app, text)
        return
    if f.kind in (Kind.LONGTEXT, Kind.LINES, Kind.DOCUMENT):
        buf = list(w.get("buf") or [])
        text = clean_text(text)  # counted as the parser counts it
        total = sum(len(b) for b in buf) + len(text)
        if total > f.max_len:
            await show(rq, app, rq.t("error.too_long", max=f.max_len, length=total))
            return
        try:
            f.parse(text, today=rq.svc.today())
        except InvalidInput as exc:
            await show(rq, app, _error(rq, exc, f))
            return
        buf.append(text)
        drafts.set_wizard(app, buf=buf)
        await show(rq, app, rq.t("wizard.buffer_saved"))
        return
    try:
        value = f.parse(text, today=rq.svc.today())
    except InvalidInput as exc:
        await show(rq, app, _error(rq, exc, f))
        return
    await accept(rq, app, f, value)


def _error(rq: Rq, exc: InvalidInput, f: FormField) -> str:
    msg = rq.t(f"error.{exc.code}", **exc.params)
    if rq.t.has(f.example_key):
        msg += "\n" + rq.t("wizard.example", example=rq.t(f.example_key))
    return "⚠️ " + msg


async def _on_member_text(rq: Rq, app: App, text: str) -> None:
    m = dict((app.wizard or {}).get("m") or {})
    mf = form.BY_KEY[m["f"]]
    try:
        value = mf.parse(text, today=rq.svc.today())
    except InvalidInput as exc:
        await show(rq, app, _error(rq, exc, mf))
        return
    await _member_value(rq, app, m, mf, value)


async def _member_value(rq: Rq, app: App, m: dict[str, Any], mf: FormField, value: Any) -> None:
    now = rq.svc.clock.now()
    short = mf.key.removeprefix("member_")
    members = [dict(r) for r in (app.answers or {}).get("members") or []]
    if m.get("i") is not None:  # editing one field of an existing member
        members[int(m["i"])][short] = value
        drafts.set_answer(app, "members", members, now)
        drafts.set_wizard(app, m=None, other=None)
        await show(rq, app, rq.t("members.updated"))
        return
    row = dict(m.get("row") or {})
    row[short] = value
    keys = [f.key for f in form.MEMBER_FIELDS]
    idx = keys.index(mf.key)
    if idx + 1 < len(keys):
        drafts.set_wizard(app, m={"f": keys[idx + 1], "row": row}, other=None)
        await show(rq, app, rq.t("wizard.saved"))
        return
    members.append(row)
    drafts.set_answer(app, "members", members, now)
    drafts.set_wizard(app, m=None, other=None)
    await show(rq, app, rq.t("members.added", name=row.get("name", ""), n=len(members)))


async def _on_file(rq: Rq, app: App, f: FormField, msg: Message) -> None:
    t = rq.t
    want = {Kind.PHOTOS: "photo", Kind.VIDEO: "video", Kind.DOCUMENT: "document"}[f.kind]
    album = msg.media_group_id
    try:
        item = fileio.incoming(msg, want)
        if item is None:
            raise fileio.FileRefused(f"file.want_{want}")
        existing = await repo.attachments(rq.session, app.id, f.key)
        if f.kind is Kind.PHOTOS and len(existing) >= form.MAX_PHOTOS:
            raise fileio.FileRefused("photos.too_many", max=form.MAX_PHOTOS)
        if f.kind is Kind.VIDEO and existing:
            raise fileio.FileRefused("file.one_video")
        if any(a.file_unique_id == item.file_unique_id for a in existing):
            raise fileio.FileRefused("file.duplicate")
        rel, size, sha = await fileio.download(rq.context.bot, item, rq.svc.settings.data_dir, str(app.id))
        rq.undo.append(lambda: (rq.svc.settings.data_dir / rel).unlink(missing_ok=True))
        if any(a.sha256 == sha for a in existing):
            (rq.svc.settings.data_dir / rel).unlink(missing_ok=True)
            raise fileio.FileRefused("file.duplicate")
    except fileio.FileRefused as exc:
        if album:
            _album_note(rq, app, album, refused=t(exc.key, **exc.params))
            return
        await show(rq, app, "⚠️ " + t(exc.key, **exc.params))
        return
    att = drafts.add_attachment(rq.session, app, f.key, fileio.stored(item, rel, size, sha), rq.svc.clock.now())
    await rq.session.flush()
    rq.cache[f"{PHOTOS}:{app.id}"] = [*existing, att] if f.kind is Kind.PHOTOS else None
    if album:
        _album_note(rq, app, album, added=True)
        return
    if f.kind is Kind.VIDEO:
        await advance(rq, app, f.key, t("file.video_saved"))
        return
    if f.kind is Kind.DOCUMENT:
        await show(rq, app, t("file.doc_saved", name=item.original_name or t("file.unnamed")))
        return
    await show(rq, app, t("photos.saved"))


def _album_note(rq: Rq, app: App, group: str, *, added: bool = False, refused: str | None = None) -> None:
    """Collect an album's items; one answer is sent when the album is complete."""
    w = app.wizard or {}
    album = dict(w.get("album") or {})
    if album.get("g") != group:
        album = {"g": group, "ok": 0, "bad": []}
    if added:
        album["ok"] += 1
    if refused:
        album["bad"] = [*album["bad"], refused]
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
    album = (app.wizard or {}).get("album")
    if not album:
        return
    parts = []
    if album.get("ok"):
        parts.append(rq.t("photos.album_added", n=album["ok"]))
    for reason in dict.fromkeys(album.get("bad") or []):
        parts.append("⚠️ " + reason)
    drafts.set_wizard(app, album=None)
    await show(rq, app, "\n".join(parts) or None)


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
            return ConversationHandler.END
        rq.refuse(rq.t("error.stale_button"), "not_own", app.id if app else None)
        return None  # type: ignore[return-value]
    if not drafts.editable(app):
        rq.refuse(rq.t("apply.not_editable", number=app.number or "", status=rq.t(f"status.{app.status}")),
                  "not_editable", app.id)
        return ConversationHandler.END
    if data.at is not None and data.at != position(app) and data.op is not Op.RESUME:
        rq.refuse(rq.t("wizard.stale_step"), "stale_step", app.id)  # a double tap or an older message
        return FORM
    await dispatch_button(rq, app, data)
    return FORM


async def dispatch_button(rq: Rq, app: App, data: cb.Wiz) -> None:  # noqa: C901 - one switch over ops
    t = rq.t
    key = step_of(app)
    op, v = data.op, data.v
    w = app.wizard or {}
    m = w.get("m")
    now = rq.svc.clock.now()

    if op is Op.RESUME:
        await show(rq, app)
        return
    if op is Op.SUMMARY:
        await goto(rq, app, "summary", edit=True)
        return
    if op is Op.EDIT:
        if v not in form.SECTIONS:
            rq.alert(t("error.bad_button"))
            return
        fields = [f for f in form.section_fields(v) if drafts.may_edit(app, f.key)]
        if not fields:
            rq.alert(t("apply.locked"))
            return
        drafts.set_wizard(app, mode="edit")
        await goto(rq, app, fields[0].key, edit=True)
        return
    if op is Op.SUBMIT:
        if key != "summary":  # the declaration is reached from the summary only
            rq.refuse(t("error.stale_button"), "submit_not_from_summary", app.id)
            return
        await goto(rq, app, "confirm", edit=True)
        return
    if op is Op.CONFIRM:
        if key != "confirm":  # submission only from the screen that showed the pledge
            rq.refuse(t("error.stale_button"), "confirm_without_pledge", app.id)
            return
        await _submit(rq, app)
        return
    if key in ("summary", "confirm"):
        rq.alert(t("error.stale_button"))
        return

    f = form.BY_KEY[key]
    files = files_of(app)

    # member sub-flow
    if f.kind is Kind.MEMBERS:
        await _members_button(rq, app, op, v, m)
        return

    if op is Op.BACK:
        prev = drafts.previous_step(app, key)
        if prev is None:
            rq.toast(t("wizard.first_step"))
            return
        await goto(rq, app, prev, edit=True)
        return
    if op is Op.SKIP:
        if f.required:
            rq.alert(t("wizard.required"))
            return
        if not form.is_answered(f, app.answers or {}, files):
            drafts.set_answer(app, f.key, None, now)
        await advance(rq, app, f.key)
        return
    if op is Op.KEEP:
        if not form.is_answered(f, app.answers or {}, files):
            rq.alert(t("wizard.required"))
            return
        await advance(rq, app, f.key)
        return
    if op is Op.UNION and f.kind is Kind.UNION:
        unions = {u.id for u in await repo.unions_for_display(rq.session) if u.active}
        if v is None or not v.isdigit() or int(v) not in unions:
            rq.alert(t("error.bad_button"))
            return
        await accept(rq, app, f, int(v))
        return
    if op in (Op.YES, Op.NO) and f.kind is Kind.YESNO:
        await accept(rq, app, f, op is Op.YES)
        return
    if op is Op.CHOICE and f.kind is Kind.CHOICE:
        if v not in f.options():
            rq.alert(t("error.bad_button"))
            return
        await accept(rq, app, f, v)
        return
    if op is Op.OTHER and f.allow_other:
        drafts.set_wizard(app, other=True)
        rq.reply(t("wizard.type_other", field=t(f.label_key)))
        return
    if op is Op.CLEAR:
        drafts.set_wizard(app, buf=None)
        await show(rq, app, t("wizard.cleared"), edit=True)
        return
    if op is Op.DONE:
        await _done(rq, app, f, files)
        return
    if op is Op.FILE_DEL and f.kind in (Kind.PHOTOS, Kind.VIDEO, Kind.DOCUMENT):
        atts = {str(a.id): a for a in await repo.attachments(rq.session, app.id, f.key)}
        att = atts.get(v or "")
        if att is None:
            rq.alert(t("error.stale_button"))
            return
        await rq.session.delete(att)
        await rq.session.flush()
        drafts.count_file(app, f.key, -1)
        gone = rq.svc.settings.data_dir / att.stored_path

        async def unlink() -> None:  # only once the removal is committed
            gone.unlink(missing_ok=True)

        rq.later(unlink)
        repo.audit(rq.session, now, "file_removed", application_id=app.id, actor_id=rq.user.id,
                   details={"field": f.key, "sha256": att.sha256})
        await show(rq, app, t("photos.removed"), edit=True)
        return
    rq.alert(t("error.stale_button"))


async def _done(rq: Rq, app: App, f: FormField, files: dict[str, int]) -> None:
    t = rq.t
    buf = (app.wizard or {}).get("buf") or []
    if f.kind is Kind.PHOTOS:
        n = files.get(f.key, 0)
        if n < form.MIN_PHOTOS:
            rq.alert(t("photos.too_few", n=n, min=form.MIN_PHOTOS))
            return
        await advance(rq, app, f.key)
        return
    if buf:
        try:
            value = f.parse("\n".join(buf), today=rq.svc.today())
        except InvalidInput as exc:
            rq.alert(t(f"error.{exc.code}", **exc.params))
            return
        drafts.set_wizard(app, buf=None)
        await accept(rq, app, f, value)
        return
    if form.is_answered(f, app.answers or {}, files):
        await advance(rq, app, f.key)
        return
    rq.alert(t("wizard.nothing_yet"))


async def _members_button(rq: Rq, app: App, op: Op, v: str | None, m: dict[str, Any] | None) -> None:
    t = rq.t
    now = rq.svc.clock.now()
    members = [dict(r) for r in (app.answers or {}).get("members") or []]
    keys = [f.key for f in form.MEMBER_FIELDS]
    if m and m.get("f"):  # inside a member's question
        mf = form.BY_KEY[m["f"]]
        if op is Op.CHOICE and mf.kind is Kind.CHOICE and v in mf.options():
            await _member_value(rq, app, m, mf, v)
            return
        if op is Op.OTHER and mf.allow_other:
            drafts.set_wizard(app, other=True)
            rq.reply(t("wizard.type_other", field=t(mf.label_key)))
            return
        if op is Op.BACK:
            idx = keys.index(mf.key)
            if m.get("i") is None and idx > 0:
                drafts.set_wizard(app, m={**m, "f": keys[idx - 1]})
            else:
                drafts.set_wizard(app, m=None)
            await show(rq, app, edit=True)
            return
        rq.alert(t("error.stale_button"))
        return
    if op is Op.MEMBER_ADD:
        drafts.set_wizard(app, m={"f": keys[0], "row": {}})
        await show(rq, app, edit=True)
        return
    if op in (Op.MEMBER_EDIT, Op.MEMBER_DEL) and v is not None and v.isdigit() and int(v) < len(members):
        i = int(v)
        if op is Op.MEMBER_DEL:
            removed = members.pop(i)
            drafts.set_answer(app, "members", members, now)
            await show(rq, app, t("members.removed", name=removed.get("name", "")), edit=True)
        else:
            drafts.set_wizard(app, m={"pick": i})
            await show(rq, app, edit=True)
        return
    if op is Op.MEMBER_FIELD and m and m.get("pick") is not None and f"member_{v}" in keys:
        drafts.set_wizard(app, m={"f": f"member_{v}", "i": int(m["pick"])})
        await show(rq, app, edit=True)
        return
    if op is Op.BACK:
        if m:
            drafts.set_wizard(app, m=None)
            await show(rq, app, edit=True)
            return
        prev = drafts.previous_step(app, "members")
        await goto(rq, app, prev or "members", edit=True)
        return
    if op is Op.DONE:
        if not members:
            rq.alert(t("members.at_least_one"))
            return
        await advance(rq, app, "members")
        return
    if op is Op.SUMMARY:
        await goto(rq, app, "summary", edit=True)
        return
    rq.alert(t("error.stale_button"))


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
        await show(rq, app, "⛔ " + t(exc.key, **params), edit=True)
        return
    record_pledge(rq, app)
    rq.edit(t("submit.receipt", number=app.number, date=app.application_date.isoformat() if app.application_date
              else "", status=t(f"status.{app.status}")))
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


def register(app: Application) -> None:  # type: ignore[type-arg]
    # Buttons are tracked per chat on purpose: the cursor lives in the database, not per message.
    warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
    conv = ConversationHandler(
        entry_points=[
            CommandHandler("apply", cmd_apply),
            CallbackQueryHandler(on_button, pattern=cb.Wiz.pattern()),
            CallbackQueryHandler(on_new_season, pattern=season_entry.NewSeason.pattern()),
        ],
        states={
            FORM: [
                CommandHandler("apply", cmd_apply),
                CallbackQueryHandler(on_button, pattern=cb.Wiz.pattern()),
                CallbackQueryHandler(on_new_season, pattern=season_entry.NewSeason.pattern()),
                MessageHandler(~filters.COMMAND & ~filters.StatusUpdate.ALL, on_message),
            ],
        },
        fallbacks=[CommandHandler("cancel", cmd_cancel)],
        name=NAME,
        persistent=True,
        allow_reentry=True,
    )
    app.add_handler(conv)


async def recover_albums(application: Application) -> int:  # type: ignore[type-arg]
    """After a restart, answer albums whose single reply was still pending (the job is gone)."""
    from sqlalchemy import String, cast, select

    from bot.runtime import BotContext, services_of

    svc = services_of(application)
    async with svc.db.session() as s:
        rows = (await s.execute(select(App.id, App.applicant_id).where(
            App.status.in_([x.value for x in EDITABLE]),
            cast(App.wizard, String).like('%"album"%')))).all()
    context = BotContext(application)
    for _, user_id in rows:

        async def body(rq: Rq) -> None:
            app = await active_application(rq, create=False)
            if app is not None:
                await answer_album(rq, app)

        await run_as(context, user_id, user_id, body)
    return len(rows)
