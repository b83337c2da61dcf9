"""Numbers and values as printed in tables, reports, the leaderboard and error messages: one rule each."""
from __future__ import annotations

import math


def fmt_number(value, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` for None, NaN, infinities and non-numbers."""
    try:
        if value is None or not math.isfinite(value):
            return "n/a"
    except TypeError:  # not a number
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_p(p) -> str:
    """A p-value: four decimals, or scientific notation below 1e-4; ``n/a`` as in :func:`fmt_number`."""
    return "n/a" if fmt_number(p) == "n/a" else f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def show_value(value) -> str:
    """A hash, list or name in a message: long strings cut to 12 characters, lists bracketed, None as none."""
    if isinstance(value, list):
        return "[" + ", ".join(show_value(x) for x in value) + "]" if value else "none"
    if isinstance(value, str) and len(value) > 20:
        return value[:12] + "…"
    return repr(value) if value is not None else "none"
