"""The localized command menus: everyone's, and a fuller one in the chats of people with roles."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from telegram import BotCommand, BotCommandScopeChat, MenuButtonDefault, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError

from bot.domain.workflow import Role
from bot.i18n import I18n
from storage import repo
from storage.models import RoleGrant

log = logging.getLogger(__name__)

COMMANDS = (  # the menu's order
    "start", "apply", "my", "status", "report", "results", "reminders", "pending", "overview", "meeting", "inspect",
    "export", "stats", "compilation", "admin", "language", "help", "cancel",
)
EVERYONE = ("start", "apply", "my", "status", "report", "results", "reminders", "language", "help", "cancel")
BY_ROLE: dict[Role, tuple[str, ...]] = {
    Role.DISTRICT: ("pending",),
    Role.CITY: ("pending", "overview", "meeting", "inspect", "export", "stats", "compilation"),
    Role.CONTACT: ("export", "stats", "compilation"),
    Role.ADMIN: ("admin", "pending", "overview", "inspect", "export", "stats", "compilation"),
}

WEB_ROLES = frozenset({Role.DISTRICT, Role.CITY, Role.ADMIN})


def commands_for(roles: set[Role], order: tuple[str, ...]) -> list[str]:
    wanted = set(EVERYONE).union(*(BY_ROLE.get(r, ()) for r in roles))
    return [c for c in order if c in wanted]


def _menu(i18n: I18n, lang: str, names: list[str]) -> list[BotCommand]:
    t = i18n.get(lang)
    return [BotCommand(c, t.plain(f"command.{c}")) for c in names]


async def set_default(bot: Any, i18n: I18n, order: tuple[str, ...]) -> None:
    """Chinese for zh clients, English for everyone else."""
    names = commands_for(set(), order)
    for lang, code in (("en", None), ("zh", "zh")):
        await bot.set_my_commands(_menu(i18n, lang, names), language_code=code)


async def set_for_user(bot: Any, i18n: I18n, order: tuple[str, ...], user_id: int, lang: str,
                       roles: set[Role]) -> None:
    """The menu in one person's chat, in their language, with their roles' commands."""
    scope = BotCommandScopeChat(user_id)
    try:
        if roles:
            await bot.set_my_commands(_menu(i18n, lang, commands_for(roles, order)), scope=scope)
        else:
            await bot.delete_my_commands(scope=scope)
    except TelegramError as exc:  # a chat that never started the bot, or a blocked one
        log.info("menu for %s not set: %s", user_id, exc)


async def refresh(app: Any, user_ids: set[int] | None = None) -> None:
    """Menus for everyone who holds or held a role (or only `user_ids`), read from the database: whoever's
    role ended (a revoked grant) has the fuller menu removed."""
    svc = app.bot_data["services"]
    async with svc.db.session() as s:
        q = select(RoleGrant.user_id)
        ids = set((await s.scalars(q)).all()) | set(svc.settings.admin_ids)
        if user_ids is not None:
            ids = user_ids
        todo = []
        for uid in sorted(ids):
            user = await repo.get_user(s, uid)
            if user is None:
                continue
            roles = await repo.roles_of(s, uid, svc.settings.admin_ids)
            todo.append((uid, svc.i18n.pick(user.locale, user.language_code), roles))
    web = svc.settings.webapp_link()
    for uid, lang, roles in todo:
        await set_for_user(app.bot, svc.i18n, COMMANDS, uid, lang, roles)
        if web is not None:
            await set_web_menu(app.bot, svc.i18n.get(lang).plain("web.button.menu"), uid, web, roles)


async def set_web_menu(bot: Any, text: str, user_id: int, url: str, roles: set[Role]) -> None:
    """Reviewers and the office get a menu button opening their queue or the overview in the web view."""
    button = MenuButtonWebApp(text, WebAppInfo(url)) if roles & WEB_ROLES else MenuButtonDefault()
    try:
        await bot.set_chat_menu_button(chat_id=user_id, menu_button=button)
    except TelegramError as exc:
        log.info("menu button for %s not set: %s", user_id, exc)
