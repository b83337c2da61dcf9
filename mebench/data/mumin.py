"""MUMIN gesture annotations, shared by the Real-life Trial and DOLOS loaders and the ``mumin`` extractor.

MUMIN (Allwood et al., 2007) codes facial displays, gaze, head and hand movements per clip. The
loaders put one binary column per gesture into the samples table, named ``mumin_<gesture>``.
DOLOS sheets group their gesture columns under three header rows (category over merged cells,
sub-group, gesture name); :func:`grouped_header` reads that layout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .sheets import clean_header, clean_text, parse_int, read_raw_rows, sanitise_name

MUMIN_PREFIX = "mumin_"

# The 39 binary MUMIN gesture columns of Real-life Trial's annotation CSV, in file order.
RLT_GESTURES = (
    "OtherGestures", "Smile", "Laugh", "Scowl", "otherEyebrowMovement", "Frown", "Raise", "OtherEyeMovements",
    "Close-R", "X-Open", "Close-BE", "gazeInterlocutor", "gazeDown", "gazeUp", "otherGaze", "gazeSide",
    "openMouth", "closeMouth", "lipsDown", "lipsUp", "lipsRetracted", "lipsProtruded", "SideTurn", "downR",
    "sideTilt", "backHead", "otherHeadM", "sideTurnR", "sideTiltR", "waggle", "forwardHead", "downRHead",
    "singleHand", "bothHands", "otherHandM", "complexHandM", "sidewaysHand", "downHands", "upHands",
)


def mumin_column(name: str) -> str:
    """``"Close-R"`` -> ``"mumin_close_r"``: the samples-table column of a gesture."""
    return MUMIN_PREFIX + sanitise_name(name)


# A DOLOS interval list: "[2:10,2:11]", "[[2:10, 2:11], [3:01, 3:04]]".
INTERVAL_LIST = re.compile(r"^\[?(\s*\[\s*\d+(?::\d+)*(?:\.\d+)?\s*,\s*\d+(?::\d+)*(?:\.\d+)?\s*\]\s*,?)+\s*\]?$")
TIME_TOKEN = re.compile(r"\d+:\d{1,2}")


def gesture_value(value) -> tuple[int | None, str]:
    """A MUMIN gesture cell as (presence, how it was read).

    ``0``/``1`` -> (0|1, "binary"); blank -> (0, "blank"); an interval list such as
    ``[2:10,2:11]`` -> (1, "intervals"); other text holding a time such as ``2:10`` ->
    (1, "loose-intervals"); anything else -> (None, "unreadable").
    """
    text = clean_text(value)
    if text == "":
        return 0, "blank"
    number = parse_int(text)
    if number in (0, 1):
        return number, "binary"
    if INTERVAL_LIST.match(text):
        return 1, "intervals"
    if TIME_TOKEN.search(text):
        return 1, "loose-intervals"
    return None, "unreadable"


@dataclass
class GroupedHeader:
    """A sheet with category / sub-group / name header rows. Row i of ``raw`` is file row i + 1."""

    raw: object                                   # the cells as a DataFrame of objects
    sheet: str | None
    name_row: int                                 # 0-based index of the row holding column names
    columns: list[tuple[int, str, str, str]]      # (column index, category, sub-group, name)


def grouped_header(path: Path, is_name_row, sheet: str | None = None, search_rows: int = 20) -> GroupedHeader | None:
    """Read a sheet whose column names sit under category and sub-group rows.

    The name row is the first of the top ``search_rows`` rows for which ``is_name_row(cells)`` is
    true; categories and sub-groups (the rows above it) are forward-filled across merged cells,
    and a sub-group never runs on into the next category.
    Returns None when no row qualifies.
    """
    raw, sheet = read_raw_rows(path, sheet)
    name_row = next((h for h in range(min(search_rows, len(raw))) if is_name_row(raw.iloc[h].tolist())), None)
    if name_row is None:
        return None

    def filled(row_index: int, starts: set[int] = frozenset()) -> list[str]:
        """A header row forward-filled across merged cells; the fill restarts at each column in ``starts``."""
        if row_index < 0:
            return [""] * raw.shape[1]
        out, last = [], ""
        for j, v in enumerate(raw.iloc[row_index].tolist()):
            last = clean_header(v) or ("" if j in starts else last)
            out.append(last)
        return out

    category_starts = set() if name_row < 2 else {j for j, v in enumerate(raw.iloc[name_row - 2].tolist())
                                                  if clean_header(v)}
    groups, subs = filled(name_row - 2), filled(name_row - 1, category_starts)
    columns = [(j, groups[j], subs[j], clean_header(raw.iat[name_row, j])) for j in range(raw.shape[1])]
    return GroupedHeader(raw, sheet, name_row, columns)
