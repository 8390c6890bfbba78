"""Start-up checks: each fault becomes one line naming the cause and the fix, with its own exit code.

| code | fault |
| ---: | --- |
| 1 | an unexpected error (a traceback, token removed) |
| 2 | a setting is missing or invalid |
| 3 | DATA_DIR cannot be created or written |
| 4 | another instance runs on the same database (the instance lock is held) |
| 5 | the database cannot be reached (PostgreSQL down, database missing, wrong password) |
| 6 | the SQLite file is not a database or is damaged |
| 7 | the Bot API rejected BOT_TOKEN |
| 8 | the Bot API stayed unreachable for STARTUP_RETRY_SECONDS |
| 9 | the database's schema is newer than this version of the bot |
| 10 | a package the configuration needs is not installed (the PostgreSQL driver, the webhook server) |
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import sqlite3
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from telegram.error import BadRequest, InvalidToken, NetworkError, TimedOut

from bot import lock as instance_lock
from bot.config import Settings

log = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_DATA_DIR = 3
EXIT_LOCKED = 4
EXIT_DATABASE = 5
EXIT_DAMAGED = 6
EXIT_TOKEN = 7
EXIT_NETWORK = 8
EXIT_SCHEMA = 9
EXIT_MISSING = 10

DIR_MODE = 0o700
FILE_MODE = 0o600


class StartupFault(Exception):
    """A start-up fault: `line` for the operator, `code` for the exit status."""

    def __init__(self, code: int, line: str) -> None:
        super().__init__(line)
        self.code = code
        self.line = line


# --------------------------------------------------------------------------- DATA_DIR


def prepare_data_dir(data_dir: Path) -> None:
    """DATA_DIR exists, is writable and closed to others (0700); the database files in it are 0600."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        probe = data_dir / ".write-test"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise StartupFault(EXIT_DATA_DIR, f"DATA_DIR {data_dir} is not writable ({exc.strerror or exc}): "
                                          "create it and give it to the user the bot runs as, or set DATA_DIR "
                                          "to a writable folder") from None
    tighten(data_dir)


def tighten(data_dir: Path) -> None:
    """Take group and other permissions away from DATA_DIR, its folders and the database files; the
    material files are written 0600 by themselves (older ones are reported by `doctor`)."""
    with contextlib.suppress(OSError):
        _chmod(data_dir, DIR_MODE)
        for child in data_dir.iterdir():
            if child.is_symlink():
                continue
            if child.is_dir():
                _chmod(child, DIR_MODE)
            elif child.is_file():
                _chmod(child, FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(mode)


# --------------------------------------------------------------------------- packages

# the async drivers the bot speaks, by database: (driver, module, what, how to install)
DRIVERS = {
    "postgresql": ("asyncpg", "asyncpg", "the PostgreSQL driver", "pip install -e '.[postgres]'"),
    "sqlite": ("aiosqlite", "aiosqlite", "the SQLite driver", "pip install -e ."),
}


def needed_packages(settings: Settings) -> list[tuple[str, str, str]]:
    """The optional packages this configuration names: (module, what, how to install)."""
    url = make_url(settings.database_url)
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        raise StartupFault(EXIT_CONFIG, f"DATABASE_URL names a {backend!r} database: use postgresql+asyncpg://… "
                                        "or sqlite+aiosqlite:///…")
    driver, module, what, fix = DRIVERS[backend]
    if url.get_driver_name() != driver:
        raise StartupFault(EXIT_CONFIG, f"DATABASE_URL names the driver {url.get_driver_name()!r}, which the bot "
                                        f"does not speak: write {backend}+{driver}://…")
    out = [(module, what, fix)]
    if settings.webhook_url:
        out.append(("tornado", "the webhook server (WEBHOOK_URL is set)",
                    "pip install 'python-telegram-bot[webhooks]'"))
    return out


def check_packages(settings: Settings) -> None:
    """Every package the configuration names can be imported; the first that cannot is one line."""
    for module, what, fix in needed_packages(settings):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise StartupFault(EXIT_MISSING, f"{what} is not installed (no module {exc.name or module!r}): "
                                             f"install it: {fix}") from None


# --------------------------------------------------------------------------- database


def check_sqlite_file(url: str) -> None:
    """A SQLite file that exists must be a database that passes SQLite's quick check."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return
    path = Path(u.database)
    if not path.exists() or path.stat().st_size == 0:
        return
    fix = f"restore the latest backup (python -m bot restore FILE --force) or move {path} away to start empty"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StartupFault(EXIT_DAMAGED, f"{path} is not a usable SQLite database ({exc}): {fix}") from None
    if not rows or rows[0][0] != "ok":
        first = rows[0][0] if rows else "no answer"
        raise StartupFault(EXIT_DAMAGED, f"{path} is damaged (SQLite's check: {first}): {fix}")


def database_fault(exc: BaseException, url: str) -> StartupFault:
    what = make_url(url)
    where = f"{what.get_backend_name()} database {what.database!r}" + (f" on {what.host}:{what.port or 5432}"
                                                                       if what.host else "")
    return StartupFault(EXIT_DATABASE, f"cannot reach the {where} ({_one_line(exc)}): start the server, create "
                                       "the database, or correct DATABASE_URL")


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    return instance_lock.describe_db_error(exc) if not text else " ".join(text.split())[:200]


async def take_lock(settings: Settings, *, standby: bool, on_lost: Callable[[], None] | None
                    ) -> instance_lock.InstanceLock:
    try:
        return await instance_lock.acquire(settings.data_dir, settings.database_url, standby=standby,
                                           on_lost=on_lost)
    except instance_lock.LockHeld as exc:
        raise StartupFault(EXIT_LOCKED, f"{exc}: one bot per database; stop the other one first, or start this "
                                        "one with --standby (it takes over when the other stops)") from None
    except instance_lock.LockUnavailable as exc:
        raise database_fault(exc, settings.database_url) from None


async def prepare(settings: Settings, *, standby: bool = False,
                  on_lost: Callable[[], None] | None = None) -> instance_lock.InstanceLock:
    """DATA_DIR, the SQLite file's health, and the instance lock (waited for with `standby`)."""
    prepare_data_dir(settings.data_dir)
    check_sqlite_file(settings.database_url)
    return await take_lock(settings, standby=standby, on_lost=on_lost)


async def migrated(step: Awaitable[None], settings: Settings) -> None:
    """Run the migration step; its faults as one line."""
    try:
        await step
    except StartupFault:
        raise
    except Exception as exc:  # noqa: BLE001 - every fault of a step is classified into one line
        raise classify(exc, settings) from None


def classify(exc: BaseException, settings: Settings) -> StartupFault:
    """A raw exception from start-up as a fault line (unknown ones: exit 1 with the error's type)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, StartupFault):
        return exc
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 6:
        chain.append(cur)
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    for e in chain:
        if isinstance(e, InvalidToken):
            return StartupFault(EXIT_TOKEN, "the Bot API rejected BOT_TOKEN: copy the token again from @BotFather "
                                            "(and check BOT_API_URL when using your own Bot API server)")
        if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError):
            return StartupFault(EXIT_DAMAGED, f"the SQLite database is damaged ({e}): restore the latest backup "
                                              "(python -m bot restore FILE --force)")
        if "Can't locate revision" in str(e) or "No such revision" in str(e):
            return StartupFault(EXIT_SCHEMA, "the database was written by a newer version of the bot: install "
                                             "that version again, or restore a backup made by this one")
    if isinstance(exc, OperationalError | DBAPIError | OSError | ConnectionError) or any(
            type(e).__module__.startswith("asyncpg") for e in chain):
        if isinstance(exc, PermissionError):
            return StartupFault(EXIT_DATA_DIR, f"permission denied: {exc.filename}: give DATA_DIR and the files "
                                               "in it to the user the bot runs as")
        return database_fault(exc, settings.database_url)
    return StartupFault(EXIT_ERROR, f"unexpected error at start-up: {type(exc).__name__}")


# --------------------------------------------------------------------------- Bot API


async def connect_bot(initialize: Callable[[], Awaitable[None]], settings: Settings, *,
                      sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Initialize the Application (its first Bot API call is getMe), retrying an unreachable Bot API with
    back-off (1, 2, 4 … 60 s), one line per attempt; STARTUP_RETRY_SECONDS > 0 gives up after that long."""
    delay, waited, attempt = 1.0, 0.0, 0
    limit = settings.startup_retry_seconds
    while True:
        attempt += 1
        try:
            await initialize()
            return
        except InvalidToken:
            raise classify(InvalidToken(), settings) from None
        except BadRequest:
            raise
        except (NetworkError, TimedOut, OSError) as exc:
            reason = type(exc).__name__
            if limit and waited >= limit:
                raise StartupFault(EXIT_NETWORK, f"the Bot API at {_api_host(settings)} is unreachable ({reason}) "
                                                 f"after {attempt} attempts: check the network, a proxy, or "
                                                 "BOT_API_URL") from None
            log.warning("the Bot API at %s is unreachable (%s), attempt %d: retrying in %.0f s",
                        _api_host(settings), reason, attempt, delay)
            await sleep(delay)
            waited += delay
            delay = min(delay * 2, 60.0)


def _api_host(settings: Settings) -> str:
    url = settings.bot_api_url
    return f"{url.host}:{url.port}" if url.port else str(url.host)
