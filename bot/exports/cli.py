"""`python -m bot export --season 2026 --out DIR`: the roster XLSX and every application's DOCX (PDF when
LibreOffice is installed) and archive ZIP, written into DIR. Needs only the database settings
(DATABASE_URL / DATA_DIR, TIMEZONE); the bot is not contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="write a season's roster (XLSX), forms (DOCX/PDF) and archives (ZIP) into a directory")
    p.add_argument("--season", type=int, default=None, help="the season's year (default: this year)")
    p.add_argument("--out", type=Path, required=True, help="directory to write into (created if missing)")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the roster (default: zh)")
    return p


async def _export(args: argparse.Namespace, settings: Settings) -> list[Path]:
    from bot.clock import SystemClock
    from bot.exports.service import export_season
    from bot.i18n import I18n
    from storage.db import Database

    clock = getattr(args, "clock", None) or SystemClock()
    year = args.season or clock.now().astimezone(settings.tz).year
    db = Database(settings.database_url)
    try:
        return await export_season(db, year, Path(args.out), I18n(settings.default_locale), settings.tz,
                                   settings.data_dir, clock.now(), lang=getattr(args, "lang", "zh") or "zh")
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the export; prints what was written. 0 on success, 1 on failure."""
    try:
        written = asyncio.run(_export(args, settings))
    except Exception as exc:  # noqa: BLE001 - a command line reports and exits
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"{len(written)} files written to {args.out}", file=sys.stderr)
    return 0
