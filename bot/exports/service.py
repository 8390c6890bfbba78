"""The export files, ready to send or to write: the form (DOCX, PDF), the archive ZIP, the roster XLSX,
the statistics. Reads the database; heavy work runs in a thread. No Telegram here.

The document libraries (python-docx/lxml, openpyxl — which drags in numpy and PIL —, matplotlib) are
imported by the builders, and the builders are imported here only when a document is actually made:
the bot imports this module at start-up (through its handlers), and those libraries would otherwise
cost ~25 MB of resident memory in a process that may never export anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.exports import data, pdf
from bot.exports.names import file_name
from bot.i18n import I18n, Translator
from storage.db import Database

FORM_LANG = "zh"  # the printed form is the Chinese one of the source


@dataclass(frozen=True)
class OutFile:
    name: str
    data: bytes


def form_name(b: data.Bundle, ext: str) -> str:
    return file_name("申报表", b.app.number, b.leader, ext, fallback=f"draft{b.app.id}")


def archive_name(b: data.Bundle) -> str:
    return file_name("申报材料", b.app.number, b.leader, "zip", fallback=f"draft{b.app.id}")


def roster_name(year: int) -> str:
    return file_name("申报汇总", str(year), None, "xlsx")


async def form_files(b: data.Bundle, i18n: I18n, tz: tzinfo, *, want_pdf: bool = True) -> list[OutFile]:
    """The DOCX, and the PDF when LibreOffice is installed."""
    t = i18n.get(FORM_LANG)
    docx = await asyncio.to_thread(docx_form.build_docx, b, t, tz)
    out = [OutFile(form_name(b, "docx"), docx)]
    if want_pdf and pdf.converter():
        converted = await asyncio.to_thread(pdf.docx_to_pdf, docx)
        if converted:
            out.append(OutFile(form_name(b, "pdf"), converted))
    return out


async def load_form_files(db: Database, app_id: int, i18n: I18n, tz: tzinfo) -> list[OutFile] | None:
    async with db.session() as s:
        b = await data.load_bundle(s, app_id)
    return None if b is None else await form_files(b, i18n, tz)


async def archive_file(b: data.Bundle, i18n: I18n, tz: tzinfo, data_dir: Path, now: datetime,
                       forms: list[OutFile] | None = None) -> OutFile:
    forms = forms if forms is not None else await form_files(b, i18n, tz)
    t = i18n.get(FORM_LANG)
    blob = await asyncio.to_thread(archive.build_zip, b, t, data_dir, now.astimezone(tz),
                                   {f.name: f.data for f in forms})
    return OutFile(archive_name(b), blob)


async def roster_file(s: AsyncSession, year: int, t: Translator, tz: tzinfo) -> tuple[OutFile, int]:
    """The season's XLSX and how many applications it lists."""
    rows = await data.roster(s, year, t.lang, tz)
    blob = await asyncio.to_thread(roster.build_xlsx, rows, t, year)
    return OutFile(roster_name(year), blob), len(rows)


async def stats_files(s: AsyncSession, year: int, i18n: I18n, lang: str) -> tuple[str, OutFile]:
    """The `/stats` text in `lang` and the chart (in Chinese only when a CJK font is installed)."""
    t = i18n.get(lang)
    figures = await data.stats(s, year, lang)
    chart_lang = stats.chart_language(lang)
    chart_figures = figures if chart_lang == lang else await data.stats(s, year, chart_lang)
    png = await asyncio.to_thread(stats.chart, chart_figures, i18n.get(chart_lang))
    return stats.text(figures, t), OutFile(f"stats_{year}.png", png)


async def export_season(db: Database, year: int, out_dir: Path, i18n: I18n, tz: tzinfo, data_dir: Path,
                        now: datetime, lang: str = FORM_LANG) -> list[Path]:
    """Write the roster, and every application's form and archive, into `out_dir`; the paths written."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    written: list[Path] = []

    def _write(f: OutFile) -> None:
        path = out_dir / f.name
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(f.data)
        tmp.replace(path)
        written.append(path)

    async def write(f: OutFile) -> None:
        await asyncio.to_thread(_write, f)

    async with db.session() as s:
        xlsx, _ = await roster_file(s, year, i18n.get(lang), tz)
        ids = [a.id for a in await data.season_applications(s, year)]
    await write(xlsx)
    for app_id in ids:
        async with db.session() as s:
            b = await data.load_bundle(s, app_id)
        if b is None:
            continue
        forms = await form_files(b, i18n, tz)
        for f in forms:
            await write(f)
        await write(await archive_file(b, i18n, tz, data_dir, now, forms))
    return written
