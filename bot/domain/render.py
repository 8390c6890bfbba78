"""How stored answers read, for the chat summary, the reviewer's view and the printed form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.domain import form, values
from bot.domain.form import FormField, Kind

Tr = Callable[..., str]


def display(f: FormField, value: Any, t: Tr, *, unions: Mapping[int, str] | None = None) -> str:
    """A stored value as plain text in the translator's language ('' when unanswered)."""
    if value is None or value == "" or value == []:
        return ""
    match f.kind:
        case Kind.UNION:
            return (unions or {}).get(int(value), str(value))
        case Kind.YESNO:
            return t("common.yes") if value else t("common.no")
        case Kind.CHOICE:
            if value in f.options():
                return t(f"choice.{f.choices}.{value}")
            return str(value)
        case Kind.AREA:
            return values.format_area(float(value))
        case Kind.MONEY:
            return values.format_money(int(value), _lang(t))
        case Kind.LINES:
            return "\n".join(f"{i}. {item}" for i, item in enumerate(value, start=1))
        case Kind.MEMBERS:
            return "\n".join(member_line(row, t) for row in value)
    return str(value)


def _lang(t: Tr) -> str:
    return getattr(t, "lang", "zh")


def member_cells(row: Mapping[str, Any], t: Tr) -> list[str]:
    """The seven cells of a members-table row (R-F6), in the printed form's order."""
    data = form.member_row(row)
    return [display(f, data[f.key], t) for f in form.MEMBER_FIELDS]


def member_line(row: Mapping[str, Any], t: Tr) -> str:
    cells = member_cells(row, t)
    return f"{cells[0]}（{'，'.join(c for c in cells[1:] if c)}）" if _lang(t) == "zh" else (
        f"{cells[0]} ({', '.join(c for c in cells[1:] if c)})"
    )
