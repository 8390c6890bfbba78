"""Parsers for what people type: year-month, floor area, money, names, lists.

Each raises `InvalidInput(code, **params)`; the code is a locale key under `error.`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation


class InvalidInput(ValueError):
    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


_DATE = re.compile(r"^(\d{4})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*日?$")


def parse_date(raw: str) -> date:
    """A typed day: 2026-09-20, 2026.9.20, 2026/09/20 or 2026年9月20日 (full-width digits too); raises
    `InvalidInput` with `date.format` (not a date) or `date.invalid` (no such day)."""
    m = _DATE.match((raw or "").translate(_FULLWIDTH_DIGITS).strip())
    if m is None:
        raise InvalidInput("date.format")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise InvalidInput("date.invalid") from None


def parse_date_or_none(raw: str) -> date | None:
    try:
        return parse_date(raw)
    except InvalidInput:
        return None


_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e"))
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９．，", "0123456789.,")


def clean_text(raw: str) -> str:
    """NFC-normalise, drop zero-width and direction marks and control characters, trim."""
    text = unicodedata.normalize("NFC", raw).translate(_ZERO_WIDTH)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()


def parse_short_text(raw: str, *, max_len: int, min_len: int = 1) -> str:
    text = " ".join(clean_text(raw).split())
    if len(text) < min_len:
        raise InvalidInput("empty")
    if len(text) > max_len:
        raise InvalidInput("too_long", max=max_len, length=len(text))
    return text


def parse_long_text(raw: str, *, max_len: int) -> str:
    text = clean_text(raw)
    if not text:
        raise InvalidInput("empty")
    if len(text) > max_len:
        raise InvalidInput("too_long", max=max_len, length=len(text))
    return text


_YM_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-./年]\s*(\d{1,2})\s*月?$"),
    re.compile(r"^(\d{4})(\d{2})$"),
)


def parse_year_month(raw: str, *, on: date, min_age: int = 18, max_age: int = 70) -> str:
    """`1975-03`, `1975.3`, `1975年3月`, `197503` → `1975-03`, for an adult of working age on `on`."""
    text = clean_text(raw).translate(_FULLWIDTH_DIGITS).replace(" ", "")
    for pattern in _YM_PATTERNS:
        m = pattern.match(text)
        if m:
            year, month = int(m.group(1)), int(m.group(2))
            break
    else:
        raise InvalidInput("year_month_format")
    if not 1 <= month <= 12:
        raise InvalidInput("year_month_format")
    age = on.year - year - (1 if on.month < month else 0)
    if age < min_age or age > max_age:
        raise InvalidInput("age_range", min=min_age, max=max_age, age=age)
    return f"{year:04d}-{month:02d}"


_NUMBER = r"(\d+(?:\.\d+)?)"


def _number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput("number_format") from None


def parse_area(raw: str) -> float:
    """`120`, `120平方米`, `120 m²`, `120㎡` → square metres (> 0)."""
    text = clean_text(raw).translate(_FULLWIDTH_DIGITS).replace(",", "").replace(" ", "").lower()
    m = re.fullmatch(_NUMBER + r"(平方米|平米|平方|㎡|m²|m2|sqm)?", text)
    if not m:
        raise InvalidInput("area_format")
    value = _number(m.group(1))
    if value <= 0:
        raise InvalidInput("area_positive")
    if value > 1_000_000:
        raise InvalidInput("area_too_big")
    return float(value)


def parse_money(raw: str) -> int:
    """`50` (万元), `50万元`, `50万`, `500000元` → yuan (≥ 0)."""
    text = clean_text(raw).translate(_FULLWIDTH_DIGITS).replace(",", "").replace(" ", "").lower()
    text = text.removeprefix("¥").removeprefix("￥").removeprefix("rmb")
    m = re.fullmatch(_NUMBER + r"(万元|万|w|元|yuan|cny)?", text)
    if not m:
        raise InvalidInput("money_format")
    value = _number(m.group(1))
    unit = m.group(2) or "万元"
    yuan = value * 10_000 if unit in ("万元", "万", "w") else value
    if yuan > Decimal(10) ** 11:
        raise InvalidInput("money_too_big")
    return int(yuan.quantize(Decimal(1)))


def parse_lines(raw: str, *, max_items: int, max_len: int) -> list[str]:
    """One item per line; bullets and numbering are stripped."""
    items = []
    for line in clean_text(raw).splitlines():
        item = re.sub(r"^\s*(?:[-*•·、]|\d+[.)、．])\s*", "", line).strip()
        if not item:
            continue
        if len(item) > max_len:
            raise InvalidInput("line_too_long", max=max_len)
        items.append(item)
    if not items:
        raise InvalidInput("empty")
    if len(items) > max_items:
        raise InvalidInput("too_many_lines", max=max_items)
    return items


def format_money(yuan: int, lang: str) -> str:
    wan = Decimal(yuan) / 10_000
    text = f"{wan.normalize():f}"
    return f"{text}万元" if lang == "zh" else f"{text} × 10,000 yuan (¥{yuan:,})"


def format_area(m2: float) -> str:
    text = f"{Decimal(str(m2)).normalize():f}"
    return f"{text} m²"
