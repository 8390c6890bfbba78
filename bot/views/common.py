"""What every screen uses: escaping and clipping text, keyboards from rows of buttons, and pages of a
long list with one pager."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot.i18n import Translator

T = TypeVar("T")


def esc(text: object) -> str:
    """Text for an HTML message, as written."""
    return html.escape(str(text), quote=False)


def clip(text: str, n: int) -> str:
    """At most `n` characters, an ellipsis where it was cut."""
    return text if len(text) <= n else text[: n - 1] + "…"


def kb(rows: Sequence[Sequence[Btn]]) -> InlineKeyboardMarkup:
    """A keyboard of the rows that have buttons (an empty row is left out)."""
    return InlineKeyboardMarkup([list(r) for r in rows if r])


def pairs(btns: Sequence[Btn], n: int = 2) -> list[list[Btn]]:
    """Buttons `n` to a row."""
    return [list(btns[i : i + n]) for i in range(0, len(btns), n)]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, its number (from 0), how many pages, the list's number of its first."""

    items: list[T]
    number: int
    count: int
    first: int

    @property
    def more(self) -> bool:
        return self.count > 1


def page_of(items: Sequence[T], number: int, size: int) -> Page[T]:
    """Page `number` of `items` (clamped to the pages there are; an empty list has one empty page)."""
    count = max(1, -(-len(items) // size))
    number = min(max(number, 0), count - 1)
    return Page(list(items[number * size : (number + 1) * size]), number, count, number * size + 1)


def pager(t: Translator, page: Page[T], data: Callable[[int], str]) -> list[Btn]:
    """The row with the buttons to the previous and the next page; `data(n)`: the callback of page n."""
    row = []
    if page.number > 0:
        row.append(Btn(t.plain("pager.prev"), callback_data=data(page.number - 1)))
    if page.number + 1 < page.count:
        row.append(Btn(t.plain("pager.next"), callback_data=data(page.number + 1)))
    return row
