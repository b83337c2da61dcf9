"""DOLOS as distributed: Dolos.xlsx / train_dolos.xlsx with three header rows and the release's header
spellings, dolos_timestamps.csv with a BOM, header-less training_protocols/*.csv (tests/fixtures_datasets.py)."""
from __future__ import annotations

import datetime
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

from mebench.data.dolos import info_field, sheet_seconds  # noqa: E402
from mebench.data.mumin import gesture_value  # noqa: E402
from mebench.errors import DataError, LeakageError  # noqa: E402
from mebench.registry import DATASETS, PROTOCOLS  # noqa: E402


def load(root, **opts):
    ds = DATASETS.create("dolos", root=root, **opts)
    return ds, ds.load()


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("dolos_release")
    info = F.write_dolos(root, videos=3)
    return root, info


# -- the fixture is written like the release --------------------------------------------------------
def test_fixture_has_the_release_layout(release):
    from openpyxl import load_workbook

    root, info = release
    ws = load_workbook(info["master"])["Sheet1"]
    assert "A1:H1" in {str(r) for r in ws.merged_cells.ranges}  # "General Information" over 8 columns
    assert ws["A1"].value == "General Information" and ws["I1"].value == "Visual/Facial"
    row3 = [c.value for c in ws[3]]
    assert row3[:8] == F.DOLOS_INFO_HEADER and row3[1] == "File name of the video clip "
    assert row3[8] == "Smile\u00a0\u200b" and "Corners\u00a0down\u200b" in row3
    assert sum(1 for v in row3[8:] if "\u200b" in v) > 30 and len(row3) == 8 + 41
    assert ws.max_row == 3 + len(info["clips"]) + 1  # three header rows, the clips, one duplicate
    assert isinstance(ws["D5"].value, datetime.time) and ws["D4"].value == "00:06:00"
    train = load_workbook(info["features"])["Sheet1"]
    assert [c.value for c in train[3]][:3] == F.DOLOS_TRAIN_HEADER
    assert info["timestamps"].read_bytes().startswith(b"\xef\xbb\xbfYT_Video_ID,file_name,start_time,end_time,label")
    first = (info["protocols"] / "train_fold1.csv").read_text().splitlines()[0]
    assert first.count(",") == 2 and first.split(",")[1] in ("truth", "deception") and \
        first.split(",")[2] in ("male", "female")


# -- header cells by meaning ------------------------------------------------------------------------
@pytest.mark.parametrize("header,field", [
    ("File name of the video clip ", "file_name"), ('Label "truth" or "deception"', "label"),
    ("Video URL", "url"), ("Start time in the episode", "start"), ("End time in the episode", "end"),
    ("Name of the game show", "show"), ("Participants name", "participant"), ("Participants gender", "gender"),
    ("file\u00a0name\u200b", "file_name"), ("file_name", "file_name"), ("LABEL", "label"), ("Show name", "show"),
    ("Participant gender", "gender"), ("YouTube URL", "url"), ("Smile\u00a0\u200b", None),
    ("Corners\u00a0down\u200b", None), ("Down", None), ("Tension", None), ("", None), (None, None),
])
def test_info_headers_are_matched_by_meaning(header, field):
    assert info_field(header) == field


@pytest.mark.parametrize("value,seconds", [
    ("02:06:00", 126.0), (datetime.time(2, 6), 126.0), ("2:06", 126.0), ("00:45:00", 45.0),
    (datetime.timedelta(hours=26, minutes=6), 26 * 60 + 6.0), (datetime.datetime(1899, 12, 31, 2, 6), 26 * 60 + 6.0),
    (12.5, 12.5), ("01:02:03", None), (datetime.time(0, 2, 10), None), ("abc", None), (None, None), ("", None),
])
def test_sheet_times_are_minutes_and_seconds_written_as_h_m_s(value, seconds):
    assert sheet_seconds(value) == seconds


@pytest.mark.parametrize("cell,expected", [
    (0, (0, "binary")), (1, (1, "binary")), ("1", (1, "binary")), (None, (0, "blank")), ("", (0, "blank")),
    ("[2:10,2:11]", (1, "intervals")), ("[[2:10, 2:11], [3:01,3:04]]", (1, "intervals")),
    ("2:10-2:11", (1, "loose-intervals")), ("x", (None, "unreadable")), (2, (None, "unreadable")),
])
def test_gesture_cells(cell, expected):
    assert gesture_value(cell) == expected


# -- loading the release ----------------------------------------------------------------------------
def test_release_loads_with_identities_times_gestures_and_folds(release):
    root, info = release
    clips = info["clips"]
    ds, s = load(root)
    assert len(s) == len(clips) and ds.identities
    assert s["subject_id"].nunique() == len(F.DOLOS_PARTICIPANTS)
    by = s.set_index("clip")
    # times: text "02:06:00" and time cells both mean m:ss; the reversed pair falls back to the CSV
    assert clips[8]["start"] == 126 and by.loc[clips[8]["file_name"], "start_s"] == 126
    assert [by.loc[c["file_name"], "start_s"] for c in clips] == [c["start"] for c in clips]
    assert [by.loc[c["file_name"], "end_s"] for i, c in enumerate(clips) if i != 3] == \
        [c["end"] for i, c in enumerate(clips) if i != 3]
    # gestures come from train_dolos.xlsx, the invisible characters gone from the column names
    mumin = [c for c in s.columns if c.startswith("mumin_")]
    assert len(mumin) == 41 and mumin[0] == "mumin_smile" and "mumin_corners_down" in mumin
    assert "mumin_gaze_up" in mumin and "mumin_chin_up" in mumin  # sub-groups do not leak across categories
    assert all(by.loc[c["file_name"], mumin].tolist() == c["present"] for c in clips)
    assert by.loc[clips[0]["file_name"], "url"] == clips[0]["url"] and by["show"].eq("Would I Lie To You").all()
    assert by.loc[clips[0]["file_name"], "sex"] == "M" and by.loc[clips[4]["file_name"], "sex"] == "F"
    assert by["official_fold"].str.count("fold").eq(3).all()
    assert by["frames"].notna().sum() == 3 and by["n_frames"].dropna().eq(3).all()


def test_gestures_from_dolos_xlsx_interval_lists(tmp_path):
    info = F.write_dolos(tmp_path, features=False)
    ds, s = load(tmp_path)
    by = s.set_index("clip")
    mumin = [c for c in s.columns if c.startswith("mumin_")]
    assert all(by.loc[c["file_name"], mumin].tolist() == c["present"] for c in info["clips"])
    assert ds.counts["mumin_intervals_cells"] > 0 and ds.counts["mumin_blank_cells"] > 0


def test_identities_only_from_participants_name(tmp_path):
    F.write_dolos(tmp_path / "train_only", master=False)
    ds, s = load(tmp_path / "train_only")
    assert ds.identities is False and s["subject_id"].str.startswith("dolos/clip-").all()
    assert s["participant"].isna().all()
    with pytest.raises(LeakageError, match="no speaker identities"):
        PROTOCOLS.create("loso").run(s, identities=ds.identities)
    F.write_dolos(tmp_path / "stamps_only", master=False, features=False)
    ds, s = load(tmp_path / "stamps_only")
    assert ds.identities is False and len(s) == 24


def _load_with_master_cells(tmp_path, cells: dict):
    """Write the DOLOS fixture, overwrite ``cells`` (e.g. {"G3": "Notes"}) of Dolos.xlsx, load it."""
    from openpyxl import load_workbook

    info = F.write_dolos(tmp_path)
    wb = load_workbook(info["master"])
    for cell, text in cells.items():
        wb["Sheet1"][cell] = text
    wb.save(info["master"])
    return load(tmp_path)


def test_dolos_xlsx_without_participant_column_has_no_identities(tmp_path):
    ds, s = _load_with_master_cells(tmp_path, {"G3": "Notes"})
    assert ds.identities is False and any("no 'Participants name' column" in w for w in ds.warnings)


def test_other_header_spellings_are_matched(tmp_path):
    ds, s = _load_with_master_cells(tmp_path, {"B3": "file_name", "C3": "Label (truth / deception)",
                                               "G3": "PARTICIPANT\u00a0NAME"})
    assert ds.identities and s["subject_id"].nunique() == len(F.DOLOS_PARTICIPANTS)


def test_another_category_heading_over_the_information_columns(tmp_path):
    """'General Info' instead of 'General Information': information columns are found by name."""
    ds, s = _load_with_master_cells(tmp_path, {"A1": "General Info"})
    assert ds.identities and len(s) > 0 and s["subject_id"].nunique() == len(F.DOLOS_PARTICIPANTS)


def test_protocol_folder_in_another_letter_case(tmp_path):
    info = F.write_dolos(tmp_path)
    shutil.move(info["protocols"], tmp_path / "Training_Protocols")
    ds, s = load(tmp_path, subset="male")
    assert set(s["sex"]) == {"M"} and s["official_fold"].notna().all()


def test_unreadable_gesture_cell_names_file_row_and_column(tmp_path):
    from openpyxl import load_workbook

    info = F.write_dolos(tmp_path, features=False)
    wb = load_workbook(info["master"])
    wb["Sheet1"]["J6"] = "maybe"
    wb.save(info["master"])
    with pytest.raises(DataError) as err:
        load(tmp_path)
    text = str(err.value)
    assert "'maybe'" in text and "Dolos.xlsx" in text and "row 6" in text and "'Laugh'" in text


def test_no_header_row_is_a_clear_error(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["something", "else"])
    wb.save(tmp_path / "Dolos.xlsx")
    with pytest.raises(DataError, match="no header row with a file-name and a label column"):
        load(tmp_path)
