"""The reviewer's screens (pure: loaded data in, text and keyboard out).

- `card`: the application as the declaration has it (`FormField.card`, in the form's order), long
  answers cut with a "展开" button, files by name, the opinions so far, the inspection findings and the
  preliminary opinion (R-W2), and for a resubmission its round, the return remark, the reopened
  sections and what changed since the return;
- `step_prompt` and `decision_screen`: the prompts of a decision and the one screen that shows
  everything to be recorded before it is (opinion, name, date, sections);
- `pending_head`: /pending's counts per status and its pages;
- `no_reviewer`: the admins' warning, naming the level and the union, with the invitation button;
- `digest`: a reviewer's morning message;
- `applicant_news`, `applicant_keyboard`, `decided_keyboard`: what the others see of a decision.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup, WebAppInfo

from bot import callbacks as cb
from bot.domain import form, workflow
from bot.domain.form import FormField, Kind
from bot.domain.render import display, member_line
from bot.domain.values import date_examples
from bot.domain.workflow import Action, Role, Status, Step
from bot.i18n import Markup, Translator
from bot.views.common import Page, clip, pager
from storage.models import Application as App
from storage.models import Attachment, AuditEvent, OpinionRecord

CLIP = 160  # characters of a long answer on the card; the rest behind "展开"
CLIP_OPINION = 300
CLIP_CHANGE = 60  # each side of a changed answer
MAX_CHANGES = 10
MEMBERS_SHOWN = form.PRINTED_MEMBER_ROWS
LINES_SHOWN = 4
RETURNS = frozenset(a.value for a in workflow.REOPENING)  # a new round of review follows each
SUBMISSIONS = frozenset(a.value for a in workflow.SUBMISSIONS)
DEFAULT_OPINION = {Action.L1_APPROVE: "review.default.l1_approve", Action.APPROVE: "review.default.approve"}


@dataclass
class Round:
    """Which round of review this is; for a resubmission, what the return asked and what changed."""

    n: int = 1
    remark: str | None = None
    asked_by: str | None = None  # the action that reopened the form (a return, a request for materials)
    reopened: list[str] = field(default_factory=list)
    changes: list[tuple[str, str, str]] | None = None  # (field key, before, after); None: not known


@dataclass
class CardData:
    """Everything the card shows, loaded by the caller."""

    app: App
    union: str
    first_year: bool
    opinions: Sequence[OpinionRecord] = ()
    trail: Sequence[AuditEvent] = ()
    attachments: Sequence[Attachment] = ()


def _value(f: FormField, answers: Mapping[str, Any], t: Translator) -> str:
    return display(f, answers.get(f.key), t)


def round_of(t: Translator, app: App, trail: Sequence[AuditEvent]) -> Round:
    """The round of review from the trail: 1 + the resubmissions; the last return's remark, sections and
    the answers it left (kept with the return) against the answers now."""
    n = sum(1 for e in trail if e.action in SUBMISSIONS)
    ret = next((e for e in reversed(trail) if e.action in RETURNS), None)
    if n < 2 or ret is None:
        return Round(max(n, 1))
    details = ret.details or {}
    before = details.get("answers")
    changes: list[tuple[str, str, str]] | None = None
    if isinstance(before, dict):
        now = app.answers or {}
        changes = []
        for f in form.STEPS:
            if f.kind in form.FILE_KINDS and f.kind is not Kind.DOCUMENT:
                continue
            old, new = _value(f, before, t), _value(f, now, t)
            if old != new:
                changes.append((f.key, old, new))
        files_before = details.get("files") or {}
        for key, count in sorted((app.files or {}).items()):
            if files_before.get(key, 0) != count and key not in {k for k, _, _ in changes}:
                changes.append((key, str(files_before.get(key, 0)), str(count)))
    return Round(n, ret.opinion, ret.action, list(details.get("reopen") or []), changes)


def _inspection(trail: Sequence[AuditEvent]) -> tuple[str | None, str | None, str | None]:
    """The inspection date, its findings and the preliminary opinion, as last recorded."""
    on = findings = preliminary = None
    for e in trail:
        if e.action == Action.SCHEDULE.value:
            on = (e.details or {}).get("date")
        elif e.action == Action.INSPECT.value:
            findings = e.opinion
        elif e.action == Action.PRELIMINARY.value:
            preliminary = e.opinion
        elif e.action in RETURNS:  # a new round starts over
            on = findings = preliminary = None
    return on, findings, preliminary


def _field_line(t: Translator, f: FormField, d: CardData, more: list[str]) -> str | None:
    a = d.app.answers or {}
    label = f"<b>{t(f.label_key)}</b>"
    if f.kind in (Kind.PHOTOS, Kind.VIDEO):
        n = sum(1 for x in d.attachments if x.field == f.key)
        if not n:
            return None if not f.required else f"{label}：{t('review.card.none')}"
        return f"{label}：" + t("review.card.photos" if f.kind is Kind.PHOTOS else "review.card.videos", n=n)
    if f.kind is Kind.DOCUMENT:
        names = [x.original_name or t.plain("review.card.unnamed") for x in d.attachments if x.field == f.key]
        if names:
            return f"{label}：" + t("review.card.files", names=t.join(names))
    if f.kind is Kind.MEMBERS:
        rows = a.get(f.key) or []
        lines = [f"{label}（{len(rows)}）："] + [f"• {html.escape(member_line(r, t))}" for r in rows[:MEMBERS_SHOWN]]
        if len(rows) > MEMBERS_SHOWN:
            more.append(f.key)
            lines.append(t("review.card.more_members", n=len(rows) - MEMBERS_SHOWN))
        return "\n".join(lines)
    text = _value(f, a, t)
    if not text:
        return None if not f.required else f"{label}：{t('review.card.none')}"
    if f.kind is Kind.LINES and len(a.get(f.key) or []) > LINES_SHOWN:
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
    rnd = round_of(t, app, d.trail)
    if rnd.n > 1:
        lines.append(t("review.card.round", n=rnd.n))
        if rnd.remark and rnd.asked_by:
            lines.append(t("review.card.return_remark", action=t(_label(rnd.asked_by)),
                           text=clip(rnd.remark, CLIP_OPINION)))
        lines.append(t("review.card.reopened", sections=t.join([t(f"section.{x}") for x in rnd.reopened])
                       if rnd.reopened else t("review.whole_form")))
        if rnd.changes is not None:
            lines.append(change_lines(t, rnd.changes))
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
    on, findings, preliminary = _inspection(d.trail)
    on = on or (app.inspection_on.isoformat() if app.inspection_on else None)
    if on:
        lines.append(t("review.inspection_on", date=on))
    if findings:
        lines.append(t("review.card.findings", text=clip(findings, CLIP_OPINION)))
    if preliminary:
        lines.append(t("review.card.preliminary", text=clip(preliminary, CLIP_OPINION)))
    actions = workflow.actions_for(Status(app.status), role, first_year=d.first_year)
    rows = [[Btn(t.plain(_label(a)), callback_data=cb.Review(a, app.id).encode())] for a in actions]
    expand = [Btn(t.plain("review.button.more", label=t.plain(form.BY_KEY[k].label_key)),
                  callback_data=cb.ReviewMore(app.id, k).encode()) for k in more]
    rows += [expand[i : i + 2] for i in range(0, len(expand), 2)]
    rows.append([Btn(t.plain("review.button.full"), callback_data=cb.ReviewAux(cb.ReviewOp.FULL, app.id).encode())])
    if web:
        rows.append([Btn(t.plain("web.button.open"), web_app=WebAppInfo(web))])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def change_lines(t: Translator, changes: Sequence[tuple[str, str, str]]) -> str:
    if not changes:
        return t("review.card.no_changes")
    out = [t("review.card.changes", n=len(changes))]
    for key, old, new in changes[:MAX_CHANGES]:
        f = form.BY_KEY.get(key)
        label = t(f.label_key) if f else key
        out.append(t("review.card.change", label=Markup(label), before=clip(old.replace("\n", " ") or "—", CLIP_CHANGE),
                     after=clip(new.replace("\n", " ") or "—", CLIP_CHANGE)))
    if len(changes) > MAX_CHANGES:
        out.append(t("review.card.more_changes", n=len(changes) - MAX_CHANGES))
    return "\n".join(out)


def full_answer(t: Translator, app: App, key: str) -> str:
    """One answer of the card in full ("展开")."""
    f = form.BY_KEY[key]
    return t("review.card.full_answer", number=app.number or "", label=Markup(t(f.label_key)),
             text=_value(f, app.answers or {}, t) or t.plain("review.card.none"))


# --------------------------------------------------------------------------- a decision, step by step


def _aux(op: cb.ReviewOp, app_id: int) -> str:
    return cb.ReviewAux(op, app_id).encode()


def step_prompt(t: Translator, app: App, action: Action, step: Step, draft: Mapping[str, Any], *,
                default_name: str, naming_by: date | None, today: date | None = None
                ) -> tuple[str, InlineKeyboardMarkup]:
    """The prompt of one step of a decision (the sections step of a return is its confirmation screen);
    `today`: the day a date's example is computed from (a future day)."""
    tr = workflow.of_action(action)
    rows: list[list[Btn]] = []
    params = {"number": app.number or "", "action": t(tr.label_key)}
    if step is Step.REOPEN:
        return decision_screen(t, app, action, draft, default_name=default_name)
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
    elif step is Step.NAME:
        text = t("review.ask_name", default=default_name, **params)
        rows.append([Btn(t.plain("review.button.use_name", name=default_name),
                         callback_data=_aux(cb.ReviewOp.DEFAULT, app.id))])
    else:  # DATE
        params.update(date_examples(today or naming_by or date(2000, 1, 1)))
        if action is Action.APPROVE:
            name = draft.get("name") or default_name
            text = t("review.name_set", name=name) + "\n" + t("review.ask_plaque_date", **params)
            if naming_by is not None:
                rows.append([Btn(t.plain("review.button.naming_date", date=naming_by.isoformat()),
                                 callback_data=_aux(cb.ReviewOp.DEFAULT, app.id))])
        else:
            text = t("review.ask_inspection_date", **params)
    rows.append([Btn(t.plain("review.button.cancel"), callback_data=_aux(cb.ReviewOp.CANCEL, app.id))])
    return text, InlineKeyboardMarkup(rows)


def decision_screen(t: Translator, app: App, action: Action, draft: Mapping[str, Any], *,
                    default_name: str) -> tuple[str, InlineKeyboardMarkup]:
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
        elif step is Step.NAME:
            lines.append(t("review.confirm.name", name=draft.get("name") or default_name))
            rows.append([edit])
        elif step is Step.DATE:
            lines.append(t("review.confirm.plaque_date" if action is Action.APPROVE else "review.confirm.date",
                           date=draft.get("on") or "—"))
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


def pending_head(t: Translator, counts: Mapping[str, int], page: int, pages: int) -> tuple[str, Any]:
    """The count per status, the page, and the buttons to the other pages."""
    total = sum(counts.values())
    parts = [t("review.pending_count", n=total)]
    parts.append(t.join([t("review.pending_status", status=t(workflow.status_key(Status(s))), n=n)
                         for s, n in counts.items()]))
    if pages > 1:
        parts.append(t("review.pending_page", page=page + 1, pages=pages))
    row = pager(t, Page([], page, pages, 0), lambda n: cb.PendingPage(n).encode())
    return "\n".join(parts), InlineKeyboardMarkup([row]) if row else None


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


def decided_keyboard(t: Translator, app: App) -> InlineKeyboardMarkup:
    """A decided card keeps one button: the full form, as it stands."""
    return InlineKeyboardMarkup([[Btn(t.plain("review.button.full"), callback_data=_aux(cb.ReviewOp.FULL, app.id))]])


def applicant_keyboard(t: Translator, app: App) -> InlineKeyboardMarkup | None:
    if Status(app.status) in workflow.REOPENED:
        return InlineKeyboardMarkup([[Btn(t.plain("news.button.edit"),
                                          callback_data=cb.Wiz(app.id, cb.WizardOp.RESUME).encode())]])
    return None
