"""The rules of a named studio's standing and year report (R-O1, R-O2, R-D5) that need no database:
its statuses, the inspection kinds and outcomes, and the report's steps read from its answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ACTIVE, DELISTED = "active", "delisted"
KINDS = ("regular", "adhoc", "mutual")  # R-O1
OUTCOMES = ("commendation", "notice", "delisting", "none")  # R-O2; "none" is stored as NULL
PUBLIC = ("commendation", "notice", "delisting")  # outcomes everyone concerned hears of (R-O2)
REPORT_STEPS = ("work", "results", "files", "ip")
WORK_MAX = 4000
FILES_MAX = 10


def step_of(answers: Mapping[str, Any] | None) -> str:
    return str((answers or {}).get("_step") or REPORT_STEPS[0])


def editing(answers: Mapping[str, Any] | None) -> bool:
    return bool((answers or {}).get("_edit"))


def previous_step(step: str) -> str | None:
    if step == "confirm":
        return REPORT_STEPS[-1]
    i = REPORT_STEPS.index(step)
    return REPORT_STEPS[i - 1] if i else None


def missing(answers: Mapping[str, Any] | None) -> list[str]:
    """Steps still to answer before filing (files are optional)."""
    a = answers or {}
    out = []
    if not str(a.get("work") or "").strip():
        out.append("work")
    if "results" not in a:
        out.append("results")
    if not str(a.get("ip") or "").strip():
        out.append("ip")
    return out
