"""The longest application the declaration allows, for the printed form's tests (R-F9)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import cycle, islice
from typing import Any

from bot.domain import form
from bot.domain.form import Kind
from bot.domain.workflow import Box
from bot.exports import data
from storage.models import Application, OpinionRecord

# CJK with punctuation, Latin words and figures, as real answers mix them
PATTERN = ("攻克五轴联动加工难题，实现关键零件国产化；完成QC成果12项、ISO 9001体系认证，"
           "获国家发明专利3项（ZL2019 1 0123456.7）。培养技师、高级技师WANG Jianguo等人。")
REVIEWER_OPINION_MAX = 1000  # what a reviewer may type (conversations/review.py)


def text_of(n: int, seed: int = 0, lines: bool = False) -> str:
    """`n` characters of mixed text; with `lines`, a newline every 80 or so."""
    chars = list(islice(cycle(PATTERN), seed, seed + n))
    if lines:
        for i in range(79, n - 1, 83):
            chars[i] = "\n"
    return "".join(chars)


def longest_answers(members: int = 24) -> dict[str, Any]:
    answers: dict[str, Any] = {"union": 1}
    for i, f in enumerate(form.STEPS):
        match f.kind:
            case Kind.YESNO:
                answers[f.key] = True
            case Kind.CHOICE if not f.allow_other:
                answers[f.key] = f.options()[-1]
            case Kind.TEXT | Kind.CHOICE:
                answers[f.key] = text_of(f.max_len, i)
            case Kind.LONGTEXT:
                answers[f.key] = text_of(f.max_len, i, lines=True)
            case Kind.YEARMONTH:
                answers[f.key] = "1975-03"
            case Kind.AREA:
                answers[f.key] = 123456.75
            case Kind.MONEY:
                answers[f.key] = 99_999_999_999
            case Kind.LINES:
                answers[f.key] = [text_of(f.max_len, i + j) for j in range(form.MAX_ITEMS)]
            case Kind.MEMBERS:
                answers[f.key] = [
                    {mf.key.removeprefix("member_"): _member_value(mf, j + k)
                     for k, mf in enumerate(form.MEMBER_FIELDS)}
                    for j in range(members)]
    return answers


def longest_bundle(members: int = 24, number: str = "2026-0042") -> data.Bundle:
    app = Application(id=42, number=number, season_year=2026, applicant_id=1, union_id=None, status="approved",
                      answers=longest_answers(members), application_date=date(2026, 7, 31),
                      studio_name=text_of(100, 5), remarks=text_of(500, 9))
    opinions = [
        OpinionRecord(application_id=42, box=box.value, action="x",
                      text=text_of(200 if box in (Box.UNIT, Box.UNION) else REVIEWER_OPINION_MAX, 3 * k),
                      decided_at=datetime(2026, 7, 10 + 3 * k, 2, tzinfo=UTC))
        for k, box in enumerate(Box)]
    return data.Bundle(app=app, union=None, opinions=opinions, attachments=[], trail=[])


def _member_value(f: form.FormField, seed: int) -> Any:
    if f.kind is Kind.YEARMONTH:
        return "1990-01"
    if f.kind is Kind.CHOICE and not f.allow_other:
        return f.options()[-1]
    return text_of(f.max_len, seed)
