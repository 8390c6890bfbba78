"""`/reminders`: the person's upcoming reminders; the contact person mutes or unmutes a kind."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks as cb
from bot.domain.pings import CONTACT_KINDS, Kind
from bot.domain.workflow import Role
from bot.runtime import Rq, handler
from bot.services import pings as svc_pings
from bot.views import reminders as views
from storage import repo
from storage.models import Application as App
from storage.models import Studio


async def _screen(rq: Rq) -> tuple[str, InlineKeyboardMarkup | None]:
    upcoming = await svc_pings.upcoming_for(rq.session, rq.svc.clock.now(), rq.svc.settings, rq.user.id)
    off = await svc_pings.mutes_of(rq.session, rq.user.id)
    apps = await repo.by_ids(rq.session, App, (p.app_id for p in upcoming if p.app_id))
    studios = await repo.by_ids(rq.session, Studio, (p.studio_id for p in upcoming if p.studio_id))
    numbers = {i: a.number or str(a.season_year) for i, a in apps.items()}
    names = {i: x.name for i, x in studios.items()}
    items = [views.Upcoming(rq.svc.local(p.send_at).strftime("%Y-%m-%d %H:%M"),
                            svc_pings.describe(rq.t, p, numbers, names), p.kind.value in off) for p in upcoming]
    s = rq.svc.settings
    return views.reminders_screen(rq.t, items, off, (s.quiet_end_hour, s.quiet_start_hour),
                                  contact=Role.CONTACT in rq.roles)


@handler
async def cmd_reminders(rq: Rq) -> None:
    rq.reply(*await _screen(rq))


@handler
async def on_mute_button(rq: Rq) -> None:
    t = rq.t
    data = cb.decode(rq.query.data if rq.query else None)
    kinds = {k.value: k for k in CONTACT_KINDS}
    if not isinstance(data, cb.MuteBtn) or data.kind not in kinds:
        rq.refuse(t("error.bad_button"), "bad_button")
        return
    if Role.CONTACT not in rq.roles:
        rq.refuse(t("reminders.not_contact"), "role")
        return
    kind: Kind = kinds[data.kind]
    now_muted = await svc_pings.toggle_mute(rq.session, rq.user.id, kind)
    await rq.session.flush()
    label = t.plain(f"reminders.kind.{kind.value}")
    rq.toast(t.plain("reminders.toast.muted" if now_muted else "reminders.toast.unmuted", kind=label))
    rq.edit(*await _screen(rq))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("reminders", cmd_reminders))
    app.add_handler(CallbackQueryHandler(on_mute_button, pattern=cb.MuteBtn.pattern()))
