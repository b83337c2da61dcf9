"""Deception corpora: Real-life Trial, DOLOS, Bag-of-Lies, MU3D and the Kaggle ME lie image set.

Every loader has task ``deception`` with labels ``truthful`` / ``deceptive``. Video clips are the
frames source when present; annotation-only copies still load (frames stay empty, counted and
warned), so annotation features such as ``mumin`` run without any video. A loader without speaker
identities sets ``identities = False``: subject-wise protocols then refuse, and every clip gets its
own pseudo-subject ``<dataset>/clip-<id>``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .common import LoaderBase, check_choice
from ..io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from .sheets import (clean_header, clean_text, deception_label, find_file, header_key, parse_int,
                     parse_time, read_raw_rows, read_table, safe_path, sanitise_name, sex_label)

DECEPTION_SETS = {"deception": "truthful / deceptive"}

# The 39 binary MUMIN gesture columns of Real-life Trial, in file order.
RLT_GESTURES = (
    "OtherGestures", "Smile", "Laugh", "Scowl", "otherEyebrowMovement", "Frown", "Raise", "OtherEyeMovements",
    "Close-R", "X-Open", "Close-BE", "gazeInterlocutor", "gazeDown", "gazeUp", "otherGaze", "gazeSide",
    "openMouth", "closeMouth", "lipsDown", "lipsUp", "lipsRetracted", "lipsProtruded", "SideTurn", "downR",
    "sideTilt", "backHead", "otherHeadM", "sideTurnR", "sideTiltR", "waggle", "forwardHead", "downRHead",
    "singleHand", "bothHands", "otherHandM", "complexHandM", "sidewaysHand", "downHands", "upHands",
)
MUMIN_PREFIX = "mumin_"


def mumin_column(name: str) -> str:
    return MUMIN_PREFIX + sanitise_name(name)


def index_videos(base: Path) -> dict[str, Path]:
    """Video files under ``base`` by case-folded stem (first one in sorted order wins)."""
    found: dict[str, Path] = {}
    if not base.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            if os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS:
                found.setdefault(os.path.splitext(name)[0].casefold(), Path(dirpath) / name)
    return found


def video_frame_count(path: Path) -> int | None:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return n if n > 0 else None
    finally:
        cap.release()


def subject_key(name) -> str:
    """Participant names vary in case and spacing: ``"John  Doe "`` and ``"john doe"`` -> ``john_doe``."""
    return re.sub(r"[^0-9a-z]+", "_", clean_text(name).casefold()).strip("_")


class DeceptionDataset(LoaderBase):
    """Shared behaviour of the deception loaders."""

    tasks = ("deception",)
    label_sets = DECEPTION_SETS

    def __init__(self, root=None, count_frames: bool = True):
        super().__init__(root)
        self.count_frames = bool(count_frames)

    def no_identities(self, why: str) -> None:
        self.identities = False
        self.warn(f"{self.name}: no speaker identities ({why}); subject-wise protocols (loso, group-kfold) refuse "
                  "this dataset, and clip-level protocols cannot audit leakage between clips of one speaker")

    def attach_video(self, rec: dict, path: Path | None) -> None:
        if path is not None and path.is_file():
            rec["frames"] = str(path)
            if self.count_frames:
                rec["n_frames"] = video_frame_count(path)
                if rec["n_frames"] is None:
                    self.problem("frames", rec["sample_id"], f"OpenCV cannot read the frame count of {path}",
                                 fatal=False, file=path)
        else:
            rec["frames"] = None
            self.count("clips_missing")

    def summarise_clips(self, n: int) -> None:
        missing = self.counts.get("clips_missing", 0)
        if missing == n and n:
            self.warn(f"{self.name}: no video clips found; annotation-only (features that need frames will refuse "
                      "every sample)")
        elif missing:
            self.warn(f"{self.name}: {missing} of {n} clip(s) have no video file; their frames are empty")

    def frame_from(self, records: list[dict], columns: list[str]) -> pd.DataFrame:
        self.raise_if_fatal()
        frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns)
        for col in ("onset", "apex", "offset", "n_frames"):
            if col in frame.columns:
                frame[col] = pd.array([None if pd.isna(v) else int(v) for v in frame[col]], dtype="Int64")
        if not self.identities:
            frame.attrs["identities"] = False  # a safety net for callers that do not pass identities=
        return frame


# ------------------------------------------------------------------------------------------------
class RealLifeTrial(DeceptionDataset):
    """Real-life Trial: 121 courtroom clips (61 deceptive, 60 truthful) with MUMIN gesture annotations."""

    name = "reallife-trial"
    version = "Real-life Trial 2016 release (All_Gestures_Deceptive and Truthful.csv)"
    citation = ("Perez-Rosas V, Abouelenien M, Mihalcea R, Burzo M. Deception Detection using Real-life Trial "
                "Data. ACM ICMI 2015.")
    license_note = "Distributed by the University of Michigan LIT lab for research use; obtain it from the authors."
    fps = None
    n_subjects = 56
    KNOWN_SHEETS: dict[str, str] = {}

    def __init__(self, root=None, identities: str | None = None, annotation: str | None = None,
                 count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        self.identities_file, self.annotation = identities, annotation

    def _load(self, task: str) -> pd.DataFrame:
        path = find_file(self.root, ["All_Gestures_Deceptive and Truthful.csv", "All_Gestures*.csv"],
                         "Real-life Trial annotation CSV", option="annotation", given=self.annotation)
        self.pin(path, self.KNOWN_SHEETS)
        columns = {"id": ["id"], "class": ["class"], "subject": ["subject", "speaker", "subject_id"],
                   "sex": ["sex", "gender"]}
        columns.update({g: [g] for g in RLT_GESTURES})
        table = read_table(path, columns, ("id", "class"))
        missing = [g for g in RLT_GESTURES if g not in table.data.columns]
        if missing:
            raise DataError(f"the annotation CSV lacks {len(missing)} MUMIN gesture column(s): {', '.join(missing[:6])}",
                            file=path, row=table.header_row, hint="Use the CSV as distributed in Annotation/.")
        records, seen = [], {}
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            clip_file = clean_text(row["id"])
            stem = re.sub(r"\.(mp4|avi|mov)$", "", clip_file, flags=re.IGNORECASE)
            sid = f"{self.name}/{stem}"
            if not stem:
                self.problem("sheet", None, "empty id", **table.where(i, "id"))
                continue
            if sid in seen:
                self.problem("sheet", sid, f"clip {clip_file} appears twice (rows {seen[sid]} and {where['row']})", **where)
                continue
            seen[sid] = where["row"]
            label = deception_label(row["class"])
            if label is None:
                self.problem("sheet", sid, f"class {clean_text(row['class'])!r} is neither deceptive nor truthful",
                             **table.where(i, "class"))
                continue
            hinted = "deceptive" if "_lie_" in stem else "truthful" if "_truth_" in stem else None
            if hinted and hinted != label:
                self.warn(f"{self.name}: {clip_file} is labelled {label} but its name says {hinted} (row {where['row']}); "
                          "the class column is used")
                self.count("label_name_mismatch")
            rec = {"sample_id": sid, "dataset": self.name, "label": label, "label_raw": clean_text(row["class"]),
                   "clip": stem, "sheet_row": where["row"]}
            for g in RLT_GESTURES:
                value = parse_int(row[g])
                if value not in (0, 1):
                    self.problem("sheet", sid, f"gesture value {clean_text(row[g])!r} is not 0 or 1",
                                 **table.where(i, g))
                    value = None
                rec[mumin_column(g)] = value
            if "subject" in table.data.columns and clean_text(row["subject"]):
                rec["_subject"] = clean_text(row["subject"])
            if "sex" in table.data.columns:
                rec["sex"] = sex_label(row["sex"])
            records.append(rec)
        self.raise_if_fatal()
        self._identities(records, table)
        self._clips(records)
        columns_out = ["sample_id", "dataset", "subject_id", "label", "label_raw", "sex", "clip", "frames", "n_frames",
                       "transcript", "sheet_row"] + [mumin_column(g) for g in RLT_GESTURES]
        return self.frame_from(records, columns_out)

    def _identities(self, records: list[dict], table) -> None:
        with_subject = sum(1 for r in records if "_subject" in r)
        if with_subject == len(records) and records:
            self.counts["identities_from_csv_columns"] = len(records)
            for r in records:
                r["subject_id"] = f"{self.name}/{r['_subject']}"
            return
        if with_subject:
            raise DataError(f"the subject column is filled for {with_subject} of {len(records)} clips", file=table.path,
                            hint="Fill it for every clip or remove it and pass --dataset-opt identities=PATH.")
        if self.identities_file:
            ident = Path(self.identities_file)
            ident = ident if ident.is_absolute() else self.root / ident
            self.pin(ident)
            t = read_table(ident, {"clip_id": ["clip_id", "id", "clip"], "subject": ["subject", "speaker"],
                                   "sex": ["sex", "gender"]}, ("clip_id", "subject"))
            mapping = {}
            for i in range(len(t.data)):
                stem = re.sub(r"\.(mp4|avi|mov)$", "", clean_text(t.data.at[i, "clip_id"]), flags=re.IGNORECASE)
                subject = clean_text(t.data.at[i, "subject"])
                if not subject:
                    raise DataError("empty subject", **t.where(i, "subject"))
                sex = sex_label(t.data.at[i, "sex"]) if "sex" in t.data.columns else None
                mapping[stem.casefold()] = (subject, sex)
            absent = [r["clip"] for r in records if r["clip"].casefold() not in mapping]
            if absent:
                raise DataError(f"the identities file has no subject for {len(absent)} clip(s), e.g. "
                                f"{', '.join(absent[:5])}", file=ident,
                                hint="Every clip needs a row clip_id,subject[,sex].")
            self.counts["identities_from_file"] = len(records)
            for r in records:
                subject, sex = mapping[r["clip"].casefold()]
                r["subject_id"] = f"{self.name}/{subject}"
                if sex and not r.get("sex"):
                    r["sex"] = sex
                elif sex and r.get("sex") and sex != r["sex"]:
                    self.warn(f"{self.name}: sex of {r['clip']} differs between the CSV and the identities file; "
                              "the CSV is used")
            return
        for r in records:
            r["subject_id"] = f"{self.name}/clip-{r['clip']}"
        self.no_identities("the release has none; pass --dataset-opt identities=PATH with clip_id,subject[,sex]")

    def _clips(self, records: list[dict]) -> None:
        clips = self.root / "Clips"
        for r in records:
            folder = "Deceptive" if r["label"] == "deceptive" else "Truthful"
            candidates = [clips / folder / f"{r['clip']}.mp4", clips / f"{r['clip']}.mp4"]
            other = "Truthful" if folder == "Deceptive" else "Deceptive"
            candidates.append(clips / other / f"{r['clip']}.mp4")
            self.attach_video(r, next((c for c in candidates if c.is_file()), None))
            t = self.root / "Transcription" / folder / f"{r['clip']}.txt"
            r["transcript"] = str(t) if t.is_file() else None
        self.summarise_clips(len(records))


# ------------------------------------------------------------------------------------------------
def grouped_header(path: Path, sheet: str | None, required: dict[str, set[str]], search_rows: int = 20):
    """Columns of a sheet with three header rows (category, sub-group, name): [(j, group, sub, name)].

    The name row is the first row holding every ``required`` key; categories and sub-groups are
    forward-filled across merged cells. Returns (raw cells, header row index, columns, info map).
    """
    raw, sheet = read_raw_rows(path, sheet)
    for h in range(min(search_rows, len(raw))):
        keys = [header_key(v) for v in raw.iloc[h].tolist()]
        info = {}
        for canon, accepted in required.items():
            j = next((j for j, k in enumerate(keys) if k in accepted), None)
            if j is not None:
                info[canon] = j
        if all(k in info for k in ("file_name", "label")):
            break
    else:
        raise DataError("no header row with a file name and a label column in the first rows", file=path,
                        hint="Use the DOLOS sheet as distributed (three header rows, then one row per clip).")

    def ffill(row_index: int) -> list[str]:
        if row_index < 0:
            return [""] * raw.shape[1]
        out, last = [], ""
        for v in raw.iloc[row_index].tolist():
            text = clean_header(v)
            last = text or last
            out.append(last)
        return out

    groups, subs = ffill(h - 2), ffill(h - 1)
    columns = [(j, groups[j], subs[j], clean_header(raw.iat[h, j])) for j in range(raw.shape[1])]
    return raw, h, columns, info


DOLOS_INFO = {
    "file_name": {"filename", "file_name", "filenames", "videoname", "clipname", "clip"},
    "label": {"label", "labels", "truthlie", "class"},
    "gender": {"participantgender", "gender", "sex"},
    "participant": {"participantname", "participant", "participantsname", "speaker", "subject"},
    "url": {"videourl", "youtubeurl", "url", "link", "ytvideourl"},
    "start": {"starttime", "start"},
    "end": {"endtime", "end"},
    "show": {"showname", "show", "tvshow"},
}
DOLOS_INFO = {k: {re.sub(r"[^0-9a-z]", "", a) for a in v} for k, v in DOLOS_INFO.items()}
_INTERVAL = re.compile(r"\[\s*[\d:.]+\s*,\s*[\d:.]+\s*\]")


class DOLOS(DeceptionDataset):
    """DOLOS: 1,675 clips of 213 participants from reality shows, with MUMIN annotations and 3 folds."""

    name = "dolos"
    version = "DOLOS (ICCV 2023 release)"
    citation = ("Guo X, Selvaraj NM, Yu Z, Kong AWK, Shen B, Kot A. Audio-Visual Deception Detection: DOLOS Dataset "
                "and Parameter-Efficient Crossmodal Learning. ICCV 2023.")
    license_note = "Research-only licence from the ROSE Lab, NTU Singapore; obtain it from the authors."
    fps = None
    n_subjects = 213
    KNOWN_SHEETS: dict[str, str] = {}
    SUBSETS = ("long", "short", "male", "female")

    def __init__(self, root=None, subset: str | None = None, clips: str | None = None, count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        if subset is not None:
            check_choice(self.name, "subset", subset, self.SUBSETS)
        self.subset, self.clips = subset, clips

    def _find(self, name: str) -> Path | None:
        direct = self.root / name
        if direct.is_file():
            return direct
        hits = sorted(p for p in self.root.rglob(name) if p.is_file())
        return hits[0] if hits else None

    def _load(self, task: str) -> pd.DataFrame:
        master_path, feature_path = self._find("Dolos.xlsx"), self._find("train_dolos.xlsx")
        stamps_path = self._find("dolos_timestamps.csv")
        if not (master_path or feature_path or stamps_path):
            raise DataError("no DOLOS annotation file found (Dolos.xlsx, train_dolos.xlsx or dolos_timestamps.csv)",
                            file=self.root, hint="Pass --root with your DOLOS copy.")
        self._spellings: set[str] = set()
        self._bad_times: list[str] = []
        master = self._read_sheet(master_path, intervals=True) if master_path else None
        features = self._read_sheet(feature_path, intervals=False) if feature_path else None
        stamps = self._read_stamps(stamps_path) if stamps_path else None
        self.raise_if_fatal()
        if self._bad_times:
            shown = "; ".join(self._bad_times[:3]) + (" ..." if len(self._bad_times) > 3 else "")
            self.warn(f"{self.name}: {len(self._bad_times)} start/end time pair(s) are unparsable or reversed and are "
                      f"left empty: {shown}")
        if len(self._spellings) > 2:
            self.warn(f"{self.name}: labels are spelled {len(self._spellings)} ways "
                      f"({', '.join(sorted(self._spellings))}); all are mapped to truthful / deceptive")
        if master is not None:
            base = master
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
        folds = self._official(by_name)
        if self.subset:
            records = self._restrict(records, by_name)
        self._subjects(records)
        index = index_videos(Path(self.clips) if self.clips else self.root)
        for r in records:
            self.attach_video(r, index.get(r["clip"].casefold()))
        self.summarise_clips(len(records))
        columns = ["sample_id", "dataset", "subject_id", "label", "label_raw", "sex", "participant", "clip", "show",
                   "url", "start_s", "end_s", "frames", "n_frames", "official_fold", "subsets", "sheet_row"] + feature_cols
        return self.frame_from(records, columns)

    # -- sheets -----------------------------------------------------------------------------------
    def _read_sheet(self, path: Path, intervals: bool) -> list[dict]:
        self.pin(path, self.KNOWN_SHEETS)
        raw, h, columns, info = grouped_header(path, None, DOLOS_INFO)
        info_cols = set(info.values())
        features, used = [], set()
        for j, group, sub, name in columns:
            if j in info_cols or not name or header_key(group) in ("generalinformation", "general"):
                continue
            if header_key(name) in {k for s in DOLOS_INFO.values() for k in s}:
                continue
            col = mumin_column(name)
            if col in used:
                col = mumin_column(f"{sub}_{name}")
            k = 2
            while col in used:
                col = mumin_column(f"{sub}_{name}_{k}")
                k += 1
            used.add(col)
            features.append((j, col, name))
        rows = []
        for i in range(h + 1, len(raw)):
            cells = raw.iloc[i].tolist()
            if all(clean_text(c) == "" for c in cells):
                continue
            where = {"file": str(path), "row": i + 1}
            clip = re.sub(r"\.mp4$", "", clean_text(cells[info["file_name"]]), flags=re.IGNORECASE)
            if not clip:
                self.problem("sheet", None, "empty file name", **where, column="file name")
                continue
            cell = cells[info["label"]]
            label_raw = "" if cell is None or (isinstance(cell, float) and cell != cell) else str(cell)
            label = deception_label(label_raw)
            if label is None:
                self.problem("sheet", f"{self.name}/{clip}", f"label {label_raw!r} is not a truth/deception spelling",
                             hint="Known spellings: truth, Truth, deception, Deception, lie.", **where, column="label")
                continue
            self._spellings.add(label_raw if label_raw == label_raw.strip() else repr(label_raw))
            rec = {"clip": clip, "label": label, "label_raw": label_raw, "sheet_row": i + 1, "_file": path.name,
                   "_where": where, "features": {}}
            if "gender" in info:
                rec["sex"] = sex_label(cells[info["gender"]])
            if "participant" in info:
                rec["participant"] = clean_text(cells[info["participant"]]) or None
            if "show" in info:
                rec["show"] = clean_text(cells[info["show"]]) or None
            if "url" in info:
                rec["url"] = clean_text(cells[info["url"]]) or None
            if "start" in info and "end" in info:
                rec["start_s"], rec["end_s"] = self._times(cells[info["start"]], cells[info["end"]], clip, where)
            for j, col, name in features:
                rec["features"][col] = self._binary(cells[j], intervals, clip, where, name)
            rows.append(rec)
        return rows

    def _binary(self, value, intervals: bool, clip: str, where: dict, name: str) -> int | None:
        text = clean_text(value)
        if text == "":
            self.count("mumin_blank_cells")
            return 0
        number = parse_int(text)
        if number in (0, 1):
            return number
        if intervals:
            if not _INTERVAL.search(text):
                self.count("mumin_unparsed_intervals")
                self.warn(f"{self.name}: MUMIN cell {text!r} is not an interval list such as [2:10,2:11] "
                          f"({where['file']}, row {where['row']}, column {name!r}); counted as present")
            return 1
        self.problem("sheet", f"{self.name}/{clip}", f"MUMIN value {text!r} is not 0 or 1", **where, column=name)
        return None

    def _times(self, start, end, clip: str, where: dict) -> tuple[float | None, float | None]:
        s, e = parse_time(start), parse_time(end)
        if s is None or e is None or e < s:
            why = "reversed" if s is not None and e is not None else "unparsable"
            self.count(f"times_{why}")
            self._bad_times.append(f"{clip}: {clean_text(start)!r}..{clean_text(end)!r} ({why}; "
                                   f"{Path(where['file']).name} row {where['row']})")
            return None, None
        return s, e

    def _read_stamps(self, path: Path) -> list[dict]:
        self.pin(path, self.KNOWN_SHEETS)
        table = read_table(path, {"yt": ["YT_Video_ID"], "file_name": ["file_name"], "start": ["start_time"],
                                  "end": ["end_time"], "label": ["label"]}, ("file_name", "label"))
        rows = []
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            clip = re.sub(r"\.mp4$", "", clean_text(row["file_name"]), flags=re.IGNORECASE)
            label = deception_label(row["label"])
            if not clip or label is None:
                self.problem("sheet", f"{self.name}/{clip}" if clip else None,
                             f"unreadable file name or label {clean_text(row['label'])!r}",
                             **table.where(i, "label" if clip else "file_name"))
                continue
            label_raw = str(row["label"])
            self._spellings.add(label_raw if label_raw == label_raw.strip() else repr(label_raw))
            s, e = (self._times(row["start"], row["end"], clip, where) if "start" in table.data.columns
                    else (None, None))
            rows.append({"clip": clip, "label": label, "label_raw": label_raw, "start_s": s,
                         "end_s": e, "url": clean_text(row.get("yt")) or None, "sheet_row": where["row"],
                         "_file": path.name, "_where": where, "features": {}})
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
        feats = {r["clip"].casefold(): r for r in source}
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
        direct = self.root / "training_protocols"
        if direct.is_dir():
            return direct
        hits = sorted(p for p in self.root.rglob("training_protocols") if p.is_dir())
        return hits[0] if hits else None

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
        for k in (1, 2, 3):
            for role in ("train", "test"):
                path = folder / f"{role}_fold{k}.csv"
                if not path.is_file():
                    continue
                if f"fold{k}" not in folds:
                    folds.append(f"fold{k}")
                for clip, label, where in self._read_list(path):
                    r = by_name.get(clip.casefold())
                    if r is None:
                        self.count("fold_lists_unknown_clips")
                        continue
                    if label is not None and label != r["label"]:
                        self.count("fold_lists_label_mismatch")
                    current = roles.setdefault(r["clip"].casefold(), {}).get(f"fold{k}")
                    roles[r["clip"].casefold()][f"fold{k}"] = "both" if current and current != role else role
        for key, r in by_name.items():
            if key in roles:
                r["official_fold"] = ";".join(f"{f}={roles[key][f]}" for f in folds if f in roles[key])
        for k in ("fold_lists_unknown_clips", "fold_lists_label_mismatch"):
            if self.counts.get(k):
                self.warn(f"{self.name}: training_protocols: {self.counts[k]} row(s) "
                          + ("name clips that are not in the annotation" if "unknown" in k else
                             "carry a label that differs from the annotation"))
        both = sum(1 for v in roles.values() for role in v.values() if role == "both")
        if both:
            self.count("fold_lists_train_and_test", both)
            self.warn(f"{self.name}: {both} clip-fold pair(s) are listed in both train and test of an official fold")
        for name in self.SUBSETS:
            path = folder / f"{name}.csv"
            if path.is_file():
                for clip, _, _ in self._read_list(path):
                    r = by_name.get(clip.casefold())
                    if r is not None:
                        r["subsets"] = "+".join(filter(None, [r.get("subsets"), name]))
        return folds

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


# ------------------------------------------------------------------------------------------------
class BagOfLies(DeceptionDataset):
    """Bag-of-Lies: 325 recordings of 35 users (video, EEG, gaze), truth / lie per run."""

    name = "bag-of-lies"
    version = "Bag-of-Lies (CVPRW 2019) Annotations.csv"
    citation = ("Gupta V, Agarwal M, Arora M, Chakraborty T, Singh R, Vatsa M. Bag-of-Lies: A Multimodal Dataset "
                "for Deception Detection. CVPR Workshops 2019.")
    license_note = "Research-only licence from IIIT-Delhi; obtain it from the authors."
    n_subjects = 35
    KNOWN_SHEETS: dict[str, str] = {}

    def __init__(self, root=None, annotation: str | None = None, count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        self.annotation = annotation

    def _load(self, task: str) -> pd.DataFrame:
        path = find_file(self.root, ["Annotations.csv"], "Bag-of-Lies Annotations.csv", option="annotation",
                         given=self.annotation)
        self.pin(path, self.KNOWN_SHEETS)
        cols = {c: [c] for c in ("eeg", "gaze", "image", "run", "truth", "usernum", "video")}
        table = read_table(path, cols, ("run", "truth", "usernum", "video"))
        records, seen = [], {}
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            user, run = parse_int(row["usernum"]), parse_int(row["run"])
            if user is None or run is None:
                self.problem("sheet", None, "usernum and run must be integers",
                             **table.where(i, "usernum" if user is None else "run"))
                continue
            sid = f"{self.name}/user{user}/run{run}"
            if sid in seen:
                self.problem("sheet", sid, f"user {user} run {run} appears twice (rows {seen[sid]} and {where['row']})",
                             **where)
                continue
            seen[sid] = where["row"]
            truth = parse_int(row["truth"])
            if truth not in (0, 1):
                self.problem("sheet", sid, f"truth {clean_text(row['truth'])!r} is not 0 or 1", **table.where(i, "truth"))
                continue
            rec = {"sample_id": sid, "dataset": self.name, "subject_id": f"{self.name}/user{user}",
                   "label": "truthful" if truth == 1 else "deceptive", "label_raw": str(truth), "run": run,
                   "sheet_row": where["row"]}
            for col in ("eeg", "gaze", "image"):
                if col in table.data.columns and clean_text(row[col]):
                    p = safe_path(path.parent, row[col], self.root, what=f"{col} path", **table.where(i, col))
                    rec[col] = str(p) if p.exists() else None
            video = safe_path(path.parent, row["video"], self.root, what="video path", **table.where(i, "video"))
            rec["clip"] = clean_text(row["video"])
            self.attach_video(rec, video)
            records.append(rec)
        self.summarise_clips(len(records))
        return self.frame_from(records, ["sample_id", "dataset", "subject_id", "label", "label_raw", "run", "clip",
                                         "frames", "n_frames", "eeg", "gaze", "image", "sheet_row"])


# ------------------------------------------------------------------------------------------------
class MU3D(DeceptionDataset):
    """MU3D: 320 videos of 80 targets (truth/lie x positive/negative), with a codebook."""

    # raters' accuracy with truthprop gives the veracity back: a label in disguise
    target_columns = ("accuracy",)

    name = "mu3d"
    version = "MU3D Codebook.xlsx"
    citation = ("Lloyd EP, Deska JC, Hugenberg K, McConnell AR, Humphrey BT, Kunstman JW. Miami University "
                "Deception Detection Database. Behavior Research Methods 51:429-439, 2019.")
    license_note = "Available to researchers from Miami University on request; obtain it from the authors."
    n_subjects = 80
    KNOWN_SHEETS: dict[str, str] = {}
    _TARGET = re.compile(r"^(?P<target>[A-Za-z]{1,3}\d{1,4})(?:[_\-\s](?P<rest>.*))?$")

    def __init__(self, root=None, codebook: str | None = None, count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        self.codebook = codebook

    def _load(self, task: str) -> pd.DataFrame:
        path = find_file(self.root, ["MU3D Codebook.xlsx", "*Codebook*.xlsx"], "MU3D codebook", option="codebook",
                         given=self.codebook)
        self.pin(path, self.KNOWN_SHEETS)
        names = ["VideoID", "Valence", "Veracity", "Sex", "Race", "VidLength_ms", "VidLength_sec", "WordCount",
                 "Accuracy", "TruthProp", "Attractive", "Trustworthy", "Anxious", "Transcription"]
        table = read_table(path, {n: [n] for n in names}, ("VideoID", "Veracity"), sheet="Video-Level Data")
        self._targets(path)
        videos = index_videos(self.root)
        records, seen = [], {}
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            video_id = clean_text(row["VideoID"])
            m = self._TARGET.match(video_id)
            if not m:
                self.problem("sheet", None, f"VideoID {video_id!r} does not start with a target code such as BF001",
                             **table.where(i, "VideoID"))
                continue
            sid = f"{self.name}/{video_id}"
            if sid in seen:
                self.problem("sheet", sid, f"VideoID {video_id} appears twice (rows {seen[sid]} and {where['row']})", **where)
                continue
            seen[sid] = where["row"]
            veracity = clean_text(row["Veracity"])
            label = {"1": "truthful", "0": "deceptive"}.get(veracity) or deception_label(veracity)
            if label is None:
                self.problem("sheet", sid, f"Veracity {veracity!r} is not 1 (truth) or 0 (lie)", **table.where(i, "Veracity"))
                continue
            target = m.group("target").upper()
            sex_from_id = {"F": "F", "M": "M"}.get(target[1]) if re.fullmatch(r"[A-Z][FM]\d+", target) else None
            sex_cell = sex_label(row["Sex"]) if "Sex" in table.data.columns else None
            if sex_from_id and sex_cell and sex_from_id != sex_cell:
                self.count("sex_id_mismatch")
            rec = {"sample_id": sid, "dataset": self.name, "subject_id": f"{self.name}/{target}", "label": label,
                   "label_raw": veracity, "clip": video_id, "sex": sex_cell or sex_from_id, "sheet_row": where["row"]}
            for n in ("Valence", "Race", "Transcription"):
                if n in table.data.columns:
                    rec[n.lower()] = clean_text(row[n]) or None
            for n in ("VidLength_sec", "WordCount", "Accuracy", "TruthProp", "Attractive", "Trustworthy", "Anxious"):
                if n in table.data.columns:
                    rec[n.lower()] = pd.to_numeric(pd.Series([row[n]]), errors="coerce").iloc[0]
            if rec["sex"] is None:
                self.count("sex_unknown")
            self.attach_video(rec, videos.get(video_id.casefold()))
            records.append(rec)
        if self.counts.get("sex_unknown"):
            self.warn(f"{self.name}: sex unknown for {self.counts['sex_unknown']} video(s) (neither the Sex cell nor "
                      "the VideoID gives F/M)")
        if self.counts.get("sex_id_mismatch"):
            self.warn(f"{self.name}: {self.counts['sex_id_mismatch']} video(s) have a Sex cell that contradicts the "
                      "VideoID; the Sex cell is used")
        self.summarise_clips(len(records))
        cols = ["sample_id", "dataset", "subject_id", "label", "label_raw", "sex", "clip", "valence", "race",
                "vidlength_sec", "wordcount", "accuracy", "truthprop", "attractive", "trustworthy", "anxious",
                "transcription", "frames", "n_frames", "sheet_row"]
        return self.frame_from(records, cols)

    def _targets(self, path: Path) -> None:
        try:
            raw, _ = read_raw_rows(path, "Target-Level Data")
        except DataError:
            self.warn(f"{self.name}: the codebook has no 'Target-Level Data' sheet")
            return
        rows = sum(1 for i in range(1, len(raw)) if any(clean_text(v) for v in raw.iloc[i].tolist()))
        self.counts["targets_listed"] = rows


# ------------------------------------------------------------------------------------------------
class KaggleMELie(DeceptionDataset):
    """Kaggle ME lie images: face frames in truth/ and lie/ folders, optionally one sub-folder per subject."""

    name = "kaggle-me-lie"
    version = "image folders"
    citation = "Kaggle micro-expression lie-detection image set (community upload; cite the uploader's page)."
    license_note = "Check the licence on the Kaggle page of your copy."

    def __init__(self, root=None):
        super().__init__(root, count_frames=False)

    def _load(self, task: str) -> pd.DataFrame:
        classes = {}
        for p in sorted(self.root.iterdir()):
            if p.is_dir():
                label = deception_label(p.name)
                if label is not None:
                    if label in classes:
                        raise DataError(f"two folders for {label}: {classes[label].name} and {p.name}", file=self.root)
                    classes[label] = p
        if not classes:
            names = ", ".join(sorted(p.name for p in self.root.iterdir() if p.is_dir())[:8]) or "none"
            raise DataError(f"no truth/ or lie/ folder found (folders: {names})", file=self.root,
                            hint="Expected per-class folders named truth and lie, in any letter case.")
        records, layouts = [], set()
        for label, folder in sorted(classes.items()):
            direct = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
            if direct and subdirs:
                raise DataError(f"{folder.name}/ holds both images and sub-folders", file=folder,
                                hint="Put every image in a per-subject folder, or none of them.")
            if subdirs:
                layouts.add("subjects")
                for sub in subdirs:
                    for img in sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS):
                        rel = img.relative_to(sub).with_suffix("").as_posix()
                        records.append({"sample_id": f"{self.name}/{folder.name}/{sub.name}/{rel}",
                                        "subject_id": f"{self.name}/{sub.name}", "label": label,
                                        "label_raw": folder.name, "frames": str(img), "n_frames": 1, "clip": rel})
            else:
                layouts.add("flat")
                for img in direct:
                    records.append({"sample_id": f"{self.name}/{folder.name}/{img.stem}",
                                    "subject_id": f"{self.name}/clip-{folder.name}-{img.stem}", "label": label,
                                    "label_raw": folder.name, "frames": str(img), "n_frames": 1, "clip": img.stem})
        if len(layouts) > 1:
            raise DataError("one class folder has per-subject sub-folders and the other does not", file=self.root,
                            hint="Use the same layout for truth/ and lie/.")
        if not records:
            raise DataError("no images found in the class folders", file=self.root)
        for r in records:
            r["dataset"] = self.name
        if layouts == {"flat"}:
            self.no_identities("the class folders have no per-subject sub-folders")
        return self.frame_from(records, ["sample_id", "dataset", "subject_id", "label", "label_raw", "clip", "frames",
                                         "n_frames"])
