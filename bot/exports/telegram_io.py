"""Sending export files over Telegram (the only module of `bot.exports` that knows Telegram)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import InputFile
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.exports import data, service
from bot.exports.service import OutFile
from bot.i18n import Translator
from bot.notify import Unreachable, deliver
from bot.runtime import services_of
from storage import repo

log = logging.getLogger(__name__)
MAX_UPLOAD = 50 * 1024 * 1024  # the public Bot API's upload limit for documents


async def send_document(bot: Any, chat_id: int, f: OutFile, caption: str | None = None) -> bool:
    """Send one file as a document; False when it cannot be delivered (logged)."""
    if len(f.data) > MAX_UPLOAD:
        log.warning("%s is too big to send (%d bytes)", f.name, len(f.data))
        return False
    try:
        await deliver(lambda: bot.send_document(chat_id, InputFile(f.data, filename=f.name), caption=caption,
                                                parse_mode=ParseMode.HTML, filename=f.name))
    except (Unreachable, TelegramError) as exc:
        log.warning("could not send %s to %s: %s", f.name, chat_id, exc)
        return False
    return True


async def send_photo(bot: Any, chat_id: int, f: OutFile, caption: str | None = None) -> bool:
    try:
        await deliver(lambda: bot.send_photo(chat_id, InputFile(f.data, filename=f.name), caption=caption,
                                             parse_mode=ParseMode.HTML))
    except (Unreachable, TelegramError) as exc:
        log.warning("could not send %s to %s: %s", f.name, chat_id, exc)
        return False
    return True


async def _translator(application: Any, chat_id: int) -> Translator:
    svc = services_of(application)
    async with svc.db.session() as s:
        user = await repo.get_user(s, chat_id)
    return svc.i18n.get(svc.i18n.pick(user.locale if user else None, user.language_code if user else None))


async def send_form(application: Any, app_id: int, chat_id: int) -> bool:
    """Send the printable form of application `app_id` (DOCX, and PDF when LibreOffice is installed)
    to `chat_id`. The caller has checked that the recipient may see it. True when the DOCX arrived."""
    svc = services_of(application)
    async with svc.db.session() as s:
        b = await data.load_bundle(s, app_id)
    if b is None:
        return False
    try:
        files = await service.form_files(b, svc.i18n, svc.settings.tz)
    except Exception:  # a broken export must not turn a recorded decision into an error message
        log.exception("could not build the form of application %s", app_id)
        return False
    reader = b.applicant if b.applicant is not None and b.applicant.id == chat_id else None
    t = (svc.i18n.get(svc.i18n.pick(reader.locale, reader.language_code)) if reader is not None
         else await _translator(application, chat_id))
    caption = t("export.form_caption", number=b.app.number or t.plain("export.no_number"), leader=b.leader)
    ok = await send_document(application.bot, chat_id, files[0], caption)
    for f in files[1:]:
        await send_document(application.bot, chat_id, f)
    return ok
