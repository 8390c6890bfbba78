"""Studios named before the bot existed (R-D5, R-O): the federation's roster read from XLSX, every row
checked, applied all or nothing (or with the bad rows left out when asked), and idempotent: a studio
already in the registry (same name and year named) is not added again, and the same file imported
twice changes nothing. Imported studios then file year reports and are inspected like the others.
No Telegram here."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import results as dom
from bot.domain.calendar import FIRST_YEAR
from bot.i18n import Markup, Translator
from storage import repo
from storage.models import Studio, User

MAX_ROWS = 2000
MAX_BYTES = 5 * 1024 * 1024
ACTIVE, DELISTED = "active", "delisted"
# column key → header names accepted (Chinese or English, case and spaces ignored); the template's
# headers are the first of each
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("工作室名称", "studio name", "name"),
    "leader": ("领军劳模", "leader"),
    "unit": ("依托单位", "host unit", "unit"),
    "basic_union": ("基层工会", "basic union"),
    "union": ("区市县/产业工会", "district or industry union", "union"),
    "year": ("命名年度", "year named", "year"),
    "plaque_on": ("挂牌日期", "plaque date"),
    "status": ("状态", "status"),
    "leader_tg": ("负责人 Telegram ID", "leader's telegram id", "leader telegram id"),
}
REQUIRED = ("name", "leader", "unit", "union", "year")
STATUS_WORDS = {"": ACTIVE, "在牌": ACTIVE, "正常": ACTIVE, "active": ACTIVE,
                "摘牌": DELISTED, "已摘牌": DELISTED, "delisted": DELISTED}
LIMITS = {"name": 200, "leader": 100, "unit": 200, "basic_union": 200}
RESULT_SHEETS = {"成果", "results", "成果登记"}  # the optional sheet of the studios' past results


@dataclass(frozen=True)
class Problem:
    row: int  # the spreadsheet's row number (the header is row 1); 0: the file as a whole
    key: str  # locale key under import.error.
    params: dict[str, Any] = field(default_factory=dict)
    sheet: str = ""  # "results": a row of the results sheet


@dataclass(frozen=True)
class Entry:
    row: int
    name: str
    leader: str
    unit: str
    basic_union: str | None
    union_id: int
    year: int
    plaque_on: date | None
    status: str
    leader_tg: int | None

    @property
    def named_on(self) -> date:
        """The plaque date when known, else the end of the year named (a studio named in a year
        files its reports from the next year, R-D5)."""
        return self.plaque_on or date(self.year, 12, 31)


@dataclass
class Outcome:
    problems: list[Problem]
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped_rows: int = 0
    applied: bool = False  # False: refused as a whole, nothing changed
    results_added: int = 0
    results_unchanged: int = 0


def _norm(text: Any) -> str:
    return "".join(str(text or "").split()).lower()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    return str(value).strip()


def read_rows(data: bytes) -> tuple[dict[str, int], list[tuple[int, list[Any]]], list[Problem]]:
    """The header's columns and the data rows (row number, values) of the first sheet."""
    from openpyxl import load_workbook

    if len(data) > MAX_BYTES:
        return {}, [], [Problem(0, "too_big", {"mb": MAX_BYTES // (1024 * 1024)})]
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is refused the same way
        return {}, [], [Problem(0, "not_xlsx")]
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None) or ()
    aliases = {_norm(a): key for key, names in COLUMNS.items() for a in names}
    cols: dict[str, int] = {}
    for i, h in enumerate(header):
        key = aliases.get(_norm(h))
        if key is not None and key not in cols:
            cols[key] = i
    missing = [k for k in REQUIRED if k not in cols]
    if missing:
        return cols, [], [Problem(0, "columns", {"columns": missing})]
    out: list[tuple[int, list[Any]]] = []
    for n, values in enumerate(rows, start=2):
        if values is None or all(_cell(v) == "" for v in values):
            continue
        out.append((n, list(values)))
        if len(out) > MAX_ROWS:
            return cols, [], [Problem(0, "too_many", {"max": MAX_ROWS})]
    wb.close()
    if not out:
        return cols, [], [Problem(0, "empty")]
    return cols, out, []


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    from bot.domain.values import parse_date_or_none

    return parse_date_or_none(_cell(value))


async def check(s: AsyncSession, data: bytes, today: date) -> tuple[list[Entry], list[Problem]]:
    """Every row read and checked; the entries of the good rows and the problems of the bad ones."""
    cols, rows, problems = read_rows(data)
    if problems:
        return [], problems
    unions: dict[str, int] = {}
    for u in await repo.all_unions(s):
        for alias in (u.name_zh, u.name_en, u.code):
            unions[_norm(alias)] = u.id
    entries: list[Entry] = []
    seen: dict[tuple[str, int], int] = {}
    for n, row in rows:
        entry, bad = _check_row(n, _RowCells(cols, row), unions, seen, today)
        if entry is None:
            problems += bad
        else:
            entries.append(entry)
    return entries, problems


@dataclass
class _RowCells:
    """One roster row read by column key."""

    cols: dict[str, int]
    values: list[Any]

    def get(self, key: str) -> Any:
        i = self.cols.get(key)
        return self.values[i] if i is not None and i < len(self.values) else None


def _check_row(n: int, row: _RowCells, unions: dict[str, int], seen: dict[tuple[str, int], int],
               today: date) -> tuple[Entry | None, list[Problem]]:
    """A row's entry, or None and what is wrong with it (`seen` remembers the studios of earlier rows)."""
    bad: list[Problem] = []
    text = {k: _cell(row.get(k)) for k in ("name", "leader", "unit", "basic_union", "union", "status", "leader_tg")}
    bad += [Problem(n, "required", {"column": k}) for k in REQUIRED if k != "year" and not text[k]]
    bad += [Problem(n, "too_long", {"column": k, "max": limit}) for k, limit in LIMITS.items()
            if len(text[k]) > limit]
    union_id = unions.get(_norm(text["union"])) if text["union"] else None
    if text["union"] and union_id is None:
        bad.append(Problem(n, "union", {"value": text["union"]}))
    raw_year = _cell(row.get("year"))
    year = int(raw_year) if raw_year.isdigit() else 0
    if not FIRST_YEAR <= year <= today.year:
        bad.append(Problem(n, "year", {"value": raw_year, "min": FIRST_YEAR, "max": today.year}))
    plaque_on = _check_plaque(n, row.get("plaque_on"), year, today, bad)
    status = STATUS_WORDS.get(_norm(text["status"]))
    if status is None:
        bad.append(Problem(n, "status", {"value": text["status"]}))
    tg = text["leader_tg"]
    if tg and not (tg.isdigit() and 0 < int(tg) < 10**15):
        bad.append(Problem(n, "telegram", {"value": tg}))
    key = (_norm(text["name"]), year)
    if text["name"] and year and key in seen:
        bad.append(Problem(n, "duplicate", {"other": seen[key]}))
    seen.setdefault(key, n)
    if bad:
        return None, bad
    assert union_id is not None and status is not None
    return Entry(n, text["name"], text["leader"], text["unit"], text["basic_union"] or None, union_id,
                 year, plaque_on, status, int(tg) if tg else None), []


def _check_plaque(n: int, plaque: Any, year: int, today: date, bad: list[Problem]) -> date | None:
    """The plaque date of a row, when given and sound; what is wrong with it goes to `bad`."""
    if not _cell(plaque):
        return None
    plaque_on = _date(plaque)
    if plaque_on is None:
        bad.append(Problem(n, "date", {"value": _cell(plaque)}))
    elif year and not (year <= plaque_on.year <= year + 1 and plaque_on <= today):
        bad.append(Problem(n, "plaque_year", {"value": plaque_on.isoformat(), "year": year}))
    return plaque_on


def _values(e: Entry) -> dict[str, Any]:
    return {"name": e.name, "leader_name": e.leader, "unit": e.unit, "basic_union": e.basic_union,
            "union_id": e.union_id, "named_year": e.year, "named_on": e.named_on, "plaque_on": e.plaque_on,
            "status": e.status, **({"leader_id": e.leader_tg} if e.leader_tg else {})}


async def run(s: AsyncSession, data: bytes, actor_id: int | None, now: datetime, today: date, *,
              skip_bad: bool = False) -> Outcome:
    """Check the roster and, when every row is good (or `skip_bad`), bring its studios in. The
    caller commits."""
    entries, problems = await check(s, data, today)
    past, result_problems = await check_results(s, data, today, {(_norm(e.name)) for e in entries})
    problems += result_problems
    out = Outcome(problems)
    if any(p.row == 0 for p in problems) or (problems and not skip_bad):
        return out
    out.skipped_rows = len({p.row for p in problems})
    studios = (await s.scalars(select(Studio))).all()
    by_key = {(_norm(x.name), x.named_year or x.named_on.year): x for x in studios}
    for e in entries:
        if e.leader_tg and await s.get(User, e.leader_tg) is None:
            s.add(User(id=e.leader_tg, first_name=e.leader, created_at=now))
            await s.flush()
        found = by_key.get((_norm(e.name), e.year))
        if found is None:
            st = Studio(application_id=None, imported_at=now, **_values(e))
            s.add(st)
            by_key[(_norm(e.name), e.year)] = st
            out.added.append(e.name)
            continue
        if found.application_id is not None:  # named through the bot: its own record stands
            out.unchanged.append(e.name)
            continue
        changes = {k: v for k, v in _values(e).items() if getattr(found, k) != v}
        if not changes:
            out.unchanged.append(e.name)
            continue
        for k, v in changes.items():
            setattr(found, k, v)
        out.updated.append(e.name)
    await s.flush()
    await _import_results(s, past, by_key, out, actor_id, now, today)
    repo.audit(s, now, "studios_imported", actor_id=actor_id,
               details={"added": len(out.added), "updated": len(out.updated), "unchanged": len(out.unchanged),
                        "skipped_rows": out.skipped_rows, "results": out.results_added})
    out.applied = True
    return out


def report(t: Translator, out: Outcome, *, shown: int = 30, plain: bool = False) -> str:
    """The per-row report: HTML for chat (values escaped), or plain text for the terminal."""
    say = t.plain if plain else t
    lines: list[str] = []
    if out.applied:
        lines.append(say("import.done", added=len(out.added), updated=len(out.updated),
                         unchanged=len(out.unchanged), skipped=out.skipped_rows))
        if out.results_added or out.results_unchanged:
            lines.append(say("import.results_done", added=out.results_added, unchanged=out.results_unchanged))
    elif out.problems:
        whole = any(p.row == 0 for p in out.problems)
        lines.append(say("import.refused_file" if whole else "import.refused", n=len({p.row for p in out.problems})))
    for p in out.problems[:shown]:
        params = dict(p.params)
        if "column" in params:
            params["column"] = t.plain(f"import.column.{params['column']}")
        if "columns" in params:
            params["columns"] = t.join([t.plain(f"import.column.{k}") for k in params["columns"]])
        if "field" in params:
            params["field"] = t.plain(f"result.field.{params['field']}")
        if "why" in params:
            params["why"] = t.plain(params["why"], **params.pop("why_params", {}))
        text = say(f"import.error.{p.key}", **params)
        line = "import.result_line" if p.sheet == "results" else "import.line"
        lines.append(say(line, row=p.row, text=text if plain else Markup(text)) if p.row else text)
    if len(out.problems) > shown:
        lines.append(say("import.more", n=len(out.problems) - shown))
    return "\n".join(lines)


def template(t: Translator) -> bytes:
    """The roster template: the headers, one example row, and a sheet of instructions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t.plain("import.template.sheet")
    ws.append([t.plain(f"import.column.{k}") for k in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    if t.lang == "zh":
        ws.append(["王建国劳模创新工作室", "王建国", "大连港集团有限公司", "大连港集团工会", "中山区总工会", 2011,
                   date(2011, 12, 26), "在牌", None])
    else:
        ws.append(["Wang Jianguo Model Worker Innovation Studio", "Wang Jianguo", "Dalian Port Group",
                   "Dalian Port Group trade union", "Zhongshan District Union", 2011, date(2011, 12, 26), "active",
                   None])
    for col, width in zip("ABCDEFGHI", (28, 12, 26, 22, 20, 10, 14, 8, 20), strict=True):
        ws.column_dimensions[col].width = width
    ws["G2"].number_format = "yyyy-mm-dd"
    past = wb.create_sheet(t.plain("import.template.results_sheet"))
    past.append([t.plain("import.column.name"), *(t.plain(f"result.field.{f.key}") for f in dom.TYPED)])
    for cell in past[1]:
        cell.font = Font(bold=True)
    example = {"title": t.plain("import.template.result_title"), "kind": t.plain("result.kind.method"),
               "on": date(2012, 6, 1), "level": t.plain("result.level.provincial"),
               "body": t.plain("import.template.result_body"), "in_use": t.plain("result.yes"), "benefit": 12.5}
    past.append([ws["A2"].value, *(example.get(f.key) for f in dom.TYPED)])
    past["D2"].number_format = "yyyy-mm-dd"
    past.column_dimensions["A"].width = 28
    past.column_dimensions["B"].width = 24
    notes = wb.create_sheet(t.plain("import.template.notes_sheet"))
    for line in t.plain("import.template.notes", first=FIRST_YEAR).split("\n"):
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- past results (成果)


@dataclass(frozen=True)
class PastResult:
    row: int
    studio: str  # the studio's name, normalised
    record: dict[str, Any]


def _aliases(t_all: Sequence[Translator]) -> dict[str, str]:
    """Header → field key: the field's label in each language, its key, and the studio's name column."""
    out = {_norm(a): "studio" for a in COLUMNS["name"]}
    for f in dom.TYPED:
        out[_norm(f.key)] = f.key
        for t in t_all:
            out[_norm(t.plain(f"result.field.{f.key}"))] = f.key
    return out


def _options(t_all: Sequence[Translator]) -> dict[str, dict[str, str]]:
    """For each choice field, its options by label (each language) and by key."""
    out: dict[str, dict[str, str]] = {}
    for f in dom.TYPED:
        if f.options:
            out[f.key] = {_norm(o): o for o in f.options}
            for t in t_all:
                out[f.key].update({_norm(t.plain(f"result.{f.key}.{o}")): o for o in f.options})
    return out


YES = {"是", "已转化", "已推广", "yes", "y", "true", "1", "√"}
NO = {"否", "未转化", "no", "n", "false", "0", ""}


def _results_sheet(data: bytes) -> tuple[list[Any], list[tuple[int, list[Any]]]] | None:
    """The header and rows of the results sheet (named 成果 or Results), if the file has one."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - the roster's own check reports an unreadable file
        return None
    try:
        ws = next((w for w in wb.worksheets if _norm(w.title) in RESULT_SHEETS), None)
        if ws is None:
            return None
        rows = ws.iter_rows(values_only=True)
        header = list(next(rows, None) or ())
        body = [(n, list(v)) for n, v in enumerate(rows, start=2) if v and any(_cell(x) for x in v)]
        return header, body[: MAX_ROWS + 1]
    finally:
        wb.close()


async def check_results(s: AsyncSession, data: bytes, today: date, named: set[str]) -> tuple[list[PastResult],
                                                                                             list[Problem]]:
    """The results sheet's rows checked as the declaration checks a result typed in chat (R-E5); each
    names a studio of the roster or of the registry."""
    from bot.i18n import I18n

    found = _results_sheet(data) if len(data) <= MAX_BYTES else None
    if found is None:
        return [], []
    header, rows = found
    langs = [I18n().get(x) for x in ("zh", "en")]
    aliases, options = _aliases(langs), _options(langs)
    cols = {aliases[_norm(h)]: i for i, h in reversed(list(enumerate(header))) if _norm(h) in aliases}
    if "studio" not in cols or "title" not in cols:
        return [], [Problem(0, "result_columns")]
    if len(rows) > MAX_ROWS:
        return [], [Problem(0, "too_many", {"max": MAX_ROWS})]
    known = named | {_norm(x) for x in (await s.scalars(select(Studio.name))).all()}
    out: list[PastResult] = []
    problems: list[Problem] = []
    for n, values in rows:
        raw = {k: values[i] if i < len(values) else None for k, i in cols.items()}
        studio = _norm(_cell(raw.pop("studio", None)))
        if studio not in known:
            problems.append(Problem(n, "result_studio", {"value": _cell(values[cols["studio"]])}, "results"))
            continue
        record: dict[str, Any] = {}
        for key, value in raw.items():
            f = dom.BY_KEY[key]
            if f.ask is dom.Ask.DATE and isinstance(value, (date, datetime)):
                record[key] = (value.date() if isinstance(value, datetime) else value).isoformat()
            elif f.options:
                text = _cell(value)
                record[key] = options[key].get(_norm(text), text) if text else None
            elif f.ask is dom.Ask.YESNO:
                word = _norm(_cell(value))
                record[key] = True if word in YES else False if word in NO else word
            else:
                record[key] = _cell(value) or None
        try:
            out.append(PastResult(n, studio, dom.validate(record, today)))
        except dom.Invalid as exc:
            params = dict(exc.params)
            problems.append(Problem(n, "result", {"field": params.pop("field", "title"), "why": exc.key,
                                                  "why_params": params}, "results"))
    return out, problems


async def _import_results(s: AsyncSession, past: list[PastResult], studios: Mapping[tuple[str, int], Studio],
                          out: Outcome, actor_id: int | None, now: datetime, today: date) -> None:
    """The past results under their studios; one already on record (same studio, title and date) stays."""
    from bot.services import results as svc_results

    by_name: dict[str, Studio] = {}
    for (name, _), st in sorted(studios.items(), key=lambda x: x[0][1]):
        by_name[name] = st  # the latest named of that name
    for p in past:
        studio = by_name[p.studio]
        held = {(r.title, r.on.isoformat()) for r in await svc_results.of_studio(s, studio)}
        if (p.record["title"], p.record["on"]) in held:
            out.results_unchanged += 1
            continue
        await svc_results.add(s, p.record, today=today, now=now, actor_id=actor_id, studio=studio, source="import")
        out.results_added += 1
