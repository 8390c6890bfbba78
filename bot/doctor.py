"""`python -m bot doctor`: checks what the bot needs and prints what to fix.

Configuration, DATA_DIR and its permissions, the database (reachable, sound, migrated), the instance lock,
LibreOffice (PDF forms) and a Chinese font (charts), and the Bot API (the token and the connection).
Exit status 0 when nothing must be fixed, 1 otherwise (warnings do not count).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import logs
from bot.config import Settings

OK, WARN, FAIL = "ok", "warning", "FAIL"


@dataclass
class Findings:
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)  # (level, what, detail, fix)

    def ok(self, what: str, detail: str) -> None:
        self.lines.append((OK, what, detail, ""))

    def warn(self, what: str, detail: str, fix: str = "") -> None:
        self.lines.append((WARN, what, detail, fix))

    def fail(self, what: str, detail: str, fix: str) -> None:
        self.lines.append((FAIL, what, detail, fix))

    @property
    def failed(self) -> bool:
        return any(level == FAIL for level, *_ in self.lines)

    def print(self) -> None:
        for level, what, detail, fix in self.lines:
            mark = {OK: "✓", WARN: "!", FAIL: "✗"}[level]
            line = f"{mark} {what}: {detail}" + (f" — fix: {fix}" if fix else "")
            print(logs.redact(line))
        bad = sum(1 for level, *_ in self.lines if level == FAIL)
        warned = sum(1 for level, *_ in self.lines if level == WARN)
        print(f"{bad} problem(s), {warned} warning(s)" if bad or warned else "everything looks right")


def add_parser(subparsers: Any) -> None:
    subparsers.add_parser("doctor", help="check configuration, database, permissions, LibreOffice, fonts and the "
                                         "Bot API; print what to fix")


def config_failed(lines: list[str]) -> int:
    f = Findings()
    for line in lines:
        f.fail("configuration", line, "set it in the environment or in .env (see the README's table)")
    f.print()
    return 1


def run(settings: Settings) -> int:
    f = Findings()
    check_config(f, settings)
    check_data_dir(f, settings.data_dir)
    asyncio.run(_async_checks(f, settings, check_sqlite(f, settings.database_url)))
    check_tools(f)
    f.print()
    return 1 if f.failed else 0


def check_config(f: Findings, settings: Settings) -> None:
    if settings.token == "0:unused":
        f.fail("BOT_TOKEN", "not set", "put the token from @BotFather in BOT_TOKEN (environment or .env)")
    else:
        f.ok("configuration", f"read; database {_db_label(settings.database_url)}")


def _db_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"SQLite {u.database}" if u.get_backend_name() == "sqlite" else \
        f"{u.get_backend_name()} {u.database!r} on {u.host}:{u.port or 5432}"


def check_data_dir(f: Findings, data_dir: Path) -> None:
    if not data_dir.exists():
        f.warn("DATA_DIR", f"{data_dir} does not exist yet", "it is created at the first start")
        return
    if not os.access(data_dir, os.W_OK | os.X_OK):
        f.fail("DATA_DIR", f"{data_dir} is not writable by this user",
               f"chown -R <the bot's user> {data_dir}")
        return
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        f.fail("permissions", f"{data_dir} is {mode:04o} (others can read the applicants' data)",
               f"chmod 700 {data_dir}")
    open_files = 0
    for dirpath, dirs, names in os.walk(data_dir):
        for name in [*dirs, *names]:
            p = Path(dirpath) / name
            try:
                if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077:
                    open_files += 1
            except OSError:
                continue
    if open_files:
        f.fail("permissions", f"{open_files} file(s) or folder(s) under {data_dir} are readable by others",
               f"chmod -R go-rwx {data_dir}")
    elif not mode & 0o077:
        f.ok("permissions", f"{data_dir} and everything in it are the bot user's only")


async def _async_checks(f: Findings, settings: Settings, database_ok: bool) -> None:
    if database_ok:
        await check_database(f, settings)
    await check_lock(f, settings)
    await check_bot_api(f, settings)


def check_sqlite(f: Findings, url: str) -> bool:
    """The SQLite file, when there is one, is a sound database: True when the database is worth connecting to."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database:
        path = Path(u.database)
        if not path.exists():
            f.warn("database", f"{path} does not exist yet", "it is created at the first start")
            return False
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            f.fail("database", f"{path} is not a usable SQLite database ({exc})",
                   "restore the latest backup: python -m bot restore FILE --force")
            return False
        if check != "ok":
            f.fail("database", f"{path} is damaged ({check})",
                   "restore the latest backup: python -m bot restore FILE --force")
            return False
    return True


async def check_database(f: Findings, settings: Settings) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.lock import describe_db_error
    from storage.db import alembic_config

    url = settings.database_url
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            def revision(c: Any) -> str | None:
                if not inspect(c).has_table("alembic_version"):
                    return None
                return c.execute(text("SELECT version_num FROM alembic_version")).scalar()

            current = await conn.run_sync(revision)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        f.fail("database", f"cannot connect to {_db_label(url)} ({describe_db_error(exc)})",
               "start the server, create the database, or correct DATABASE_URL")
        return
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current == head:
        f.ok("database", f"{_db_label(url)} reachable, schema up to date ({head})")
    elif current is None:
        f.warn("database", f"{_db_label(url)} reachable, no schema yet", "the first start creates it")
    else:
        known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
        if current in known:
            f.warn("migrations", f"schema at {current}, this version brings {head}", "the next start migrates it")
        else:
            f.fail("migrations", f"schema {current} is newer than this version of the bot ({head})",
                   "install the newer version again, or restore a backup made by this one")


async def check_lock(f: Findings, settings: Settings) -> None:
    from bot import lock

    try:
        held = await lock.acquire(settings.data_dir, settings.database_url)
    except lock.LockHeld as exc:
        f.ok("instance", f"a bot is running: {exc}")
        return
    except (lock.LockUnavailable, OSError):
        return  # reported by the database or DATA_DIR check
    await held.release()
    f.ok("instance", "no bot is running on this database")


def check_tools(f: Findings) -> None:
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office:
        f.ok("LibreOffice", f"{office} (forms are also sent as PDF)")
    else:
        f.warn("LibreOffice", "not installed: forms are sent as DOCX only",
               "apt-get install libreoffice-writer-nogui")
    try:
        from bot.exports.stats import cjk_face

        font = cjk_face()
    except Exception:  # noqa: BLE001 - matplotlib missing or broken
        font = None
    if font:
        f.ok("fonts", f"Chinese face {font} (charts are drawn in Chinese)")
    else:
        f.warn("fonts", "no Chinese font: charts are drawn in English", "apt-get install fonts-noto-cjk")


async def check_bot_api(f: Findings, settings: Settings) -> None:
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError
    from telegram.request import HTTPXRequest

    if settings.token == "0:unused":
        return
    bot = Bot(settings.token, base_url=str(settings.bot_api_url).rstrip("/"),
              request=HTTPXRequest(connect_timeout=5, read_timeout=10))
    try:
        async with bot:
            me = await bot.get_me()
    except InvalidToken:
        f.fail("Bot API", "the token was rejected", "copy the token again from @BotFather into BOT_TOKEN")
        return
    except (TelegramError, OSError) as exc:
        host = settings.bot_api_url.host
        f.fail("Bot API", f"{host} unreachable ({type(exc).__name__})",
               "check the network, a proxy (HTTPS_PROXY), or BOT_API_URL")
        return
    f.ok("Bot API", f"connected as @{me.username}")
