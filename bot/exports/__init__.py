"""Exports: the printed form (DOCX/PDF), the season's roster (XLSX), archives (ZIP) and statistics.

Only `bot.exports.telegram_io` imports Telegram (the documents owed as effects are made and sent
there), so the document builders can be used (command line, tests) without it.
"""
