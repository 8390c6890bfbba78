"""The workflow table: statuses, who may move an application where, and what is recorded.

Handlers never decide a transition themselves; they call `find(action, status, role)`. Everything else
follows from the rows: who waits for whom (`LEVEL1_WAITING`, `LEVEL2_WAITING`, `REOPENED`), which
statuses the applicant edits (`EDITABLE`), the texts each action needs (`Transition.keys`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting for the district/county or industry union (level 1)
    RETURNED_L1 = "returned_l1"  # returned for revision by level 1
    FORWARDED = "forwarded"  # approved at level 1, waiting for the city federation (level 2)
    INSPECTION_SCHEDULED = "inspection_scheduled"
    INSPECTED = "inspected"
    PRELIMINARY = "preliminary"  # preliminary opinion drafted, waiting for the presidents' meeting
    RETURNED_L2 = "returned_l2"  # returned for revision by the city federation
    SUPPLEMENT_REQUESTED = "supplement_requested"  # the city asked for supplementary materials
    NOTICE = "notice"  # approved by the meeting, publicly noticed (公示中)
    NOTICED = "noticed"  # the notice is over without an objection upheld: named on the naming date
    APPROVED = "approved"  # named, materials archived by the federation (R-W4)
    REJECTED = "rejected"  # materials returned to the applying unit (R-W4)


class Role(StrEnum):
    APPLICANT = "applicant"
    DISTRICT = "district_reviewer"
    CITY = "city_reviewer"
    CONTACT = "contact"
    ADMIN = "admin"


class Action(StrEnum):
    SUBMIT = "submit"
    RESUBMIT = "resubmit"
    L1_APPROVE = "l1_approve"
    L1_RETURN = "l1_return"
    L1_REJECT = "l1_reject"
    SCHEDULE = "schedule"
    INSPECT = "inspect"
    PRELIMINARY = "preliminary"
    REJECT = "reject"
    RETURN = "return"
    SUPPLEMENT = "supplement"  # the city asks for supplementary materials
    MEETING_APPROVE = "meeting_approve"  # the meeting approves (from its list): to the public notice
    MEETING_REJECT = "meeting_reject"  # the meeting does not approve
    OBJECTION_UPHELD = "objection_upheld"  # an objection during the notice found true: not named
    NOTICE_END = "notice_end"  # the notice period is over
    NAME = "name"  # named together on the season's naming date


class Box(StrEnum):
    """The opinion boxes of the printed form (R-F8)."""

    UNIT = "unit"  # 申报单位意见
    UNION = "union"  # 申报工会意见
    DISTRICT = "district"  # 区市县、产业工会意见
    CITY = "city"  # 市总工会审核意见


class Opinion(StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class Step(StrEnum):
    """What a reviewer gives for a decision, one prompt each."""

    OPINION = "opinion"
    DATE = "date"  # the inspection date
    REOPEN = "reopen"  # the sections a return reopens for the applicant


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[Status]
    target: Status
    role: Role
    opinion: Opinion = Opinion.NONE
    box: Box | None = None  # where the opinion goes on the printed form
    needs_date: bool = False  # inspection date or plaque date
    first_year_only_skip: bool = False
    # What the reviewer gives, in this order; `confirm`: everything is shown on one screen and recorded
    # only when confirmed there (approvals, returns, rejections and the naming).
    steps: tuple[Step, ...] = ()
    confirm: bool = False
    # recorded for a list at once (the meeting, the notice, the naming: `bot.services.meeting`), never from
    # a reviewer's card; an application in a status such rows leave from waits for no reviewer's card
    batch: bool = False
    # what it records stays with the reviewers and the meeting: the applicant is not told of it
    internal: bool = False

    @property
    def reopens(self) -> bool:
        """The applicant may change the sections the reviewer picks, then resubmits (a return, a request
        for supplementary materials): the answers are kept with the event, the next card shows the changes."""
        return Step.REOPEN in self.steps

    @property
    def label_key(self) -> str:
        """The action's name: its button, the confirmation, the trail."""
        return f"action.{self.action.value}"

    @property
    def news_key(self) -> str | None:
        """What the applicant is told when a reviewer takes this action (none for the applicant's own)."""
        if self.role is Role.APPLICANT or self.internal or self.batch:  # a list's outcomes: bot.services.meeting
            return None
        return f"news.{self.action.value}"

    @property
    def prompt_key(self) -> str | None:
        """The opinion's prompt: the box's (shared by the decisions that fill it), or the action's own."""
        if Step.OPINION not in self.steps:
            return None
        if self.box is None:
            return f"review.ask_{self.action.value}"
        return "review.ask_opinion_required" if self.opinion is Opinion.REQUIRED else "review.ask_opinion"

    @property
    def box_key(self) -> str | None:
        return f"box.{self.box.value}" if self.box else None

    def keys(self) -> tuple[str, ...]:
        """Every locale key this row needs (the locale test checks each exists)."""
        keys = (self.label_key, self.news_key, self.prompt_key, self.box_key, status_key(self.target))
        return tuple(k for k in keys if k)


def status_key(status: Status) -> str:
    return f"status.{status.value}"


S = Status
_CITY_OPEN = frozenset({S.FORWARDED, S.INSPECTION_SCHEDULED, S.INSPECTED, S.PRELIMINARY})

_O, _R = (Step.OPINION,), (Step.OPINION, Step.REOPEN)

TABLE: tuple[Transition, ...] = (
    Transition(Action.SUBMIT, frozenset({S.DRAFT}), S.SUBMITTED, Role.APPLICANT, box=Box.UNIT),
    Transition(Action.RESUBMIT, frozenset({S.RETURNED_L1}), S.SUBMITTED, Role.APPLICANT),
    Transition(Action.RESUBMIT, frozenset({S.RETURNED_L2}), S.FORWARDED, Role.APPLICANT),
    Transition(Action.L1_APPROVE, frozenset({S.SUBMITTED}), S.FORWARDED, Role.DISTRICT, Opinion.OPTIONAL,
               Box.DISTRICT, steps=_O, confirm=True),
    Transition(Action.L1_RETURN, frozenset({S.SUBMITTED}), S.RETURNED_L1, Role.DISTRICT, Opinion.REQUIRED,
               Box.DISTRICT, steps=_R, confirm=True),
    Transition(Action.L1_REJECT, frozenset({S.SUBMITTED}), S.REJECTED, Role.DISTRICT, Opinion.REQUIRED,
               Box.DISTRICT, steps=_O, confirm=True),
    Transition(Action.SCHEDULE, frozenset({S.FORWARDED, S.INSPECTION_SCHEDULED}), S.INSPECTION_SCHEDULED,
               Role.CITY, needs_date=True, steps=(Step.DATE,)),
    # R-W2: the findings of the on-site inspection and the preliminary opinion are the department's
    # assessment for the meeting: the applicant hears of neither (`internal`); the printed form carries the
    # preliminary opinion in the 市总工会审核意见 box and the findings on a 附页 (bot.exports.docx_form).
    Transition(Action.INSPECT, frozenset({S.INSPECTION_SCHEDULED}), S.INSPECTED, Role.CITY,
               Opinion.REQUIRED, steps=_O, internal=True),
    Transition(Action.PRELIMINARY, frozenset({S.INSPECTED}), S.PRELIMINARY, Role.CITY, Opinion.REQUIRED,
               steps=_O, internal=True),
    # R-D4: in a first-year season there is no inspection, so the preliminary opinion follows forwarding.
    Transition(Action.PRELIMINARY, frozenset({S.FORWARDED}), S.PRELIMINARY, Role.CITY, Opinion.REQUIRED,
               first_year_only_skip=True, steps=_O, internal=True),
    Transition(Action.REJECT, _CITY_OPEN, S.REJECTED, Role.CITY, Opinion.REQUIRED, Box.CITY, steps=_O,
               confirm=True),
    Transition(Action.RETURN, _CITY_OPEN, S.RETURNED_L2, Role.CITY, Opinion.REQUIRED, Box.CITY, steps=_R,
               confirm=True),
    # the request is not an opinion of the form: no box; the applicant changes the sections asked for
    Transition(Action.SUPPLEMENT, _CITY_OPEN, S.SUPPLEMENT_REQUESTED, Role.CITY, Opinion.REQUIRED, steps=_R,
               confirm=True),
    Transition(Action.RESUBMIT, frozenset({S.SUPPLEMENT_REQUESTED}), S.FORWARDED, Role.APPLICANT),
    # the meeting decides the season's list (bot.services.meeting); the approved are publicly noticed, an
    # objection upheld takes an entry off, the rest are named together on the season's naming date
    Transition(Action.MEETING_APPROVE, frozenset({S.PRELIMINARY}), S.NOTICE, Role.CITY, box=Box.CITY, batch=True),
    Transition(Action.MEETING_REJECT, frozenset({S.PRELIMINARY}), S.REJECTED, Role.CITY, Opinion.REQUIRED,
               Box.CITY, batch=True),
    Transition(Action.OBJECTION_UPHELD, frozenset({S.NOTICE, S.NOTICED}), S.REJECTED, Role.CITY, Opinion.REQUIRED,
               Box.CITY, batch=True),
    Transition(Action.NOTICE_END, frozenset({S.NOTICE}), S.NOTICED, Role.CITY, batch=True),
    Transition(Action.NAME, frozenset({S.NOTICED}), S.APPROVED, Role.CITY, batch=True),
)


def waits_for(role: Role, table: tuple[Transition, ...] | None = None) -> frozenset[Status]:
    """The statuses in which an application waits for `role`'s card: those its rows leave from, but for
    the statuses only the meeting's list leaves from (batch rows)."""
    return frozenset(s for t in (TABLE if table is None else table) if t.role is role and not t.batch
                     for s in t.sources)


def batch_statuses(table: tuple[Transition, ...] | None = None) -> frozenset[Status]:
    """The statuses only the meeting's list, the notice or the naming move on."""
    rows = TABLE if table is None else table
    return frozenset(s for t in rows if t.batch for s in t.sources) - frozenset(
        s for t in rows if not t.batch for s in t.sources)


def reopened(table: tuple[Transition, ...] | None = None) -> frozenset[Status]:
    """The statuses in which the applicant changes what a reviewer reopened."""
    return frozenset(t.target for t in (TABLE if table is None else table) if t.reopens)


def reopening_actions(table: tuple[Transition, ...] | None = None) -> frozenset[Action]:
    """The actions that reopen sections for the applicant (a new round of review follows)."""
    return frozenset(t.action for t in (TABLE if table is None else table) if t.reopens)


def applicant_actions(table: tuple[Transition, ...] | None = None) -> frozenset[Action]:
    return frozenset(t.action for t in (TABLE if table is None else table) if t.role is Role.APPLICANT)


LEVEL1_WAITING = waits_for(Role.DISTRICT)
LEVEL2_WAITING = waits_for(Role.CITY)
REOPENED = reopened()
REOPENING = reopening_actions()
SUBMISSIONS = applicant_actions()
EDITABLE = frozenset({S.DRAFT}) | REOPENED
# bound by the season's deadline (R-D1): the applicant's statuses from which the application goes to level 1
UNSUBMITTED = frozenset(s for t in TABLE if t.role is Role.APPLICANT and t.target in LEVEL1_WAITING
                        for s in t.sources)
FINAL = frozenset(s for s in Status if s is not S.DRAFT and not any(s in t.sources for t in TABLE))
MEETING = frozenset({S.PRELIMINARY})  # the candidates of the meeting's list
NOTICED = batch_statuses()  # approved by the meeting, not yet named (under notice, or waiting for the date)
# the statuses the meeting's list, the notice or the naming move on (a card may still offer others)
ON_THE_LIST = frozenset(s for t in TABLE if t.batch for s in t.sources)


_REOPENING_VALUES = frozenset(a.value for a in REOPENING)


@dataclass(frozen=True)
class Assessment:
    """The city's assessment in the last round of review, from the audit trail: the inspection's day
    (ISO), its findings, the preliminary opinion and when it was given."""

    on: str | None = None
    findings: str | None = None
    preliminary: str | None = None
    preliminary_at: Any = None


def assessment(trail: Iterable[Any]) -> Assessment:
    """What the last round's inspection and preliminary opinion recorded (a reopening starts a new round);
    `trail`: audit events in order (`action`, `details`, `opinion`, `at`)."""
    on = findings = preliminary = at = None
    for e in trail:
        if e.action == Action.SCHEDULE.value:
            on = (e.details or {}).get("date")
        elif e.action == Action.INSPECT.value:
            findings = e.opinion
        elif e.action == Action.PRELIMINARY.value:
            preliminary, at = e.opinion, e.at
        elif e.action in _REOPENING_VALUES:
            on = findings = preliminary = at = None
    return Assessment(on, findings, preliminary, at)


class NotAllowed(Exception):
    """The table has no such move; `reason` is a locale key under `workflow.denied.`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def find(action: Action, status: Status, role: Role, *, first_year: bool = False, batch: bool = False
         ) -> Transition:
    """The transition for `action` from `status` by `role`, or `NotAllowed` with the reason. A `batch` row
    (the meeting's list, the notice, the naming) is found only when asked for (`batch`), never from a card."""
    by_action = [t for t in TABLE if t.action is action]
    if not by_action:
        raise NotAllowed("unknown_action")
    if any(t.batch for t in by_action) and not batch:
        raise NotAllowed("meeting")
    if not any(t.role is role for t in by_action):
        raise NotAllowed("role")
    for t in by_action:
        if t.role is role and status in t.sources:
            if t.first_year_only_skip and not first_year:
                raise NotAllowed("inspection_required")
            return t
    raise NotAllowed("status")


def actions_for(status: Status, role: Role, *, first_year: bool = False) -> list[Action]:
    """Actions `role` may take now, in table order (for buttons)."""
    out: list[Action] = []
    for t in TABLE:
        if t.role is role and status in t.sources and t.action not in out and not t.batch:
            if t.first_year_only_skip and not first_year:
                continue
            out.append(t.action)
    return out


def of_action(action: Action) -> Transition:
    """The first transition of `action` (its steps and confirmation are the same in every row)."""
    return next(t for t in TABLE if t.action is action)


def level_of(status: Status) -> int:
    """1 or 2 for statuses waiting for a reviewer; 0 otherwise."""
    if status in LEVEL1_WAITING:
        return 1
    if status in LEVEL2_WAITING:
        return 2
    return 0
