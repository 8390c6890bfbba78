"""Operating the real `python -m bot` process: start-up faults in one line with their own exit codes, the
token never printed, one instance per database (a second one refused, `restore` refused over a running bot,
a standby on PostgreSQL taking over from a killed active one), and an update the bot cannot read skipped."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import startup

from ..databases import Databases, databases
from .driver import say
from .fake_api import FakeTelegramServer
from .harness import REPO_ROOT, BotProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


def fault_lines(bot: BotProcess) -> list[str]:
    """What the process printed, without the harness's start headers."""
    return [ln for ln in bot.log_text().splitlines() if ln.strip() and not ln.startswith("=====")]


async def exit_code(bot: BotProcess, timeout: float = 60.0) -> int | None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while bot.is_running():
        if loop.time() > deadline:
            return None
        await asyncio.sleep(0.05)
    return bot.returncode


async def started_and_exited(factory, **kwargs) -> tuple[int | None, list[str]]:
    bot = await factory(start=False, **kwargs)
    await bot.start(wait_ready=False)
    code = await exit_code(bot)
    return code, fault_lines(bot)


def damaged_sqlite(data_dir: Path) -> Path:
    """A SQLite database with two garbled pages in the middle of a table."""
    data_dir.mkdir()
    con = sqlite3.connect(data_dir / "studio.db")
    con.execute("CREATE TABLE t (x TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [("y" * 500,) for _ in range(200)])
    con.commit()
    con.close()
    with open(data_dir / "studio.db", "r+b") as fh:
        fh.seek(4096 * 5)
        fh.write(b"\xff\x13" * 4096)
    return data_dir


@pytest_asyncio.fixture
async def pg() -> AsyncIterator[Databases]:
    async with databases("postgresql") as d:
        yield d


async def test_startup_faults_are_one_line_each_with_its_own_exit_code(fake_api, bot_process_factory, tmp_path):
    """Every start-up fault: one line naming the cause and the fix, and a distinct non-zero exit code —
    DATA_DIR unwritable, a SQLite file that is not a database, a damaged one, the token rejected by the
    Bot API (never printed), the Bot API unreachable (retried with one line per attempt), a PostgreSQL URL
    without the PostgreSQL driver installed (hidden here by an `asyncpg` first on PYTHONPATH that cannot be
    imported, as when the extra is missing)."""
    not_a_dir = tmp_path / "file-not-dir"
    not_a_dir.write_text("x")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "studio.db").write_bytes(os.urandom(8192))
    damaged = damaged_sqlite(tmp_path / "damaged")
    wrong_token = "987654:WRONG-token_never-to-be-printed"
    hidden = tmp_path / "no-driver" / "asyncpg"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'asyncpg\'", name="asyncpg")\n')
    no_driver = {"DATABASE_URL": "postgresql+asyncpg://bot:secret@127.0.0.1:9/studio",
                 "PYTHONPATH": os.pathsep.join(p for p in (str(hidden.parent), os.environ.get("PYTHONPATH")) if p)}
    cases = {
        "data_dir": ({"env": {"DATA_DIR": str(not_a_dir / "sub")}}, startup.EXIT_DATA_DIR, "DATA_DIR"),
        "not_a_database": ({"data_dir": garbage}, startup.EXIT_DAMAGED, "restore"),
        "damaged": ({"data_dir": damaged}, startup.EXIT_DAMAGED, "restore"),
        "token": ({"env": {"BOT_TOKEN": wrong_token}}, startup.EXIT_TOKEN, "BOT_TOKEN"),
        "network": ({"env": {"BOT_API_URL": "http://127.0.0.1:9/bot", "STARTUP_RETRY_SECONDS": "1"}},
                    startup.EXIT_NETWORK, "BOT_API_URL"),
        "no_driver": ({"env": no_driver}, startup.EXIT_MISSING, "pip install -e '.[postgres]'"),
    }
    results = await asyncio.gather(*(started_and_exited(bot_process_factory, **kw) for kw, _, _ in cases.values()))
    codes = {}
    for (name, (_, code, word)), (got, lines) in zip(cases.items(), results, strict=True):
        codes[name] = got
        assert got == code, (name, got, lines)
        faults = [ln for ln in lines if ln.startswith("start-up error:")]
        assert len(faults) == 1 and word in faults[0], (name, lines)
        assert not any("Traceback" in ln for ln in lines), (name, lines)
        retries = [ln for ln in lines if "retrying in" in ln]
        assert len(lines) == 1 + len(retries), (name, lines)  # nothing else printed
        assert wrong_token not in "\n".join(lines) and "WRONG-token" not in "\n".join(lines)
    exits = [v for k, v in vars(startup).items() if k.startswith("EXIT_")]
    assert len(set(exits)) == len(exits) and 0 not in exits  # one code per kind of fault
    network = results[list(cases).index("network")][1]
    assert any("attempt 1: retrying in 1 s" in ln for ln in network), network


async def test_postgres_down_or_database_missing_is_one_line(fake_api, bot_process_factory, pg):
    """PostgreSQL unreachable or the database missing: one line naming DATABASE_URL, exit code 5."""
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL

    assert PG_URL is not None
    missing = make_url(PG_URL).set(database="no_such_database_here").render_as_string(hide_password=False)
    down = make_url(PG_URL).set(port=9, database="x").render_as_string(hide_password=False)
    for url in (missing, down):
        code, lines = await started_and_exited(bot_process_factory, database_url=url)
        assert code == startup.EXIT_DATABASE, lines
        assert len(lines) == 1 and "DATABASE_URL" in lines[0], lines


async def test_second_instance_on_the_same_data_is_refused(fake_api, bot_process_factory, tmp_path):
    """One running instance per database: a second process on the same DATA_DIR refuses in one line with
    exit code 4; the first keeps answering."""
    first = await bot_process_factory()
    second = await bot_process_factory(start=False, data_dir=first.data_dir)
    await second.start(wait_ready=False)
    assert await exit_code(second) == startup.EXIT_LOCKED
    lines = fault_lines(second)
    assert len(lines) == 1 and "another instance" in lines[0] and "--standby" in lines[0], lines
    u = fake_api.user(601)
    assert "劳模创新工作室" in await say(fake_api, u, "/start")
    assert first.is_running()


def office(command: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "bot", *command], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**env, "DATA_DIR": str(data_dir)}, timeout=60)


async def test_restore_is_refused_while_the_bot_runs(fake_api, bot_process_factory, tmp_path):
    """`restore --force` over a running bot's DATA_DIR is refused (the bot holds the instance lock), nothing is
    set aside, and what users type afterwards is still stored in the file the bot uses."""
    bot = await bot_process_factory()
    u = fake_api.user(602)
    await say(fake_api, u, "/start")
    archive = tmp_path / "b.tar.gz"
    made = await asyncio.to_thread(office, ["backup", "--out", str(archive)], bot.data_dir)
    assert made.returncode == 0, made.stderr
    assert archive.stat().st_mode & 0o777 == 0o600
    refused = await asyncio.to_thread(office, ["restore", str(archive), "--force"], bot.data_dir)
    assert refused.returncode == 1
    assert "running" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert not list(bot.data_dir.glob("*.before-restore-*"))
    await say(fake_api, u, "/language")
    await bot.stop()
    done = await asyncio.to_thread(office, ["restore", str(archive), "--force"], bot.data_dir)
    assert done.returncode == 0, done.stderr  # once the bot is stopped, the restore goes ahead


async def test_unreadable_update_is_logged_once_and_skipped(fake_api, bot_process_factory):
    """An update the library cannot read (a callback query without its required fields) is logged once and
    skipped: the bot does not ask for it again and again, and answers the next message."""
    bot = await bot_process_factory()
    u = fake_api.user(603)
    bad = fake_api.queue_update("callback_query", {"id": "77"})  # no chat_instance, no from
    assert "劳模创新工作室" in await say(fake_api, u, "/start")
    await fake_api.wait_acked(bad)
    await asyncio.sleep(0.5)
    log = bot.log_text()
    assert log.count(f"update {bad} cannot be read") == 1, log[-3000:]
    assert log.count("Something went wrong processing the data") <= 1, log[-3000:]
    assert len(log.splitlines()) < 200


async def test_standby_takes_over_when_the_active_bot_is_killed(fake_api: FakeTelegramServer, bot_process_factory,
                                                                pg):
    """PostgreSQL: a second server started with --standby waits on the advisory lock; when the active process
    is SIGKILLed, the standby takes over within seconds and answers the next update — each message answered
    exactly once."""
    url = await pg.new()
    active = await bot_process_factory(database_url=url)
    standby = await bot_process_factory(start=False, database_url=url,
                                        command=[sys.executable, "-m", "bot", "--standby"])
    standby.spawn()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while "standby:" not in standby.log_text():
        assert standby.is_running() and loop.time() < deadline, standby.log_tail()
        await asyncio.sleep(0.1)
    u = fake_api.user(604)
    before = fake_api.mark()
    assert "劳模创新工作室" in await say(fake_api, u, "/start")
    await fake_api.wait_idle()
    assert len([m for m in fake_api.events(u, since=before) if m.from_bot]) == 1
    await active.kill()
    killed_at = loop.time()
    standby.start_mark = fake_api.mark()
    since = fake_api.mark()
    fake_api.send_text(u, "/help")  # sent while nobody serves: the standby answers it
    await standby.wait_ready(timeout=30)
    await fake_api.wait_reply(u, since=since, timeout=20)
    assert loop.time() - killed_at < 15
    await fake_api.wait_idle(quiet=1.0)
    answers = [m for m in fake_api.events(u, since=since) if m.from_bot]
    assert len(answers) == 1, [m.text for m in answers]
    since = fake_api.mark()
    assert await say(fake_api, u, "/start")
    await fake_api.wait_idle()
    assert len([m for m in fake_api.events(u, since=since) if m.from_bot]) == 1
