"""Command line: run the bot (default) and the office sub-commands.

Every start-up fault ends in one line on stderr and an exit code of its own (see `bot.startup`); the bot
token never appears in any output (log lines, tracebacks, third-party exception texts).
"""

from __future__ import annotations

import argparse
import os
import sys

from bot import logs, startup
from bot.clock import Clock
from bot.config import ConfigError, Settings, load_settings

# office tools need the database, not a working token
OFFLINE = ("export", "backup", "restore", "doctor", "import-studios")


def main(argv: list[str], *, clock: Clock | None = None) -> int:
    """Run the command in `argv`; `clock` replaces the system's for the bot (a simulation)."""
    os.umask(0o077)  # everything the bot writes (database, materials, backups, logs) is its user's only
    args = _parser().parse_args(argv)
    offline = args.command in OFFLINE
    try:
        settings = load_settings(**({"bot_token": os.environ.get("BOT_TOKEN") or "0:unused"} if offline else {}))
    except ConfigError as exc:
        if args.command == "doctor":
            from bot import doctor

            return doctor.config_failed(exc.lines)
        for line in exc.lines:
            print(f"configuration error: {line}", file=sys.stderr)
        return startup.EXIT_CONFIG
    try:
        logs.setup_logging(settings.token, settings.log_file if args.command in (None, "run") else None,
                           max_bytes=settings.log_max_bytes, backups=settings.log_backups)
    except OSError as exc:
        print(f"start-up error: LOG_FILE {settings.log_file} cannot be written ({exc.strerror}): fix its folder's "
              "permissions or unset LOG_FILE", file=sys.stderr)
        return startup.EXIT_DATA_DIR
    try:
        startup.check_packages(settings)
        return _run(args, settings, clock)
    except startup.StartupFault as fault:
        print(f"start-up error: {logs.redact(fault.line)}", file=sys.stderr)
        return fault.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort: a traceback, token removed
        known = startup.classify(exc, settings)
        if known.code != startup.EXIT_ERROR:
            print(f"start-up error: {logs.redact(known.line)}", file=sys.stderr)
            return known.code
        sys.stderr.write(logs.redacted_traceback(exc))
        return startup.EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="劳模创新工作室 application bot")
    sub = parser.add_subparsers(dest="command")
    run_p = sub.add_parser("run", help="run the bot (default)")
    run_p.add_argument("--standby", action="store_true",
                       help="wait while another instance holds the database; take over when it stops")
    parser.add_argument("--standby", action="store_true", help=argparse.SUPPRESS)
    from bot import backup, doctor, import_cli
    from bot.exports import cli as export_cli

    for module in (export_cli, backup, doctor, import_cli):
        module.add_parser(sub)
    return parser


def _run(args: argparse.Namespace, settings: Settings, clock: Clock | None) -> int:
    """The sub-command, or the bot itself."""
    from bot import backup, doctor, import_cli
    from bot.exports import cli as export_cli

    if args.command == "export":
        return export_cli.run(args, settings)
    if args.command in ("backup", "restore"):
        return backup.run(args, settings)
    if args.command == "doctor":
        return doctor.run(settings)
    if args.command == "import-studios":
        return import_cli.run(args, settings)
    from bot.app import main_run

    main_run(settings, standby=bool(getattr(args, "standby", False)), clock=clock)
    return 0
