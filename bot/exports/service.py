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

from bot.exports import archive, data, pdf, stats, worker
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
    from bot.exports import docx_form  # python-docx + lxml: only when a form is made

    t = i18n.get(FORM_LANG)
    docx = await worker.run(docx_form.build_docx, b, t, tz)
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
    blob = await worker.run(archive.build_zip, b, t, data_dir, now.astimezone(tz), {f.name: f.data for f in forms})
    return OutFile(archive_name(b), blob)


async def roster_file(s: AsyncSession, year: int, t: Translator, tz: tzinfo) -> tuple[OutFile, int]:
    """The season's XLSX and how many applications it lists."""
    from bot.exports import roster  # openpyxl (with numpy and PIL): only when a roster is made

    rows = await data.roster(s, year, t.lang, tz)
    blob = await worker.run(roster.build_xlsx, rows, t, year)
    return OutFile(roster_name(year), blob), len(rows)


@dataclass(frozen=True)
class StatsReport:
    """`/stats` read from the database: the text, and the figures the chart is drawn from."""

    year: int
    lang: str
    text: str
    figures: dict[str, data.Stats]  # by language: the reader's, and English (the chart without a CJK font)


async def stats_report(s: AsyncSession, year: int, i18n: I18n, lang: str) -> StatsReport:
    """The figures (a few GROUP BY queries) and the text in `lang`; quick, no chart library involved."""
    figures = await data.stats_in(s, year, (lang, "en"))
    return StatsReport(year, lang, stats.text(figures[lang], i18n.get(lang)), figures)


def _chart_png(report: StatsReport, i18n: I18n) -> bytes:
    lang = stats.chart_language(report.lang)  # finding the fonts imports matplotlib: in the export thread too
    return stats.chart_cached(report.figures[lang], i18n.get(lang))


async def stats_chart(report: StatsReport, i18n: I18n) -> OutFile:
    """The chart of `report` (in Chinese only when a CJK font is installed), drawn in the export thread."""
    return OutFile(f"stats_{report.year}.png", await worker.run(_chart_png, report, i18n))


async def stats_files(s: AsyncSession, year: int, i18n: I18n, lang: str) -> tuple[str, OutFile]:
    """The `/stats` text in `lang` and the chart (in Chinese only when a CJK font is installed)."""
    report = await stats_report(s, year, i18n, lang)
    return report.text, await stats_chart(report, i18n)


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
        ids = [app_id for app_id, _, _ in await data.season_listing(s, year)]
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
