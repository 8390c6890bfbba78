"""Every kind of form field in one place: how its answer is typed or picked, parsed, checked, stored,
read back in the chat, on the reviewer's card, in the roster and on the printed form.

A field (`bot.domain.form.FormField`) names its kind; a new kind is one `KindSpec` here (reusing one of
the wizard's ways of asking, `Ask`) and its locale lines. The modules that show answers call `KINDS`
through `bot.domain.form` and `bot.domain.render`, never a kind by name; screens and handlers choose by
`FormField.ask` (the way of asking), so a new kind is asked, answered and shown as its `Ask` is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field as PField

from bot.domain import values
from bot.domain.values import InvalidInput

if TYPE_CHECKING:
    from bot.domain.form import FormField

Tr = Callable[..., str]


class Kind(StrEnum):
    UNION = "union"  # choice of reviewing union, from the database
    YESNO = "yesno"  # eligibility condition
    TEXT = "text"  # one line
    LONGTEXT = "longtext"  # may come in several messages, then Done
    CHOICE = "choice"  # buttons, optionally with free-text "other"
    YEARMONTH = "yearmonth"
    AREA = "area"
    MONEY = "money"
    LINES = "lines"  # one item per line
    MEMBERS = "members"  # repeated rows of MEMBER_FIELDS
    PHOTOS = "photos"  # 3..5 images
    VIDEO = "video"
    DOCUMENT = "document"  # a file or typed text


class Ask(StrEnum):
    """How the wizard asks a kind (each has its screen and buttons in `bot.views.wizard`)."""

    UNION = "union"  # the active unions as buttons
    YESNO = "yesno"  # yes / no
    CHOICE = "choice"  # the options as buttons, with "other" where the field allows it
    TEXT = "text"  # one typed answer
    PARTS = "parts"  # typed in several messages, then "done"
    ITEMS = "items"  # a list, item by item
    MEMBERS = "members"  # the members table
    PHOTOS = "photos"
    VIDEO = "video"
    DOCUMENT = "document"  # files or typed text


# what the wizard waits for while asking (a locale key under `wrong.want.`)
WANTS = {Ask.UNION: "buttons", Ask.YESNO: "buttons", Ask.CHOICE: "buttons", Ask.MEMBERS: "buttons",
         Ask.TEXT: "text", Ask.PARTS: "text", Ask.ITEMS: "text", Ask.PHOTOS: "photo", Ask.VIDEO: "video",
         Ask.DOCUMENT: "document"}


@dataclass(frozen=True)
class KindSpec:
    """One kind of field. `parse` turns typed text into the stored value (None: not typed); `annotation`
    is its pydantic field in a complete application (None: files, counted apart); `show` reads a stored
    value as text; `cell` is its roster cell (None: the text `show` gives) with `cell_format` (XLSX);
    `sample` turns the field's declared sample into the stored value."""

    ask: Ask
    keep: bool  # an answered question offers "keep as it is"
    parse: Callable[[FormField, str, date, Mapping[str, str] | None], Any] | None = None
    annotation: Callable[[FormField], tuple[Any, Any]] | None = None
    show: Callable[[FormField, Any, Tr, Mapping[int, str] | None], str] | None = None
    cell: Callable[[Any], Any] | None = None
    cell_format: str | None = None
    file: bool = False  # answered by uploads (counted in `Application.files`)

    @property
    def wants(self) -> str:
        return WANTS[self.ask]

    @property
    def typed(self) -> bool:
        return self.parse is not None


# --- parsers


def _short(f: FormField, raw: str, today: date, labels: Mapping[str, str] | None) -> Any:
    return values.parse_short_text(raw, max_len=f.max_len)


def _long(f: FormField, raw: str, today: date, labels: Mapping[str, str] | None) -> Any:
    return values.parse_long_text(raw, max_len=f.max_len)


def _choice(f: FormField, raw: str, today: date, labels: Mapping[str, str] | None) -> Any:
    option = values.match_choice(raw, dict(labels or {}))
    if option in f.options():
        return option
    text = values.parse_short_text(raw, max_len=f.max_len)
    if not f.allow_other:
        raise InvalidInput("use_buttons")
    return text


def _year_month(f: FormField, raw: str, today: date, labels: Mapping[str, str] | None) -> Any:
    return values.parse_year_month(raw, on=today)


def _area(f: FormField, raw: str, today: date, labels: Mapping[str, str] | None) -> Any:
    return values.parse_area(raw)


def _money(f: FormField, raw: str, today: date, labels: Mapping[str, str] | None) -> Any:
    return values.parse_money(raw)


def _lines(f: FormField, raw: str, today: date, labels: Mapping[str, str] | None) -> Any:
    return values.parse_lines(raw, max_items=f.max_items, max_len=f.max_len)


# --- pydantic fields of a complete application


def _text_type(f: FormField) -> tuple[Any, Any]:
    return (str, PField(min_length=1, max_length=f.max_len))


# --- reading a stored value


def _lang(t: Tr) -> str:
    return getattr(t, "lang", "zh")


def _show_union(f: FormField, v: Any, t: Tr, unions: Mapping[int, str] | None) -> str:
    return (unions or {}).get(int(v), str(v))


def _show_yesno(f: FormField, v: Any, t: Tr, unions: Mapping[int, str] | None) -> str:
    return t("common.yes") if v else t("common.no")


def _show_choice(f: FormField, v: Any, t: Tr, unions: Mapping[int, str] | None) -> str:
    return t(f"choice.{f.choices}.{v}") if v in f.options() else str(v)


def _show_area(f: FormField, v: Any, t: Tr, unions: Mapping[int, str] | None) -> str:
    return values.format_area(float(v))


def _show_money(f: FormField, v: Any, t: Tr, unions: Mapping[int, str] | None) -> str:
    return values.format_money(int(v), _lang(t))


def _show_lines(f: FormField, v: Any, t: Tr, unions: Mapping[int, str] | None) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(v, start=1))


def _show_members(f: FormField, v: Any, t: Tr, unions: Mapping[int, str] | None) -> str:
    from bot.domain.render import member_line

    return "\n".join(member_line(row, t) for row in v)


KINDS: dict[Kind, KindSpec] = {
    Kind.UNION: KindSpec(Ask.UNION, keep=True, annotation=lambda f: (int, PField(gt=0)), show=_show_union,
                         cell=lambda v: v or ""),
    Kind.YESNO: KindSpec(Ask.YESNO, keep=True, annotation=lambda f: (bool, ...), show=_show_yesno),
    Kind.TEXT: KindSpec(Ask.TEXT, keep=True, parse=_short, annotation=_text_type),
    Kind.LONGTEXT: KindSpec(Ask.PARTS, keep=True, parse=_long, annotation=_text_type),
    Kind.CHOICE: KindSpec(Ask.CHOICE, keep=True, parse=_choice, annotation=_text_type, show=_show_choice),
    Kind.YEARMONTH: KindSpec(Ask.TEXT, keep=True, parse=_year_month,
                             annotation=lambda f: (str, PField(pattern=r"^\d{4}-(0[1-9]|1[0-2])$"))),
    Kind.AREA: KindSpec(Ask.TEXT, keep=True, parse=_area, annotation=lambda f: (float, PField(gt=0)),
                        show=_show_area, cell=lambda v: v, cell_format="0.##"),
    Kind.MONEY: KindSpec(Ask.TEXT, keep=True, parse=_money, annotation=lambda f: (int, PField(ge=0)),
                         show=_show_money, cell=lambda v: None if v is None else v / 10_000,  # 万元, as printed
                         cell_format="#,##0.####"),
    Kind.LINES: KindSpec(Ask.ITEMS, keep=False, parse=_lines,
                         annotation=lambda f: (list[str], PField(min_length=1)), show=_show_lines),
    Kind.MEMBERS: KindSpec(Ask.MEMBERS, keep=False, show=_show_members, cell=lambda v: len(v or [])),
    Kind.PHOTOS: KindSpec(Ask.PHOTOS, keep=False, file=True),
    Kind.VIDEO: KindSpec(Ask.VIDEO, keep=False, file=True),
    Kind.DOCUMENT: KindSpec(Ask.DOCUMENT, keep=False, parse=_long, file=True),
}
