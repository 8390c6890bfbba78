"""Configuration: one clear line per bad setting, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def run_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (
        "BOT_TOKEN", "ADMIN_IDS", "BOT_API_URL", "DEFAULT_LOCALE", "TIMEZONE", "DATABASE_URL", "DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env={**clean, **env,
                          "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)


def test_missing_token_is_one_line_and_exit_code_2(tmp_path):
    """Without BOT_TOKEN the bot names it in one line and exits with 2, no traceback."""
    proc = run_bot({}, tmp_path)
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "BOT_TOKEN" in lines[0]
    assert "Traceback" not in proc.stderr


def test_each_bad_value_is_reported_by_name(tmp_path):
    proc = run_bot({"BOT_TOKEN": "1:x", "BOT_API_URL": "not a url", "ADMIN_IDS": "12,abc",
                    "DEFAULT_LOCALE": "fr", "TIMEZONE": "Mars/Base"}, tmp_path)
    assert proc.returncode == 2
    err = proc.stderr
    for name in ("BOT_API_URL", "ADMIN_IDS", "DEFAULT_LOCALE", "TIMEZONE"):
        assert name in err
    assert len([x for x in err.splitlines() if x.strip()]) == 4
    assert "Traceback" not in err


def test_defaults_and_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", "1:abc")
    monkeypatch.setenv("ADMIN_IDS", "5, 7")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    s = load_settings()
    assert s.admin_ids == frozenset({5, 7})
    assert s.default_locale == "zh" and s.timezone == "Asia/Shanghai"
    assert s.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'd' / 'studio.db').resolve()}"
    assert str(s.bot_api_url).startswith("https://api.telegram.org/bot")
    assert s.webhook_url is None


def test_dotenv_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    (tmp_path / ".env").write_text("BOT_TOKEN=9:from-dotenv\nDEFAULT_LOCALE=en\n")
    s = load_settings()
    assert s.token == "9:from-dotenv" and s.default_locale == "en"


def test_config_error_lines(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert exc.value.lines == ["BOT_TOKEN is required but not set (put it in the environment or in .env)"]


async def test_office_commands_run_without_a_token(tmp_path):
    """`python -m bot backup|restore|export` need the database, not BOT_TOKEN."""
    from bot.app import prepare_database
    from bot.clock import SystemClock
    from bot.config import Settings
    from storage.db import Database

    data = tmp_path / "data"
    settings = Settings(bot_token="1:x", data_dir=data)
    db = Database(settings.database_url)
    await prepare_database(db, SystemClock(), settings)
    await db.dispose()
    env = {"DATA_DIR": str(data)}
    proc = run_bot_args(["backup", "--out", str(tmp_path / "b.tar.gz")], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b.tar.gz").stat().st_size > 0
    proc = run_bot_args(["export", "--season", "2026", "--out", str(tmp_path / "out")], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert any((tmp_path / "out").iterdir())
    proc = run_bot_args(["restore", str(tmp_path / "b.tar.gz")], {"DATA_DIR": str(tmp_path / "new")}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "new" / "studio.db").exists()


def run_bot_args(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env={**clean, **env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
