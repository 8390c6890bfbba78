"""`python -m bot` runs the bot; `python -m bot export|backup|restore …` are office tools."""

from __future__ import annotations

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
