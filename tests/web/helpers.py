"""A bot with its web view on a real local port, signed initData for test users, a headless Chromium."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import uvicorn

from bot.web import auth, server
from tests.offline import TOKEN, Harness

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
WEBAPP_URL = "https://office.example.org/"
# a locale key shown as itself: a dotted name under one of the catalog's prefixes
KEY_SHAPE = re.compile(r"\b(?:web|field|status|action|box|section|choice|review|workflow|common|news)"
                       r"\.[a-z_0-9]+(?:\.[a-z_0-9]+)*\b")

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None,
                                    reason="needs Debian's chromium at /usr/bin/chromium and playwright")


def init_data(h: Harness, user_id: int, *, age: int = 0, token: str = TOKEN, lang: str = "zh-hans",
              name: str | None = None) -> str:
    """What Telegram would put in `tgWebAppData` for `user_id`, signed with the bot's token."""
    user = {"id": user_id, "first_name": name or f"U{user_id}", "language_code": lang}
    fields = {"auth_date": str(int(h.clock.now().timestamp()) - age), "query_id": "AAQ" + str(user_id),
              "user": json.dumps(user, ensure_ascii=False, separators=(",", ":"))}
    fields["hash"] = auth.signature(fields, token)
    return urlencode(fields)


def headers(h: Harness, user_id: int, **kw: Any) -> dict[str, str]:
    return {server.HEADER: init_data(h, user_id, **kw)}


def client(h: Harness) -> httpx.AsyncClient:
    """Requests straight to the web app (no socket)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=server.build(h.app)), base_url="http://web.test")


@asynccontextmanager
async def serving(h: Harness) -> AsyncIterator[str]:
    """The web view on a free local port, on this event loop; its base address."""
    sock = server.bound_socket()
    config = uvicorn.Config(server.build(h.app), lifespan="off", log_config=None, access_log=False)
    web = uvicorn.Server(config)
    task = asyncio.create_task(web.serve(sockets=[sock]))  # connections wait in the backlog till it runs
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        web.should_exit = True
        await task
        sock.close()


def launch_url(h: Harness, base: str, path: str, user_id: int, **kw: Any) -> str:
    """The address Telegram opens: the page, then the launch parameters in the fragment."""
    theme = json.dumps({"bg_color": "#ffffff", "text_color": "#000000", "button_color": "#2481cc"})
    return (f"{base}{path}#tgWebAppData={quote(init_data(h, user_id, **kw), safe='')}"
            f"&tgWebAppVersion=8.0&tgWebAppPlatform=tdesktop&tgWebAppThemeParams={quote(theme, safe='')}")


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def open_page(b: Any, url: str, width: int = 390, height: int = 844) -> Any:
    """A page at `url` once its content (and every image on it) has arrived."""
    page = await b.new_page(viewport={"width": width, "height": height}, device_scale_factor=2 if width < 500 else 1)
    await page.goto(url)
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    await page.wait_for_function(
        "() => Array.from(document.querySelectorAll('img[data-file]')).every(i => i.complete && i.naturalWidth > 0 "
        "|| i.classList.contains('failed'))", timeout=15000)
    return page
