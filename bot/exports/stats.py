"""`/stats`: the season's figures as short text and as a PNG chart (matplotlib, Agg, no pyplot)."""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bot.exports.data import Stats
from bot.i18n import Translator

log = logging.getLogger(__name__)

CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "SimSun", "PingFang SC",
    "Heiti SC", "STHeiti", "Hiragino Sans GB", "AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback",
    "Noto Sans CJK JP", "Noto Sans CJK TC",
)


# font files that draw Chinese, best first (Debian: fonts-noto-cjk, fonts-wqy-zenhei, fonts-wqy-microhei,
# fonts-droid-fallback), looked for under FONT_DIRS
CJK_FILES = (
    "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansSC-Regular.otf", "NotoSansSC-Regular.ttf",
    "SourceHanSansSC-Regular.otf", "NotoSerifCJK-Regular.ttc", "wqy-zenhei.ttc", "wqy-microhei.ttc",
    "DroidSansFallbackFull.ttf", "DroidSansFallback.ttf",
)
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
             "/Library/Fonts", "/System/Library/Fonts", "C:/Windows/Fonts")


def cjk_font_file(dirs: Iterable[str] = FONT_DIRS, files: Iterable[str] = CJK_FILES) -> Path | None:
    """The installed font file that draws Chinese, if any (looked for by file, not in matplotlib's cache,
    which may predate the fonts)."""
    wanted = list(files)
    seen: dict[str, Path] = {}
    for root in (Path(d).expanduser() for d in dirs):
        if root.is_dir():
            for path in sorted(root.rglob("*.tt[cf]")) + sorted(root.rglob("*.otf")):
                seen.setdefault(path.name, path)
    return next((seen[name] for name in wanted if name in seen), None)


SC_FACE = "Noto Sans CJK SC"  # the face of a CJK collection drawn with simplified Chinese glyph forms
SC_FACES = (SC_FACE, "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Serif SC")


def sc_face_file(path: Path, cache_dir: Path) -> tuple[Path, str, int] | None:
    """The simplified-Chinese face of a font collection (.ttc) as a file of its own (written once into
    `cache_dir`), its name and its index in the collection; None when the collection holds none.
    Matplotlib before 3.11 reads only the first face of a collection, which in Debian's Noto CJK files
    is the Japanese one (门, 关, 骨 take their Japanese shapes)."""
    from fontTools.ttLib import TTCollection

    with TTCollection(str(path), lazy=True) as coll:
        for index, face in enumerate(coll.fonts):
            name = str(face["name"].getDebugName(1) or "")
            if name in SC_FACES:
                stat = path.stat()
                out = cache_dir / f"{path.stem}-{index}-{stat.st_size}-{int(stat.st_mtime)}.otf"
                if not out.exists():
                    cache_dir.mkdir(parents=True, exist_ok=True)
                    tmp = out.with_suffix(".tmp")
                    face.save(str(tmp))
                    tmp.replace(out)
                return out, name, index
    return None


@dataclass(frozen=True)
class Face:
    """The face charts are drawn with: its name, its file and the face's index in that file."""

    name: str
    path: str
    index: int = 0

    def __str__(self) -> str:
        where = f"{self.path}, face {self.index}" if self.index else self.path
        return f"{self.name} ({where})"


@cache
def cjk_face() -> Face | None:
    """The face charts are drawn with, if one can draw Chinese: registered with matplotlib by its path
    every time (a font cache made before the fonts were installed would otherwise hide them); of a
    collection, its simplified-Chinese face."""
    from matplotlib import font_manager  # imported when first needed: it costs memory and start-up time

    path = cjk_font_file()
    if path is not None:
        try:
            drawn, index = path, 0
            if path.suffix.lower() == ".ttc":
                found = sc_face_file(path, Path(_cache_dir()) / "fonts")
                if found is not None:
                    drawn, _, index = found
            font_manager.fontManager.addfont(str(drawn))
            return Face(str(font_manager.FontProperties(fname=str(drawn)).get_name()), str(path), index)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            log.warning("could not register the CJK font %s: %s", path, exc)
    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in names:
            return Face(name, font_manager.findfont(name))
    for name in sorted(names):
        if "CJK" in name or "Hei" in name or "Song" in name or "Ming" in name:
            return Face(name, font_manager.findfont(name))
    return None


def _cache_dir() -> str:
    import matplotlib

    return str(matplotlib.get_cachedir())


def cjk_font() -> str | None:
    """The name of the face charts are drawn with, if one can draw Chinese."""
    face = cjk_face()
    return face.name if face else None


def text(st: Stats, t: Translator) -> str:
    """The short text sent with the chart (Telegram HTML; names are escaped by `t`)."""
    lines = [t("stats.title", year=st.year), t("stats.total", n=st.total, drafts=st.drafts)]
    if st.total:
        lines.append(t("stats.by_union"))
        lines += [t("stats.line", name=name, n=n) for name, n in st.by_union]
        lines.append(t("stats.by_status"))
        lines += [t("stats.line", name=t.plain(f"status.{code}"), n=n) for code, n in st.by_status]
    else:
        lines.append(t("stats.none"))
    lines.append(t("stats.named"))
    if st.named_by_year:
        lines += [t("stats.year_line", year=year, n=n) for year, n in st.named_by_year]
    else:
        lines.append(t("stats.named_none"))
    return "\n".join(lines)


def chart(st: Stats, t: Translator) -> bytes:
    """Three panels: per union, per status, named studios per year.

    Without a CJK font Chinese cannot be drawn: then pass the English translator and figures read with
    English union names (`chart_language` says which language to use).
    """
    font = cjk_font()
    rc: dict[str, Any] = {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
                          "axes.unicode_minus": False, "figure.autolayout": False,
                          "figure.constrained_layout.use": False}
    names = [n for n, _ in st.by_union]
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(rc), warnings.catch_warnings():  # type: ignore[arg-type]
        warnings.simplefilter("ignore", UserWarning)  # a missing glyph must not fail the export
        fig = Figure(figsize=(10, 7 + 0.3 * max(len(names), 3)), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(3, 1, gridspec_kw={"height_ratios": [max(len(names), 3), 3, 3]})
        fig.suptitle(t.plain("stats.chart.title", year=st.year), fontsize=14)
        ax = axes[0]
        counts = [n for _, n in st.by_union]
        ax.bar_label(ax.barh(range(len(names)), counts, color="#3b6ea5"), padding=3)
        ax.set_yticks(range(len(names)), names, fontsize=9)
        ax.invert_yaxis()
        ax.set_title(t.plain("stats.chart.by_union"), fontsize=11)
        ax.margins(x=0.08)
        _integer_axis(ax, "x")
        ax = axes[1]
        labels = [t.plain(f"status.{code}") for code, _ in st.by_status]
        ax.bar_label(ax.bar(range(len(labels)), [n for _, n in st.by_status], color="#d08c2f"), padding=2)
        ax.set_xticks(range(len(labels)), labels, fontsize=8, rotation=20, ha="right")
        ax.set_title(t.plain("stats.chart.by_status"), fontsize=11)
        ax.margins(y=0.15)
        _integer_axis(ax, "y")
        ax = axes[2]
        years = [str(y) for y, _ in st.named_by_year]
        ax.bar_label(ax.bar(range(len(years)), [n for _, n in st.named_by_year], color="#4f9a5a"), padding=2)
        ax.set_xticks(range(len(years)), years)
        ax.set_title(t.plain("stats.chart.named"), fontsize=11)
        ax.margins(y=0.15)
        _integer_axis(ax, "y")
        for ax in axes:
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        for ax, empty in zip(axes, (not st.by_union, not st.by_status, not st.named_by_year), strict=True):
            if empty:  # no bars: a word instead of a meaningless scale
                ax.set_xticks([])
                ax.set_yticks([])
                ax.text(0.5, 0.5, t.plain("stats.chart.empty"), ha="center", va="center", transform=ax.transAxes,
                        color="#777777")
        fig.tight_layout()
        # laid out once: without this, `tight_layout` leaves a placeholder layout engine behind and
        # `savefig` runs the layout pass over every text again before printing (~20 ms, same pixels)
        fig.set_layout_engine(None)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()


_CHARTS: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_CHARTS_LOCK = threading.Lock()
CHARTS_KEPT = 8


def chart_cached(st: Stats, t: Translator) -> bytes:
    """`chart(st, t)`, drawn again only when the figures changed: the PNG depends on nothing else (the
    language's texts and the installed fonts are fixed while the process runs)."""
    key = (t.lang, st.year, st.total, st.drafts, tuple(st.by_union), tuple(st.by_status), tuple(st.named_by_year))
    with _CHARTS_LOCK:
        png = _CHARTS.get(key)
        if png is not None:
            _CHARTS.move_to_end(key)
            return png
    png = chart(st, t)
    with _CHARTS_LOCK:
        _CHARTS[key] = png
        while len(_CHARTS) > CHARTS_KEPT:
            _CHARTS.popitem(last=False)
    return png


def _integer_axis(ax: object, which: str) -> None:
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{which}axis").set_major_locator(MaxNLocator(integer=True))


def chart_language(lang: str) -> str:
    """The language the chart can be drawn in: Chinese only with a CJK font."""
    return lang if lang != "zh" or cjk_font() else "en"
