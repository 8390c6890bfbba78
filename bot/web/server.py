"""The Mini App's HTTP side: Starlette on the bot's own event loop (served by uvicorn), beside the webhook.

Every page is a small shell (no personal data) whose script reads Telegram's `#tgWebAppData=…` and asks
`/api/…` for the content with that initData in a header; every API call checks it (`bot.web.auth`),
re-reads the user's roles and unions from the database, and answers 401 or 403 otherwise. Decisions go
through `bot.services.review.decide` and `bot.notify`, in one transaction with their outbox effects, as
the chat's buttons do.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from bot.runtime import Services, services_of
from bot.web import meetings, pages
from bot.web.auth import Unauthorized, verify

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
HEADER = "X-Telegram-Init-Data"
SHELLS = ("/", "/queue", "/overview", "/meetings", "/app/{app_id:int}")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]


class Strict:
    """Every answer carries the CSP and friends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class Web:
    """The routes, bound to the running Application (for its services and its outbox)."""

    def __init__(self, application: Application) -> None:
        self.application = application
        self.svc: Services = services_of(application)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      trim_blocks=True, lstrip_blocks=True)

    def starlette(self) -> Starlette:
        routes: list[Any] = [Route(path, self.shell) for path in SHELLS]
        routes += [
            Route("/api/home", self.api(pages.home)),
            Route("/api/queue", self.api(pages.queue)),
            Route("/api/overview", self.api(pages.overview), methods=["GET", "POST"]),
            Route("/api/overview.xlsx", self.api(pages.overview_xlsx), methods=["GET", "POST"]),
            Route("/api/app/{app_id:int}", self.api(pages.application)),
            Route("/api/app/{app_id:int}/decide", self.api(pages.decide), methods=["POST"]),
            Route("/api/file/{file_id:int}", self.api(pages.attachment)),
            Route("/api/meetings", self.api(meetings.page)),
            Route("/api/meetings/record", self.api(meetings.record), methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        url = self.svc.settings.webhook_url
        if url is not None:
            routes.append(Route("/" + (url.path or "").strip("/"), self.webhook, methods=["POST"]))
        return Starlette(routes=routes, middleware=[])

    async def shell(self, request: Request) -> Response:
        """The page before it knows who is looking: no personal data, the script does the rest."""
        url = self.svc.settings.webapp_url
        base = (url.path or "").rstrip("/") if url is not None else ""
        html = self.env.get_template("shell.html").render(lang=self.svc.i18n.default, base=base)
        return HTMLResponse(html)

    async def webhook(self, request: Request) -> Response:
        """Telegram's updates (one server for the webhook and the pages); answered once handled."""
        await self.application.update_queue.put(Update.de_json(await request.json(), self.application.bot))
        return Response()

    def api(self, fn: pages.Endpoint) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                who = verify(request.headers.get(HEADER), self.svc.settings.token, self.svc.clock.now())
            except Unauthorized as exc:
                log.info("web: %s initData on %s", exc.reason, request.url.path)
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            ctx = pages.Ctx(self, request, who)
            try:
                return await fn(ctx)
            except pages.Refused as exc:
                return await ctx.refused(exc)

        return endpoint

    def file(self, path: Path, mime: str | None, name: str | None) -> Response:
        return FileResponse(path, media_type=mime or "application/octet-stream",
                            content_disposition_type="inline", filename=name)


def build(application: Application) -> ASGIApp:
    return Strict(Web(application).starlette())


def server(application: Application) -> uvicorn.Server:
    """The uvicorn server of the pages (and of the webhook, when there is one), not started yet."""
    settings = services_of(application).settings
    config = uvicorn.Config(build(application), host=settings.web_listen, port=settings.web_port,
                            lifespan="off", log_config=None, access_log=False, proxy_headers=True)
    return uvicorn.Server(config)


def bound_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A socket listening on `port` (0: a free one, for tests)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def listening(settings: Settings) -> socket.socket:
    """The web view's address, taken before anything starts: a port in use is one start-up line."""
    from bot.startup import EXIT_CONFIG, StartupFault

    try:
        return bound_socket(settings.web_listen, settings.web_port)
    except OSError as exc:
        raise StartupFault(EXIT_CONFIG, f"WEB_LISTEN/WEB_PORT {settings.web_listen}:{settings.web_port} cannot be "
                           f"used ({exc.strerror or exc}): choose a free port or stop what holds it") from None
