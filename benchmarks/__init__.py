"""Benchmarks: the bot measured against a bare python-telegram-bot echo bot (`python -m benchmarks`)."""
