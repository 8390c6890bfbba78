"""The screens of `/admin`: text and keyboard from what the handler loaded (no database here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.domain.values import date_examples
from bot.domain.workflow import Role
from bot.i18n import Markup, Translator
from bot.services import records as svc
from bot.services.records import CONTACT_FIELDS, Contact
from bot.views.common import Page, kb, page_of, pager, pairs
from bot.views.office import contact_line
from storage.models import Season, Union, User

Screen = tuple[str, InlineKeyboardMarkup]
Op = cb.AdminOp
LISTED_ROLES: tuple[Role, ...] = (Role.DISTRICT, Role.CITY, Role.CONTACT, Role.ADMIN)


def btn(label: str, op: cb.AdminOp, n: int | None = None, key: str | None = None) -> Btn:
    return Btn(label, callback_data=cb.Admin(op, n, key).encode())


def with_note(note: str | None, text: str) -> str:
    return f"{note}\n\n{text}" if note else text


def role_label(t: Translator, role: Role | str) -> str:
    return t(f"admin.role.{Role(role).value}")


def union_part(t: Translator, union: Union | None) -> Markup:
    return Markup(t("admin.invite.union_part", union=union.name(t.lang)) if union else "")


def _pager(t: Translator, op: cb.AdminOp, page: Page[Any], key: str | None = None) -> list[Btn]:
    return pager(t, page, lambda n: cb.Admin(op, n, key).encode())


def unstaffed_warning(t: Translator, unstaffed: Sequence[Union]) -> str:
    """The unions no reviewer serves: applications there wait (shown first in /admin)."""
    if not unstaffed:
        return ""
    return t("admin.unstaffed.warning", n=len(unstaffed), names=t.join([u.name(t.lang) for u in unstaffed]))


def menu(t: Translator, unstaffed: Sequence[Union] = (), note: str | None = None) -> Screen:
    rows = [[btn(t("admin.button.unions"), Op.UNIONS, 0), btn(t("admin.button.invite"), Op.INV)],
            [btn(t("admin.button.people"), Op.PPL), btn(t("admin.button.season"), Op.SEASON)],
            [btn(t("admin.button.contact"), Op.CONTACT), btn(t("import.button.open"), Op.IMP)]]
    if unstaffed:
        rows.append([btn(t.plain("admin.button.invite_unstaffed"), Op.INVP, 0)])
    text = "\n\n".join(p for p in (unstaffed_warning(t, unstaffed), t("admin.menu.title")) if p)
    return with_note(note, text), kb(rows)


def unions(t: Translator, everyone: Sequence[Union], page: int, reviewers: Mapping[int, int],
           size: int, note: str | None = None) -> Screen:
    """The unions, those without a reviewer first (marked), then by kind."""
    ordered = sorted(everyone, key=lambda u: (not (u.active and not reviewers.get(u.id)),))
    pg = page_of(ordered, page, size)
    active = sum(1 for u in everyone if u.active)
    parts = [t("admin.unions.title", active=active, retired=len(everyone) - active, page=pg.number + 1,
               pages=pg.count)]
    for kind in svc.UNION_KINDS:
        lines = []
        for i, u in enumerate(ordered, start=1):
            if u.kind != kind or u not in pg.items:
                continue
            key = "admin.unions.line" if u.active else "admin.unions.line_retired"
            line = t(key, n=i, name_zh=u.name_zh, name_en=u.name_en)
            if u.active and not reviewers.get(u.id):
                line += t("admin.unions.no_reviewer")
            lines.append(line)
        if lines:
            parts.append(t("admin.unions.section", kind=t(f"admin.kind.{kind}")) + "\n" + "\n".join(lines))
    buttons = [
        btn(u.name(t.lang) if u.active else t("admin.button.union_retired", name=Markup(u.name(t.lang))),
            Op.UNION, u.id)
        for u in pg.items
    ]
    rows = pairs(buttons)
    rows.append([btn(t("admin.button.add_district"), Op.UADD, key="district")])
    rows.append([btn(t("admin.button.add_industry"), Op.UADD, key="industry")])
    rows.append(_pager(t, Op.UNIONS, pg))
    rows.append([btn(t("admin.button.menu"), Op.MENU)])
    return with_note(note, "\n\n".join(parts)), kb(rows)


def union(t: Translator, u: Union, reviewers: int, note: str | None = None) -> Screen:
    text = t("admin.union.detail", name_zh=u.name_zh, name_en=u.name_en, kind=t(f"admin.kind.{u.kind}"),
             state=t("admin.union.active" if u.active else "admin.union.retired"), reviewers=reviewers)
    toggle = (btn(t("admin.button.retire"), Op.UOFF, u.id) if u.active
              else btn(t("admin.button.reactivate"), Op.UON, u.id))
    rows = [[btn(t("admin.button.rename"), Op.UREN, u.id), toggle]]
    if u.active and not reviewers:
        rows.append([btn(t.plain("admin.button.invite_here"), Op.INVU, u.id)])
    rows.append([btn(t("admin.button.back"), Op.UNIONS, 0), btn(t("admin.button.menu"), Op.MENU)])
    return with_note(note, text), kb(rows)


def invite_role(t: Translator, note: str | None = None) -> Screen:
    rows = [[btn(role_label(t, role), Op.INVR, key=role.value)] for role in svc.INVITABLE]
    rows.append([btn(t("admin.button.menu"), Op.MENU)])
    return with_note(note, t("admin.invite.choose_role")), kb(rows)


def invite_union(t: Translator, active: Sequence[Union], page: int, size: int,
                 reviewers: Mapping[int, int]) -> Screen:
    """The unions to invite a district reviewer for, those without one first."""
    ordered = sorted(active, key=lambda u: bool(reviewers.get(u.id)))
    pg = page_of(ordered, page, size)
    rows = pairs([btn(u.name(t.lang) if reviewers.get(u.id) else t.plain("admin.button.unstaffed",
                                                                          name=u.name(t.lang)),
                      Op.INVU, u.id) for u in pg.items])
    rows.append(_pager(t, Op.INVP, pg))
    rows.append([btn(t("admin.button.back"), Op.INV), btn(t("admin.button.menu"), Op.MENU)])
    if not active:
        return t("admin.invite.no_unions"), kb(rows)
    return t("admin.invite.choose_union", role=role_label(t, Role.DISTRICT)), kb(rows)


def invite_created(t: Translator, role: Role, u: Union | None, link: str, expires: str) -> Screen:
    text = t("admin.invite.created", role=role_label(t, role), union=union_part(t, u), link=link, expires=expires)
    return text, kb([[btn(t("admin.button.invite"), Op.INV), btn(t("admin.button.menu"), Op.MENU)]])


def people_role(t: Translator, note: str | None = None) -> Screen:
    rows = [[btn(role_label(t, role), Op.PPLR, 0, role.value)] for role in LISTED_ROLES]
    rows.append([btn(t("admin.button.menu"), Op.MENU)])
    return with_note(note, t("admin.people.choose_role")), kb(rows)


def _person_line(t: Translator, n: int, name: str, username: str | None, user_id: int,
                 u: Union | None) -> str:
    return t("admin.people.line", n=n, name=name, id=user_id,
             username=Markup(t("admin.people.username", username=username) if username else ""),
             union=Markup(t("admin.people.union", union=u.name(t.lang)) if u else ""))


def _back_to_people(t: Translator) -> list[Btn]:
    return [btn(t("admin.button.back"), Op.PPL), btn(t("admin.button.menu"), Op.MENU)]


def admins(t: Translator, ids: Sequence[int], known: Mapping[int, User], note: str | None = None) -> Screen:
    """The admins (from ADMIN_IDS: listed, not revocable here)."""
    lines = []
    for i, uid in enumerate(sorted(ids), start=1):
        user = known.get(uid)
        name = user.display_name if user else t("admin.people.never_seen")
        lines.append(_person_line(t, i, name, user.username if user else None, uid, None))
    head = t("admin.people.title", role=role_label(t, Role.ADMIN), n=len(lines), page=1, pages=1)
    return with_note(note, "\n".join([head, *lines, "", t("admin.people.admins")])), kb([_back_to_people(t)])


def people(t: Translator, role: Role, pg: Page[svc.Person], total: int, note: str | None = None) -> Screen:
    label = role_label(t, role)
    if not total:
        return with_note(note, t("admin.people.none", role=label)), kb([_back_to_people(t)])
    lines = [t("admin.people.title", role=label, n=total, page=pg.number + 1, pages=pg.count)]
    buttons = []
    for i, p in enumerate(pg.items, start=pg.first):
        lines.append(_person_line(t, i, p.user.display_name, p.user.username, p.user.id, p.union))
        buttons.append(btn(t("admin.button.revoke", n=i, name=Markup(p.user.display_name[:30])), Op.RVK, p.grant.id))
    rows = pairs(buttons)
    rows.append(_pager(t, Op.PPLR, pg, role.value))
    rows.append(_back_to_people(t))
    return with_note(note, "\n".join(lines)), kb(rows)


def revoke_confirm(t: Translator, p: svc.Person) -> Screen:
    text = t("admin.revoke.confirm", name=p.user.display_name, role=role_label(t, p.grant.role),
             union=union_part(t, p.union))
    rows = [[btn(t("admin.button.revoke_confirm"), Op.RVKY, p.grant.id)],
            [btn(t("admin.button.back"), Op.PPLR, 0, p.grant.role)]]
    return text, kb(rows)


def season(t: Translator, s: Season, years: tuple[int, int], contact: Contact, note: str | None = None) -> Screen:
    parts = [t("admin.season.title", year=s.year),
             t("admin.season.body", opens_on=s.opens_on.isoformat(), deadline=s.deadline.isoformat(),
               review_starts=s.review_starts.isoformat(), naming_by=s.naming_by.isoformat(),
               first_year=t("admin.season.yes" if s.first_year else "admin.season.no")),
             t("admin.season.notice_days", n=s.notice_days) if s.notice_days else t("admin.season.no_notice")]
    if s.first_year:
        parts.append(t("admin.season.first_year_note"))
    parts.append(t("admin.season.rule"))
    parts.append(contact_line(t, contact))
    dates = [btn(t("admin.button.set_date", field=t(f"admin.season.field.{f}")), Op.SDATE, s.year, f)
             for f in svc.SEASON_FIELDS]
    rows = pairs(dates)
    rows.append([btn(t.plain("admin.button.notice_days"), Op.SNOTICE, s.year)])
    rows.append([btn(t("admin.button.first_year_off" if s.first_year else "admin.button.first_year_on"),
                     Op.SFY, s.year)])
    this, after = years
    other = after if s.year == this else this
    rows.append([btn(t("admin.button.year", year=other), Op.SEASON, other), btn(t("admin.button.menu"), Op.MENU)])
    return with_note(note, "\n\n".join(parts)), kb(rows)


def contact(t: Translator, c: Contact, note: str | None = None) -> Screen:
    """The office's contact person and a button per part to change."""
    text = t("admin.contact.title") + "\n" + contact_line(t, c) + "\n\n" + t("admin.contact.where")
    rows = [[btn(t.plain(f"admin.contact.button.{f}"), Op.CSET, key=f) for f in CONTACT_FIELDS],
            [btn(t("admin.button.menu"), Op.MENU)]]
    return with_note(note, text), kb(rows)


def prompt(t: Translator, pending: Mapping[str, Any], *, u: Union | None = None, s: Season | None = None,
           c: Contact | None = None, today: date | None = None) -> Screen:
    """What to type now, for the pending input (the union renamed, the season or the contact it concerns)."""
    op, step = pending.get("op"), pending.get("step")
    cancel_to: tuple[cb.AdminOp, int | None] = (Op.UNIONS, 0)
    rows: list[list[Btn]] = []
    if op == Op.UADD:
        kind = t(f"admin.kind.{pending['kind']}")
        text = (t("admin.union.ask_zh", kind=kind, max=svc.NAME_MAX) if step == "zh"
                else t("admin.union.ask_en", name_zh=pending.get("zh", ""), max=svc.NAME_MAX))
    elif op == Op.UREN:
        assert u is not None
        cancel_to = (Op.UNION, u.id)
        rows.append([btn(t("admin.button.keep"), Op.KEEP)])
        text = (t("admin.union.ask_zh_rename", current=u.name_zh, max=svc.NAME_MAX) if step == "zh"
                else t("admin.union.ask_en_rename", current=u.name_en, max=svc.NAME_MAX))
    elif op == Op.CSET:
        assert c is not None
        field = str(pending["field"])
        cancel_to = (Op.CONTACT, None)
        text = t(f"admin.contact.ask_{field}", current=getattr(c, field) or "—")
    elif op == Op.SNOTICE:
        assert s is not None
        cancel_to = (Op.SEASON, s.year)
        text = t("admin.season.ask_notice_days", year=s.year, current=s.notice_days, max=svc.NOTICE_MAX)
    else:  # SDATE
        assert s is not None and today is not None
        cancel_to = (Op.SEASON, s.year)
        text = t("admin.season.ask_date", year=s.year, field=t(f"admin.season.field.{pending['field']}"),
                 current=getattr(s, pending["field"]).isoformat(), **date_examples(today))
    rows.append([btn(t("admin.button.cancel_input"), *cancel_to)])
    return text, kb(rows)
