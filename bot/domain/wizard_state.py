"""Where the applicant's wizard stands and what it holds between messages, stored in the application's
`wizard` column (short keys, as stored since the first release) and read as named fields."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


def _stored_as(short: str, name: str, default: Any = None, **kw: Any) -> Any:
    """A field stored under its short key (read by either name)."""
    if "default_factory" not in kw:
        kw["default"] = default
    return Field(validation_alias=AliasChoices(short, name), serialization_alias=short, **kw)


class _Stored(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_defaults=True, mode="json")


class MemberCursor(_Stored):
    """A member being entered or changed one question at a time, or one picked to change."""

    question: str | None = _stored_as("f", "question", None)  # the MEMBER_FIELDS key being asked
    index: int | None = _stored_as("i", "index", None)  # an existing member: only `question` changes, then back
    row: dict[str, Any] = Field(default_factory=dict)  # a new member's answers so far (short keys)
    ask: list[str] | None = None  # the questions to ask, when completing a pasted row (default: all)
    pick: int | None = None  # a member whose question to change is being chosen
    paste: int | None = None  # the pasted row being completed

    def questions(self, every: list[str]) -> list[str]:
        return list(self.ask or every)


class PastedRow(_Stored):
    """One line of a pasted members table: what was read and the errors by field key (code, params)."""

    row: dict[str, Any] = Field(default_factory=dict)
    err: dict[str, tuple[str, dict[str, Any]]] = Field(default_factory=dict)


class Album(_Stored):
    """An album being received: its group, how many came, were taken, and why the others were refused."""

    group: str = _stored_as("g", "group", ...)
    taken: int = _stored_as("ok", "taken", 0)
    seen: int = _stored_as("n", "seen", 0)
    refused: list[tuple[int, str]] = _stored_as("bad", "refused", default_factory=list)


class WizardState(_Stored):
    """The cursor (`step`, and inside a step the member, item or "other" being typed) and the scratch
    of an answer in progress."""

    step: str | None = None  # a FormField key, "summary" or "confirm"
    edit: str | None = _stored_as("mode", "edit", None)  # "edit": one field changed from the summary, then back
    section: str | None = None  # on the summary: the section whose fields are offered to change
    seen_summary: bool = False
    parts: list[str] | None = _stored_as("buf", "parts", None)  # a long text's parts, or a list's lines not yet added
    member: MemberCursor | None = _stored_as("m", "member", None)
    other: bool = False  # a choice answered by typing ("Other")
    paste: list[PastedRow] | None = None
    item: int | None = None  # one list item picked: the next text replaces it
    album: Album | None = None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> WizardState:
        return cls.model_validate(stored or {})

    def moved(self, step: str) -> WizardState:
        """At `step` with the scratch of the step before dropped."""
        return self.model_copy(update={"step": step, "parts": None, "member": None, "other": False,
                                       "paste": None, "item": None})

    def position(self) -> str:
        """Where the wizard stands, down to a member's question; carried by every wizard button, so a
        press on an older message is recognised and refused."""
        pos = self.step or "summary"
        m = self.member
        if m is not None and m.question:
            pos += "-" + m.question.removeprefix("member_")
        elif m is not None and m.pick is not None:
            pos += "-pick"
        elif self.item is not None:
            pos += f"-i{self.item}"
        elif self.paste:
            pos += "-paste"
        elif self.section:
            pos += "-" + self.section[:12]
        if self.other:
            pos += "-o"
        return pos[:40]
