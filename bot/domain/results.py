"""The one declaration of a studio's result (成果): its fields, their kinds and their checks.

The chat flow that records a result, the card, the year report, the statistics, the printed form's 附页
and the results compilation all walk `FIELDS`. A field's texts live under `result.field.<key>` and its
options under `result.<key>.<option>` in `locales/`. Nothing here knows Telegram or SQL; `today` is
passed in (the clock is injected).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from bot.domain import values
from bot.domain.values import InvalidInput


class Invalid(ValueError):
    """A value a result cannot have; `key` is a locale key, `params` its placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# 发明专利, 实用新型专利, 外观设计专利, 软件著作权, 技术革新/技术改造, 合理化建议, 工法, 标准, 论文/著作,
# 技能竞赛/获奖, 其他
KINDS = ("invention", "utility_model", "design", "software", "innovation", "suggestion", "method", "standard",
         "paper", "contest", "other")
PATENTS = frozenset({"invention", "utility_model", "design"})
LEVELS = ("national", "provincial", "city", "district", "enterprise")  # 国家/省/市/区/企业
CERTIFICATE_MAX = 20 * 1024 * 1024  # what the Bot API lets a bot download
BENEFIT_MAX = Decimal(1_000_000)  # 万元 a year: 100 billion yuan


class Ask(StrEnum):
    TEXT = "text"  # one line
    LONGTEXT = "longtext"  # a paragraph
    CHOICE = "choice"  # one of `options`, by button
    DATE = "date"  # a day, not in the future
    YESNO = "yesno"
    BENEFIT = "benefit"  # 万元 a year, ≥ 0
    FILE = "file"  # a photo or a PDF


@dataclass(frozen=True)
class ResultField:
    """One property of a result. `needs`: asked only when that field has a value."""

    key: str
    ask: Ask
    required: bool = True
    max_len: int = 200
    options: tuple[str, ...] = ()
    needs: str | None = None
    spec: str = ""


FIELDS: tuple[ResultField, ...] = (
    ResultField("title", Ask.TEXT, max_len=200),
    ResultField("kind", Ask.CHOICE, options=KINDS),
    ResultField("on", Ask.DATE),
    ResultField("level", Ask.CHOICE, required=False, options=LEVELS, spec="R-E5"),  # none: not recognised
    ResultField("body", Ask.TEXT, needs="level", max_len=200, spec="R-E5"),  # 认定单位
    ResultField("number", Ask.TEXT, required=False, max_len=64),  # patent number …
    ResultField("in_use", Ask.YESNO),  # 转化/推广
    ResultField("benefit", Ask.BENEFIT, required=False),
    ResultField("social", Ask.LONGTEXT, required=False, max_len=1000),
    ResultField("members", Ask.TEXT, required=False, max_len=500),
    ResultField("ownership", Ask.LONGTEXT, required=False, max_len=1000, spec="R-O3"),  # recorded, never decided
    ResultField("certificate", Ask.FILE, required=False),
)
BY_KEY = {f.key: f for f in FIELDS}
TYPED = tuple(f for f in FIELDS if f.ask is not Ask.FILE)  # what a table row (import) carries


def record_of(row: Any) -> dict[str, Any]:
    """A stored result (any object with the fields as attributes) as a record: field key → value."""
    out = {f.key: getattr(row, f.key, None) for f in TYPED}
    on = out.get("on")
    if isinstance(on, date):
        out["on"] = on.isoformat()
    return out


def asked(field: ResultField, record: Mapping[str, Any]) -> bool:
    """Whether `field` is asked given what the record holds so far."""
    return field.needs is None or record.get(field.needs) not in (None, "")


def next_field(record: Mapping[str, Any], after: str | None = None) -> ResultField | None:
    """The field asked after `after` (the first when None), skipping those that do not apply."""
    keys = [f.key for f in FIELDS]
    start = keys.index(after) + 1 if after is not None else 0
    return next((f for f in FIELDS[start:] if asked(f, record)), None)


def recognised(record: Mapping[str, Any]) -> bool:
    """R-E5: a result some body recognised (认可或认定): it has a level and a recognising body."""
    return bool(record.get("level")) and bool(record.get("body"))


def parse_benefit(raw: str) -> float:
    """`12.5`, `12.5万元`, `12.5万` → 万元 a year (≥ 0)."""
    text = values.clean_text(raw).replace(",", "").replace(" ", "").lower()
    text = text.translate(str.maketrans("０１２３４５６７８９．－", "0123456789.-"))
    for unit in ("万元/年", "万元", "万", "wan"):
        text = text.removesuffix(unit)
    if text.startswith(("-", "−")):
        raise Invalid("result.error.benefit_negative")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Invalid("result.error.benefit_format") from None
    if not value.is_finite():
        raise Invalid("result.error.benefit_format")
    if value > BENEFIT_MAX:
        raise Invalid("result.error.benefit_too_big", max=int(BENEFIT_MAX))
    return float(value.quantize(Decimal("0.01")))


def parse(field: ResultField, raw: Any, today: date) -> Any:
    """The value of `field` from what was typed, pressed or read from a table; `Invalid` with a
    locale key when it cannot be one."""
    if field.ask is Ask.CHOICE:
        if raw not in field.options:
            raise Invalid(f"result.error.unknown_{field.key}", value=str(raw)[:40])
        return raw
    if field.ask is Ask.YESNO:
        if isinstance(raw, bool):
            return raw
        raise Invalid("result.error.yesno")
    if field.ask is Ask.DATE:
        return _parse_day(str(raw), today)
    if field.ask is Ask.BENEFIT:
        return parse_benefit(str(raw))
    return _parse_text(field, str(raw))


def _parse_day(text: str, today: date) -> str:
    try:
        on = values.parse_date(text)
    except InvalidInput as exc:
        raise Invalid(f"result.error.{exc.code}") from None
    if on > today:
        raise Invalid("result.error.date_future", today=today.isoformat())
    if on.year < 1949:
        raise Invalid("result.error.date_old")
    return on.isoformat()


def _parse_text(field: ResultField, text: str) -> str:
    if field.ask is Ask.LONGTEXT:
        text = values.clean_text(text)
    else:
        text = " ".join(values.clean_text(text).split())
    if not text:
        raise Invalid("result.error.empty")
    if len(text) > field.max_len:
        raise Invalid("result.error.too_long", max=field.max_len, length=len(text))
    return text


def check_size(size: int | None) -> None:
    """A certificate the bot can take (R-E5 evidence): refused above `CERTIFICATE_MAX`."""
    if size is not None and size > CERTIFICATE_MAX:
        raise Invalid("result.error.file_too_big", mb=round(size / 1024 / 1024, 1),
                           max=CERTIFICATE_MAX // 1024 // 1024)


def missing(record: Mapping[str, Any]) -> list[str]:
    """Required fields (of those that apply) without a value."""
    return [f.key for f in FIELDS if f.required and asked(f, record) and record.get(f.key) in (None, "")]


def validate(record: Mapping[str, Any], today: date) -> dict[str, Any]:
    """A whole record checked field by field (a table row, or a record before it is saved): the clean
    values; `Invalid` naming the first bad field (`field` parameter)."""
    out: dict[str, Any] = {}
    for f in TYPED:
        raw = record.get(f.key)
        if raw in (None, "") or not asked(f, {**record, **out}):
            continue
        try:
            out[f.key] = parse(f, raw, today)
        except Invalid as exc:
            raise Invalid(exc.key, field=f.key, **exc.params) from None
    gaps = missing(out)
    if gaps:
        raise Invalid("result.error.missing", field=gaps[0])
    return out
