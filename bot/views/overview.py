"""The office's overview: a season's counts by status and union, a paged list, the way to a card."""

from __future__ import annotations

from collections.abc import Mapping

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.i18n import Translator
from bot.services.records import Counts, Filter, Listing
from bot.views.common import clip, kb, pairs

Screen = tuple[str, InlineKeyboardMarkup]
Op = cb.OverviewOp


ANY = Filter()


def _data(op: cb.OverviewOp, year: int, flt: Filter = ANY, n: int | None = None) -> str:
    return cb.Overview(op, year, flt.status, flt.union_id, n).encode()


def home(t: Translator, c: Counts, years: tuple[int, ...]) -> Screen:
    """The season's applications counted by status and by union, each count a button to its list."""
    lines = [t("overview.title", year=c.year, total=c.total)]
    if not c.total:
        lines.append(t("overview.none"))
    else:
        lines.append(t("overview.by_status"))
        lines += [t("overview.line", name=t(f"status.{st}"), n=n) for st, n in c.by_status]
        lines.append(t("overview.by_union"))
        lines += [t("overview.line", name=u.name(t.lang) if u else t.plain("overview.no_union"), n=n)
                  for u, n in c.by_union]
    rows: list[list[Btn]] = []
    if c.total:
        rows.append([Btn(t.plain("overview.button.all", n=c.total), callback_data=_data(Op.LIST, c.year, n=0))])
        rows += pairs([Btn(t.plain("overview.button.status", name=t.plain(f"status.{st}"), n=n),
                           callback_data=_data(Op.LIST, c.year, Filter(status=st), 0)) for st, n in c.by_status])
        rows += pairs([Btn(t.plain("overview.button.union", name=u.name(t.lang), n=n),
                           callback_data=_data(Op.LIST, c.year, Filter(union_id=u.id), 0))
                       for u, n in c.by_union if u is not None])
    rows.append([Btn(t.plain("overview.button.year", year=y), callback_data=_data(Op.HOME, y))
                 for y in years if y != c.year])
    return "\n".join(lines), kb(rows)


def listing(t: Translator, year: int, flt: Filter, page: Listing, unions: Mapping[int, str],
            leaders: Mapping[int, str] | None = None) -> Screen:
    """One page of the list: number, leader, union and status of each, a button to each card."""
    what = []
    if flt.status:
        what.append(t.plain(f"status.{flt.status}"))
    if flt.union_id is not None:
        what.append(unions.get(flt.union_id, ""))
    head = t("overview.list_title", year=year, what=t.join(what) if what else t.plain("overview.everything"),
             n=page.total, page=page.page + 1, pages=page.pages)
    lines = [head]
    buttons = []
    for i, app in enumerate(page.items, start=page.first):
        leader = str((app.answers or {}).get("leader_name") or "")
        lines.append(t("overview.item", i=i, number=app.number or t.plain("overview.draft"),
                       leader=clip(leader, 20) or "—", union=unions.get(app.union_id or 0, "—"),
                       status=t(f"status.{app.status}")))
        buttons.append(Btn(t.plain("overview.button.open", i=i, number=app.number or f"#{app.id}"),
                           callback_data=_data(Op.CARD, year, flt, app.id)))
    if not page.items:
        lines.append(t("overview.none"))
    rows = pairs(buttons, 3)
    nav = []
    if page.page > 0:
        nav.append(Btn(t.plain("pager.prev"), callback_data=_data(Op.LIST, year, flt, page.page - 1)))
    if page.page + 1 < page.pages:
        nav.append(Btn(t.plain("pager.next"), callback_data=_data(Op.LIST, year, flt, page.page + 1)))
    rows.append(nav)
    rows.append([Btn(t.plain("overview.button.home"), callback_data=_data(Op.HOME, year))])
    return "\n".join(lines), kb(rows)


def back_row(t: Translator, year: int, flt: Filter) -> list[Btn]:
    """Under a card opened from the list: back to the list."""
    return [Btn(t.plain("overview.button.back"), callback_data=_data(Op.LIST, year, flt, 0))]


def with_back(markup: InlineKeyboardMarkup, row: list[Btn]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([*[list(r) for r in markup.inline_keyboard], row])
