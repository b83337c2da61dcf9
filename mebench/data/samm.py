"""SAMM (Davison et al., IEEE TAC 2018), read from ``SAMM_Micro_FACS_Codes_v2.xlsx`` as distributed.

Sheet ``MICRO_ONLY``: notes rows (citation, symbol key) come above the header row, which is found
by its column names. Columns ``Subject`` (zero-padded, ``006``), ``Filename`` (``006_1_2``),
``Inducement Code``, ``Onset Frame``, ``Apex Frame``, ``Offset Frame``, ``Duration``, ``Micro``,
``Action Units``, ``Estimated Emotion``, ``Objective Classes``, ``Notes``. In the AU notation ``/``
means "or", ``?`` marks doubt, ``A``/``L``/``R`` are prefixes. Frames:
``<Subject>/<Filename>/<Subject>_<frame:05d>.jpg``.
"""
from __future__ import annotations

import re

import pandas as pd

from ..errors import DataError
from .common import CodedDataset, LabelSet, aus_columns, resolve_base
from .sheets import clean_text, find_file, objective_class, parse_frame, read_table

# sha256 of published sheet releases -> release name (see casme2.KNOWN_SHEETS).
KNOWN_SHEETS: dict[str, str] = {
    "50caea8961cbb8d005669971b87396ac4759bdf45c96637a382c5d9d0894a4a4": "SAMM_Micro_FACS_Codes_v2.xlsx (v2 release)",
}

EMOTIONS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise", "other")
EMOTION_ALIASES = {e: e for e in EMOTIONS} | {
    "angry": "anger", "happy": "happiness", "sad": "sadness", "surprised": "surprise", "others": "other",
    "disgusted": "disgust", "fearful": "fear", "contemptuous": "contempt",
}

LABEL_SETS = {"all": LabelSet("the sheet's emotions: " + ", ".join(EMOTIONS)),
              "5class": LabelSet("anger, contempt, happiness, surprise, other (drops disgust, fear, sadness)",
                                 {e: e for e in ("anger", "contempt", "happiness", "surprise", "other")}),
              "megc3": LabelSet("negative = anger + contempt + disgust + fear + sadness; positive = happiness; "
                                "surprise = surprise",
                                {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
                                 "sadness": "negative", "happiness": "positive", "surprise": "surprise"}),
              "objective": LabelSet("objective classes I-VII", None, source="objective")}

COLUMNS = {"subject": ["Subject"],
           "filename": ["Filename", "File name"],
           "inducement": ["Inducement Code"],
           "onset": ["Onset Frame", "OnsetFrame", "Onset"],
           "apex": ["Apex Frame", "ApexFrame", "Apex"],
           "offset": ["Offset Frame", "OffsetFrame", "Offset"],
           "duration": ["Duration"],
           "micro": ["Micro"],
           "aus": ["Action Units", "AUs", "AU"],
           "emotion": ["Estimated Emotion", "Emotion"],
           "objective": ["Objective Classes", "Objective Class"],
           "notes": ["Notes"]}
REQUIRED = ("subject", "filename", "onset", "apex", "offset", "emotion")
OUTPUT = ["sample_id", "dataset", "subject_id", "label", "label_raw", "emotion", "objective", "clip",
          "onset", "apex", "offset", "n_frames", "apex_source", "offset_unclear", "frames", "aus", "au_sides",
          "aus_alternatives", "aus_uncertain", "aus_raw", "inducement", "notes", "sheet_row"]
FRAME_DIRS = {"raw": ["SAMM", "samm"], "cropped": ["SAMM_CROP", "SAMM_cropped", "Cropped", "cropped"]}


def subject_code(value) -> str | None:
    """``6`` / ``"6"`` / ``"006"`` -> ``"006"`` (Excel turns the padded text into a number)."""
    text = clean_text(value)
    return f"{int(text):03d}" if re.fullmatch(r"\d{1,3}", text) else None


class SAMM(CodedDataset):
    """SAMM: 159 spontaneous micro-movements of 32 participants at 200 fps (MICRO_ONLY sheet)."""

    name = "samm"
    version = "SAMM_Micro_FACS_Codes_v2 (MICRO_ONLY)"
    citation = ("Davison AK, Lansley C, Costen N, Tan K, Yap MH. SAMM: A Spontaneous Micro-Facial Movement "
                "Dataset. IEEE Transactions on Affective Computing 9(1):116-129, 2018.")
    license_note = ("Licensed by Manchester Metropolitan University for research use; obtain it from the "
                    "authors. mebench never downloads it.")
    LABEL_SETS = LABEL_SETS
    EMOTION_ALIASES = EMOTION_ALIASES
    fps = 200.0
    n_subjects = 32
    frames_hint = "Frames are <Subject>/<Filename>/<Subject>_<frame:05d>.jpg; check --root or frames_dir=PATH."

    def _load(self, task: str) -> pd.DataFrame:
        path = find_file(self.root, ["SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM_Micro_FACS_Codes*.xlsx", "SAMM*.xlsx"],
                         "SAMM FACS codes sheet", given=self.sheet)
        self.pin(path, KNOWN_SHEETS)
        table = read_table(path, COLUMNS, REQUIRED, sheet="MICRO_ONLY")
        if table.header_row > 1:
            self.counts["sheet_header_row"] = table.header_row
        base = resolve_base(self.root, FRAME_DIRS[self.variant] + [""], self.frames_dir, "SAMM")
        records, seen = [], {}
        has = set(table.data.columns)
        if self.labels == "objective" and "objective" not in has:
            raise DataError("label set 'objective' needs an 'Objective Classes' column, which this sheet lacks",
                            file=path, hint="Use another label set.")
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            clip = clean_text(row["filename"])
            subject = subject_code(row["subject"])
            if subject is None and re.fullmatch(r"\d{3}_.+", clip):
                subject = clip[:3]
            if subject is None or not clip:
                col = "subject" if subject is None else "filename"
                self.problem("sheet", None, f"unreadable {col} {clean_text(row[col])!r}",
                             hint="Expected a subject such as 006 and a clip such as 006_1_2.", **table.where(i, col))
                continue
            sid = f"{self.name}/{subject}/{clip}"
            if self.repeated(seen, sid, where):
                continue
            onset = self.frame_cell(table, i, "onset", sid)
            if onset is None:
                continue
            offset_text = clean_text(row["offset"])
            offset_unclear = "?" in offset_text
            offset = parse_frame(offset_text.replace("?", ""))
            if offset is not None and offset < 0:  # -1: offset not coded
                offset = None
            if offset is None:
                if offset_text not in ("?", "-1", "", "/"):
                    self.problem("sheet", sid, f"offset of {sid} is {offset_text!r}, expected a frame number",
                                 hint="Correct the cell in your copy of the sheet.", **table.where(i, "offset"))
                    continue
                offset_unclear = True
                self.count("offset_uncoded")
            elif offset_unclear:
                self.count("offset_unclear")
            frames = self.checked_path(base / subject, clip, sid, "Filename", (self.root, base),
                                       **table.where(i, "filename"))
            if frames is None:
                continue
            code = self.row_aus(row, has, sid, where)
            records.append({
                "sample_id": sid, "dataset": self.name, "subject_id": f"{self.name}/{subject}", "clip": clip,
                "emotion": self.canonical_emotion(row["emotion"], where),
                "objective": objective_class(row["objective"]) if "objective" in has else None,
                "onset": onset, "apex": parse_frame(row["apex"]), "offset": offset,
                "_apex_raw": clean_text(row["apex"]), "offset_unclear": bool(offset_unclear),
                "frames": frames, "sheet_row": where["row"], "_where": where,
                "inducement": clean_text(row["inducement"]) if "inducement" in has else None,
                "notes": clean_text(row["notes"]) or None if "notes" in has else None,
                "aus_alternatives": "+".join(code.alternatives), "aus_uncertain": bool(code.uncertain),
                **aus_columns(code),
            })
        if self.counts.get("offset_uncoded"):
            self.warn(f"{self.name}: {self.counts['offset_uncoded']} sample(s) have no coded offset "
                      "('?', '-1' or blank); their offset is the clip's last frame")
        # Apex cells of -1 mean "not coded".
        for rec in records:
            if rec["apex"] is not None and rec["apex"] < 0:
                rec["apex"] = None
        return self.finish(records, OUTPUT)
