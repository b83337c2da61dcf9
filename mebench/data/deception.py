"""Shared behaviour of the deception corpora (one module each: ``reallife``, ``dolos``,
``bag_of_lies``, ``mu3d``, ``kaggle``).

Every deception loader has task ``deception`` with labels ``truthful`` / ``deceptive``. Video clips
are the frames source when present; annotation-only copies still load (frames stay empty, counted
and warned), so annotation features such as ``mumin`` run without any video. A loader without
speaker identities sets ``identities = False``: subject-wise protocols then refuse, and every clip
gets its own pseudo-subject ``<dataset>/clip-<id>``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from ..io import VIDEO_EXTENSIONS, video_frame_count
from .common import LoaderBase, check_flag
from .sheets import clean_text

DECEPTION_SETS = {"deception": "truthful / deceptive"}


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


def subject_key(name) -> str:
    """Participant names vary in case and spacing: ``"John  Doe "`` and ``"john doe"`` -> ``john_doe``."""
    return re.sub(r"[^0-9a-z]+", "_", clean_text(name).casefold()).strip("_")


class DeceptionDataset(LoaderBase):
    """Shared behaviour of the deception loaders."""

    tasks = ("deception",)
    label_sets = DECEPTION_SETS

    def __init__(self, root=None, count_frames: bool = True):
        super().__init__(root)
        self.count_frames = check_flag(self.name, "count_frames", count_frames)

    def no_identities(self, why: str) -> None:
        self.identities = False
        self.warn(f"{self.name}: no speaker identities ({why}); subject-wise protocols (loso, group-kfold) refuse "
                  "this dataset, and clip-level protocols cannot audit leakage between clips of one speaker")

    def attach_video(self, rec: dict, path: Path | None, container: Path | None = None, **where) -> None:
        """Set the clip's video (``frames``) and frame count. A link that leads out of both the root and
        ``container`` (the folder the video was found in, default the root) is a fatal problem."""
        if path is not None and path.is_file():
            container = container if container is not None else self.root
            relative = path.relative_to(container).as_posix() if path.is_relative_to(container) else str(path)
            where = where or {"file": path}
            if self.checked_path(container, relative, rec["sample_id"], "video file", (self.root, container),
                                 **where) is None:
                rec["frames"] = None
                return
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
