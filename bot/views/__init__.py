"""Presentation: screens, cards and notices as pure functions of loaded data (text and keyboard; no I/O)."""
