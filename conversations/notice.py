"""`/notice [year]`: the year's publicly notified and delisted studios as a document for publication (R-O2)."""

from __future__ import annotations

from telegram.ext import Application, CommandHandler

from bot import effects
from bot.domain.workflow import Role
from bot.runtime import Rq, handler
from bot.services import studios as svc
from conversations import inputs
from storage import repo


@handler
async def cmd_notice(rq: Rq) -> None:
    t = rq.t
    if not rq.roles & {Role.CITY, Role.CONTACT, Role.ADMIN}:
        rq.reply(t("oversight.only"))
        return
    year = inputs.year_arg(rq)
    rows = await svc.notice_list(rq.session, year)
    repo.audit(rq.session, rq.svc.clock.now(), "export", actor_id=rq.user.id,
               details={"what": "public_notice", "year": year, "studios": len(rows)})
    rq.owe(effects.render(rq.chat_id, "notice", year=year, lang=rq.lang))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("notice", cmd_notice))
