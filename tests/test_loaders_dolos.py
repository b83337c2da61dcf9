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
from mebench.data.mumin import gesture_value, read_gesture_cell  # noqa: E402
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
    (0, (0, "binary")), (1, (1, "binary")), ("1", (1, "binary")), (1.0, (1, "binary")), (None, (0, "blank")),
    ("", (0, "blank")), ("[]", (0, "empty_list")), ("[ [ ] ]", (0, "empty_list")),
    ("[2:10,2:11]", (1, "intervals")), ("[[2:10, 2:11], [3:01,3:04]]", (1, "intervals")),
    ("[1.27, 1.29]", (1, "intervals")), ("[1.02,\u00a01.03\u200b]", (1, "intervals")),
    ("\uff3b1.02, 1.03\uff3d", (1, "repaired_intervals")), ("[1.02,1.03][1.05,1.07]", (1, "repaired_intervals")),
    ("2:10-2:11", (1, "times_unreadable")), ("2:10", (1, "times_unreadable")), ("[4.06]", (1, "times_unreadable")),
    ("[83, 85]", (1, "times_unreadable")), ("[1.5, 2.25]", (1, "times_unreadable")),
    ("[1,27,1,29]", (1, "times_unreadable")), ("[1.29, 1.27]", (1, "times_unreadable")),
    ("[1.27, 1.75]", (1, "times_unreadable")), ("[[[1.02,1.03]]]", (1, "times_unreadable")),
    ("[1.271.29]", (1, "times_unreadable")), ("[1 27, 1 29]", (1, "times_unreadable")),
    ("x", (None, "unreadable")), ("maybe", (None, "unreadable")), ("[x]", (None, "unreadable")),
    (2, (None, "unreadable")), (9, (None, "unreadable")), ("9", (None, "unreadable")), ("9.30", (None, "unreadable")),
    ("-1", (None, "unreadable")), (True, (None, "unreadable")),
])
def test_gesture_cells(cell, expected):
    assert gesture_value(cell) == expected


@pytest.mark.parametrize("cell,how,intervals", F.DOLOS_ODD_CELLS, ids=[c[0] for c in F.DOLOS_ODD_CELLS])
def test_the_release_malformed_cells_are_read_as_documented(cell, how, intervals):
    """Every malformed cell the report found: parsed when the reading is unique, else present with unreadable times."""
    read = read_gesture_cell(cell)
    assert (read.present, read.how, read.intervals) == (1, how, intervals)
    assert f"``{cell}``" in read_gesture_cell.__doc__  # the docstring's table shows every one


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


# -- the release's malformed MUMIN cells (issue 18) -------------------------------------------------
def _load_odd(root, on_error="raise", **opts):
    ds = DATASETS.create("dolos", root=root, **opts)
    ds.on_error = on_error  # what `mebench run --on-error` sets
    return ds, ds.load()


def test_a_stray_nine_stops_the_load_naming_file_row_column_and_what_to_do(tmp_path):
    info = F.write_dolos(tmp_path, features=False, odd_cells=True)
    with pytest.raises(DataError) as err:
        _load_odd(tmp_path)
    text = str(err.value)
    clip, row = info["stray"]
    assert "MUMIN cell '9'" in text and "Dolos.xlsx" in text and f"row {row}," in text and "column '" in text
    assert "--on-error skip" in text and f"{F.DOLOS_STRAY_COLUMNS - 1} more problem(s)" in text


def test_on_error_skip_drops_the_row_and_counts_cells_and_rows(tmp_path):
    info = F.write_dolos(tmp_path, features=False, odd_cells=True)
    ds, s = _load_odd(tmp_path, on_error="skip")
    clip, row = info["stray"]
    assert len(s) == len(info["clips"]) - 1 and clip not in set(s["clip"])
    [skip] = [k for k in ds.skipped if k["sample_id"] == f"dolos/{clip}"]
    assert skip["reason"].startswith(f"Dolos.xlsx row {row}: column ") and skip["reason"].count("'9'") == 10
    repaired = sum(how == "repaired_intervals" for _, how, _ in F.DOLOS_ODD_CELLS)
    assert ds.counts["mumin_unreadable_cells"] == F.DOLOS_STRAY_COLUMNS
    assert ds.counts["mumin_unreadable_rows_skipped"] == 1
    assert ds.counts["mumin_repaired_intervals_cells"] == repaired
    assert ds.counts["mumin_times_unreadable_cells"] == len(F.DOLOS_ODD_CELLS) - repaired
    # every odd cell reads as present; the rest of each row as written
    by = s.set_index("clip")
    mumin = [c for c in s.columns if c.startswith("mumin_")]
    for n, k, cell, _, _ in info["odd_cells"]:
        assert by.loc[info["clips"][n]["file_name"], mumin[k]] == 1, cell
    assert all(by.loc[c["file_name"], mumin].tolist() == c["present"] for c in info["clips"] if c["file_name"] != clip)
    warned = " ".join(ds.warnings)
    assert "'[1.27,1,29]' as 1:27-1:29 (Dolos.xlsx row 4, column" in warned and "1 row(s) with MUMIN cells" in warned
    assert "'[[4.06],[4.08]]' (Dolos.xlsx row 15" in warned


def test_on_error_skip_drops_the_clip_from_every_file(tmp_path):
    """The stray row is in Dolos.xlsx; the clip leaves train_dolos.xlsx, the timestamps and the fold lists too."""
    info = F.write_dolos(tmp_path, odd_cells=True)
    ds, s = _load_odd(tmp_path, on_error="skip")
    clip, _ = info["stray"]
    assert clip not in set(s["clip"]) and len(s) == len(info["clips"]) - 1
    assert [k["sample_id"] for k in ds.skipped].count(f"dolos/{clip}") == 1
    assert not ds.counts.get("fold_lists_unknown_clips") and not ds.counts.get("mumin_missing")


def test_a_protocol_list_naming_an_unknown_clip_is_an_error_or_a_counted_skip(tmp_path):
    info = F.write_dolos(tmp_path)
    fold = info["protocols"] / "train_fold2.csv"
    n_rows = len(fold.read_text().splitlines())
    with fold.open("a") as fh:
        fh.write("ZZ_WILTY_EP99_lie1,deception,male\n")
    with open(info["protocols"] / "male.csv", "a") as fh:
        fh.write("ZZ_WILTY_EP99_lie1,deception,male\n")
    with pytest.raises(DataError) as err:
        _load_odd(tmp_path)
    text = str(err.value)
    assert "'ZZ_WILTY_EP99_lie1'" in text and "train_fold2.csv" in text and f"row {n_rows + 1}" in text
    assert "--on-error skip" in text and "1 more problem(s)" in text
    ds, s = _load_odd(tmp_path, on_error="skip")
    assert len(s) == len(info["clips"]) and ds.counts["fold_lists_unknown_clips"] == 2
    assert ds.counts["fold_lists_unknown_clips_skipped"] == 2
    reasons = [k["reason"] for k in ds.skipped if k["sample_id"] == "dolos/ZZ_WILTY_EP99_lie1"]
    assert len(reasons) == 2 and reasons[0].startswith(f"train_fold2.csv row {n_rows + 1}: the list names clip")
    assert any("name clips that are not in the annotation" in w for w in ds.warnings)


def test_a_fold_list_naming_a_clip_dropped_as_a_conflicting_duplicate_is_no_new_problem(tmp_path):
    from openpyxl import load_workbook

    info = F.write_dolos(tmp_path, features=False)
    wb = load_workbook(info["master"])
    ws = wb["Sheet1"]
    ws.cell(ws.max_row, 3).value = "truth" if info["clips"][2]["label"] == "deceptive" else "deception"
    wb.save(info["master"])
    ds, s = load(tmp_path)
    assert info["clips"][2]["file_name"] not in set(s["clip"]) and not ds.counts.get("fold_lists_unknown_clips")


# -- the release as a user meets it: run and data check through the CLI ------------------------------
def test_mumin_run_on_the_malformed_sheet(cli, tmp_path):
    """Default: exit 1 with the cell named. --on-error skip: the run completes, audits the official folds
    and counts what it skipped and what it could not read."""
    import json

    info = F.write_dolos(tmp_path / "dolos", features=False, odd_cells=True)
    clip, row = info["stray"]
    args = ("run", "--dataset", "dolos", "--root", tmp_path / "dolos", "--features", "mumin", "--classifier", "logreg",
            "--protocol", "dolos-official")
    refused = cli(*args, "--out", tmp_path / "refused", catch_exceptions=True)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    text = " ".join(refused.output.split())
    assert "MUMIN cell '9'" in text and f"row {row}," in text and "Dolos.xlsx" in text and "--on-error skip" in text
    assert not (tmp_path / "refused" / "manifest.json").exists()
    result = cli(*args, "--on-error", "skip", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    counts = manifest["dataset"]["counts"]
    assert counts["mumin_unreadable_rows_skipped"] == 1 and counts["mumin_unreadable_cells"] == F.DOLOS_STRAY_COLUMNS
    assert counts["mumin_times_unreadable_cells"] == 1 and counts["mumin_repaired_intervals_cells"] == 12
    assert manifest["dataset"]["n_samples"] == len(info["clips"]) - 1
    assert f"dolos/{clip}" in {k["sample_id"] for k in manifest["skipped"]}
    assert manifest["protocol"]["shared_subjects"] == {"fold1": 6, "fold2": 6, "fold3": 6}
    assert manifest["config"]["on_error"] == "skip"


def test_data_check_lists_every_unreadable_cell(cli, tmp_path):
    import json

    info = F.write_dolos(tmp_path, features=False, odd_cells=True)
    _, row = info["stray"]
    result = cli("data", "check", "dolos", "--root", tmp_path, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.output)
    cells = [e for e in summary["errors"] if "MUMIN cell '9'" in e]
    assert len(cells) == F.DOLOS_STRAY_COLUMNS and summary["n_samples"] == len(info["clips"])
    assert all("Dolos.xlsx" in e and f"row {row}," in e and "column '" in e for e in cells)
    assert len({e.split("column ")[1] for e in cells}) == F.DOLOS_STRAY_COLUMNS
    assert summary["counts"]["mumin_times_unreadable_cells"] == 1
    printed = cli("data", "check", "dolos", "--root", tmp_path)
    assert printed.exit_code == 1 and f"sheet errors: {F.DOLOS_STRAY_COLUMNS}" in printed.output
    assert "--on-error skip" in printed.output


def test_a_row_of_nines_without_a_file_name_is_an_error_or_a_counted_skip(tmp_path):
    """Should the release's stray row have no clip name, --on-error skip must still get past it."""
    from openpyxl import load_workbook

    info = F.write_dolos(tmp_path, features=False)
    wb = load_workbook(info["master"])
    ws = wb["Sheet1"]
    ws.append([None] * 8 + [9] * 10)
    row = ws.max_row
    wb.save(info["master"])
    with pytest.raises(DataError) as err:
        _load_odd(tmp_path)
    text = str(err.value)
    assert "empty file name" in text and f"row {row}," in text and "--on-error skip" in text
    ds, s = _load_odd(tmp_path, on_error="skip")
    assert len(s) == len(info["clips"]) and ds.counts["rows_skipped_unreadable_name_or_label"] == 1
    assert {"sample_id": f"dolos/Dolos.xlsx#row{row}",
            "reason": f"Dolos.xlsx row {row}: column 'File name of the video clip': empty file name (--on-error skip)"
            } in ds.skipped


def test_an_unreadable_label_under_skip_drops_the_clip_from_every_file(tmp_path):
    info = F.write_dolos(tmp_path)
    _, s_all = load(tmp_path)
    ds, s = _load_odd(tmp_path, on_error="skip")
    assert len(s) == len(s_all)
    from openpyxl import load_workbook

    wb = load_workbook(info["master"])
    wb["Sheet1"]["C5"] = "perhaps"  # clip 1's label
    wb.save(info["master"])
    with pytest.raises(DataError, match="label 'perhaps' is not a truth/deception spelling"):
        _load_odd(tmp_path)
    ds, s = _load_odd(tmp_path, on_error="skip")
    clip = info["clips"][1]["file_name"]
    assert clip not in set(s["clip"]) and len(s) == len(s_all) - 1
    assert [k["sample_id"] for k in ds.skipped].count(f"dolos/{clip}") == 1
    assert ds.counts["rows_skipped_unreadable_name_or_label"] == 1 and not ds.counts.get("fold_lists_unknown_clips")
