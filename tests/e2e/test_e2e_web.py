"""The real `python -m bot` with WEBAPP_URL set: the web view is served by the bot's own process, checks
initData, and stops with the bot; a port in use is one start-up line."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import httpx
import pytest

from bot.web.server import bound_socket

pytestmark = pytest.mark.e2e
ADMIN = 900


def signed(token: str, user_id: int) -> str:
    """initData as Telegram signs it (the documented algorithm, written out here on purpose)."""
    fields = {"auth_date": str(int(time.time())), "query_id": "AAQ1",
              "user": json.dumps({"id": user_id, "first_name": "Office", "language_code": "zh-hans"})}
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def free_port() -> int:
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


async def test_the_bot_serves_its_web_view_and_stops_with_it(fake_api, bot_process_factory):
    port = free_port()
    bot = await bot_process_factory(admin_ids=[ADMIN], env={
        "WEBAPP_URL": "https://studio.example.org/", "WEB_LISTEN": "127.0.0.1", "WEB_PORT": str(port)})
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as c:
        shell = await c.get("/")
        assert shell.status_code == 200 and "default-src 'none'" in shell.headers["content-security-policy"]
        assert (await c.get("/api/home")).status_code == 401
        home = await c.get("/api/home", headers={"X-Telegram-Init-Data": signed(fake_api.token, ADMIN)})
        assert home.status_code == 200 and "申报总览" in home.text
    assert await bot.stop() == 0
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(trust_env=False) as c:
            await c.get(f"http://127.0.0.1:{port}/")


async def test_a_web_port_in_use_is_one_start_up_line(fake_api, bot_process_factory):
    held = bound_socket()
    try:
        bot = await bot_process_factory(start=False, env={
            "WEBAPP_URL": "https://studio.example.org/", "WEB_PORT": str(held.getsockname()[1])})
        bot.spawn()
        for _ in range(600):
            if not bot.is_running():
                break
            await asyncio.sleep(0.05)
    finally:
        held.close()
    assert bot.returncode == 2
    assert "WEB_LISTEN/WEB_PORT" in bot.log_text()
