"""Reviewers: the application card, action buttons, opinions, `/pending`.

Review buttons are top-level entry points (not states of the applicant's flow); each press is
re-checked against the database, the presser's role and union, and the workflow table.

A decision is given step by step (`Transition.steps`: opinion, name, date, sections); approvals,
returns, rejections and the naming are recorded only from the screen that shows all of it
(`bot.views.review.decision_screen`), where every part can be changed. Cancelled, what was typed is
kept as a draft of that decision and offered again at the next press of the same button.

The card, the prompts of a decision and its confirmation are one screen (`notify.screen_of`): a press
edits it in place, a typed answer gets the next step as one new message (the previous loses its
buttons), and the decision ends with the card showing its result where it was taken.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import callbacks as cb
from bot import effects, notify
from bot.domain import form, workflow
from bot.domain.values import date_examples, parse_date_or_none
from bot.domain.workflow import Action, NotAllowed, Role, Status, Step
from bot.runtime import Rq, handler
from bot.services import office
from bot.services import review as svc_review
from bot.services.meeting import proposed_name
from bot.views import review as views
from bot.views.common import Page, page_of
from bot.views.office import ask_office
from conversations import inputs, overview
from storage import repo
from storage.models import Application as App

log = logging.getLogger(__name__)

OPINION = "opinion"
NAME = "review"
CONFIRM = "confirm"  # the pending decision's step while its confirmation screen is shown
PAGE_SIZE = 10  # lines per page of /pending
DRAFTS = "review_drafts"  # user_data: cancelled decisions, by "<app>:<action>"
FIELDS = ("opinion", "on", "reopen")  # what a decision records (`pending` keys)
STEP_KEY = {Step.OPINION: "opinion", Step.DATE: "on", Step.REOPEN: "reopen"}


# a decision being recorded waits for its opinion, name or date until confirmed or cancelled, also while
# the reviewer looks at /pending or another card meanwhile
REVIEW = inputs.Flow.of(NAME, cb.Review, cb.ReviewAux, cb.ReviewSection, cb.ReviewStep, sticky=True)


def _pending(rq: Rq) -> dict[str, Any]:
    """The decision being recorded: application, action, step and what was given so far."""
    return inputs.state(rq, REVIEW) or {}


def _set_pending(rq: Rq, value: dict[str, Any] | None) -> None:
    if value is None:
        inputs.done(rq, REVIEW)
    else:
        inputs.wait(rq, REVIEW, value)


def _draft_key(app_id: int, action: str) -> str:
    return f"{app_id}:{action}"


def _drafts(rq: Rq) -> dict[str, Any]:
    ud = rq.context.user_data
    return dict(ud.get(DRAFTS) or {}) if ud is not None else {}


def _set_drafts(rq: Rq, drafts: dict[str, Any]) -> None:
    ud = rq.context.user_data
    if ud is None:
        return
    if drafts:
        ud[DRAFTS] = drafts
    else:
        ud.pop(DRAFTS, None)
    rq.context.application.mark_data_for_update_persistence(user_ids=[rq.user.id])


def _keep_draft(rq: Rq, pending: dict[str, Any]) -> bool:
    """Keep what was typed for a decision that is confirmed on one screen; whether anything was."""
    action = Action(pending["action"])
    kept = {k: pending[k] for k in FIELDS if pending.get(k)}
    if not kept or not workflow.of_action(action).confirm:
        return False
    drafts = _drafts(rq)
    drafts[_draft_key(int(pending["app"]), action.value)] = kept
    _set_drafts(rq, drafts)
    return True


def _drop_draft(rq: Rq, app_id: int, action: str) -> dict[str, Any]:
    drafts = _drafts(rq)
    got = drafts.pop(_draft_key(app_id, action), None)
    if got is not None:
        _set_drafts(rq, drafts)
    return dict(got or {})


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
        return None  # type: ignore[return-value]  # None: a decision being recorded stays open
    app, first_year = await _load(rq, data.app)
    if app is None:
        await _refuse(rq, "forged", raw, None)
        return None  # type: ignore[return-value]
    try:
        t = await svc_review.check(rq.session, app, rq.user.id, rq.roles, data.action, first_year,
                                   today=rq.svc.today())
    except NotAllowed as exc:
        if exc.reason == "status" and await _decided(rq, app, alert=True):  # audited there
            return None  # type: ignore[return-value]
        await _refuse(rq, exc.reason, raw, app.id, status=rq.t(f"status.{app.status}"))
        return None  # type: ignore[return-value]
    current = _pending(rq)
    if current.get("app") == app.id and current.get("action") == data.action.value:
        rq.toast(rq.t.plain("review.in_progress"))  # a second tap: the prompt is already there
        return OPINION
    if current:
        _keep_draft(rq, current)  # another decision was open: what was typed there is kept
    pending: dict[str, Any] = {"app": app.id, "action": data.action.value}
    draft = _drop_draft(rq, app.id, data.action.value)
    pending.update(draft)
    step = _first_missing(t, pending)
    if step is None and not t.confirm:
        await _finish(rq, app, pending, first_year)
        return ConversationHandler.END
    pending["step"] = step or CONFIRM
    if draft:
        pending["editing"] = True
    _set_pending(rq, pending)
    await _prompt(rq, app, pending, note=rq.t("review.draft_restored") if draft else None)
    return OPINION


def _first_missing(t: workflow.Transition, pending: dict[str, Any]) -> str | None:
    """The first step not given yet (the sections of a return are their confirmation screen)."""
    for step in t.steps:
        if step is Step.REOPEN or not pending.get(STEP_KEY[step]):
            return step.value
    return None


async def _prompt(rq: Rq, app: App, pending: dict[str, Any], note: str | None = None) -> None:
    """The step's prompt (or the confirmation) on the card's screen: the pressed message edited, or after a
    typed answer one new message."""
    action = Action(pending["action"])
    if pending["step"] == CONFIRM:
        text, markup = views.decision_screen(rq.t, app, action, pending)
    else:
        text, markup = views.step_prompt(rq.t, app, action, Step(pending["step"]), pending, today=rq.svc.today())
    rq.edit(f"{note}\n\n{text}" if note else text, markup, screen=notify.screen_of(app.id))


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
    step = pending["step"]
    text = " ".join(text.split()) if step != Step.OPINION.value else text.strip()
    if step == Step.OPINION.value:
        if not text or len(text) > 1000:
            rq.reply(rq.t("review.opinion_length", max=1000))
            return OPINION
        pending["opinion"] = text
    elif step == Step.DATE.value:
        on = parse_date_or_none(text, today=rq.svc.today(), future=True)
        if on is None:
            rq.reply(rq.t("review.bad_date", **date_examples(rq.svc.today())))
            return OPINION
        pending["on"] = on.isoformat()
    else:  # the screen again, under the text, with the buttons that are wanted here
        await _prompt(rq, app, pending, note=rq.t("review.use_buttons"))
        return OPINION
    return await _advance(rq, app, pending, first_year)


async def _advance(rq: Rq, app: App, pending: dict[str, Any], first_year: bool) -> str | int:
    """To the next step; after the last one (or a change made from it), the confirmation screen."""
    t = workflow.of_action(Action(pending["action"]))
    order = [s_.value for s_ in t.steps]
    i = order.index(pending["step"]) if pending["step"] in order else len(order)
    nxt = order[i + 1] if i + 1 < len(order) else None
    if pending.get("editing") and nxt != Step.REOPEN.value:
        nxt = _first_missing(t, pending)  # back to the screen with everything on it
    if nxt is None:
        if not t.confirm:
            await _finish(rq, app, pending, first_year)
            return ConversationHandler.END
        nxt = Step.REOPEN.value if Step.REOPEN in t.steps else CONFIRM
    pending["step"] = nxt
    pending["editing"] = pending.get("editing") or nxt in (CONFIRM, Step.REOPEN.value)
    _set_pending(rq, pending)
    await _prompt(rq, app, pending)
    return OPINION


def _stale(rq: Rq, app_id: int | None) -> None:
    rq.refuse(rq.t.plain("review.stale_button"), "stale", app_id)


@handler
async def on_aux(rq: Rq) -> str | int:  # noqa: C901 - one branch per button of a decision
    raw = rq.query.data if rq.query else None
    data = cb.decode(raw)
    if isinstance(data, cb.ReviewAux) and data.op is cb.ReviewOp.FULL:
        await _full(rq, data.app)
        return None  # type: ignore[return-value]  # a read-only view: the flow waiting stays as it was
    if isinstance(data, cb.ReviewAux) and data.op in (cb.ReviewOp.PHOTOS, cb.ReviewOp.FILES):
        await _materials(rq, data.app, "photos" if data.op is cb.ReviewOp.PHOTOS else "files")
        return None  # type: ignore[return-value]
    pending = _pending(rq)
    if not isinstance(data, cb.ReviewAux | cb.ReviewSection | cb.ReviewStep) or not pending \
            or int(pending["app"]) != data.app:
        _stale(rq, None)
        return None  # type: ignore[return-value]
    app, first_year = await _load(rq, data.app)
    if app is None:
        return ConversationHandler.END
    action = Action(pending["action"])
    t = workflow.of_action(action)
    step = pending.get("step")
    if isinstance(data, cb.ReviewSection):
        if step != Step.REOPEN.value or data.section not in form.SECTIONS:
            _stale(rq, app.id)
            return None  # type: ignore[return-value]
        chosen = list(pending.get("reopen") or [])
        chosen = [x for x in chosen if x != data.section] if data.section in chosen else [*chosen, data.section]
        pending["reopen"] = chosen
        _set_pending(rq, pending)
        await _prompt(rq, app, pending)
        return OPINION
    if isinstance(data, cb.ReviewStep):
        if data.step not in {s_.value for s_ in t.steps} or step not in (CONFIRM, Step.REOPEN.value):
            _stale(rq, app.id)
            return None  # type: ignore[return-value]
        pending["step"] = data.step
        pending["editing"] = True
        _set_pending(rq, pending)
        await _prompt(rq, app, pending)
        return OPINION
    if data.op is cb.ReviewOp.CANCEL:  # the card again, as it was
        _set_pending(rq, None)
        kept = _keep_draft(rq, pending)
        rq.toast(rq.t.plain("review.cancelled_draft" if kept else "review.cancelled", action=rq.t.plain(t.label_key)))
        await _show_card(rq, app, t.role)
        return ConversationHandler.END
    if data.op is cb.ReviewOp.CONFIRM:
        if step != CONFIRM:
            _stale(rq, app.id)
            return None  # type: ignore[return-value]
        await _finish(rq, app, pending, first_year)
        return ConversationHandler.END
    if step == Step.OPINION.value and action in views.DEFAULT_OPINION:
        pending["opinion"] = rq.t.plain(views.DEFAULT_OPINION[action])
        if len(t.steps) == 1 and not pending.get("editing"):  # the prompt said all it records: the one tap
            await _finish(rq, app, pending, first_year)
            return ConversationHandler.END
    elif step == Step.REOPEN.value:  # "confirm" on the screen of a return
        await _finish(rq, app, pending, first_year)
        return ConversationHandler.END
    elif step == CONFIRM:
        _stale(rq, app.id)
        return None  # type: ignore[return-value]
    else:
        rq.alert(rq.t.plain("review.use_text"))
        return OPINION
    return await _advance(rq, app, pending, first_year)


async def _finish(rq: Rq, app: App, pending: dict[str, Any], first_year: bool) -> None:
    action = Action(pending["action"])
    d = svc_review.Decision(opinion=pending.get("opinion"),
                            on=date.fromisoformat(pending["on"]) if pending.get("on") else None,
                            reopen=pending.get("reopen"))
    _set_pending(rq, None)
    _drop_draft(rq, app.id, action.value)
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
    tr = workflow.of_action(action)
    rq.toast(rq.t.plain("review.done", number=app.number or "", action=rq.t.plain(tr.label_key),
                        status=rq.t.plain(workflow.status_key(Status(app.status)))))
    seen = await notify.transitioned(rq, app, action.value)
    await _show_card(rq, app, tr.role, seen)


async def _show_card(rq: Rq, app: App, role: Role, seen: notify.Seen | None = None) -> None:
    """The reviewer's card of `app` as it stands, on the screen they are on: the pressed message edited in
    place, or after a typed answer the card anew as the newest message (it moves; the old one keeps no
    buttons). `seen`: what a transition just loaded."""
    rm = await notify.card_of(rq.session, app, rq.user.id, role, seen.cards if seen else None)
    text, markup = await notify.render_card(rq, app, role, data=seen.data if seen else None)
    pressed = rq.query.message if rq.query is not None else None
    if pressed is not None:
        rm.message_id = pressed.message_id
        rq.edit(text, markup, screen=notify.screen_of(app.id))
    else:
        rq.owe(effects.card(rq.user.id, rm.id, text, markup, screen=notify.screen_of(app.id)))


async def _materials(rq: Rq, app_id: int, kind: str) -> None:
    """🖼 / 📎 on the card: the photos or the documents again, once per press, the card moved under them."""
    app = await repo.get_application(rq.session, app_id)
    if app is None or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles):
        await _refuse(rq, "forged", rq.query.data if rq.query else None, app_id if app else None)
        return
    if not await notify.send_materials(rq, app, kind):
        rq.toast(rq.t.plain("review.no_materials"))


async def _full(rq: Rq, app_id: int) -> None:
    from conversations.apply import summary_text

    app = await repo.get_application(rq.session, app_id)
    if app is None or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles):
        await _refuse(rq, "forged", rq.query.data if rq.query else None, app_id if app else None)
        return
    rq.reply(await summary_text(rq, app))
    rq.owe(effects.render(rq.user.id, "form", app=app.id, version=app.version))


@handler
async def on_more(rq: Rq) -> None:
    """"展开": one long answer of the card in full."""
    raw = rq.query.data if rq.query else None
    data = cb.decode(raw)
    app = await repo.get_application(rq.session, data.app) if isinstance(data, cb.ReviewMore) else None
    if not isinstance(data, cb.ReviewMore) or app is None or data.key not in form.BY_KEY \
            or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles):
        await _refuse(rq, "forged", raw, app.id if app else None)
        return
    rq.reply(views.full_answer(rq.t, app, data.key))


async def _pending_page(rq: Rq, page: int) -> None:
    """One page of what awaits me as one message, the longest waiting first: a line and a button each;
    a page's button edits the list, a line's button opens that card in its place."""
    t = rq.t
    if not rq.roles & {Role.DISTRICT, Role.CITY}:
        if Role.ADMIN in rq.roles:  # the office: every application of the season, nothing to decide
            await overview.home(rq)
        else:
            rq.reply(ask_office(t, await office.contact(rq.session), t("review.not_reviewer")))
        return
    apps = await svc_review.waiting_for(rq.session, rq.user.id, rq.roles)
    if not apps:
        rq.edit(t("review.pending_none"))
        return
    pg = page_of(apps, page, PAGE_SIZE)
    today, now = rq.svc.today(), rq.svc.clock.now()
    lines = [views.Line(app.id, app.number or "", proposed_name(app),
                        Status(app.status), max((today - rq.svc.local(app.status_since or now).date()).days, 0),
                        (app.answers or {}).get("applying_unit") or "")
             for app in pg.items]
    rq.edit(*views.pending_list(t, Page(lines, pg.number, pg.count, pg.first), len(apps)))


@handler
async def cmd_pending(rq: Rq) -> None:
    await _pending_page(rq, 0)


@handler
async def on_page(rq: Rq) -> None:
    data = cb.decode(rq.query.data if rq.query else None)
    if not isinstance(data, cb.PendingPage):
        _stale(rq, None)
        return
    await _pending_page(rq, data.page)


@handler
async def on_open(rq: Rq) -> None:
    """A line of /pending: the list becomes that application's card (the reviewer's one card moves here)."""
    raw = rq.query.data if rq.query else None
    data = cb.decode(raw)
    app = await repo.get_application(rq.session, data.app) if isinstance(data, cb.PendingOpen) else None
    if app is None or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles) \
            or not rq.roles & {Role.DISTRICT, Role.CITY}:
        await _refuse(rq, "forged", raw, app.id if app else None)
        return
    level = workflow.level_of(Status(app.status))
    role = Role.DISTRICT if level == 1 and Role.DISTRICT in rq.roles or Role.CITY not in rq.roles else Role.CITY
    await _show_card(rq, app, role)


@handler
async def on_other(rq: Rq) -> str:
    rq.reply(rq.t("review.use_text"))
    return OPINION


@handler
async def cmd_cancel(rq: Rq) -> int:
    pending = _pending(rq)
    _set_pending(rq, None)
    kept = bool(pending) and _keep_draft(rq, pending)
    rq.reply(rq.t("review.cancelled_draft" if kept else "review.cancelled",
                  action=rq.t(f"action.{pending['action']}") if pending else ""))
    return ConversationHandler.END


def register(app: Application) -> None:
    aux = f"{cb.ReviewAux.pattern()}|{cb.ReviewSection.pattern()}|{cb.ReviewStep.pattern()}"
    mine = inputs.Awaiting(app, REVIEW)
    app.add_handler(inputs.conversation(
        REVIEW,
        entry_points=[
            CallbackQueryHandler(on_review, pattern=cb.Review.pattern()),
            CallbackQueryHandler(on_aux, pattern=cb.ReviewAux.pattern()),
        ],
        states={
            OPINION: [
                CallbackQueryHandler(on_review, pattern=cb.Review.pattern()),
                CallbackQueryHandler(on_aux, pattern=aux),
                MessageHandler(mine & filters.TEXT & ~filters.COMMAND, on_text),
                MessageHandler(mine & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_other),
            ],
        },
        fallbacks=[CommandHandler("cancel", cmd_cancel, filters=mine)],
    ))
    app.add_handler(CommandHandler("pending", cmd_pending))
    app.add_handler(CallbackQueryHandler(on_more, pattern=cb.ReviewMore.pattern()))
    app.add_handler(CallbackQueryHandler(on_page, pattern=cb.PendingPage.pattern()))
    app.add_handler(CallbackQueryHandler(on_open, pattern=cb.PendingOpen.pattern()))
