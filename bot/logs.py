"""Logging: the token kept out of every line, rotation when logging to a file, quiet at INFO."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from urllib.parse import quote

REDACTED = "<BOT_TOKEN>"
# Libraries that speak at INFO about every request or migration step: warnings and errors only.
QUIET = ("httpx", "httpcore", "alembic", "apscheduler", "aiosqlite", "asyncio")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redactor:
    """Replaces the bot token, and only the whole token, wherever it appears (in a Bot API URL too).

    A token is `<digits>:<letters, digits, _ or ->` (the settings refuse anything else), so a match must
    not be preceded by a digit nor followed by a token character: a short token never eats parts of words.
    """

    def __init__(self, token: str) -> None:
        forms = {token, quote(token, safe="")} if token else set()
        self.pattern = (re.compile("|".join(rf"(?<!\d){re.escape(f)}(?![\w-])" for f in sorted(forms, key=len,
                                                                                            reverse=True)))
                        if forms else None)

    def __call__(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        return self.pattern.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """Formats the whole record (message, traceback, stack) and then takes the token out of it."""

    def __init__(self, redact: Redactor, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


_redact = Redactor("")


def redact(text: str) -> str:
    """`text` without the configured token (after `setup_logging`)."""
    return _redact(text)


def redacted_traceback(exc: BaseException) -> str:
    return redact("".join(traceback.format_exception(exc)))


def setup_logging(token: str, log_file: Path | None = None, *, max_bytes: int = 10 * 1024 * 1024,
                  backups: int = 5, level: int = logging.INFO) -> None:
    """Log to stderr (the journal under systemd), or to `log_file`, rotated at `max_bytes` keeping
    `backups` older files. Every handler redacts the token."""
    global _redact
    _redact = Redactor(token)
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(_redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
