"""CASME II (Yan et al., PLoS ONE 2014), read from the coding sheet and frame folders as distributed.

Sheet ``CASME2-coding-*.xlsx`` (2014-05-08 and 2019-07-01 releases), sheet ``Sheet1``, header
``Subject | Filename | (blank) | OnsetFrame | ApexFrame | OffsetFrame | (blank) | Action Units |
Estimated Emotion [| Objective Classes]``. ``Subject`` is an integer 1-26 while folders are
``sub01``..``sub26``. Frames: ``CASME2_RAW_selected/subNN/<Filename>/imgN.jpg`` (raw) or
``Cropped/subNN/<Filename>/reg_imgN.jpg`` (cropped); N is the absolute frame number of the sheet.
"""
from __future__ import annotations

import re

import pandas as pd

from ..errors import DataError
from .common import CodedDataset, LabelSet, aus_columns, resolve_base
from .sheets import clean_text, find_file, objective_class, parse_frame, read_table

# sha256 of published sheet releases -> release name (recorded in the manifest's sheet_versions and
# shown by `mebench data check`). Any other file is accepted with a warning that names its hash,
# so a run always records exactly which sheet it read.
KNOWN_SHEETS: dict[str, str] = {
    "6004a3ea87055ef9e6319d59b7940b337dc08e18ac785429c9b851587aa5e090":
        "CASME2-coding-20190701.xlsx (2019-07-01 release)",
}

EMOTIONS = ("happiness", "surprise", "disgust", "repression", "others", "fear", "sadness")
EMOTION_ALIASES = {e: e for e in EMOTIONS} | {
    "happy": "happiness", "surprised": "surprise", "disgusted": "disgust", "repressed": "repression",
    "other": "others", "fearful": "fear", "sad": "sadness", "sadnness": "sadness",
}

LABEL_SETS = {"all": LabelSet("the sheet's seven emotions: " + ", ".join(EMOTIONS)),
              "5class": LabelSet("happiness, surprise, disgust, repression, others (drops fear and sadness)",
                                 {e: e for e in ("happiness", "surprise", "disgust", "repression", "others")}),
              "megc3": LabelSet("negative = disgust + repression; positive = happiness; surprise = surprise",
                                {"disgust": "negative", "repression": "negative", "happiness": "positive",
                                 "surprise": "surprise"}),
              "objective": LabelSet("objective classes I-VII (sheets with an 'Objective Classes' column)",
                                    None, source="objective")}

COLUMNS = {"subject": ["Subject"],
           "filename": ["Filename", "File name"],
           "onset": ["OnsetFrame", "Onset Frame", "Onset"],
           "apex": ["ApexFrame", "Apex Frame", "Apex"],
           "offset": ["OffsetFrame", "Offset Frame", "Offset"],
           "aus": ["Action Units", "Action Unit", "AUs", "AU"],
           "emotion": ["Estimated Emotion", "Emotion"],
           "objective": ["Objective Classes", "Objective Class", "Objective"]}
REQUIRED = ("subject", "filename", "onset", "apex", "offset", "emotion")
OUTPUT = ["sample_id", "dataset", "subject_id", "label", "label_raw", "emotion", "objective", "clip",
          "onset", "apex", "offset", "n_frames", "apex_source", "frames", "aus", "au_sides", "aus_raw", "sheet_row"]

FRAME_DIRS = {"raw": ["CASME2_RAW_selected", "CASME2_RAW", "CASME2-RAW", "RAW_selected", "raw"],
              "cropped": ["Cropped", "CASME2_Cropped", "Cropped_faces", "cropped"]}


def subject_folder(value) -> str | None:
    """``1`` / ``"01"`` / ``"sub01"`` -> ``"sub01"``; None when unreadable."""
    text = clean_text(value)
    m = re.fullmatch(r"(?:sub)?0*(\d{1,3})", text, flags=re.IGNORECASE)
    return f"sub{int(m.group(1)):02d}" if m else None


class CASME2(CodedDataset):
    """CASME II: 255 spontaneous micro-expressions of 26 subjects at 200 fps."""

    name = "casme2"
    version = "2014-05-08 / 2019-07-01 coding sheets"
    citation = ("Yan W-J, Li X, Wang S-J, Zhao G, Liu Y-J, Chen Y-H, Fu X. CASME II: An Improved Spontaneous "
                "Micro-Expression Database and the Baseline Evaluation. PLoS ONE 9(1): e86041, 2014.")
    license_note = ("Licensed by the Institute of Psychology, Chinese Academy of Sciences, for research use; "
                    "obtain it from the authors. mebench never downloads it.")
    LABEL_SETS = LABEL_SETS
    EMOTION_ALIASES = EMOTION_ALIASES
    fps = 200.0
    n_subjects = 26

    def _load(self, task: str) -> pd.DataFrame:
        path = find_file(self.root, ["CASME2-coding-*.xlsx", "CASME2*coding*.xlsx", "CASME2*.xlsx"],
                         "CASME II coding sheet", given=self.sheet)
        from .synthetic import SYNTHETIC_SHEET_VERSION, is_synthetic_sheet

        ours = is_synthetic_sheet(path)  # mebench's own copy: named as such, not an unknown release
        digest = self.pin(path, None if ours else KNOWN_SHEETS)
        if ours:
            self.sheet_versions[str(path)] = SYNTHETIC_SHEET_VERSION
        table = read_table(path, COLUMNS, REQUIRED, sheet="Sheet1")
        has_objective = "objective" in table.data.columns
        key = str(path)
        if key in self.sheet_versions and self.sheet_versions[key].startswith("unknown"):
            layout = ("2019-07-01 layout (has 'Objective Classes')" if has_objective
                      else "2014-05-08 layout (no 'Objective Classes')")
            self.sheet_versions[key] = f"unknown version (sha256 {digest}); {layout}"
        if self.labels == "objective" and not has_objective:
            raise DataError("label set 'objective' needs an 'Objective Classes' column, which this sheet lacks "
                            "(the 2014-05-08 release has none)", file=path,
                            hint="Use the 2019-07-01 sheet, or another label set.")
        base = resolve_base(self.root, FRAME_DIRS[self.variant] + [""], self.frames_dir, "CASME II")
        records = self.read_records(table, base)
        return self.finish(records, OUTPUT)

    def read_records(self, table, base) -> list[dict]:
        records, seen = [], {}
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            subject = subject_folder(row["subject"])
            clip = clean_text(row["filename"])
            if subject is None or not clip:
                what = "Subject" if subject is None else "Filename"
                col = "subject" if subject is None else "filename"
                self.problem("sheet", None, f"unreadable {what} {clean_text(row[col])!r}",
                             hint="Expected an integer subject (1-26) and a clip name such as EP02_01f.",
                             **table.where(i, col))
                continue
            sid = f"{self.name}/{subject}/{clip}"
            if self.repeated(seen, sid, where):
                continue
            onset = self.frame_cell(table, i, "onset", sid)
            offset = self.frame_cell(table, i, "offset", sid)
            if onset is None or offset is None:
                continue
            frames = self.checked_path(base / subject, clip, sid, "Filename", (self.root, base),
                                       **table.where(i, "filename"))
            if frames is None:
                continue
            code = self.row_aus(row, table.data.columns, sid, where)
            emotion = self.canonical_emotion(row["emotion"], where)
            objective = objective_class(row["objective"]) if "objective" in table.data.columns else None
            records.append({
                "sample_id": sid, "dataset": self.name, "subject_id": f"{self.name}/{subject}", "clip": clip,
                "emotion": emotion, "objective": objective,
                "onset": onset, "apex": parse_frame(row["apex"]), "offset": offset,
                "_apex_raw": clean_text(row["apex"]),
                "frames": frames, "sheet_row": where["row"], "_where": where,
                **aus_columns(code),
            })
        return records
