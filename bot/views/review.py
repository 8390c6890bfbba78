"""The reviewer's screens (pure: loaded data in, text and keyboard out).

- `card`: the application as the declaration has it (`FormField.card`, in the form's order), long
  answers cut with a "展开" button, files by name, the opinions so far, the inspection findings and the
  preliminary opinion (R-W2), and for a resubmission its round, the return remark, the reopened
  sections and what changed since the return;
- `step_prompt` and `decision_screen`: the prompts of a decision and the one screen that shows
  everything to be recorded before it is (opinion, name, date, sections);
- `pending_list`: /pending, one line and one button per application, and its pages;
- `no_reviewer`: the admins' warning, naming the level and the union, with the invitation button;
- `digest`: a reviewer's morning message;
- `applicant_news`, `applicant_keyboard`: what the applicant is told of a decision.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup, WebAppInfo

from bot import callbacks as cb
from bot.domain import form, workflow
from bot.domain import results as result_dom
from bot.domain.form import FormField
from bot.domain.kinds import Ask
from bot.domain.render import display, member_line
from bot.domain.values import date_examples
from bot.domain.workflow import Action, Role, Status, Step
from bot.i18n import Markup, Translator
from bot.views.common import Page, clip, kb, pager
from storage.models import Application as App
from storage.models import Attachment, AuditEvent, OpinionRecord

CLIP = 160  # characters of a long answer on the card; the rest behind "展开"
CLIP_OPINION = 300
MAX_CHANGES = 30  # lines of what changed; the rest: in the full form
LONG = 120  # a text longer than this changes by its sentences
MEMBERS_SHOWN = form.PRINTED_MEMBER_ROWS
LINES_SHOWN = 4
RETURNS = frozenset(a.value for a in workflow.REOPENING)  # a new round of review follows each
SUBMISSIONS = frozenset(a.value for a in workflow.SUBMISSIONS)
DEFAULT_OPINION = {Action.L1_APPROVE: "review.default.l1_approve"}


@dataclass
class Round:
    """Which round of review this is; for a resubmission, what the return asked and what changed."""

    n: int = 1
    remark: str | None = None
    asked_by: str | None = None  # the action that reopened the form (a return, a request for materials)
    reopened: list[str] = field(default_factory=list)
    changes: list[str] | None = None  # what changed since, a line each; None: not known


@dataclass
class Move:
    """The application's latest move: what, by whom, when (local time, formatted)."""

    action: str
    who: str
    when: str


@dataclass
class CardData:
    """Everything the card shows, loaded by the caller."""

    app: App
    union: str
    first_year: bool
    opinions: Sequence[OpinionRecord] = ()
    trail: Sequence[AuditEvent] = ()
    attachments: Sequence[Attachment] = ()
    last: Move | None = None
    results: Sequence[Any] = ()  # the results registered with the application (R-E5)


def _value(f: FormField, answers: Mapping[str, Any], t: Translator) -> str:
    return display(f, answers.get(f.key), t)


def round_of(t: Translator, app: App, trail: Sequence[AuditEvent], attachments: Sequence[Attachment] = ()) -> Round:
    """The round of review from the trail: 1 + the resubmissions; the last reopening's remark, sections and
    what changed since (the answers and files it left are kept with its event)."""
    n = sum(1 for e in trail if e.action in SUBMISSIONS)
    ret = next((e for e in reversed(trail) if e.action in RETURNS), None)
    if n < 2 or ret is None:
        return Round(max(n, 1))
    details = ret.details or {}
    before = details.get("answers")
    reopened = list(details.get("reopen") or [])
    changes = None
    if isinstance(before, dict):
        kept = details.get("attachments")
        files = [(str(r[1]), str(r[2]), str(r[3])) for r in kept] if isinstance(kept, list) else None
        changes = diff(t, before, app.answers or {}, files, attachments, reopened)
    return Round(n, ret.opinion, ret.action, reopened, changes)


_SENTENCE = re.compile(r"[^。！？；!?;\n]+[。！？；!?;]?")


def _sentences(text: str) -> list[str]:
    return [m.group(0).strip() for m in _SENTENCE.finditer(text) if m.group(0).strip()]


def diff(t: Translator, before: Mapping[str, Any], now: Mapping[str, Any],
         files_before: Sequence[tuple[str, str, str]] | None, files_now: Sequence[Attachment],
         reopened: Sequence[str] = ()) -> list[str]:
    """What changed, one line each, in full: a field's old → new value (a long text: the sentences taken out
    and put in), the members added, removed or changed by name with the fields that changed, the files
    added, replaced or removed by name; a reopened section nothing changed in says so."""
    out: list[str] = []
    touched: set[str] = set()
    for f in form.STEPS:
        if f.ask in (Ask.PHOTOS, Ask.VIDEO):
            continue
        old, new = before.get(f.key), now.get(f.key)  # a document step may be answered in words
        if (old or None) == (new or None):
            continue
        touched.add(f.section)
        label = Markup(t(f.label_key))
        if f.ask is Ask.MEMBERS:
            out += _member_changes(t, label, old or [], new or [])
        elif f.ask is Ask.PARTS or len(_value(f, before, t)) > LONG:
            gone, came = _sentence_diff(_value(f, before, t), _value(f, now, t))
            out.append(t("review.card.change_text", label=label))
            out += [t("review.card.sentence_out", text=x) for x in gone]
            out += [t("review.card.sentence_in", text=x) for x in came]
        else:
            out.append(t("review.card.change", label=label, before=_value(f, before, t) or "—",
                         after=_value(f, now, t) or "—"))
    if files_before is not None:
        for f in form.STEPS:
            if f.kind_spec.file:
                lines = _file_changes(t, f, [x for x in files_before if x[0] == f.key],
                                      [a for a in files_now if a.field == f.key])
                if lines:
                    touched.add(f.section)
                    out += lines
    if out:
        out += [t("review.card.section_unchanged", section=t(f"section.{x}")) for x in reopened if x not in touched]
    return out


def _sentence_diff(old: str, new: str) -> tuple[list[str], list[str]]:
    a, b = _sentences(old), _sentences(new)
    gone: list[str] = []
    came: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            gone += a[i1:i2]
        if op in ("replace", "insert"):
            came += b[j1:j2]
    return gone, came


def _member_changes(t: Translator, label: Markup, old: Sequence[Mapping[str, Any]],
                    new: Sequence[Mapping[str, Any]]) -> list[str]:
    """Members by name: added (in full), removed, and changed with each field's old → new."""
    name = form.MEMBER_FIELDS[0].key
    before = {str(r[name] or ""): r for r in map(form.member_row, old)}
    after = {str(r[name] or ""): (r, raw) for r, raw in zip(map(form.member_row, new), new, strict=True)}
    out = [t("review.card.member_added", label=label, member=member_line(raw, t)) for k, (_, raw) in after.items()
           if k not in before]
    out += [t("review.card.member_removed", label=label, name=k) for k in before if k not in after]
    for k, (r, _) in after.items():
        if k in before:
            was = before[k]
            fields = [t.plain("review.card.member_field", field=t.plain(f.label_key),
                              before=display(f, was.get(f.key), t) or "—", after=display(f, r.get(f.key), t) or "—")
                      for f in form.MEMBER_FIELDS[1:] if was.get(f.key) != r.get(f.key)]
            if fields:
                out.append(t("review.card.member_changed", label=label, name=k, fields="；".join(fields)))
    return out


def _file_changes(t: Translator, f: FormField, old: Sequence[tuple[str, str, str]],
                  new: Sequence[Attachment]) -> list[str]:
    """A file field's files by name: replaced (one out, one in), added, removed; photos by number."""
    label = Markup(t(f.label_key))
    gone = [name or t.plain("review.card.unnamed") for _, sha, name in old if sha not in {a.sha256 for a in new}]
    came = [a.original_name or t.plain("review.card.unnamed") for a in new
            if a.sha256 not in {sha for _, sha, _ in old}]
    if f.ask is not Ask.DOCUMENT:
        if not gone and not came:
            return []
        return [t("review.card.photos_changed", label=label, before=len(old), after=len(new), out=len(gone),
                  came=len(came))]
    out = [t("review.card.file_replaced", label=label, before=a, after=b) for a, b in zip(gone, came, strict=False)]
    out += [t("review.card.file_added", label=label, name=x) for x in came[len(gone):]]
    out += [t("review.card.file_removed", label=label, name=x) for x in gone[len(came):]]
    return out


def _field_line(t: Translator, f: FormField, d: CardData, more: list[str]) -> str | None:
    a = d.app.answers or {}
    label = f"<b>{t(f.label_key)}</b>"
    mine = [x for x in d.attachments if x.field == f.key]
    if f.ask is Ask.DOCUMENT and mine:  # named here; the files themselves behind 📎
        names = [x.original_name or t.plain("review.card.unnamed") for x in mine]
        return f"{label}：" + t("review.card.files", names=t.join(names))
    if f.ask in (Ask.PHOTOS, Ask.VIDEO):  # counted here; the files themselves behind 🖼 / 📎
        if not mine:
            return None if not f.required else f"{label}：{t('review.card.none')}"
        return f"{label}：" + t("review.card.photos" if f.ask is Ask.PHOTOS else "review.card.videos", n=len(mine))
    if f.ask is Ask.MEMBERS:
        rows = a.get(f.key) or []
        lines = [f"{label}（{len(rows)}）："] + [f"• {html.escape(member_line(r, t))}" for r in rows[:MEMBERS_SHOWN]]
        if len(rows) > MEMBERS_SHOWN:
            more.append(f.key)
            lines.append(t("review.card.more_members", n=len(rows) - MEMBERS_SHOWN))
        return "\n".join(lines)
    text = _value(f, a, t)
    if not text:
        return None if not f.required else f"{label}：{t('review.card.none')}"
    if f.ask is Ask.ITEMS and len(a.get(f.key) or []) > LINES_SHOWN:
        items = a.get(f.key) or []
        more.append(f.key)
        shown = "\n".join(text.split("\n")[:LINES_SHOWN])
        return f"{label}：\n{html.escape(shown)}\n" + t("review.card.more_items", n=len(items) - LINES_SHOWN)
    if len(text) > CLIP:
        more.append(f.key)
        return f"{label}：{html.escape(clip(text, CLIP))}"
    return f"{label}：" + ("\n" if "\n" in text else "") + html.escape(text)


def card(t: Translator, d: CardData, role: Role, web: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The reviewer's card and the buttons the workflow allows now (`web`: the Mini App page of it)."""
    app = d.app
    lines = [t("review.card_title", number=app.number or "", union=d.union,
               status=t(workflow.status_key(Status(app.status))))]
    if d.last is not None and d.last.action not in SUBMISSIONS:
        lines.append(t("review.card.last", action=t(_label(d.last.action)), who=d.last.who, when=d.last.when))
    lines += _round_lines(t, d)
    lines.append("")
    more: list[str] = []
    for f in form.STEPS:
        if f.card:
            line = _field_line(t, f, d, more)
            if line is not None:
                lines.append(line)
    for op in d.opinions:  # the reviewers' boxes; a return's remark belongs to its round, above
        if op.box not in (workflow.Box.UNIT.value, workflow.Box.UNION.value) and op.action not in RETURNS:
            lines.append(t("review.opinion_line", box=t(f"box.{op.box}"), text=clip(op.text, CLIP_OPINION)))
    lines += _results_lines(t, d)
    lines += _inspection_lines(t, d)
    if role is Role.CITY and Status(app.status) in workflow.ON_THE_LIST:  # the meeting's list decides
        lines.append(t(f"review.card.meeting_{app.status}"))
    return "\n".join(lines), card_keyboard(t, d, role, more, web)


def _results_lines(t: Translator, d: CardData) -> list[str]:
    """R-E5: the results registered with the application, counted, and each by title and kind."""
    if not d.results:
        return []
    records = [result_dom.record_of(r) for r in d.results]
    recognised = sum(map(result_dom.recognised, records))
    items = t.join([t("review.card.result_item", title=clip(str(x.get("title") or ""), 60),
                      kind=t(f"result.kind.{x.get('kind')}")) for x in records])
    return [t("review.card.results", n=len(records), recognised=recognised, items=items)]


def _round_lines(t: Translator, d: CardData) -> list[str]:
    """From the second round on: the round, what was asked and reopened, and what changed."""
    rnd = round_of(t, d.app, d.trail, d.attachments)
    if rnd.n <= 1:
        return []
    lines = [t("review.card.round", n=rnd.n)]
    if rnd.remark and rnd.asked_by:
        lines.append(t("review.card.return_remark", action=t(_label(rnd.asked_by)),
                       text=clip(rnd.remark, CLIP_OPINION)))
    lines.append(t("review.card.reopened", sections=t.join([t(f"section.{x}") for x in rnd.reopened])
                   if rnd.reopened else t("review.whole_form")))
    if rnd.changes is not None:
        lines.append(change_lines(t, rnd.changes))
    return lines


def _inspection_lines(t: Translator, d: CardData) -> list[str]:
    """The inspection's day, findings and the preliminary opinion, where recorded."""
    found = workflow.assessment(d.trail)
    on, findings, preliminary = found.on, found.findings, found.preliminary
    on = on or (d.app.inspection_on.isoformat() if d.app.inspection_on else None)
    lines = [t("review.inspection_on", date=on)] if on else []
    if findings:
        lines.append(t("review.card.findings", text=clip(findings, CLIP_OPINION)))
    if preliminary:
        lines.append(t("review.card.preliminary", text=clip(preliminary, CLIP_OPINION)))
    return lines


def card_keyboard(t: Translator, d: CardData, role: Role, more: Sequence[str] = (),
                  web: str | None = None) -> InlineKeyboardMarkup:
    """The card's buttons, the one place they are made: the actions the workflow allows `role` now, the long
    answers to expand, the photos and documents on request, the full form, the Mini App page (`web`)."""
    app = d.app
    actions = workflow.actions_for(Status(app.status), role, first_year=d.first_year)
    rows = [[Btn(t.plain(_label(a)), callback_data=cb.Review(a, app.id).encode())] for a in actions]
    expand = [Btn(t.plain("review.button.more", label=t.plain(form.BY_KEY[k].label_key)),
                  callback_data=cb.ReviewMore(app.id, k).encode()) for k in more]
    rows += [expand[i : i + 2] for i in range(0, len(expand), 2)]
    files = [Btn(t.plain(f"review.button.{kind}"), callback_data=_aux(op, app.id))
             for kind, op in (("photos", cb.ReviewOp.PHOTOS), ("files", cb.ReviewOp.FILES))
             if any(materials(d.attachments, kind))]
    rows.append([*files, Btn(t.plain("review.button.full"), callback_data=_aux(cb.ReviewOp.FULL, app.id))])
    if web:
        rows.append([Btn(t.plain("web.button.open"), web_app=WebAppInfo(web))])
    return InlineKeyboardMarkup(rows)


def materials(attachments: Sequence[Attachment], kind: str) -> list[Attachment]:
    """The photos of the photo field (sent as an album), or every other file (one by one)."""
    photos = [a for a in attachments if a.kind == "photo" and a.field == "photos"]
    return photos if kind == "photos" else [a for a in attachments if a not in photos]


def change_lines(t: Translator, changes: Sequence[str]) -> str:
    if not changes:
        return t("review.card.no_changes")
    shown = list(changes[:MAX_CHANGES])
    more = len(changes) - len(shown)
    return "\n".join([t("review.card.changes"), *shown] + ([t("review.card.more_changes", n=more)] if more else []))


def full_answer(t: Translator, app: App, key: str) -> str:
    """One answer of the card in full ("展开")."""
    f = form.BY_KEY[key]
    return t("review.card.full_answer", number=app.number or "", label=Markup(t(f.label_key)),
             text=_value(f, app.answers or {}, t) or t.plain("review.card.none"))


# --------------------------------------------------------------------------- a decision, step by step


def _aux(op: cb.ReviewOp, app_id: int) -> str:
    return cb.ReviewAux(op, app_id).encode()


def step_prompt(t: Translator, app: App, action: Action, step: Step, draft: Mapping[str, Any], *,
                today: date | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The prompt of one step of a decision (the sections step of a return is its confirmation screen);
    `today`: the day a date's example is computed from (a future day)."""
    tr = workflow.of_action(action)
    rows: list[list[Btn]] = []
    params = {"number": app.number or "", "action": t(tr.label_key)}
    if step is Step.REOPEN:
        return decision_screen(t, app, action, draft)
    if step is Step.OPINION:
        # the box's prompt, or the action's own (the inspection findings, the preliminary opinion, a request)
        box = Markup(t(tr.box_key) if tr.box_key else "")
        text = t(tr.prompt_key, **params, box=box) if tr.prompt_key else ""
        if action in DEFAULT_OPINION:
            default = t.plain(DEFAULT_OPINION[action])
            last = len(tr.steps) == 1  # the one-tap opinion is the whole decision: say what it records
            if last and tr.confirm:
                text += "\n\n" + t("review.one_tap", action=t(tr.label_key), text=default,
                                   status=t(workflow.status_key(tr.target)))
            rows.append([Btn(t.plain("review.button.confirm_default" if last and tr.confirm
                                     else "review.button.default", text=default),
                             callback_data=_aux(cb.ReviewOp.DEFAULT, app.id))])
    else:  # DATE
        params.update(date_examples(today or date(2000, 1, 1)))
        text = t("review.ask_inspection_date", **params)
    rows.append([Btn(t.plain("review.button.cancel"), callback_data=_aux(cb.ReviewOp.CANCEL, app.id))])
    return text, InlineKeyboardMarkup(rows)


def decision_screen(t: Translator, app: App, action: Action, draft: Mapping[str, Any]
                    ) -> tuple[str, InlineKeyboardMarkup]:
    """Everything the decision will record, with a button to change each part, to confirm, to cancel."""
    tr = workflow.of_action(action)
    lines = [t("review.confirm.title", number=app.number or "", action=t(tr.label_key),
               status=t(workflow.status_key(tr.target)))]
    rows: list[list[Btn]] = []
    for step in tr.steps:
        edit = Btn(t.plain(f"review.button.edit_{step.value}"),
                   callback_data=cb.ReviewStep(app.id, step.value).encode())
        if step is Step.OPINION:
            box = t(tr.box_key or tr.label_key)
            lines.append(t("review.confirm.opinion", box=Markup(box), text=draft.get("opinion") or "—"))
            rows.append([edit])
        elif step is Step.DATE:
            lines.append(t("review.confirm.date", date=draft.get("on") or "—"))
            rows.append([edit])
        else:  # the sections: toggled here
            chosen = list(draft.get("reopen") or [])
            lines.append(t("review.confirm.reopen", sections=t.join([t(f"section.{x}") for x in chosen])
                           or t("review.whole_form")))
            btns = [Btn(("✅ " if s_ in chosen else "") + t.plain(f"section.{s_}"),
                        callback_data=cb.ReviewSection(app.id, s_).encode()) for s_ in form.SECTIONS]
            rows += [btns[i : i + 3] for i in range(0, len(btns), 3)]
    lines.append(t("review.confirm.final"))
    # the sections step keeps its "done" (DEFAULT) button as the confirmation
    op = cb.ReviewOp.DEFAULT if Step.REOPEN in tr.steps else cb.ReviewOp.CONFIRM
    rows.insert(0, [Btn(t.plain("review.button.confirm", action=t.plain(tr.label_key)),
                        callback_data=_aux(op, app.id))])
    rows.append([Btn(t.plain("review.button.cancel_keep"), callback_data=_aux(cb.ReviewOp.CANCEL, app.id))])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


# --------------------------------------------------------------------------- /pending


@dataclass
class Line:
    """One application of the /pending list."""

    app_id: int
    number: str
    studio: str
    status: Status
    days: int  # waiting in this status
    unit: str


def pending_list(t: Translator, lines: Page[Line], total: int) -> tuple[str, InlineKeyboardMarkup]:
    """/pending: one line per application, the longest waiting first, a button each that opens its card
    in place of the list, and the pager."""
    page, pages = lines.number, lines.count
    out = [t("review.pending_count", n=total)]
    if pages > 1:
        out.append(t("review.pending_page", page=page + 1, pages=pages))
    rows = []
    for i, x in enumerate(lines.items, start=lines.first):
        out.append(t("review.pending_line", i=i, number=x.number, unit=clip(x.unit, 20), studio=clip(x.studio, 24),
                     status=t(workflow.status_key(x.status)), days=x.days))
        rows.append([Btn(t.plain("review.button.open", i=i, number=x.number, studio=clip(x.studio, 24)),
                         callback_data=cb.PendingOpen(x.app_id).encode())])
    rows.append(pager(t, lines, lambda n: cb.PendingPage(n).encode()))
    return "\n".join(out), kb(rows)


# --------------------------------------------------------------------------- admins, digest


def no_reviewer(t: Translator, app: App, level: int, union_name: str | None) -> tuple[str, InlineKeyboardMarkup]:
    """Nobody can be reached at `level`: which level, which union (level 1) or the city federation (level
    2), and the button that makes the invitation the admin should send."""
    if level == 1:
        who = t("review.warn.level1", union=union_name or "")
        data = cb.Admin(cb.AdminOp.INVU, app.union_id).encode()
        button = t.plain("review.button.invite_district", union=union_name or "")
    else:
        who = t("review.warn.level2")
        data = cb.Admin(cb.AdminOp.INVR, key=Role.CITY.value).encode()
        button = t.plain("review.button.invite_city")
    text = t("review.no_reviewer", number=app.number or "", who=Markup(who))
    return text, InlineKeyboardMarkup([[Btn(button, callback_data=data)]])


@dataclass
class Waiting:
    number: str
    since: date
    due: date | None = None  # when the review is overdue (reminders escalate)
    inspection: date | None = None


def digest(t: Translator, items: Sequence[Waiting], today: date) -> tuple[str, InlineKeyboardMarkup]:
    """A reviewer's morning: how many wait, the oldest, what falls due in the coming week."""
    oldest = min(items, key=lambda w: (w.since, w.number))
    lines = [t("review.digest.title", n=len(items)),
             t("review.digest.oldest", number=oldest.number, since=oldest.since.isoformat(),
               days=(today - oldest.since).days)]
    week = today.toordinal() + 7
    due = sorted((w.due, w.number, "due") for w in items if w.due and w.due.toordinal() <= week)
    due += sorted((w.inspection, w.number, "inspection") for w in items
                  if w.inspection and today <= w.inspection and w.inspection.toordinal() <= week)
    if due:
        lines.append(t("review.digest.week"))
        lines += [t(f"review.digest.{kind}", number=number, date=d.isoformat()) for d, number, kind in sorted(due)]
    else:
        lines.append(t("review.digest.nothing_due"))
    markup = InlineKeyboardMarkup([[Btn(t.plain("review.button.open_pending"),
                                        callback_data=cb.PendingPage(0).encode())]])
    return "\n".join(lines), markup


# --------------------------------------------------------------------------- the others' view of a decision


def _label(action: Action | str) -> str:
    return workflow.of_action(Action(action)).label_key


def applicant_news(t: Translator, app: App, action: str, opinion: str | None) -> str:
    key = workflow.of_action(Action(action)).news_key
    if key is None:
        return ""
    parts = [t(key, number=app.number or "", name=app.studio_name or "",
               date=app.plaque_on.isoformat() if app.plaque_on else "",
               inspection=app.inspection_on.isoformat() if app.inspection_on else "")]
    if opinion:
        parts.append(t("news.opinion", text=opinion))
    if app.status == Status.REJECTED.value:
        parts.append(t("news.rejected_rule"))
    if Status(app.status) in workflow.REOPENED:
        if app.reopened:
            parts.append(t("news.reopened", sections=t.join([t(f"section.{x}") for x in app.reopened])))
        parts.append(t("news.resubmit"))
    return "\n\n".join(parts)


def applicant_keyboard(t: Translator, app: App) -> InlineKeyboardMarkup | None:
    if Status(app.status) in workflow.REOPENED:
        return InlineKeyboardMarkup([[Btn(t.plain("news.button.edit"),
                                          callback_data=cb.Wiz(app.id, cb.WizardOp.RESUME).encode())]])
    return None
