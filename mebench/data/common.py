"""Machinery shared by the on-disk loaders: problems, label sets, frame folders and apex policies.

A loader collects *problems* while it reads: a missing frame folder, an onset outside the frames
found, an unreadable cell. A fatal problem stops the load with one :class:`DataError` that names
the file, the row and what was expected (or, with ``bad_frames=skip``, drops that sample and
records the skip). ``mebench data check`` sets ``collect_problems`` so that every problem of a
copy is listed at once instead of stopping at the first. A run sets ``on_error`` from its
``--on-error``: with ``skip``, a problem confined to one row (:meth:`LoaderBase.row_problems`, such as
a DOLOS gesture cell that reads as neither present nor absent) drops that row as a recorded,
counted skip, as ``--on-error skip`` does for a sample whose features fail.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from ..errors import ConfigError, DataError
from ..io import numbered_images
from .base import Dataset
from .sheets import MAX_FRAME, clean_text, is_dir, label_key, parse_aus, parse_frame, safe_path

APEX_POLICIES = ("annotated", "middle", "spot")
APEX_POLICY_TEXT = ("apex=annotated keeps the sheet's apex and leaves a missing one missing (extractors that need an "
                    "apex then refuse that sample); apex=middle sets a missing apex to (onset+offset)//2; apex=spot "
                    "sets it to the frame of maximal motion from onset (mebench.face.spotting.spot_apex, run by the "
                    "runner and by `mebench data check` before features are extracted). Annotated "
                    "apexes are never replaced; every resolved apex is counted in the manifest.")


def check_choice(dataset: str, option: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"dataset {dataset!r}: --dataset-opt {option}={value!r} is not valid; choose one of "
                          f"{', '.join(map(str, choices))}.")


def check_flag(dataset: str, option: str, value) -> bool:
    """A yes/no option: a bool (YAML ``true``/``false``/``yes``/``no``) or 0/1; anything else is an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConfigError(f"dataset {dataset!r}: --dataset-opt {option}={value!r} is not valid; use true or false.")


def check_text(dataset: str, option: str, value) -> str | None:
    """A file or folder option: text (a bare number such as ``2019`` is read as text), or None."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"dataset {dataset!r}: --dataset-opt {option}={value!r} is not valid; give a file or folder "
                      "name (relative to --root).")


@dataclass(frozen=True)
class LabelSet:
    """A label set: its description, the raw->label mapping (None keeps the raw value) and its source."""

    description: str
    mapping: dict[str, str] | None = None
    source: str = "emotion"


def describe(label_sets: dict[str, LabelSet]) -> dict[str, str]:
    return {name: ls.description for name, ls in label_sets.items()}


class LoaderBase(Dataset):
    """A :class:`Dataset` that records problems, counts and identities."""

    def __init__(self, root=None):
        super().__init__(root)
        self.identities = True
        self.collect_problems = False
        self.on_error = "raise"  # the run's --on-error; "skip" turns row_problems into recorded skips
        self.problems: list[dict] = []

    # -- recording --------------------------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = int(self.counts.get(key, 0)) + int(n)

    def problem(self, kind: str, sample_id: str | None, message: str, fatal: bool = True,
                hint: str | None = None, **where) -> None:
        """Record a problem; ``where`` holds DataError's ``file``/``row``/``column``."""
        text = str(DataError(message, hint=hint, **where))
        self.problems.append({"kind": kind, "sample_id": sample_id, "message": text, "fatal": fatal})
        if not fatal:
            self.count(f"{kind}_problems")

    def row_problems(self, sample_id: str, problems: list[tuple[str, dict]], skipped_as: str, hint: str) -> bool:
        """Problems confined to one row of a file; ``problems`` holds (message, where) pairs, each ``where``
        naming ``file``, ``row`` and ``column``.

        By default each is a fatal problem (so ``mebench data check`` lists every one); with
        ``on_error="skip"`` (``mebench run --on-error skip``) the row is one recorded skip of ``sample_id``
        naming them all, counted under ``skipped_as``. Returns True when the caller must drop the row.
        """
        if self.on_error == "skip" and not self.collect_problems:
            first = problems[0][1]
            detail = "; ".join(f"column {w['column']!r}: {m}" if w.get("column") is not None else m
                               for m, w in problems)
            self.skip(sample_id, f"{Path(first['file']).name} row {first['row']}: {detail} (--on-error skip)")
            self.count(skipped_as)
            return True
        for message, where in problems:
            self.problem("sheet", sample_id, message, hint=hint, **where)
        return False

    def checked_path(self, base: Path, relative, sample_id: str | None, what: str, root=None, **where) -> Path | None:
        """:func:`~mebench.data.sheets.safe_path` for a path built from a cell; None after recording a refusal.

        ``root`` is a folder or a tuple of folders the path may not leave. A refused path (``..``,
        absolute, a link leading out) is a fatal problem that ``bad_frames=skip`` never turns into a skip.
        """
        try:
            return safe_path(base, relative, root, what=what, **where)
        except DataError as exc:
            self.problems.append({"kind": "path", "sample_id": sample_id, "message": str(exc), "fatal": True})
            return None

    def fatal_problems(self) -> list[dict]:
        return [p for p in self.problems if p["fatal"]]

    def raise_if_fatal(self) -> None:
        """Raise one DataError for the fatal problems found (unless collecting for data check)."""
        fatal = self.fatal_problems()
        if fatal and not self.collect_problems:
            more = f" ({len(fatal) - 1} more problem(s); run `mebench data check {self.name} " \
                   f"--root ...` to list them all)" if len(fatal) > 1 else ""
            raise DataError(fatal[0]["message"] + more)


def list_frame_numbers(folder: Path) -> list[int] | None:
    """Sorted frame numbers (last integer in each image file name) in ``folder``; None if absent."""
    try:
        found = numbered_images(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return sorted(n for n, _ in found if n <= MAX_FRAME)  # a longer digit run is no frame number


class FrameDataset(LoaderBase):
    """Micro-expression datasets: frame folders, onset/apex/offset, label sets and apex policies.

    Subclasses produce *records* (dicts) with at least ``sample_id``, ``subject``, ``clip``,
    ``frames`` (a Path), ``onset``/``apex``/``offset`` (int or None), the raw label fields and
    ``_where`` (DataError keywords naming the sheet row); :meth:`finish` turns them into the
    samples table.
    """

    LABEL_SETS: ClassVar[dict[str, LabelSet]] = {}
    EMOTION_ALIASES: ClassVar[dict[str, str]] = {}
    default_apex: ClassVar[str] = "annotated"
    target_columns: ClassVar[tuple[str, ...]] = ("emotion", "objective")
    task_targets: ClassVar[dict[str, tuple[str, ...]]] = {
        "au": ("aus", "au_sides", "aus_raw", "aus_alternatives", "aus_uncertain")}
    frames_hint: ClassVar[str] = "Check --root and --dataset-opt variant=raw|cropped (or frames_dir=PATH)."

    def __init__(self, root=None, labels: str = "all", variant: str = "raw", apex: str | None = None,
                 bad_frames: str = "error"):
        super().__init__(root)
        check_choice(self.name, "labels", labels, list(self.LABEL_SETS))
        check_choice(self.name, "variant", variant, ("raw", "cropped"))
        apex = apex or self.default_apex
        check_choice(self.name, "apex", apex, APEX_POLICIES)
        check_choice(self.name, "bad_frames", bad_frames, ("error", "skip"))
        self.labels, self.variant, self.apex, self.bad_frames = labels, variant, apex, bad_frames

    # -- labels -----------------------------------------------------------------------------------
    def canonical_emotion(self, value, where: dict) -> str | None:
        key = label_key(value)
        if not key:
            return None
        if key in self.EMOTION_ALIASES:
            return self.EMOTION_ALIASES[key]
        self.warn(f"{self.name}: unrecognised emotion {str(value).strip()!r} (first seen in "
                  f"{where.get('file')}, row {where.get('row')}); kept as written in label set 'all'")
        self.count("emotion_unrecognised")
        return key

    def map_labels(self, records: list[dict]) -> list[dict]:
        """Apply the chosen label set; every dropped sample is recorded as a skip."""
        ls = self.LABEL_SETS[self.labels]
        kept, dropped = [], {}
        for rec in records:
            raw = rec.get(ls.source)
            if raw is None:
                reason = f"no {ls.source} value, so no label in label set {self.labels!r}"
                self.skip(rec["sample_id"], reason)
                dropped[f"missing {ls.source}"] = dropped.get(f"missing {ls.source}", 0) + 1
                continue
            if ls.mapping is None:
                label = raw
            else:
                label = ls.mapping.get(raw)
                if label is None:
                    self.skip(rec["sample_id"], f"{ls.source} {raw!r} is not in label set {self.labels!r}")
                    dropped[raw] = dropped.get(raw, 0) + 1
                    continue
            rec["label"] = label
            rec["label_raw"] = raw
            kept.append(rec)
        if dropped:
            total = sum(dropped.values())
            self.count("dropped_by_label_set", total)
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(dropped.items()))
            self.warn(f"{self.name}: label set {self.labels!r} drops {total} sample(s) ({detail}); "
                      "each is listed under 'skipped' in the manifest")
        return kept

    # -- frames and apex --------------------------------------------------------------------------
    def check_frames(self, rec: dict) -> bool:
        """Verify the frame folder and onset/offset; fill ``n_frames``. False on a fatal problem."""
        folder: Path | None = rec.get("frames")
        where = rec.get("_where", {})
        sid = rec["sample_id"]
        numbers = list_frame_numbers(folder) if folder is not None else None
        if numbers is None:
            self.problem("frames", sid, f"frame folder for {sid} not found: expected {folder}",
                         hint=self.frames_hint, **where)
            return False
        if not numbers:
            self.problem("frames", sid, f"frame folder {folder} holds no numbered image files",
                         hint="Frames are matched by the last integer in the file name (img46.jpg).", **where)
            return False
        first, last = numbers[0], numbers[-1]
        rec["n_frames"] = len(numbers)
        rec["_numbers"] = numbers
        if rec.get("onset") is None:
            rec["onset"] = first
            self.count("onset_from_first_frame")
        if rec.get("offset") is None:
            rec["offset"] = last
            self.count("offset_from_last_frame")
        onset, offset = rec["onset"], rec["offset"]
        if onset > offset:
            self.problem("frames", sid, f"onset {onset} comes after offset {offset} for {sid}",
                         hint="Correct the sheet row.", **where)
            return False
        if onset < first or offset > last:
            self.problem("frames", sid, f"onset..offset {onset}..{offset} of {sid} lies outside the frames "
                         f"found ({first}..{last}) in {folder}",
                         hint="Check the variant (raw frames keep the sheet's numbering) and that the "
                              "folder is complete.", **where)
            return False
        inside = numbers[bisect.bisect_left(numbers, onset):bisect.bisect_right(numbers, offset)]
        gap = (offset - onset + 1) - len(set(inside))  # no loop over the interval: numbers can be huge
        if gap:
            self.problem("frames", sid, f"{gap} frame number(s) missing between onset {onset} and offset "
                         f"{offset} in {folder}", fatal=False, **where)
            self.count("frames_missing_in_interval", gap)
        return True

    def resolve_apex(self, rec: dict) -> None:
        """Apply the apex policy to one record; record the apex source and any apex problem."""
        sid, where = rec["sample_id"], rec.get("_where", {})
        apex, onset, offset = rec.get("apex"), rec.get("onset"), rec.get("offset")
        if apex is not None:
            rec["apex_source"] = "annotated"
            self.count("apex_annotated")
            if onset is not None and offset is not None and not onset <= apex <= offset:
                self.problem("apex", sid, f"annotated apex {apex} of {sid} lies outside onset..offset "
                             f"{onset}..{offset}", fatal=False, **where)
                self.count("apex_outside_interval")
            elif rec.get("_numbers") is not None and apex not in set(rec["_numbers"]):
                self.problem("apex", sid, f"annotated apex frame {apex} of {sid} is not among the frames found",
                             fatal=False, **where)
                self.count("apex_frame_absent")
            return
        self.count("apex_missing")
        raw = rec.get("_apex_raw")
        note = f" (cell {raw!r})" if raw not in (None, "") else ""
        if self.apex == "annotated" or onset is None or offset is None:
            rec["apex_source"] = "missing"
            self.problem("apex", sid, f"{sid} has no annotated apex{note}; left missing (apex=annotated)",
                         fatal=False, **where)
            self.count("apex_unresolved")
            return
        if self.apex == "spot":  # resolved by mebench.face.spotting.resolve_spot_apexes before extraction
            rec["apex_source"] = "spot"
            self.count("apex_spot_pending")
            self.problem("apex", sid, f"{sid} has no annotated apex{note}; it will be spotted (apex=spot) "
                         "before features are extracted", fatal=False, **where)
            return
        rec["apex"] = (onset + offset) // 2
        rec["apex_source"] = self.apex
        self.count("apex_resolved")
        self.count(f"apex_resolved_{self.apex}")
        self.problem("apex", sid, f"{sid} has no annotated apex{note}; resolved to frame {rec['apex']} "
                     f"by apex={self.apex}", fatal=False, **where)

    def summarise_apex(self) -> None:
        missing = self.counts.get("apex_missing", 0)
        if not missing:
            return
        resolved = self.counts.get("apex_resolved", 0)
        pending = self.counts.get("apex_spot_pending", 0)
        if pending:
            self.warn(f"{self.name}: {missing} sample(s) have no annotated apex; {pending} will be spotted "
                      "(apex=spot) before extraction (counted as apex_resolved_spot in the manifest)")
        if resolved:
            self.warn(f"{self.name}: {missing} sample(s) have no annotated apex; {resolved} resolved by "
                      f"apex={self.apex} (counted as apex_resolved_{self.apex} in the manifest)")
        unresolved = self.counts.get("apex_unresolved", 0)
        if unresolved:
            self.warn(f"{self.name}: {unresolved} sample(s) have no annotated apex and stay missing "
                      "(apex=annotated); extractors that need an apex will refuse them. Use "
                      "--dataset-opt apex=middle or apex=spot to resolve them.")

    # -- assembling -------------------------------------------------------------------------------
    def finish(self, records: list[dict], columns: list[str]) -> pd.DataFrame:
        """Map labels, check frames, resolve apexes, and build the samples table."""
        records = self.map_labels(records)
        kept = []
        for rec in records:
            before = len(self.fatal_problems())
            ok = self.check_frames(rec)
            fatal_here = len(self.fatal_problems()) > before
            if not ok or fatal_here:
                if self.bad_frames == "skip":
                    self.skip_bad_frames(rec)
                    continue
                if self.collect_problems:
                    kept.append(rec)
                continue
            self.resolve_apex(rec)
            kept.append(rec)
        self.close_frame_checks()
        self.warn_apex_outside(kept)
        return self.to_frame(kept, columns)

    def skip_bad_frames(self, rec: dict) -> None:
        """``bad_frames=skip``: turn the sample's fatal frame problems into one recorded skip."""
        message = self.problems[-1]["message"]
        self.problems = [p for p in self.problems if not (p["fatal"] and p["sample_id"] == rec["sample_id"])]
        self.skip(rec["sample_id"], message)
        self.count("skipped_bad_frames")

    def close_frame_checks(self) -> None:
        """Warn about frame skips, stop on any remaining fatal problem, and report apex resolution."""
        if self.counts.get("skipped_bad_frames"):
            self.warn(f"{self.name}: {self.counts['skipped_bad_frames']} sample(s) skipped for frame problems "
                      "(bad_frames=skip); see 'skipped' in the manifest")
        self.raise_if_fatal()
        self.summarise_apex()

    def warn_apex_outside(self, records: list[dict]) -> None:
        """One warning (in the manifest) listing the samples whose annotated apex lies outside onset..offset."""
        outside = [r for r in records if r.get("apex_source") == "annotated" and None not in
                   (r.get("apex"), r.get("onset"), r.get("offset")) and not r["onset"] <= r["apex"] <= r["offset"]]
        if not outside:
            return
        shown = "; ".join(f"{r['sample_id']} apex {r['apex']} not in {r['onset']}..{r['offset']}"
                          + (f" (row {r['_where']['row']})" if r.get("_where", {}).get("row") else "")
                          for r in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        self.warn(f"{self.name}: {len(outside)} annotated apex(es) lie outside onset..offset and are kept as "
                  f"annotated (counted as apex_outside_interval): {shown}{more}")

    def to_frame(self, records: list[dict], columns: list[str]) -> pd.DataFrame:
        rows = []
        for rec in records:
            row = {c: rec.get(c) for c in columns}
            if isinstance(row.get("frames"), Path):
                row["frames"] = str(row["frames"])
            rows.append(row)
        frame = pd.DataFrame(rows, columns=columns)
        for col in ("onset", "apex", "offset", "n_frames"):
            if col in frame.columns:
                frame[col] = pd.array([None if pd.isna(v) else int(v) for v in frame[col]], dtype="Int64")
        return frame


class CodedDataset(FrameDataset):
    """A micro-expression dataset coded in a sheet (CASME II, SAMM, CAS(ME)^3, SMIC): adds the ``sheet``
    and ``frames_dir`` options and the common apex policy; ``label_sets`` describes each subclass's
    ``LABEL_SETS``, so the two cannot disagree."""

    apex_policy: ClassVar[str] = APEX_POLICY_TEXT

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.label_sets = describe(cls.LABEL_SETS)

    def __init__(self, root=None, labels: str = "all", variant: str = "raw", apex: str | None = None,
                 sheet: str | None = None, frames_dir: str | None = None, bad_frames: str = "error"):
        super().__init__(root, labels=labels, variant=variant, apex=apex, bad_frames=bad_frames)
        self.sheet = check_text(self.name, "sheet", sheet)
        self.frames_dir = check_text(self.name, "frames_dir", frames_dir)

    def frame_cell(self, table, i: int, column: str, sid: str) -> int | None:
        """Row ``i``'s onset or offset cell as an int; None, and a sheet problem, when blank or not a number."""
        value = table.data.at[i, column]
        number = parse_frame(value)
        if number is None:
            self.problem("sheet", sid, f"{column} of {sid} is {clean_text(value)!r}, expected a frame number",
                         hint="Correct the cell in your copy of the sheet.", **table.where(i, column))
        return number

    def repeated(self, seen: dict, sid: str, where: dict) -> bool:
        """True, and a sheet problem, when an earlier row (``seen``: {sid: row}) had ``sid``; else note this row."""
        if sid in seen:
            self.problem("sheet", sid, f"{sid} appears twice (rows {seen[sid]} and {where['row']})",
                         hint="Remove the duplicate row from your copy.", **where)
            return True
        seen[sid] = where["row"]
        return False

    def row_aus(self, row, columns, sid: str, where: dict):
        """The row's parsed AU code (empty without an AU column); an unreadable cell is warned about and left empty."""
        try:
            return parse_aus(row["aus"] if "aus" in columns else None)
        except ValueError as exc:
            self.warn(f"{self.name}: {exc} ({where['file']}, row {where['row']}); AUs of {sid} left empty")
            self.count("aus_unparsed")
            return parse_aus(None)


def aus_columns(code) -> dict[str, Any]:
    """The samples-table AU columns of a parsed :class:`~mebench.data.sheets.AUCode`."""
    return {"aus": tuple(code.aus), "au_sides": code.side_text, "aus_raw": code.raw}


def resolve_base(root: Path, candidates: list[str], frames_dir: str | None, what: str) -> Path:
    """The folder holding the per-subject frame folders: ``frames_dir`` or the first existing candidate."""
    if frames_dir:
        path = Path(frames_dir)
        path = path if path.is_absolute() else root / path
        if not is_dir(path):
            raise DataError(f"{what} frames folder not found", file=path,
                            hint="--dataset-opt frames_dir= must name an existing folder (relative to --root).")
        return path
    for cand in candidates:
        path = root / cand if cand else root
        if path.is_dir():
            return path
    return root / candidates[0]
