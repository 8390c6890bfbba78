"""Typed callback data: one codec for every inline button (`rv:approve:12` style).

Decoding never trusts the data: anything malformed gives `None`; handlers still re-check the
database and the acting user's role before doing anything.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

from bot.domain.workflow import Action

_SAFE = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


class Codec:
    """Base for callback payloads; subclasses declare `prefix` and typed fields."""

    prefix: ClassVar[str]
    registry: ClassVar[dict[str, type[Codec]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.prefix in Codec.registry:
            raise ValueError(f"duplicate callback prefix {cls.prefix}")
        Codec.registry[cls.prefix] = cls

    def encode(self) -> str:
        parts = [self.prefix]
        for name, _ in _fields(type(self)):  # type: ignore[arg-type]  # classes are hashable
            value = getattr(self, name)
            parts.append("" if value is None else value.value if isinstance(value, StrEnum) else str(value))
        data = ":".join(parts)
        if len(data.encode()) > 64:
            raise ValueError(f"callback data too long: {data}")
        return data

    @classmethod
    def pattern(cls) -> str:
        return f"^{re.escape(cls.prefix)}(:|$)"


_INT = re.compile(r"-?[0-9]{1,12}")  # ASCII only: "１" is no id this bot made


def _int(raw: str) -> int:
    if not _INT.fullmatch(raw):
        raise ValueError(raw)
    return int(raw)


def _str(raw: str) -> str:
    if not _SAFE.match(raw):
        raise ValueError(raw)
    return raw


def _converter(tp: Any) -> Callable[[str], Any]:
    """How a field of type `tp` is read back from its text (raising ValueError when it cannot be)."""
    if get_origin(tp) in (Union, types.UnionType):
        inner = _converter(next(a for a in get_args(tp) if a is not type(None)))
        return lambda raw: None if raw == "" else inner(raw)
    if tp is int:
        return _int
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return tp
    if tp is str:
        return _str
    raise TypeError(tp)


@functools.cache
def _fields(cls: type[Codec]) -> tuple[tuple[str, Callable[[str], Any]], ...]:
    """Each field's name and reader, worked out once per class."""
    hints = get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def decode(data: str | None) -> Codec | None:
    """The payload for `data`, or None when it is not one this bot could have made."""
    if not data or len(data) > 64:
        return None
    prefix, _, rest = data.partition(":")
    cls = Codec.registry.get(prefix)
    if cls is None:
        return None
    fields = _fields(cls)  # type: ignore[arg-type]  # a class is hashable; mypy reads the instances' __hash__
    raw = rest.split(":") if rest or fields else []
    if len(raw) != len(fields):
        return None
    try:
        return cls(**{name: read(r) for (name, read), r in zip(fields, raw, strict=True)})
    except (ValueError, TypeError):
        return None


class WizardOp(StrEnum):
    UNION = "u"
    YES = "y"
    NO = "n"
    CHOICE = "c"
    OTHER = "o"
    DONE = "d"
    BACK = "b"
    SKIP = "s"
    KEEP = "k"
    SUMMARY = "sum"
    EDIT = "e"
    MEMBER_ADD = "ma"
    MEMBER_EDIT = "me"
    MEMBER_DEL = "md"
    MEMBER_FIELD = "mf"
    FILE_DEL = "fd"
    SUBMIT = "sub"
    CONFIRM = "ok"
    RESUME = "res"
    CLEAR = "clr"
    FULL = "full"  # v: a field whose whole answer is sent (the summary shows it cut)
    ALBUM = "alb"  # the uploaded photos sent as an album
    ITEM_PICK = "ip"  # v: the index of a list item (equipment) to replace or remove
    ITEM_DEL = "id"  # v: the index of a list item to remove
    PASTE_OK = "po"  # add the valid rows of a pasted members table
    PASTE_FIX = "pf"  # v: the index of a pasted row to complete step by step
    PASTE_DROP = "px"  # discard the pasted rows
    FIELD = "ef"  # v: a field to change on its own, from the summary


@dataclass(frozen=True)
class Wiz(Codec):
    """A button inside the applicant's wizard; `v` carries the argument, `app` the draft it belongs to."""

    prefix: ClassVar[str] = "f"
    app: int
    op: WizardOp
    v: str | None = None
    at: str | None = None  # the question the button was shown with; a press on an older one is refused


@dataclass(frozen=True)
class Lang(Codec):
    prefix: ClassVar[str] = "lang"
    code: str


class ReviewOp(StrEnum):
    FULL = "full"
    DEFAULT = "dflt"  # one-tap default opinion
    CANCEL = "cancel"
    CONFIRM = "ok"  # record the decision shown on the confirmation screen
    PHOTOS = "pho"  # the photos again, on request
    FILES = "fil"  # the documents again, on request


@dataclass(frozen=True)
class Review(Codec):
    """A reviewer's button: an action of the workflow table on an application."""

    prefix: ClassVar[str] = "rv"
    action: Action
    app: int


@dataclass(frozen=True)
class ReviewAux(Codec):
    prefix: ClassVar[str] = "rx"
    op: ReviewOp
    app: int


class AdminOp(StrEnum):
    MENU = "menu"
    UNIONS = "unions"  # the list of unions (n: page)
    UNION = "u"  # one union (n: its id)
    KEEP = "keep"  # keep the current value while typing
    UADD = "uadd"  # add a union (key: its kind)
    UREN = "uren"
    UOFF = "uoff"
    UON = "uon"
    INV = "inv"  # invite: choose the role
    INVR = "invr"  # (key: the role)
    INVU = "invu"  # (n: the union)
    INVP = "invp"  # (n: page of unions)
    PPL = "ppl"  # people by role
    PPLR = "pplr"  # (key: the role, n: page)
    RVK = "rvk"  # revoke a grant (n: its id), then confirm
    RVKY = "rvky"
    SEASON = "season"  # (n: year)
    SDATE = "sd"  # set a date of the season (n: year, key: the field)
    SFY = "sfy"  # first-year flag (n: year)
    IMP = "imp"  # import earlier studios
    IMPT = "impt"  # its template
    IMPS = "imps"  # import skipping the bad rows
    SNOTICE = "sn"  # the season's notice period (n: year)
    CONTACT = "ct"  # the office's contact person
    CSET = "cs"  # set a part of it (key: name, phone or email)


@dataclass(frozen=True)
class Admin(Codec):
    """An administrator's button: what to do, and on what (`n`: an id, a page or a year; `key`: a role,
    a kind of union or a season's date)."""

    prefix: ClassVar[str] = "adm"
    op: AdminOp
    n: int | None = None
    key: str | None = None


@dataclass(frozen=True)
class Status(Codec):
    prefix: ClassVar[str] = "st"
    app: int


@dataclass(frozen=True)
class ReviewSection(Codec):
    """A section toggle when a reviewer returns an application for revision."""

    prefix: ClassVar[str] = "rs"
    app: int
    section: str


@dataclass(frozen=True)
class ReviewStep(Codec):
    """Change one part of a decision (`step`: opinion, name, date, reopen) on its confirmation screen."""

    prefix: ClassVar[str] = "rt"
    app: int
    step: str


@dataclass(frozen=True)
class ReviewMore(Codec):
    """Show a long answer of the reviewer's card in full (`key`: the form field)."""

    prefix: ClassVar[str] = "rm"
    app: int
    key: str


@dataclass(frozen=True)
class PendingPage(Codec):
    """A page of `/pending`."""

    prefix: ClassVar[str] = "pp"
    page: int


@dataclass(frozen=True)
class PendingOpen(Codec):
    """An application of the `/pending` list: its card, in place of the list."""

    prefix: ClassVar[str] = "po"
    app: int


# --------------------------------------------------------------------------- studios and reminders
# (conversations/report.py, inspect.py, reminders.py: /report, /inspect, /reminders)


class ReportOp(StrEnum):
    START = "go"  # open the year report of studio `ref`
    DONE = "d"
    CLEAR = "clr"
    NONE = "none"  # no results recognised this year
    SKIP = "s"  # no photos or documents
    KEEP = "k"  # keep the ownership statement already on record
    BACK = "b"
    EDIT = "e"  # go to step `v` from the summary
    FILE = "file"


@dataclass(frozen=True)
class ReportBtn(Codec):
    """A button of a studio's year report (R-D5); `ref` is the report, the studio for START."""

    prefix: ClassVar[str] = "yr"
    op: ReportOp
    ref: int
    v: str | None = None


class InspectOp(StrEnum):
    LIST = "ls"  # the studio list, page `v`
    STUDIO = "st"  # a studio's history
    NEW = "new"  # record an inspection of the studio
    KIND = "k"  # v: regular | adhoc | mutual
    TODAY = "td"
    OUTCOME = "o"  # v: commendation | notice | delisting | none
    CONFIRM = "ok"
    CANCEL = "x"
    REPORT = "rp"  # show the studio's report of year `v`
    RESULTS = "res"  # the studios' recognised results of year `v` (R-O2: who to notify, who to commend)


@dataclass(frozen=True)
class InspectBtn(Codec):
    """A city reviewer's button in /inspect (R-O1, R-O2)."""

    prefix: ClassVar[str] = "insp"
    op: InspectOp
    studio: int
    v: str | None = None


@dataclass(frozen=True)
class MuteBtn(Codec):
    """Mute or unmute a kind of reminder in /reminders."""

    prefix: ClassVar[str] = "mute"
    kind: str


# --------------------------------------------------------------------------- results (conversations/results.py)


class ResultOp(StrEnum):
    LIST = "ls"  # the results of studio `ref` (v "a": of application `ref`), year `at`
    ADD = "add"  # record a result of studio `ref` (v "a": application `ref`; v "r": from report `at`)
    PICK = "p"  # v: the option chosen for the field asked
    YES = "y"
    NO = "n"
    SKIP = "s"  # leave the field asked empty (not recognised, for the level)
    SAVE = "ok"
    CANCEL = "x"
    VIEW = "v"  # one result `ref`
    DEL = "del"  # remove result `ref`, then confirm
    DELOK = "delok"
    CERT = "cert"  # send result `ref`'s certificate


@dataclass(frozen=True)
class ResultBtn(Codec):
    """A button of the results registry; `at` says which field the press answers, or a year or report."""

    prefix: ClassVar[str] = "res"
    op: ResultOp
    ref: int = 0
    v: str | None = None
    at: str | None = None


# --------------------------------------------------------------------------- the office's overview and meeting


class OverviewOp(StrEnum):
    HOME = "h"  # the season's counts (`year`)
    LIST = "l"  # a page of the list, filtered by `status` and `union`
    CARD = "c"  # one application's card (`n`: its id)


@dataclass(frozen=True)
class Overview(Codec):
    """A button of the office's overview; `n` is a page or an application's id."""

    prefix: ClassVar[str] = "ov"
    op: OverviewOp
    year: int
    status: str | None = None
    union: int | None = None
    n: int | None = None


class MeetingOp(StrEnum):
    LIST = "ls"  # the meeting's list
    OUTCOME = "o"  # n: the candidate whose outcome turns (approve → reject → defer)
    PAPERS = "pp"  # v: docx | xlsx
    RECORD = "rec"  # record the meeting: its date, kind and minute number, then the reasons
    KIND = "k"  # v: president | standing
    REASON = "r"  # n: the candidate whose rejection takes the usual reason
    CONFIRM = "ok"
    CANCEL = "x"
    NOTICE = "nt"  # the approved list under notice
    NOTICE_DOC = "nd"  # the notice as DOCX
    OBJECT = "ob"  # n: the entry an objection is recorded against
    UPHOLD = "up"  # n: the objection, found true
    DISMISS = "dm"  # n: the objection, not found true
    PLAQUE = "pl"  # n: the entry whose plaque date is set
    NAME = "nm"  # n: the approved candidate whose proposed name is typed anew
    BACK = "bk"  # back to the confirmation


@dataclass(frozen=True)
class Meet(Codec):
    """A button of the meeting's list and the notice (`/meeting`)."""

    prefix: ClassVar[str] = "mt"
    op: MeetingOp
    n: int | None = None
    v: str | None = None
