"""`python -m tests.e2e.shifted_bot SECONDS [command …]`: the real bot (`python -m bot`) whose clock runs
SECONDS ahead of the system's, so a reminder's day is reached without waiting for it."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from bot.cli import main


class ShiftedClock:
    """The system's clock moved by a fixed amount (the same after a restart with the same amount)."""

    def __init__(self, seconds: float) -> None:
        self.delta = timedelta(seconds=seconds)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.delta


if __name__ == "__main__":
    sys.exit(main(sys.argv[2:], clock=ShiftedClock(float(sys.argv[1]))))
