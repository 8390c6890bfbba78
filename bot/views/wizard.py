"""The applicant's wizard as pure screens: every step, the members table and its pasted preview, the
photos, the summary and the pledge. The handler (`conversations/apply.py`) loads a `Draft` and replies
with what these functions return; nothing here reads the database or talks to Telegram."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.callbacks import WizardOp as Op
from bot.domain import calendar, form
from bot.domain.form import FormField
from bot.domain.kinds import Ask
from bot.domain.render import display, member_line
from bot.domain.wizard_state import MemberCursor, WizardState
from bot.domain.workflow import UNSUBMITTED, Status
from bot.i18n import Markup, Translator
from bot.views import results as result_views
from bot.views.common import clip, esc, kb, pairs
from storage.models import Application as App
from storage.models import Attachment, Season

BAR = 10
CLIP = 300  # characters of an answer the summary shows; "show all" sends the rest
CURRENT_CLIP = 600  # characters of the current answer shown on a step
LABEL_CUT = 24  # characters of a list item or file name on a button

Screen = tuple[str, InlineKeyboardMarkup]


@dataclass
class Draft:
    """What the wizard's screens show, loaded once per update by the handler."""

    t: Translator
    app: App
    unions: Mapping[int, str] = field(default_factory=dict)  # every union, names in the reader's language
    offered: Sequence[tuple[int, str]] = ()  # the active unions, for the union step
    atts: Mapping[str, Sequence[Attachment]] = field(default_factory=dict)  # files by field
    season: Season | None = None
    now: datetime | None = None
    tz: Any = None
    obstacles: Sequence[tuple[str, Mapping[str, Any]]] = ()  # what stands in the way of submitting
    editable: frozenset[str] = frozenset()  # keys of the fields that may change
    recorded: Sequence[Mapping[str, Any]] | None = None  # results of the last year on record (R-E5)
    _state: WizardState | None = field(default=None, repr=False)
    _stored: Any = field(default=None, repr=False)

    @property
    def answers(self) -> dict[str, Any]:
        return dict(self.app.answers or {})

    @property
    def state(self) -> WizardState:
        raw = self.app.wizard
        if self._stored is not raw or self._state is None:  # written anew with every change
            self._state, self._stored = WizardState.of(raw), raw
        return self._state

    @property
    def files(self) -> dict[str, int]:
        return dict(self.app.files or {})


def step_of(app: App) -> str:
    return WizardState.of(app.wizard).step or "summary"


def position(app: App) -> str:
    """Where the wizard stands (`WizardState.position`), carried by every wizard button."""
    return WizardState.of(app.wizard).position()


def button(d: Draft, op: Op, v: str | None = None, *, label: str | None = None, key: str | None = None) -> Btn:
    return Btn(label if label is not None else d.t.plain(key or f"wizard.button.{op.name.lower()}"),
               callback_data=cb.Wiz(d.app.id, op, v, d.state.position()).encode())


def progress(t: Translator, key: str) -> str:
    n, total = form.step_index(key), len(form.STEPS)
    filled = round(BAR * n / total)
    return t("wizard.progress", n=n, total=total, bar=Markup("▰" * filled + "▱" * (BAR - filled)))


# --------------------------------------------------------------------------- the season's window


def _until(opens: date, deadline: date) -> str:
    return deadline.strftime("%m-%d") if deadline.year == opens.year else deadline.isoformat()


def season_line(t: Translator, season: Season | None, now: datetime | None, tz: Any) -> str:
    """The season's window in its own words, with how long is left ('' without a season)."""
    if season is None or now is None:
        return ""
    opens, deadline = season.opens_on, season.deadline
    params = {"year": season.year, "opens": opens.isoformat(), "until": _until(opens, deadline),
              "deadline": deadline.isoformat()}
    if calendar.is_late(deadline, now, tz):
        return t("summary.closed", **params)
    if now < calendar.opens_at(opens, tz):
        days = (opens - now.astimezone(tz).date()).days
        return t("summary.not_open", days=days, **params)
    return t("summary.deadline", days=max(calendar.days_left(deadline, now, tz), 0), **params)


def window_line(d: Draft) -> str:
    """The window, for an application the deadline still binds (a draft, or returned at level 1)."""
    if Status(d.app.status) not in UNSUBMITTED:
        return ""
    return season_line(d.t, d.season, d.now, d.tz)


# --------------------------------------------------------------------------- values


def file_names(t: Translator, atts: Sequence[Attachment]) -> list[str]:
    return [a.original_name or t.plain("file.unnamed") for a in atts]


def shown_value(d: Draft, f: FormField) -> str:
    """A field's answer as plain text for the summary and the step ('' when unanswered)."""
    t, answers = d.t, d.answers
    if f.ask is Ask.PHOTOS:
        n = d.files.get(f.key, 0)
        return t.plain("photos.counter", n=n, max=form.MAX_PHOTOS, min=form.MIN_PHOTOS) if n else ""
    if f.ask in (Ask.VIDEO, Ask.DOCUMENT):
        bits = [f"📎 {name}" for name in file_names(t, d.atts.get(f.key, ()))]
        if not bits and d.files.get(f.key):
            bits.append(t.plain("wizard.files_count", n=d.files[f.key]))
        text = answers.get(f.key)
        if text:
            bits.append(str(text))
        return "\n".join(bits)
    return display(f, answers.get(f.key), t, unions=d.unions)


def label_sep(t: Translator, label: str, value: str) -> str:
    """`<b>label</b>：value` (the language's own colon), the value below when it is long."""
    sep = t.plain("summary.sep")
    gap = "\n" if "\n" in value or len(value) > 40 else ""
    return f"<b>{esc(label)}</b>{sep.rstrip() if gap else sep}{gap}{esc(value)}"


def summary_text(d: Draft, *, limit: int | None = CLIP) -> str:
    """The whole application, section by section; answers longer than `limit` are cut (the applicant's
    summary offers them whole with a button; None: every answer whole)."""
    t = d.t
    out = [t("summary.title", number=d.app.number or t("summary.no_number"))]
    answers = d.answers
    for section in form.SECTIONS:
        lines = []
        for f in form.section_fields(section):
            value = shown_value(d, f)
            if not value and f.key in answers and not f.required:
                value = t.plain("summary.skipped")
            if not value:
                value = t.plain("summary.missing" if f.required else "summary.skipped")
            elif limit is not None and len(value) > limit:
                value = clip(value, limit) + t.plain("summary.cut", n=len(value))
            lines.append(label_sep(t, t.plain(f.label_key), value))
        out.append(f"<u>{t(f'section.{section}')}</u>\n" + "\n".join(lines))
    return "\n\n".join(out)


def long_fields(d: Draft, limit: int = CLIP) -> list[FormField]:
    """The fields whose answer the summary cuts."""
    return [f for f in form.STEPS if len(shown_value(d, f)) > limit]


def obstacle_lines(t: Translator, obstacles: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """What stands in the way of submitting, as the summary says it."""
    out = []
    for key, params in obstacles:
        if key == "submit.incomplete":
            names = [t.plain(form.BY_KEY[k].label_key) for k in params["fields"]]
            shown = t.join(names[:8]) + (t.plain("summary.and_more", n=len(names) - 8) if len(names) > 8 else "")
            out.append(t("summary.gaps", fields=shown, n=len(names)))
        elif key == "submit.ineligible":
            out.append(t("summary.ineligible"))
        elif key == "submit.not_open":
            out.append(t("summary.wait_open", opens=params["opens"].isoformat(),
                         deadline=params["deadline"].isoformat()))
        elif key == "submit.late":
            out.append(t("summary.too_late", deadline=params["deadline"].isoformat()))
        else:
            out.append(t(key))
    return out


def section_screen(d: Draft, section: str, note: str | None = None) -> Screen:
    """The fields of one section, each with its answer: the one pressed is asked on its own."""
    t = d.t
    fields = [f for f in form.section_fields(section) if f.key in d.editable]
    lines = [label_sep(t, t.plain(f.label_key), clip(shown_value(d, f) or t.plain("summary.missing"), 80))
             for f in fields]
    parts = ([note] if note else []) + [t("summary.pick_field", section=t.plain(f"section.{section}")),
                                        "\n".join(lines)]
    btns = [button(d, Op.FIELD, f.key, label=t.plain("summary.button.field", field=clip(t.plain(f.label_key), 20)))
            for f in fields]
    return "\n\n".join(parts), kb([*pairs(btns), [button(d, Op.SUMMARY)]])


def summary_screen(d: Draft, note: str | None = None) -> Screen:
    t = d.t
    if d.state.section:
        return section_screen(d, d.state.section, note)
    parts = ([note] if note else []) + [summary_text(d)]
    window = window_line(d)
    if window:
        parts.append(window)
    blocked = obstacle_lines(t, d.obstacles)
    parts += blocked or [t("summary.ready")]
    rows: list[list[Btn]] = []
    extra = [button(d, Op.FULL, f.key, label=t.plain("summary.button.full", field=clip(t.plain(f.label_key), 20)))
             for f in long_fields(d)]
    if d.files.get("photos"):
        extra.append(button(d, Op.ALBUM, key="summary.button.album"))
    rows += pairs(extra)
    btns = [button(d, Op.EDIT, s, label=t.plain("summary.button.edit", section=t.plain(f"section.{s}")))
            for s in form.SECTIONS if any(f.key in d.editable for f in form.section_fields(s))]
    rows += pairs(btns)
    if not d.obstacles:
        rows.append([button(d, Op.SUBMIT, key="summary.button.submit")])
    return "\n\n".join(parts), kb(rows)


def confirm_screen(d: Draft, note: str | None = None) -> Screen:
    t = d.t
    parts = ([note] if note else []) + [t("submit.declaration")]
    rows = [[button(d, Op.CONFIRM, key="submit.button.confirm")], [button(d, Op.SUMMARY)]]
    return "\n\n".join(parts), kb(rows)


def answered_line(d: Draft, f: FormField, value: Any) -> str:
    """A question with the answer it got, as its screen reads once the next one is there."""
    shown = display(f, value, d.t, unions=d.unions) if not f.kind_spec.file else shown_value(d, f)
    return label_sep(d.t, d.t.plain(f.label_key), clip(shown, CLIP)) + " ✓"


def full_text(d: Draft, f: FormField) -> str:
    """One answer whole, for the summary's "show all" button (long texts are split when sent)."""
    return f"<b>{esc(d.t.plain(f.label_key))}</b>\n\n{esc(shown_value(d, f))}"


# --------------------------------------------------------------------------- steps


def intro(d: Draft) -> str:
    """The first screen's head: what the wizard asks and the season's window."""
    parts = [d.t("apply.intro")]
    window = window_line(d)
    if window:
        parts.append(window)
    return "\n\n".join(parts)


def nav_row(d: Draft, f: FormField, answered: bool) -> list[Btn]:
    st = d.state
    row: list[Btn] = []
    if st.edit != "edit" and form.previous_step(f.key):
        row.append(button(d, Op.BACK))
    if not f.required:  # once something is given, the same button moves on with it
        given = f.ask in (Ask.VIDEO, Ask.DOCUMENT) and (d.files.get(f.key) or d.answers.get(f.key))
        done = "wizard.button.done" if f.ask is Ask.DOCUMENT else "wizard.button.next"
        row.append(button(d, Op.SKIP, key=done if given else None))
    if answered and f.kind_spec.keep and not st.parts:
        row.append(button(d, Op.KEEP))
    if st.edit == "edit" or st.seen_summary:
        row.append(button(d, Op.SUMMARY))
    return row


def choice_buttons(d: Draft, f: FormField) -> list[list[Btn]]:
    t = d.t
    btns = [button(d, Op.CHOICE, o, label=t.plain(f"choice.{f.choices}.{o}")) for o in f.options()]
    rows = pairs(btns)
    if f.allow_other:
        rows.append([button(d, Op.OTHER)])
    return rows


def step_keyboard(d: Draft, f: FormField) -> InlineKeyboardMarkup:
    """The buttons of step `f` as it stands (also carried by a short error or acknowledgement)."""
    st = d.state
    answered = form.is_answered(f, d.answers, d.files)
    if st.other:
        return kb([[button(d, Op.BACK)]])
    if f.ask is Ask.ITEMS and st.item is not None \
            and st.item < len(d.answers.get(f.key) or []):  # one item: replaced by the next text, or removed
        return kb([[button(d, Op.ITEM_DEL, str(st.item))], [button(d, Op.BACK)]])
    rows = _ASK_ROWS[f.ask](d, f, answered) if f.ask in _ASK_ROWS else []
    rows.append(nav_row(d, f, answered))
    return kb(rows)


Rows = list[list[Btn]]


def _union_rows(d: Draft, f: FormField, answered: bool) -> Rows:
    return pairs([button(d, Op.UNION, str(uid), label=name) for uid, name in d.offered])


def _yesno_rows(d: Draft, f: FormField, answered: bool) -> Rows:
    return [[button(d, Op.YES, key="common.yes"), button(d, Op.NO, key="common.no")]]


def _choice_rows(d: Draft, f: FormField, answered: bool) -> Rows:
    return choice_buttons(d, f)


def _lines_rows(d: Draft, f: FormField, answered: bool) -> Rows:
    buf = d.state.parts or []
    items = list(d.answers.get(f.key) or [])
    rows = pairs([button(d, Op.ITEM_PICK, str(i), label=d.t.plain(
        "wizard.button.item_pick", n=i + 1, item=clip(item, LABEL_CUT))) for i, item in enumerate(items)])
    if items or buf:
        rows.append([button(d, Op.DONE)])
    if buf:
        rows.append([button(d, Op.CLEAR)])
    return rows


def _longtext_rows(d: Draft, f: FormField, answered: bool) -> Rows:
    return [[button(d, Op.DONE), button(d, Op.CLEAR)]] if d.state.parts else []


def _document_rows(d: Draft, f: FormField, answered: bool) -> Rows:
    atts = d.atts.get(f.key, ())
    rows = [[button(d, Op.FILE_DEL, str(a.id), label=d.t.plain("wizard.button.file_del", name=clip(name, LABEL_CUT)))]
            for a, name in zip(atts, file_names(d.t, atts), strict=True)]
    if d.state.parts:
        rows.append([button(d, Op.DONE), button(d, Op.CLEAR)])
    elif answered and f.required:
        rows.append([button(d, Op.DONE)])
    return rows


def _video_rows(d: Draft, f: FormField, answered: bool) -> Rows:
    atts = d.atts.get(f.key)
    return [[button(d, Op.FILE_DEL, str(a.id), key="wizard.button.remove_video") for a in atts]] if atts else []


_ASK_ROWS: dict[Ask, Callable[[Draft, FormField, bool], Rows]] = {
    Ask.UNION: _union_rows, Ask.YESNO: _yesno_rows, Ask.CHOICE: _choice_rows, Ask.ITEMS: _lines_rows,
    Ask.PARTS: _longtext_rows, Ask.DOCUMENT: _document_rows, Ask.VIDEO: _video_rows,
}


def step_screen(d: Draft, note: str | None = None) -> Screen:
    """A question of the form (union, eligibility, a field, the video or a document)."""
    key = step_of(d.app)
    f = form.BY_KEY[key]
    if f.ask is Ask.MEMBERS:
        return members_screen(d, note)
    if f.ask is Ask.PHOTOS:
        return photos_screen(d, note)
    t, st = d.t, d.state
    if st.other:
        return other_screen(d, f, note)
    items = list(d.answers.get(f.key) or []) if f.ask is Ask.ITEMS else []
    if st.item is not None and st.item < len(items):
        i = st.item
        parts = ([note] if note else []) + [progress(t, key), t("wizard.item_edit", n=i + 1, item=items[i],
                                                                  each=f.max_len)]
        return "\n\n".join(parts), step_keyboard(d, f)
    parts = [note] if note else []
    parts += [progress(t, key), f"<b>{t(f.label_key)}</b>", t(f.prompt_key)]
    if t.has(f.example_key):
        parts.append(t("wizard.example", example=t(f.example_key)))
    if d.recorded is not None:
        parts.append(result_views.eligibility_hint(t, d.recorded))
    buf = st.parts or []
    if buf:
        parts.append(t("wizard.buffer", chars=sum(len(b) for b in buf), max=f.max_len, parts=len(buf)))
    elif f.ask is Ask.ITEMS and d.answers.get(f.key):
        items = d.answers[f.key]
        parts.append(t("wizard.items", n=len(items), max=f.max_items, each=f.max_len) + "\n"
                     + esc(display(f, items, t)))
    elif form.is_answered(f, d.answers, d.files):
        shown = shown_value(d, f)
        if shown:
            parts.append(t("wizard.current", value=clip(shown, CURRENT_CLIP)))
    return "\n\n".join(parts), step_keyboard(d, f)


def other_screen(d: Draft, f: FormField, note: str | None = None) -> Screen:
    """The free-text answer of a choice ("Other"), with the way back to the buttons."""
    t = d.t
    parts = ([note] if note else []) + [t("wizard.type_other", field=t(f.label_key))]
    current = d.answers.get(f.key)
    if current and current not in f.options():
        parts.append(t("wizard.current", value=str(current)))
    return "\n\n".join(parts), kb([[button(d, Op.BACK)]])


def short_reply(d: Draft, note: str) -> Screen:
    """A short answer on the current step (an error, a part received): the note with the step's
    buttons, without sending the whole question again."""
    key = step_of(d.app)
    f = form.BY_KEY.get(key)
    m = d.state.member
    if f is not None and f.ask is Ask.MEMBERS and m is not None and m.question and not d.state.other:
        mf = form.BY_KEY[m.question]
        return f"{note}\n\n{member_progress(d, m)}\n<b>{d.t(mf.label_key)}</b>", member_field_keyboard(d, mf)
    if f is None or f.ask in (Ask.MEMBERS, Ask.PHOTOS) or (m is not None and m.question):
        return screen(d, note)
    return f"{note}\n\n{progress(d.t, key)}\n<b>{d.t(f.label_key)}</b>", step_keyboard(d, f)


# --------------------------------------------------------------------------- members


def members_screen(d: Draft, note: str | None = None) -> Screen:
    t, st = d.t, d.state
    m = st.member
    if m is not None and m.question:
        return member_field_screen(d, m, note)
    members = list(d.answers.get("members") or [])
    if m is not None and m.pick is not None:
        i = m.pick
        row = members[i]
        lines = ([note] if note else []) + [t("members.edit_which", n=i + 1, name=row.get("name", ""))]
        btns = [button(d, Op.MEMBER_FIELD, mf.key.removeprefix("member_"), label=t.plain(mf.label_key))
                for mf in form.MEMBER_FIELDS]
        return "\n\n".join(lines), kb([*pairs(btns), [button(d, Op.BACK)]])
    if st.paste:
        return paste_screen(d, note)
    parts = [note] if note else []
    parts += [progress(t, "members"), f"<b>{t('field.members.label')}</b>", t("field.members.prompt"),
              t("members.paste_hint")]
    if members:
        listing = "\n".join(f"{i}. {esc(member_line(r, t))}" for i, r in enumerate(members, start=1))
        parts.append(t("members.list", n=len(members), rows=form.PRINTED_MEMBER_ROWS) + "\n" + listing)
    else:
        parts.append(t("members.none"))
    rows: list[list[Btn]] = []
    for i, r in enumerate(members):
        rows.append([
            button(d, Op.MEMBER_EDIT, str(i), label=t.plain("members.button.edit", n=i + 1,
                                                                 name=clip(str(r.get("name", "")), 12))),
            button(d, Op.MEMBER_DEL, str(i), label=t.plain("members.button.remove", n=i + 1)),
        ])
    if len(members) < form.MAX_MEMBERS:
        rows.append([button(d, Op.MEMBER_ADD, key="members.button.add" if not members else "members.button.more")])
    if members:
        rows.append([button(d, Op.DONE)])
    rows.append(nav_row(d, form.BY_KEY["members"], False))
    return "\n\n".join(parts), kb(rows)


def member_field_screen(d: Draft, m: MemberCursor, note: str | None = None) -> Screen:
    t = d.t
    mf = form.BY_KEY[m.question or ""]
    if d.state.other:
        return other_screen_member(d, mf, note)
    members = list(d.answers.get("members") or [])
    parts = [note] if note else []
    parts += [member_progress(d, m), f"<b>{t(mf.label_key)}</b>", t(mf.prompt_key)]
    if t.has(mf.example_key):
        parts.append(t("wizard.example", example=t(mf.example_key)))
    row = dict(m.row)
    if m.index is not None and m.index < len(members):
        row = dict(members[m.index])
    current = row.get(mf.key.removeprefix("member_"))
    if current not in (None, ""):
        parts.append(t("wizard.current", value=display(mf, current, t)))
    return "\n\n".join(parts), member_field_keyboard(d, mf)


def member_progress(d: Draft, m: MemberCursor) -> str:
    """"Member N, question k of K"."""
    ask = m.questions([f.key for f in form.MEMBER_FIELDS])
    k = ask.index(m.question) + 1 if m.question in ask else 1
    number = m.index + 1 if m.index is not None else len(d.answers.get("members") or []) + 1
    return d.t("members.progress", n=number, k=k, total=len(ask))


def member_field_keyboard(d: Draft, mf: FormField) -> InlineKeyboardMarkup:
    rows: list[list[Btn]] = []
    if mf.ask is Ask.CHOICE:
        rows += choice_buttons(d, mf)
    rows.append([button(d, Op.BACK)])
    return kb(rows)


def other_screen_member(d: Draft, mf: FormField, note: str | None = None) -> Screen:
    t = d.t
    parts = ([note] if note else []) + [t("wizard.type_other", field=t(mf.label_key))]
    return "\n\n".join(parts), kb([[button(d, Op.BACK)]])


def paste_screen(d: Draft, note: str | None = None) -> Screen:
    """The preview of a pasted members table: each row read, its errors marked; add the valid rows,
    complete a faulty one step by step, or drop them."""
    t = d.t
    rows_in = list(d.state.paste or [])
    good = [r for r in rows_in if not r.err]
    parts = ([note] if note else []) + [f"<b>{t('field.members.label')}</b>",
                                        t("paste.title", n=len(rows_in), ok=len(good))]
    lines = []
    for i, r in enumerate(rows_in, start=1):
        data = dict(r.row)
        if not r.err:
            lines.append(f"{i}. ✅ {esc(member_line(data, t))}")
            continue
        errs = "；".join if t.lang == "zh" else "; ".join
        bits = errs([t.plain("paste.error", field=t.plain(form.BY_KEY[k].label_key),
                             why=t.plain(f"error.{code}", **params).rstrip("。."))  # joined by "；"
                     for k, (code, params) in r.err.items()])
        name = data.get("name") or t.plain("paste.no_name")
        lines.append(f"{i}. ⚠️ {esc(str(name))}：{esc(bits)}" if t.lang == "zh" else
                     f"{i}. ⚠️ {esc(str(name))}: {esc(bits)}")
    parts.append("\n".join(lines))
    if good:
        parts.append(t("paste.confirm_hint", ok=len(good)))
    rows: list[list[Btn]] = []
    if good:
        rows.append([button(d, Op.PASTE_OK, label=t.plain("paste.button.add", n=len(good)))])
    rows += pairs([button(d, Op.PASTE_FIX, str(i), label=t.plain("paste.button.fix", n=i + 1))
                   for i, r in enumerate(rows_in) if r.err], 3)
    rows.append([button(d, Op.PASTE_DROP, key="paste.button.drop")])
    return "\n\n".join(parts), kb(rows)


# --------------------------------------------------------------------------- photos


def photos_screen(d: Draft, note: str | None = None) -> Screen:
    t = d.t
    atts = list(d.atts.get("photos", ()))
    n = len(atts)
    parts = [note] if note else []
    parts += [progress(t, "photos"), f"<b>{t('field.photos.label')}</b>", t("field.photos.prompt"),
              t("photos.counter", n=n, max=form.MAX_PHOTOS, min=form.MIN_PHOTOS)]
    rows: list[list[Btn]] = []
    btns = [button(d, Op.FILE_DEL, str(a.id), label=t.plain("photos.button.remove", n=i))
            for i, a in enumerate(atts, start=1)]
    rows += pairs(btns, 3)
    if n:
        rows.append([button(d, Op.ALBUM, key="summary.button.album")])
    if n >= form.MIN_PHOTOS:
        rows.append([button(d, Op.DONE)])
    rows.append(nav_row(d, form.BY_KEY["photos"], n >= form.MIN_PHOTOS))
    return "\n\n".join(parts), kb(rows)


def screen(d: Draft, note: str | None = None) -> Screen:
    """The screen of wherever the wizard stands."""
    key = step_of(d.app)
    if key == "summary":
        return summary_screen(d, note)
    if key == "confirm":
        return confirm_screen(d, note)
    return step_screen(d, note)
