"""The documents the sender makes after the commit and sends (the only module of `bot.exports` that
knows Telegram). Each is owed as a `render` effect (`bot.effects.render`) written with the change or
the request that causes it; here it is built and sent. A document that cannot be made raises: the
sender records the failure and tells the person (and the admins), nothing is swallowed.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot, InputFile
from telegram.constants import ParseMode

from bot.exports import data, service
from bot.exports.service import OutFile
from bot.sender import Failed
from storage import repo
from storage.models import User

log = logging.getLogger(__name__)
MAX_UPLOAD = 50 * 1024 * 1024  # the public Bot API's upload limit for documents


async def send_document(bot: Bot, chat_id: int, f: OutFile, caption: str | None = None) -> None:
    if len(f.data) > MAX_UPLOAD:
        raise Failed(f"{f.name} is too big to send ({len(f.data)} bytes)")
    await bot.send_document(chat_id, InputFile(f.data, filename=f.name), caption=caption,
                            parse_mode=ParseMode.HTML, filename=f.name)


def renderers(svc: Any) -> dict[str, Any]:
    """The `render` effects this module makes, for `Sender.renderers`."""
    r = _Renderers(svc)
    return {"form": r.form, "roster": r.roster, "archive": r.archive, "chart": r.chart, "returned": r.returned,
            "notice": r.notice, "import_template": r.import_template, "compilation": r.compilation,
            "meeting_papers": r.meeting_papers, "season_notice": r.season_notice}


class _Renderers:
    """Each document the sender makes, one method each."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc

    async def bundle(self, p: dict[str, Any], chat_id: int) -> tuple[data.Bundle, Any]:
        """The application of the effect, everything its documents show, and the reader's language."""
        async with self.svc.db.session() as s:
            b = await data.load_bundle(s, int(p["app"]))
            reader = await s.get(User, chat_id)
        if b is None:
            raise Failed(f"application {p['app']} is gone")
        return b, self.svc.translator(reader)

    async def form(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """The printable form of application `app` (DOCX, and PDF when LibreOffice is installed)."""
        b, t = await self.bundle(p, chat_id)
        files = await service.form_files(b, self.svc.i18n, self.svc.settings.tz, want_pdf=self.svc.settings.pdf_forms)
        caption = service.form_caption(b, t)
        stem = t.plain("export.form_file")
        named = [OutFile(service.form_name(b, f.name.rsplit(".", 1)[-1], stem), f.data) for f in files]
        await send_document(bot, chat_id, named[0], caption)
        for f in named[1:]:
            await send_document(bot, chat_id, f)

    async def roster(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """A season's roster (XLSX)."""
        t = self.svc.i18n.get(p["lang"])
        async with self.svc.db.session() as s:
            xlsx, n = await service.roster_file(s, int(p["year"]), t, self.svc.settings.tz)
        await send_document(bot, chat_id, xlsx, t("export.roster_caption", year=p["year"], n=n))

    async def archive(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """One application's archive (ZIP: form, materials, opinions, audit trail)."""
        b, _ = await self.bundle(p, chat_id)
        t = self.svc.i18n.get(p["lang"])
        svc = self.svc
        blob = await service.archive_file(b, svc.i18n, svc.settings.tz, svc.settings.data_dir, svc.clock.now())
        number = b.app.number or t.plain("export.no_number")
        if len(blob.data) > MAX_UPLOAD:
            from bot.services import office
            from bot.views.office import ask_office

            async with svc.db.session() as s:
                contact = await office.contact(s)
            text = ask_office(t, contact, t("export.too_big", number=number, year=b.app.season_year))
            await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
            return
        await send_document(bot, chat_id, blob, t("export.zip_caption", number=number, leader=b.leader))

    async def chart(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """The `/stats` chart of a season."""
        if "figures" in p:  # as the text showed them
            report = service.StatsReport(int(p["year"]), p["lang"], "",
                                         {k: data.Stats.from_json(v) for k, v in p["figures"].items()})
        else:  # owed before the figures were carried
            async with self.svc.db.session() as s:
                report = await service.stats_report(s, int(p["year"]), self.svc.i18n, p["lang"])
        png = await service.stats_chart(report, self.svc.i18n)
        await bot.send_photo(chat_id, InputFile(png.data, filename=png.name),
                             caption=self.svc.i18n.get(p["lang"])("stats.caption", year=p["year"]),
                             parse_mode=ParseMode.HTML)

    async def returned(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """R-W4: the materials of an application that was not approved, returned to the applicant."""
        b, t = await self.bundle(p, chat_id)
        svc = self.svc
        blob = await service.archive_file(b, svc.i18n, svc.settings.tz, svc.settings.data_dir, svc.clock.now())
        await send_document(bot, chat_id, blob, t("materials.returned", number=b.app.number or "",
                                                  date=p["remove_on"]))

    async def notice(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """R-O2: the year's notified and delisted studios, for publication."""
        from bot.exports import notice as public
        from bot.services import studios

        t = self.svc.i18n.get(p["lang"])
        year = int(p["year"])
        async with self.svc.db.session() as s:
            rows = await studios.notice_list(s, year)
            unions = {u.id: u.name(t.lang) for u in await repo.all_unions(s)}
        today = self.svc.clock.now().astimezone(self.svc.settings.tz).date()
        blob = OutFile(public.file_name(year, t.lang), public.build(t, year, rows, unions, today))
        notified = sum(1 for _, x in rows if x.outcome == "notice")
        await send_document(bot, chat_id, blob, t("oversight.notice_caption", year=year, notified=notified,
                                                  delisted=len(rows) - notified))

    async def compilation(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """R-C1: the year's results compilation (成果汇编), labels in Chinese and English."""
        t = self.svc.i18n.get(p["lang"])
        year = int(p["year"])
        today = self.svc.clock.now().astimezone(self.svc.settings.tz).date()
        async with self.svc.db.session() as s:
            blob, n = await service.compilation_file(s, year, self.svc.i18n, today)
        await send_document(bot, chat_id, blob, t("result.compilation.caption", year=year, n=n))

    async def import_template(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """The roster template for importing studios named before the bot."""
        from bot.services import imports

        t = self.svc.i18n.get(p["lang"])
        blob = OutFile(t.plain("import.template.sheet") + ".xlsx", imports.template(t))
        await send_document(bot, chat_id, blob, t("import.template_caption"))

    async def meeting_papers(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """The meeting's list (DOCX or XLSX) of a season's candidates."""
        from bot.exports import meeting as papers
        from bot.services import meeting

        t = self.svc.i18n.get(p["lang"])
        year = int(p["year"])
        async with self.svc.db.session() as s:
            items = await meeting.candidates(s, year)
        today = self.svc.clock.now().astimezone(self.svc.settings.tz).date()
        blob = papers.papers_xlsx(year, items) if p["fmt"] == "xlsx" else papers.papers_docx(year, items, today)
        await send_document(bot, chat_id, OutFile(f"{year}年度上会名单.{p['fmt']}", blob),
                            t("meeting.papers_caption", year=year, n=len(items)))

    async def season_notice(self, bot: Bot, chat_id: int, p: dict[str, Any]) -> None:
        """The public notice of the approved list (DOCX, for the office to post)."""
        from bot.exports import meeting as papers
        from bot.services import meeting

        t = self.svc.i18n.get(p["lang"])
        year = int(p["year"])
        async with self.svc.db.session() as s:
            entries = await meeting.entries(s, year)
            unions = {u.id: u.name("zh") for u in await repo.all_unions(s)}
        today = self.svc.clock.now().astimezone(self.svc.settings.tz).date()
        caption = t("meeting.notice_published", year=year, n=len(entries), first=p["first"], last=p["last"]) \
            if p.get("first") else t("meeting.notice_caption", year=year, n=len(entries))
        await send_document(bot, chat_id, OutFile(f"{year}年度拟命名名单公示.docx",
                                                  papers.notice_docx(year, entries, unions, today)), caption)
