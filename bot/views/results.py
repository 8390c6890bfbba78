"""The screens of the results registry (成果): a result as a line and as a card, the list of a studio's
results, each question of recording one, and the R-E5 hint of the application. Every label comes from
the declaration's keys (`result.field.<key>`, `result.<key>.<option>`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.callbacks import ResultOp
from bot.domain import results as dom
from bot.domain.results import Ask, ResultField
from bot.i18n import Translator
from bot.views.common import clip, esc, kb, pairs

SHOWN = 20  # results listed on one screen


def btn(label: str, op: ResultOp, ref: int = 0, v: str | None = None, at: str | None = None) -> Btn:
    return Btn(label, callback_data=cb.ResultBtn(op, ref, v, at).encode())


def label(t: Translator, key: str) -> str:
    return t.plain(f"result.field.{key}")


def value_text(t: Translator, f: ResultField, value: Any) -> str:
    """A field's value as shown (plain text: the caller escapes it)."""
    if value in (None, ""):
        return t.plain("result.level_none") if f.key == "level" else "—"
    if f.ask is Ask.CHOICE:
        return t.plain(f"result.{f.key}.{value}")
    if f.ask is Ask.YESNO:
        return t.plain("result.yes" if value else "result.no")
    if f.ask is Ask.BENEFIT:
        return t.plain("result.benefit_value", value=f"{float(value):g}")
    return str(value)


def line(t: Translator, record: Mapping[str, Any], n: int | None = None) -> str:
    """One result on one line: title, kind, date, recognition, use, benefit (HTML)."""
    f = dom.BY_KEY
    level = record.get("level")
    recognition = (t.plain("result.recognised_by", level=value_text(t, f["level"], level), body=record.get("body"))
                   if dom.recognised(record) else t.plain("result.level_none"))
    parts = [f"<b>{esc(clip(str(record.get('title') or ''), 120))}</b>", esc(value_text(t, f["kind"], record["kind"])),
             esc(str(record.get("on") or "")), esc(recognition)]
    if record.get("number"):
        parts.append(esc(str(record["number"])))
    if record.get("in_use"):
        parts.append(esc(t.plain("result.in_use_mark")))
    if record.get("benefit") is not None:
        parts.append(esc(value_text(t, f["benefit"], record["benefit"])))
    head = f"{n}. " if n is not None else ""
    return head + " · ".join(parts)


def card(t: Translator, record: Mapping[str, Any], certificate: str | None = None) -> str:
    """Every field of a result, one per line (HTML); `certificate`: the file's name, when there is one."""
    lines = []
    for f in dom.FIELDS:
        if f.ask is Ask.FILE:
            shown = certificate or "—"
        elif not dom.asked(f, record):
            continue
        else:
            shown = value_text(t, f, record.get(f.key))
        lines.append(f"{esc(label(t, f.key))}：{esc(clip(shown, 600))}" if t.lang == "zh"
                     else f"{esc(label(t, f.key))}: {esc(clip(shown, 600))}")
    return "\n".join(lines)


def list_screen(t: Translator, owner: str, rows: Sequence[tuple[int, Mapping[str, Any]]], add: Btn | None,
                note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The results on record for `owner` (a studio or an application), newest first, with a button each."""
    parts = [note] if note else []
    recognised = sum(1 for _, r in rows if dom.recognised(r))
    if rows:
        shown = list(reversed(rows))[:SHOWN]
        listing = "\n".join(line(t, r, i) for i, (_, r) in enumerate(shown, start=1))
        parts.append(t("result.list.title", owner=owner, n=len(rows), recognised=recognised) + "\n" + listing)
        if len(rows) > SHOWN:
            parts.append(t("result.list.more", n=len(rows) - SHOWN))
    else:
        parts.append(t("result.list.empty", owner=owner))
    parts.append(t("result.list.hint"))
    views = [btn(f"{i}. {clip(str(r.get('title')), 30)}", ResultOp.VIEW, rid) for i, (rid, r)
             in enumerate(list(reversed(rows))[:SHOWN], start=1)]
    return "\n\n".join(parts), kb([[add] if add else [], *pairs(views)])


def ask_screen(t: Translator, f: ResultField, record: Mapping[str, Any], number: int, total: int,
               note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The question for field `f` with its buttons (options, yes/no, skip, cancel)."""
    parts = [note] if note else []
    parts.append(t("result.ask.head", n=number, total=total, title=str(record.get("title") or "")
                   if record.get("title") else t.plain("result.ask.new")))
    parts.append(t(f"result.prompt.{f.key}"))
    rows: list[list[Btn]] = []
    if f.ask is Ask.CHOICE:
        rows += pairs([btn(t.plain(f"result.{f.key}.{o}"), ResultOp.PICK, v=o, at=f.key) for o in f.options])
    elif f.ask is Ask.YESNO:
        rows.append([btn(t.plain("result.yes"), ResultOp.YES, at=f.key),
                     btn(t.plain("result.no"), ResultOp.NO, at=f.key)])
    if not f.required:
        rows.append([btn(t.plain("result.button.skip_level" if f.key == "level" else "result.button.skip"),
                         ResultOp.SKIP, at=f.key)])
    rows.append([btn(t.plain("result.button.cancel"), ResultOp.CANCEL)])
    return "\n\n".join(parts), kb(rows)


def confirm_screen(t: Translator, record: Mapping[str, Any], certificate: str | None,
                   note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    parts = [note] if note else []
    parts += [t("result.confirm"), card(t, record, certificate)]
    return "\n\n".join(parts), kb([[btn(t.plain("result.button.save"), ResultOp.SAVE),
                                    btn(t.plain("result.button.cancel"), ResultOp.CANCEL)]])


def view_screen(t: Translator, rid: int, record: Mapping[str, Any], certificate: str | None, back: Btn | None,
                may_remove: bool) -> tuple[str, InlineKeyboardMarkup]:
    rows: list[list[Btn]] = []
    if certificate:
        rows.append([btn(t.plain("result.button.certificate"), ResultOp.CERT, rid)])
    if may_remove:
        rows.append([btn(t.plain("result.button.remove"), ResultOp.DEL, rid)])
    rows.append([back] if back else [])
    return card(t, record, certificate), kb(rows)


def remove_screen(t: Translator, rid: int, record: Mapping[str, Any]) -> tuple[str, InlineKeyboardMarkup]:
    return t("result.remove_confirm", title=str(record.get("title"))), kb(
        [[btn(t.plain("result.button.remove_yes"), ResultOp.DELOK, rid), btn(t.plain("result.button.keep"),
                                                                              ResultOp.VIEW, rid)]])


def eligibility_hint(t: Translator, records: Sequence[Mapping[str, Any]]) -> str:
    """R-E5: the recognised results of the last year on record, or a warning that there are none."""
    recognised = [r for r in records if dom.recognised(r)]
    if not recognised:
        return t("result.hint.none")
    listing = "\n".join(line(t, r, i) for i, r in enumerate(recognised[:10], start=1))
    return t("result.hint.some", n=len(recognised)) + "\n" + listing


def report_lines(t: Translator, records: Sequence[Mapping[str, Any]]) -> str:
    """The year's results as the year report shows them (HTML)."""
    return "\n".join(line(t, r, i) for i, r in enumerate(records, start=1))
