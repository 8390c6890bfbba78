"""SQLAlchemy 2 typed models for the whole procedure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC; SQLite gives them back aware too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Stamp = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(128), default="")
    last_name: Mapped[str | None] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))
    language_code: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str | None] = mapped_column(String(8))  # explicit choice; wins over language_code
    created_at: Mapped[datetime] = mapped_column(Stamp)
    blocked_at: Mapped[datetime | None] = mapped_column(Stamp)  # the user blocked the bot

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or str(self.id)


class Union(Base):
    """A district/county union or an industry union (区市县工会 / 产业工会)."""

    __tablename__ = "unions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # district | industry
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


class RoleGrant(Base):
    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    union_id: Mapped[int | None] = mapped_column(ForeignKey("unions.id"))
    granted_at: Mapped[datetime] = mapped_column(Stamp)
    granted_by: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None] = mapped_column(Stamp)


class Invitation(Base):
    __tablename__ = "invitations"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    union_id: Mapped[int | None] = mapped_column(ForeignKey("unions.id"))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    expires_at: Mapped[datetime] = mapped_column(Stamp)
    used_by: Mapped[int | None] = mapped_column(BigInteger)
    used_at: Mapped[datetime | None] = mapped_column(Stamp)


class Season(Base):
    """One year's application window (R-D1…R-D5)."""

    __tablename__ = "seasons"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    opens_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    review_starts: Mapped[date] = mapped_column(Date)
    naming_by: Mapped[date] = mapped_column(Date)
    first_year: Mapped[bool] = mapped_column(Boolean, default=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    notice_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")  # 公示, working days


class Office(Base):
    """The federation's office: the contact person applicants are told to ask (one row, id 1)."""

    __tablename__ = "office"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(120))


class Meeting(Base):
    """The presidents' meeting or the standing committee that decided a season's list, and its notice."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    season_year: Mapped[int] = mapped_column(ForeignKey("seasons.year"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))  # president | standing
    minute_no: Mapped[str] = mapped_column(String(40))
    recorded_by: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(Stamp)
    notice_from: Mapped[date | None] = mapped_column(Date)  # the public notice: first and last day
    notice_until: Mapped[date | None] = mapped_column(Date)
    named_at: Mapped[datetime | None] = mapped_column(Stamp)


class Objection(Base):
    """An objection received against an entry of the public notice, and the office's decision."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(Stamp)
    decision: Mapped[str | None] = mapped_column(String(16))  # upheld | dismissed
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(Stamp)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("season_year", "applicant_id", name="uq_applications_season_applicant"),
        Index("ix_applications_status_union", "status", "union_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    season_year: Mapped[int] = mapped_column(ForeignKey("seasons.year"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    union_id: Mapped[int | None] = mapped_column(ForeignKey("unions.id"))
    number: Mapped[str | None] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(32), default="draft")
    answers: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    wizard: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # cursor and scratch of the chat flow
    reopened: Mapped[list[str] | None] = mapped_column(Json)  # fields a reviewer reopened
    # files held per field, e.g. {"photos": 3}: kept with every attachment added or removed, so the wizard
    # (which needs them at every step) does not count the attachments each time
    files: Mapped[dict[str, int]] = mapped_column(Json, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)
    submitted_at: Mapped[datetime | None] = mapped_column(Stamp)
    application_date: Mapped[date | None] = mapped_column(Date)  # 申报日期 (R-F1)
    status_since: Mapped[datetime | None] = mapped_column(Stamp)
    inspection_on: Mapped[date | None] = mapped_column(Date)
    studio_name: Mapped[str | None] = mapped_column(String(200))  # 审定的工作室名称 (R-F8)
    plaque_on: Mapped[date | None] = mapped_column(Date)
    remarks: Mapped[str | None] = mapped_column(Text)  # 备注
    materials: Mapped[str | None] = mapped_column(String(16))  # archived | returned (R-W4)
    # the meeting that decided it (`meetings.id`; no foreign key: adding one would copy the table on SQLite)
    meeting_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Attachment(Base):
    """A downloaded file: photo, video or document (R-M2…R-M5)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("year_reports.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # photo | video | document
    telegram_file_id: Mapped[str] = mapped_column(String(256))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    original_name: Mapped[str | None] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(512))  # relative to DATA_DIR, generated name
    mime_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class OpinionRecord(Base):
    """An opinion written into a box of the form, with who and when (R-F8)."""

    __tablename__ = "opinions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    box: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    reviewer_id: Mapped[int | None] = mapped_column(BigInteger)
    union_id: Mapped[int | None] = mapped_column(ForeignKey("unions.id"))
    decided_at: Mapped[datetime] = mapped_column(Stamp)


class AuditEvent(Base):
    """Append-only trail: every transition and every refused attempt."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    opinion: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)
    at: Mapped[datetime] = mapped_column(Stamp, index=True)


class ReviewMessage(Base):
    """A reviewer's one card of an application: the message it lives in now (`message_id`, it moves to the
    newest screen), the round that last brought it (`event_id`), the status it first came for (`status`: the
    reviewer's level)."""

    __tablename__ = "review_messages"
    __table_args__ = (UniqueConstraint("event_id", "chat_id", name="uq_review_messages_round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("audit_events.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))  # the status it was sent for
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(Stamp)
    closed_at: Mapped[datetime | None] = mapped_column(Stamp)
    error: Mapped[str | None] = mapped_column(String(200))


class Ping(Base):
    """A reminder that was due, sent once and recorded (dedupe by key)."""

    __tablename__ = "pings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(Stamp)
    sent_at: Mapped[datetime | None] = mapped_column(Stamp)


class Mute(Base):
    __tablename__ = "mutes"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)


class Studio(Base):
    """A named studio (R-W3) and its standing (R-O2)."""

    __tablename__ = "studios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for a studio named before the bot existed, brought in from the federation's roster
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: no Telegram account known yet
    union_id: Mapped[int | None] = mapped_column(ForeignKey("unions.id"))
    named_on: Mapped[date] = mapped_column(Date)
    plaque_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | delisted
    ip_statement: Mapped[str | None] = mapped_column(Text)  # R-O3, as stated by the studio
    # as the roster names them (imported studios; a studio named through the bot has its application)
    leader_name: Mapped[str | None] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(200))  # 依托单位
    basic_union: Mapped[str | None] = mapped_column(String(200))  # 基层工会
    named_year: Mapped[int | None] = mapped_column(Integer)
    imported_at: Mapped[datetime | None] = mapped_column(Stamp)


class YearReport(Base):
    """A studio's year-end report (R-D5)."""

    __tablename__ = "year_reports"
    __table_args__ = (UniqueConstraint("studio_id", "year", name="uq_year_reports_studio_year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    studio_id: Mapped[int] = mapped_column(ForeignKey("studios.id"))
    year: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    filed_at: Mapped[datetime | None] = mapped_column(Stamp)


class Inspection(Base):
    """An inspection of a named studio and its outcome (R-O1, R-O2)."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    studio_id: Mapped[int] = mapped_column(ForeignKey("studios.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # regular | adhoc | mutual
    on: Mapped[date] = mapped_column(Date)
    findings: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))  # commendation | notice | delisting
    inspector_id: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(Stamp)


class Result(Base):
    """A result (成果) of a studio, or of an application before its studio is named (`bot.domain.results`)."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    studio_id: Mapped[int | None] = mapped_column(ForeignKey("studios.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    on: Mapped[date] = mapped_column(Date, index=True)
    level: Mapped[str | None] = mapped_column(String(16))  # None: not recognised (yet)
    body: Mapped[str | None] = mapped_column(String(200))  # 认定单位
    number: Mapped[str | None] = mapped_column(String(64))
    in_use: Mapped[bool] = mapped_column(Boolean, default=False)
    benefit: Mapped[float | None] = mapped_column(Float)  # 万元 a year
    social: Mapped[str | None] = mapped_column(Text)
    members: Mapped[str | None] = mapped_column(Text)
    ownership: Mapped[str | None] = mapped_column(Text)  # R-O3, as stated
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    source: Mapped[str] = mapped_column(String(16), default="chat")  # chat | report | import
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class PersistedState(Base):
    """Python-telegram-bot persistence: user/chat/bot data, conversations, callback data."""

    __tablename__ = "ptb_state"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    key: Mapped[str] = mapped_column(String(128), primary_key=True, default="")
    data: Mapped[Any] = mapped_column(Json)


class HandledUpdate(Base):
    """An update (or job run) whose changes are committed, so one delivered again after a crash is not
    applied twice. Written in the same transaction as the change and its effects."""

    __tablename__ = "handled_updates"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Stamp, index=True)


class Effect(Base):
    """One thing the bot owes someone on Telegram (a reply, a card, a notice, a document, a callback
    answer), written in the transaction of the change that causes it and delivered by `bot.sender`."""

    __tablename__ = "effects"
    __table_args__ = (Index("ix_effects_unsent", "sent_at", "chat_id", "id"),
                      Index("ux_effects_once", "once", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str | None] = mapped_column(String(64))  # the update or job that caused it
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[Any] = mapped_column(Json)
    # the actor's own screen: superseded by a later one for the same chat when it could not go out in time
    stale_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(Stamp)  # the next attempt, after a failure
    sent_at: Mapped[datetime | None] = mapped_column(Stamp)
    result: Mapped[str | None] = mapped_column(String(200))  # "ok", "superseded", or why it failed for good
    # a scheduled notice's key (kind:recipient:subject:occasion): owed once, however often its job runs
    once: Mapped[str | None] = mapped_column(String(200))


class Screen(Base):
    """The newest message of a flow's screen in a chat (`bot.effects`): the one whose buttons are live."""

    __tablename__ = "screens"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    keyboard: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # buttons still there


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise PermissionError("the audit trail is append-only")
