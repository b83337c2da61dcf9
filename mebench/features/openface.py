"""Import OpenFace 2.x per-frame action-unit CSVs and aggregate them per clip.

OpenFace's ``FeatureExtraction`` writes one CSV per clip whose header starts
``frame, face_id, timestamp, confidence, success, AU01_r, ..., AU45_r, AU01_c, ..., AU45_c``
(most names carry a leading space; both spellings are read). ``AUxx_r`` are intensities (0-5),
``AUxx_c`` presences (0/1).

Where the CSV is found ("beside the clip"), first match wins:

1. a column ``openface_csv`` in the samples table (a path per sample);
2. ``<csv_dir>/<clip name>.csv`` when the ``csv_dir`` option is set (OpenFace's ``-out_dir``);
3. ``<frames>.csv``: the frame folder's path plus ``.csv`` (``sub01/EP02_01`` -> ``sub01/EP02_01.csv``),
   or a video's path with its suffix replaced (``trial_lie_001.mp4`` -> ``trial_lie_001.csv``);
4. ``<frames>/<clip name>.csv`` inside a frame folder (``sub01/EP02_01/EP02_01.csv``).

``<clip name>`` is the frame folder's name or the video's stem. OpenFace numbers frames 1..N in
its processing order (sorted image files, or video order); with ``frame_numbers="position"`` (the
default) CSV frame k is the k-th frame of the clip, so the onset..offset range of the samples
table is translated through the clip's frame list. ``frame_numbers="absolute"`` takes the CSV's
numbers as the dataset's own frame numbers.

Rows with ``success == 0`` or ``confidence < min_confidence`` are dropped and counted
(``openface_frames_dropped``) in ``counts_``; so are rows of other faces (``face_id``).
"""
from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import ConfigError, DataError
from ._util import field, frame_field, keep_params, merge_counts, sample_name
from .base import FeatureExtractor

# OpenFace 2.x: 17 intensity AUs and 18 presence AUs (AU28 has presence only).
INTENSITY_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
PRESENCE_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)
STATS = ("mean", "max", "std", "min", "median", "delta")
def csv_candidates(row, csv_dir=None) -> list[Path]:
    """The places searched for a sample's OpenFace CSV, in order."""
    out = []
    explicit = field(row, "openface_csv")
    if explicit:
        return [Path(str(explicit))]
    frames = field(row, "frames")
    if not frames or str(frames).startswith("synthetic:"):
        return out
    path = Path(str(frames))
    is_file = path.suffix != "" and not path.is_dir()
    name = path.stem if is_file else path.name
    if csv_dir:
        out.append(Path(csv_dir) / f"{name}.csv")
    out.append(path.with_suffix(".csv") if is_file else path.parent / f"{path.name}.csv")
    if not is_file:
        out.append(path / f"{name}.csv")
    return out


def find_csv(row, csv_dir=None) -> Path:
    candidates = csv_candidates(row, csv_dir)
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates) or "(the sample has no frames path to look beside)"
    raise DataError(f"sample {sample_name(row)}: no OpenFace CSV found; looked for {tried}",
                    file=candidates[0] if candidates else None,
                    hint="Run OpenFace FeatureExtraction on the clip and save <clip>.csv beside its frames, "
                         "set csv_dir=..., or add an 'openface_csv' column.")


def read_openface_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of an OpenFace CSV by stripped name (floats); a malformed file is a DataError."""
    import pandas as pd

    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise DataError(f"cannot read OpenFace CSV ({type(exc).__name__}: {exc})", file=path,
                        hint="Re-run OpenFace FeatureExtraction for this clip.") from None
    table.columns = [str(c).strip() for c in table.columns]
    for col in ("frame", "confidence", "success"):
        if col not in table.columns:
            raise DataError(f"not an OpenFace 2.x CSV: column {col!r} is missing", file=path, column=col,
                            hint="Expected a header like 'frame, face_id, timestamp, confidence, success, AU01_r, ...'.")
    out = {}
    for col in table.columns:
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
        out[col] = values
    bad = ~np.isfinite(out["frame"])
    if bad.any():
        raise DataError(f"OpenFace CSV has a non-numeric frame number in data row {int(np.flatnonzero(bad)[0]) + 1}",
                        file=path, column="frame")
    return out


class OpenFaceAUs(FeatureExtractor):
    """Per-clip aggregates of OpenFace 2.x per-frame AU intensities and presences.

    Parameters:
      ``intensity_aus``   AU numbers whose ``AUxx_r`` columns are used (default: OpenFace's 17);
      ``presence_aus``    AU numbers whose ``AUxx_c`` columns are used (default: OpenFace's 18;
                          ``()`` for none);
      ``stats``           aggregates of each intensity over the clip's frames, from ``mean``,
                          ``max``, ``std``, ``min``, ``median`` and ``delta`` (apex minus onset:
                          the kept frames nearest to each); presences are always averaged
                          (the fraction of frames where the AU is present);
      ``min_confidence``  rows below this tracking confidence (or with ``success == 0``) are dropped;
      ``face_id``         which face to keep in multi-face CSVs;
      ``segment``         ``"onset-offset"`` (the annotated range, when known) or ``"all"``;
      ``frame_numbers``   ``"position"`` (CSV frame k = the clip's k-th frame) or ``"absolute"``;
      ``csv_dir``         a folder of ``<clip name>.csv`` files searched before the clip's own folder.

    Output: ``len(intensity_aus) * len(stats) + len(presence_aus)`` values (69 by default),
    intensity statistics AU-major.
    """

    stateless = True
    version = "1"
    requires = ()
    libraries = ("numpy", "pandas")
    _parameter_constraints = {
        "intensity_aus": [tuple, list], "presence_aus": [tuple, list], "stats": [str, tuple, list],
        "min_confidence": [Interval(Real, 0, 1, closed="both")],
        "face_id": [Interval(Integral, 0, None, closed="left")], "segment": [StrOptions({"onset-offset", "all"})],
        "frame_numbers": [StrOptions({"position", "absolute"})], "csv_dir": [None, str],
    }

    def __init__(self, intensity_aus=INTENSITY_AUS, presence_aus=PRESENCE_AUS, stats=("mean", "max", "std"),
                 min_confidence: float = 0.8, face_id: int = 0, segment: str = "onset-offset",
                 frame_numbers: str = "position", csv_dir: str | None = None):
        keep_params(self, locals())

    def check_values(self):
        self._check()

    def _check(self):
        stats = (self.stats,) if isinstance(self.stats, str) else tuple(self.stats)
        unknown = [s for s in stats if s not in STATS]
        if unknown or not stats:
            raise ConfigError(f"openface: stats must be chosen from {', '.join(STATS)}; got {self.stats!r}")
        if self.segment not in ("onset-offset", "all"):
            raise ConfigError(f"openface: segment must be 'onset-offset' or 'all', not {self.segment!r}")
        if self.frame_numbers not in ("position", "absolute"):
            raise ConfigError(f"openface: frame_numbers must be 'position' or 'absolute', not {self.frame_numbers!r}")
        if not 0.0 <= float(self.min_confidence) <= 1.0:
            raise ConfigError(f"openface: min_confidence must lie in [0, 1], not {self.min_confidence!r}")
        return stats

    def feature_names(self) -> list[str]:
        stats = self._check()
        names = [f"AU{int(a):02d}_r_{s}" for a in self.intensity_aus for s in stats]
        return names + [f"AU{int(a):02d}_c_mean" for a in self.presence_aus]

    def transform(self, X):
        self.check_columns(X)
        self._check()
        self.counts_ = {}
        rows = [self._one(row) for row in X.itertuples(index=False)]
        if not rows:
            return np.zeros((0, len(self.feature_names())))
        return np.vstack(rows)

    def extract_one(self, row) -> np.ndarray:
        if not hasattr(self, "counts_"):
            self.counts_ = {}
        return self._one(row)

    # ------------------------------------------------------------------------------------------
    def _positions(self, row):
        """(onset, apex, offset) in the CSV's frame numbering, any of them None when unknown."""
        marks = [frame_field(row, c) for c in ("onset", "apex", "offset")]
        if self.frame_numbers == "absolute" or all(m is None for m in marks):
            return marks
        from ..io import open_clip

        try:
            indices = open_clip(field(row, "frames")).indices
        except DataError:
            return marks  # no frames on disk: OpenFace's numbers are the only numbering there is
        pos = {i: k + 1 for k, i in enumerate(indices)}

        def to_pos(m, side):
            if m is None:
                return None
            if m in pos:
                return pos[m]
            later = [k for i, k in pos.items() if (i >= m if side == "start" else i <= m)]
            return (min(later) if side == "start" else max(later)) if later else None

        return [to_pos(marks[0], "start"), to_pos(marks[1], "start"), to_pos(marks[2], "end")]

    def _one(self, row) -> np.ndarray:
        stats = self._check()
        path = find_csv(row, self.csv_dir)
        cols = read_openface_csv(path)
        n = len(cols["frame"])
        counts = {"openface_clips": 1, "openface_frames": n}
        keep = np.ones(n, bool)
        if "face_id" in cols:
            other = cols["face_id"] != float(self.face_id)
            counts["openface_other_faces"] = int(other.sum())
            keep &= ~other
        low = (cols["success"] != 1) | ~(cols["confidence"] >= float(self.min_confidence))
        counts["openface_frames_dropped"] = int((low & keep).sum())
        keep &= ~low
        onset, apex, offset = self._positions(row)
        frame = cols["frame"]
        if self.segment == "onset-offset":
            if onset is not None:
                keep &= frame >= onset
            if offset is not None:
                keep &= frame <= offset
        merge_counts(self.counts_, counts)
        if not keep.any():
            raise DataError(f"sample {sample_name(row)}: no OpenFace frame in range passes confidence >= "
                            f"{float(self.min_confidence):g} (of {n} rows, {counts['openface_frames_dropped']} "
                            "low-confidence)", file=path,
                            hint="Lower min_confidence, check the face tracking, or --on-error skip.")
        order = np.argsort(frame[keep], kind="stable")
        kept_frames = frame[keep][order]
        out = []
        for au in self.intensity_aus:
            values = self._column(cols, path, int(au), "r")[keep][order]
            for s in stats:
                out.append(_stat(s, values, kept_frames, onset, apex))
        for au in self.presence_aus:
            values = self._column(cols, path, int(au), "c")[keep]
            out.append(float(np.nanmean(values)) if np.isfinite(values).any() else 0.0)
        result = np.asarray(out, dtype=np.float64)
        return np.nan_to_num(result, nan=0.0)

    @staticmethod
    def _column(cols, path, au: int, kind: str) -> np.ndarray:
        name = f"AU{au:02d}_{kind}"
        if name not in cols:
            raise DataError(f"OpenFace CSV has no column {name}", file=path, column=name,
                            hint="Choose intensity_aus/presence_aus that the CSV provides.")
        return cols[name]

    @classmethod
    def example_samples(cls, seed: int = 0):
        """Four tiny clips with OpenFace-format CSVs written beside (non-existent) frame folders."""
        import tempfile

        import pandas as pd

        rng = np.random.default_rng([seed, 2025])
        root = Path(tempfile.mkdtemp(prefix="mebench-openface-"))
        rows = []
        for k in range(4):
            clip = root / f"sub{k // 2 + 1:02d}" / f"EP0{k + 1}_01"
            clip.parent.mkdir(parents=True, exist_ok=True)
            write_example_csv(clip.parent / f"{clip.name}.csv", n_frames=12, rng=rng, low_confidence=(1, 5))
            rows.append({"sample_id": f"of/{clip.parent.name}/{clip.name}", "dataset": "of",
                         "subject_id": f"of/{clip.parent.name}", "label": "ab"[k % 2], "frames": str(clip)})
        return pd.DataFrame(rows)


def _stat(name, values, frames, onset, apex) -> float:
    finite = np.isfinite(values)
    if not finite.any():
        return 0.0
    v = values[finite]
    if name == "mean":
        return float(v.mean())
    if name == "max":
        return float(v.max())
    if name == "min":
        return float(v.min())
    if name == "median":
        return float(np.median(v))
    if name == "std":
        return float(v.std())
    # delta: apex minus onset, at the kept frames nearest to each (first/peak frame when unknown)
    f = frames[finite]
    i0 = 0 if onset is None else int(np.argmin(np.abs(f - onset)))
    i1 = int(np.argmax(v)) if apex is None else int(np.argmin(np.abs(f - apex)))
    return float(v[i1] - v[i0])


def write_example_csv(path: Path, n_frames: int, rng, low_confidence=(), aus_r=INTENSITY_AUS, aus_c=PRESENCE_AUS,
                      face_ids=None) -> Path:
    """Write an OpenFace 2.x-format CSV (leading spaces in the header, as OpenFace does)."""
    header = ["frame", " face_id", " timestamp", " confidence", " success"]
    header += [f" AU{a:02d}_r" for a in aus_r] + [f" AU{a:02d}_c" for a in aus_c]
    lines = [",".join(header)]
    for t in range(1, n_frames + 1):
        low = t in low_confidence
        conf = 0.3 if low else 0.98
        fid = 0 if face_ids is None else face_ids[t - 1]
        r = np.round(rng.uniform(0, 5, len(aus_r)), 2)
        c = (rng.random(len(aus_c)) < 0.3).astype(int)
        vals = [str(t), str(fid), f"{(t - 1) / 30:.3f}", f"{conf:.2f}", "0" if low and t % 2 else "1"]
        vals += [f"{x:.2f}" for x in r] + [str(x) for x in c]
        lines.append(", ".join(vals))
    path.write_text("\n".join(lines) + "\n")
    return path
