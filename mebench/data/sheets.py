"""Reading annotation sheets as their authors distribute them.

Real sheets are messy: notes rows above the header, blank ``Unnamed: N`` columns, zero-width and
non-breaking spaces in header cells, integers and strings mixed in one column, UTF-8 BOMs and CRLF
line endings. This module normalises all of that in one place, so that every loader matches
columns the same way and reports problems with the file, the row (as the spreadsheet shows it,
1-based) and the column.

Nothing here imports a heavy library at module level except pandas.
"""
from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import DataError

# Invisible characters seen in real header cells and label cells.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2009\u200a\u3000\t\r\n"), " ")
_UNNAMED = re.compile(r"^unnamed:\s*\d+(_level_\d+)?$", re.IGNORECASE)


def clean_text(value) -> str:
    """A cell as clean text: invisible characters removed, odd spaces folded, trimmed.

    ``None``/NaN become ``""``; a float that is an integer (``46.0``) becomes ``"46"``.
    """
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    text = unicodedata.normalize("NFKC", str(value)).translate(_INVISIBLE).translate(_SPACES)
    return re.sub(r" {2,}", " ", text).strip()


def clean_header(value) -> str:
    """A header cell for display: clean text, and ``""`` for pandas' ``Unnamed: N`` placeholders."""
    text = clean_text(value)
    return "" if _UNNAMED.match(text) else text


def header_key(value) -> str:
    """The matching key of a header cell: case-folded, only letters and digits.

    ``"Onset Frame"``, ``"OnsetFrame"``, ``"onset_frame\\u200b "`` all give ``"onsetframe"``.
    """
    return re.sub(r"[^0-9a-z]", "", clean_header(value).casefold())


def is_blank(value) -> bool:
    return clean_text(value) == ""


def parse_int(value) -> int | None:
    """An integer cell: ``46``, ``46.0``, ``" 46 "``, ``"46.0"``; ``None`` for blank or non-numeric."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or not value.is_integer():
            return None
        return int(value)
    text = clean_text(value)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?\d+\.0*", text):
        return int(float(text))
    return None


MAX_FRAME = 2**31 - 1  # far above any recording; keeps frame numbers inside Int64 columns


def parse_frame(value) -> int | None:
    """A frame-number cell as :func:`parse_int` reads it; ``None`` beyond +-MAX_FRAME as well."""
    number = parse_int(value)
    return number if number is not None and abs(number) <= MAX_FRAME else None


def parse_time(value) -> float | None:
    """Seconds from ``"2:10"`` (m:ss), ``"0:02:10"`` (h:mm:ss), ``"130"`` or ``130.5``; else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if hasattr(value, "hour") and hasattr(value, "minute"):  # datetime.time from a time-formatted cell
        return value.hour * 3600 + value.minute * 60 + value.second + getattr(value, "microsecond", 0) / 1e6
    text = clean_text(value)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    m = re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)", text)
    if not m:
        return None
    hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
    if seconds >= 60 or (m.group(1) and minutes >= 60):
        return None
    return hours * 3600 + minutes * 60 + seconds


# -- labels --------------------------------------------------------------------------------------
def label_key(value) -> str:
    """Normalised label text: clean, case-folded, single spaces (``"Truth "`` -> ``"truth"``)."""
    return clean_text(value).casefold()


DECEPTION_ALIASES = {
    "truth": "truthful", "truthful": "truthful", "true": "truthful", "t": "truthful", "honest": "truthful",
    "lie": "deceptive", "lies": "deceptive", "deception": "deceptive", "deceptive": "deceptive",
    "deceit": "deceptive", "false": "deceptive",
}


def deception_label(value) -> str | None:
    """``truthful`` / ``deceptive`` from the spellings found in deception corpora, else ``None``."""
    return DECEPTION_ALIASES.get(label_key(value))


SEX_ALIASES = {"f": "F", "female": "F", "woman": "F", "w": "F", "m": "M", "male": "M", "man": "M"}


def sex_label(value) -> str | None:
    """``F`` / ``M`` from ``F``, ``female``, ``Male`` ...; ``None`` when blank or unknown."""
    return SEX_ALIASES.get(label_key(value))


ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")


def objective_class(value) -> str | None:
    """Objective class as a roman numeral I..VII from ``1``, ``"1"``, ``"I"``, ``"class 3"``; else None."""
    text = clean_text(value).upper().replace("CLASS", "").strip()
    if text in ROMAN:
        return text
    number = parse_int(text)
    if number is not None and 1 <= number <= 7:
        return ROMAN[number - 1]
    return None


# -- action units --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AUCode:
    """A parsed FACS cell: AU numbers, side/asymmetry prefixes kept apart, "or" groups, doubts."""

    aus: tuple[int, ...] = ()
    sides: tuple[str, ...] = ()          # e.g. ("L10", "R2", "A1")
    alternatives: tuple[str, ...] = ()   # SAMM "/" = or, e.g. ("1/4",)
    uncertain: bool = False              # a "?" somewhere in the code
    raw: str = ""

    @property
    def side_text(self) -> str:
        return "+".join(self.sides)


_AU_TOKEN = re.compile(r"^(?P<prefix>[LRAUBT]?)(?:AU)?(?P<num>\d{1,2})(?P<intensity>[A-E])?$")


def parse_aus(value) -> AUCode:
    """Parse ``4+7+L10``, ``R2+15``, ``12``, ``A1/4+R14?`` into an :class:`AUCode`.

    ``+`` (and ``,``/``;``/spaces) separate AUs; ``L``/``R``/``A``/``U``/``B``/``T`` prefixes are sides
    (kept separately in ``sides``); an intensity letter suffix is dropped; ``/`` means "or" (all
    alternatives are listed in ``aus`` and the group in ``alternatives``); ``?`` marks doubt.
    Raises ``ValueError`` naming the token it cannot read.
    """
    raw = clean_text(value)
    if raw in ("", "/", "-", "--", "n/a", "N/A", "none", "None", "0"):
        return AUCode(raw=raw)
    uncertain = "?" in raw
    text = raw.replace("?", "").upper()
    numbers: set[int] = set()
    sides: list[str] = []
    alternatives: list[str] = []
    for token in re.split(r"[+,;&\s]+", text):
        if not token:
            continue
        options = [t for t in token.split("/") if t]
        if len(options) > 1:
            alternatives.append("/".join(options))
        for option in options:
            m = _AU_TOKEN.match(option)
            if not m:
                raise ValueError(f"cannot read AU token {option!r} in {raw!r}")
            number = int(m.group("num"))
            numbers.add(number)
            if m.group("prefix"):
                side = f"{m.group('prefix')}{number}"
                if side not in sides:
                    sides.append(side)
    return AUCode(tuple(sorted(numbers)), tuple(sides), tuple(alternatives), uncertain, raw)


# -- tables --------------------------------------------------------------------------------------
@dataclass
class Table:
    """A sheet read into canonical columns. ``rows`` are the 1-based row numbers in the file."""

    path: Path
    sheet: str | None
    header_row: int
    data: pd.DataFrame                      # canonical column names -> raw cell values
    rows: list[int]
    headers: dict[str, str] = field(default_factory=dict)   # canonical -> header text as found
    extra: list[str] = field(default_factory=list)          # other (non-blank) header texts

    def where(self, i: int, column: str | None = None) -> dict:
        """Keyword arguments for DataError naming this table's file, row and column."""
        name = self.headers.get(column, column) if column else None
        file = f"{self.path}" + (f" [sheet {self.sheet}]" if self.sheet else "")
        return {"file": file, "row": self.rows[i], "column": name}


def is_file(path) -> bool:
    """``Path.is_file`` that answers False, not OSError, for names the system refuses (too long, NUL)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def is_dir(path) -> bool:
    """``Path.is_dir`` that answers False, not OSError, for names the system refuses (too long, NUL)."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
UTF8_ENCODINGS = ("utf-8", "utf-8-sig")


def detect_encoding(data: bytes, path=None) -> str:
    """The encoding of a text annotation file: UTF-8 (with or without BOM), UTF-16 with a BOM, else cp1252.

    A file whose lines are partly valid UTF-8 with non-ASCII text and partly not is refused: read
    in one 8-bit encoding its UTF-8 labels would become new, garbled classes.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = data[: exc.start].count(b"\n") + 1
    for number, line in enumerate(data.splitlines(), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        raise DataError(f"the file mixes encodings: line {number} is UTF-8 but line {first_bad} is not",
                        file=path, hint="Re-save the whole file as UTF-8; read as one 8-bit encoding its "
                                        "UTF-8 labels would turn into new, garbled classes.")
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def decode_text(path: Path) -> tuple[str, str]:
    """The text of a CSV/TSV file and the encoding used (see :func:`detect_encoding`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", file=path) from None
    encoding = detect_encoding(data, path)
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:  # a BOM that lies
        raise DataError(f"the file starts like {encoding} but is not ({exc.reason} at byte {exc.start})",
                        file=path, hint="Re-save the file as UTF-8.") from None


# Parsed workbooks are cached by the file's sha256 (parsing an .xlsx costs more than the rest of a
# warm run's loading); cells are stored as tagged JSON, never pickled. Bump when parsing changes.
WORKBOOK_CACHE_VERSION = "1"


def _workbook_cache_path(path: Path, requested: str | None) -> Path:
    import hashlib

    from ..fsutil import cache_dir
    from ..hashing import file_sha256

    key = hashlib.sha256(f"{file_sha256(path)}|{requested!r}|v{WORKBOOK_CACHE_VERSION}".encode()).hexdigest()
    return cache_dir() / "sheets" / f"{key}.json"


def _cell_out(value):
    import datetime as dt

    for kind, cls in (("datetime", dt.datetime), ("date", dt.date), ("time", dt.time)):
        if isinstance(value, cls):
            return {"t": kind, "v": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"t": "timedelta", "v": value.total_seconds()}
    return value


def _cell_in(value):
    import datetime as dt

    if not isinstance(value, dict):
        return value
    kind, v = value["t"], value["v"]
    if kind == "timedelta":
        return dt.timedelta(seconds=v)
    return {"datetime": dt.datetime, "date": dt.date, "time": dt.time}[kind].fromisoformat(v)


def _cached_workbook(path: Path, requested: str | None):
    import json

    try:
        entry = json.loads(_workbook_cache_path(path, requested).read_text())
        rows = [[_cell_in(v) for v in row] for row in entry["rows"]]
        return pd.DataFrame(rows, dtype=object), entry["sheet"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_workbook(path: Path, requested: str | None, sheet: str, rows: list) -> None:
    import json

    from ..fsutil import atomic_write_bytes

    try:
        text = json.dumps({"sheet": sheet, "rows": [[_cell_out(v) for v in row] for row in rows]})
    except (TypeError, ValueError):  # a cell type JSON cannot hold: parse again next time
        return
    try:
        atomic_write_bytes(_workbook_cache_path(path, requested), text.encode())
    except OSError:
        pass  # a read-only cache only costs the parse


def _read_raw(path: Path, sheet: str | None) -> tuple[pd.DataFrame, str | None]:
    """All cells as objects, no header interpretation, keeping blank rows so row numbers hold."""
    suffix = path.suffix.lower()
    requested = sheet
    if not is_file(path):
        raise DataError("annotation file not found", file=path,
                        hint="Check --root, or name the file with --dataset-opt sheet=PATH.")
    if suffix in (".xlsx", ".xlsm"):
        cached = _cached_workbook(path, sheet)
        if cached is not None:
            return cached
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # zip errors, corrupt workbook
            raise DataError(f"cannot open the workbook ({type(exc).__name__}: {exc})", file=path,
                            hint="Re-download or re-export the sheet; it must be a valid .xlsx file.") from None
        try:
            names = book.sheetnames
            if sheet is None:
                sheet = names[0]
            elif sheet not in names:
                folded = {n.strip().casefold(): n for n in names}
                if sheet.strip().casefold() not in folded:
                    raise DataError(f"the workbook has no sheet {sheet!r}; it has {', '.join(map(repr, names))}",
                                    file=path, hint="Use the sheet as distributed by the dataset's authors.")
                sheet = folded[sheet.strip().casefold()]
            # Row 1 and column A always come first, so row numbers match what Excel shows.
            rows = [list(r) for r in book[sheet].iter_rows(min_row=1, min_col=1, values_only=True)]
        finally:
            book.close()
        width = max((len(r) for r in rows), default=0)
        rows = [r + [None] * (width - len(r)) for r in rows]
        _store_workbook(path, requested, sheet, rows)
        return pd.DataFrame(rows, dtype=object), sheet
    if suffix in TEXT_SUFFIXES:
        sep = "\t" if suffix == ".tsv" else ","
        text, _ = decode_text(path)
        if "\x00" in text:
            raise DataError("the file holds NUL characters, so it is not a text CSV", file=path,
                            hint="Export the sheet again as CSV (UTF-8).")
        try:
            frame = pd.read_csv(io.StringIO(text), header=None, dtype=object, sep=sep, skip_blank_lines=False,
                                keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            raise DataError("the file is empty", file=path) from None
        except (pd.errors.ParserError, csv.Error, ValueError) as exc:
            raise DataError(f"cannot parse the CSV ({exc})", file=path) from None
        return frame, None
    raise DataError(f"unsupported annotation file type {suffix!r}", file=path,
                    hint="Expected .xlsx or .csv as distributed by the dataset's authors.")


def read_table(path: str | Path, columns: dict[str, Iterable[str]], required: Iterable[str],
               sheet: str | None = None, search_rows: int = 40, header: bool = True) -> Table:
    """Read a sheet, find its header row, and map its columns onto canonical names.

    ``columns`` maps a canonical name to accepted header spellings (matched by :func:`header_key`).
    The header row is the first of the top ``search_rows`` rows that holds every ``required``
    column, so notes rows above the header are skipped. With ``header=False`` the file has no
    header and ``columns`` must be given in file order.
    """
    path = Path(path)
    raw, sheet = _read_raw(path, sheet)
    required = list(required)
    if not header:
        names = list(columns)
        if raw.shape[1] < len(required):
            raise DataError(f"expected {len(required)} columns ({', '.join(names)}), found {raw.shape[1]}",
                            file=path, row=1)
        data = raw.iloc[:, : len(names)].copy()
        data.columns = names[: data.shape[1]]
        keep = [not all(is_blank(v) for v in data.iloc[k].tolist()) for k in range(len(data))]
        rows = [i + 1 for i in range(len(raw)) if keep[i]]
        data = data.iloc[[k for k in range(len(data)) if keep[k]]].reset_index(drop=True)
        return Table(path, sheet, 0, data, rows, {n: n for n in names})
    aliases = {canon: {header_key(a) for a in spellings} | {header_key(canon)} for canon, spellings in columns.items()}
    header_idx, mapping = None, {}
    for i in range(min(search_rows, len(raw))):
        keys = [header_key(v) for v in raw.iloc[i].tolist()]
        found = {}
        for canon, accepted in aliases.items():
            for j, key in enumerate(keys):
                if key and key in accepted and j not in found.values():
                    found[canon] = j
                    break
        if all(c in found for c in required):
            header_idx, mapping = i, found
            break
    if header_idx is None:
        shown = []
        for i in range(min(search_rows, len(raw))):
            cells = [clean_header(v) for v in raw.iloc[i].tolist() if clean_header(v)]
            if cells:
                shown.append(f"row {i + 1}: {', '.join(cells[:8])}")
            if len(shown) == 3:
                break
        where = f"{path}" + (f" [sheet {sheet}]" if sheet else "")
        wanted = ", ".join(repr(next(iter(columns[c]), c)) for c in required)
        raise DataError(
            f"no header row with the columns {wanted} in the first {search_rows} rows"
            + (f"; the sheet starts with {' | '.join(shown)}" if shown else "; the sheet is empty"),
            file=where, hint="Check that this is the dataset's original annotation sheet.")
    header_cells = raw.iloc[header_idx].tolist()
    body = raw.iloc[header_idx + 1:]
    data = pd.DataFrame({canon: body.iloc[:, j].tolist() for canon, j in mapping.items()})
    used = set(mapping.values())
    extra = [clean_header(c) for j, c in enumerate(header_cells) if j not in used and clean_header(c)]
    keep = [not all(is_blank(v) for v in body.iloc[k].tolist()) for k in range(len(body))]
    rows = [header_idx + 2 + k for k in range(len(body)) if keep[k]]
    data = data.iloc[[k for k in range(len(data)) if keep[k]]].reset_index(drop=True)
    headers = {canon: clean_header(header_cells[j]) for canon, j in mapping.items()}
    return Table(path, sheet, header_idx + 1, data, rows, headers, extra)


def read_raw_rows(path: str | Path, sheet: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """All cells of a sheet as objects (for multi-row headers); row i is file row i + 1."""
    return _read_raw(Path(path), sheet)


def find_file(root: Path, patterns: Iterable[str], what: str, option: str = "sheet",
              given: str | None = None, recursive: bool = True) -> Path:
    """The one annotation file under ``root`` matching ``patterns`` (or the ``given`` one)."""
    if given:
        path = Path(given)
        if not path.is_absolute():
            path = root / path
        if not is_file(path):
            raise DataError(f"{what} not found", file=path, hint=f"--dataset-opt {option}= must name an existing file.")
        return path
    found: list[Path] = []
    for pattern in patterns:
        hits = root.rglob(pattern) if recursive else root.glob(pattern)
        found.extend(p for p in hits if p.is_file() and not p.name.startswith(("~$", ".")))
        if found:
            break
    found = sorted(set(found))
    if not found:
        raise DataError(f"{what} not found: no file matching {' or '.join(patterns)} under the root", file=root,
                        hint=f"Place the sheet in the dataset root or pass --dataset-opt {option}=PATH.")
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(root)) for p in found[:6])
        raise DataError(f"several candidate {what}s: {names}", file=root,
                        hint=f"Choose one with --dataset-opt {option}=NAME.")
    return found[0]


_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:")


def safe_path(base: Path, relative, root=None, what: str = "path", **where) -> Path:
    """``relative`` (a sheet or manifest cell) joined to ``base``; refused unless it stays inside ``root``.

    ``root`` (default ``base``) is the folder the cell may not leave, or a tuple of folders: the
    dataset root and the folder the loader joins the cell to, which may itself be a link to another
    disk (a frames folder on a data drive). Refused with a :class:`DataError` naming ``where``'s
    file, row and column: an empty cell, an absolute path (``/x``, ``C:\\x``, ``\\\\server\\x``), any
    ``..`` part, an over-long name, and a path whose target, once symbolic links are followed, lies
    outside ``root``. Returns the joined path with links left as they are.
    """
    text = clean_text(relative).replace("\\", "/")
    hint = "Name files relative to their folder inside --root; copy (not link) files from elsewhere into it."
    if not text:
        raise DataError(f"empty {what}", **where)
    if "\x00" in text:
        raise DataError(f"{what} {text!r} contains a NUL character", **where, hint=hint)
    if text.startswith("/") or _WINDOWS_ABSOLUTE.match(text):
        raise DataError(f"{what} {text!r} escapes the dataset root: it is an absolute path", **where, hint=hint)
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise DataError(f"{what} {text!r} escapes the dataset root: '..' is not allowed", **where, hint=hint)
    if not parts:
        raise DataError(f"{what} {text!r} names no file", **where)
    if max(len(part.encode("utf-8", "surrogateescape")) for part in parts) > 255 or len(text) > 4000:
        raise DataError(f"{what} {text[:60]!r}... is too long for a file name", **where, hint=hint)
    target = Path(base).joinpath(*parts)
    containers = [Path(c) for c in (root if isinstance(root, (tuple, list)) else [root if root is not None else base])]
    try:
        resolved, allowed = target.resolve(), [c.resolve() for c in containers]
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, names too long
        raise DataError(f"cannot resolve {what} {text!r} ({type(exc).__name__}: {exc})", **where, hint=hint) from None
    if not any(resolved == inside or inside in resolved.parents for inside in allowed):
        raise DataError(f"{what} {text!r} escapes the dataset root: a symbolic link leads to {resolved}, outside "
                        f"{containers[0]}", **where, hint=hint)
    return target


def sanitise_name(name: str) -> str:
    """``"Close-R"`` -> ``"close_r"``: a lower-case Python identifier fragment."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", clean_text(name)).strip("_").lower()
    return text or "unnamed"
