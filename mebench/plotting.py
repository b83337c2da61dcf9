"""What every mebench figure shares: a journal style, column widths, wrapped text and pipeline keys.

Pipeline names such as ``resnet-fpf-tmfe+au-libreface+logreg[c.C=0.1,f.align=None,…]`` do not fit on an
axis, so a figure names each pipeline by a short label (one the user gave, or a generated key ``P1``,
``P2``, …) and prints a key below the plot mapping each generated key to the full name, wrapped to the
figure's width. Text is measured with the font's own metrics, so nothing is cut at the page edge.
Figures use constrained layout, TrueType fonts in PDFs (text stays text, as journals ask) and fixed
metadata (no software string, no date), so the same runs give the same bytes.

Kept on the bottom floor so that ``mebench.stats`` (the CD diagram of ``compare``) and
``mebench.leaderboard`` draw alike.
"""
from __future__ import annotations

import contextlib
import functools
import io
import re
from pathlib import Path

from .errors import UsageError

WIDTHS = {"one": 3.5, "two": 7.0}  # inches: one and two columns of a journal page
DPI = 150  # PNG resolution; PDFs are vector
FONT = 7.0  # points, the smallest size most journals accept at print size
KEY_FONT = 6.5
PAD = 0.04  # inches around the figure's content
FORMATS = ("png", "pdf")
_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}
RC = {"font.size": FONT, "axes.titlesize": FONT, "axes.labelsize": FONT, "figure.titlesize": FONT + 0.5,
      "xtick.labelsize": FONT - 0.5, "ytick.labelsize": FONT - 0.5, "legend.fontsize": FONT - 0.5,
      "legend.title_fontsize": FONT - 0.5, "axes.linewidth": 0.6, "lines.linewidth": 1.0, "xtick.major.width": 0.6,
      "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5, "legend.frameon": False,
      "pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "mebench", "figure.dpi": 100}
_BREAK = re.compile(r"[^ ,+\[/·]*(?:[ ,+\[/·]|$)")


@contextlib.contextmanager
def style():
    """matplotlib's default style (a user's matplotlibrc cannot change a figure) plus the journal sizes."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.style

    with matplotlib.style.context("default"), matplotlib.rc_context(RC):
        yield


def width_inches(width) -> float:
    """``"one"`` or ``"two"`` (journal columns) or a width in inches."""
    if isinstance(width, str):
        if width not in WIDTHS:
            raise UsageError(f"figure width {width!r}: use one of {', '.join(WIDTHS)} (columns) or inches.")
        return WIDTHS[width]
    return float(width)


def new_figure(width, height: float, key_height: float = 0.0):
    """A constrained-layout figure; ``key_height`` inches at the bottom are kept free for :func:`draw_key`."""
    from matplotlib.figure import Figure

    w = width_inches(width)
    h = height + key_height
    fig = Figure(figsize=(w, h))
    fig.set_layout_engine("constrained", w_pad=PAD, h_pad=PAD, rect=(0, key_height / h, 1, 1 - key_height / h))
    return fig


@functools.lru_cache(maxsize=4096)
def text_width(text: str, size: float, weight: str = "normal") -> float:
    """Width of one line of ``text`` in points, from the font's metrics (the style's font)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    w, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=size, weight=weight),
                                                         ismath=False)
    return float(w)


def wrap(text: str, width_pt: float, size: float) -> list[str]:
    """``text`` broken into lines no wider than ``width_pt``: after spaces, commas, ``+``, ``[`` and ``/``
    (pipeline names have no spaces), and inside a word only when a piece alone is too wide. A no-break
    space (U+00A0) keeps its neighbours together, as in ``p = 0.0010``."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for piece in (p for p in _BREAK.findall(paragraph) if p):
            if text_width(line + piece.rstrip(), size) <= width_pt:
                line += piece
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = ""
            while text_width(piece.rstrip(), size) > width_pt and len(piece) > 1:  # one piece wider than a line
                cut = max(1, max(i for i in range(1, len(piece) + 1) if text_width(piece[:i], size) <= width_pt)
                          if text_width(piece[:1], size) <= width_pt else 1)
                lines.append(piece[:cut])
                piece = piece[cut:]
            line = piece
        lines.append(line.rstrip())
    return lines


def wrapped(text: str, fig_width, size: float = FONT + 0.5, share: float = 1.0) -> str:
    """``text`` wrapped to ``share`` of the figure's width (less the padding): for titles."""
    return "\n".join(wrap(text, share * (width_inches(fig_width) - 4 * PAD) * 72 - 4, size))


# ---- pipeline labels and their key ----
def parse_labels(items) -> dict:
    """``--label NAME=SHORT`` values as {NAME: SHORT}; the last ``=`` separates them (names hold ``=``)."""
    out: dict = {}
    for item in items or ():
        name, sep, short = str(item).rpartition("=")
        if not sep or not name.strip() or not short.strip():
            raise UsageError(f"--label {item!r}: write PIPELINE=SHORT, e.g. --label 'hoof+svm-linear=HOOF-SVM'.")
        if name.strip() in out and out[name.strip()] != short.strip():
            raise UsageError(f"--label gives {name.strip()!r} two labels: {out[name.strip()]!r} and {short.strip()!r}.")
        out[name.strip()] = short.strip()
    return out


def pipeline_labels(names, user: dict | None = None, prefix: str = "P") -> tuple[dict, list]:
    """({full name: short label}, key) for ``names`` in order.

    A name gets the user's label when one is given, else the next free generated key (``P1``, ``P2``, …);
    ``key`` lists (generated key, full name) for the figure's key table. Labels are distinct: two
    pipelines that differ in any option have different names, hence different labels; a user label
    given twice, or naming no pipeline, is refused.
    """
    names = list(dict.fromkeys(names))
    user = dict(user or {})
    unknown = [n for n in user if n not in names]
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; the pipelines are: {', '.join(names)}"
        raise UsageError(f"--label names no pipeline of these runs: {unknown[0]!r}{hint}")
    given = [user[n] for n in names if n in user]
    dup = sorted({s for s in given if given.count(s) > 1})
    if dup:
        raise UsageError(f"--label {dup[0]!r} is given to several pipelines "
                         f"({', '.join(n for n in names if user.get(n) == dup[0])}); labels must be distinct.")
    taken = set(given)
    labels, key, i = {}, [], 0
    for name in names:
        if name in user:
            labels[name] = user[name]
            continue
        i += 1
        while f"{prefix}{i}" in taken:
            i += 1
        labels[name] = f"{prefix}{i}"
        key.append((labels[name], name))
    return labels, key


def key_lines(key: list, width, size: float = KEY_FONT) -> tuple[float, list]:
    """(key column width in points, [(key or "", text line)]) of the key table wrapped to the figure's width."""
    if not key:
        return 0.0, []
    col = max(text_width(k, size, "bold") for k, _ in key) + size
    avail = (width_inches(width) - 4 * PAD) * 72 - col - 4
    rows = []
    for k, full in key:
        for j, line in enumerate(wrap(full, avail, size)):
            rows.append((k if j == 0 else "", line))
    return col, rows


def key_height(key: list, width, size: float = KEY_FONT) -> float:
    """Height in inches the key table of ``key`` needs at ``width``."""
    _, rows = key_lines(key, width, size)
    return 0.0 if not rows else (len(rows) * size * 1.3 + 2 * size * 0.6) / 72 + 2 * PAD


def draw_key(fig, key: list, size: float = KEY_FONT) -> None:
    """The key table in the band :func:`new_figure` kept free: generated key, then the full name."""
    col, rows = key_lines(key, fig.get_figwidth(), size)
    if not rows:
        return
    x0 = 2 * PAD
    top = key_height(key, fig.get_figwidth(), size) - PAD - size * 0.6 / 72
    for i, (k, line) in enumerate(rows):
        y = top - (i + 0.5) * size * 1.3 / 72
        if k:
            fig.text(x0, y, k, fontsize=size, weight="bold", va="center", ha="left", transform=fig.dpi_scale_trans)
        fig.text(x0 + col / 72, y, line, fontsize=size, va="center", ha="left", transform=fig.dpi_scale_trans)


# ---- saving ----
def figure_bytes(fig, fmt: str) -> bytes:
    """The figure as PNG or PDF bytes with fixed metadata."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
    return buf.getvalue()


def save(fig, stem: Path, formats=FORMATS) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` atomically; returns the paths."""
    from .fsutil import atomic_write_bytes

    paths = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        atomic_write_bytes(path, figure_bytes(fig, fmt))
        paths.append(path)
    return paths


def save_as(fig, path) -> str:
    """Write the figure to ``path`` in the format its suffix names (PNG when it names none); formats
    other than PNG and PDF get ``SOURCE_DATE_EPOCH=0`` so that they carry no date either."""
    import os

    from .fsutil import atomic_write_bytes

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt in _METADATA:
        atomic_write_bytes(path, figure_bytes(fig, fmt))
        return str(path)
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=DPI)
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
    atomic_write_bytes(path, buf.getvalue())
    return str(path)
