"""Printed forms in bulk: one LibreOffice process converts a batch of forms, not one process per form."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date
from pathlib import Path

import pytest

from bot.exports import data, pdf, service
from bot.i18n import I18n
from storage.models import Application
from tests.test_exports import COMPLETE

# A stand-in for LibreOffice: notes each start, then "converts" every file named after --outdir into a
# PDF holding that file's bytes (so the order of the results can be checked).
FAKE = """#!/bin/sh
echo start >> "$STARTS"
while [ "$1" != "--outdir" ]; do shift; done
out="$2"; shift 2
for f in "$@"; do b="${f##*/}"; { printf '%%PDF-1.4 '; cat "$f"; } > "$out/${b%.docx}.pdf"; done
"""


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    script = tmp_path / "bin" / "libreoffice"  # found before the real one, which may be installed
    script.parent.mkdir()
    script.write_text(FAKE)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    log = tmp_path / "starts"
    monkeypatch.setenv("STARTS", str(log))
    return log


def test_many_forms_are_converted_by_one_process_per_batch_in_order(starts: Path) -> None:
    """R-F9: the PDFs of many forms come back in their order, `batch` forms per LibreOffice start."""
    docs = [f"form {i}".encode() for i in range(5)]
    pdfs = asyncio.run(pdf.docx_to_pdf_many(docs, batch=2, processes=2))
    assert pdfs == [b"%PDF-1.4 form " + str(i).encode() for i in range(5)]
    assert starts.read_text().split() == ["start"] * 3


def test_a_season_of_forms_gets_docx_and_pdf_each_from_one_start(starts: Path) -> None:
    """R-F9: `forms_in_bulk` gives every application its DOCX and its PDF, converted by one LibreOffice
    start for the whole batch."""
    bundles = []
    for n in (1, 2, 3):
        app = Application(id=n, number=f"2026-000{n}", season_year=2026, applicant_id=n, status="submitted",
                          answers=dict(COMPLETE), application_date=date(2026, 7, 3))
        bundles.append(data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[]))
    made = asyncio.run(service.forms_in_bulk(bundles, I18n("zh"), UTC))
    assert [[f.name.rsplit(".", 1)[1] for f in files] for files in made] == [["docx", "pdf"]] * 3
    assert [files[0].name for files in made] == [service.form_name(b, "docx") for b in bundles]
    for files in made:  # each PDF is made of its own form
        assert files[1].data == b"%PDF-1.4 " + files[0].data
    assert starts.read_text().split() == ["start"]


def test_a_batch_that_fails_names_the_forms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """R-F9: a batch LibreOffice could not convert raises `PdfError` naming its forms, never fewer PDFs."""
    script = tmp_path / "bin" / "libreoffice"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho 'source file could not be loaded' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    with pytest.raises(pdf.PdfError, match=r"forms \[0, 1\].*could not be loaded"):
        asyncio.run(pdf.docx_to_pdf_many([b"a", b"b"]))


def test_forms_asked_for_at_once_are_converted_together(starts: Path) -> None:
    """R-F9: forms asked for one by one at the same moment (every applicant sent the completed form at a
    naming) are converted by one LibreOffice start; a form asked for alone goes at once."""

    async def burst() -> list[bytes]:
        return list(await asyncio.gather(*(pdf.convert(f"form {i}".encode()) for i in range(5))))

    assert asyncio.run(burst()) == [b"%PDF-1.4 form " + str(i).encode() for i in range(5)]
    assert starts.read_text().split() == ["start"]
    assert asyncio.run(pdf.convert(b"alone")) == b"%PDF-1.4 alone"
    assert starts.read_text().split() == ["start"] * 2


def test_one_bad_form_of_a_burst_fails_alone(monkeypatch: pytest.MonkeyPatch, starts: Path) -> None:
    """R-F9: a form LibreOffice cannot convert fails on its own; the others of its batch are still made."""
    script = Path(os.environ["PATH"].split(":")[0]) / "libreoffice"
    script.write_text(FAKE.replace('shift 2\n', 'shift 2\nif grep -q bad "$@"; then exit 1; fi\n'))

    async def burst() -> list[bytes | BaseException]:
        docs = [b"form 0", b"bad form", b"form 2"]
        return list(await asyncio.gather(*(pdf.convert(d) for d in docs), return_exceptions=True))

    first, bad, last = asyncio.run(burst())
    assert first == b"%PDF-1.4 form 0" and last == b"%PDF-1.4 form 2"
    assert isinstance(bad, pdf.PdfError)
    assert starts.read_text().split() == ["start"] * 4  # the batch, then each form alone
