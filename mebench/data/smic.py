"""SMIC-HS (Li et al., FG 2013): the high-speed (100 fps) part of SMIC, read from its folder tree.

Layout ``HS/<subject>/micro/<negative|positive|surprise>/<clip>/image000123.bmp``: the emotion is the
folder name. Onset and offset are the first and last frames unless a sheet with columns
``subject, material, emotion, onset, offset`` is given with ``--dataset-opt sheet=PATH``. SMIC has
no apex annotation, so the apex policy always applies (default ``apex=middle``, counted).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .common import APEX_POLICY_TEXT, CodedDataset, LabelSet
from .sheets import clean_text, is_dir, label_key, parse_frame, read_table

KNOWN_SHEETS: dict[str, str] = {}
EMOTIONS = ("negative", "positive", "surprise")
EMOTION_ALIASES = {e: e for e in EMOTIONS} | {"neg": "negative", "pos": "positive", "sur": "surprise",
                                               "surprised": "surprise"}
LABEL_SETS = {"all": LabelSet("negative, positive, surprise (the micro/ folder names)"),
              "megc3": LabelSet("negative, positive, surprise (identical to 'all'; named for MEGC composites)",
                                {e: e for e in EMOTIONS})}
SHEET_COLUMNS = {"subject": ["subject"], "material": ["material", "clip", "filename"],
                 "emotion": ["emotion"], "onset": ["onset", "onset frame"], "offset": ["offset", "offset frame"]}
OUTPUT = ["sample_id", "dataset", "subject_id", "label", "label_raw", "emotion", "clip", "onset", "apex",
          "offset", "n_frames", "apex_source", "frames", "sheet_row"]


def subject_name(value) -> str | None:
    """``s1``, ``S01``, ``1`` -> ``s1``."""
    m = re.fullmatch(r"s?0*(\d{1,3})", clean_text(value), flags=re.IGNORECASE)
    return f"s{int(m.group(1))}" if m else None


class SMIC(CodedDataset):
    """SMIC-HS: 164 spontaneous micro-expressions of 16 subjects at 100 fps, three classes."""

    name = "smic"
    version = "SMIC-HS"
    citation = ("Li X, Pfister T, Huang X, Zhao G, Pietikainen M. A Spontaneous Micro-expression Database: "
                "Inducement, Collection and Baseline. IEEE FG 2013.")
    license_note = "Licensed by the University of Oulu for research use; obtain it from the authors."
    LABEL_SETS = LABEL_SETS
    EMOTION_ALIASES = EMOTION_ALIASES
    fps = 100.0
    n_subjects = 16
    default_apex = "middle"
    apex_policy = APEX_POLICY_TEXT + " SMIC has no apex annotation; the default is apex=middle."
    frames_hint = "Expected HS/<subject>/micro/<emotion>/<clip>/ with numbered frames (image000123.bmp)."

    def _hs_root(self) -> Path:
        if self.frames_dir:
            path = Path(self.frames_dir)
            path = path if path.is_absolute() else self.root / path
        else:
            candidates = [self.root / "HS", self.root / "SMIC_all_raw" / "HS", self.root / "SMIC_all_cropped" / "HS",
                          self.root / "SMIC" / "HS", self.root]
            if self.variant == "cropped":
                candidates = [self.root / "SMIC_all_cropped" / "HS", self.root / "cropped" / "HS"] + candidates
            path = next((c for c in candidates if c.is_dir() and any(
                (s / "micro").is_dir() for s in c.iterdir() if s.is_dir())), candidates[0])
        if not is_dir(path):
            raise DataError("SMIC-HS folder not found", file=path,
                            hint="Pass --root holding HS/<subject>/micro/..., or --dataset-opt frames_dir=PATH.")
        return path

    def _load(self, task: str) -> pd.DataFrame:
        hs = self._hs_root()
        records, clips = [], {}
        for subject_dir in sorted(p for p in hs.iterdir() if p.is_dir()):
            subject = subject_name(subject_dir.name)
            micro = subject_dir / "micro"
            if not micro.is_dir():
                continue
            if subject is None:
                self.warn(f"{self.name}: folder {subject_dir} holds micro/ but its name is not a subject such as s1; "
                          "ignored")
                self.count("folders_ignored")
                continue
            for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
                emotion = EMOTION_ALIASES.get(label_key(emotion_dir.name))
                if emotion is None:
                    self.warn(f"{self.name}: folder {emotion_dir} is not negative/positive/surprise; ignored")
                    self.count("folders_ignored")
                    continue
                for clip_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                    sid = f"{self.name}/{subject}/{clip_dir.name}"
                    if sid in clips:
                        self.problem("frames", sid, f"clip {clip_dir.name} of {subject} appears under two emotions",
                                     file=clip_dir)
                        continue
                    relative = clip_dir.relative_to(hs).as_posix()
                    if self.checked_path(hs, relative, sid, "clip folder", (self.root, hs), file=clip_dir) is None:
                        continue
                    rec = {"sample_id": sid, "dataset": self.name, "subject_id": f"{self.name}/{subject}",
                           "clip": clip_dir.name, "emotion": emotion, "onset": None, "apex": None,
                           "offset": None, "frames": clip_dir, "_where": {"file": clip_dir}}
                    clips[sid] = rec
                    records.append(rec)
        self.raise_if_fatal()
        if not records:
            raise DataError("no SMIC-HS clips found", file=hs,
                            hint="Expected HS/<subject>/micro/<negative|positive|surprise>/<clip>/ folders.")
        if self.sheet:
            self._apply_sheet(clips)
        else:
            self.count("onset_offset_from_frames", len(records))
            self.warn(f"{self.name}: onset and offset are the first and last frame of each clip (no sheet given; "
                      "pass --dataset-opt sheet=PATH for annotated onsets)")
        return self.finish(records, OUTPUT)

    def _apply_sheet(self, clips: dict) -> None:
        path = Path(self.sheet)
        path = path if path.is_absolute() else self.root / path
        self.pin(path, KNOWN_SHEETS)
        table = read_table(path, SHEET_COLUMNS, ("subject", "material", "onset", "offset"))
        by_clip = {}
        for sid, rec in clips.items():
            by_clip[(rec["subject_id"], rec["clip"].casefold())] = rec
        matched = set()
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            subject = subject_name(row["subject"])
            material = clean_text(row["material"])
            where = table.where(i)
            rec = None
            if subject is not None:
                sub_id = f"{self.name}/{subject}"
                for key in (material, f"{subject}_{material}"):
                    rec = by_clip.get((sub_id, key.casefold()))
                    if rec is not None:
                        break
            if rec is None:
                self.problem("sheet", None, f"sheet row for subject {clean_text(row['subject'])!r}, material "
                             f"{material!r} matches no clip folder", hint="Check the sheet against HS/.",
                             **table.where(i, "material"))
                continue
            if rec["sample_id"] in matched:
                self.problem("sheet", rec["sample_id"], f"{rec['sample_id']} has a second sheet row "
                             f"(first: row {rec['sheet_row']})", hint="Remove the duplicate row.", **where)
                continue
            onset, offset = parse_frame(row["onset"]), parse_frame(row["offset"])
            if onset is None or offset is None:
                self.problem("sheet", rec["sample_id"], "onset/offset must be frame numbers",
                             **table.where(i, "onset" if onset is None else "offset"))
                continue
            rec.update(onset=onset, offset=offset, sheet_row=where["row"], _where=where)
            matched.add(rec["sample_id"])
            if "emotion" in table.data.columns:
                sheet_emotion = EMOTION_ALIASES.get(label_key(row["emotion"]))
                if sheet_emotion is not None and sheet_emotion != rec["emotion"]:
                    self.warn(f"{self.name}: {rec['sample_id']} is under {rec['emotion']}/ but the sheet says "
                              f"{sheet_emotion} (row {where['row']}); the folder is used")
                    self.count("sheet_emotion_mismatch")
        unmatched = len(clips) - len(matched)
        if unmatched:
            self.count("onset_offset_from_frames", unmatched)
            self.warn(f"{self.name}: {unmatched} clip(s) have no sheet row; their onset and offset are the first "
                      "and last frames")
