"""The export files, ready to send or to write: the form (DOCX, PDF), the archive ZIP, the roster XLSX,
the statistics. Reads the database; heavy work runs in a thread. No Telegram here.

The document libraries (python-docx/lxml, openpyxl — which drags in numpy and PIL —, matplotlib) are
imported by the builders, and the builders are imported here only when a document is actually made:
the bot imports this module at start-up (through its handlers), and those libraries would otherwise
cost ~25 MB of resident memory in a process that may never export anything.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.workflow import Status
from bot.exports import archive, data, pdf, stats, worker
from bot.exports.names import file_name
from bot.i18n import I18n, Translator
from bot.services import results as svc_results
from storage import repo
from storage.db import Database

FORM_LANG = "zh"  # the printed form is the Chinese one of the source


@dataclass(frozen=True)
class OutFile:
    name: str
    data: bytes


class DocumentError(RuntimeError):
    """A document could not be made. `what` names it ("form", "pdf", "archive", "roster", "chart"),
    `app_id` the application when there is one; the cause is chained (`__cause__`)."""

    def __init__(self, what: str, app_id: int | None, detail: str) -> None:
        super().__init__(f"could not make the {what}" + (f" of application {app_id}" if app_id else "")
                         + f": {detail}")
        self.what = what
        self.app_id = app_id


def form_name(b: data.Bundle, ext: str, stem: str = "申报表") -> str:
    """The form's file name: `stem` in the reader's language (`export.form_file`; the office's exports
    keep the Chinese one), the number and the leader. The form itself is the official Chinese one."""
    return file_name(stem, b.app.number, b.leader, ext, fallback=f"draft{b.app.id}")


def archive_name(b: data.Bundle) -> str:
    return file_name("申报材料", b.app.number, b.leader, "zip", fallback=f"draft{b.app.id}")


def roster_name(year: int) -> str:
    return file_name("申报汇总", str(year), None, "xlsx")


async def form_files(b: data.Bundle, i18n: I18n, tz: tzinfo, *, want_pdf: bool = True) -> list[OutFile]:
    """The printed form of `b` as it stands now (every box filled so far, the approved name, remarks):
    the DOCX first, then the PDF when LibreOffice is installed (`pdf.converter()`).

    Raises `DocumentError` when either cannot be made — never a silent shorter list: the caller tells
    the person (and the admins)."""
    from bot.exports import docx_form  # python-docx + lxml: only when a form is made

    t = i18n.get(FORM_LANG)
    try:
        docx = await worker.run(docx_form.build_docx, b, t, tz)
    except Exception as exc:
        raise DocumentError("form", b.app.id, f"{type(exc).__name__}: {exc}") from exc
    out = [OutFile(form_name(b, "docx"), docx)]
    if want_pdf and pdf.converter():
        try:
            converted = await pdf.convert(docx)  # with the other forms asked for meanwhile
        except pdf.PdfError as exc:
            raise DocumentError("pdf", b.app.id, str(exc)) from exc
        out.append(OutFile(form_name(b, "pdf"), converted))
    return out


async def forms_in_bulk(bundles: Sequence[data.Bundle], i18n: I18n, tz: tzinfo, *,
                        want_pdf: bool = True) -> list[list[OutFile]]:
    """`form_files` of many applications (a season's export, the meeting's papers), in their order: the
    DOCX files one after the other in the export thread, then their PDFs converted in batches (one
    LibreOffice process for many forms, `pdf.docx_to_pdf_many`) instead of a process per form.

    Raises `DocumentError` like `form_files`."""
    from bot.exports import docx_form

    t = i18n.get(FORM_LANG)
    out: list[list[OutFile]] = []
    for b in bundles:
        try:
            docx = await worker.run(docx_form.build_docx, b, t, tz)
        except Exception as exc:
            raise DocumentError("form", b.app.id, f"{type(exc).__name__}: {exc}") from exc
        out.append([OutFile(form_name(b, "docx"), docx)])
    if want_pdf and pdf.converter() and bundles:
        try:
            converted = await pdf.docx_to_pdf_many([files[0].data for files in out])
        except pdf.PdfError as exc:
            raise DocumentError("pdf", None, str(exc)) from exc
        for b, files, data_ in zip(bundles, out, converted, strict=True):
            files.append(OutFile(form_name(b, "pdf"), data_))
    return out


async def load_form_files(db: Database, app_id: int, i18n: I18n, tz: tzinfo, *,
                          want_pdf: bool = True) -> list[OutFile] | None:
    """`form_files` of application `app_id` read from the database now; None when there is no such
    application. Raises `DocumentError` like `form_files`."""
    async with db.session() as s:
        b = await data.load_bundle(s, app_id)
    return None if b is None else await form_files(b, i18n, tz, want_pdf=want_pdf)


def form_caption(b: data.Bundle, t: Translator) -> str:
    """The caption of the form sent to a person (Telegram HTML): the named studio's completed form, the
    R-W4 wording when it was not approved (the materials go back to the applying unit), else the plain
    one."""
    number = b.app.number or t.plain("export.no_number")
    if b.app.status == Status.APPROVED.value:
        return t("export.form_caption_named", number=number, leader=b.leader, name=b.app.studio_name or "")
    if b.app.status == Status.REJECTED.value:
        return t("export.form_caption_rejected", number=number, leader=b.leader)
    return t("export.form_caption", number=number, leader=b.leader)


async def archive_file(b: data.Bundle, i18n: I18n, tz: tzinfo, data_dir: Path, now: datetime,
                       forms: list[OutFile] | None = None) -> OutFile:
    forms = forms if forms is not None else await form_files(b, i18n, tz)
    t = i18n.get(FORM_LANG)
    blob = await worker.run(archive.build_zip, b, t, data_dir, now.astimezone(tz), {f.name: f.data for f in forms})
    return OutFile(archive_name(b), blob)


async def roster_file(s: AsyncSession, year: int, t: Translator, tz: tzinfo,
                      today: date | None = None) -> tuple[OutFile, int]:
    """The season's XLSX and how many applications it lists; its title carries the day it was made
    (`today`, this day in `tz` unless given)."""
    from bot.exports import results as result_docs
    from bot.exports import roster  # openpyxl (with numpy and PIL): only when a roster is made

    rows = await data.roster(s, year, t.lang, tz)
    made_on = today or datetime.now(tz).date()
    yr = await svc_results.year_results(s, year)
    unions = {u.id: u.name(t.lang) for u in await repo.all_unions(s)}
    try:
        blob = await worker.run(roster.build_xlsx, rows, t, year, made_on,
                                functools.partial(result_docs.add_sheets, t=t, yr=yr, unions=unions))
    except Exception as exc:
        raise DocumentError("roster", None, f"{type(exc).__name__}: {exc}") from exc
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
    from bot.exports import results as result_docs

    figures = await data.stats_in(s, year, (lang, "en"))
    t = i18n.get(lang)
    yr = await svc_results.year_results(s, year)
    unions = {u.id: u.name(lang) for u in await repo.all_unions(s)}
    return StatsReport(year, lang, stats.text(figures[lang], t) + "\n\n" + result_docs.stats_text(t, yr, unions),
                       figures)


async def compilation_file(s: AsyncSession, year: int, i18n: I18n, today: date) -> tuple[OutFile, int]:
    """The year's results compilation (成果汇编, R-C1) and how many results it lists."""
    from bot.exports import results as result_docs

    yr = await svc_results.year_results(s, year)
    unions = {u.id: u.name("zh") for u in await repo.all_unions(s)}
    rows = [r for _, rs in yr.studios for r in rs]
    certs = {r.id: a.original_name or a.stored_path.rsplit("/", 1)[-1] for r in rows
             if (a := await svc_results.certificate(s, r)) is not None}
    try:
        blob = await worker.run(result_docs.compilation, i18n.get("zh"), i18n.get("en"), yr, unions, today, certs)
    except Exception as exc:
        raise DocumentError("compilation", None, f"{type(exc).__name__}: {exc}") from exc
    return OutFile(result_docs.compilation_name(year), blob), len(rows)


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
        xlsx, _ = await roster_file(s, year, i18n.get(lang), tz, now.astimezone(tz).date())
        ids = [app_id for app_id, _, _ in await data.season_listing(s, year)]
    await write(xlsx)
    for k in range(0, len(ids), pdf.BATCH):  # the forms of a batch converted by one LibreOffice process
        bundles = []
        for app_id in ids[k:k + pdf.BATCH]:
            async with db.session() as s:
                b = await data.load_bundle(s, app_id)
            if b is not None:
                bundles.append(b)
        for b, forms in zip(bundles, await forms_in_bulk(bundles, i18n, tz), strict=True):
            for f in forms:
                await write(f)
            await write(await archive_file(b, i18n, tz, data_dir, now, forms))
    return written
