"""MU3D (Lloyd et al., Behavior Research Methods 2019): the Miami University Deception Detection Database.

``MU3D Codebook.xlsx``: sheet ``Video-Level Data`` (``VideoID`` such as ``BF001_1PT``, ``Valence``,
``Veracity`` 1 = truth / 0 = lie, ``Sex``, ratings, ``Transcription``) and ``Target-Level Data``.
Videos are found anywhere under the root by their VideoID (``<VideoID>.mp4`` / ``.wmv`` ...); a
link that leads out of the root is refused.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .common import check_text
from .deception import DeceptionDataset, index_videos
from .sheets import clean_text, deception_label, find_file, read_raw_rows, read_table, sex_label

# sha256 of published annotation files -> release name (see casme2.KNOWN_SHEETS).
KNOWN_SHEETS: dict[str, str] = {
    "a0c1ca857698313dd358af65488cefbcbf9a20fe902e039af82ac4b4fa4450e5": "MU3D Codebook.xlsx (2019 release)",
}


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
    KNOWN_SHEETS = KNOWN_SHEETS
    _TARGET = re.compile(r"^(?P<target>[A-Za-z]{1,3}\d{1,4})(?:[_\-\s](?P<rest>.*))?$")

    def __init__(self, root=None, codebook: str | None = None, count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        self.codebook = check_text(self.name, "codebook", codebook)

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
            self.attach_video(rec, videos.get(video_id.casefold()), **table.where(i, "VideoID"))
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

