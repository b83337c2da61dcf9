"""The embedded ``synthetic`` dataset: procedural micro-expression clips, deterministic by seed.

Every clip is described by a small parameter dict that is stored, as JSON, in the sample's
``frames`` locator (``synthetic:{...}``). A frame is a pure function of (params, frame number),
so frames are rendered lazily and only when an extractor asks for them.

Rendering: a per-subject face (geometry, skin tone, texture) is drawn, its eyes closed during
blinks, then warped by smooth local AU-like displacement fields whose intensity rises from onset
to apex and decays to offset. Head jitter, illumination drift and sensor noise are added last.
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pandas as pd

from ..io import Clip
from .base import Dataset
from .synthetic_timing import au_intensities

# Action-unit patterns of the emotions (FACS-inspired) and the deception "leakage" pattern.
EMOTION_AUS = {"happiness": (12,),
               "surprise": (1, 2),
               "disgust": (4, 9),
               "repression": (15,),
               "others": (4,)}
LEAKAGE_EMOTION = "sadness"
LEAKAGE_AUS = (4, 15)
ALL_EMOTION_AUS = {**EMOTION_AUS, LEAKAGE_EMOTION: LEAKAGE_AUS}
PEAK_DISPLACEMENT_PX = 1.6  # at 64x64; scaled with the frame size


@lru_cache(maxsize=256)
def _subject_face(subject_seed: int, size: int) -> dict:
    """Per-subject geometry, skin tone and texture, in pixel units for a size x size frame."""
    rng = np.random.default_rng([subject_seed, 7919])
    s = size / 64.0
    cx = size / 2 + rng.uniform(-2, 2) * s
    cy = size / 2 + rng.uniform(-1, 2) * s
    geo = {"cx": cx, "cy": cy,
           "face_w": rng.uniform(21, 25) * s, "face_h": rng.uniform(27, 31) * s,
           "eye_dx": rng.uniform(8.5, 11) * s, "eye_y": cy - rng.uniform(5, 8) * s,
           "eye_w": rng.uniform(3.2, 4.4) * s, "eye_h": rng.uniform(1.6, 2.3) * s,
           "brow_gap": rng.uniform(4.0, 5.5) * s, "brow_len": rng.uniform(7, 9.5) * s,
           "brow_thick": max(1, int(round(rng.uniform(1.2, 2.0) * s))),
           "nose_y": cy + rng.uniform(3, 6) * s, "nose_w": rng.uniform(2.5, 4) * s,
           "mouth_y": cy + rng.uniform(12, 15) * s, "mouth_w": rng.uniform(6.5, 9) * s,
           "mouth_curve": rng.uniform(-1.0, 1.0) * s}
    tone = rng.uniform(0.25, 1.0)  # dark to light skin
    skin = np.array([90 + 140 * tone, 60 + 120 * tone, 45 + 105 * tone]) * rng.uniform(0.92, 1.05, 3)
    background = rng.uniform(30, 200, 3)
    texture = rng.normal(0, 1, (size, size))
    import cv2

    texture = cv2.GaussianBlur(texture, (0, 0), sigmaX=max(0.8, 1.5 * s))
    texture = texture / (texture.std() + 1e-9) * rng.uniform(4, 9)
    return {"geo": geo, "skin": np.clip(skin, 0, 255), "background": background, "texture": texture}


def _render_neutral(face: dict, size: int, eye_open: float) -> np.ndarray:
    import cv2

    g = face["geo"]
    img = np.empty((size, size, 3), np.float32)
    img[:] = face["background"]
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (int(round(g["cx"])), int(round(g["cy"]))),
                (int(round(g["face_w"])), int(round(g["face_h"]))), 0, 0, 360, 255, -1, cv2.LINE_AA)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    skin = face["skin"][None, None, :] + face["texture"][:, :, None]
    img = img * (1 - alpha) + skin * alpha
    dark = tuple(float(v) * 0.35 for v in face["skin"])
    sh = 16  # fixed-point shift for sub-pixel drawing
    f = float(1 << 4)

    def pt(x, y):
        return (int(round(x * f)), int(round(y * f)))

    for side in (-1, 1):
        ex = g["cx"] + side * g["eye_dx"]
        cv2.ellipse(img, pt(ex, g["eye_y"]), pt(g["eye_w"], max(0.25, g["eye_h"] * eye_open)),
                    0, 0, 360, (245, 245, 245) if eye_open > 0.3 else dark, -1, cv2.LINE_AA, 4)
        if eye_open > 0.3:
            cv2.circle(img, pt(ex, g["eye_y"]), int(round(g["eye_h"] * 0.9 * eye_open * f)), (40, 30, 25), -1, cv2.LINE_AA, 4)
        by = g["eye_y"] - g["brow_gap"]
        cv2.line(img, pt(ex - side * g["brow_len"] * 0.1 - g["brow_len"] / 2 * 0.9, by + 0.8),
                 pt(ex + g["brow_len"] / 2, by - 0.4 * side * 0), dark, g["brow_thick"], cv2.LINE_AA, 4)
    cv2.line(img, pt(g["cx"], g["eye_y"] + 2), pt(g["cx"] + 0.5, g["nose_y"]), tuple(v * 0.7 for v in face["skin"]), 1, cv2.LINE_AA, 4)
    cv2.ellipse(img, pt(g["cx"], g["nose_y"]), pt(g["nose_w"], 1.2), 0, 0, 180, dark, 1, cv2.LINE_AA, 4)
    xs = np.linspace(-g["mouth_w"], g["mouth_w"], 15)
    ys = g["mouth_y"] - g["mouth_curve"] * (xs / g["mouth_w"]) ** 2
    pts = np.stack([(g["cx"] + xs) * f, ys * f], axis=1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (110, 40, 40), max(1, int(round(size / 40))), cv2.LINE_AA, 4)
    del sh
    return img


def _au_field(face: dict, size: int, intensities: dict) -> tuple[np.ndarray, np.ndarray]:
    """Displacement field (dx, dy) in pixels of the AU deformation at the given intensities."""
    g = face["geo"]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx = np.zeros((size, size), np.float32)
    dy = np.zeros((size, size), np.float32)
    amp = PEAK_DISPLACEMENT_PX * size / 64.0
    sigma = 3.2 * size / 64.0

    def bump(x0, y0, vx, vy, strength, sig=sigma):
        w = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sig * sig)) * strength * amp
        dx[:] += w * vx
        dy[:] += w * vy

    brow_y = g["eye_y"] - g["brow_gap"]
    for side in (-1, 1):
        ex = g["cx"] + side * g["eye_dx"]
        inner, outer = ex - side * g["brow_len"] * 0.3, ex + side * g["brow_len"] * 0.35
        mouth_corner = g["cx"] + side * g["mouth_w"]
        if intensities.get("AU1"):
            bump(inner, brow_y, 0, -1, intensities["AU1"])
        if intensities.get("AU2"):
            bump(outer, brow_y, 0, -1, intensities["AU2"])
        if intensities.get("AU4"):
            bump(inner, brow_y, -side * 0.6, 0.8, intensities["AU4"])
        if intensities.get("AU9"):
            bump(g["cx"] + side * g["nose_w"] * 0.6, g["nose_y"] - 2 * size / 64, 0, -1, intensities["AU9"])
        if intensities.get("AU12"):
            bump(mouth_corner, g["mouth_y"], side * 0.6, -0.8, intensities["AU12"])
        if intensities.get("AU15"):
            bump(mouth_corner, g["mouth_y"], 0, 1, intensities["AU15"])
    return dx, dy


def render_frame(params: dict, t: int) -> np.ndarray:
    """Frame number t (1-based) of a synthetic clip as uint8 RGB."""
    import cv2

    if params.get("face") == "photo":
        from .synthetic_photo import render_photo_frame

        return render_photo_frame(params, t)
    size = params["size"]
    face = _subject_face(params["subject_seed"], size)
    eye_open = 1.0
    for b in params.get("blinks", []):
        d = abs(t - b)
        if d < 2:
            eye_open = min(eye_open, (0.05, 0.5)[d])
    img = _render_neutral(face, size, eye_open)
    intensities = {k: v for k, v in au_intensities(params, t).items() if v > 0}
    rng = np.random.default_rng([params["clip_seed"], t])
    jx, jy = rng.normal(0, params.get("jitter", 0.0), 2)
    dx, dy = _au_field(face, size, intensities) if intensities else (0.0, 0.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    map_x = (xx - dx - jx).astype(np.float32)
    map_y = (yy - dy - jy).astype(np.float32)
    img = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gain = 1.0 + params.get("drift", 0.0) * (t - 1) / max(params["n_frames"] - 1, 1)
    img = img * gain + rng.normal(0, params.get("noise", 0.0), img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


class SyntheticClip(Clip):
    """A lazily rendered synthetic clip; frames are numbered 1..n_frames."""

    def __init__(self, locator: str):
        self.locator = locator
        self.params = json.loads(locator[len("synthetic:"):])

    @property
    def indices(self) -> list[int]:
        return list(range(1, self.params["n_frames"] + 1))

    def _read(self, index: int) -> np.ndarray:
        from ..errors import DataError

        if not 1 <= index <= self.params["n_frames"]:
            raise DataError(f"frame {index} outside synthetic clip of {self.params['n_frames']} frames")
        return render_frame(self.params, index)



def aus_string(aus) -> str:
    return "+".join(str(a) for a in sorted(aus))


def _checked_option(name: str, value, kind: str, low, high):
    """``value`` as an int (``kind="integer"``) or float in [low, high]; a ConfigError names the option otherwise.

    ``2.0`` is the integer 2, but ``2.5``, ``"abc"``, booleans, NaN and infinities are refused.
    """
    import math

    from ..errors import ConfigError

    shown = f"synthetic: --dataset-opt {name}={value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{shown} is not {'an integer' if kind == 'integer' else 'a number'} "
                          f"(got {type(value).__name__}); use a value from {low} to {high}.")
    if not math.isfinite(value):
        raise ConfigError(f"{shown} is not a finite number; use a value from {low} to {high}.")
    if kind == "integer":
        if value != int(value):
            raise ConfigError(f"{shown} is not a whole number; use an integer from {low} to {high}.")
        value = int(value)
    else:
        value = float(value)
    if not low <= value <= high:
        raise ConfigError(f"{shown} is out of range; use a value from {low} to {high}.")
    return value


class SyntheticDataset(Dataset):
    """Procedural micro-expression clips (no files needed), deterministic by seed.

    Tasks: ``deception`` (truthful/deceptive; deceptive clips show the AU4+AU15 leakage pattern
    with probability (1+effect)/2, truthful ones with probability (1-effect)/2, so ``effect=0`` is
    a null dataset) and ``emotion`` (the emotion defined by each clip's AU combination).
    """

    name = "synthetic"
    version = "1"
    citation = "mebench synthetic micro-expression generator"
    license_note = "Generated on the fly; no licence restrictions."
    tasks = ("deception", "emotion")
    task_targets = {"au": ("aus",)}
    label_sets = {
        "deception": "truthful / deceptive (leakage AU4+AU15 more often when deceptive)",
        "emotion": "happiness (AU12), surprise (AU1+2), disgust (AU4+9), repression (AU15), others (AU4), sadness (AU4+15)",
    }
    fps = 200.0
    needs_root = False

    # option -> (kind, lowest, highest): the checked types and ranges of the constructor's options
    OPTION_RANGES = {
        "subjects": ("integer", 1, 10_000), "clips_per_subject": ("integer", 1, 10_000),
        "frames": ("integer", 6, 100_000), "size": ("integer", 8, 2048), "seed": ("integer", 0, 2**63 - 1),
        "effect": ("number", 0.0, 1.0), "blink_rate": ("number", 0.0, 1.0), "intensity": ("number", 0.0, 100.0),
        "noise": ("number", 0.0, 255.0), "jitter": ("number", 0.0, 100.0), "drift": ("number", 0.0, 100.0),
    }
    MAX_CLIPS = 1_000_000

    def __init__(self, root=None, subjects: int = 12, clips_per_subject: int = 10, frames: int = 16,
                 size: int = 64, effect: float = 0.9, seed: int = 0, face: str = "procedural",
                 intensity: float = 1.0, noise: float = 2.0, jitter: float = 0.15, blink_rate: float = 0.3, drift: float = 0.08):
        super().__init__(root)
        from ..errors import ConfigError

        if not isinstance(face, str) or face not in ("procedural", "photo"):
            raise ConfigError(f"synthetic: --dataset-opt face={face!r} is not valid; choose procedural or photo.")
        given = {"subjects": subjects, "clips_per_subject": clips_per_subject, "frames": frames, "size": size,
                 "seed": seed, "effect": effect, "blink_rate": blink_rate, "intensity": intensity, "noise": noise,
                 "jitter": jitter, "drift": drift}
        values = {name: _checked_option(name, value, *self.OPTION_RANGES[name]) for name, value in given.items()}
        if values["subjects"] * values["clips_per_subject"] > self.MAX_CLIPS:
            raise ConfigError(f"synthetic: subjects x clips_per_subject = "
                              f"{values['subjects'] * values['clips_per_subject']} clips; at most {self.MAX_CLIPS}.")
        for name, value in values.items():
            setattr(self, name, value)
        self.face = face

    def _load(self, task: str) -> pd.DataFrame:
        rng = np.random.default_rng([self.seed, 1])
        rows = []
        n = self.frames
        non_leak = list(EMOTION_AUS)
        for s in range(self.subjects):
            subject_seed = int(rng.integers(2**31))
            sex = "F" if rng.random() < 0.5 else "M"
            # Balanced deception labels within each subject, shuffled.
            labels = np.array(["truthful", "deceptive"] * ((self.clips_per_subject + 1) // 2))[: self.clips_per_subject]
            rng.shuffle(labels)
            for c in range(self.clips_per_subject):
                deceptive = labels[c] == "deceptive"
                p_leak = (1 + self.effect) / 2 if deceptive else (1 - self.effect) / 2
                emotion = LEAKAGE_EMOTION if rng.random() < p_leak else non_leak[int(rng.integers(len(non_leak)))]
                aus = ALL_EMOTION_AUS[emotion]
                onset = int(rng.integers(2, max(3, n // 4) + 1))
                apex = onset + int(rng.integers(max(2, n // 5), max(3, n // 3) + 1))
                offset = min(n, apex + int(rng.integers(max(2, n // 5), max(3, n // 3) + 1)))
                apex = min(apex, offset - 1)
                peak = float(rng.uniform(0.7, 1.0)) * self.intensity
                blinks = [int(rng.integers(1, n + 1))] if rng.random() < self.blink_rate else []
                params = {"v": 1, "face": self.face, "subject_seed": subject_seed, "size": self.size,
                          "n_frames": n, "onset": onset, "apex": apex, "offset": offset,
                          "aus": {f"AU{a}": round(peak, 4) for a in aus}, "blinks": blinks,
                          "jitter": self.jitter, "clip_seed": int(rng.integers(2**31)),
                          "drift": round(float(rng.uniform(-1, 1)) * self.drift, 4), "noise": self.noise}
                subject = f"sub{s + 1:02d}"
                rows.append({"sample_id": f"synthetic/{subject}/EP{c + 1:02d}_01",
                             "dataset": "synthetic",
                             "subject_id": f"synthetic/{subject}",
                             "label": str(labels[c]) if task == "deception" else emotion,
                             "deception": str(labels[c]),
                             "emotion": emotion,
                             "aus": aus_string(aus),
                             "sex": sex,
                             "onset": onset, "apex": apex, "offset": offset, "n_frames": n,
                             "frames": "synthetic:" + json.dumps(params, sort_keys=True, separators=(",", ":"))})
        return pd.DataFrame(rows)


SHEET_CREATOR = "mebench data synth"  # the workbook's creator: how a loader knows mebench's own sheet
SYNTHETIC_SHEET_VERSION = "mebench synthetic sheet (written by `mebench data synth`; not a published release)"


def is_synthetic_sheet(path) -> bool:
    """Whether an .xlsx file was written by :func:`write_casme2_layout` (its creator property), read
    from the workbook's ``docProps/core.xml`` without opening the workbook."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            core = z.read("docProps/core.xml").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return f"<dc:creator>{SHEET_CREATOR}</dc:creator>" in core


def write_casme2_layout(samples: pd.DataFrame, out, variant: str = "raw", quality: int = 95, progress=None) -> dict:
    """Write clips as a CASME II-shaped tree and coding sheet; return what was written.

    The workbook's creator is :data:`SHEET_CREATOR`, so the ``casme2`` loader names the sheet as
    mebench's synthetic copy instead of warning about an unknown release.
    ``progress(done, total)`` counts clips.

    ``raw``: ``CASME2_RAW_selected/subNN/EPxx_yy/imgN.jpg``, the face on a wider background canvas.
    ``cropped``: ``Cropped/subNN/EPxx_yy/reg_imgN.jpg``, the face crop itself.
    The sheet ``CASME2-coding-synthetic.xlsx`` (sheet ``Sheet1``) has the CASME II columns.
    """
    from pathlib import Path

    import cv2
    from openpyxl import Workbook

    from ..io import open_clip

    out = Path(out)
    folder, prefix = {"raw": ("CASME2_RAW_selected", "img"), "cropped": ("Cropped", "reg_img")}[variant]
    n_frames = 0
    wb = Workbook()
    wb.properties.creator = SHEET_CREATOR
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units", "Estimated Emotion"])
    for row in samples.itertuples(index=False):
        subject = row.subject_id.split("/", 1)[1]
        clip_name = row.sample_id.rsplit("/", 1)[1]
        clip_dir = out / folder / subject / clip_name
        clip_dir.mkdir(parents=True, exist_ok=True)
        clip = open_clip(row.frames)
        for idx, frame in clip.iter_frames():
            if variant == "raw":
                h, w = frame.shape[:2]
                pad_x, pad_y = w // 4, h // 8
                frame = cv2.copyMakeBorder(frame, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            (clip_dir / f"{prefix}{idx}.jpg").write_bytes(buf.tobytes())
            n_frames += 1
        subject_number = int(subject[3:])
        aus = row.aus if "+" in row.aus else int(row.aus)
        ws.append([subject_number, clip_name, None, int(row.onset), int(row.apex), int(row.offset), None, aus, row.emotion])
        if progress:
            progress(ws.max_row - 1, len(samples))
    sheet = out / "CASME2-coding-synthetic.xlsx"
    wb.save(sheet)
    return {"sheet": str(sheet), "frames_root": str(out / folder), "n_clips": int(len(samples)), "n_frames": n_frames}
