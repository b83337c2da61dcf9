"""Miniature copies of the real datasets, written in their exact on-disk formats.

Nothing here is licensed data: the rows are invented. The *formats* follow the releases: sheet
names, header spellings (with their zero-width spaces, non-breaking spaces, trailing spaces and
blank columns), notes rows above headers, mixed int/str cells, ``/`` apexes, CRLF line endings,
UTF-8 BOMs, misspelled labels, folder layouts and frame file names. Frames are tiny JPEG/BMP files
and videos are tiny mp4 files written with ``cv2.VideoWriter`` ('mp4v').
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

ZWSP, NBSP = "\u200b", "\u00a0"


# -- media ------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _image_bytes(ext: str, shade: int = 128) -> bytes:
    import cv2

    img = np.full((8, 8, 3), shade, np.uint8)
    img[2:6, 2:6] = 255 - shade
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def write_frames(folder: Path, numbers, name, ext: str = ".jpg") -> None:
    """Tiny image files ``name(n)`` for each frame number ``n``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = _image_bytes(ext)
    for n in numbers:
        (folder / name(n)).write_bytes(data)


def write_video(path: Path, n_frames: int = 5, size: int = 16) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (size, size))
    assert writer.isOpened(), "OpenCV cannot write mp4v videos here"
    for i in range(n_frames):
        writer.write(np.full((size, size, 3), (40 * i) % 255, np.uint8))
    writer.release()
    return path


def _book(sheets: dict[str, list[list]]):
    from openpyxl import Workbook

    wb = Workbook()
    first = True
    for title, rows in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        ws.title = title
        first = False
        for row in rows:
            ws.append(row)
    return wb


def write_csv(path: Path, rows: list[list], crlf: bool = False, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\r\n" if crlf else "\n")
        writer.writerows(rows)
    return path


# -- CASME II ---------------------------------------------------------------------------------------
# subject (int, as in the sheet), filename, onset, apex, offset, AUs (int or str), emotion, objective
CASME2_ROWS = [
    (1, "EP02_01f", 46, 50, 55, 12, "happiness", 1),
    (1, "EP03_02", 131, 134, 139, "4+7+L10", "disgust", 7),
    (2, "EP01_11f", 11, 15, 20, "R2+15", "repression", 6),
    (2, "EP06_02f", 90, "/", 97, "1+2", "surprise", 2),
    (2, "EP13_02", 20, 23, 28, "4", "others", 7),
    (4, "EP12_01f", 30, 33, 38, 12, "happiness", 1),
    (4, "EP19_01", 5, 9, 13, 17, "sadness", 6),
    (5, "EP09_05f", 60, 64, 68, "4+9", "disgust", 7),
    (5, "EP18_03", 70, 73, 77, "1+2+L4", "fear", 3),
    (5, "EP02_07", 40, 43, 47, 12, "happiness", 1),
]
CASME2_HEADER_2019 = ["Subject", "Filename", None, "OnsetFrame ", "ApexFrame" + ZWSP, "OffsetFrame", None,
                      "Action" + NBSP + "Units", "Estimated Emotion", "Objective Classes"]


def write_casme2(root: Path, release: str = "2019", variant: str = "raw", rows=None, margin: int = 2,
                 sheet_name: str = "Sheet1", frames: bool = True) -> dict:
    """``CASME2-coding-<date>.xlsx`` (Sheet1) and ``CASME2_RAW_selected/subNN/<clip>/imgN.jpg``."""
    rows = CASME2_ROWS if rows is None else rows
    header = list(CASME2_HEADER_2019)
    if release == "2014":
        header = header[:-1]
    body = []
    for subject, clip, onset, apex, offset, aus, emotion, objective in rows:
        cells = [subject, clip, None, onset, apex, offset, None, aus, emotion]
        if release != "2014":
            cells.append(objective)
        body.append(cells)
    name = {"2014": "CASME2-coding-20140508.xlsx", "2019": "CASME2-coding-20190701.xlsx"}[release]
    sheet = root / name
    root.mkdir(parents=True, exist_ok=True)
    _book({sheet_name: [header] + body}).save(sheet)
    folder, prefix = {"raw": ("CASME2_RAW_selected", "img"), "cropped": ("Cropped", "reg_img")}[variant]
    if frames:
        for subject, clip, onset, apex, offset, *_ in rows:
            onset = onset if isinstance(onset, int) else offset - 10  # an unreadable cell, in a test
            write_frames(root / folder / f"sub{int(subject):02d}" / clip, range(onset - margin, offset + margin + 1),
                         lambda n: f"{prefix}{n}.jpg")
    return {"sheet": sheet, "frames": root / folder}


# -- SAMM -------------------------------------------------------------------------------------------
SAMM_ROWS = [
    # Subject (text or int), Filename, Inducement, Onset, Apex, Offset, AUs, Emotion, Objective
    ("006", "006_1_2", 1, 5562, 5566, 5570, "4+7", "Anger", 4),
    ("006", "006_1_3", 1, 1000, 1004, 1008, "A1/4+R14?", "Contempt", 1),
    ("007", "007_3_1", 3, 200, 205, 209, "12", "Happiness", 1),
    ("007", "007_5_2", 5, 300, -1, 310, "1+2", "Surprise", 2),
    (9, "009_2_1", 2, 400, 404, -1, "R12", "Other", 7),
    ("009", "009_3_4", 3, 500, 503, 507, "4", "Fear", 3),
    ("010", "010_1_1", 1, 600, 605, 609, 15, "Sadness", 6),
    ("010", "010_2_2", 2, 700, 702, 706, "9", "Disgust", 5),
]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
SAMM_NOTES = [
    ["SAMM Micro-Movement FACS Codes (MICRO_ONLY)"],
    ["Please cite: Davison et al., SAMM: A Spontaneous Micro-Facial Movement Dataset, IEEE TAC 2018"],
    [],
    ["Key:"],
    ["/", "or"],
    ["?", "unclear offset"],
    ["A", "asymmetric"],
    ["L", "left"],
    ["R", "right"],
    [],
    ["Frames are numbered as in the original recordings"],
    [None, None, "(notes continue)"],
    [],
]


def write_samm(root: Path, rows=None, margin: int = 2) -> dict:
    """``SAMM_Micro_FACS_Codes_v2.xlsx`` (13 notes rows, then the header, in MICRO_ONLY) and frames."""
    rows = SAMM_ROWS if rows is None else rows
    assert len(SAMM_NOTES) == 13
    body = []
    for subject, clip, induce, onset, apex, offset, aus, emotion, objective in rows:
        duration = (offset - onset + 1) if isinstance(offset, int) and offset > 0 else -1
        body.append([subject, clip, induce, onset, apex, offset, duration, "Micro - 1/2", aus, emotion, objective,
                     None if clip != "006_1_3" else "offset unclear"])
    sheet = root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    root.mkdir(parents=True, exist_ok=True)
    _book({"FACS_Codes": [["not this one"]], "MICRO_ONLY": SAMM_NOTES + [SAMM_HEADER] + body}).save(sheet)
    for subject, clip, induce, onset, apex, offset, *_ in rows:
        sub = f"{int(subject):03d}"
        last = offset if offset > 0 else onset + 8
        write_frames(root / "SAMM" / sub / clip, range(onset - margin, last + margin + 1), lambda n, s=sub: f"{s}_{n:05d}.jpg")
    return {"sheet": sheet, "header_row": 14}


# -- SMIC-HS ----------------------------------------------------------------------------------------
SMIC_CLIPS = [
    ("s1", "negative", "s1_ne_01", 41089, 41097),
    ("s1", "positive", "s1_po_01", 1200, 1206),
    ("s2", "surprise", "s2_sur_01", 300, 309),
    ("s2", "negative", "s2_ne_02", 500, 506),
    ("s3", "positive", "s3_po_02", 10, 17),
    ("s3", "surprise", "s3_sur_02", 800, 805),
]


def write_smic(root: Path, clips=None, sheet: bool = False) -> dict:
    """``HS/<subject>/micro/<emotion>/<clip>/image000123.bmp`` (and an optional onset/offset sheet)."""
    clips = SMIC_CLIPS if clips is None else clips
    for subject, emotion, clip, first, last in clips:
        write_frames(root / "HS" / subject / "micro" / emotion / clip, range(first, last + 1),
                     lambda n: f"image{n:06d}.bmp", ext=".bmp")
    (root / "HS" / "s1" / "non_micro").mkdir(parents=True, exist_ok=True)
    out = {"hs": root / "HS"}
    if sheet:
        rows = [["subject", "material", "emotion", "onset", "offset"]]
        for subject, emotion, clip, first, last in clips:
            rows.append([subject, clip.split("_", 1)[1], emotion, first + 1, last - 1])
        out["sheet"] = write_csv(root / "smic_onsets.csv", rows)
    return out


# -- CAS(ME)^3 part A -------------------------------------------------------------------------------
CASME3_ROWS = [
    ("spNO.1", "a", 10, 14, 18, "L1+L2", 2, "surprise"),
    ("spNO.1", "a", 30, 33, 36, 12, 1, "happy"),
    ("spNO.2", "b", 5, "/", 12, "4", 3, "disgust"),
    ("spNO.3", "c", 20, 24, 28, "R15", 6, "sad"),
    ("spNO.3", "c", 40, 43, 46, "4+7", 5, "anger"),
    ("spNO.4", "a", 8, 11, 15, "1+2", 2, "surprise"),
]


def write_casme3a(root: Path, rows=None, duplicate: bool = False) -> dict:
    """``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` and ``<Subject>/<Filename>/color/<n>.jpg``."""
    rows = list(CASME3_ROWS if rows is None else rows)
    if duplicate:
        rows.append(rows[0])
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
    sheet = root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
    root.mkdir(parents=True, exist_ok=True)
    _book({"Sheet1": [header] + [list(r) for r in rows]}).save(sheet)
    for subject, clip in sorted({(r[0], r[1]) for r in rows}):
        write_frames(root / "part_A" / subject / clip / "color", range(0, 50), lambda n: f"{n}.jpg")
    return {"sheet": sheet}


# -- Real-life Trial --------------------------------------------------------------------------------
def reallife_rows(n_subjects: int = 6, clips_per_subject: int = 4, seed: int = 0):
    """(clip id, subject, sex, label, 39 gesture values): labels balanced, gestures informative."""
    from mebench.data.mumin import RLT_GESTURES

    rng = np.random.default_rng(seed)
    out, lie, truth = [], 0, 0
    for s in range(n_subjects):
        sex = "F" if s % 2 else "M"
        for c in range(clips_per_subject):
            deceptive = (s + c) % 2 == 0
            if deceptive:
                lie += 1
                clip = f"trial_lie_{lie:03d}.mp4"
            else:
                truth += 1
                clip = f"trial_truth_{truth:03d}.mp4"
            p = np.full(len(RLT_GESTURES), 0.2)
            p[:8] = 0.8 if deceptive else 0.1
            gestures = [int(v) for v in rng.random(len(RLT_GESTURES)) < p]
            out.append((clip, s + 1, sex, "deceptive" if deceptive else "truthful", gestures))
    return out


def write_reallife(root: Path, identities: str | None = "columns", clips: bool = False, rows=None,
                   sex_column: str = "gender") -> dict:
    """``Annotation/All_Gestures_Deceptive and Truthful.csv`` (CRLF), optional identities and clips."""
    from mebench.data.mumin import RLT_GESTURES

    rows = reallife_rows() if rows is None else rows
    header = ["id"] + list(RLT_GESTURES) + ["class"]
    if identities == "columns":
        header += ["subject", sex_column]
    body = []
    for clip, subject, sex, label, gestures in rows:
        line = [clip] + gestures + [label]
        if identities == "columns":
            line += [subject, sex]
        body.append(line)
    csv_path = write_csv(root / "Annotation" / "All_Gestures_Deceptive and Truthful.csv", [header] + body, crlf=True)
    out = {"csv": csv_path}
    if identities == "file":
        out["identities"] = write_csv(root / "identities.csv", [["clip_id", "subject", "sex"]] +
                                      [[clip, f"speaker{subject}", sex] for clip, subject, sex, _, _ in rows])
    if clips:
        for clip, _, _, label, _ in rows:
            folder = "Deceptive" if label == "deceptive" else "Truthful"
            write_video(root / "Clips" / folder / clip, n_frames=4)
            transcript = root / "Transcription" / folder / clip.replace(".mp4", ".txt")
            transcript.parent.mkdir(parents=True, exist_ok=True)
            transcript.write_text("I was not there.\n")
    return out


# -- DOLOS ------------------------------------------------------------------------------------------
# (category, sub-group, gesture name as written in row 3): 41 MUMIN gestures from Smile to Tension, under
# the categories and sub-groups of the release. Names carry U+00A0 and U+200B as in the release
# ("Smile\u00a0\u200b", "Corners\u00a0down\u200b"); the Gaze category has no sub-group.
_DOLOS_GROUPS = [
    ("Visual/Facial", "General face", ["Smile", "Laugh", "Scowl", "Other"]),
    ("Visual/Facial", "Eyebrows", ["Frowning", "Raising", "Other"]),
    ("Visual/Facial", "Eyes", ["Exaggerated opening", "Closing-both", "Closing-one", "Closing-repeated", "Other"]),
    ("Visual/Facial", "Mouth Openness", ["Open mouth", "Closed mouth"]),
    ("Visual/Facial", "Mouth Lips", ["Corners up", "Corners down", "Protruded", "Retracted"]),
    ("Visual/Facial", "Chin", ["Up", "Down"]),
    ("Gaze", None, ["Interlocutor", "Up", "Down", "Sideways", "Other"]),
    ("Gesture", "Head Movements", ["Down", "Backward", "Forward", "Side-tilt", "Side-turn", "Waggle", "Other"]),
    ("Gesture", "Hand Movements", ["Single hand", "Both hands"]),
    ("Gesture", "Arm movement", ["Up", "Down"]),
    ("Gesture", "Shoulder movement", ["Shrug"]),
    ("Vocal", "Fluency", ["Repetition", "Filled pause", "Silent pause"]),
    ("Vocal", "Arousal", ["Tension"]),
]


def _dolos_spelling(name: str, k: int) -> str:
    """The release's header spellings: ``Smile\u00a0\u200b``, ``Corners\u00a0down\u200b``; every fifth name is plain."""
    if k % 5 == 4:
        return name
    return name.replace(" ", NBSP) + (ZWSP if " " in name else NBSP + ZWSP)


DOLOS_FEATURES = [(cat, sub, _dolos_spelling(name, k)) for k, (cat, sub, name) in
                  enumerate((c, s, n) for c, s, names in _DOLOS_GROUPS for n in names)]
assert len(DOLOS_FEATURES) == 41
DOLOS_INFO_HEADER = ["Video URL", "File name of the video clip ", 'Label "truth" or "deception"',
                     "Start time in the episode", "End time in the episode", "Name of the game show",
                     "Participants name", "Participants gender"]
DOLOS_TRAIN_HEADER = ["File name of the video clip ", 'Label "truth" or "deception"', "Participants gender"]
DOLOS_PARTICIPANTS = [  # canonical name, spellings used in the sheet, sex
    ("John Smith", ["John Smith", "john  smith", "JOHN SMITH "], "Male"),
    ("Mary Jones", ["Mary Jones", "mary jones"], "Female"),
    ("Ali Khan", ["Ali Khan"], "Male"),
    ("Sara Lee", ["Sara Lee", "Sara  Lee"], "Female"),
    ("Tom Brown", ["Tom Brown"], "Male"),
    ("Ana Diaz", ["ana diaz", "Ana Diaz"], "Female"),
]
DOLOS_LABEL_SPELLINGS = {"truthful": ["truth", "Truth", "truth "], "deceptive": ["deception", "Deception", "lie"]}


def dolos_clips(clips_per_participant: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for p, (name, spellings, sex) in enumerate(DOLOS_PARTICIPANTS):
        for c in range(clips_per_participant):
            label = "deceptive" if (p + c) % 2 == 0 else "truthful"
            kind = "lie" if label == "deceptive" else "truth"
            file_name = f"{name.split()[0][:2].upper()}_WILTY_EP{p + 10}_{kind}{c + 1}"
            spelled = DOLOS_LABEL_SPELLINGS[label][(p + c) % 3]
            participant = spellings[c % len(spellings)]
            present = [int(v) for v in rng.random(len(DOLOS_FEATURES)) < (0.7 if label == "deceptive" else 0.25)]
            start = 60 * p + 10 * c + 6
            out.append({"file_name": file_name, "label": label, "spelled": spelled, "participant": participant,
                        "canonical": name, "sex": sex, "present": present, "start": start, "end": start + 4,
                        "show": "Would I Lie To You", "url": f"https://www.youtube.com/watch?v=x{p}{c}"})
    return out


# The malformed MUMIN cells of the published Dolos.xlsx (issue 18), as typed, and how each is read:
# (cell, how, intervals in seconds of the episode). The report cut the two multi-interval cells short
# ("[12.53, 12.54],, [12.55, …"); their second intervals here are made up.
DOLOS_ODD_CELLS = [
    ("[1.27,1,29]", "repaired_intervals", ((87, 89),)),
    ("\u30102.22, 2.23\u3011", "repaired_intervals", ((142, 143),)),   # 【2.22, 2.23】
    ("[23.54.23.58]", "repaired_intervals", ((1434, 1438),)),
    ("[1;31,1;33]", "repaired_intervals", ((91, 93),)),
    ("[18.58,18..59]", "repaired_intervals", ((1138, 1139),)),
    ("[6,40, 6.45]", "repaired_intervals", ((400, 405),)),
    ("[12.01. 12.03]", "repaired_intervals", ((721, 723),)),
    ("[15. 21, 15.22]", "repaired_intervals", ((921, 922),)),
    ("[16.54, 16. 58]", "repaired_intervals", ((1014, 1018),)),
    ("[12.53, 12.54],, [12.55, 12.57]", "repaired_intervals", ((773, 774), (775, 777))),
    ("[[13.08, 13.11]. [13.15, 13.17]]", "repaired_intervals", ((788, 791), (795, 797))),
    ("[[4.06],[4.08]]", "times_unreadable", ()),
    ("26.45, 26.46]", "repaired_intervals", ((1605, 1606),)),
]
DOLOS_STRAY_CLIP = 20     # write_dolos(odd_cells=True): this clip's row holds a bare 9 in ten gesture columns
DOLOS_STRAY_COLUMNS = 10


def _mmss(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def dolos_time(seconds: int, as_text: bool):
    """A Dolos.xlsx time: m:ss typed into Excel and stored as h:mm:ss, so 2 min 06 s is 02:06:00.

    ``as_text`` gives the text ``"02:06:00"``; otherwise a time-formatted cell (``datetime.time``).
    """
    import datetime

    minutes, secs = divmod(seconds, 60)
    return f"{minutes:02d}:{secs:02d}:00" if as_text else datetime.time(minutes, secs)


def _dolos_book(info_header, rows):
    """Three header rows like the release: categories merged over their columns, sub-groups merged, names."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    n_info = len(info_header)
    ws.append(["General Information"] + [None] * (n_info - 1) + [f[0] for f in DOLOS_FEATURES])
    ws.append([None] * n_info + [f[1] for f in DOLOS_FEATURES])
    ws.append(list(info_header) + [f[2] for f in DOLOS_FEATURES])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n_info)
    _merge_runs(ws, 1, n_info + 1, [f[0] for f in DOLOS_FEATURES])
    _merge_runs(ws, 2, n_info + 1, [(f[0], f[1]) for f in DOLOS_FEATURES])
    for row in rows:
        ws.append(row)
        for cell in ws[ws.max_row]:
            if hasattr(cell.value, "hour"):
                cell.number_format = "hh:mm:ss"
    return wb


def write_dolos(root: Path, clips=None, duplicate: bool = True, reversed_time: bool = True,
                protocols: bool = True, master: bool = True, features: bool = True, videos: int = 0,
                odd_cells: bool = False) -> dict:
    """Dolos.xlsx and train_dolos.xlsx (three header rows, merged category cells, the release's header
    spellings), dolos_timestamps.csv (UTF-8 BOM) and training_protocols/*.csv (no header).

    ``odd_cells`` writes the release's malformed MUMIN cells into Dolos.xlsx: :data:`DOLOS_ODD_CELLS`
    one per clip from the first (those gestures become present in train_dolos.xlsx too), and a bare
    ``9`` in ten gesture columns of clip :data:`DOLOS_STRAY_CLIP`'s row. ``out["odd_cells"]`` lists
    (clip index, gesture index, cell, how, intervals) and ``out["stray"]`` (file name, sheet row).
    """
    import copy

    clips = dolos_clips() if clips is None else clips
    root.mkdir(parents=True, exist_ok=True)
    odd, placed = {}, []
    if odd_cells:
        clips = copy.deepcopy(clips)
        for n, (cell, how, intervals) in enumerate(DOLOS_ODD_CELLS):
            k = (3 * n + 1) % len(DOLOS_FEATURES)
            odd[(n, k)] = cell
            clips[n]["present"][k] = 1
            placed.append((n, k, cell, how, intervals))
        odd.update({(DOLOS_STRAY_CLIP, k): 9 for k in range(2, 2 + 3 * DOLOS_STRAY_COLUMNS, 3)})
    out = {"clips": clips, "odd_cells": placed,
           "stray": (clips[DOLOS_STRAY_CLIP]["file_name"], 3 + DOLOS_STRAY_CLIP + 1) if odd_cells else None}
    if master:
        rows = []
        for i, c in enumerate(clips):
            start, end = dolos_time(c["start"], i % 2 == 0), dolos_time(c["end"], i % 2 == 0)
            if reversed_time and i == 1:
                start, end = end, start
            # gestures: an interval list when present; absent as 0 or a blank cell
            cells = [f"[{_mmss(c['start'] + 1)},{_mmss(c['start'] + 2)}]" if v else (0 if k % 2 else None)
                     for k, v in enumerate(c["present"])]
            cells = [odd.get((i, k), cell) for k, cell in enumerate(cells)]
            rows.append([c["url"], c["file_name"], c["spelled"], start, end, c["show"], c["participant"], c["sex"]]
                        + cells)
        if duplicate:
            c = clips[2]
            rows.append([c["url"], c["file_name"], c["spelled"], dolos_time(c["start"], True),
                         dolos_time(c["end"], True), c["show"], c["participant"], c["sex"]] + [0] * len(DOLOS_FEATURES))
        out["master"] = root / "Dolos.xlsx"
        _dolos_book(DOLOS_INFO_HEADER, rows).save(out["master"])
    if features:
        rows = [[c["file_name"], c["spelled"], c["sex"]] + c["present"] for c in clips]
        out["features"] = root / "train_dolos.xlsx"
        _dolos_book(DOLOS_TRAIN_HEADER, rows).save(out["features"])
    stamps = [["YT_Video_ID", "file_name", "start_time", "end_time", "label"]]
    for i, c in enumerate(clips):
        start, end = _mmss(c["start"]), _mmss(c["end"])
        if i == 3:
            start = "abc"
        stamps.append([c["url"].rsplit("=", 1)[1], c["file_name"], start, end, c["spelled"]])
    out["timestamps"] = write_csv(root / "dolos_timestamps.csv", stamps, bom=True)
    if protocols:
        folder = root / "training_protocols"

        def lines(chosen):
            return [[c["file_name"], "deception" if c["label"] == "deceptive" else "truth", c["sex"].lower()]
                    for c in chosen]

        for k in (1, 2, 3):
            write_csv(folder / f"test_fold{k}.csv", lines(c for i, c in enumerate(clips) if i % 3 == k - 1))
            write_csv(folder / f"train_fold{k}.csv", lines(c for i, c in enumerate(clips) if i % 3 != k - 1))
        for name, pick in (("long", lambda i, c: i % 2 == 0), ("short", lambda i, c: i % 2 == 1),
                           ("male", lambda i, c: c["sex"] == "Male"), ("female", lambda i, c: c["sex"] == "Female")):
            write_csv(folder / f"{name}.csv", lines(c for i, c in enumerate(clips) if pick(i, c)))
        out["protocols"] = folder
    for c in clips[:videos]:
        write_video(root / "clips" / f"{c['file_name']}.mp4", n_frames=3)
    return out


def _merge_runs(ws, row: int, first_col: int, values: list[str]) -> None:
    """Merge runs of equal header cells like the release does; only the first cell keeps its text."""
    start = 0
    for j in range(1, len(values) + 1):
        if j == len(values) or values[j] != values[start]:
            if j - start > 1:
                ws.merge_cells(start_row=row, start_column=first_col + start, end_row=row,
                               end_column=first_col + j - 1)
            start = j


# -- Bag-of-Lies ------------------------------------------------------------------------------------
def write_bag_of_lies(root: Path, users: int = 4, runs: int = 3, videos: bool = True) -> dict:
    rows = [["eeg", "gaze", "image", "run", "truth", "usernum", "video"]]
    for u in range(users):
        for r in range(runs):
            base = f"./Finalised/User_{u}/run_{r}"
            rows.append([f"{base}/eeg.csv", f"{base}/gaze.csv", f"{base}/image", r, (u + r) % 2, u, f"{base}/video.mp4"])
            if videos:
                write_video(root / "Finalised" / f"User_{u}" / f"run_{r}" / "video.mp4", n_frames=3)
    return {"csv": write_csv(root / "Annotations.csv", rows)}


# -- MU3D -------------------------------------------------------------------------------------------
def write_mu3d(root: Path, targets=("BF001", "BM002", "WF003", "WM004"), videos: bool = False) -> dict:
    header = ["VideoID", "Valence", "Veracity", "Sex", "Race", "VidLength_ms", "VidLength_sec", "WordCount",
              "Accuracy", "TruthProp", "Attractive", "Trustworthy", "Anxious", "Transcription"]
    body = []
    for t in targets:
        for k, (valence, veracity) in enumerate(((1, 1), (1, 0), (0, 1), (0, 0))):
            vid = f"{t}_{k + 1}{'P' if valence else 'N'}{'T' if veracity else 'L'}"
            sex = 1 if t[1] == "F" else 0
            body.append([vid, valence, veracity, sex, 0 if t[0] == "B" else 1, 30000, 30, 80, 0.5, 0.6, 4.1, 4.3,
                         3.2, "My best friend is ..."])
            if videos:
                write_video(root / "Videos" / f"{vid}.mp4", n_frames=3)
    target_rows = [["TargetID", "Sex", "Race"]] + [[t, t[1], t[0]] for t in targets]
    path = root / "MU3D Codebook.xlsx"
    root.mkdir(parents=True, exist_ok=True)
    _book({"Video-Level Data": [header] + body, "Target-Level Data": target_rows}).save(path)
    return {"codebook": path}


# -- Kaggle ME lie ----------------------------------------------------------------------------------
def write_kaggle(root: Path, subjects: bool = True) -> dict:
    for folder in ("Truth", "LIE"):
        for s in range(3):
            target = root / folder / f"subject{s + 1}" if subjects else root / folder
            write_frames(target, range(1 + 10 * s, 4 + 10 * s), lambda n, f=folder: f"{f.lower()}_{n}.jpg")
    return {}


# -- manifest ---------------------------------------------------------------------------------------
def write_manifest(root: Path, name: str = "manifest.csv", extra_rows=()) -> dict:
    write_frames(root / "data" / "clipA", range(1, 9), lambda n: f"frame_{n:03d}.png", ext=".png")
    write_frames(root / "data" / "clipB", range(1, 9), lambda n: f"frame_{n:03d}.png", ext=".png")
    write_video(root / "data" / "clipC.mp4", n_frames=6)
    write_frames(root / "data" / "flow", [0], lambda n: "s4_flow.png", ext=".png")
    write_frames(root / "data" / "apex", [0], lambda n: "s5_apex.jpg")
    rows = [["sample_id", "subject", "label", "path", "onset", "apex", "offset", "sex", "session"],
            ["s1", "p1", "happy", "data/clipA", 2, 4, 7, "F", "morning"],
            ["s2", "p1", "sad", "data/clipB", 2, "", 6, "F", "evening"],
            ["s3", "p2", "happy", "data/clipC.mp4", 1, 2, 4, "M", "morning"],
            ["s4", "p2", "sad", "data/flow/s4_flow.png", "", "", "", "M", "evening"],
            ["s5", "p3", "happy", "data/apex/s5_apex.jpg", "", "", "", "F", "noon"]] + [list(r) for r in extra_rows]
    return {"csv": write_csv(root / name, rows)}
