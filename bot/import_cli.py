"""`python -m bot import-studios FILE.xlsx [--skip-bad-rows] [--dry-run] [--lang zh|en]`: bring in the
studios the federation named before the bot existed (R-D5, R-O), with a per-row report.
`python -m bot import-studios --template FILE.xlsx` writes the roster template."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("import-studios", help="import the studios named in earlier years from an XLSX roster")
    p.add_argument("file", type=Path, help="the roster (XLSX); with --template, where to write the template")
    p.add_argument("--skip-bad-rows", action="store_true", help="import the good rows when some rows are bad")
    p.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    p.add_argument("--template", action="store_true", help="write the template to FILE instead")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the report and template")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.i18n import I18n
    from bot.services import imports
    from storage.db import Database
    from storage.seed import seed_unions

    t = I18n().get(args.lang)
    if args.template:
        args.file.write_bytes(imports.template(t))
        print(args.file)
        return 0
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"{args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        await db.migrate()
        now = datetime.now(settings.tz)
        async with db.session() as s:
            await seed_unions(s)  # the unions the roster names (as at the bot's start-up)
            out = await imports.run(s, data, None, now, now.date(), skip_bad=args.skip_bad_rows)
            if out.applied and not args.dry_run:
                await s.commit()
            else:
                await s.rollback()
    finally:
        await db.dispose()
    print(imports.report(t, out, shown=10_000, plain=True))
    if args.dry_run and out.applied:
        print(t.plain("import.dry_run"))
    return 0 if out.applied else 1
