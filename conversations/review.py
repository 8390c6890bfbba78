"""Reviewers: the application card, action buttons, opinions, `/pending`.

Review buttons are top-level entry points (not states of the applicant's flow); each press is
re-checked against the database, the presser's role and union, and the workflow table.
"""

from __future__ import annotations

import html
import logging
import re
import warnings
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import callbacks as cb
from bot import effects
from bot.domain import form, workflow
from bot.domain.render import display, member_line
from bot.domain.workflow import Action, NotAllowed, Opinion, Role, Status
from bot.i18n import Translator
from bot.runtime import Rq, handler
from bot.services import review as svc_review
from storage import repo
from storage.models import Application as App
from storage.models import OpinionRecord

log = logging.getLogger(__name__)

OPINION = "opinion"
NAME = "review"
CARD_FIELDS = ("applying_unit", "leader_name", "leader_honour", "leader_title", "location", "area", "funds")
DEFAULT_OPINION = {Action.L1_APPROVE: "review.default.l1_approve", Action.APPROVE: "review.default.approve"}


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


async def card(s: AsyncSession, t: Translator, app: App, role: Role, first_year: bool,
               opinions: Sequence[OpinionRecord] | None = None) -> tuple[str, Any]:
    """The reviewer's readable summary and the buttons the workflow allows now (`opinions`: the
    application's, when the caller has them already)."""
    union = await s.get(repo.Union, app.union_id) if app.union_id else None
    a = app.answers or {}
    lines = [t("review.card_title", number=app.number or "", union=union.name(t.lang) if union else "",
               status=t(f"status.{app.status}"))]
    for key in CARD_FIELDS:
        f = form.BY_KEY[key]
        lines.append(f"<b>{t(f.label_key)}</b>: {html.escape(display(f, a.get(key), t))}")
    members = a.get("members") or []
    lines.append(f"<b>{t('field.members.label')}</b> ({len(members)}):")
    lines += [f"• {html.escape(member_line(r, t))}" for r in members[:8]]
    plan = display(form.BY_KEY["plan"], a.get("plan"), t)
    lines.append(f"<b>{t('field.plan.label')}</b>: {html.escape(_clip(plan, 400))}")
    for op in opinions if opinions is not None else await repo.opinions(s, app.id):
        if op.box != workflow.Box.UNIT.value:
            lines.append(t("review.opinion_line", box=t(f"box.{op.box}"), text=_clip(op.text, 300)))
    if app.inspection_on:
        lines.append(t("review.inspection_on", date=app.inspection_on.isoformat()))
    actions = workflow.actions_for(Status(app.status), role, first_year=first_year)
    rows = [[Btn(t(f"action.{a_.value}"), callback_data=cb.Review(a_, app.id).encode())] for a_ in actions]
    rows.append([Btn(t("review.button.full"), callback_data=cb.ReviewAux(cb.ReviewOp.FULL, app.id).encode())])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def applicant_news(t: Translator, app: App, action: str, opinion: str | None) -> str:
    parts = [t(f"news.{action}", number=app.number or "", name=app.studio_name or "",
               date=app.plaque_on.isoformat() if app.plaque_on else "",
               inspection=app.inspection_on.isoformat() if app.inspection_on else "")]
    if opinion:
        parts.append(t("news.opinion", text=opinion))
    if app.status == Status.REJECTED.value:
        parts.append(t("news.rejected_rule"))
    if app.status in (Status.RETURNED_L1.value, Status.RETURNED_L2.value):
        if app.reopened:
            parts.append(t("news.reopened", sections=t.join([t(f"section.{x}") for x in app.reopened])))
        parts.append(t("news.resubmit"))
    return "\n\n".join(parts)


def decided_keyboard(t: Translator, app: App) -> InlineKeyboardMarkup:
    """A decided card keeps one button: the full form, as it stands."""
    return InlineKeyboardMarkup([[Btn(t("review.button.full"),
                                      callback_data=cb.ReviewAux(cb.ReviewOp.FULL, app.id).encode())]])


def applicant_keyboard(t: Translator, app: App) -> InlineKeyboardMarkup | None:
    if app.status in (Status.RETURNED_L1.value, Status.RETURNED_L2.value):
        return InlineKeyboardMarkup([[Btn(t("news.button.edit"),
                                          callback_data=cb.Wiz(app.id, cb.WizardOp.RESUME).encode())]])
    return None


def _pending(rq: Rq) -> dict[str, Any]:
    return dict(rq.context.user_data.get("review") or {}) if rq.context.user_data is not None else {}


def _set_pending(rq: Rq, value: dict[str, Any] | None) -> None:
    ud = rq.context.user_data
    if ud is None:
        return
    if value is None:
        ud.pop("review", None)
    else:
        ud["review"] = value
    # written with this update's conversation state, not at the next interval
    rq.context.application.mark_data_for_update_persistence(user_ids=[rq.user.id])


async def _refuse(rq: Rq, reason: str, data: str | None, app_id: int | None, **params: object) -> None:
    """Refuse a press: nothing changes, the presser is told why, the attempt is recorded."""
    repo.audit(rq.session, rq.svc.clock.now(), "refused", application_id=app_id, actor_id=rq.user.id,
               details={"data": data, "why": reason})
    rq.alert(rq.t(f"workflow.denied.{reason}", **params))


async def _decided(rq: Rq, app: App, *, alert: bool) -> bool:
    """Someone else moved the application first (two reviewers at once): say who, when and what."""
    last = await repo.last_transition(rq.session, app.id)
    if last is None or last.actor_id == rq.user.id:
        return False
    actor = await repo.get_user(rq.session, last.actor_id) if last.actor_id else None
    text = rq.t("workflow.denied.decided", who=actor.display_name if actor else "",
                when=rq.svc.local(last.at).strftime("%Y-%m-%d %H:%M"), action=rq.t(f"action.{last.action}"),
                status=rq.t(f"status.{app.status}"))
    repo.audit(rq.session, rq.svc.clock.now(), "refused", application_id=app.id, actor_id=rq.user.id,
               details={"data": rq.query.data if rq.query else None, "why": "decided"})
    if alert:
        rq.alert(text)
    else:
        rq.reply(text)
    return True


async def _load(rq: Rq, app_id: int) -> tuple[App | None, bool]:
    app = await repo.get_application(rq.session, app_id)
    if app is None:
        return None, False
    season = await repo.ensure_season(rq.session, app.season_year)
    return app, season.first_year


@handler
async def on_review(rq: Rq) -> str | int:
    raw = rq.query.data if rq.query else None
    data = cb.decode(raw)
    if not isinstance(data, cb.Review):
        await _refuse(rq, "forged", raw, None)
        return ConversationHandler.END
    app, first_year = await _load(rq, data.app)
    if app is None:
        await _refuse(rq, "forged", raw, None)
        return ConversationHandler.END
    try:
        t = await svc_review.check(rq.session, app, rq.user.id, rq.roles, data.action, first_year)
    except NotAllowed as exc:
        if exc.reason == "status" and await _decided(rq, app, alert=True):  # audited there
            return ConversationHandler.END
        await _refuse(rq, exc.reason, raw, app.id, status=rq.t(f"status.{app.status}"))
        return ConversationHandler.END
    pending = {"app": app.id, "action": data.action.value}
    if t.opinion is not Opinion.NONE:
        pending["step"] = "opinion"
    elif t.needs_date:
        pending["step"] = "date"
    else:
        await _finish(rq, app, pending, first_year)
        return ConversationHandler.END
    _set_pending(rq, pending)
    _prompt(rq, app, pending)
    return OPINION


def _prompt(rq: Rq, app: App, pending: dict[str, Any]) -> None:
    t = rq.t
    action = Action(pending["action"])
    step = pending["step"]
    rows: list[list[Btn]] = []
    params = {"number": app.number or "", "action": t(f"action.{action.value}")}
    if step == "opinion":
        text = t("review.ask_opinion_required" if workflow_opinion(action) is Opinion.REQUIRED
                 else "review.ask_opinion", **params)
        if action in DEFAULT_OPINION:
            default = t(DEFAULT_OPINION[action])
            rows.append([Btn(t.plain("review.button.default", text=default),
                             callback_data=cb.ReviewAux(cb.ReviewOp.DEFAULT, app.id).encode())])
    elif step == "date":
        text = t("review.ask_plaque_date" if action is Action.APPROVE else "review.ask_inspection_date", **params)
    elif step == "name":
        default = svc_review.default_studio_name(app)
        text = t("review.ask_name", default=default, **params)
        rows.append([Btn(t.plain("review.button.use_name", name=default),
                         callback_data=cb.ReviewAux(cb.ReviewOp.DEFAULT, app.id).encode())])
    else:  # reopen
        chosen = pending.get("reopen") or []
        text = t("review.ask_reopen", chosen=t.join([t(f"section.{x}") for x in chosen]) or t("review.whole_form"))
        btns = [Btn(("✅ " if s_ in chosen else "") + t(f"section.{s_}"),
                    callback_data=cb.ReviewSection(app.id, s_).encode()) for s_ in form.SECTIONS]
        rows += [btns[i : i + 3] for i in range(0, len(btns), 3)]
        rows.append([Btn(t("review.button.reopen_done"),
                         callback_data=cb.ReviewAux(cb.ReviewOp.DEFAULT, app.id).encode())])
    rows.append([Btn(t("review.button.cancel"), callback_data=cb.ReviewAux(cb.ReviewOp.CANCEL, app.id).encode())])
    rq.reply(text, InlineKeyboardMarkup(rows))


def workflow_opinion(action: Action) -> Opinion:
    return next(t.opinion for t in workflow.TABLE if t.action is action)


def _next_step(action: Action, step: str) -> str | None:
    order = ["opinion"]
    t = next(x for x in workflow.TABLE if x.action is action)
    if action is Action.APPROVE:
        order += ["name", "date"]
    elif t.needs_date:
        order += ["date"]
    if t.target in (Status.RETURNED_L1, Status.RETURNED_L2):
        order += ["reopen"]
    i = order.index(step)
    return order[i + 1] if i + 1 < len(order) else None


_DATE = re.compile(r"^(\d{4})[-./年](\d{1,2})[-./月](\d{1,2})日?$")


@handler
async def on_text(rq: Rq) -> str | int:
    pending = _pending(rq)
    if not pending:
        rq.reply(rq.t("review.nothing_pending"))
        return ConversationHandler.END
    app, first_year = await _load(rq, int(pending["app"]))
    if app is None:
        _set_pending(rq, None)
        return ConversationHandler.END
    text = (rq.message.text if rq.message else "") or ""
    text = " ".join(text.split()) if pending["step"] != "opinion" else text.strip()
    step = pending["step"]
    if step == "opinion":
        if not text or len(text) > 1000:
            rq.reply(rq.t("review.opinion_length", max=1000))
            return OPINION
        pending["opinion"] = text
    elif step == "date":
        m = _DATE.match(text)
        try:
            on = date(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
        except ValueError:
            on = None
        if on is None:
            rq.reply(rq.t("review.bad_date"))
            return OPINION
        pending["on"] = on.isoformat()
    elif step == "name":
        if not 2 <= len(text) <= 100:
            rq.reply(rq.t("review.bad_name", max=100))
            return OPINION
        pending["name"] = text
    else:
        rq.reply(rq.t("review.use_buttons"))
        return OPINION
    return await _advance(rq, app, pending, first_year)


async def _advance(rq: Rq, app: App, pending: dict[str, Any], first_year: bool) -> str | int:
    nxt = _next_step(Action(pending["action"]), pending["step"])
    if nxt is None:
        await _finish(rq, app, pending, first_year)
        return ConversationHandler.END
    pending["step"] = nxt
    _set_pending(rq, pending)
    _prompt(rq, app, pending)
    return OPINION


@handler
async def on_aux(rq: Rq) -> str | int:
    raw = rq.query.data if rq.query else None
    data = cb.decode(raw)
    if isinstance(data, cb.ReviewAux) and data.op is cb.ReviewOp.FULL:
        await _full(rq, data.app)
        return ConversationHandler.END if not _pending(rq) else OPINION
    pending = _pending(rq)
    if not isinstance(data, cb.ReviewAux | cb.ReviewSection) or not pending or int(pending["app"]) != data.app:
        rq.refuse(rq.t("error.stale_button"), "stale")
        return OPINION if pending else ConversationHandler.END
    app, first_year = await _load(rq, data.app)
    if app is None:
        return ConversationHandler.END
    if isinstance(data, cb.ReviewSection):
        if pending.get("step") != "reopen" or data.section not in form.SECTIONS:
            rq.refuse(rq.t("error.stale_button"), "stale")
            return OPINION
        chosen = list(pending.get("reopen") or [])
        chosen = [x for x in chosen if x != data.section] if data.section in chosen else [*chosen, data.section]
        pending["reopen"] = chosen
        _set_pending(rq, pending)
        _prompt(rq, app, pending)
        return OPINION
    if data.op is cb.ReviewOp.CANCEL:
        _set_pending(rq, None)
        rq.edit(rq.t("review.cancelled"))
        return ConversationHandler.END
    step = pending.get("step")
    action = Action(pending["action"])
    if step == "opinion" and action in DEFAULT_OPINION:
        pending["opinion"] = rq.t(DEFAULT_OPINION[action])
    elif step == "name":
        pending["name"] = svc_review.default_studio_name(app)
    elif step == "date" and action is Action.APPROVE:
        season = await repo.ensure_season(rq.session, app.season_year)
        pending["on"] = season.naming_by.isoformat()
    elif step != "reopen":
        rq.alert(rq.t("review.use_text"))
        return OPINION
    return await _advance(rq, app, pending, first_year)


async def _finish(rq: Rq, app: App, pending: dict[str, Any], first_year: bool) -> None:
    action = Action(pending["action"])
    d = svc_review.Decision(opinion=pending.get("opinion"), studio_name=pending.get("name"),
                            on=date.fromisoformat(pending["on"]) if pending.get("on") else None,
                            reopen=pending.get("reopen"))
    _set_pending(rq, None)
    try:
        await svc_review.decide(rq.session, app, rq.user.id, rq.roles, action, d, rq.svc.clock.now(),
                                first_year=first_year, tz=rq.svc.settings.tz)
        await rq.session.flush()
    except NotAllowed as exc:  # checked before anything changes: nothing to roll back
        if exc.reason == "status" and await _decided(rq, app, alert=False):
            return
        repo.audit(rq.session, rq.svc.clock.now(), "refused", application_id=app.id, actor_id=rq.user.id,
                   details={"action": action.value, "why": exc.reason})
        rq.reply(rq.t(f"workflow.denied.{exc.reason}", status=rq.t(f"status.{app.status}")))
        return
    rq.reply(rq.t("review.done", number=app.number or "", action=rq.t(f"action.{action.value}"),
                  status=rq.t(f"status.{app.status}")))
    from bot import notify

    await notify.transitioned(rq, app, action.value)


async def _full(rq: Rq, app_id: int) -> None:
    from conversations.apply import summary_text

    app = await repo.get_application(rq.session, app_id)
    if app is None or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles):
        await _refuse(rq, "forged", rq.query.data if rq.query else None, app_id if app else None)
        return
    rq.reply(await summary_text(rq, app))
    rq.owe(effects.render(rq.user.id, "form", app=app.id, version=app.version))


@handler
async def cmd_pending(rq: Rq) -> None:
    """What awaits me, oldest first, each with its buttons again."""
    t = rq.t
    if not rq.roles & {Role.DISTRICT, Role.CITY}:
        rq.reply(t("review.not_reviewer"))
        return
    cards: list[tuple[str, Any]] = []
    if Role.DISTRICT in rq.roles:
        unions = await repo.reviewer_unions(rq.session, rq.user.id)
        q = select(App).where(App.status.in_([s.value for s in workflow.LEVEL1_WAITING]), App.union_id.in_(unions))
        for app in (await rq.session.scalars(q.order_by(App.status_since, App.id))).all():
            season = await repo.ensure_season(rq.session, app.season_year)
            cards.append(await card(rq.session, t, app, Role.DISTRICT, season.first_year))
    if Role.CITY in rq.roles:
        q = select(App).where(App.status.in_([s.value for s in workflow.LEVEL2_WAITING]))
        for app in (await rq.session.scalars(q.order_by(App.status_since, App.id))).all():
            season = await repo.ensure_season(rq.session, app.season_year)
            cards.append(await card(rq.session, t, app, Role.CITY, season.first_year))
    if not cards:
        rq.reply(t("review.pending_none"))
        return
    rq.reply(t("review.pending_count", n=len(cards)))
    for text, markup in cards[:30]:
        rq.reply(text, markup)


@handler
async def on_other(rq: Rq) -> str:
    rq.reply(rq.t("review.use_text"))
    return OPINION


@handler
async def cmd_cancel(rq: Rq) -> int:
    _set_pending(rq, None)
    rq.reply(rq.t("review.cancelled"))
    return ConversationHandler.END


def register(app: Application) -> None:  # type: ignore[type-arg]
    warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
    conv = ConversationHandler(
        entry_points=[
            CallbackQueryHandler(on_review, pattern=cb.Review.pattern()),
            CallbackQueryHandler(on_aux, pattern=cb.ReviewAux.pattern()),
        ],
        states={
            OPINION: [
                CallbackQueryHandler(on_review, pattern=cb.Review.pattern()),
                CallbackQueryHandler(on_aux, pattern=f"{cb.ReviewAux.pattern()}|{cb.ReviewSection.pattern()}"),
                MessageHandler(filters.TEXT & ~filters.COMMAND, on_text),
                MessageHandler(~filters.COMMAND & ~filters.StatusUpdate.ALL, on_other),
            ],
        },
        fallbacks=[CommandHandler("cancel", cmd_cancel)],
        name=NAME,
        persistent=True,
        allow_reentry=True,
    )
    app.add_handler(conv)
    app.add_handler(CommandHandler("pending", cmd_pending))
