"""The /reminders screen: the person's upcoming reminders, quiet hours, and for the contact person the
kinds they may mute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.domain.pings import CONTACT_KINDS
from bot.i18n import Translator
from bot.views.common import kb

UPCOMING_SHOWN = 10


@dataclass(frozen=True)
class Upcoming:
    """A reminder to come: when (local time, as shown), what it is about, whether its kind is muted."""

    when: str
    what: str
    muted: bool


def reminders_screen(t: Translator, upcoming: Sequence[Upcoming], off: set[str], quiet: tuple[int, int], *,
                     contact: bool, note: str | None = None) -> tuple[str, InlineKeyboardMarkup | None]:
    """`off`: the muted kinds; `quiet`: the hours the quiet time ends and starts."""
    parts = [note] if note else []
    if upcoming:
        lines = [t("reminders.title")]
        for p in upcoming[:UPCOMING_SHOWN]:
            mark = t("reminders.muted_mark") if p.muted else ""
            lines.append(t("reminders.line", when=p.when, what=p.what) + mark)
        if len(upcoming) > UPCOMING_SHOWN:
            lines.append(t("reminders.more", n=len(upcoming) - UPCOMING_SHOWN))
        parts.append("\n".join(lines))
    else:
        parts.append(t("reminders.none"))
    parts.append(t("reminders.quiet", start=f"{quiet[0]:02d}:00", end=f"{quiet[1]:02d}:00"))
    if not contact:
        return "\n\n".join(parts), None
    parts.append(t("reminders.mute_hint"))
    rows = []
    for kind in CONTACT_KINDS:
        label = t.plain("reminders.button.off" if kind.value in off else "reminders.button.on",
                        kind=t.plain(f"reminders.kind.{kind.value}"))
        rows.append([Btn(label, callback_data=cb.MuteBtn(kind.value).encode())])
    return "\n\n".join(parts), kb(rows)
