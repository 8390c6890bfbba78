"""Command line: run the bot (default) and the office sub-commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.config import ConfigError, load_settings


class _RedactToken(logging.Filter):
    """Keeps the bot token out of every log line (it is part of Bot API URLs)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            msg = record.getMessage()
            if self.token in msg:
                record.msg = msg.replace(self.token, "<BOT_TOKEN>")
                record.args = ()
        return True


def setup_logging(token: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactToken(token))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="劳模创新工作室 application bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (default)")
    from bot import backup, import_cli
    from bot.exports import cli as export_cli

    export_cli.add_parser(sub)
    backup.add_parser(sub)
    import_cli.add_parser(sub)
    args = parser.parse_args(argv)
    # office tools need the database, not a token
    offline = args.command in ("export", "backup", "restore", "import-studios")
    try:
        settings = load_settings(**({"bot_token": os.environ.get("BOT_TOKEN") or "0:unused"} if offline else {}))
    except ConfigError as exc:
        for line in exc.lines:
            print(f"configuration error: {line}", file=sys.stderr)
        return 2
    setup_logging(settings.token)
    if args.command == "export":
        return export_cli.run(args, settings)
    if args.command in ("backup", "restore"):
        return backup.run(args, settings)
    if args.command == "import-studios":
        return import_cli.run(args, settings)
    from bot.app import main_run

    main_run(settings)
    return 0
