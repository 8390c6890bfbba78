"""`/my` and `/status`: the applicant's applications and their timelines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks as cb
from bot import effects
from bot.callbacks import Codec
from bot.domain import calendar, workflow
from bot.domain.workflow import Status
from bot.runtime import Rq, handler
from bot.services import drafts
from bot.services import review as svc_review
from bot.views.wizard import season_line
from storage import repo
from storage.models import Application as App


@dataclass(frozen=True)
class MyApps(Codec):
    """Show /my (the /start button)."""

    prefix: ClassVar[str] = "mine"


@dataclass(frozen=True)
class MyForm(Codec):
    """The printable form of one of my applications, as it stands now (R-F9)."""

    prefix: ClassVar[str] = "mf"
    app: int


def _gaps(app: App) -> int:
    return len(drafts.missing(app, app.files or {}))


async def my_screen(rq: Rq) -> tuple[str, InlineKeyboardMarkup | None]:
    t = rq.t
    apps = await repo.applications_of(rq.session, rq.user.id)
    if not apps:
        return t("my.none"), None
    from conversations.apply import Go

    now, tz = rq.svc.clock.now(), rq.svc.settings.tz
    lines = [t("my.title")]
    rows = []
    st = await drafts.standing(rq.session, apps, now, tz)
    for app in apps:
        season = await repo.ensure_season(rq.session, app.season_year)
        forfeited = drafts.forfeited(app, season, now, tz)
        if app.number is None and not forfeited and drafts.editable(app):  # a draft in progress
            lines.append(t("applicant.my_draft", year=app.season_year))
            window = season_line(t, season, now, tz)
            if window:
                lines.append(window)
            n = _gaps(app)
            lines.append(t("applicant.missing", n=n) if n else t("applicant.complete"))
            rows.append([Btn(t.plain("applicant.continue", year=app.season_year), callback_data=Go().encode())])
            continue
        lines.append(t("my.line", year=app.season_year, number=app.number or t("summary.no_number"),
                       status=t(f"status.{app.status}"), name=app.studio_name or ""))
        if forfeited:  # that year only (R-D1): a record, read-only
            lines.append(t("my_season.forfeited", date=season.deadline.isoformat(), year=app.season_year))
        elif Status(app.status) is Status.RETURNED_L1:
            left = calendar.days_left(season.deadline, now, tz)
            lines.append(t("my.days_left", date=season.deadline.isoformat(), days=max(left, 0)))
        if app.number is not None:
            rows.append([Btn(t.plain("my.button.status", number=app.number), callback_data=cb.Status(app.id).encode()),
                         Btn(t.plain("my.button.form"), callback_data=MyForm(app.id).encode())])
    if st.current is None:
        lines.append("")
        lines.append(t("my_season.new", year=st.season.year, opens=st.season.opens_on.isoformat(),
                       deadline=st.season.deadline.isoformat()))
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


@handler
async def cmd_my(rq: Rq) -> None:
    rq.reply(*await my_screen(rq))


@handler
async def on_my_button(rq: Rq) -> None:
    if not isinstance(cb.decode(rq.query.data if rq.query else None), MyApps):
        rq.refuse(rq.t("error.bad_button"), "bad_button")
        return
    rq.reply(*await my_screen(rq))


async def timeline(rq: Rq, app: App) -> str:
    t = rq.t
    if app.number is None:  # never submitted: no number and no progress yet
        season = await repo.ensure_season(rq.session, app.season_year)
        now, tz = rq.svc.clock.now(), rq.svc.settings.tz
        lines = [t("applicant.status_draft", year=app.season_year)]
        if drafts.forfeited(app, season, now, tz):
            lines.append(t("my_season.forfeited", date=season.deadline.isoformat(), year=app.season_year))
        else:
            window = season_line(t, season, now, tz)
            if window:
                lines.append(window)
            n = _gaps(app)
            lines.append(t("applicant.missing", n=n) if n else t("applicant.complete"))
        return "\n".join(lines)
    lines = [t("timeline.title", number=app.number, status=t(f"status.{app.status}"))]
    for ev in await repo.audit_trail(rq.session, app.id):
        if not ev.to_status or ev.action in ("refused", "refused_button"):
            continue
        who = ""
        if ev.actor_id and ev.actor_id != app.applicant_id:
            user = await repo.get_user(rq.session, ev.actor_id)
            who = user.display_name if user else ""
        lines.append(t("timeline.line", when=rq.svc.local(ev.at).strftime("%Y-%m-%d %H:%M"),
                       action=t(f"action.{ev.action}") if t.has(f"action.{ev.action}") else ev.action,
                       who=who, status=t(f"status.{ev.to_status}")))
        on = (ev.details or {}).get("date") if ev.action == "schedule" else None
        if on:
            lines.append(t("timeline.inspection", date=on))
        if ev.opinion and not _internal(ev.action):
            lines.append(t("timeline.opinion", text=ev.opinion))
    if app.studio_name:
        lines.append(t("timeline.named", name=app.studio_name,
                       date=app.plaque_on.isoformat() if app.plaque_on else ""))
    return "\n".join(lines)


def _internal(action: str) -> bool:
    """An opinion that stays with the reviewers and the meeting (the findings, the preliminary opinion)."""
    known = {a.value for a in workflow.Action}
    return action in known and workflow.of_action(workflow.Action(action)).internal


@handler
async def cmd_status(rq: Rq) -> None:
    apps = await repo.applications_of(rq.session, rq.user.id)
    if not apps:
        rq.reply(rq.t("my.none"))
        return
    rq.reply(await timeline(rq, apps[0]))


@handler
async def on_status_button(rq: Rq) -> None:
    data = cb.decode(rq.query.data if rq.query else None)
    app = await repo.get_application(rq.session, data.app) if isinstance(data, cb.Status) else None
    if app is None or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles):
        repo.audit(rq.session, rq.svc.clock.now(), "refused", actor_id=rq.user.id,
                   details={"data": rq.query.data if rq.query else None, "why": "forged"})
        rq.alert(rq.t("workflow.denied.forged"))
        return
    rq.reply(await timeline(rq, app))


@handler
async def on_form_button(rq: Rq) -> None:
    """/my's form button: the form of an application the presser may see, made now and sent."""
    data = cb.decode(rq.query.data if rq.query else None)
    app = await repo.get_application(rq.session, data.app) if isinstance(data, MyForm) else None
    if app is None or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles):
        rq.refuse(rq.t("workflow.denied.forged"), "forged")
        return
    rq.toast(rq.t.plain("my.form_coming"))
    rq.owe(effects.render(rq.chat_id, "form", app=app.id, version=app.version))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("my", cmd_my))
    app.add_handler(CommandHandler("status", cmd_status))
    app.add_handler(CallbackQueryHandler(on_status_button, pattern=cb.Status.pattern()))
    app.add_handler(CallbackQueryHandler(on_my_button, pattern=MyApps.pattern()))
    app.add_handler(CallbackQueryHandler(on_form_button, pattern=MyForm.pattern()))
