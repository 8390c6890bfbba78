"""How stored answers read, for the chat summary, the reviewer's view and the printed form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.domain import form
from bot.domain.form import FormField

Tr = Callable[..., str]


def display(f: FormField, value: Any, t: Tr, *, unions: Mapping[int, str] | None = None) -> str:
    """A stored value as plain text in the translator's language ('' when unanswered), as its kind reads
    it (`bot.domain.kinds`)."""
    if value is None or value == "" or value == []:
        return ""
    show = f.kind_spec.show
    return show(f, value, t, unions) if show is not None else str(value)


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
