"""Fixtures for end-to-end tests: the fake Bot API and real bot subprocesses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio

from .fake_api import FakeTelegramServer
from .harness import BotProcess

BotFactory = Callable[..., Awaitable[BotProcess]]


@pytest_asyncio.fixture
async def fake_api() -> AsyncIterator[FakeTelegramServer]:
    """A started fake Telegram Bot API on 127.0.0.1 (free port), stopped after the test."""
    server = FakeTelegramServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def bot_process_factory(fake_api: FakeTelegramServer, tmp_path: Path) -> AsyncIterator[BotFactory]:
    """``await bot_process_factory(**BotProcess kwargs, start=True)`` → a (started) bot.

    Every process started through it is SIGKILLed at teardown.  Its log tail is
    appended to the fake's timeout diagnostics.
    """
    procs: list[BotProcess] = []

    async def factory(*, start: bool = True, **kwargs: Any) -> BotProcess:
        workdir = kwargs.pop("workdir", tmp_path / f"bot{len(procs)}")
        proc = BotProcess(fake_api, workdir, **kwargs)
        procs.append(proc)
        fake_api.diagnostics.append(proc.log_tail)
        if start:
            await proc.start()
        return proc

    try:
        yield factory
    finally:
        for proc in procs:
            proc.kill_sync()
        for proc in procs:
            if proc.log_tail in fake_api.diagnostics:
                fake_api.diagnostics.remove(proc.log_tail)
