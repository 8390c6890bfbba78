"""DOCX → PDF through LibreOffice (a system dependency: `libreoffice-writer` and `fonts-noto-cjk`).

The printed form asks for 宋体 (SimSun) and 黑体 (SimHei), which Linux machines do not have; left to
itself LibreOffice draws them in whatever sans face fontconfig offers first. The converter therefore runs
LibreOffice with a fontconfig file of its own (`FONTCONFIG_FILE`), written next to the conversion: the
Chinese faces of the official form are mapped to the Noto CJK SC faces (宋体 → Noto Serif CJK SC,
黑体 → Noto Sans CJK SC, and their Latin names), then the machine's own configuration is read as usual.
The result does not depend on what else the machine happens to have installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)
TIMEOUT = 120

SERIF_SC = "Noto Serif CJK SC"
SANS_SC = "Noto Sans CJK SC"
# the faces the official form (and Chinese Word documents in general) name, and what draws them here
SUBSTITUTES: dict[str, str] = {
    "宋体": SERIF_SC, "SimSun": SERIF_SC, "新宋体": SERIF_SC, "NSimSun": SERIF_SC,
    "仿宋": SERIF_SC, "FangSong": SERIF_SC, "仿宋_GB2312": SERIF_SC, "楷体": SERIF_SC, "KaiTi": SERIF_SC,
    "黑体": SANS_SC, "SimHei": SANS_SC, "微软雅黑": SANS_SC, "Microsoft YaHei": SANS_SC,
}
SYSTEM_CONFIG = "/etc/fonts/fonts.conf"


class PdfError(RuntimeError):
    """The PDF could not be made (LibreOffice missing, failed, timed out or wrote no PDF)."""


def converter() -> str | None:
    """The LibreOffice executable on PATH, if any."""
    return shutil.which("libreoffice") or shutil.which("soffice")


def fontconfig(substitutes: dict[str, str] | None = None, system: str = SYSTEM_CONFIG) -> str:
    """A fontconfig file mapping the form's Chinese faces to the Noto CJK SC faces, then the machine's own
    configuration (its fonts and rules)."""
    rules = []
    for name, to in (substitutes or SUBSTITUTES).items():
        rules.append(f'  <match target="pattern">\n    <test name="family" qual="any"><string>{escape(name)}'
                     f'</string></test>\n    <edit name="family" mode="assign" binding="strong"><string>'
                     f'{escape(to)}</string></edit>\n  </match>')
    return ('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
            + "\n".join(rules) + f'\n  <include ignore_missing="yes">{escape(system)}</include>\n</fontconfig>\n')


def docx_to_pdf(docx: bytes, stem: str = "form", *, timeout: float = TIMEOUT) -> bytes:
    """The PDF of `docx` (blocking: run it in a thread). Raises `PdfError` when it cannot be made."""
    exe = converter()
    if exe is None:
        raise PdfError("LibreOffice (libreoffice/soffice) is not installed")
    with tempfile.TemporaryDirectory(prefix="studio-pdf-") as tmp:
        work = Path(tmp)
        src = work / f"{stem}.docx"
        src.write_bytes(docx)
        conf = work / "fonts.conf"
        conf.write_text(fontconfig(), encoding="utf-8")
        env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
        cmd = [exe, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--norestore",
               "--convert-to", "pdf", "--outdir", str(work), str(src)]
        try:
            done = subprocess.run(cmd, timeout=timeout, capture_output=True, stdin=subprocess.DEVNULL, env=env)
        except subprocess.TimeoutExpired as exc:
            raise PdfError(f"LibreOffice took longer than {timeout:g} s") from exc
        except OSError as exc:
            raise PdfError(f"LibreOffice could not be started: {exc}") from exc
        out = work / f"{stem}.pdf"
        if done.returncode != 0 or not out.is_file():
            said = (done.stderr or done.stdout or b"").decode("utf-8", "replace").strip()[-500:]
            raise PdfError(f"LibreOffice made no PDF (exit {done.returncode}): {said}")
        data = out.read_bytes()
    if not data.startswith(b"%PDF"):
        raise PdfError("LibreOffice wrote something that is not a PDF")
    return data
