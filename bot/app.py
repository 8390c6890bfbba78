"""Wiring: build the Application with its services, handlers, persistence and jobs."""

from __future__ import annotations

import asyncio
import html
import logging
import signal
from typing import Any, cast

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    PersistenceInput,
    TypeHandler,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import ingress
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.i18n import I18n
from bot.ordering import PerUserOrder
from bot.runtime import BotContext, Services, flush_pending, owe
from storage import repo
from storage.db import Database
from storage.models import User
from storage.persistence import SqlPersistence
from storage.seed import seed_unions

log = logging.getLogger(__name__)

async def prepare_database(db: Database, clock: Clock, settings: Settings) -> None:
    """Apply migrations and initial data; make sure this year's season exists."""
    await db.migrate()
    async with db.session() as s:
        await seed_unions(s)
        await repo.ensure_season(s, clock.now().astimezone(settings.tz).year)
        await s.commit()


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    db: Database | None = None,
    rate_limit: bool = True,
) -> Application:
    """The configured Application. The database must be prepared before `initialize()`."""
    clock = clock or SystemClock()
    db = db or Database(settings.database_url)
    i18n = I18n(settings.default_locale)
    persistence = SqlPersistence(db)
    persistence.store_data = PersistenceInput(bot_data=False, chat_data=False, user_data=True, callback_data=False)
    inflight = ingress.Inflight()
    builder: ApplicationBuilder = (
        ApplicationBuilder()
        .application_class(ingress.TrackedApplication)
        .update_queue(ingress.TrackingQueue(inflight))
        .token(settings.token)
        .base_url(str(settings.bot_api_url).rstrip("/"))
        .base_file_url(str(settings.bot_file_url).rstrip("/"))
        .persistence(persistence)
        .defaults(Defaults(tzinfo=settings.tz))
        .context_types(ContextTypes(context=BotContext, bot_data=dict))
        .concurrent_updates(PerUserOrder(64))
    )
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    if request is not None:
        builder = builder.request(request)
    else:
        builder = builder.request(HTTPXRequest(connection_pool_size=16, read_timeout=15, connect_timeout=10))
    builder = builder.get_updates_request(
        ingress.GatedRequest(get_updates_request or HTTPXRequest(connection_pool_size=1), inflight))
    app = builder.build()
    services = Services(settings=settings, db=db, i18n=i18n, clock=clock)
    app.bot_data["services"] = services
    wire_sender(app, services)
    register_handlers(app)
    return app


def wire_sender(app: Application, services: Services) -> None:
    """What the sender needs to know of the rest: the documents it makes, menus, failures."""
    from bot import commands, effects, notify
    from bot.exports import telegram_io

    sender = services.sender
    sender.bot = app.bot
    sender.renderers.update(telegram_io.renderers(services))

    async def on_commands(bot: Any, chat_id: int) -> None:
        await commands.refresh(app, {chat_id})

    async def on_failed(item: Any, why: str) -> None:
        """A document that could not be made: the person is told, and the admins with the cause."""
        async with services.db.session() as s:
            person = services.translator(await s.get(User, item.chat_id))
            owed = [effects.message(item.chat_id, person("error.document"))]
            for admin_id in sorted(services.settings.admin_ids):
                t = services.translator(await s.get(User, admin_id))
                owed.append(effects.message(admin_id, t("error.document_admin", what=item.payload.get("what", ""),
                                                        chat=item.chat_id, why=html.escape(why[:300]))))
        await owe(services, owed, f"f{item.id}")

    async def on_blocked(item: Any) -> None:
        await owe(services, await notify.reviewer_blocked(services, int(item.payload["review"])), f"b{item.id}")

    sender.on_commands = on_commands
    sender.on_failed = on_failed
    sender.on_blocked = on_blocked


def register_handlers(app: Application) -> None:
    from conversations import common

    common.register(app)
    # Written after every update, so a kill -9 loses nothing that was answered.
    app.add_handler(TypeHandler(Update, _persist_now), group=1000)
    app.add_error_handler(common.on_error)


async def _persist_now(update: Update, context: BotContext) -> None:
    """Store conversation states, then hand the effects to the sender: a reply means the step is saved."""
    try:
        async with cast(SqlPersistence, context.application.persistence).batch():  # one transaction
            await context.application.update_persistence()
        ingress.handled(context.application, update)  # stored: the next getUpdates may confirm it
    finally:
        flush_pending(context)


async def set_commands(app: Application) -> None:
    """The localized command menus (everyone's, then the role holders' own)."""
    from bot import commands

    await commands.set_default(app.bot, app.bot_data["services"].i18n, commands.COMMANDS)
    await commands.refresh(app)


async def run(settings: Settings, *, standby: bool = False, clock: Clock | None = None) -> None:
    """Start the bot and serve until SIGINT/SIGTERM (or until the instance lock is lost); `clock`: the
    system's unless given (a simulation)."""
    from bot import naming, returns, startup

    clock = clock or SystemClock()
    lock = await startup.prepare(settings, standby=standby)  # DATA_DIR, the database file, one instance
    db = Database(settings.database_url)
    await startup.migrated(prepare_database(db, clock, settings), settings)
    app = build_application(settings, clock=clock, db=db)
    web_socket = None
    if settings.webapp_url:
        from bot.web import server

        web_socket = server.listening(settings)  # a port in use is a start-up fault, before anything runs
    stop = asyncio.Event()
    lock.on_lost = stop.set
    await startup.connect_bot(app.initialize, settings)  # retried with back-off while the network is down
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app:
        await app.start()
        await set_commands(app)  # post_init only runs under run_polling(); we start by hand
        from bot import digest, jobs
        from conversations.apply import recover_albums

        services = app.bot_data["services"]
        await services.load_handled()
        await services.sender.start(app.bot)  # what a crash left unsent, before any new update
        await recover_albums(app)
        jobs.schedule(app)  # due reminders are worked out from the database, so restarts lose none
        digest.schedule(app)  # a reviewer's waiting work in one message each working-day morning
        returns.schedule(app)  # R-W4: returned materials sent back, then removed after their period
        naming.schedule(app)  # the season's notice ends and its list is named on the naming date
        web = None
        if web_socket is not None:  # the Mini App, and the webhook when there is one, on one server
            web = server.server(app)
            serving = asyncio.create_task(web.serve(sockets=[web_socket]))
            serving.add_done_callback(lambda _: stop.set())
        if settings.webhook_url and web is not None:
            app.update_queue.wait_each = True  # type: ignore[attr-defined]  # Telegram's 200 waits for the commit
            await app.bot.set_webhook(str(settings.webhook_url), allowed_updates=Update.ALL_TYPES)
        elif settings.webhook_url:
            app.update_queue.wait_each = True  # type: ignore[attr-defined]  # Telegram's 200 waits for the commit
            await app.updater.start_webhook(  # type: ignore[union-attr]
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=settings.webhook_url.path.lstrip("/") if settings.webhook_url.path else "",
                webhook_url=str(settings.webhook_url),
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)  # type: ignore[union-attr]
        log.info("bot is running")
        await stop.wait()
        log.info("stopping")
        if web is not None:
            web.should_exit = True
            await serving
        if app.updater.running:  # type: ignore[union-attr]
            await app.updater.stop()  # type: ignore[union-attr]
        await app.bot_data["services"].shutdown()
        await app.stop()
    await db.dispose()
    await lock.release()


def main_run(settings: Settings, *, standby: bool = False, clock: Clock | None = None, **_: Any) -> None:
    asyncio.run(run(settings, standby=standby, clock=clock))
