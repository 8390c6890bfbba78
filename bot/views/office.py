"""The office's contact person as every message shows it that tells someone to ask the office."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks as cb
from bot.i18n import Markup, Translator
from bot.services.records import Contact


def contact_line(t: Translator, contact: Contact) -> str:
    """"联系人：… 电话 … 邮箱 …" — or, with no contact set, the office by its name."""
    if not contact.known:
        return t("office.contact.unset")
    parts = [t("office.contact.name", name=contact.name)] if contact.name else []
    if contact.phone:
        parts.append(t("office.contact.phone", phone=contact.phone))
    if contact.email:
        parts.append(t("office.contact.email", email=contact.email))
    return t("office.contact.line", parts=Markup(("，" if t.lang == "zh" else ", ").join(parts)))


def ask_office(t: Translator, contact: Contact, text: str) -> str:
    """`text` (which tells the reader to ask the office) with whom to ask below it."""
    return f"{text}\n{contact_line(t, contact)}"


def unstaffed_applicant(t: Translator, union: str, contact: Contact) -> str:
    """The applicant picked a union no reviewer serves yet: the review starts once one is appointed."""
    return ask_office(t, contact, t("office.unstaffed.applicant", union=union))


def unstaffed_admin(t: Translator, union_id: int, union: str, year: int) -> tuple[str, InlineKeyboardMarkup]:
    """An admin told (once per union and season) that an applicant picked a union without a reviewer."""
    data = cb.Admin(cb.AdminOp.INVU, union_id).encode()
    return (t("office.unstaffed.admin", union=union, year=year),
            InlineKeyboardMarkup([[InlineKeyboardButton(t.plain("office.unstaffed.invite"), callback_data=data)]]))
