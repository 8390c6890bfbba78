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

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup, Message
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
from bot.i18n import Markup, Translator
from bot.runtime import Rq, handler
from bot.services import admin as svc
from bot.views.common import Page, kb, page_of, pager, pairs
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
SEASON, SDATE, SFY = Op.SEASON, Op.SDATE, Op.SFY
IMP, IMPT, IMPS = Op.IMP, Op.IMPT, Op.IMPS  # import earlier studios: prompt, template, import skipping bad rows

LISTED_ROLES: tuple[Role, ...] = (Role.DISTRICT, Role.CITY, Role.CONTACT, Role.ADMIN)


# --------------------------------------------------------------------------- helpers


def btn(label: str, op: cb.AdminOp, n: int | None = None, key: str | None = None) -> Btn:
    return Btn(label, callback_data=cb.Admin(op, n, key).encode())






def _now(rq: Rq) -> Any:
    return rq.svc.clock.now()


def _is_admin(rq: Rq) -> bool:
    return Role.ADMIN in rq.roles


def _with_note(note: str | None, text: str) -> str:
    return f"{note}\n\n{text}" if note else text


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


def _role_label(t: Translator, role: Role | str) -> str:
    return t(f"admin.role.{Role(role).value}")


def _union_part(t: Translator, union: Union | None) -> Markup:
    return Markup(t("admin.invite.union_part", union=union.name(t.lang)) if union else "")


def _refused(rq: Rq, why: str, **details: Any) -> None:
    repo.audit(rq.session, _now(rq), "admin_refused", actor_id=rq.user.id, details={"why": why, **details})


def _notify(rq: Rq, user_id: int, text: str) -> None:
    """Owe `text` to another person (written with this update's commit)."""
    rq.notify(user_id, text)


async def _translator_of(rq: Rq, user_id: int) -> Translator | None:
    user = await repo.get_user(rq.session, user_id)
    if user is None:
        return None
    return rq.svc.i18n.get(rq.svc.i18n.pick(user.locale, user.language_code))


# --------------------------------------------------------------------------- screens


Screen = tuple[str, InlineKeyboardMarkup]


def menu_screen(rq: Rq, note: str | None = None) -> Screen:
    t = rq.t
    rows = [[btn(t("admin.button.unions"), UNIONS, 0), btn(t("admin.button.invite"), INV)],
            [btn(t("admin.button.people"), PPL), btn(t("admin.button.season"), SEASON)],
            [btn(t("import.button.open"), IMP)]]
    return _with_note(note, t("admin.menu.title")), kb(rows)


def _pager(t: Translator, op: cb.AdminOp, page: Page[Any], key: str | None = None) -> list[Btn]:
    return pager(t, page, lambda n: cb.Admin(op, n, key).encode())


async def unions_screen(rq: Rq, page: int = 0, note: str | None = None) -> Screen:
    t = rq.t
    unions = list(await repo.all_unions(rq.session))
    pg = page_of(unions, page, PAGE)
    shown = pg.items
    active = sum(1 for u in unions if u.active)
    parts = [t("admin.unions.title", active=active, retired=len(unions) - active, page=pg.number + 1,
               pages=pg.count)]
    for kind in svc.UNION_KINDS:
        lines = []
        for i, u in enumerate(unions, start=1):
            if u.kind != kind or u not in shown:
                continue
            key = "admin.unions.line" if u.active else "admin.unions.line_retired"
            lines.append(t(key, n=i, name_zh=u.name_zh, name_en=u.name_en))
        if lines:
            parts.append(t("admin.unions.section", kind=t(f"admin.kind.{kind}")) + "\n" + "\n".join(lines))
    buttons = [
        btn(u.name(t.lang) if u.active else t("admin.button.union_retired", name=Markup(u.name(t.lang))),
            UNION, u.id)
        for u in shown
    ]
    rows = pairs(buttons)
    rows.append([btn(t("admin.button.add_district"), UADD, key="district")])
    rows.append([btn(t("admin.button.add_industry"), UADD, key="industry")])
    rows.append(_pager(t, UNIONS, pg))
    rows.append([btn(t("admin.button.menu"), MENU)])
    return _with_note(note, "\n\n".join(parts)), kb(rows)


async def union_screen(rq: Rq, union: Union, note: str | None = None) -> Screen:
    t = rq.t
    text = t("admin.union.detail", name_zh=union.name_zh, name_en=union.name_en,
             kind=t(f"admin.kind.{union.kind}"),
             state=t("admin.union.active" if union.active else "admin.union.retired"),
             reviewers=await svc.reviewer_count(rq.session, union.id))
    toggle = (btn(t("admin.button.retire"), UOFF, union.id) if union.active
              else btn(t("admin.button.reactivate"), UON, union.id))
    rows = [[btn(t("admin.button.rename"), UREN, union.id), toggle],
            [btn(t("admin.button.back"), UNIONS, 0), btn(t("admin.button.menu"), MENU)]]
    return _with_note(note, text), kb(rows)


def invite_role_screen(rq: Rq, note: str | None = None) -> Screen:
    t = rq.t
    rows = [[btn(_role_label(t, role), INVR, key=role.value)] for role in svc.INVITABLE]
    rows.append([btn(t("admin.button.menu"), MENU)])
    return _with_note(note, t("admin.invite.choose_role")), kb(rows)


async def invite_union_screen(rq: Rq, page: int = 0) -> Screen:
    t = rq.t
    unions = list(await repo.active_unions(rq.session))
    pg = page_of(unions, page, PAGE)
    rows = pairs([btn(u.name(t.lang), INVU, u.id) for u in pg.items])
    rows.append(_pager(t, INVP, pg))
    rows.append([btn(t("admin.button.back"), INV), btn(t("admin.button.menu"), MENU)])
    if not unions:
        return t("admin.invite.no_unions"), kb(rows)
    return t("admin.invite.choose_union", role=_role_label(t, Role.DISTRICT)), kb(rows)


def people_role_screen(rq: Rq, note: str | None = None) -> Screen:
    t = rq.t
    rows = [[btn(_role_label(t, role), PPLR, 0, role.value)] for role in LISTED_ROLES]
    rows.append([btn(t("admin.button.menu"), MENU)])
    return _with_note(note, t("admin.people.choose_role")), kb(rows)


def _person_line(t: Translator, n: int, name: str, username: str | None, user_id: int,
                 union: Union | None) -> str:
    return t("admin.people.line", n=n, name=name, id=user_id,
             username=Markup(t("admin.people.username", username=username) if username else ""),
             union=Markup(t("admin.people.union", union=union.name(t.lang)) if union else ""))


async def people_screen(rq: Rq, role: Role, page: int = 0, note: str | None = None) -> Screen:
    t = rq.t
    label = _role_label(t, role)
    back = [btn(t("admin.button.back"), PPL), btn(t("admin.button.menu"), MENU)]
    if role is Role.ADMIN:
        lines = []
        known = await repo.by_ids(rq.session, User, rq.svc.settings.admin_ids)
        for i, uid in enumerate(sorted(rq.svc.settings.admin_ids), start=1):
            user = known.get(uid)
            name = user.display_name if user else t("admin.people.never_seen")
            lines.append(_person_line(t, i, name, user.username if user else None, uid, None))
        head = t("admin.people.title", role=label, n=len(lines), page=1, pages=1)
        return _with_note(note, "\n".join([head, *lines, "", t("admin.people.admins")])), kb([back])
    everyone = await svc.people(rq.session, role)
    if not everyone:
        return _with_note(note, t("admin.people.none", role=label)), kb([back])
    pg = page_of(everyone, page, PAGE)
    lines = [t("admin.people.title", role=label, n=len(everyone), page=pg.number + 1, pages=pg.count)]
    buttons = []
    for i, p in enumerate(pg.items, start=pg.first):
        lines.append(_person_line(t, i, p.user.display_name, p.user.username, p.user.id, p.union))
        label = t("admin.button.revoke", n=i, name=Markup(p.user.display_name[:30]))
        buttons.append(btn(label, RVK, p.grant.id))
    rows = pairs(buttons)
    rows.append(_pager(t, PPLR, pg, role.value))
    rows.append(back)
    return _with_note(note, "\n".join(lines)), kb(rows)


def _years(rq: Rq) -> tuple[int, int]:
    this = rq.svc.today().year
    return this, this + 1


async def season_screen(rq: Rq, year: int, note: str | None = None) -> Screen:
    t = rq.t
    season = await repo.ensure_season(rq.session, year)
    parts = [t("admin.season.title", year=year),
             t("admin.season.body", opens_on=season.opens_on.isoformat(),
               deadline=season.deadline.isoformat(), review_starts=season.review_starts.isoformat(),
               naming_by=season.naming_by.isoformat(),
               first_year=t("admin.season.yes" if season.first_year else "admin.season.no"))]
    if season.first_year:
        parts.append(t("admin.season.first_year_note"))
    parts.append(t("admin.season.rule"))
    dates = [btn(t("admin.button.set_date", field=t(f"admin.season.field.{f}")), SDATE, year, f)
             for f in svc.SEASON_FIELDS]
    rows = pairs(dates)
    rows.append([btn(t("admin.button.first_year_off" if season.first_year else "admin.button.first_year_on"),
                     SFY, year)])
    this, after = _years(rq)
    other = after if year == this else this
    rows.append([btn(t("admin.button.year", year=other), SEASON, other), btn(t("admin.button.menu"), MENU)])
    return _with_note(note, "\n\n".join(parts)), kb(rows)


async def prompt_screen(rq: Rq, pending: dict[str, Any]) -> Screen:
    """What to type now, for the pending input."""
    t = rq.t
    op, step = pending.get("op"), pending.get("step")
    cancel_to: tuple[cb.AdminOp, int | None] = (UNIONS, 0)
    rows: list[list[Btn]] = []
    if op == UADD:
        kind = t(f"admin.kind.{pending['kind']}")
        text = (t("admin.union.ask_zh", kind=kind, max=svc.NAME_MAX) if step == "zh"
                else t("admin.union.ask_en", name_zh=pending.get("zh", ""), max=svc.NAME_MAX))
    elif op == UREN:
        union = await repo.get_union(rq.session, int(pending["id"]))
        if union is None:
            raise svc.Refused("admin.error.union_gone")
        cancel_to = (UNION, union.id)
        rows.append([btn(t("admin.button.keep"), KEEP)])
        text = (t("admin.union.ask_zh_rename", current=union.name_zh, max=svc.NAME_MAX) if step == "zh"
                else t("admin.union.ask_en_rename", current=union.name_en, max=svc.NAME_MAX))
    else:  # SDATE
        season = await repo.ensure_season(rq.session, int(pending["year"]))
        cancel_to = (SEASON, season.year)
        text = t("admin.season.ask_date", year=season.year, field=t(f"admin.season.field.{pending['field']}"),
                 current=getattr(season, pending["field"]).isoformat())
    rows.append([btn(t("admin.button.cancel_input"), *cancel_to)])
    return text, kb(rows)


# --------------------------------------------------------------------------- commands


@handler
async def cmd_admin(rq: Rq) -> int:
    _set_pending(rq, None)
    if not _is_admin(rq):
        _refused(rq, "not_admin", command="/admin")
        rq.reply(rq.t("admin.not_allowed"))
        return END
    rq.reply(*menu_screen(rq))
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
        rq.edit(*menu_screen(rq))
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
        rq.edit(*invite_role_screen(rq))
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
        rq.edit(*people_role_screen(rq))
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
    rq.refuse(_plain(t("admin.bad_button")), "bad_button")
    return END


async def _ask(rq: Rq, pending: dict[str, Any], note: str | None = None, *, edit: bool = True) -> str:
    text, markup = await prompt_screen(rq, pending)
    text = _with_note(note, text)
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
    text = t("admin.invite.created", role=_role_label(t, role), union=_union_part(t, union), link=link,
             expires=rq.svc.local(inv.expires_at).strftime("%Y-%m-%d %H:%M"))
    rq.edit(text, kb([[btn(t("admin.button.invite"), INV), btn(t("admin.button.menu"), MENU)]]))


async def _confirm_revoke(rq: Rq, grant_id: int) -> None:
    t = rq.t
    p = await svc.active_grant(rq.session, grant_id)
    text = t("admin.revoke.confirm", name=p.user.display_name, role=_role_label(t, p.grant.role),
             union=_union_part(t, p.union))
    rows = [[btn(t("admin.button.revoke_confirm"), RVKY, grant_id)],
            [btn(t("admin.button.back"), PPLR, 0, p.grant.role)]]
    rq.edit(text, kb(rows))


async def _revoke(rq: Rq, grant_id: int) -> None:
    t = rq.t
    p = await svc.revoke(rq.session, _now(rq), rq.user.id, grant_id)
    note = t("admin.revoke.done", name=p.user.display_name, role=_role_label(t, p.grant.role),
             union=_union_part(t, p.union))
    rq.edit(*await people_screen(rq, Role(p.grant.role), 0, note))
    _refresh_menu(rq, p.user.id)
    theirs = await _translator_of(rq, p.user.id)
    if theirs is not None:
        _notify(rq, p.user.id, theirs("admin.revoke.notice", role=_role_label(theirs, p.grant.role),
                                      union=_union_part(theirs, p.union)))


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
    if op == SDATE:
        year, field = int(pending["year"]), str(pending["field"])
        value = svc.parse_date(text)
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
        rq.reply(t("invite.bad_link"))
        return False  # the welcome follows
    try:
        got = await svc.accept_invitation(rq.session, _now(rq), rq.user.id, code)
    except svc.Refused as exc:
        rq.reply(t(exc.key, **exc.params))
        return True
    rq.roles = await repo.roles_of(rq.session, rq.user.id, rq.svc.settings.admin_ids)
    union = got.union.name(t.lang) if got.union else ""
    text = t(f"invite.welcome.{got.role.value}", union=union)
    rq.reply(_with_note(t("invite.already") if got.already else None, text))
    _refresh_menu(rq, rq.user.id)
    if not got.already and got.invited_by != rq.user.id:
        theirs = await _translator_of(rq, got.invited_by)
        if theirs is not None:
            who = f"@{rq.user.username}" if rq.user.username else str(rq.user.id)
            text = theirs("admin.invite.accepted_notice", name=rq.user.display_name, who=who,
                          role=_role_label(theirs, got.role), union=_union_part(theirs, got.union))
            _notify(rq, got.invited_by, text)
    return True


def _bad_invitation(code: str) -> bool:
    """A deep link meant as an invitation that cannot be one: cut short, run on, or mangled."""
    return code.lower().startswith(svc.INVITE_PREFIX[:3])


# --------------------------------------------------------------------------- wiring


def register(app: Application) -> None:  # type: ignore[type-arg]
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
        per_user=True,
    ))
