"""MUMIN gesture annotations, shared by the Real-life Trial and DOLOS loaders and the ``mumin`` extractor.

MUMIN (Allwood et al., 2007) codes facial displays, gaze, head and hand movements per clip. The
loaders put one binary column per gesture into the samples table, named ``mumin_<gesture>``.
DOLOS sheets group their gesture columns under three header rows (category over merged cells,
sub-group, gesture name); :func:`grouped_header` reads that layout. Their cells are 0 / 1 / blank or
interval lists typed by hand, typos included; :func:`read_gesture_cell` is the one documented reading.
"""
from __future__ import annotations

import re
import unicodedata
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


# -- DOLOS gesture cells ----------------------------------------------------------------------------
# A cell says whether a gesture occurred in the clip: 0 / 1, blank, or the episode times at which it
# occurred as an interval list, ``[1.27, 1.29]`` or ``[[2:10, 2:11], [3:01, 3:04]]``. A time is m.ss or
# m:ss (minutes, then two-digit seconds), as the sheet's start and end times are typed.
CLEAN_TIME = r"\d{1,3}[.:]\d{2}"
CLEAN_PAIR = rf"\[\s*{CLEAN_TIME}\s*,\s*{CLEAN_TIME}\s*\]"
CLEAN_PAIRS = rf"{CLEAN_PAIR}(?:\s*,\s*{CLEAN_PAIR})*"
CLEAN_LIST = re.compile(rf"\s*(?:{CLEAN_PAIRS}|\[\s*{CLEAN_PAIRS}\s*\])\s*")  # wrapped in one pair of brackets, or not
BARE_TIME = re.compile(r"\d+:\d{2}")
FULL_WIDTH_BRACKETS = str.maketrans("【】〔〕", "[][]")  # ［］ and full-width ,;:. are folded by NFKC already
INNER_GROUP = re.compile(r"\[([^\[\]]*)\]")
GROUP_SKELETON = re.compile(r"G(?:[,.;]*G)*")
PROPER_INSIDE = (".", ":")          # between minutes and seconds
TYPO_INSIDE = (",", ";", "..")      # the same place, mistyped
BETWEEN = (",", ".", ";")           # between the two times of an interval


@dataclass(frozen=True)
class GestureCell:
    """One MUMIN cell as read: ``present`` 1 / 0, or None when it says neither (a row-level error);
    ``how`` names the reading (see :func:`read_gesture_cell`); ``intervals`` the (start, end)
    episode times in seconds, when they could be read."""

    present: int | None
    how: str
    intervals: tuple[tuple[int, int], ...] = ()


def _pair(content: str) -> tuple[int, int] | None:
    """One interval ``m.ss,m.ss`` (whitespace removed) with the typos the release holds, or None.

    The content must hold exactly four digit runs, minutes then two-digit seconds (< 60) twice, so
    where the two times split is never a guess; the separators may be mistyped (``1,29`` or
    ``1;31`` or ``18..59`` for ``1.29``, ``.`` or ``;`` between the times), but at least one time
    must be written properly unless both carry the same typo (``1;31,1;33``), and the interval may
    not run backwards.
    """
    runs = re.findall(r"\d+", content)
    pieces = re.split(r"\d+", content)
    if len(runs) != 4 or pieces[0] or pieces[-1]:
        return None
    inside, between = (pieces[1], pieces[3]), pieces[2]
    if between not in BETWEEN or any(sep not in PROPER_INSIDE + TYPO_INSIDE for sep in inside):
        return None
    if not any(sep in PROPER_INSIDE for sep in inside) and not (inside[0] == inside[1] != ","):
        return None
    if len(runs[0]) > 3 or len(runs[2]) > 3 or len(runs[1]) != 2 or len(runs[3]) != 2:
        return None
    start, end = int(runs[0]) * 60 + int(runs[1]), int(runs[2]) * 60 + int(runs[3])
    if int(runs[1]) >= 60 or int(runs[3]) >= 60 or end < start:
        return None
    return start, end


def _interval_list(compact: str) -> tuple[tuple[int, int], ...] | None:
    """The intervals of a bracketed cell with its whitespace removed, or None when any is unreadable.

    Groups (innermost brackets) may be joined by ``,``, ``,,``, ``.`` or ``;`` and wrapped in one
    pair of outer brackets; a list missing only its first ``[`` (or only its last ``]``) is closed.
    """
    if "[" not in compact and compact.endswith("]"):
        compact = "[" + compact
    elif "]" not in compact and compact.startswith("["):
        compact = compact + "]"
    groups = INNER_GROUP.findall(compact)
    skeleton = INNER_GROUP.sub("G", compact)
    if skeleton.startswith("[") and skeleton.endswith("]"):
        skeleton = skeleton[1:-1]
    if not groups or not GROUP_SKELETON.fullmatch(skeleton):
        return None
    pairs = [_pair(g) for g in groups]
    return None if any(p is None for p in pairs) else tuple(pairs)


def read_gesture_cell(value) -> GestureCell:
    """Read one DOLOS MUMIN cell; a non-empty interval list means the gesture occurred.

    ``how`` is one of:

    * ``binary``: ``0`` / ``1`` (also ``1.0``); ``blank``: an empty cell, absent;
      ``empty_list``: ``[]`` or ``[[]]``, absent;
    * ``intervals``: a clean list, ``[1.27, 1.29]``, ``[[2:10, 2:11], [3:01, 3:04]]``; present;
    * ``repaired_intervals``: present, its times read after repairing typos whose reading is
      unambiguous (below);
    * ``times_unreadable``: present (it is bracketed and holds a number, or is bare text holding an
      ``m:ss`` time), but the times cannot be read without a guess;
    * ``unreadable``: neither present nor absent (a bare ``9``, ``maybe``, ``[x]``): a row-level error.

    The release's malformed cells, and how each is read (times in seconds of the episode):

    ============================================  ====================  ===========================
    cell                                          reading               why
    ============================================  ====================  ===========================
    ``[1.27,1,29]``                               87-89                 ``1,29``: comma for the point
    ``【2.22, 2.23】``                            142-143               full-width brackets
    ``[23.54.23.58]``                             1434-1438             ``.`` between the times
    ``[1;31,1;33]``                               91-93                 ``;`` for the point, in both
    ``[18.58,18..59]``                            1138-1139             ``..`` for ``.``
    ``[6,40, 6.45]``                              400-405               ``6,40``: comma for the point
    ``[12.01. 12.03]``                            721-723               ``. `` between the times
    ``[15. 21, 15.22]``                           921-922               space inside a time
    ``[16.54, 16. 58]``                           1014-1018             space inside a time
    ``[12.53, 12.54],, [12.55, 12.57]``           773-774, 775-777      doubled comma
    ``[[13.08, 13.11]. [13.15, 13.17]]``          788-791, 795-797      ``.`` between intervals
    ``26.45, 26.46]``                             1605-1606             first ``[`` missing
    ``[[4.06],[4.08]]``                           present, times        one interval 4.06-4.08, or
                                                  unreadable            two moments? Not guessed
    ``9`` (bare)                                  unreadable            neither 0/1 nor a list
    ============================================  ====================  ===========================

    (The report of the release cuts the two multi-interval cells short; their second intervals here
    are examples.) Never read: a time that is not minutes and two-digit seconds (``[83, 85]``,
    ``[1.5, 2.25]``), a single time (``[4.06]``), four digit runs where each time carries a comma
    (``[1,27,1,29]``: two intervals in seconds?), an interval running backwards, or more than one
    level of brackets around the intervals; all of these are present with unreadable times.
    """
    text = clean_text(value)
    if text == "":
        return GestureCell(0, "blank")
    number = parse_int(value)
    if number in (0, 1):
        return GestureCell(number, "binary")
    widened = any(unicodedata.normalize("NFKC", ch) != ch for ch in str(value) if not ch.isspace())
    clean = CLEAN_LIST.fullmatch(text) is not None and not widened
    text = text.translate(FULL_WIDTH_BRACKETS)
    if "[" not in text and "]" not in text:
        return GestureCell(1, "times_unreadable") if BARE_TIME.search(text) else GestureCell(None, "unreadable")
    compact = re.sub(r"\s+", "", text)
    if not re.search(r"\d", compact):
        return GestureCell(0, "empty_list") if compact in ("[]", "[[]]") else GestureCell(None, "unreadable")
    intervals = _interval_list(compact)
    if intervals is None:
        return GestureCell(1, "times_unreadable")
    return GestureCell(1, "intervals" if clean else "repaired_intervals", intervals)


def gesture_value(value) -> tuple[int | None, str]:
    """A MUMIN gesture cell as (presence, how it was read); see :func:`read_gesture_cell`."""
    cell = read_gesture_cell(value)
    return cell.present, cell.how


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
