"""DOLOS (Guo et al., ICCV 2023): reality-show clips with MUMIN annotations, read as distributed.

Files (found anywhere under the root; names matched without regard to letter case):

* ``Dolos.xlsx`` (sheet ``Sheet1``): three header rows, then one row per clip. Row 1 holds
  categories over merged cells ("General Information", "Visual/Facial", "Gaze", "Gesture",
  "Vocal"), row 2 sub-groups ("Eyebrows", "Head Movements", ...), row 3 the column names:
  ``Video URL``, ``File name of the video clip `` (trailing space), ``Label "truth" or
  "deception"``, ``Start time in the episode``, ``End time in the episode``, ``Name of the game
  show``, ``Participants name``, ``Participants gender``, then 41 MUMIN gestures from ``Smile`` to
  ``Tension`` (names carry U+00A0 / U+200B). Times such as ``02:06:00`` mean 2 min 06 s (typed as
  m:ss, stored as h:mm:ss). A gesture cell is 0, 1, blank (absent) or an interval list such as
  ``[1.27, 1.29]`` (present); :func:`mebench.data.mumin.read_gesture_cell` documents how the
  release's typos are read. A cell that is neither (a bare ``9``) is an error naming file, row and
  column; under ``mebench run --on-error skip`` its row is skipped, recorded and counted (so is a
  row without a readable file name or label; a skipped clip leaves every file).
* ``train_dolos.xlsx``: the same three header rows; file name, label, ``Participants gender`` and
  the gestures (no URL, times, show or participant name).
* ``dolos_timestamps.csv`` (UTF-8 with BOM): ``YT_Video_ID,file_name,start_time,end_time,label``.
* ``training_protocols/{train,test}_fold{1,2,3}.csv``, ``male.csv``, ``female.csv``, ``long.csv``,
  ``short.csv``: no header; rows ``clip,label,gender`` (``AN_WILTY_EP15_truth1,truth,female``).
  A row naming a clip that no annotation file has is an error naming the list and its row (under
  ``--on-error skip``: a recorded, counted skip).

Header cells are matched by meaning (their words), not by exact text. Speaker identities come
only from ``Participants name`` in ``Dolos.xlsx``; without that file (or that column) there are
none, and subject-wise protocols refuse the dataset.
"""
from __future__ import annotations

import datetime
import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .common import check_choice, check_text
from .deception import DeceptionDataset, index_videos, subject_key
from .mumin import grouped_header, mumin_column, read_gesture_cell
from .sheets import clean_text, deception_label, header_key, is_dir, parse_time, read_table, sex_label

# sha256 of published annotation files -> release name (see casme2.KNOWN_SHEETS).
KNOWN_SHEETS: dict[str, str] = {
    "92703d82d46ead1cc99460a62f05466c6595ef0158d6e66eb9ea3132b47bb58a": "Dolos.xlsx (ICCV 2023 release)",
    "aeffba668c20516773661872cd78f9c901e025ef3e08136907b44a2e28e95514": "train_dolos.xlsx (ICCV 2023 release)",
    "dff4aeb7b4614880cdd5ff986e404119eefe0de321d85827b7e83818a24eb95e": "dolos_timestamps.csv (ICCV 2023 release)",
}


def info_field(header) -> str | None:
    """What a DOLOS information header means, from its words.

    ``File name of the video clip `` -> ``file_name``; ``Label "truth" or "deception"`` ->
    ``label``; ``Participants name`` -> ``participant``; ``Participants gender`` -> ``gender``;
    ``Video URL`` -> ``url``; ``Start time in the episode`` -> ``start``; ``Name of the game
    show`` -> ``show``; anything else -> None.
    """
    words = re.findall(r"[0-9a-z]+", clean_text(header).casefold())
    if not words:
        return None
    ws, joined = set(words), "".join(words)
    if ws & {"url", "link"}:
        return "url"
    if {"file", "name"} <= ws or joined in {"filename", "filenames", "clip", "clipname", "clipid", "videoname"}:
        return "file_name"
    if words[0] in ("label", "labels", "class") or joined in {"truthlie", "truthordeception", "veracity"}:
        return "label"
    if ws & {"gender", "sex"}:
        return "gender"
    if ws & {"participant", "participants", "speaker", "subject", "contestant", "person"}:
        return "participant"
    if ws & {"start", "begin"}:
        return "start"
    if ws & {"end", "stop"}:
        return "end"
    if ws & {"show", "programme", "program"}:
        return "show"
    return None


def _is_name_row(cells) -> bool:
    fields = {info_field(c) for c in cells}
    return {"file_name", "label"} <= fields


def _excel_hms(value) -> tuple[int, int, float] | None:
    """(h, m, s) of a time-formatted cell as openpyxl returns it, else None."""
    if isinstance(value, datetime.datetime):  # a time past 24 h, counted from Excel's epoch
        value = value - datetime.datetime(1899, 12, 30)
    if isinstance(value, datetime.timedelta):
        total = value.total_seconds()
        if total < 0:
            return None
        return int(total // 3600), int(total % 3600 // 60), total % 60
    if isinstance(value, datetime.time):
        return value.hour, value.minute, value.second + value.microsecond / 1e6
    return None


def sheet_seconds(value) -> float | None:
    """Seconds from a DOLOS sheet time: ``02:06:00`` (and the time cell 02:06:00) is 2 min 06 s.

    The sheet's times were typed as m:ss and stored as h:mm:ss, so a three-part time with zero
    seconds reads as m:ss; one with non-zero seconds is ambiguous and gives None. ``2:06`` is
    2 min 06 s; a plain number is seconds.
    """
    hms = _excel_hms(value)
    if hms is None:
        text = clean_text(value)
        m = re.fullmatch(r"(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)", text)
        if not m:
            return parse_time(value)
        hms = int(m.group(1)), int(m.group(2)), float(m.group(3))
    hours, minutes, seconds = hms
    if seconds != 0 or minutes >= 60:
        return None
    return float(hours * 60 + minutes)


class DOLOS(DeceptionDataset):
    """DOLOS: 1,675 clips of 213 participants from reality shows, with MUMIN annotations and 3 folds."""

    name = "dolos"
    version = "DOLOS (ICCV 2023 release)"
    citation = ("Guo X, Selvaraj NM, Yu Z, Kong AWK, Shen B, Kot A. Audio-Visual Deception Detection: DOLOS Dataset "
                "and Parameter-Efficient Crossmodal Learning. ICCV 2023.")
    license_note = "Research-only licence from the ROSE Lab, NTU Singapore; obtain it from the authors."
    fps = None
    n_subjects = 213
    KNOWN_SHEETS = KNOWN_SHEETS
    SUBSETS = ("long", "short", "male", "female")

    def __init__(self, root=None, subset: str | None = None, clips: str | None = None, count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        if subset is not None:
            check_choice(self.name, "subset", subset, self.SUBSETS)
        self.subset, self.clips = subset, check_text(self.name, "clips", clips)

    def _find(self, name: str, folder: bool = False) -> Path | None:
        """The file (or folder) ``name`` in the root or below it, in any letter case; the shallowest wins."""
        direct = self.root / name
        if direct.is_dir() if folder else direct.is_file():
            return direct
        wanted, hits = name.casefold(), []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for entry in (dirnames if folder else filenames):
                if entry.casefold() == wanted:
                    hits.append(Path(dirpath) / entry)
        hits.sort(key=lambda p: (len(p.parts), str(p)))
        return hits[0] if hits else None

    def _clips_folder(self) -> Path:
        if not self.clips:
            return self.root
        folder = Path(self.clips)
        folder = folder if folder.is_absolute() else self.root / folder
        if not is_dir(folder):
            raise DataError("DOLOS clips folder not found", file=folder,
                            hint="--dataset-opt clips= must name an existing folder (relative to --root).")
        return folder

    def _load(self, task: str) -> pd.DataFrame:
        master_path, feature_path = self._find("Dolos.xlsx"), self._find("train_dolos.xlsx")
        stamps_path = self._find("dolos_timestamps.csv")
        if not (master_path or feature_path or stamps_path):
            raise DataError("no DOLOS annotation file found (Dolos.xlsx, train_dolos.xlsx or dolos_timestamps.csv)",
                            file=self.root, hint="Pass --root with your DOLOS copy.")
        clips_folder = self._clips_folder()
        self._spellings: set[str] = set()
        self._bad_times: list[str] = []
        self._odd_cells: dict[str, list[str]] = {"repaired_intervals": [], "times_unreadable": []}
        self._skipped_clips: set[str] = set()  # rows dropped under --on-error skip: the clip leaves every file
        self._has_participants = False
        master = self._read_sheet(master_path, master=True) if master_path else None
        features = self._read_sheet(feature_path, master=False) if feature_path else None
        stamps = self._read_stamps(stamps_path) if stamps_path else None
        master, features, stamps = ([r for r in rows if r["clip"].casefold() not in self._skipped_clips]
                                    if rows is not None else None for rows in (master, features, stamps))
        self.raise_if_fatal()
        self._summarise_cells()
        if master is not None:
            base = master
            if not self._has_participants:
                self.no_identities("Dolos.xlsx has no 'Participants name' column")
        elif features is not None:
            base = features
            self.no_identities("Dolos.xlsx with participant names is missing; only train_dolos.xlsx was found")
        else:
            base = stamps
            self.no_identities("only dolos_timestamps.csv was found")
        records = self._dedupe(base)
        by_name = {r["clip"].casefold(): r for r in records}
        feature_cols = self._merge_features(records, by_name, master, features)
        if stamps is not None and base is not stamps:
            self._merge_stamps(by_name, stamps)
        self._official(by_name)
        if self.subset:
            records = self._restrict(records, by_name)
        self._subjects(records)
        index = index_videos(clips_folder)
        for r in records:
            where = dict(r["_where"], column=r["_name_column"])
            if self.checked_path(clips_folder, f"{r['clip']}.mp4", r["sample_id"], "file name", **where) is None:
                continue  # '..' or an absolute path in a file name: never looked up
            self.attach_video(r, index.get(r["clip"].casefold()), clips_folder, **where)
        self.summarise_clips(len(records))
        columns = ["sample_id", "dataset", "subject_id", "label", "label_raw", "sex", "participant", "clip", "show",
                   "url", "start_s", "end_s", "frames", "n_frames", "official_fold", "subsets", "sheet_row"] + feature_cols
        return self.frame_from(records, columns)

    # -- sheets -----------------------------------------------------------------------------------
    @staticmethod
    def _info_columns(columns, general: set) -> dict[str, int]:
        """{information field: column index} among the ``general`` columns (first match wins)."""
        info: dict[str, int] = {}
        for j, _, _, name in columns:
            field = info_field(name) if j in general else None
            if field is not None and field not in info:
                info[field] = j
        return info

    def _read_sheet(self, path: Path, master: bool) -> list[dict]:
        """Dolos.xlsx or train_dolos.xlsx: information columns by meaning, MUMIN gestures by category."""
        self.pin(path, self.KNOWN_SHEETS)
        header = grouped_header(path, _is_name_row)
        if header is None:
            raise DataError("no header row with a file-name and a label column in the first 20 rows", file=path,
                            hint="Use the DOLOS sheet as distributed (three header rows, then one row per clip).")
        raw, h = header.raw, header.name_row
        # Information columns sit under "General Information" (or no category); gestures under the others.
        general = {j for j, group, _, _ in header.columns if header_key(group) in ("", "general", "generalinformation")}
        categorised = len(general) < len(header.columns)
        if not categorised:  # no category row: tell information from gestures by name alone
            general = set(range(len(header.columns)))
        info = self._info_columns(header.columns, general)
        if categorised and not {"file_name", "label"} <= set(info):  # an unexpected category heading
            general, categorised = set(range(len(header.columns))), False
            info = self._info_columns(header.columns, general)
        missing = [f for f in ("file_name", "label") if f not in info]
        if missing:
            raise DataError(f"the header row {h + 1} has no {' and no '.join(missing).replace('_', ' ')} column",
                            file=path, row=h + 1,
                            hint="Use the DOLOS sheet as distributed: 'File name of the video clip' and "
                                 "'Label \"truth\" or \"deception\"' in the third header row.")
        if master:
            self._has_participants = "participant" in info
        else:
            info.pop("participant", None)  # identities come from Dolos.xlsx only
        candidates = [(j, group, sub, name) for j, group, sub, name in header.columns
                      if name and j not in info.values()
                      and (j not in general if categorised else info_field(name) is None)]
        # A gesture name used under several sub-groups ("Other", "Up") is qualified by its sub-group
        # (or category): mumin_eyebrows_other, mumin_gaze_up.
        repeated = Counter(mumin_column(name) for _, _, _, name in candidates)
        features, used = [], set()
        for j, group, sub, name in candidates:
            col = mumin_column(name) if repeated[mumin_column(name)] == 1 else mumin_column(f"{sub or group}_{name}")
            base, k = col, 2
            while col in used:
                col, k = f"{base}_{k}", k + 1
            used.add(col)
            features.append((j, col, name))
        names = {field: header.columns[j][3] for field, j in info.items()}
        rows = []
        for i in range(h + 1, len(raw)):
            cells = raw.iloc[i].tolist()
            if all(clean_text(c) == "" for c in cells):
                continue
            where = {"file": str(path), "row": i + 1}
            clip = re.sub(r"\.mp4$", "", clean_text(cells[info["file_name"]]), flags=re.IGNORECASE)
            if not clip:
                self.row_problems(f"{self.name}/{path.name}#row{i + 1}",
                                  [("empty file name", dict(where, column=names["file_name"]))],
                                  "rows_skipped_unreadable_name_or_label",
                                  hint="Fill in the file name or delete the row, or pass --on-error skip to record "
                                       "and skip it.")
                continue
            cell = cells[info["label"]]
            label_raw = "" if cell is None or (isinstance(cell, float) and cell != cell) else str(cell)
            label = deception_label(label_raw)
            if label is None:
                if self.row_problems(f"{self.name}/{clip}", [(f"label {label_raw!r} is not a truth/deception "
                                                             "spelling", dict(where, column=names["label"]))],
                                     "rows_skipped_unreadable_name_or_label",
                                     hint="Known spellings: truth, Truth, deception, Deception, lie; or pass "
                                          "--on-error skip to record and skip this row."):
                    self._skipped_clips.add(clip.casefold())
                continue
            self._spellings.add(label_raw if label_raw == label_raw.strip() else repr(label_raw))
            hinted = re.search(r"_(truth|lie)\d*$", clip, flags=re.IGNORECASE)
            if hinted and deception_label(hinted.group(1)) != label:
                self.count("label_name_mismatch")
                self.warn(f"{self.name}: {clip} is labelled {label} in {path.name} row {i + 1} but its name says "
                          f"{deception_label(hinted.group(1))}; the label column is used")
            rec = {"clip": clip, "label": label, "label_raw": label_raw, "sheet_row": i + 1, "_file": path.name,
                   "_where": where, "_name_column": names["file_name"], "features": {}}
            for field in ("gender", "participant", "show", "url"):
                if field in info:
                    value = cells[info[field]]
                    rec["sex" if field == "gender" else field] = (sex_label(value) if field == "gender"
                                                                  else clean_text(value) or None)
            if "start" in info and "end" in info:
                rec["start_s"], rec["end_s"] = self._times(cells[info["start"]], cells[info["end"]], clip, where,
                                                           sheet_seconds)
            unreadable = []
            for j, col, name in features:
                rec["features"][col] = present = self._gesture(cells[j], where, name)
                if present is None:
                    unreadable.append((f"MUMIN cell {clean_text(cells[j])!r} says neither that the gesture "
                                       "occurred nor that it did not", dict(where, column=name)))
            if unreadable and self.row_problems(
                    f"{self.name}/{clip}", unreadable, "mumin_unreadable_rows_skipped",
                    hint="Absent is 0 or blank, present is 1 or an interval list such as [1.27, 1.29]: correct the "
                         "cell in your copy, or pass --on-error skip to record and skip this row."):
                self._skipped_clips.add(clip.casefold())
                continue
            rows.append(rec)
        return rows

    def _gesture(self, value, where: dict, name: str) -> int | None:
        """A gesture cell's presence (None: unreadable, left to the row's check), counted by how it was read."""
        cell = read_gesture_cell(value)
        if cell.how != "binary":
            self.count(f"mumin_{cell.how}_cells")
        if cell.how in self._odd_cells:
            read = ", ".join(f"{s // 60}:{s % 60:02d}-{e // 60}:{e % 60:02d}" for s, e in cell.intervals)
            self._odd_cells[cell.how].append(f"{clean_text(value)!r}{' as ' + read if read else ''} "
                                             f"({Path(where['file']).name} row {where['row']}, column {name!r})")
        return cell.present

    def _summarise_cells(self) -> None:
        if self._bad_times:
            shown = "; ".join(self._bad_times[:3]) + (" ..." if len(self._bad_times) > 3 else "")
            self.warn(f"{self.name}: {len(self._bad_times)} start/end time pair(s) are unparsable or reversed and are "
                      f"left empty: {shown}")
        for how, what in (("repaired_intervals", "were read after repairing unambiguous typos (full-width brackets, "
                                                  "';' or '..' or ',' for '.', doubled commas, a missing bracket)"),
                          ("times_unreadable", "mean the gesture occurred but hold times that cannot be read without "
                                               "a guess; counted as present")):
            cells = self._odd_cells[how]
            if cells:
                shown = "; ".join(cells[:3]) + (" ..." if len(cells) > 3 else "")
                self.warn(f"{self.name}: {len(cells)} MUMIN cell(s) {what} (mumin_{how}_cells): {shown}")
        for key, what in (("mumin_unreadable_rows_skipped", "with MUMIN cells that are neither present nor absent"),
                          ("rows_skipped_unreadable_name_or_label", "without a readable file name or label")):
            if self.counts.get(key):
                self.warn(f"{self.name}: {self.counts[key]} row(s) {what} are skipped (--on-error skip); see "
                          "'skipped' in the manifest")
        if len(self._spellings) > 2:
            self.warn(f"{self.name}: labels are spelled {len(self._spellings)} ways "
                      f"({', '.join(sorted(self._spellings))}); all are mapped to truthful / deceptive")

    def _times(self, start, end, clip: str, where: dict, parse) -> tuple[float | None, float | None]:
        s, e = parse(start), parse(end)
        if s is None or e is None or e < s:
            why = "reversed" if s is not None and e is not None else "unparsable"
            self.count(f"times_{why}")
            self._bad_times.append(f"{clip}: {clean_text(start)!r}..{clean_text(end)!r} ({why}; "
                                   f"{Path(where['file']).name} row {where['row']})")
            return None, None
        return s, e

    def _read_stamps(self, path: Path) -> list[dict]:
        """dolos_timestamps.csv; its times are m:ss (or h:mm:ss, or seconds), as the download scripts read them."""
        self.pin(path, self.KNOWN_SHEETS)
        table = read_table(path, {"yt": ["YT_Video_ID", "YouTube ID", "video id"], "file_name": ["file_name"],
                                  "start": ["start_time"], "end": ["end_time"], "label": ["label"]},
                           ("file_name", "label"))
        rows = []
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            clip = re.sub(r"\.mp4$", "", clean_text(row["file_name"]), flags=re.IGNORECASE)
            label = deception_label(row["label"])
            if not clip or label is None:
                skipped = self.row_problems(
                    f"{self.name}/{clip}" if clip else f"{self.name}/{path.name}#row{where['row']}",
                    [(f"unreadable file name or label {clean_text(row['label'])!r}",
                      table.where(i, "label" if clip else "file_name"))],
                    "rows_skipped_unreadable_name_or_label",
                    hint="Correct the row, or pass --on-error skip to record and skip it.")
                if skipped and clip:
                    self._skipped_clips.add(clip.casefold())
                continue
            label_raw = str(row["label"])
            self._spellings.add(label_raw if label_raw == label_raw.strip() else repr(label_raw))
            s, e = (self._times(row["start"], row["end"], clip, where, parse_time)
                    if "start" in table.data.columns and "end" in table.data.columns else (None, None))
            yt = clean_text(row["yt"]) if "yt" in table.data.columns else ""
            rows.append({"clip": clip, "label": label, "label_raw": label_raw, "start_s": s,
                         "end_s": e, "url": yt or None, "sheet_row": where["row"], "_file": path.name,
                         "_where": where, "_name_column": table.headers["file_name"], "features": {}})
        return rows

    # -- assembling -------------------------------------------------------------------------------
    def _dedupe(self, rows: list[dict]) -> list[dict]:
        groups: dict[str, list[dict]] = {}
        for r in rows:
            groups.setdefault(r["clip"].casefold(), []).append(r)
        out = []
        for key, group in groups.items():
            first = group[0]
            sid = f"{self.name}/{first['clip']}"
            if len(group) == 1:
                out.append(first)
                continue
            rows_text = ", ".join(str(g["sheet_row"]) for g in group)
            same = all(g["label"] == first["label"] and subject_key(g.get("participant")) ==
                       subject_key(first.get("participant")) for g in group)
            if same:
                out.append(first)
                for g in group[1:]:
                    self.skip(f"{sid}#row{g['sheet_row']}", f"duplicate of {first['_file']} row {first['sheet_row']}")
                self.count("duplicate_rows_dropped", len(group) - 1)
                self.warn(f"{self.name}: file name {first['clip']} appears {len(group)} times in {first['_file']} "
                          f"(rows {rows_text}) with the same label and participant; the first row is kept")
            else:
                for g in group:
                    self.skip(sid, f"{first['_file']} row {g['sheet_row']}: conflicting duplicate file name "
                                   f"(rows {rows_text} disagree on label or participant)")
                self.count("conflicting_duplicates_dropped", len(group))
                self.warn(f"{self.name}: file name {first['clip']} appears in rows {rows_text} of {first['_file']} "
                          "with different labels or participants; all its rows are dropped")
        for r in out:
            r["sample_id"] = f"{self.name}/{r['clip']}"
            r["dataset"] = self.name
        return out

    def _merge_features(self, records, by_name, master, features) -> list[str]:
        source = features if features is not None else master
        if source is None:
            return []
        names = []
        for r in source:
            for col in r["features"]:
                if col not in names:
                    names.append(col)
        feats: dict[str, dict] = {}
        for r in source:  # the first row of a duplicated file name, as _dedupe keeps it
            feats.setdefault(r["clip"].casefold(), r)
        missing = 0
        for r in records:
            f = feats.get(r["clip"].casefold())
            if f is None:
                missing += 1
            elif f is not r and f["label"] != r["label"]:
                self.count("label_mismatch_between_sheets")
            for col in names:
                r[col] = None if f is None else f["features"].get(col)
            if f is not None and not r.get("sex") and f.get("sex"):
                r["sex"] = f["sex"]
        if missing:
            self.count("mumin_missing", missing)
            self.warn(f"{self.name}: {missing} clip(s) have no MUMIN row in "
                      f"{'train_dolos.xlsx' if features is not None else 'Dolos.xlsx'}; their MUMIN columns are empty")
        if master is not None and features is not None:
            master_names = {r["clip"].casefold() for r in master}
            extra = [r for r in features if r["clip"].casefold() not in master_names]
            for r in extra:
                self.skip(f"{self.name}/{r['clip']}", "in train_dolos.xlsx but not in Dolos.xlsx (no participant)")
            if extra:
                self.warn(f"{self.name}: {len(extra)} clip(s) of train_dolos.xlsx are not in Dolos.xlsx; recorded as skipped")
        if self.counts.get("label_mismatch_between_sheets"):
            self.warn(f"{self.name}: {self.counts['label_mismatch_between_sheets']} clip(s) have different labels in "
                      "Dolos.xlsx and train_dolos.xlsx; Dolos.xlsx is used")
        return names

    def _merge_stamps(self, by_name, stamps) -> None:
        for s in stamps:
            r = by_name.get(s["clip"].casefold())
            if r is None:
                self.count("timestamps_unknown_clips")
                continue
            if r.get("start_s") is None and s["start_s"] is not None:
                r["start_s"], r["end_s"] = s["start_s"], s["end_s"]
                self.count("times_from_timestamps_csv")
            if not r.get("url") and s.get("url"):
                r["url"] = s["url"]
            if s["label"] != r["label"]:
                self.count("label_mismatch_timestamps")
        if self.counts.get("label_mismatch_timestamps"):
            self.warn(f"{self.name}: {self.counts['label_mismatch_timestamps']} clip(s) have a different label in "
                      "dolos_timestamps.csv")

    def _protocol_dir(self) -> Path | None:
        return self._find("training_protocols", folder=True)

    @staticmethod
    def _list_file(folder: Path, name: str) -> Path | None:
        direct = folder / name
        if direct.is_file():
            return direct
        return next((p for p in sorted(folder.iterdir()) if p.name.casefold() == name.casefold() and p.is_file()), None)

    def _read_list(self, path: Path) -> list[tuple[str, str | None, dict]]:
        self.pin(path)
        table = read_table(path, {"file_name": [], "label": [], "gender": []}, ("file_name", "label"), header=False)
        out = []
        for i in range(len(table.data)):
            clip = re.sub(r"\.mp4$", "", clean_text(table.data.at[i, "file_name"]), flags=re.IGNORECASE)
            if i == 0 and header_key(clip) in ("filename", "file"):
                continue
            out.append((clip, deception_label(table.data.at[i, "label"]), table.where(i)))
        return out

    def _official(self, by_name) -> list[str]:
        folder = self._protocol_dir()
        if folder is None:
            return []
        roles: dict[str, dict[str, str]] = {}
        folds = []
        self._dropped = {s["sample_id"].split("#")[0].casefold() for s in self.skipped}  # already recorded
        for k in (1, 2, 3):
            for role in ("train", "test"):
                path = self._list_file(folder, f"{role}_fold{k}.csv")
                if path is None:
                    continue
                if f"fold{k}" not in folds:
                    folds.append(f"fold{k}")
                for clip, label, where in self._read_list(path):
                    r = by_name.get(clip.casefold())
                    if r is None:
                        self._unknown_clip(clip, where)
                        continue
                    if label is not None and label != r["label"]:
                        self.count("fold_lists_label_mismatch")
                    current = roles.setdefault(r["clip"].casefold(), {}).get(f"fold{k}")
                    roles[r["clip"].casefold()][f"fold{k}"] = "both" if current and current != role else role
        for key, r in by_name.items():
            if key in roles:
                r["official_fold"] = ";".join(f"{f}={roles[key][f]}" for f in folds if f in roles[key])
        if self.counts.get("fold_lists_label_mismatch"):
            self.warn(f"{self.name}: training_protocols: {self.counts['fold_lists_label_mismatch']} row(s) carry a "
                      "label that differs from the annotation")
        both = sum(1 for v in roles.values() for role in v.values() if role == "both")
        if both:
            self.count("fold_lists_train_and_test", both)
            self.warn(f"{self.name}: {both} clip-fold pair(s) are listed in both train and test of an official fold")
        for name in self.SUBSETS:
            path = self._list_file(folder, f"{name}.csv")
            if path is not None:
                for clip, _, where in self._read_list(path):
                    r = by_name.get(clip.casefold())
                    if r is None:
                        self._unknown_clip(clip, where)
                    else:
                        r["subsets"] = "+".join(filter(None, [r.get("subsets"), name]))
        if self.counts.get("fold_lists_unknown_clips_skipped"):
            self.warn(f"{self.name}: training_protocols: {self.counts['fold_lists_unknown_clips_skipped']} row(s) name "
                      "clips that are not in the annotation; each is ignored and listed under 'skipped' "
                      "(--on-error skip)")
        return folds

    def _unknown_clip(self, clip: str, where: dict) -> None:
        """A protocol list row naming a clip no annotation file has (one skipped while reading them is no news)."""
        sid = f"{self.name}/{clip}"
        if sid.casefold() in self._dropped:
            return
        self.count("fold_lists_unknown_clips")
        self.row_problems(sid, [(f"the list names clip {clip!r}, which no annotation file has (Dolos.xlsx, "
                                 "train_dolos.xlsx, dolos_timestamps.csv)", dict(where, column=None))],
                          "fold_lists_unknown_clips_skipped",
                          hint="Remove the row from the list, or restore the clip's annotation row; or pass "
                               "--on-error skip to record the row and ignore it.")

    def _restrict(self, records, by_name) -> list[dict]:
        kept = [r for r in records if self.subset in (r.get("subsets") or "").split("+")]
        if not kept:
            raise DataError(f"subset {self.subset!r} selects no clip", file=self._protocol_dir(),
                            hint=f"training_protocols/{self.subset}.csv must list clips of the annotation.")
        for r in records:
            if r not in kept:
                self.skip(r["sample_id"], f"not in the {self.subset!r} subset (training_protocols/{self.subset}.csv)")
        self.count("outside_subset", len(records) - len(kept))
        self.warn(f"{self.name}: subset={self.subset} keeps {len(kept)} of {len(records)} clips")
        return kept

    def _subjects(self, records) -> None:
        if not self.identities:
            for r in records:
                r["subject_id"] = f"{self.name}/clip-{r['clip']}"
            return
        missing = 0
        variants: dict[str, set[str]] = {}
        for r in records:
            key = subject_key(r.get("participant"))
            if not key:
                missing += 1
                r["subject_id"] = f"{self.name}/clip-{r['clip']}"
                continue
            variants.setdefault(key, set()).add(clean_text(r["participant"]))
            r["subject_id"] = f"{self.name}/{key}"
        merged = sum(1 for v in variants.values() if len(v) > 1)
        if merged:
            self.counts["participant_spellings_merged"] = merged
            self.warn(f"{self.name}: {merged} participant(s) are spelled in several ways (case, spacing); "
                      "they are merged into one subject each")
        if missing:
            self.count("participant_missing", missing)
            self.warn(f"{self.name}: {missing} clip(s) have no participant name; each is its own subject, so "
                      "leakage through them cannot be audited")

