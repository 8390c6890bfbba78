"""DOCX → PDF through LibreOffice, when it is installed; otherwise nothing (the DOCX is always sent)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)
TIMEOUT = 120


def converter() -> str | None:
    """The LibreOffice executable on PATH, if any."""
    return shutil.which("libreoffice") or shutil.which("soffice")


def docx_to_pdf(docx: bytes, stem: str = "form", *, timeout: float = TIMEOUT) -> bytes | None:
    """The PDF of `docx`, or None when LibreOffice is missing or fails (blocking: run it in a thread)."""
    exe = converter()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="studio-pdf-") as tmp:
        work = Path(tmp)
        src = work / f"{stem}.docx"
        src.write_bytes(docx)
        cmd = [exe, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--norestore",
               "--convert-to", "pdf", "--outdir", str(work), str(src)]
        try:
            subprocess.run(cmd, check=True, timeout=timeout, capture_output=True, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("PDF conversion failed: %s", exc)
            return None
        out = work / f"{stem}.pdf"
        if not out.is_file():
            log.warning("PDF conversion produced no file")
            return None
        data = out.read_bytes()
        return data if data.startswith(b"%PDF") else None
