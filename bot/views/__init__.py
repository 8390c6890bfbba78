"""Screens, cards and notices as pure functions: loaded data in, text and keyboard out."""
