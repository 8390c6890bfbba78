"""Drive a whole application through the wizard (shared by several tests)."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from bot.callbacks import Wiz, WizardOp, decode
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


LEADER = {
    "applying_unit": "大连港集团有限公司",
    "leader_name": "王建国",
    "leader_birth": "1975年3月",
    "leader_employer": "大连港集团有限公司",
    "achievements": "主持完成集装箱装卸工艺改造12项，获国家专利5项。",
    "location": "大连港集装箱码头3号楼",
    "area": "120平方米",
    "funds": "50万元",
    "equipment": "数控机床\n三维扫描仪\n- 检测平台",
    "plan": "三年内完成智能码头关键技术攻关，培养技师20名。",
}

MEMBER = ["李明", None, "1985-06", None, "高级工程师", "大连港集团", "工艺设计"]


async def fill_until_summary(h: Harness, u: dict[str, Any], *, photos: int = 3) -> None:
    """From /apply to the summary with valid answers everywhere."""
    await h.text(u, "/apply")
    # union: the first one offered
    await tap_op(h, u, WizardOp.UNION)
    for _ in range(5):
        await tap_op(h, u, WizardOp.YES)
    await h.text(u, LEADER["applying_unit"])
    await h.text(u, LEADER["leader_name"])
    await tap_op(h, u, WizardOp.CHOICE, "male")
    await h.text(u, LEADER["leader_birth"])
    await tap_op(h, u, WizardOp.CHOICE, "bachelor")
    await tap_op(h, u, WizardOp.CHOICE, "senior_technician")
    await tap_op(h, u, WizardOp.CHOICE, "national_model")
    await h.text(u, LEADER["leader_employer"])
    await h.text(u, LEADER["achievements"][:10])
    await h.text(u, LEADER["achievements"][10:])
    await tap_op(h, u, WizardOp.DONE)
    await h.text(u, LEADER["location"])
    await h.text(u, LEADER["area"])
    await h.text(u, LEADER["funds"])
    await h.text(u, LEADER["equipment"])
    await tap_op(h, u, WizardOp.DONE)
    # members
    await tap_op(h, u, WizardOp.MEMBER_ADD)
    await h.text(u, MEMBER[0])
    await tap_op(h, u, WizardOp.CHOICE, "female")
    await h.text(u, MEMBER[2])
    await tap_op(h, u, WizardOp.CHOICE, "master")
    await h.text(u, MEMBER[4])
    await h.text(u, MEMBER[5])
    await h.text(u, MEMBER[6])
    await tap_op(h, u, WizardOp.DONE)
    await h.text(u, LEADER["plan"])
    await tap_op(h, u, WizardOp.DONE)
    for i in range(photos):
        await h.photo(u, png(i))
    await tap_op(h, u, WizardOp.DONE)
    await tap_op(h, u, WizardOp.SKIP)  # video
    await h.document(u, b"%PDF-1.4 recommendation", "推荐材料.pdf", "application/pdf")
    await tap_op(h, u, WizardOp.DONE)
    await h.text(u, "工作室实行周例会制度，设负责人一名、技术骨干四名。")
    await tap_op(h, u, WizardOp.DONE)
    await tap_op(h, u, WizardOp.SKIP)  # other materials
    await h.text(u, "同意申报")
    await h.text(u, "同意推荐")
