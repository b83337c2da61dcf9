"""Paths built from sheet or manifest cells stay inside the dataset: every loader refuses ``..``, absolute
paths and symbolic links that lead out, with an error naming the file, row and column.

Each attack points at a copy of real-looking data *outside* the root (frames, a video), so without the
check the loader would read it silently.
"""
from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

from mebench.data.sheets import safe_path  # noqa: E402
from mebench.errors import DataError  # noqa: E402
from mebench.registry import DATASETS  # noqa: E402

ESCAPE = "../../../outside_clip"


def load(name, root, **opts):
    ds = DATASETS.create(name, root=root, **opts)
    return ds, ds.load()


def set_xlsx(path: Path, sheet: str, header_row: int, column: str, data_row: int, value) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb[sheet]
    names = [str(c.value).strip() if c.value is not None else "" for c in ws[header_row]]
    ws.cell(row=data_row, column=names.index(column) + 1, value=value)
    wb.save(path)


def set_csv(path: Path, column: str, data_row: int, value) -> None:
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    rows[data_row - 1][rows[0].index(column)] = value
    F.write_csv(path, rows)


def link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target, target_is_directory=target.is_dir())


def outside_frames(tmp_path: Path, numbers, name, ext=".jpg") -> Path:
    folder = tmp_path / "outside_clip"
    F.write_frames(folder, numbers, name, ext=ext)
    return folder


def outside_video(tmp_path: Path, name: str = "outside_clip.mp4") -> Path:
    return F.write_video(tmp_path / name, n_frames=5)


def assert_names(err, file: str, row: int | None, column: str | None) -> None:
    text = str(err.value)
    assert "escapes the dataset root" in text or "matches no clip folder" in text or "target code" in text, text
    assert file in text, text
    if row is not None:
        assert f"row {row}" in text, text
    if column is not None:
        assert f"column '{column}'" in text, text


# -- the function -----------------------------------------------------------------------------------
def test_safe_path_rules(tmp_path):
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    root = tmp_path / "root"
    assert safe_path(root, "a/b.jpg", root) == root / "a" / "b.jpg"
    assert safe_path(root, "./a\\b.jpg", root) == root / "a" / "b.jpg"  # Windows separators
    for bad, why in ((ESCAPE, "'..' is not allowed"), ("a/../../x", "'..' is not allowed"),
                     ("/etc/passwd", "absolute path"), ("C:\\data\\x", "absolute path"),
                     ("\\\\server\\share", "absolute path"), ("", "empty"), ("a/\x00b", "NUL")):
        with pytest.raises(DataError, match=why) as err:
            safe_path(root, bad, root, what="Filename", file="sheet.xlsx", row=7, column="Filename")
        assert "sheet.xlsx" in str(err.value) and "row 7" in str(err.value)
    (root / "out").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="symbolic link leads to"):
        safe_path(root, "out/x.jpg", root)
    (root / "in").symlink_to(root / "a")  # a link that stays inside is fine
    assert safe_path(root, "in/x.jpg", root) == root / "in" / "x.jpg"
    (root / "loop").symlink_to(root / "loop")
    with pytest.raises(DataError):
        safe_path(root, "loop/x", root)


# -- frame-folder datasets --------------------------------------------------------------------------
CASME2_SHEET = "CASME2-coding-20190701.xlsx"


def _casme2(tmp_path):
    root = tmp_path / "root"
    F.write_casme2(root)
    outside_frames(tmp_path, range(44, 58), lambda n: f"img{n}.jpg")
    return root


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_casme2(tmp_path, attack):
    root = _casme2(tmp_path)
    if attack == "symlink":
        link(root / "CASME2_RAW_selected" / "sub01" / "EP02_01f", tmp_path / "outside_clip")
    else:
        set_xlsx(root / CASME2_SHEET, "Sheet1", 1, "Filename", 2,
                 ESCAPE if attack == "dotdot" else str(tmp_path / "outside_clip"))
    with pytest.raises(DataError) as err:
        load("casme2", root)
    assert_names(err, CASME2_SHEET, 2, "Filename")


def test_casme2_data_check_lists_the_refusal_and_skip_does_not_hide_it(tmp_path):
    root = _casme2(tmp_path)
    set_xlsx(root / CASME2_SHEET, "Sheet1", 1, "Filename", 2, ESCAPE)
    from mebench.commands.data_check import check_dataset

    summary = check_dataset("casme2", root)
    assert not summary["ok"] and any("escapes the dataset root" in e for e in summary["errors"])
    with pytest.raises(DataError, match="escapes the dataset root"):
        load("casme2", root, bad_frames="skip")


def test_casme2_links_that_stay_inside_and_a_linked_frames_folder_are_accepted(tmp_path):
    root = _casme2(tmp_path)
    frames = root / "CASME2_RAW_selected"
    shutil.move(frames / "sub01" / "EP02_01f", root / "moved_clip")
    link(frames / "sub01" / "EP02_01f", root / "moved_clip")  # inside the root
    _, s = load("casme2", root)
    assert len(s) == len(F.CASME2_ROWS)
    # the whole frames folder on another disk, linked in: the sheet's names stay inside it
    shutil.move(frames, tmp_path / "other_disk")
    link(frames, tmp_path / "other_disk")
    shutil.move(root / "moved_clip", tmp_path / "moved_clip")
    link(tmp_path / "other_disk" / "sub01" / "EP02_01f", tmp_path / "moved_clip")
    with pytest.raises(DataError, match="symbolic link leads to"):
        load("casme2", root)  # ... but a clip inside it may not lead out of it


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_samm(tmp_path, attack):
    root = tmp_path / "root"
    F.write_samm(root)
    outside_frames(tmp_path, range(5560, 5573), lambda n: f"006_{n:05d}.jpg")
    if attack == "symlink":
        link(root / "SAMM" / "006" / "006_1_2", tmp_path / "outside_clip")
    else:
        set_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", "MICRO_ONLY", 14, "Filename", 15,
                 ESCAPE if attack == "dotdot" else str(tmp_path / "outside_clip"))
    with pytest.raises(DataError) as err:
        load("samm", root)
    assert_names(err, "SAMM_Micro_FACS_Codes_v2.xlsx", 15, "Filename")


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink", "subject"])
def test_casme3a(tmp_path, attack):
    root = tmp_path / "root"
    F.write_casme3a(root)
    F.write_frames(tmp_path / "outside_clip" / "color", range(0, 50), lambda n: f"{n}.jpg")
    sheet = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
    column = "Filename"
    if attack == "symlink":
        link(root / "part_A" / "spNO.1" / "a", tmp_path / "outside_clip")
    elif attack == "subject":
        column = "Subject"
        set_xlsx(root / sheet, "Sheet1", 1, "Subject", 2, "../../outside_clip")
    else:
        set_xlsx(root / sheet, "Sheet1", 1, "Filename", 2,
                 ESCAPE if attack == "dotdot" else str(tmp_path / "outside_clip"))
    with pytest.raises(DataError) as err:
        load("casme3a", root)
    assert_names(err, sheet, 2, column)


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_smic(tmp_path, attack):
    root = tmp_path / "root"
    F.write_smic(root, sheet=True)
    outside_frames(tmp_path, range(41089, 41098), lambda n: f"image{n:06d}.bmp", ext=".bmp")
    if attack == "symlink":
        clip = root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01"
        link(clip, tmp_path / "outside_clip")
        with pytest.raises(DataError) as err:
            load("smic", root, sheet="smic_onsets.csv")
        assert_names(err, str(clip), None, None)
        return
    set_csv(root / "smic_onsets.csv", "material", 2, ESCAPE if attack == "dotdot" else str(tmp_path / "outside_clip"))
    with pytest.raises(DataError) as err:  # the sheet only names existing clip folders; no path is built
        load("smic", root, sheet="smic_onsets.csv")
    assert_names(err, "smic_onsets.csv", 2, "material")


# -- deception corpora ------------------------------------------------------------------------------
RLT_CSV = "Annotation/All_Gestures_Deceptive and Truthful.csv"


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_reallife_trial(tmp_path, attack):
    root = tmp_path / "root"
    F.write_reallife(root, clips=True)
    video = outside_video(tmp_path)
    if attack == "symlink":
        link(root / "Clips" / "Deceptive" / "trial_lie_001.mp4", video)
    else:
        set_csv(root / RLT_CSV, "id", 2, ESCAPE + ".mp4" if attack == "dotdot" else str(video))
    with pytest.raises(DataError) as err:
        load("reallife-trial", root)
    assert_names(err, "All_Gestures_Deceptive and Truthful.csv", 2, "id")


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_dolos(tmp_path, attack):
    root = tmp_path / "root"
    info = F.write_dolos(root, videos=2, duplicate=False)
    video = outside_video(tmp_path)
    if attack == "symlink":
        link(root / "clips" / f"{info['clips'][0]['file_name']}.mp4", video)
    else:
        set_xlsx(info["master"], "Sheet1", 3, "File name of the video clip", 4,
                 ESCAPE if attack == "dotdot" else str(tmp_path / "outside_clip"))
    with pytest.raises(DataError) as err:
        load("dolos", root)
    assert_names(err, "Dolos.xlsx", 4, "File name of the video clip")


def test_dolos_clips_option_is_the_container(tmp_path):
    root = tmp_path / "root"
    info = F.write_dolos(root, videos=2, duplicate=False)
    shutil.move(root / "clips", tmp_path / "videos")
    ds, s = load("dolos", root, clips=str(tmp_path / "videos"))  # an option, not a cell: may lie elsewhere
    assert s["frames"].notna().sum() == 2
    link(tmp_path / "videos" / f"{info['clips'][0]['file_name']}.mp4", outside_video(tmp_path))
    with pytest.raises(DataError, match="symbolic link leads to"):
        load("dolos", root, clips=str(tmp_path / "videos"))


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_bag_of_lies(tmp_path, attack):
    root = tmp_path / "root"
    F.write_bag_of_lies(root)
    video = outside_video(tmp_path)
    if attack == "symlink":
        link(root / "Finalised" / "User_0" / "run_0" / "video.mp4", video)
    else:
        set_csv(root / "Annotations.csv", "video", 2, ESCAPE + ".mp4" if attack == "dotdot" else str(video))
    with pytest.raises(DataError) as err:
        load("bag-of-lies", root)
    assert_names(err, "Annotations.csv", 2, "video")


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_mu3d(tmp_path, attack):
    root = tmp_path / "root"
    info = F.write_mu3d(root, videos=True)
    video = outside_video(tmp_path)
    if attack == "symlink":
        link(root / "Videos" / "BF001_1PT.mp4", video)
    else:  # VideoIDs are names, matched to files found under the root: a path is not a VideoID
        set_xlsx(info["codebook"], "Video-Level Data", 1, "VideoID", 2,
                 ESCAPE if attack == "dotdot" else str(tmp_path / "outside_clip"))
    with pytest.raises(DataError) as err:
        load("mu3d", root)
    assert_names(err, "MU3D Codebook.xlsx", 2, "VideoID")


@pytest.mark.parametrize("target", ["image", "subject folder"])
def test_kaggle_me_lie_symlinks(tmp_path, target):
    root = tmp_path / "root"
    F.write_kaggle(root)
    outside = outside_frames(tmp_path, [1, 2], lambda n: f"x_{n}.jpg")
    if target == "image":
        path = root / "Truth" / "subject1" / "truth_1.jpg"
        link(path, outside / "x_1.jpg")
    else:
        path = root / "LIE" / "subject9"
        path.symlink_to(outside, target_is_directory=True)
    with pytest.raises(DataError, match="escapes the dataset root") as err:
        load("kaggle-me-lie", root)
    assert str(path.relative_to(root)) in str(err.value) or path.name in str(err.value)


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink"])
def test_manifest(tmp_path, attack):
    root = tmp_path / "root"
    F.write_manifest(root)
    outside_frames(tmp_path, range(1, 9), lambda n: f"frame_{n:03d}.png", ext=".png")
    if attack == "symlink":
        link(root / "data" / "clipA", tmp_path / "outside_clip")
    else:
        set_csv(root / "manifest.csv", "path", 2, ESCAPE if attack == "dotdot" else str(tmp_path / "outside_clip"))
    with pytest.raises(DataError) as err:
        load("manifest", root)
    assert_names(err, "manifest.csv", 2, "path")
