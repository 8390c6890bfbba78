"""The screens of `/meeting`: the meeting's list with each candidate's outcome, the meeting's record step
by step, the one confirmation, the approved list under notice; and what everyone concerned is told."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.domain import calendar
from bot.i18n import Translator
from bot.services.records import Candidate, Entry, Notice
from bot.views.common import clip, kb, pairs
from storage.models import Meeting

Screen = tuple[str, InlineKeyboardMarkup]
Op = cb.MeetingOp
MARK = {"approve": "✅", "reject": "❌", "defer": "⏸"}
CLIP = 80


def reference(t: Translator, m: Meeting) -> str:
    """The meeting as its reader names it ("经2026年12月18日市总工会主席办公会讨论", "the presidents' meeting of
    2026-12-18")."""
    on = calendar.zh_date(m.held_on) if t.lang == "zh" else m.held_on.isoformat()
    return t.plain("meeting.reference", date=on, kind=t.plain(f"meeting.kind.{m.kind}"))


def btn(label: str, op: cb.MeetingOp, n: int | None = None, v: str | None = None) -> Btn:
    return Btn(label, callback_data=cb.Meet(op, n, v).encode())


def candidates(t: Translator, year: int, items: Sequence[Candidate], outcomes: Mapping[str, str],
               under_notice: int, note: str | None = None) -> Screen:
    """The list for the meeting: each candidate, its preliminary opinion and the outcome to record."""
    lines = [t("meeting.list_title", year=year, n=len(items))]
    if not items:
        lines.append(t("meeting.none"))
    for i, c in enumerate(items, start=1):
        o = outcomes.get(str(c.app.id), "approve")
        lines.append(t("meeting.item", i=i, mark=MARK[o], number=c.app.number or "", leader=c.leader, unit=c.unit,
                       union=c.union, name=c.name, preliminary=clip(c.preliminary, CLIP),
                       outcome=t.plain(f"meeting.outcome.{o}")))
    if items:
        lines.append(t("meeting.list_hint"))
    rows = pairs([btn(f"{i}. {MARK[outcomes.get(str(c.app.id), 'approve')]} {c.leader[:12]}", Op.OUTCOME, c.app.id)
                  for i, c in enumerate(items, start=1)], 3)
    if items:
        rows.append([btn(t.plain("meeting.button.docx"), Op.PAPERS, v="docx"),
                     btn(t.plain("meeting.button.xlsx"), Op.PAPERS, v="xlsx")])
        rows.append([btn(t.plain("meeting.button.record"), Op.RECORD)])
    if under_notice:
        rows.append([btn(t.plain("meeting.button.notice", n=under_notice), Op.NOTICE)])
    text = "\n".join(lines)
    return (f"{note}\n\n{text}" if note else text), kb(rows)


def ask_date(t: Translator, examples: Mapping[str, str]) -> Screen:
    return t("meeting.ask_date", **examples), kb([[btn(t.plain("meeting.button.cancel"), Op.LIST)]])


def ask_kind(t: Translator, held_on: str) -> Screen:
    rows = [[btn(t.plain(f"meeting.kind.{k}"), Op.KIND, v=k) for k in ("president", "standing")],
            [btn(t.plain("meeting.button.cancel"), Op.LIST)]]
    return t("meeting.ask_kind", date=held_on), kb(rows)


def ask_minute(t: Translator) -> Screen:
    return t("meeting.ask_minute"), kb([[btn(t.plain("meeting.button.cancel"), Op.LIST)]])


def ask_reason(t: Translator, c: Candidate) -> Screen:
    rows = [[btn(t.plain("meeting.button.usual_reason"), Op.REASON, c.app.id)],
            [btn(t.plain("meeting.button.cancel"), Op.LIST)]]
    text = t("meeting.ask_reason", number=c.app.number or "", leader=c.leader, reason=t.plain("meeting.usual_reason"))
    return text, kb(rows)


def confirm(t: Translator, state: Mapping[str, Any], items: Sequence[Candidate], notice: Notice) -> Screen:
    """Everything the meeting decided on one screen, recorded only from here."""
    out = state.get("out") or {}
    reasons, names = state.get("reasons") or {}, state.get("names") or {}
    renames: list[Btn] = []
    lines = [t("meeting.confirm_title", date=state["held_on"], kind=t.plain(f"meeting.kind.{state['kind']}"),
               minute=state["minute"])]
    for o in ("approve", "reject", "defer"):
        chosen = [c for c in items if out.get(str(c.app.id), "approve") == o]
        if not chosen:
            continue
        lines.append(t(f"meeting.confirm_{o}", n=len(chosen)))
        for c in chosen:
            extra = names.get(str(c.app.id)) or c.name if o == "approve" else \
                reasons.get(str(c.app.id), "") if o == "reject" else ""
            if o == "approve":
                renames.append(btn(t.plain("meeting.button.rename", i=len(renames) + 1), Op.NAME, c.app.id))
                extra = f"{len(renames)}. {extra}"
            lines.append(t("meeting.confirm_line", number=c.app.number or "", leader=c.leader, extra=extra))
    if notice.first is not None and notice.last is not None:
        lines.append(t("meeting.confirm_notice", first=notice.first.isoformat(), last=notice.last.isoformat(),
                       naming=notice.naming.isoformat()))
    else:
        lines.append(t("meeting.confirm_no_notice", naming=notice.naming.isoformat()))
    if renames:
        lines.append(t("meeting.rename_hint"))
    rows = [*pairs(renames, 4), [btn(t.plain("meeting.button.confirm"), Op.CONFIRM)],
            [btn(t.plain("meeting.button.change"), Op.LIST), btn(t.plain("meeting.button.cancel"), Op.CANCEL)]]
    return "\n".join(lines), kb(rows)


def ask_name(t: Translator, c: Candidate, current: str) -> Screen:
    text = t("meeting.ask_name", number=c.app.number or "", leader=c.leader, name=current)
    return text, kb([[btn(t.plain("meeting.button.back"), Op.BACK)]])


def notice_list(t: Translator, year: int, entries: Sequence[Entry], naming: Mapping[int, date],
                note: str | None = None) -> Screen:
    """The approved list not yet named: each entry, its notice, its objections and its plaque date."""
    lines = [t("meeting.notice_title", year=year, n=len(entries))]
    rows: list[list[Btn]] = []
    for i, e in enumerate(entries, start=1):
        m = e.meeting
        period = t("meeting.notice_period", first=m.notice_from.isoformat(), last=m.notice_until.isoformat()) \
            if m.notice_from and m.notice_until else t("meeting.no_notice")
        lines.append(t("meeting.notice_item", i=i, number=e.app.number or "", name=e.app.studio_name or "",
                       status=t(f"status.{e.app.status}"), period=period,
                       naming=naming[e.app.id].isoformat(),
                       plaque=e.app.plaque_on.isoformat() if e.app.plaque_on else ""))
        for o in e.objections:
            state = t.plain(f"meeting.objection.{o.decision}") if o.decision else t.plain("meeting.objection.open")
            lines.append(t("meeting.objection_line", text=clip(o.text, CLIP), state=state))
            if o.decision is None:
                rows.append([btn(t.plain("meeting.button.uphold", i=i), Op.UPHOLD, o.id),
                             btn(t.plain("meeting.button.dismiss", i=i), Op.DISMISS, o.id)])
        row = [btn(t.plain("meeting.button.plaque", i=i), Op.PLAQUE, e.app.id)]
        if e.app.status == "notice":
            row.insert(0, btn(t.plain("meeting.button.object", i=i), Op.OBJECT, e.app.id))
        rows.append(row)
    if not entries:
        lines.append(t("meeting.none"))
    else:
        rows.append([btn(t.plain("meeting.button.notice_doc"), Op.NOTICE_DOC)])
    rows.append([btn(t.plain("meeting.button.list"), Op.LIST)])
    text = "\n".join(lines)
    return (f"{note}\n\n{text}" if note else text), kb(rows)


def ask_objection(t: Translator, number: str) -> Screen:
    return t("meeting.ask_objection", number=number), kb([[btn(t.plain("meeting.button.cancel"), Op.NOTICE)]])


def ask_plaque(t: Translator, number: str, current: str, examples: Mapping[str, str]) -> Screen:
    return t("meeting.ask_plaque", number=number, current=current, **examples), \
        kb([[btn(t.plain("meeting.button.cancel"), Op.NOTICE)]])


def outcome(t: Translator, number: str, leader: str, action: str, *, name: str = "", date_: str = "",
            reason: str = "", contact: str = "") -> str:
    """A final outcome as everyone concerned is told it (the applicant and the office alike)."""
    text = t(f"meeting.told.{action}", number=number, leader=leader, name=name, date=date_, reason=reason)
    return f"{text}\n{contact}" if contact else text
