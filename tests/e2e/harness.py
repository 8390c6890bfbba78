"""Run the real bot (``python -m bot``) as a subprocess against the fake Bot API."""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from .fake_api import FakeTelegramServer

REPO_ROOT = Path(__file__).resolve().parents[2]

ReadyCheck = Callable[[FakeTelegramServer, int], bool]
"""``(server, mark)`` → True once the bot is ready; ``mark`` is the call index at spawn."""

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
# Bot settings a developer's shell may export; never inherited (pass them explicitly).
_BOT_SETTINGS = (
    "BOT_TOKEN", "BOT_API_URL", "BOT_FILE_URL", "DATA_DIR", "DATABASE_URL", "ADMIN_IDS",
    "DEFAULT_LOCALE", "TIMEZONE", "WEBHOOK_URL", "WEBHOOK_LISTEN", "WEBHOOK_PORT",
    "REVIEW_REMIND_DAYS", "REVIEW_ESCALATE_DAYS", "QUIET_START_HOUR", "QUIET_END_HOUR",
    "ALBUM_WAIT_SECONDS",
)  # fmt: skip


def ready_after_commands(server: FakeTelegramServer, mark: int) -> bool:
    """Default readiness: a getUpdates call arrived after the last setMyCommands."""
    last_commands = max((c.index for c in server.calls_to("setMyCommands", mark)), default=None)
    if last_commands is None:
        return False
    return any(c.index > last_commands for c in server.calls_to("getUpdates", mark))


def ready_polling(server: FakeTelegramServer, mark: int) -> bool:
    """Readiness for bots that set no commands: any getUpdates call since spawn."""
    return bool(server.calls_to("getUpdates", mark))


class BotNotReady(RuntimeError):
    """The bot exited or did not become ready in time (message has the log tail)."""


_LIVE: weakref.WeakSet[BotProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        proc.kill_sync()


class BotProcess:
    """One bot subprocess (restartable) talking to ``server``.

    ``start()`` spawns and waits for readiness; ``kill()`` is SIGKILL;
    ``stop()`` is SIGTERM with a 10 s grace period.  The data directory and
    the log file are kept across restarts.
    """

    def __init__(
        self,
        server: FakeTelegramServer,
        workdir: Path,
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        database_url: str | None = None,
        admin_ids: Sequence[int] | str | None = None,
        timezone: str = "Asia/Shanghai",
        ready: ReadyCheck = ready_after_commands,
        ready_timeout: float = 20.0,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.server = server
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.command = list(command) if command is not None else [sys.executable, "-m", "bot"]
        self.data_dir = Path(data_dir) if data_dir is not None else self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "bot.log"
        self.database_url = database_url
        self.admin_ids = admin_ids
        self.timezone = timezone
        self.extra_env = dict(env or {})
        self.ready = ready
        self.ready_timeout = ready_timeout
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_mark = 0
        self._log_file: IO[bytes] | None = None

    # ------------------------------------------------------------------ env

    def build_env(self) -> dict[str, str]:
        """Environment for the child: inherited (minus proxies and bot settings) + settings."""
        drop = {*_PROXY_VARS, *_BOT_SETTINGS}
        env = {k: v for k, v in os.environ.items() if k.upper() not in drop}
        env.update(
            {
                "BOT_TOKEN": self.server.token,
                "BOT_API_URL": self.server.base_url,
                "BOT_FILE_URL": self.server.base_file_url,
                "DATA_DIR": str(self.data_dir),
                "TIMEZONE": self.timezone,
                "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        if self.admin_ids is not None:
            ids = self.admin_ids
            env["ADMIN_IDS"] = ids if isinstance(ids, str) else ",".join(str(i) for i in ids)
        env.update(self.extra_env)
        return env

    # ------------------------------------------------------------------ lifecycle

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self, *, wait_ready: bool = True) -> BotProcess:
        """Spawn the process and (by default) wait until ``ready`` holds."""
        if self.is_running():
            raise RuntimeError(f"bot already running (pid {self.pid})")
        self.start_mark = self.server.mark()
        self.spawn()
        if wait_ready:
            await self.wait_ready()
        return self

    def spawn(self) -> None:
        """Start the process without waiting (stdout+stderr appended to ``log_path``)."""
        self.starts += 1
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = open(self.log_path, "ab")
        header = f"\n===== start #{self.starts} at {time.strftime('%H:%M:%S')}: {self.command} =====\n"
        self._log_file.write(header.encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.build_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        _LIVE.add(self)

    async def wait_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the readiness condition; raise :class:`BotNotReady` with the log tail."""
        limit = self.ready_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not self.ready(self.server, self.start_mark):
            if not self.is_running():
                raise BotNotReady(
                    f"bot exited with code {self.returncode} before becoming ready\n{self.log_tail()}"
                )
            if loop.time() > deadline:
                raise BotNotReady(
                    f"bot not ready after {limit}s (readiness: {getattr(self.ready, '__name__', self.ready)})"
                    f"\n{self.server.describe(last=15)}\n{self.log_tail()}"
                )
            await asyncio.sleep(0.05)

    async def kill(self) -> int | None:
        """SIGKILL the process (by PID) and reap it; return the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        return await self._reap(10.0)

    async def stop(self, timeout: float = 10.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM, wait up to ``timeout`` s (the fake keeps serving), then SIGKILL."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            code = await self._reap(timeout)
            if code is not None:
                return code
            os.kill(proc.pid, signal.SIGKILL)
        return await self._reap(10.0)

    async def restart(self, *, hard: bool = True, wait_ready: bool = True) -> BotProcess:
        """Kill (``hard``) or stop the process, then start it again (same data dir)."""
        await (self.kill() if hard else self.stop())
        return await self.start(wait_ready=wait_ready)

    async def _reap(self, timeout: float) -> int | None:  # noqa: ASYNC109
        proc = self.proc
        assert proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while proc.poll() is None:
            if loop.time() > deadline:
                return None
            await asyncio.sleep(0.02)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _LIVE.discard(self)
        return proc.returncode

    def kill_sync(self) -> None:
        """Blocking SIGKILL + reap (teardown / atexit)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _LIVE.discard(self)

    # ------------------------------------------------------------------ logs

    def log_text(self) -> str:
        """Everything the process(es) wrote to stdout/stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return f"-- bot log tail ({self.log_path}):\n" + "\n".join(tail)
