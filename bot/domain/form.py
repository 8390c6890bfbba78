"""The one declaration of the application form (附件1 申报表) and its materials.

The wizard, the progress bar, the summary and edit screen, the reviewer's view and the
printable DOCX all walk `FORM`. A field's texts live under `field.<key>.*` in `locales/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic import Field as PField

from bot.domain.kinds import KINDS, Ask, Kind, KindSpec
from bot.domain.values import InvalidInput

__all__ = ["Ask", "Kind", "KindSpec"]

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
    caption: str = ""  # its caption on the printed form (Chinese, as printed); "" when it is not printed
    # a check of the parsed answer beyond its kind's: raises `InvalidInput` (e.g. a phone number's shape)
    check: Callable[[Any], None] | None = None

    @property
    def kind_spec(self) -> KindSpec:
        """How its kind is asked, parsed, stored and shown (`bot.domain.kinds`)."""
        return KINDS[self.kind]

    @property
    def ask(self) -> Ask:
        """How the wizard asks it: the screen its kind uses."""
        return KINDS[self.kind].ask

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
        option, in every language) lets a typed option label ("男", "Male") count as the button.
        The field's own `check` follows its kind's."""
        if self.kind_spec.parse is None:
            raise InvalidInput("use_buttons")
        value = self.kind_spec.parse(self, raw, today, labels)
        if self.check is not None:
            self.check(value)
        return value

    def accepts_text(self) -> bool:
        return self.kind_spec.typed

    def sample_value(self, today: date) -> Any:
        """The stored value of the declared `sample` (None: a union, a file, or a skipped step)."""
        if self.ask is Ask.YESNO:
            return self.sample != "no"
        if self.ask is Ask.MEMBERS:
            return [{mf.key.removeprefix("member_"): mf.sample_value(today) for mf in MEMBER_FIELDS}]
        if self.ask is Ask.UNION or not self.sample or self.sample.startswith("file:") or (
                self.kind_spec.file and self.ask is not Ask.DOCUMENT):
            return None
        if self.sample in self.options():
            return self.sample
        return self.parse(self.sample, today=today)


def _f(key: str, kind: Kind, section: str, spec: str, **kw: Any) -> FormField:
    return FormField(key=key, kind=kind, section=section, spec=spec, **kw)


ELIGIBILITY = tuple(
    _f(f"elig_{n}", Kind.YESNO, "eligibility", f"R-E{n}", condition=f"R-E{n}", card=False,
       sample="yes") for n in range(1, 6)
)

MEMBER_FIELDS: tuple[FormField, ...] = (
    _f("member_name", Kind.TEXT, "members", "R-F6", max_len=30, print_width=2.0, sample="李明",
       caption="姓名"),
    _f("member_gender", Kind.CHOICE, "members", "R-F6", choices="gender", print_width=1.1,
       sample="female", caption="性别"),
    _f("member_birth", Kind.YEARMONTH, "members", "R-F6", print_width=1.9, sample="1985-06",
       caption="出生年月"),
    _f("member_education", Kind.CHOICE, "members", "R-F6", choices="education", allow_other=True,
       print_width=2.1, sample="master", caption="学历"),
    _f("member_title", Kind.CHOICE, "members", "R-F6", choices="title", allow_other=True, max_len=50,
       print_width=2.7, sample="高级工程师", caption="职称/技术等级"),
    _f("member_employer", Kind.TEXT, "members", "R-F6", max_len=100, print_width=3.8,
       sample="大连港集团", caption="所在单位"),
    _f("member_role", Kind.TEXT, "members", "R-F6", max_len=100, print_width=3.4,
       sample="工艺设计", caption="主要分工"),
)

STEPS: tuple[FormField, ...] = (
    _f("union", Kind.UNION, "union", "R-W1", roster=True, card=False, sample="first"),  # the card's title names it
    *ELIGIBILITY,
    _f("applying_unit", Kind.TEXT, "unit", "R-F1", max_len=100, roster=True,
       sample="大连港集团有限公司", caption="申报单位"),
    _f("leader_name", Kind.TEXT, "leader", "R-F2", max_len=30, print_width=2.0, roster=True,
       sample="王建国", caption="姓名"),
    _f("leader_gender", Kind.CHOICE, "leader", "R-F2", choices="gender", print_width=1.1, sample="male",
       caption="性别"),
    _f("leader_birth", Kind.YEARMONTH, "leader", "R-F2", print_width=1.9, sample="1975年3月",
       caption="出生年月"),
    _f("leader_education", Kind.CHOICE, "leader", "R-F2", choices="education", allow_other=True,
       print_width=2.2, sample="bachelor", caption="学历"),
    _f("leader_title", Kind.CHOICE, "leader", "R-F2", choices="title", allow_other=True, max_len=50,
       print_width=2.7, sample="senior_technician", caption="职称/技术等级"),
    _f("leader_honour", Kind.CHOICE, "leader", "R-F2", choices="honour", allow_other=True, max_len=60,
       print_width=3.0, roster=True, sample="national_model", caption="劳模最高荣誉"),
    _f("leader_employer", Kind.TEXT, "leader", "R-F2", max_len=100, print_width=4.1, roster=True,
       sample="大连港集团有限公司", caption="所在单位"),
    _f("achievements", Kind.LONGTEXT, "achievements", "R-F3", max_len=LONG_TEXT_MAX,
       sample="主持完成集装箱装卸工艺改造12项，获国家专利5项。", caption="主要工作成绩和成果"),
    _f("location", Kind.TEXT, "site", "R-F4", max_len=100, print_lines=2, roster=True,
       sample="大连港集装箱码头3号楼", caption="工作地点"),
    _f("area", Kind.AREA, "site", "R-F4", roster=True, sample="120平方米", caption="面积"),
    _f("funds", Kind.MONEY, "site", "R-F4", roster=True, sample="50万元", caption="配套资金"),
    _f("equipment", Kind.LINES, "equipment", "R-F5", max_len=100, print_lines=9,
       sample="数控机床\n三维扫描仪\n- 检测平台", caption="工作设备清单"),
    _f("members", Kind.MEMBERS, "members", "R-F6", roster=True, caption="工作室参与人员情况："),
    _f("plan", Kind.LONGTEXT, "plan", "R-F7", max_len=LONG_TEXT_MAX,
       sample="三年内完成智能码头关键技术攻关，培养技师20名。", caption="主要工作计划和工作目标"),
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
    if f.ask is Ask.PHOTOS:
        return files.get(f.key, 0) >= MIN_PHOTOS
    if f.ask is Ask.VIDEO:
        return files.get(f.key, 0) > 0 or f.key in answers
    if f.ask is Ask.DOCUMENT:
        return files.get(f.key, 0) > 0 or bool(answers.get(f.key)) or (not f.required and f.key in answers)
    if f.ask is Ask.MEMBERS:
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
    if f.kind_spec.annotation is None:
        raise AssertionError(f"{f.kind} has no stored answer of its own")
    return f.kind_spec.annotation(f)


MemberRow = _member_model()


def _answers_model() -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for f in STEPS:
        if f.kind_spec.file:
            continue
        if f.ask is Ask.MEMBERS:
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

