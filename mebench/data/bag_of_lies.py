"""Bag-of-Lies (Gupta et al., CVPR Workshops 2019): video, EEG and gaze per user and run.

``Annotations.csv`` with columns ``eeg, gaze, image, run, truth, usernum, video``; the paths are
relative to the CSV (``./Finalised/User_0/run_0/video.mp4``) and may not leave the root.
``truth`` is 1 for a truthful run and 0 for a lie.
"""
from __future__ import annotations

import pandas as pd

from .common import check_text
from .deception import DeceptionDataset
from .sheets import clean_text, find_file, parse_int, read_table

# sha256 of published annotation files -> release name (see casme2.KNOWN_SHEETS).
KNOWN_SHEETS: dict[str, str] = {
    "f723ebf127dbd0328157e24d8fc770f2922d92e4b23a14a00670d28f36c9b96b": "Annotations.csv (CVPRW 2019 release)",
}


class BagOfLies(DeceptionDataset):
    """Bag-of-Lies: 325 recordings of 35 users (video, EEG, gaze), truth / lie per run."""

    name = "bag-of-lies"
    version = "Bag-of-Lies (CVPRW 2019) Annotations.csv"
    citation = ("Gupta V, Agarwal M, Arora M, Chakraborty T, Singh R, Vatsa M. Bag-of-Lies: A Multimodal Dataset "
                "for Deception Detection. CVPR Workshops 2019.")
    license_note = "Research-only licence from IIIT-Delhi; obtain it from the authors."
    n_subjects = 35
    KNOWN_SHEETS = KNOWN_SHEETS

    def __init__(self, root=None, annotation: str | None = None, count_frames: bool = True):
        super().__init__(root, count_frames=count_frames)
        self.annotation = check_text(self.name, "annotation", annotation)

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
            refused = False
            for col in ("eeg", "gaze", "image", "video"):
                if col not in table.data.columns or (col != "video" and not clean_text(row[col])):
                    continue
                p = self.checked_path(path.parent, row[col], sid, f"{col} path", self.root, **table.where(i, col))
                if p is None:
                    refused = True
                elif col == "video" and not refused:
                    rec["clip"] = clean_text(row["video"])
                    self.attach_video(rec, p, **table.where(i, "video"))
                else:
                    rec[col] = str(p) if p.exists() else None
            if refused:
                continue
            records.append(rec)
        self.summarise_clips(len(records))
        return self.frame_from(records, ["sample_id", "dataset", "subject_id", "label", "label_raw", "run", "clip",
                                         "frames", "n_frames", "eeg", "gaze", "image", "sheet_row"])

