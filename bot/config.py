"""Settings, read once from the environment and an optional `.env`."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.calendar import WorkDays

TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
Locale = Literal["zh", "en"]
LOCALES: tuple[Locale, ...] = ("zh", "en")


class Settings(BaseSettings):
    """Everything the bot is configured with; see the README's table."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr
    bot_api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org/bot")
    bot_file_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org/file/bot")
    data_dir: Path = Path("./data")
    database_url: str = ""
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_locale: Locale = "zh"
    timezone: str = "Asia/Shanghai"
    webhook_url: AnyHttpUrl | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webapp_url: AnyHttpUrl | None = None  # the Mini App's public HTTPS base; unset: no web view
    web_listen: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    review_remind_days: int = Field(default=3, ge=1)
    review_escalate_days: int = Field(default=7, ge=1)
    quiet_start_hour: int = Field(default=20, ge=0, le=23)
    quiet_end_hour: int = Field(default=9, ge=0, le=23)
    album_wait_seconds: float = Field(default=1.2, gt=0)
    pdf_forms: bool = True  # a PDF beside each DOCX form, when LibreOffice is installed
    log_file: Path | None = None  # unset: stderr (the journal under systemd)
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    log_backups: int = Field(default=5, ge=1, le=100)
    startup_retry_seconds: float = Field(default=0, ge=0)  # 0: keep retrying an unreachable Bot API
    returned_materials_days: int | None = Field(default=None, ge=0)  # unset: removed at the end of the season
    # the year's public holidays beyond the fixed-date ones, and the weekend days worked instead (调休), as the
    # State Council announces them: "2027-02-06,2027-02-07,…"; they count in a notice's working days
    holidays: Annotated[frozenset[date], NoDecode] = frozenset()
    makeup_workdays: Annotated[frozenset[date], NoDecode] = frozenset()

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            ids = []
            for part in parts:
                if not part.lstrip("-").isdigit():
                    raise ValueError(f"not a numeric Telegram user id: {part!r}")
                ids.append(int(part))
            return frozenset(ids)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("holidays", "makeup_workdays", mode="before")
    @classmethod
    def _split_dates(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return frozenset(date.fromisoformat(p.strip()) for p in re.split(r"[,;\s]+", value) if p.strip())
            except ValueError as exc:
                raise ValueError(f"dates are written 2027-02-06, separated by commas: {exc}") from None
        return value

    def work_days(self) -> WorkDays:
        """The working days a notice is counted in."""
        return WorkDays(self.holidays, self.makeup_workdays)

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        if not token:
            raise ValueError("is empty")
        if not TOKEN_SHAPE.fullmatch(token):
            raise ValueError("does not look like a bot token (digits, a colon, then letters, digits, _ or -; "
                             "ask @BotFather)")
        return SecretStr(token)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone: {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'studio.db').resolve()}"
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def token(self) -> str:
        return self.bot_token.get_secret_value()

    def webapp_link(self, path: str = "") -> str | None:
        """The Mini App's address of `path` (None without WEBAPP_URL)."""
        if self.webapp_url is None:
            return None
        return str(self.webapp_url).rstrip("/") + "/" + path.lstrip("/")

    @property
    def materials_dir(self) -> Path:
        return self.data_dir / "materials"


class ConfigError(Exception):
    """Raised with one human line per bad setting."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(**overrides: object) -> Settings:
    """Read settings; invalid or missing ones become a `ConfigError` naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "configuration"
            if err["type"] == "missing":
                lines.append(f"{name} is required but not set (put it in the environment or in .env)")
            else:
                msg = err["msg"].removeprefix("Value error, ")
                lines.append(f"{name}: {msg}")
        raise ConfigError(lines) from None
