"""/start, /help, /language, /cancel, the fallback for stray input and the error handler."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import callbacks as cb
from bot import effects
from bot.domain.workflow import Role
from bot.runtime import APPLICATIONS, Rq, handler, owe, services
from bot.services import drafts, office
from bot.views.office import contact_line
from bot.views.wizard import season_line
from conversations.apply import Go
from conversations.status import MyApps
from storage import repo

log = logging.getLogger(__name__)

ROLE_ORDER = (Role.ADMIN, Role.CITY, Role.DISTRICT, Role.CONTACT)
HELP_OF = {Role.DISTRICT: "district", Role.CITY: "city", Role.CONTACT: "contact", Role.ADMIN: "admin"}


WINDOW = "start_window"  # Rq.cache: the season's window, shown in the welcome


def start_text(rq: Rq) -> str:
    t = rq.t
    parts = [t("start.welcome", name=rq.user.display_name), t("start.applicant")]
    if rq.cache.get(WINDOW):
        parts.append(rq.cache[WINDOW])
    parts += [t(f"start.role.{role.value}") for role in ROLE_ORDER if role in rq.roles]
    parts.append(t("start.more"))
    return "\n\n".join(parts)


async def start_screen(rq: Rq) -> tuple[str, InlineKeyboardMarkup]:
    """The welcome, the season's window, and buttons for the two things an applicant does."""
    t = rq.t
    apps = rq.cache.get(APPLICATIONS)
    if apps is None:
        apps = await repo.applications_of(rq.session, rq.user.id)
    now, tz = rq.svc.clock.now(), rq.svc.settings.tz
    st = await drafts.standing(rq.session, apps, now, tz)
    window = season_line(t, st.season, now, tz)
    rq.cache[WINDOW] = f"{window}\n{contact_line(t, await office.contact(rq.session))}" if window else ""
    going = st.current is not None and drafts.editable(st.current)
    rows = [[InlineKeyboardButton(t.plain("start.button.continue" if going else "start.button.apply"),
                                  callback_data=Go().encode())]]
    if apps:
        rows.append([InlineKeyboardButton(t.plain("start.button.my"), callback_data=MyApps().encode())])
    return start_text(rq), InlineKeyboardMarkup(rows)


@handler
async def cmd_start(rq: Rq) -> None:
    args = rq.context.args or []
    if args:
        from conversations.admin import accept_invitation

        if await accept_invitation(rq, args[0]):  # an invitation, or a link that says it is a bad one
            return
    if rq.roles:  # a role held from the first /start on (ADMIN_IDS): its commands in the menu at once
        rq.owe(effects.commands(rq.user.id))
    rq.reply(*await start_screen(rq))


@handler
async def cmd_help(rq: Rq) -> None:
    t = rq.t
    lines = [t("help.title"), t("help.applicant"), t("help.studio")]
    for role in (Role.DISTRICT, Role.CITY, Role.CONTACT, Role.ADMIN):  # what each role held may do
        if role in rq.roles:
            lines.append(t(f"help.{HELP_OF[role]}"))
    lines.append(t("help.common"))
    lines.append(contact_line(t, await office.contact(rq.session)))
    rq.reply("\n\n".join(lines))


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("中文", callback_data=cb.Lang("zh").encode()),
          InlineKeyboardButton("English", callback_data=cb.Lang("en").encode())]]
    )


@handler
async def cmd_language(rq: Rq) -> None:
    rq.reply(rq.t("language.choose"), language_keyboard())


@handler
async def on_language(rq: Rq) -> None:
    data = cb.decode(rq.query.data if rq.query else None)
    if not isinstance(data, cb.Lang) or data.code not in rq.svc.i18n.catalogs:
        rq.refuse(rq.t("error.bad_button"), "bad_button")
        return
    rq.user.locale = data.code
    rq.t = rq.svc.i18n.get(data.code)
    rq.edit(rq.t("language.set"))
    if rq.roles:
        rq.owe(effects.commands(rq.user.id))


@handler
async def cmd_cancel(rq: Rq) -> None:
    rq.reply(rq.t("cancel.nothing"))


@handler
async def on_stray(rq: Rq) -> None:
    """Input outside any flow: say what can be done."""
    rq.reply(rq.t("stray.hint"))


@handler
async def on_stray_button(rq: Rq) -> None:
    rq.refuse(rq.t("error.stale_button"), "unknown_button")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log with the update id; tell the user, in their language, that their answers are kept."""
    uid = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s", uid, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        svc = services(context)
        lang = None
        user = update.effective_user
        if user is not None:
            async with svc.db.session() as s:
                row = await repo.get_user(s, user.id)
            lang = svc.i18n.pick(row.locale if row else None, user.language_code)
        t = svc.i18n.get(lang)
        chat_id = update.effective_chat.id
        owed = [effects.answer(chat_id, update.callback_query.id)] if update.callback_query is not None else []
        owed.append(effects.message(chat_id, t("error.internal"), stale_ok=True))
        await owe(svc, owed, f"e{update.update_id}")
    except Exception:
        log.exception("could not report the error to the user")


def register(app: Application) -> None:
    from conversations import (
        admin,
        apply,
        exports,
        inputs,
        inspect,
        meeting,
        notice,
        overview,
        reminders,
        report,
        results,
        review,
        status,
    )

    # text goes to the flow waiting for it whatever the order here (`conversations.inputs`); the
    # catch-alls below come last
    app.add_handler(TypeHandler(Update, inputs.ender(
        [apply.WIZARD, review.REVIEW, admin.ADMIN, report.REPORT, inspect.INSPECT,
         results.RESULTS, meeting.MEETING])), group=inputs.PRE_GROUP)
    report.register(app)
    inspect.register(app)
    notice.register(app)
    reminders.register(app)
    results.register(app)
    admin.register(app)
    review.register(app)
    apply.register(app)
    status.register(app)
    exports.register(app)
    overview.register(app)
    meeting.register(app)
    app.add_handler(CommandHandler("start", cmd_start))
    app.add_handler(CommandHandler("help", cmd_help))
    app.add_handler(CommandHandler("language", cmd_language))
    app.add_handler(CallbackQueryHandler(on_language, pattern=cb.Lang.pattern()))
    app.add_handler(CommandHandler("cancel", cmd_cancel))
    app.add_handler(CallbackQueryHandler(on_stray_button))
    app.add_handler(MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, on_stray))
