"""DOCX → PDF through LibreOffice (a system dependency: `libreoffice-writer` and `fonts-noto-cjk`).

The printed form asks for 宋体 (SimSun) and 黑体 (SimHei), which Linux machines do not have; left to
itself LibreOffice draws them in whatever sans face fontconfig offers first. The converter therefore runs
LibreOffice with a fontconfig file of its own (`FONTCONFIG_FILE`), written next to the conversion: the
Chinese faces of the official form are mapped to the Noto CJK SC faces (宋体 → Noto Serif CJK SC,
黑体 → Noto Sans CJK SC, and their Latin names), then the machine's own configuration is read as usual.
The result does not depend on what else the machine happens to have installed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)
TIMEOUT = 120
# Many forms at once (a season's export, the meeting's papers): one LibreOffice process converts a batch.
# Its start costs about a second of CPU, each form then about a tenth to a fifth.
BATCH = 100  # forms per LibreOffice process (a failure costs one batch; memory stays flat)
PER_FORM_TIMEOUT = 10.0  # seconds each form of a batch adds to its time-out
NICE = 10  # the conversion yields the CPU to the bot answering people meanwhile

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


def batch_processes() -> int:
    """LibreOffice processes converting at the same time: the cores but one (one is the bot's)."""
    return max(1, (os.cpu_count() or 1) - 1)


async def docx_to_pdf_many(docs: Sequence[bytes], *, batch: int = BATCH, processes: int | None = None,
                           patience: float = TIMEOUT) -> list[bytes]:
    """The PDFs of `docs`, in their order: `batch` forms per LibreOffice process, `processes` of them at
    once (`batch_processes()` by default), each at a lower priority than the bot. Never blocks the event
    loop: the processes are awaited, the files written and read in a thread. Raises `PdfError` when a
    form cannot be made (naming it by its position)."""
    exe = converter()
    if exe is None:
        raise PdfError("LibreOffice (libreoffice/soffice) is not installed")
    if not docs:
        return []
    chunks = [range(k, min(k + batch, len(docs))) for k in range(0, len(docs), batch)]
    out: list[bytes | None] = [None] * len(docs)
    lanes = asyncio.Semaphore(processes or batch_processes())
    with tempfile.TemporaryDirectory(prefix="studio-pdf-") as tmp:
        root = Path(tmp)
        conf = root / "fonts.conf"
        await asyncio.to_thread(conf.write_text, fontconfig(), encoding="utf-8")

        async def convert(n: int, chunk: range) -> None:
            async with lanes:
                pdfs = await _convert_batch(exe, root / f"b{n}", conf, [docs[i] for i in chunk],
                                            patience + PER_FORM_TIMEOUT * len(chunk), first=chunk.start)
            for i, data in zip(chunk, pdfs, strict=True):
                out[i] = data

        await asyncio.gather(*(convert(n, chunk) for n, chunk in enumerate(chunks)))
    return [d for d in out if d is not None]


async def _convert_batch(exe: str, work: Path, conf: Path, docs: list[bytes], patience: float, *,
                         first: int) -> list[bytes]:
    """One LibreOffice process converting `docs` (its own profile directory: processes run side by side)."""

    def write() -> list[str]:
        (work / "pdf").mkdir(parents=True)
        paths = []
        for i, data in enumerate(docs):
            src = work / f"{i:05d}.docx"
            src.write_bytes(data)
            paths.append(str(src))
        return paths

    paths = await asyncio.to_thread(write)
    cmd = [exe, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--norestore",
           "--convert-to", "pdf", "--outdir", str(work / "pdf"), *paths]
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    try:
        proc = await asyncio.create_subprocess_exec(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                    stderr=subprocess.PIPE, env=env, preexec_fn=_lower_priority)
    except OSError as exc:
        raise PdfError(f"LibreOffice could not be started: {exc}") from exc
    try:
        said_out, said_err = await asyncio.wait_for(proc.communicate(), patience)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise PdfError(f"LibreOffice took longer than {patience:g} s for {len(docs)} forms") from exc

    def read() -> list[bytes | None]:
        found = []
        for i in range(len(docs)):
            pdf = work / "pdf" / f"{i:05d}.pdf"
            found.append(pdf.read_bytes() if pdf.is_file() else None)
        return found

    pdfs = await asyncio.to_thread(read)
    bad = [first + i for i, d in enumerate(pdfs) if d is None or not d.startswith(b"%PDF")]
    if proc.returncode != 0 or bad:
        said = (said_err or said_out or b"").decode("utf-8", "replace").strip()[-500:]
        raise PdfError(f"LibreOffice made no PDF of forms {bad[:10]} (exit {proc.returncode}): {said}")
    return [d for d in pdfs if d is not None]


def _lower_priority() -> None:  # pragma: no cover - runs in the child before LibreOffice starts
    os.nice(NICE)


class _Gathered:
    """The forms asked for one by one at about the same time (at a naming, every applicant is sent the
    completed form: one render each), converted together: while a batch is being converted the next
    requests wait and form the next batch, so a lone form goes at once and a burst takes one LibreOffice
    start per batch instead of one per form."""

    def __init__(self) -> None:
        self.waiting: list[tuple[bytes, asyncio.Future[bytes]]] = []
        self.task: asyncio.Task[None] | None = None

    async def convert(self, docx: bytes) -> bytes:
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append((docx, done))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:BATCH], self.waiting[BATCH:]
            try:
                pdfs = await docx_to_pdf_many([d for d, _ in batch], processes=1)
            except Exception as exc:  # noqa: BLE001 - handed to whoever asked
                if len(batch) > 1:  # one bad form must not fail the others: each alone
                    for docx, done in batch:
                        await self._alone(docx, done)
                    continue
                pdfs = []
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
            for (_, done), data in zip(batch, pdfs, strict=False):
                if not done.done():
                    done.set_result(data)

    @staticmethod
    async def _alone(docx: bytes, done: asyncio.Future[bytes]) -> None:
        try:
            data = (await docx_to_pdf_many([docx], processes=1))[0]
        except Exception as exc:  # noqa: BLE001 - handed to whoever asked
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(data)


_gathered: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gathered] = weakref.WeakKeyDictionary()


async def convert(docx: bytes) -> bytes:
    """The PDF of one form, converted together with the other forms asked for meanwhile (see `_Gathered`).
    Raises `PdfError` when it cannot be made."""
    loop = asyncio.get_running_loop()
    gathered = _gathered.get(loop)
    if gathered is None:
        gathered = _gathered[loop] = _Gathered()
    return await gathered.convert(docx)
