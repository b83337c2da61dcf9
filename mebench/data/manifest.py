"""``manifest``: a user's own data described by a CSV.

Required columns ``sample_id, subject, label, path``; optional ``onset, apex, offset, sex, dataset``
and anything else (kept as extra columns). ``path`` is resolved relative to the CSV and must stay
inside ``--root``. It is one of:

* a frame folder (frames numbered by the last integer in the file name);
* a video file (frames numbered from 0);
* a single image: a pre-extracted apex frame, or a precomputed optical-flow image (such as the
  28x28 u/v/strain images of STSTNet-style pipelines). Such a sample has no onset or offset
  (``frames_kind = image``); extractors that need a sequence refuse it, those that work on one
  image accept it.

``--dataset-opt csv=NAME.csv`` chooses among several manifests in one root.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import ConfigError, DataError
from ..io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, video_frame_count
from .common import APEX_POLICIES, APEX_POLICY_TEXT, FrameDataset, check_choice, check_flag, check_text
from .sheets import clean_header, clean_text, is_file, parse_frame, read_raw_rows, read_table, safe_path, sex_label

RESERVED = {"sample_id", "subject", "label", "path", "onset", "apex", "offset", "sex", "dataset",
            "subject_id", "frames", "n_frames", "frames_kind", "apex_source", "label_raw"}


class Manifest(FrameDataset):
    """Your own data: a CSV of sample_id, subject, label, path (video, frame folder or single image)."""

    name = "manifest"
    version = "user manifest CSV"
    citation = "Your dataset: cite its source."
    license_note = "Your data; its licence is yours to check."
    tasks = ("label", "emotion", "deception")
    label_sets = {"label": "the CSV's label column, as written"}
    apex_policy = APEX_POLICY_TEXT
    frames_hint = "The path column is resolved relative to the CSV's folder; check the folder's frame files."

    def __init__(self, root=None, csv: str | None = None, dataset_name: str = "manifest",
                 apex: str = "annotated", bad_frames: str = "error", count_frames: bool = True):
        # FrameDataset's label/variant options do not apply to a manifest.
        super(FrameDataset, self).__init__(root)
        check_choice(self.name, "apex", apex, APEX_POLICIES)
        check_choice(self.name, "bad_frames", bad_frames, ("error", "skip"))
        if not isinstance(dataset_name, str) or not clean_text(dataset_name) or "/" in dataset_name:
            raise ConfigError(f"dataset {self.name!r}: --dataset-opt dataset_name={dataset_name!r} must be a "
                              "non-empty name without '/'.")
        self.csv, self.dataset_name = check_text(self.name, "csv", csv), dataset_name
        self.apex, self.bad_frames = apex, bad_frames
        self.labels, self.variant = "label", "raw"
        self.count_frames = check_flag(self.name, "count_frames", count_frames)

    def _csv_path(self) -> Path:
        if self.csv:
            path = safe_path(self.root, self.csv, self.root, what="csv")
            if not is_file(path):
                raise DataError("manifest CSV not found", file=path, hint="--dataset-opt csv= names a file in --root.")
            return path
        if (self.root / "manifest.csv").is_file():
            return self.root / "manifest.csv"
        found = sorted(self.root.glob("*.csv"))
        if len(found) == 1:
            return found[0]
        if not found:
            raise DataError("no manifest CSV in the root", file=self.root,
                            hint="Write manifest.csv with columns sample_id, subject, label, path.")
        raise DataError(f"several CSV files in the root ({', '.join(p.name for p in found[:6])})", file=self.root,
                        hint="Choose one with --dataset-opt csv=NAME.csv.")

    def _load(self, task: str) -> pd.DataFrame:
        path = self._csv_path()
        self.pin(path)
        cols = {c: [c] for c in ("sample_id", "subject", "label", "path", "onset", "apex", "offset", "sex", "dataset")}
        table = read_table(path, cols, ("sample_id", "subject", "label", "path"), search_rows=1)
        extra = self._extra_columns(path, table)
        records, seen = [], {}
        for i in range(len(table.data)):
            row = table.data.iloc[i]
            where = table.where(i)
            sid = clean_text(row["sample_id"])
            subject, label = clean_text(row["subject"]), clean_text(row["label"])
            empty = next((c for c, v in (("sample_id", sid), ("subject", subject), ("label", label)) if not v), None)
            if empty:
                self.problem("sheet", sid or None, f"empty {empty}", **table.where(i, empty))
                continue
            if sid in seen:
                self.problem("sheet", sid, f"sample_id {sid!r} appears twice (rows {seen[sid]} and {where['row']})",
                             **where)
                continue
            seen[sid] = where["row"]
            dataset = clean_text(row["dataset"]) if "dataset" in table.data.columns else ""
            dataset = dataset or self.dataset_name
            rec = {"sample_id": sid, "dataset": dataset, "subject_id": f"{dataset}/{subject}", "label": label,
                   "label_raw": label, "_where": where, "sheet_row": where["row"]}
            if "sex" in table.data.columns:
                rec["sex"] = sex_label(row["sex"])
            for c in ("onset", "apex", "offset"):
                rec[c] = None
                if c in table.data.columns and clean_text(row[c]):
                    rec[c] = parse_frame(row[c])
                    if rec[c] is None:
                        if c == "apex":
                            rec["_apex_raw"] = clean_text(row[c])
                        else:
                            self.problem("sheet", sid, f"{c} {clean_text(row[c])!r} is not a frame number",
                                         **table.where(i, c))
            for name, j in extra.items():
                rec[name] = table.data.at[i, name]
            try:
                target = safe_path(path.parent, row["path"], self.root, what="path", **table.where(i, "path"))
            except DataError as exc:
                self.problems.append({"kind": "frames", "sample_id": sid, "message": str(exc), "fatal": True})
                continue
            if self._locate(rec, target, table, i):
                records.append(rec)
            elif self.bad_frames == "skip" and self.problems[-1]["kind"] == "frames":
                self.skip(sid, self.problems.pop()["message"])
                self.count("skipped_bad_frames")
        kept = []
        for rec in records:
            before = len(self.fatal_problems())
            if rec.get("frames_kind") != "image":
                self._check_interval(rec)
            if len(self.fatal_problems()) > before:
                if self.bad_frames == "skip":
                    self.skip_bad_frames(rec)
                continue
            if rec.get("frames_kind") == "image":
                rec["apex_source"] = None
            else:
                self.resolve_apex(rec)
            kept.append(rec)
        self.close_frame_checks()
        self.warn_apex_outside(kept)
        images = sum(1 for r in kept if r.get("frames_kind") == "image")
        if images:
            self.counts["single_image_samples"] = images
        columns = ["sample_id", "dataset", "subject_id", "label", "label_raw", "sex", "frames", "frames_kind",
                   "onset", "apex", "offset", "n_frames", "apex_source", "sheet_row"] + list(extra)
        return self.to_frame(kept, columns)

    def _extra_columns(self, path: Path, table) -> dict[str, int]:
        raw, _ = read_raw_rows(path)
        header = [clean_header(v) for v in raw.iloc[table.header_row - 1].tolist()]
        matched = set(table.headers.values())  # e.g. "Sample_ID", matched to sample_id case-insensitively
        extra = {}
        for j, name in enumerate(header):
            if name and name not in RESERVED and name not in matched and name not in extra:
                table.data[name] = [raw.iat[r - 1, j] for r in table.rows]
                extra[name] = j
            elif name in ("subject_id", "frames", "n_frames", "frames_kind", "apex_source", "label_raw"):
                self.warn(f"{self.name}: column {name!r} of {path.name} is computed by mebench; the CSV's is ignored")
        return extra

    def _locate(self, rec: dict, target: Path, table, i: int) -> bool:
        where = table.where(i, "path")
        sid = rec["sample_id"]
        if target.is_dir():
            rec.update(frames=target, frames_kind="frames")
            return True
        if not target.is_file():
            self.problem("frames", sid, f"path {clean_text(table.data.at[i, 'path'])!r} not found (resolved to {target})",
                         hint="Paths are relative to the CSV's folder.", **where)
            return False
        suffix = target.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            rec.update(frames=target, frames_kind="image", n_frames=1)
            given = [c for c in ("onset", "apex", "offset") if rec.get(c) is not None]
            if given:
                self.problem("sheet", sid, f"a single-image sample has no {'/'.join(given)}",
                             hint="Leave onset, apex and offset empty for an image (an apex frame or a flow image).",
                             **table.where(i, given[0]))
                return False
            return True
        if suffix in VIDEO_EXTENSIONS:
            rec.update(frames=target, frames_kind="video")
            if self.count_frames:
                rec["n_frames"] = video_frame_count(target)
            return True
        self.problem("frames", sid, f"unsupported file type {suffix!r}",
                     hint="path must be a video, a folder of frames or one image.", **where)
        return False

    def _check_interval(self, rec: dict) -> None:
        if rec["frames_kind"] == "frames":
            self.check_frames(rec)
            return
        n = rec.get("n_frames")
        if rec.get("onset") is None:
            rec["onset"] = 0
            self.count("onset_from_first_frame")
        if rec.get("offset") is None and n:
            rec["offset"] = n - 1
            self.count("offset_from_last_frame")
        onset, offset = rec["onset"], rec.get("offset")
        if offset is not None and (onset > offset or onset < 0 or (n and offset > n - 1)):
            self.problem("frames", rec["sample_id"], f"onset..offset {onset}..{offset} lies outside the video's "
                         f"frames (0..{(n or 0) - 1})", **rec["_where"])
