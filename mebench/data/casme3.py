"""CAS(ME)^3 part A (Li et al., IEEE TPAMI 2023): micro-expressions in long recordings.

Sheet columns ``Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion``; frames
``<Subject>/<Filename>/color/<n>.jpg`` (the whole recording, numbered as in the sheet). One
recording (``Filename``) holds several micro-expressions, each a row with its own interval, so a
sample is ``(Subject, Filename, Onset, Offset)``. A row repeating the same subject, filename, onset
and offset is a duplicate: an error, unless ``--dataset-opt dedupe=true`` keeps the first and
records the others as skipped.
"""
from __future__ import annotations

import pandas as pd

from ..errors import DataError
from .common import CodedDataset, LabelSet, aus_columns, check_flag, resolve_base
from .sheets import clean_text, find_file, objective_class, parse_frame, read_table

KNOWN_SHEETS: dict[str, str] = {}
EMOTIONS = ("happy", "disgust", "fear", "anger", "sad", "surprise", "others")
EMOTION_ALIASES = {e: e for e in EMOTIONS} | {
    "happiness": "happy", "disgusted": "disgust", "fearful": "fear", "angry": "anger", "sadness": "sad",
    "surprised": "surprise", "other": "others",
}
NEGATIVE = {"disgust": "negative", "fear": "negative", "anger": "negative", "sad": "negative"}
LABEL_SETS = {
    "all": LabelSet("the sheet's emotions: " + ", ".join(EMOTIONS)),
    "megc3": LabelSet("negative = anger + disgust + fear + sad; positive = happy; surprise = surprise",
                      NEGATIVE | {"happy": "positive", "surprise": "surprise"}),
    "4class": LabelSet("negative, positive, surprise, others", NEGATIVE | {"happy": "positive", "surprise": "surprise",
                                                                          "others": "others"}),
    "objective": LabelSet("objective classes I-VII", None, source="objective"),
}
COLUMNS = {"subject": ["Subject"], "filename": ["Filename", "File name"], "onset": ["Onset", "Onset frame"],
           "apex": ["Apex", "Apex frame"], "offset": ["Offset", "Offset frame"], "aus": ["AU", "AUs", "Action Units"],
           "objective": ["Objective class", "Objective classes"], "emotion": ["emotion", "Estimated Emotion"]}
REQUIRED = ("subject", "filename", "onset", "apex", "offset", "emotion")
OUTPUT = ["sample_id", "dataset", "subject_id", "label", "label_raw", "emotion", "objective", "clip", "onset",
          "apex", "offset", "n_frames", "apex_source", "frames", "aus", "au_sides", "aus_raw", "sheet_row"]


class CASME3A(CodedDataset):
    """CAS(ME)^3 part A: micro-expressions in long recordings of 100 subjects, 30 fps."""

    name = "casme3a"
    version = "part A, ME label JpgIndex sheet"
    citation = ("Li J, Dong Z, Lu S, Wang S-J, Yan W-J, Ma Y, Liu Y, Huang C, Fu X. CAS(ME)^3: A Third Generation "
                "Facial Spontaneous Micro-Expression Database with Depth Information and High Ecological "
                "Validity. IEEE TPAMI 45(3):2782-2800, 2023.")
    license_note = "Licensed by the Institute of Psychology, Chinese Academy of Sciences; obtain it from the authors."
    LABEL_SETS = LABEL_SETS
    EMOTION_ALIASES = EMOTION_ALIASES
    fps = 30.0
    n_subjects = 100
    frames_hint = "Frames are <Subject>/<Filename>/color/<n>.jpg; check --root or frames_dir=PATH."

    def __init__(self, root=None, labels: str = "all", variant: str = "raw", apex: str | None = None,
                 sheet: str | None = None, frames_dir: str | None = None, dedupe: bool = False,
                 bad_frames: str = "error"):
        super().__init__(root, labels, variant, apex, sheet, frames_dir, bad_frames)
        self.dedupe = check_flag(self.name, "dedupe", dedupe)

    def _load(self, task: str) -> pd.DataFrame:
        path = find_file(self.root, ["*part_A*label*.xlsx", "*part_A*.xlsx", "*casme3*.xlsx", "*CAS(ME)*.xlsx"],
                         "CAS(ME)^3 part A label sheet", given=self.sheet)
        self.pin(path, KNOWN_SHEETS)
        table = read_table(path, COLUMNS, REQUIRED)
        has = set(table.data.columns)
        if self.labels == "objective" and "objective" not in has:
            raise DataError("label set 'objective' needs an 'Objective class' column, which this sheet lacks", file=path)
        base = resolve_base(self.root, ["part_A", "data", ""], self.frames_dir, "CAS(ME)^3")
        records, seen = [], {}
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            subject, clip = clean_text(row["subject"]), clean_text(row["filename"])
            if not subject or not clip:
                col = "subject" if not subject else "filename"
                self.problem("sheet", None, f"empty {col}", **table.where(i, col))
                continue
            onset = self.frame_cell(table, i, "onset", f"{subject}/{clip}")
            offset = self.frame_cell(table, i, "offset", f"{subject}/{clip}")
            if onset is None or offset is None:
                continue
            key = (subject, clip, onset, offset)
            sid = f"{self.name}/{subject}/{clip}/{onset}-{offset}"
            if key in seen:
                first = seen[key]
                conflict = "" if first["emotion_raw"] == clean_text(row["emotion"]) else \
                    f"; the rows disagree on the emotion ({first['emotion_raw']!r} vs {clean_text(row['emotion'])!r})"
                if not self.dedupe:
                    self.problem("sheet", sid, f"subject {subject} has filename {clip} with onset {onset} and offset "
                                 f"{offset} twice (rows {first['row']} and {where['row']}){conflict}",
                                 hint="Pass --dataset-opt dedupe=true to keep the first row and record the "
                                      "others as skipped.", **where)
                else:
                    self.skip(sid, f"duplicate of sheet row {first['row']} (dedupe=true){conflict}")
                    self.count("duplicates_dropped")
                continue
            seen[key] = {"row": where["row"], "emotion_raw": clean_text(row["emotion"])}
            code = self.row_aus(row, has, sid, where)
            subject_dir = self.checked_path(base, subject, sid, "Subject", (self.root, base),
                                            **table.where(i, "subject"))
            folder = subject_dir and self.checked_path(subject_dir, clip, sid, "Filename", (self.root, base),
                                                       **table.where(i, "filename"))
            if folder is None:
                continue
            if (folder / "color").is_dir() or not folder.is_dir():
                folder = self.checked_path(folder, "color", sid, "Filename", (self.root, base),
                                           **table.where(i, "filename"))
                if folder is None:
                    continue
            records.append({
                "sample_id": sid, "dataset": self.name, "subject_id": f"{self.name}/{subject}", "clip": clip,
                "emotion": self.canonical_emotion(row["emotion"], where),
                "objective": objective_class(row["objective"]) if "objective" in has else None,
                "onset": onset, "apex": parse_frame(row["apex"]), "offset": offset,
                "_apex_raw": clean_text(row["apex"]), "frames": folder, "sheet_row": where["row"], "_where": where,
                **aus_columns(code),
            })
        if self.counts.get("duplicates_dropped"):
            self.warn(f"{self.name}: {self.counts['duplicates_dropped']} duplicate sheet row(s) dropped (dedupe=true)")
        return self.finish(records, OUTPUT)

