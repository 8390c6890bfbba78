"""R-W4 as data: what happens to the materials once the city federation has decided.

* approved: `materials = "archived"`; the federation keeps every file (备案保存) — nothing here touches them;
* not approved: `materials = "returned"`; the applicant first gets the application's archive (the form, every
  file, `application.json` with the audit trail), then, after a set period, the files are removed from the
  federation's storage. The application row, its answers and its whole audit trail stay; the removal itself
  is recorded (`materials_removed`, with each file's field, size and SHA-256).

The period: RETURNED_MATERIALS_DAYS after the decision when set, otherwise the end of the season (31 December
of the season's year, local time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import repo
from storage.models import Application, Attachment, AuditEvent

RETURNED = "returned"
SENT = "materials_returned"  # audit: the archive reached the applicant
REMOVED = "materials_removed"  # audit: the federation's copy is gone


@dataclass(frozen=True)
class Due:
    app_id: int
    applicant_id: int
    number: str | None
    remove_on: date


def remove_at(app: Application, days: int | None, tz: ZoneInfo) -> datetime:
    """When the federation's copy of a returned application's materials goes."""
    if days is not None:
        decided = app.status_since or app.updated_at
        return decided + timedelta(days=days)
    return datetime.combine(date(app.season_year + 1, 1, 1), time(0), tzinfo=tz)  # the season's end


def _returned_with_files() -> Any:
    has_files = exists().where(Attachment.application_id == Application.id)
    return select(Application).where(Application.materials == RETURNED, has_files).order_by(Application.id)


async def due_returns(s: AsyncSession, days: int | None, tz: ZoneInfo) -> list[Due]:
    """Returned applications whose archive has not reached the applicant yet (and whose files still exist)."""
    sent = exists().where(AuditEvent.application_id == Application.id, AuditEvent.action == SENT)
    apps = (await s.scalars(_returned_with_files().where(~sent))).all()
    return [Due(a.id, a.applicant_id, a.number, (remove_at(a, days, tz) - timedelta(microseconds=1))
                .astimezone(tz).date()) for a in apps]


def record_sent(s: AsyncSession, app_id: int, applicant_id: int, now: datetime, *, name: str, sha256: str,
                size: int) -> None:
    repo.audit(s, now, SENT, application_id=app_id, details={"to": applicant_id, "archive": name,
                                                             "sha256": sha256, "size": size})


async def due_removals(s: AsyncSession, now: datetime, days: int | None, tz: ZoneInfo) -> list[Application]:
    """Returned applications whose period is over and that still hold files."""
    apps = (await s.scalars(_returned_with_files())).all()
    return [a for a in apps if remove_at(a, days, tz) <= now]


async def remove_materials(s: AsyncSession, app: Application, now: datetime) -> list[str]:
    """Delete the application's attachment rows and record what they were; the stored paths to unlink once
    this is committed. An application that was approved meanwhile is left alone."""
    if app.materials != RETURNED:
        return []
    atts = (await s.scalars(select(Attachment).where(Attachment.application_id == app.id)
                            .order_by(Attachment.id))).all()
    if not atts:
        return []
    sent = await s.scalar(select(exists().where(AuditEvent.application_id == app.id, AuditEvent.action == SENT)))
    files = [{"field": a.field, "kind": a.kind, "size": a.size, "sha256": a.sha256} for a in atts]
    for a in atts:
        await s.delete(a)
    app.files = {}
    app.updated_at = now
    repo.audit(s, now, REMOVED, application_id=app.id,
               details={"files": files, "returned_to_applicant": bool(sent)})
    return [a.stored_path for a in atts]


def unlink_all(data_dir: Path, paths: list[str]) -> int:
    """Remove the files (only inside DATA_DIR); how many were there."""
    root = Path(data_dir).resolve()
    gone = 0
    for rel in paths:
        path = (root / rel).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()
            gone += 1
    return gone
