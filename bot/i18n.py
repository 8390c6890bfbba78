"""Localized texts by key, loaded from `locales/<lang>/*.toml`."""

from __future__ import annotations

import html
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path

from bot.config import LOCALES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


class Markup(str):
    """Text already safe for HTML parse mode; not escaped again."""


def _flatten(prefix: str, table: Mapping[str, object], out: dict[str, str], source: Path) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(full, value, out, source)
        elif isinstance(value, str):
            if full in out:
                raise ValueError(f"duplicate locale key {full!r} in {source}")
            out[full] = value
        else:
            raise ValueError(f"locale key {full!r} in {source} is not text")


def load_catalog(lang: str, root: Path = LOCALES_DIR) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted((root / lang).glob("*.toml")):
        with path.open("rb") as fh:
            _flatten("", tomllib.load(fh), out, path)
    return out


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Translator:
    """Looks up keys for one language; user-supplied values are HTML-escaped."""

    def __init__(self, lang: str, catalog: Mapping[str, str], fallback: Mapping[str, str]) -> None:
        self.lang = lang
        self._catalog = catalog
        self._fallback = fallback

    def has(self, key: str) -> bool:
        return key in self._catalog or key in self._fallback

    def _text(self, key: str) -> str:
        text = self._catalog.get(key)
        return text if text is not None else self._fallback.get(key, key)

    def __call__(self, key: str, /, **params: object) -> str:
        """Text for HTML messages: user-supplied values are escaped."""
        safe = {
            k: (v if isinstance(v, Markup) else html.escape(str(v), quote=False)) for k, v in params.items()
        }
        text = self._text(key)
        return text.format(**safe) if safe or "{" in text else text

    def plain(self, key: str, /, **params: object) -> str:
        """Text for places without markup (button labels, alerts): nothing is escaped."""
        text = self._text(key)
        return text.format(**params) if params or "{" in text else text

    def join(self, items: list[str]) -> str:
        return ("、" if self.lang == "zh" else ", ").join(items)


class I18n:
    """All catalogs, loaded once at start-up."""

    def __init__(self, default: str = "zh", root: Path = LOCALES_DIR) -> None:
        self.default = default
        self.catalogs: dict[str, dict[str, str]] = {lang: load_catalog(lang, root) for lang in LOCALES}
        self._translators: dict[str, Translator] = {
            lang: Translator(lang, cat, self.catalogs[default]) for lang, cat in self.catalogs.items()
        }

    def get(self, lang: str | None) -> Translator:
        return self._translators.get(lang or self.default, self._translators[self.default])

    def pick(self, chosen: str | None, language_code: str | None) -> str:
        """The stored choice wins; otherwise zh* → zh, a known other code → en, none → default."""
        if chosen in self.catalogs:
            return chosen
        if language_code:
            return "zh" if language_code.lower().startswith("zh") else "en"
        return self.default
