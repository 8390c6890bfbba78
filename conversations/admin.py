"""Administration (`/admin`): unions, invitations, people and roles, season dates; and the
invitation deep links (`/start inv-…`) that bind an account to a role.

Every button press re-checks that the presser is still an admin (roles are read from the database
and `ADMIN_IDS` on every update). Typed input (union names, dates) waits as `conversations.inputs`
describes; any other command or another module's button ends it.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from telegram import Message
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import callbacks as cb
from bot import effects
from bot.domain.workflow import Role
from bot.i18n import Translator
from bot.runtime import Rq, handler
from bot.services import admin as svc
from bot.services import office
from bot.services.records import CONTACT_FIELDS
from bot.views import admin as views
from bot.views.admin import btn
from bot.views.common import kb, page_of
from bot.views.office import ask_office
from conversations import inputs
from storage import repo
from storage.models import Union, User

log = logging.getLogger(__name__)

NAME = "admin"
INPUT = "input"
PAGE = 30  # list entries (and their buttons) per screen; Telegram allows 100 buttons
END = ConversationHandler.END

Op = cb.AdminOp
MENU, UNIONS, UNION, KEEP = Op.MENU, Op.UNIONS, Op.UNION, Op.KEEP
UADD, UREN, UOFF, UON = Op.UADD, Op.UREN, Op.UOFF, Op.UON
INV, INVR, INVU, INVP = Op.INV, Op.INVR, Op.INVU, Op.INVP
PPL, PPLR, RVK, RVKY = Op.PPL, Op.PPLR, Op.RVK, Op.RVKY
SEASON, SDATE, SFY, SNOTICE = Op.SEASON, Op.SDATE, Op.SFY, Op.SNOTICE
CONTACT, CSET = Op.CONTACT, Op.CSET
IMP, IMPT, IMPS = Op.IMP, Op.IMPT, Op.IMPS  # import earlier studios: prompt, template, import skipping bad rows

LISTED_ROLES = views.LISTED_ROLES


# --------------------------------------------------------------------------- helpers


def _now(rq: Rq) -> Any:
    return rq.svc.clock.now()


def _is_admin(rq: Rq) -> bool:
    return Role.ADMIN in rq.roles


def _plain(text: str) -> str:
    """An alert is plain text: undo the HTML escaping of parameters."""
    return html.unescape(text)


# what an admin is asked to type (a union's names, a season's dates, an import's file), e.g. {"op": "uadd",
# "kind": "district", "step": "zh"}; any other command or another module's button ends it
ADMIN = inputs.Flow.of(NAME, cb.Admin)


def _pending(rq: Rq) -> dict[str, Any] | None:
    return inputs.state(rq, ADMIN) if rq.user is not None else None


def _set_pending(rq: Rq, value: dict[str, Any] | None) -> None:
    if value is None:
        inputs.done(rq, ADMIN)
    else:
        inputs.wait(rq, ADMIN, value)


def _refused(rq: Rq, why: str, **details: Any) -> None:
    repo.audit(rq.session, _now(rq), "admin_refused", actor_id=rq.user.id, details={"why": why, **details})


async def _translator_of(rq: Rq, user_id: int) -> Translator | None:
    user = await repo.get_user(rq.session, user_id)
    if user is None:
        return None
    return rq.svc.i18n.get(rq.svc.i18n.pick(user.locale, user.language_code))


# --------------------------------------------------------------------------- screens (drawn in bot.views.admin)


Screen = views.Screen


async def _reviewers(rq: Rq) -> dict[int, int]:
    """District reviewers per union (unions without one are missing)."""
    staffed: dict[int, int] = {}
    for p in await svc.people(rq.session, Role.DISTRICT):
        if p.union is not None:
            staffed[p.union.id] = staffed.get(p.union.id, 0) + 1
    return staffed


async def menu_screen(rq: Rq, note: str | None = None) -> Screen:
    return views.menu(rq.t, await office.unstaffed_unions(rq.session), note)


async def unions_screen(rq: Rq, page: int = 0, note: str | None = None) -> Screen:
    return views.unions(rq.t, list(await repo.all_unions(rq.session)), page, await _reviewers(rq), PAGE, note)


async def union_screen(rq: Rq, union: Union, note: str | None = None) -> Screen:
    return views.union(rq.t, union, await svc.reviewer_count(rq.session, union.id), note)


async def invite_union_screen(rq: Rq, page: int = 0) -> Screen:
    return views.invite_union(rq.t, list(await repo.active_unions(rq.session)), page, PAGE, await _reviewers(rq))


async def people_screen(rq: Rq, role: Role, page: int = 0, note: str | None = None) -> Screen:
    if role is Role.ADMIN:
        ids = sorted(rq.svc.settings.admin_ids)
        return views.admins(rq.t, ids, await repo.by_ids(rq.session, User, ids), note)
    everyone = await svc.people(rq.session, role)
    return views.people(rq.t, role, page_of(everyone, page, PAGE), len(everyone), note)


def _years(rq: Rq) -> tuple[int, int]:
    this = rq.svc.today().year
    return this, this + 1


async def season_screen(rq: Rq, year: int, note: str | None = None) -> Screen:
    season = await repo.ensure_season(rq.session, year)
    return views.season(rq.t, season, _years(rq), await office.contact(rq.session), note)


async def contact_screen(rq: Rq, note: str | None = None) -> Screen:
    return views.contact(rq.t, await office.contact(rq.session), note)


async def prompt_screen(rq: Rq, pending: dict[str, Any]) -> Screen:
    """What to type now, for the pending input."""
    op = pending.get("op")
    if op == UREN:
        union = await repo.get_union(rq.session, int(pending["id"]))
        if union is None:
            raise svc.Refused("admin.error.union_gone")
        return views.prompt(rq.t, pending, u=union)
    if op == CSET:
        return views.prompt(rq.t, pending, c=await office.contact(rq.session))
    if op in (SDATE, SNOTICE):
        season = await repo.ensure_season(rq.session, int(pending["year"]))
        return views.prompt(rq.t, pending, s=season, today=rq.svc.today())
    return views.prompt(rq.t, pending)


# --------------------------------------------------------------------------- commands


@handler
async def cmd_admin(rq: Rq) -> int:
    _set_pending(rq, None)
    if not _is_admin(rq):
        _refused(rq, "not_admin", command="/admin")
        rq.reply(rq.t("admin.not_allowed"))
        return END
    rq.reply(*await menu_screen(rq))
    return END


@handler
async def cmd_cancel(rq: Rq) -> int:
    _set_pending(rq, None)
    rq.reply(rq.t("cancel.done"))
    return END


# --------------------------------------------------------------------------- buttons


@handler
async def on_button(rq: Rq) -> str | int:
    raw = rq.query.data if rq.query else None
    if not _is_admin(rq):
        _set_pending(rq, None)
        _refused(rq, "not_admin", data=raw)
        rq.alert(_plain(rq.t("admin.not_allowed")))
        return END
    data = cb.decode(raw)
    if not isinstance(data, cb.Admin):
        rq.refuse(_plain(rq.t("admin.bad_button")), "bad_button")
        return END
    pending = _pending(rq)
    if data.op not in (KEEP, IMPS):
        _set_pending(rq, None)
        pending = None
    try:
        return await dispatch(rq, data, pending)
    except svc.Refused as exc:
        rq.alert(_plain(rq.t(exc.key, **exc.params)))
        return INPUT if _pending(rq) else END


async def dispatch(rq: Rq, data: cb.Admin, pending: dict[str, Any] | None) -> str | int:  # noqa: C901
    t = rq.t
    op, number, key = data.op, data.n, data.key
    now = _now(rq)
    actor = rq.user.id

    if op == MENU:
        rq.edit(*await menu_screen(rq))
        return END
    if op == UNIONS:
        rq.edit(*await unions_screen(rq, number or 0))
        return END
    if op in (UNION, UREN, UOFF, UON):
        union = await repo.get_union(rq.session, number) if number is not None else None
        if union is None:
            raise svc.Refused("admin.error.union_gone")
        if op == UNION:
            rq.edit(*await union_screen(rq, union))
            return END
        if op == UREN:
            return await _ask(rq, {"op": UREN, "id": union.id, "step": "zh"})
        union = await svc.set_union_active(rq.session, now, actor, union.id, op == UON)
        key = "admin.union.reactivated_done" if op == UON else "admin.union.retired_done"
        rq.edit(*await union_screen(rq, union, t(key, name=union.name(t.lang))))
        return END
    if op == UADD:
        if key not in svc.UNION_KINDS:
            raise svc.Refused("admin.error.bad_kind")
        return await _ask(rq, {"op": UADD, "kind": key, "step": "zh"})
    if op == KEEP:
        if not pending or pending.get("op") != UREN:
            raise svc.Refused("admin.error.input_gone")
        union = await repo.get_union(rq.session, int(pending["id"]))
        if union is None:
            raise svc.Refused("admin.error.union_gone")
        current = union.name_zh if pending.get("step") == "zh" else union.name_en
        return await _typed(rq, pending, current, edit=True)
    if op == INV:
        rq.edit(*views.invite_role(t))
        return END
    if op == INVR:
        if key not in {r.value for r in svc.INVITABLE}:
            raise svc.Refused("admin.error.bad_role")
        role = Role(key)
        if role is Role.DISTRICT:
            rq.edit(*await invite_union_screen(rq))
            return END
        await _invite(rq, role, None)
        return END
    if op == INVP:
        rq.edit(*await invite_union_screen(rq, number or 0))
        return END
    if op == INVU:
        if number is None:
            raise svc.Refused("admin.error.union_gone")
        await _invite(rq, Role.DISTRICT, number)
        return END
    if op == PPL:
        rq.edit(*views.people_role(t))
        return END
    if op == PPLR:
        if key not in {r.value for r in LISTED_ROLES} or number is None or not 0 <= number < 10_000:
            raise svc.Refused("admin.error.bad_role")
        rq.edit(*await people_screen(rq, Role(key), number))
        return END
    if op in (RVK, RVKY):
        if number is None:
            raise svc.Refused("admin.revoke.gone")
        if op == RVK:
            await _confirm_revoke(rq, number)
        else:
            await _revoke(rq, number)
        return END
    if op in (SEASON, SFY):
        year = number if number is not None else rq.svc.today().year
        if year not in _years(rq):
            raise svc.Refused("admin.error.bad_field")
        note = None
        if op == SFY:
            season = await svc.toggle_first_year(rq.session, now, actor, year)
            key = "admin.season.first_year_set" if season.first_year else "admin.season.first_year_unset"
            note = t(key, year=year, deadline=season.deadline.isoformat())
        rq.edit(*await season_screen(rq, year, note))
        return END
    if op in (IMP, IMPT):
        if op == IMPT:
            _send_template(rq)
        return _import_prompt(rq, edit=op == IMP)
    if op == IMPS:
        if not pending or pending.get("op") != IMP or not pending.get("file"):
            raise svc.Refused("admin.error.input_gone")
        return await _import(rq, str(pending["file"]), skip_bad=True)
    if op == SDATE:
        if key not in svc.SEASON_FIELDS or number not in _years(rq):
            raise svc.Refused("admin.error.bad_field")
        return await _ask(rq, {"op": SDATE, "year": number, "field": key})
    if op == SNOTICE:
        if number not in _years(rq):
            raise svc.Refused("admin.error.bad_field")
        return await _ask(rq, {"op": SNOTICE, "year": number})
    if op == CONTACT:
        rq.edit(*await contact_screen(rq))
        return END
    if op == CSET:
        if key not in CONTACT_FIELDS:
            raise svc.Refused("admin.error.bad_field")
        return await _ask(rq, {"op": CSET, "field": key})
    rq.refuse(_plain(t("admin.bad_button")), "bad_button")
    return END


async def _ask(rq: Rq, pending: dict[str, Any], note: str | None = None, *, edit: bool = True) -> str:
    text, markup = await prompt_screen(rq, pending)
    text = views.with_note(note, text)
    if edit:
        rq.edit(text, markup)
    else:
        rq.reply(text, markup)
    _set_pending(rq, pending)
    return INPUT


async def _invite(rq: Rq, role: Role, union_id: int | None) -> None:
    t = rq.t
    inv = await svc.create_invitation(rq.session, _now(rq), rq.user.id, role, union_id)
    union = await repo.get_union(rq.session, inv.union_id) if inv.union_id is not None else None
    link = f"https://t.me/{rq.context.bot.username}?start={inv.code}"
    rq.edit(*views.invite_created(t, role, union, link, rq.svc.local(inv.expires_at).strftime("%Y-%m-%d %H:%M")))


async def _confirm_revoke(rq: Rq, grant_id: int) -> None:
    rq.edit(*views.revoke_confirm(rq.t, await svc.active_grant(rq.session, grant_id)))


async def _revoke(rq: Rq, grant_id: int) -> None:
    t = rq.t
    p = await svc.revoke(rq.session, _now(rq), rq.user.id, grant_id)
    note = t("admin.revoke.done", name=p.user.display_name, role=views.role_label(t, p.grant.role),
             union=views.union_part(t, p.union))
    rq.edit(*await people_screen(rq, Role(p.grant.role), 0, note))
    _refresh_menu(rq, p.user.id)
    theirs = await _translator_of(rq, p.user.id)
    if theirs is not None:
        text = theirs("admin.revoke.notice", role=views.role_label(theirs, p.grant.role),
                      union=views.union_part(theirs, p.union))
        rq.notify(p.user.id, ask_office(theirs, await office.contact(rq.session), text))


def _refresh_menu(rq: Rq, user_id: int) -> None:
    """Owe the person the command menu of the roles they now hold."""
    rq.owe(effects.commands(user_id))


# --------------------------------------------------------------------------- typed input


@handler
async def on_input(rq: Rq) -> str | int:
    pending = _pending(rq)
    if not _is_admin(rq):
        _set_pending(rq, None)
        _refused(rq, "not_admin", input=(pending or {}).get("op"))
        rq.reply(rq.t("admin.not_allowed"))
        return END
    if pending is None:
        rq.reply(rq.t("admin.error.input_gone"))
        return END
    msg: Message | None = rq.update.effective_message
    if pending.get("op") == IMP:
        if msg is None or msg.document is None:
            rq.reply(rq.t("import.send_xlsx"))
            return INPUT
        return await _import(rq, msg.document.file_id, skip_bad=False)
    if msg is None or msg.text is None:
        rq.reply(rq.t("admin.use_text"))
        return INPUT
    try:
        return await _typed(rq, pending, msg.text)
    except svc.Refused as exc:
        try:
            return await _ask(rq, pending, rq.t(exc.key, **exc.params), edit=False)
        except svc.Refused as gone:  # the union was removed meanwhile
            _set_pending(rq, None)
            rq.reply(rq.t(gone.key, **gone.params))
            return END


async def _typed(rq: Rq, pending: dict[str, Any], text: str, *, edit: bool = False) -> str | int:
    """One typed answer (or a kept name): the next question, or the change and its screen."""
    t = rq.t
    s, now, actor = rq.session, _now(rq), rq.user.id
    op, step = pending.get("op"), pending.get("step")

    def show(screen: Screen) -> None:
        (rq.edit if edit else rq.reply)(*screen)

    if op in (UADD, UREN) and step == "zh":
        exclude = int(pending["id"]) if op == UREN else None
        name = await svc.check_name(s, "zh", text, exclude=exclude)
        return await _ask(rq, {**pending, "step": "en", "zh": name}, edit=edit)
    if op == UADD:
        union = await svc.add_union(s, now, actor, str(pending["kind"]), str(pending["zh"]), text)
        _set_pending(rq, None)
        note = t("admin.union.added", kind=t(f"admin.kind.{union.kind}"), name_zh=union.name_zh,
                 name_en=union.name_en)
        show(await union_screen(rq, union, note))
        return END
    if op == UREN:
        union = await svc.rename_union(s, now, actor, int(pending["id"]), str(pending["zh"]), text)
        _set_pending(rq, None)
        note = t("admin.union.renamed", name_zh=union.name_zh, name_en=union.name_en)
        show(await union_screen(rq, union, note))
        return END
    if op == SNOTICE:
        year = int(pending["year"])
        season = await svc.set_notice_days(s, now, actor, year, svc.parse_notice_days(text))
        _set_pending(rq, None)
        show(await season_screen(rq, year, t("admin.season.notice_saved", year=year, n=season.notice_days)))
        return END
    if op == CSET:
        field = str(pending["field"])
        await office.set_contact(s, now, actor, field, text)
        _set_pending(rq, None)
        show(await contact_screen(rq, t("admin.contact.saved", field=t.plain(f"admin.contact.button.{field}"))))
        return END
    if op == SDATE:
        year, field = int(pending["year"]), str(pending["field"])
        value = svc.parse_date(text, year, rq.svc.today())
        await svc.set_season_date(s, now, actor, year, field, value)
        _set_pending(rq, None)
        note = t("admin.season.saved", year=year, field=t(f"admin.season.field.{field}"),
                 value=value.isoformat())
        show(await season_screen(rq, year, note))
        return END
    _set_pending(rq, None)
    rq.reply(t("admin.error.input_gone"))
    return END


# --------------------------------------------------------------------------- import of earlier studios


def _import_prompt(rq: Rq, *, edit: bool) -> str:
    t = rq.t
    rows = [[btn(t("import.button.template"), IMPT)], [btn(t("admin.button.menu"), MENU)]]
    (rq.edit if edit else rq.reply)(t("import.prompt"), kb(rows))
    _set_pending(rq, {"op": IMP})
    return INPUT


def _send_template(rq: Rq) -> None:
    rq.owe(effects.render(rq.chat_id, "import_template", lang=rq.lang))


async def _import(rq: Rq, file_id: str, *, skip_bad: bool) -> str | int:
    """The roster sent (or sent before, when the admin chose to skip its bad rows): checked, then
    imported as a whole, or refused with the report of every bad row."""
    from bot.services import imports

    t = rq.t
    try:
        tg_file = await rq.context.bot.get_file(file_id)
        data = bytes(await tg_file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("roster download failed: %s", exc)
        rq.reply(t("import.error.not_xlsx"))
        return INPUT
    out = await imports.run(rq.session, data, rq.user.id, _now(rq), rq.svc.today(), skip_bad=skip_bad)
    text = imports.report(t, out)
    if out.applied:
        _set_pending(rq, None)
        rq.reply(text, kb([[btn(t("admin.button.menu"), MENU)]]))
        return END
    rows = [[btn(t("import.button.skip"), IMPS)]] if not any(p.row == 0 for p in out.problems) else []
    rows.append([btn(t("import.button.template"), IMPT), btn(t("admin.button.menu"), MENU)])
    rq.reply(text, kb(rows))
    _set_pending(rq, {"op": IMP, "file": file_id})
    return INPUT


# --------------------------------------------------------------------------- invitations


async def accept_invitation(rq: Rq, code: str) -> bool:
    """`/start <code>`: False when `code` is no invitation; otherwise answer (welcome or refusal), True.
    A link that looks cut short or mangled (the invitation prefix, the wrong length or characters) is
    answered as a bad link, with the welcome after it."""
    t = rq.t
    if not svc.looks_like_invitation(code):
        if not _bad_invitation(code):
            return False
        repo.audit(rq.session, _now(rq), "invitation_refused", actor_id=rq.user.id,
                   details={"code": code[:80], "why": "malformed"})
        rq.reply(ask_office(t, await office.contact(rq.session), t("invite.bad_link")))
        return False  # the welcome follows
    try:
        got = await svc.accept_invitation(rq.session, _now(rq), rq.user.id, code)
    except svc.Refused as exc:
        rq.reply(ask_office(t, await office.contact(rq.session), t(exc.key, **exc.params)))
        return True
    rq.roles = await repo.roles_of(rq.session, rq.user.id, rq.svc.settings.admin_ids)
    union = got.union.name(t.lang) if got.union else ""
    text = t(f"invite.welcome.{got.role.value}", union=union)
    rq.reply(views.with_note(t("invite.already") if got.already else None, text))
    _refresh_menu(rq, rq.user.id)
    if not got.already and got.invited_by != rq.user.id:
        theirs = await _translator_of(rq, got.invited_by)
        if theirs is not None:
            who = f"@{rq.user.username}" if rq.user.username else str(rq.user.id)
            text = theirs("admin.invite.accepted_notice", name=rq.user.display_name, who=who,
                          role=views.role_label(theirs, got.role), union=views.union_part(theirs, got.union))
            rq.notify(got.invited_by, text)
    return True


def _bad_invitation(code: str) -> bool:
    """A deep link meant as an invitation that cannot be one: cut short, run on, or mangled."""
    return code.lower().startswith(svc.INVITE_PREFIX[:3])


# --------------------------------------------------------------------------- wiring


def register(app: Application) -> None:
    mine = inputs.Awaiting(app, ADMIN)
    buttons: Any = CallbackQueryHandler(on_button, pattern=cb.Admin.pattern())
    app.add_handler(inputs.conversation(
        ADMIN,
        entry_points=[CommandHandler("admin", cmd_admin), buttons],
        states={
            INPUT: [
                MessageHandler(mine & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_input),
                CommandHandler("admin", cmd_admin),
                buttons,
            ],
        },
        fallbacks=[CommandHandler("cancel", cmd_cancel, filters=mine)],
    ))
