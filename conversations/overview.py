"""`/overview`: the office's view of a season (admins and city reviewers): counts by status and union,
a paged list, any application's card — with buttons only for a reviewer who may decide it now.
`/pending` opens it for an admin who holds no review role."""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks as cb
from bot import notify
from bot.domain.workflow import Role
from bot.exports import data
from bot.runtime import Rq, handler
from bot.services import overview as svc
from bot.views import overview as views
from bot.views import review as review_views
from storage import repo

PAGE_SIZE = 10


def _refuse(rq: Rq, what: str) -> None:
    repo.audit(rq.session, rq.svc.clock.now(), "refused", actor_id=rq.user.id, details={"command": what})
    if rq.query is not None:
        rq.alert(rq.t.plain("overview.denied"))
    else:
        rq.reply(rq.t("overview.denied"))


def _years(year: int) -> tuple[int, ...]:
    return (year - 1, year, year + 1)


async def home(rq: Rq, year: int | None = None, *, edit: bool = False) -> None:
    """The season's counts (this season unless `year`)."""
    if year is None:
        year = await data.current_season(rq.session, rq.svc.clock.now(), rq.svc.settings.tz)
    counts = await svc.counts(rq.session, year)
    screen = views.home(rq.t, counts, _years(rq.svc.today().year))
    (rq.edit if edit else rq.reply)(*screen)


@handler
async def cmd_overview(rq: Rq) -> None:
    if not svc.may_see(rq.roles):
        _refuse(rq, "overview")
        return
    arg = (rq.context.args or [""])[0]
    await home(rq, int(arg) if arg.isdigit() and len(arg) == 4 else None)


@handler
async def on_button(rq: Rq) -> None:
    raw = rq.query.data if rq.query else None
    got = cb.decode(raw)
    if not svc.may_see(rq.roles):
        _refuse(rq, "overview")
        return
    if not isinstance(got, cb.Overview) or abs(got.year - rq.svc.today().year) > 1:
        rq.refuse(rq.t.plain("error.bad_button"), "bad_button")
        return
    flt = svc.Filter(got.status, got.union)
    if got.op is cb.OverviewOp.HOME:
        await home(rq, got.year, edit=True)
    elif got.op is cb.OverviewOp.LIST:
        page = await svc.listing(rq.session, got.year, flt, got.n or 0, PAGE_SIZE)
        unions = await svc.union_names(rq.session, page.items, rq.lang)
        if flt.union_id is not None and flt.union_id not in unions:
            union = await repo.get_union(rq.session, flt.union_id)
            unions[flt.union_id] = union.name(rq.lang) if union else ""
        rq.edit(*views.listing(rq.t, got.year, flt, page, unions))
    else:
        await _card(rq, got.year, flt, got.n)


async def _card(rq: Rq, year: int, flt: svc.Filter, app_id: int | None) -> None:
    """The application's card as a reviewer sees it: buttons for a city reviewer, read-only otherwise."""
    app = await repo.get_application(rq.session, app_id) if app_id is not None else None
    if app is None or app.season_year != year:
        rq.refuse(rq.t.plain("error.bad_button"), "bad_button")
        return
    d = await notify.card_data(rq.session, app)
    union = await repo.get_union(rq.session, app.union_id) if app.union_id else None
    role = Role.CITY if Role.CITY in rq.roles else Role.ADMIN  # an admin's card has no action to take
    text, markup = review_views.card(rq.t, notify.with_union(d, union, rq.lang), role)
    rq.reply(text, views.with_back(markup, views.back_row(rq.t, year, flt)))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("overview", cmd_overview))
    app.add_handler(CallbackQueryHandler(on_button, pattern=cb.Overview.pattern()))
