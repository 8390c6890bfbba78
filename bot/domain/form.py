"""The one declaration of the application form (附件1 申报表) and its materials.

The wizard, the progress bar, the summary and edit screen, the reviewer's view and the
printable DOCX all walk `FORM`. A field's texts live under `field.<key>.*` in `locales/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic import Field as PField

from bot.domain import values
from bot.domain.values import InvalidInput


class Kind(StrEnum):
    UNION = "union"  # choice of reviewing union, from the database
    YESNO = "yesno"  # eligibility condition
    TEXT = "text"  # one line
    LONGTEXT = "longtext"  # may come in several messages, then Done
    CHOICE = "choice"  # buttons, optionally with free-text "other"
    YEARMONTH = "yearmonth"
    AREA = "area"
    MONEY = "money"
    LINES = "lines"  # one item per line
    MEMBERS = "members"  # repeated rows of MEMBER_FIELDS
    PHOTOS = "photos"  # 3..5 images
    VIDEO = "video"
    DOCUMENT = "document"  # a file or typed text


TEXT_KINDS = {Kind.TEXT, Kind.LONGTEXT, Kind.YEARMONTH, Kind.AREA, Kind.MONEY, Kind.LINES, Kind.CHOICE}
FILE_KINDS = {Kind.PHOTOS, Kind.VIDEO, Kind.DOCUMENT}

CHOICES: dict[str, tuple[str, ...]] = {
    "gender": ("male", "female"),
    "education": ("doctor", "master", "bachelor", "college", "secondary", "high_school", "junior"),
    "title": ("senior_technician", "technician", "professor_engineer", "senior_engineer", "engineer"),
    "honour": (
        "national_model",
        "national_may1",
        "provincial_model",
        "provincial_may1",
        "city_model",
        "city_may1",
    ),
}

# Short forms of options people type, in any language (normalised as labels are)
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {"male": ("m", "男性", "man"), "female": ("f", "女性", "woman")},
}

MIN_PHOTOS, MAX_PHOTOS = 3, 5
PRINTED_MEMBER_ROWS = 6
LONG_TEXT_MAX = 2000
MAX_ITEMS = 60  # items of a LINES answer (each at most the field's `max_len` characters)
MAX_MEMBERS = 40  # rows of the members table (the printed form has PRINTED_MEMBER_ROWS, the rest on a 附页)


@dataclass(frozen=True)
class FormField:
    """One question. `section` groups fields on the summary and in the edit menu."""

    key: str
    kind: Kind
    section: str
    required: bool = True
    max_len: int = 30
    choices: str | None = None  # name in CHOICES
    allow_other: bool = False
    spec: str = ""  # the requirement this field carries, e.g. "R-F2"
    condition: str | None = None  # for YESNO: eligibility condition id
    # Where the field appears on the printed form (附件1) and in the season's roster:
    print_width: float = 0.0  # cm, its column where fields stand side by side (0: an even share)
    print_lines: int = 0  # lines of its fixed-height box (0: the shape decides); the rest goes to a 附页
    roster: bool = False  # a column of the season's roster (XLSX)
    card: bool = True  # shown on the reviewer's card (files: by name, photos as an album)
    max_items: int = MAX_ITEMS  # LINES: how many items
    # A valid answer as a person would give it, for tests that walk the declaration: the typed text;
    # for CHOICE an option (or typed text when allow_other), YESNO "yes", PHOTOS the number of photos,
    # DOCUMENT "file:<name>" or typed text, "" for an optional step that is skipped.
    sample: str = ""

    @property
    def label_key(self) -> str:
        return f"field.{self.key}.label"

    @property
    def prompt_key(self) -> str:
        return f"field.{self.key}.prompt"

    @property
    def example_key(self) -> str:
        return f"field.{self.key}.example"

    def options(self) -> tuple[str, ...]:
        return CHOICES[self.choices] if self.choices else ()

    def parse(self, raw: str, *, today: date, labels: Mapping[str, str] | None = None) -> Any:
        """Turn typed text into the stored value, or raise `InvalidInput`. `labels` (normalised label →
        option, in every language) lets a typed option label ("男", "Male") count as the button."""
        match self.kind:
            case Kind.TEXT:
                return values.parse_short_text(raw, max_len=self.max_len)
            case Kind.LONGTEXT | Kind.DOCUMENT:
                return values.parse_long_text(raw, max_len=self.max_len)
            case Kind.CHOICE:
                option = values.match_choice(raw, dict(labels or {}))
                if option in self.options():
                    return option
                text = values.parse_short_text(raw, max_len=self.max_len)
                if not self.allow_other:
                    raise InvalidInput("use_buttons")
                return text
            case Kind.YEARMONTH:
                return values.parse_year_month(raw, on=today)
            case Kind.AREA:
                return values.parse_area(raw)
            case Kind.MONEY:
                return values.parse_money(raw)
            case Kind.LINES:
                return values.parse_lines(raw, max_items=self.max_items, max_len=self.max_len)
        raise InvalidInput("use_buttons")

    def accepts_text(self) -> bool:
        return self.kind in TEXT_KINDS or self.kind is Kind.DOCUMENT


def _f(key: str, kind: Kind, section: str, spec: str, **kw: Any) -> FormField:
    return FormField(key=key, kind=kind, section=section, spec=spec, **kw)


ELIGIBILITY = tuple(
    _f(f"elig_{n}", Kind.YESNO, "eligibility", f"R-E{n}", condition=f"R-E{n}", card=False,
       sample="yes") for n in range(1, 6)
)

MEMBER_FIELDS: tuple[FormField, ...] = (
    _f("member_name", Kind.TEXT, "members", "R-F6", max_len=30, print_width=2.0, sample="李明"),
    _f("member_gender", Kind.CHOICE, "members", "R-F6", choices="gender", print_width=1.1, sample="female"),
    _f("member_birth", Kind.YEARMONTH, "members", "R-F6", print_width=1.9, sample="1985-06"),
    _f("member_education", Kind.CHOICE, "members", "R-F6", choices="education", allow_other=True,
       print_width=2.1, sample="master"),
    _f("member_title", Kind.CHOICE, "members", "R-F6", choices="title", allow_other=True, max_len=50,
       print_width=2.7, sample="高级工程师"),
    _f("member_employer", Kind.TEXT, "members", "R-F6", max_len=100, print_width=3.8, sample="大连港集团"),
    _f("member_role", Kind.TEXT, "members", "R-F6", max_len=100, print_width=3.4, sample="工艺设计"),
)

STEPS: tuple[FormField, ...] = (
    _f("union", Kind.UNION, "union", "R-W1", roster=True, card=False, sample="first"),  # the card's title names it
    *ELIGIBILITY,
    _f("applying_unit", Kind.TEXT, "unit", "R-F1", max_len=100, roster=True, sample="大连港集团有限公司"),
    _f("leader_name", Kind.TEXT, "leader", "R-F2", max_len=30, print_width=2.0, roster=True, sample="王建国"),
    _f("leader_gender", Kind.CHOICE, "leader", "R-F2", choices="gender", print_width=1.1, sample="male"),
    _f("leader_birth", Kind.YEARMONTH, "leader", "R-F2", print_width=1.9, sample="1975年3月"),
    _f("leader_education", Kind.CHOICE, "leader", "R-F2", choices="education", allow_other=True,
       print_width=2.2, sample="bachelor"),
    _f("leader_title", Kind.CHOICE, "leader", "R-F2", choices="title", allow_other=True, max_len=50,
       print_width=2.7, sample="senior_technician"),
    _f("leader_honour", Kind.CHOICE, "leader", "R-F2", choices="honour", allow_other=True, max_len=60,
       print_width=3.0, roster=True, sample="national_model"),
    _f("leader_employer", Kind.TEXT, "leader", "R-F2", max_len=100, print_width=4.1, roster=True,
       sample="大连港集团有限公司"),
    _f("achievements", Kind.LONGTEXT, "achievements", "R-F3", max_len=LONG_TEXT_MAX,
       sample="主持完成集装箱装卸工艺改造12项，获国家专利5项。"),
    _f("location", Kind.TEXT, "site", "R-F4", max_len=100, print_lines=2, roster=True, sample="大连港集装箱码头3号楼"),
    _f("area", Kind.AREA, "site", "R-F4", roster=True, sample="120平方米"),
    _f("funds", Kind.MONEY, "site", "R-F4", roster=True, sample="50万元"),
    _f("equipment", Kind.LINES, "equipment", "R-F5", max_len=100, print_lines=9,
       sample="数控机床\n三维扫描仪\n- 检测平台"),
    _f("members", Kind.MEMBERS, "members", "R-F6", roster=True),
    _f("plan", Kind.LONGTEXT, "plan", "R-F7", max_len=LONG_TEXT_MAX,
       sample="三年内完成智能码头关键技术攻关，培养技师20名。"),
    _f("photos", Kind.PHOTOS, "photos", "R-M4", sample="3"),
    _f("video", Kind.VIDEO, "photos", "R-M4", required=False),
    _f("recommendation", Kind.DOCUMENT, "documents", "R-M2", max_len=LONG_TEXT_MAX, sample="file:推荐材料.pdf"),
    _f("rules", Kind.DOCUMENT, "documents", "R-M3", max_len=LONG_TEXT_MAX,
       sample="工作室实行周例会制度，设负责人一名、技术骨干四名。"),
    _f("other_materials", Kind.DOCUMENT, "documents", "R-M5", required=False, max_len=LONG_TEXT_MAX),
    # R-F8: the applying side's two opinion boxes, written by the unit and its basic-level union
    _f("unit_opinion", Kind.TEXT, "opinions", "R-F8", max_len=200, sample="同意申报"),
    _f("union_opinion", Kind.TEXT, "opinions", "R-F8", max_len=200, sample="同意推荐"),
)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(f.section for f in STEPS))
BY_KEY: dict[str, FormField] = {f.key: f for f in (*STEPS, *MEMBER_FIELDS)}


def roster_fields() -> tuple[FormField, ...]:
    """The fields that are columns of the season's roster, in the declaration's order."""
    return tuple(f for f in STEPS if f.roster)


def step_index(key: str) -> int:
    """1-based position for the progress bar."""
    return next(i for i, f in enumerate(STEPS, start=1) if f.key == key)


def previous_step(key: str) -> str | None:
    """The step before `key` (the last one before the summary), None before the first."""
    keys = [f.key for f in STEPS]
    if key == "summary":
        return keys[-1]
    idx = keys.index(key)
    return keys[idx - 1] if idx > 0 else None


def section_fields(section: str) -> tuple[FormField, ...]:
    return tuple(f for f in STEPS if f.section == section)


def is_answered(f: FormField, answers: Mapping[str, Any], files: Mapping[str, int]) -> bool:
    """Whether the draft holds an answer for `f` (files are counted per field)."""
    if f.kind is Kind.PHOTOS:
        return files.get(f.key, 0) >= MIN_PHOTOS
    if f.kind is Kind.VIDEO:
        return files.get(f.key, 0) > 0 or f.key in answers
    if f.kind is Kind.DOCUMENT:
        return files.get(f.key, 0) > 0 or bool(answers.get(f.key)) or (not f.required and f.key in answers)
    if f.kind is Kind.MEMBERS:
        return bool(answers.get(f.key))
    return f.key in answers and answers[f.key] not in (None, "", [])


def first_unanswered(answers: Mapping[str, Any], files: Mapping[str, int]) -> FormField | None:
    for f in STEPS:
        if not is_answered(f, answers, files):
            return f
    return None


def failed_conditions(answers: Mapping[str, Any]) -> list[str]:
    return [f.condition or f.key for f in ELIGIBILITY if answers.get(f.key) is False]


# --- pydantic model of a complete application, built from the same declaration ---

def _member_model() -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for f in MEMBER_FIELDS:
        fields[f.key.removeprefix("member_")] = _annotation(f)
    return create_model("MemberRow", __config__=ConfigDict(extra="forbid"), **fields)


def _annotation(f: FormField) -> tuple[Any, Any]:
    match f.kind:
        case Kind.UNION:
            return (int, PField(gt=0))
        case Kind.YESNO:
            return (bool, ...)
        case Kind.TEXT | Kind.CHOICE:
            return (str, PField(min_length=1, max_length=f.max_len))
        case Kind.LONGTEXT:
            return (str, PField(min_length=1, max_length=f.max_len))
        case Kind.YEARMONTH:
            return (str, PField(pattern=r"^\d{4}-(0[1-9]|1[0-2])$"))
        case Kind.AREA:
            return (float, PField(gt=0))
        case Kind.MONEY:
            return (int, PField(ge=0))
        case Kind.LINES:
            return (list[str], PField(min_length=1))
    raise AssertionError(f.kind)


MemberRow = _member_model()


def _answers_model() -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for f in STEPS:
        if f.kind in (Kind.PHOTOS, Kind.VIDEO, Kind.DOCUMENT):
            continue
        if f.kind is Kind.MEMBERS:
            fields[f.key] = (list[MemberRow], PField(min_length=1))  # type: ignore[valid-type]
        else:
            fields[f.key] = _annotation(f)
    return create_model("ApplicationAnswers", __config__=ConfigDict(extra="ignore"), **fields)


ApplicationAnswers = _answers_model()


def validate_complete(answers: Mapping[str, Any]) -> list[str]:
    """Keys of fields that are missing or invalid in a stored draft (empty when complete)."""
    try:
        ApplicationAnswers.model_validate(dict(answers))
    except ValidationError as exc:
        return sorted({str(err["loc"][0]) for err in exc.errors()})
    return []


def parse_member_cells(cells: list[str], *, today: date, labels: Mapping[str, Mapping[str, str]]
                       ) -> tuple[dict[str, Any], dict[str, InvalidInput]]:
    """One pasted row of the members table (cells in MEMBER_FIELDS order; more cells than columns are
    kept in the last, free-text one): the stored row (short keys, as the step-by-step way stores them)
    and the errors by field key. `labels`: per field key, normalised option label → option."""
    n = len(MEMBER_FIELDS)
    if len(cells) > n:
        cells = [*cells[: n - 1], "、".join(c for c in cells[n - 1 :] if c)]
    row: dict[str, Any] = {}
    errors: dict[str, InvalidInput] = {}
    for i, f in enumerate(MEMBER_FIELDS):
        raw = cells[i] if i < len(cells) else ""
        if not raw.strip():
            errors[f.key] = InvalidInput("empty")
            continue
        try:
            row[f.key.removeprefix("member_")] = f.parse(raw, today=today, labels=labels.get(f.key))
        except InvalidInput as exc:
            errors[f.key] = InvalidInput("choice_unknown") if exc.code == "use_buttons" else exc
    return row, errors


def member_row(data: Mapping[str, Any]) -> dict[str, Any]:
    """A member row keyed like MEMBER_FIELDS (`member_name` …) from stored data."""
    return {f.key: data.get(f.key.removeprefix("member_")) for f in MEMBER_FIELDS}

