"""Drive a whole application through the wizard (shared by several tests)."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from bot.callbacks import Wiz, WizardOp, decode
from bot.domain import form
from bot.domain.kinds import Ask
from tests.offline import Harness


def png(seed: int, size: int = 8) -> bytes:
    """A small valid PNG whose pixels depend on `seed` (so every seed is a different picture)."""
    raw = b"".join(b"\x00" + bytes((seed * 7 + x * 13 + y * 17) % 256 for x in range(size * 3))
                   for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    buf = io.BytesIO()
    buf.write(b"\x89PNG\r\n\x1a\n")
    buf.write(chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)))
    buf.write(chunk(b"IDAT", zlib.compress(raw)))
    buf.write(chunk(b"IEND", b""))
    return buf.getvalue()


def op_button(h: Harness, user: dict[str, Any], op: WizardOp, v: str | None = None) -> str:
    for _, data in h.last_buttons(user["id"]):
        d = decode(data)
        if isinstance(d, Wiz) and d.op is op and (v is None or d.v == v):
            return data
    raise AssertionError(f"no {op} button in {h.last_buttons(user['id'])}")


async def tap_op(h: Harness, user: dict[str, Any], op: WizardOp, v: str | None = None) -> int:
    return await h.press(user, op_button(h, user, op, v))


def sample(key: str) -> str:
    """The declaration's sample answer of a field (what a test types or taps)."""
    return form.BY_KEY[key].sample


LEADER = {f.key: f.sample for f in form.STEPS if f.ask in (Ask.TEXT, Ask.PARTS, Ask.ITEMS)}
MEMBER = [None if f.ask is Ask.CHOICE and f.sample in f.options() else f.sample for f in form.MEMBER_FIELDS]


async def answer(h: Harness, u: dict[str, Any], f: form.FormField, *, photos: int | None = None,
                 seed: int = 0) -> None:
    """Answer step `f` with its sample (or the value a test put in `LEADER`), the way a person would for
    its kind."""
    value = LEADER.get(f.key, f.sample)
    match f.ask:
        case Ask.UNION:
            await tap_op(h, u, WizardOp.UNION)  # the first one offered
        case Ask.YESNO:
            await tap_op(h, u, WizardOp.YES if value != "no" else WizardOp.NO)
        case Ask.CHOICE:
            await _choose(h, u, f, value)
        case Ask.PARTS:  # sent in two parts, as long texts are
            await h.text(u, value[:10])
            await h.text(u, value[10:])
            await tap_op(h, u, WizardOp.DONE)
        case Ask.ITEMS:
            await h.text(u, value)
            await tap_op(h, u, WizardOp.DONE)
        case Ask.MEMBERS:
            await tap_op(h, u, WizardOp.MEMBER_ADD)
            for mf in form.MEMBER_FIELDS:
                await answer(h, u, mf)
            await tap_op(h, u, WizardOp.DONE)
        case Ask.PHOTOS:
            for i in range(photos if photos is not None else int(value or form.MIN_PHOTOS)):
                await h.photo(u, png(seed + i))
            await tap_op(h, u, WizardOp.DONE)
        case Ask.VIDEO | Ask.DOCUMENT:
            await _attach(h, u, value)
        case _:
            await h.text(u, value)


async def _choose(h: Harness, u: dict[str, Any], f: form.FormField, value: str) -> None:
    """An option's button, or "other" and the words typed."""
    if value in f.options():
        await tap_op(h, u, WizardOp.CHOICE, value)
    else:
        await tap_op(h, u, WizardOp.OTHER)
        await h.text(u, value)


async def _attach(h: Harness, u: dict[str, Any], value: str) -> None:
    """A file step: skipped without a sample, a PDF for a "file:" sample, else the words typed."""
    if not value:
        await tap_op(h, u, WizardOp.SKIP)
        return
    if value.startswith("file:"):
        await h.document(u, b"%PDF-1.4 " + value.encode(), value.removeprefix("file:"), "application/pdf")
    else:
        await h.text(u, value)
    await tap_op(h, u, WizardOp.DONE)


async def fill_until_summary(h: Harness, u: dict[str, Any], *, photos: int = 3) -> None:
    """From /apply to the summary with valid answers everywhere: each step of the declaration answered
    with its sample, so a field added to the form is answered too."""
    await h.text(u, "/apply")
    for f in form.STEPS:
        await answer(h, u, f, photos=photos)
