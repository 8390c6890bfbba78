"""Parsers for what people type: dates, year-month, floor area, money, names, lists.

Each raises `InvalidInput(code, **params)`; the code is a locale key under `error.`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation


class InvalidInput(ValueError):
    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


_DATE = re.compile(r"^(\d{4})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*日?$")
_MONTH_DAY = re.compile(r"^(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$")


def parse_date(raw: str, *, today: date | None = None, future: bool = False) -> date:
    """A typed day: 2026-12-16, 2026.12.16, 2026/12/16 or 2026年12月16日 (full-width digits too); with
    `today`, also 12月16日: this year, or the next when a `future` day is wanted and this year's is past.
    Raises `InvalidInput` with `date_format` (not a date) or `date_invalid` (no such day)."""
    text = (raw or "").translate(_FULLWIDTH_DIGITS).strip()
    m = _DATE.match(text)
    short = _MONTH_DAY.match(text) if m is None and today is not None else None
    if m is None and short is None:
        raise InvalidInput("date_format")
    try:
        if m is not None:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        assert short is not None and today is not None
        month, day = int(short.group(1)), int(short.group(2))
        on = date(today.year, month, day)
        return date(today.year + 1, month, day) if future and on < today else on
    except ValueError:
        raise InvalidInput("date_invalid") from None


def parse_date_or_none(raw: str, *, today: date | None = None, future: bool = False) -> date | None:
    try:
        return parse_date(raw, today=today, future=future)
    except InvalidInput:
        return None


def date_example(today: date, *, future: bool = True, days: int = 9) -> str:
    """A day to show as the example of what to type: `days` after `today` (before it when a past day is
    wanted), written as the parser reads it first."""
    return date_examples(today, future=future, days=days)["example"]


def date_examples(today: date, *, future: bool = True, days: int = 9) -> dict[str, str]:
    """The example day in the ways it may be typed: `example` (2026-12-16), `example_zh` (2026年12月16日)
    and `example_md` (12月16日), for the texts that ask for a date."""
    on = today + timedelta(days=days if future else -days)
    return {"example": on.isoformat(), "example_zh": f"{on.year}年{on.month}月{on.day}日",
            "example_md": f"{on.month}月{on.day}日"}


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
_MONTH_YEAR = re.compile(r"^(\d{1,2})\s*[-./]\s*(\d{4})$")  # 3/1975, 03.1975
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_NAMED = re.compile(r"^(?:([a-z]+)\.?,?\s*(\d{4})|(\d{4})\s*,?\s*([a-z]+)\.?)$")  # March 1975, 1975 Mar


def _named_month(word: str) -> int | None:
    """`mar`, `March`, `sept` → 3, 3, 9 (at least three letters of an English month name)."""
    word = word.lower()
    if len(word) < 3:
        return None
    return next((i for i, name in enumerate(MONTHS, start=1) if name.startswith(word)), None)


def _year_month(text: str) -> tuple[int, int]:
    compact = text.replace(" ", "")
    for pattern in _YM_PATTERNS:
        m = pattern.match(compact)
        if m:
            return int(m.group(1)), int(m.group(2))
    m = _MONTH_YEAR.match(compact)
    if m:
        return int(m.group(2)), int(m.group(1))
    m = _NAMED.match(" ".join(text.lower().split()))
    if m:
        word, year = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        month = _named_month(word)
        if month is not None:
            return int(year), month
    raise InvalidInput("year_month_format")


def parse_year_month(raw: str, *, on: date, min_age: int = 18, max_age: int = 70) -> str:
    """`1975-03`, `1975.3`, `1975年3月`, `197503`, `3/1975`, `March 1975` → `1975-03`, for an adult of
    working age on `on`."""
    year, month = _year_month(clean_text(raw).translate(_FULLWIDTH_DIGITS))
    if not 1 <= month <= 12:
        raise InvalidInput("month_range", month=month)
    if (year, month) > (on.year, on.month):
        raise InvalidInput("year_month_future", value=f"{year:04d}-{month:02d}")
    age = on.year - year - (1 if on.month < month else 0)
    if age < min_age or age > max_age:
        raise InvalidInput("age_range", min=min_age, max=max_age, age=age)
    return f"{year:04d}-{month:02d}"


_NUMBER = r"(\d+(?:\.\d+)?)"
# words around a figure that do not change it: "约150平米", "每年80万元", "about 120 m²", "80万元/年"
_BEFORE = re.compile(r"^(?:大约|约为|约合|约|近|共计|合计|总计|共|每年度?|年均|年|about|approx(?:imately)?\.?|around"
                     r"|~|≈|～)+")
_AFTER = re.compile(r"(?:左右|以上|上下|多|/年|每年|一年|peryear|ayear|/year|annually|/yr|pa)+$")


def _figure(raw: str) -> str:
    """The typed figure for the parsers of amounts: digits made plain, separators, spaces and the words
    around it that do not change it dropped."""
    text = clean_text(raw).translate(_FULLWIDTH_DIGITS).replace(",", "").replace(" ", "").lower()
    return _AFTER.sub("", _BEFORE.sub("", text))


def _number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput("number_format") from None


def parse_area(raw: str) -> float:
    """`120`, `120平方米`, `约150平米`, `120 m²`, `120㎡` → square metres (> 0)."""
    text = _figure(raw)
    m = re.fullmatch(r"([-−]?)" + _NUMBER + r"(平方米|平米|平方|㎡|m²|m2|sqm|squaremetres|squaremeters)?", text)
    if not m:
        raise InvalidInput("area_format")
    value = _number(m.group(2))
    if m.group(1) or value <= 0:
        raise InvalidInput("area_positive")
    if value > 1_000_000:
        raise InvalidInput("area_too_big")
    return float(value)


def parse_money(raw: str) -> int:
    """`50` (万元, i.e. 10,000 yuan), `50万元`, `50万`, `500000元`, `500000 yuan`, `¥500,000` → yuan (≥ 0).
    A bare number is in 万元, the unit of the printed form; a yuan sign or unit means yuan. "每年80万元"
    is 80万元 (the studio's yearly funds)."""
    text = _figure(raw)
    sign = text[:1] in ("-", "−")
    text = text.lstrip("-−")
    marked = text[:1] in ("¥", "￥") or text.startswith("rmb")
    text = text.removeprefix("¥").removeprefix("￥").removeprefix("rmb")
    m = re.fullmatch(_NUMBER + r"(万元|万|w|wan|元|yuan|cny|rmb)?", text)
    if not m:
        raise InvalidInput("money_format")
    if sign:
        raise InvalidInput("money_negative")
    value = _number(m.group(1))
    unit = m.group(2) or ("元" if marked else "万元")
    yuan = value * 10_000 if unit in ("万元", "万", "w", "wan") else value
    if yuan > Decimal(10) ** 11:
        raise InvalidInput("money_too_big")
    return int(yuan.quantize(Decimal(1)))


def parse_lines(raw: str, *, max_items: int, max_len: int) -> list[str]:
    """One item per line; bullets and numbering are stripped. Each item has at most `max_len`
    characters; at most `max_items` items (a list is limited per item and by count, not in total)."""
    items = []
    for line in clean_text(raw).splitlines():
        item = re.sub(r"^\s*(?:[-*•·、]|\d+[.)、．])\s*", "", line).strip()
        if not item:
            continue
        if len(item) > max_len:
            raise InvalidInput("line_too_long", max=max_len, item=item[:20], length=len(item))
        items.append(item)
    if not items:
        raise InvalidInput("empty")
    if len(items) > max_items:
        raise InvalidInput("too_many_lines", max=max_items)
    return items


def format_money(yuan: int, lang: str) -> str:
    """`50万元` in Chinese (the printed form's unit); `500,000 yuan` in English."""
    wan = Decimal(yuan) / 10_000
    text = f"{wan.normalize():f}"
    return f"{text}万元" if lang == "zh" else f"{yuan:,} yuan"


def format_area(m2: float) -> str:
    text = f"{Decimal(str(m2)).normalize():f}"
    return f"{text} m²"


def normal_label(text: str) -> str:
    """A label compared loosely: case, spaces and punctuation do not count."""
    return "".join(ch for ch in clean_text(text).casefold() if ch.isalnum())


def match_choice(raw: str, labels: dict[str, str]) -> str | None:
    """The option whose label (`labels`: normalised label → option) the text names, or None."""
    return labels.get(normal_label(raw)) if normal_label(raw) else None


_CELL_SPLIT = re.compile(r"\t|[，,、；;|｜]")


def split_cells(line: str) -> list[str]:
    """A row pasted from WPS, Excel or Word: cells separated by tabs, commas (，,), 、 or semicolons;
    runs of two or more spaces also separate cells when nothing else does."""
    line = clean_text(line)
    if not _CELL_SPLIT.search(line) and re.search(r"\s{2,}", line):
        parts = re.split(r"\s{2,}", line)
    else:
        parts = _CELL_SPLIT.split(line)
    return [p.strip() for p in parts]


def table_rows(raw: str) -> list[list[str]]:
    """The non-empty lines of a pasted table, each split into cells; a leading row number is dropped."""
    rows = []
    for line in raw.splitlines():
        if not clean_text(line):
            continue
        cells = split_cells(line)
        if len(cells) > 1 and re.fullmatch(r"\d{1,3}[.)、．]?", cells[0]):
            cells = cells[1:]
        else:
            cells[0] = re.sub(r"^\d{1,3}[.)、．]\s*", "", cells[0])
        rows.append(cells)
    return rows
