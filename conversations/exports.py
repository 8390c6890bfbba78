"""`/export` and `/stats` for the city federation: the season's roster (XLSX), each application's archive
(ZIP), and the figures with a chart. City reviewers, the contact person and admins only.

`/export`            this season's roster, then a button per application for its archive
`/export 2025`       another season's roster
`/export 2026-0001`  one application's archive
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import ClassVar

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import effects
from bot.callbacks import Codec, decode
from bot.domain.workflow import Role
from bot.exports import data, service
from bot.runtime import Rq, handler
from storage import repo
from storage.models import Application as App

ALLOWED = frozenset({Role.CITY, Role.CONTACT, Role.ADMIN})
MAX_BUTTONS = 30
_NUMBER = re.compile(r"^\d{4}-\d{4}$")
_YEAR = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class ExportZip(Codec):
    """The archive of one application."""

    prefix: ClassVar[str] = "xz"
    app: int


def _allowed(rq: Rq) -> bool:
    return bool(rq.roles & ALLOWED)


def _refuse(rq: Rq, what: str, key: str) -> None:
    repo.audit(rq.session, rq.svc.clock.now(), "refused", actor_id=rq.user.id, details={"command": what})
    if rq.query is not None:
        rq.alert(rq.t.plain(key))
    else:
        rq.reply(rq.t(key))


@handler
async def cmd_export(rq: Rq) -> None:
    if not _allowed(rq):
        _refuse(rq, "export", "export.denied")
        return
    args = rq.context.args or []
    year = await data.current_season(rq.session, rq.svc.clock.now(), rq.svc.settings.tz)
    if args:
        arg = args[0].strip()
        if _NUMBER.match(arg):
            app = await data.find_by_number(rq.session, arg)
            if app is None:
                rq.reply(rq.t("export.not_found", number=arg))
                return
            await _archive(rq, app)
            return
        if not _YEAR.match(arg):
            rq.reply(rq.t("export.usage"))
            return
        year = int(arg)
    await _roster(rq, year)


async def _roster(rq: Rq, year: int) -> None:
    t = rq.t
    apps = await data.season_listing(rq.session, year)  # (id, number, leader): no application loaded
    repo.audit(rq.session, rq.svc.clock.now(), "export", actor_id=rq.user.id,
               details={"what": "roster", "season": year, "applications": len(apps)})
    if not apps:
        rq.reply(t("export.none", year=year))
    rows = [[Btn(t.plain("export.button.zip", number=number or "", leader=leader),
                 callback_data=ExportZip(app_id).encode())] for app_id, number, leader in apps[:MAX_BUTTONS]]
    choose = t("export.choose")
    if len(apps) > MAX_BUTTONS:
        choose += "\n" + t("export.more", n=len(apps) - MAX_BUTTONS)
    rq.owe(effects.render(rq.chat_id, "roster", year=year, lang=rq.lang))
    if rows:
        rq.notify(rq.chat_id, choose, InlineKeyboardMarkup(rows))


async def _archive(rq: Rq, app: App) -> None:
    """Owe the archive of `app` to this chat (built after the commit)."""
    repo.audit(rq.session, rq.svc.clock.now(), "export", application_id=app.id, actor_id=rq.user.id,
               details={"what": "archive"})
    rq.reply(rq.t("export.working"))
    rq.owe(effects.render(rq.chat_id, "archive", app=app.id, lang=rq.lang))


@handler
async def on_zip(rq: Rq) -> None:
    payload = decode(rq.query.data if rq.query else None)
    if not _allowed(rq):
        _refuse(rq, "export", "export.denied")
        return
    app = await repo.get_application(rq.session, payload.app) if isinstance(payload, ExportZip) else None
    if app is None:
        rq.refuse(rq.t.plain("workflow.denied.forged"), "forged")
        return
    await _archive(rq, app)


@handler
async def cmd_stats(rq: Rq) -> None:
    if not _allowed(rq):
        _refuse(rq, "stats", "stats.denied")
        return
    year = await data.current_season(rq.session, rq.svc.clock.now(), rq.svc.settings.tz)
    args = rq.context.args or []
    if args and _YEAR.match(args[0].strip()):
        year = int(args[0].strip())
    i18n = rq.svc.i18n
    report = await service.stats_report(rq.session, year, i18n, rq.lang)
    rq.reply(report.text)  # the figures at once; the chart (matplotlib: ~0.5 s the first time) follows
    # the chart is drawn from these same figures (not read again: the text and the chart agree)
    rq.owe(effects.render(rq.chat_id, "chart", year=year, lang=rq.lang,
                          figures={k: asdict(v) for k, v in report.figures.items()}))


def register(app: Application) -> None:
    """Add the handlers; call before the catch-all handlers of conversations/common.py."""
    app.add_handler(CommandHandler("export", cmd_export))
    app.add_handler(CommandHandler("stats", cmd_stats))
    app.add_handler(CallbackQueryHandler(on_zip, pattern=ExportZip.pattern()))
