"""Real-life Trial (Perez-Rosas et al., ICMI 2015): courtroom clips with MUMIN gesture annotations.

``Annotation/All_Gestures_Deceptive and Truthful.csv``: columns ``id`` (the clip file name), the 39
binary MUMIN gestures and ``class`` (``deceptive`` / ``truthful``); a widely used copy adds
``subject`` and ``gender``. Clips are ``Clips/<Deceptive|Truthful>/<id>.mp4``, transcripts
``Transcription/<Deceptive|Truthful>/<id>.txt``. The original release names no speakers: without
a subject column or ``--dataset-opt identities=PATH`` subject-wise protocols refuse it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .common import check_text
from .deception import DeceptionDataset
from .mumin import RLT_GESTURES, mumin_column
from .sheets import clean_text, deception_label, find_file, parse_int, read_table, sex_label

# sha256 of published annotation files -> release name (see casme2.KNOWN_SHEETS).
KNOWN_SHEETS: dict[str, str] = {
    "64b1e2d32b46af5129020975d15d0a7582ca4beb8a8999839324922ba3ab6d8b":
        "All_Gestures_Deceptive and Truthful.csv (original 2016 release)",
    "c80539857736906d06ae027d4f106f32a284f7926454161d5bfb3c3e30111f45":
        "All_Gestures_Deceptive and Truthful.csv (widely used copy with a subject column added)",
}


class RealLifeTrial(DeceptionDataset):
    """Real-life Trial: 121 courtroom clips (61 deceptive, 60 truthful) with MUMIN gesture annotations."""

    name = "reallife-trial"
    version = "Real-life Trial 2016 release (All_Gestures_Deceptive and Truthful.csv)"
    citation = ("Perez-Rosas V, Abouelenien M, Mihalcea R, Burzo M. Deception Detection using Real-life Trial "
                "Data. ACM ICMI 2015.")
    license_note = "Distributed by the University of Michigan LIT lab for research use; obtain it from the authors."
    fps = None
    n_subjects = 56
    KNOWN_SHEETS = KNOWN_SHEETS

    def __init__(self, root=None, identities: str | None = None, annotation: str | None = None,
                 count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        self.identities_file = check_text(self.name, "identities", identities)
        self.annotation = check_text(self.name, "annotation", annotation)

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
                   "clip": stem, "sheet_row": where["row"], "_where": table.where(i, "id")}
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
        """Clips/<Deceptive|Truthful>/<id>.mp4 and Transcription/<...>/<id>.txt; the id may not lead out of them."""
        clips, transcripts = self.root / "Clips", self.root / "Transcription"
        for r in records:
            folder = "Deceptive" if r["label"] == "deceptive" else "Truthful"
            other = "Truthful" if folder == "Deceptive" else "Deceptive"
            video, refused = None, False
            for base in (clips / folder, clips, clips / other):
                candidate = self.checked_path(base, f"{r['clip']}.mp4", r["sample_id"], "clip id", (self.root, clips),
                                              **r["_where"])
                refused = candidate is None
                if refused or candidate.is_file():
                    video = candidate
                    break
            if refused:
                r["frames"] = r["transcript"] = None
                continue
            self.attach_video(r, video, clips, **r["_where"])
            t = self.checked_path(transcripts / folder, f"{r['clip']}.txt", r["sample_id"], "clip id",
                                  (self.root, transcripts), **r["_where"])
            r["transcript"] = str(t) if t is not None and t.is_file() else None
        self.summarise_clips(len(records))
