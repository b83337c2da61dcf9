"""Dataset loaders on miniature copies written in the exact on-disk formats (tests/fixtures_datasets.py)."""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

from mebench.data import sheets  # noqa: E402
from mebench.errors import ConfigError, DataError, LeakageError  # noqa: E402
from mebench.registry import DATASETS  # noqa: E402


def load(name, root, **opts):
    ds = DATASETS.create(name, root=root, **opts)
    return ds, ds.load()


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- sheet hygiene ----------------------------------------------------------------------------------
def test_header_hygiene_normalises_invisible_and_odd_spaces():
    assert sheets.clean_header("ApexFrame\u200b") == "ApexFrame"
    assert sheets.clean_header("Action\u00a0Units ") == "Action Units"
    assert sheets.clean_header("Unnamed: 2") == ""
    assert sheets.header_key("Onset Frame") == sheets.header_key("OnsetFrame ") == "onsetframe"
    assert sheets.header_key("\ufeffYT_Video_ID") == "ytvideoid"


@pytest.mark.parametrize("value,expected", [(46, 46), (46.0, 46), (" 46 ", 46), ("46.0", 46), ("/", None),
                                            ("", None), (None, None), (float("nan"), None), (46.5, None)])
def test_parse_int_mixed_cells(value, expected):
    assert sheets.parse_int(value) == expected


def test_parse_aus_keeps_sides_alternatives_and_doubt():
    code = sheets.parse_aus("4+7+L10")
    assert code.aus == (4, 7, 10) and code.sides == ("L10",) and not code.uncertain
    code = sheets.parse_aus("R2+15")
    assert code.aus == (2, 15) and code.side_text == "R2"
    assert sheets.parse_aus(12).aus == (12,)
    assert sheets.parse_aus(12.0).aus == (12,)
    code = sheets.parse_aus("A1/4+R14?")
    assert code.aus == (1, 4, 14) and code.alternatives == ("A1/4",) and code.uncertain
    assert code.sides == ("A1", "R14")
    assert sheets.parse_aus("/").aus == ()
    with pytest.raises(ValueError, match="XY"):
        sheets.parse_aus("4+XY")


def test_parse_time_and_labels():
    assert sheets.parse_time("2:10") == 130
    assert sheets.parse_time("0:02:10") == 130
    assert sheets.parse_time("abc") is None
    assert sheets.parse_time("1:75") is None
    for raw in ("truth", "Truth", "truth ", "TRUTH\u200b"):
        assert sheets.deception_label(raw) == "truthful"
    for raw in ("deception", "Deception", "lie"):
        assert sheets.deception_label(raw) == "deceptive"
    assert sheets.deception_label("maybe") is None
    assert sheets.sex_label(" Female") == "F" and sheets.sex_label("m") == "M"


def test_read_table_finds_header_below_notes_rows(tmp_path):
    info = F.write_samm(tmp_path)
    table = sheets.read_table(info["sheet"], {"subject": ["Subject"], "onset": ["Onset Frame"]}, ("subject", "onset"),
                              sheet="MICRO_ONLY")
    assert table.header_row == 14  # 13 notes rows above it
    assert table.rows[0] == 15
    assert table.where(0, "onset")["row"] == 15


def test_read_table_reports_missing_header(tmp_path):
    info = F.write_samm(tmp_path)
    with pytest.raises(DataError, match="no header row") as err:
        sheets.read_table(info["sheet"], {"subject": ["Subject"], "nope": ["Nope Column"]}, ("subject", "nope"),
                          sheet="MICRO_ONLY")
    assert "SAMM_Micro_FACS_Codes_v2.xlsx" in str(err.value)


# -- CASME II ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def casme2_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("casme2")
    F.write_casme2(root)
    return root


def test_casme2_reads_sheet_quirks_and_frames(casme2_root):
    ds, s = load("casme2", casme2_root)
    assert len(s) == len(F.CASME2_ROWS)
    row = s.set_index("sample_id").loc["casme2/sub01/EP03_02"]
    assert row["subject_id"] == "casme2/sub01"  # integer Subject 1 -> folder sub01
    assert (row["onset"], row["apex"], row["offset"]) == (131, 134, 139)
    assert row["n_frames"] == 139 + 2 - (131 - 2) + 1
    assert row["aus"] == (4, 7, 10) and row["au_sides"] == "L10" and row["aus_raw"] == "4+7+L10"
    assert row["objective"] == "VII" and row["label"] == "disgust"
    assert Path(row["frames"]).name == "EP03_02"
    assert s["onset"].dtype == "Int64"
    # The '/' apex is recorded as missing, not imputed.
    slash = s.set_index("sample_id").loc["casme2/sub02/EP06_02f"]
    assert pd.isna(slash["apex"]) and slash["apex_source"] == "missing"
    assert ds.counts["apex_missing"] == 1 and ds.counts["apex_unresolved"] == 1
    assert any("no annotated apex" in w for w in ds.warnings)
    assert ds.identities is True


def test_casme2_pins_sheet_and_names_unknown_hash(casme2_root):
    ds, _ = load("casme2", casme2_root)
    sheet = casme2_root / "CASME2-coding-20190701.xlsx"
    digest = sha256(sheet)
    assert ds.annotation_files == {str(sheet): digest}
    assert digest in ds.sheet_versions[str(sheet)] and "2019-07-01 layout" in ds.sheet_versions[str(sheet)]
    assert any(digest in w for w in ds.warnings)
    fp = ds.fingerprint()
    assert len(fp["sample_list_sha256"]) == 64


def test_casme2_known_sheet_is_named(casme2_root, monkeypatch):
    from mebench.data import casme2

    sheet = casme2_root / "CASME2-coding-20190701.xlsx"
    monkeypatch.setitem(casme2.KNOWN_SHEETS, sha256(sheet), "CASME II coding 2019-07-01")
    ds, _ = load("casme2", casme2_root)
    assert ds.sheet_versions[str(sheet)] == "CASME II coding 2019-07-01"
    assert not any("unrecognised" in w for w in ds.warnings)


def test_casme2_label_sets(casme2_root):
    ds, s = load("casme2", casme2_root, labels="5class")
    assert set(s["label"]) == {"happiness", "disgust", "repression", "surprise", "others"}
    dropped = {d["sample_id"]: d["reason"] for d in ds.skipped}
    assert set(dropped) == {"casme2/sub04/EP19_01", "casme2/sub05/EP18_03"}  # sadness, fear
    assert "not in label set '5class'" in dropped["casme2/sub04/EP19_01"]
    assert ds.counts["dropped_by_label_set"] == 2
    _, s = load("casme2", casme2_root, labels="megc3")
    mapped = dict(zip(s["label_raw"], s["label"]))
    assert mapped == {"happiness": "positive", "disgust": "negative", "repression": "negative", "surprise": "surprise"}
    _, s = load("casme2", casme2_root, labels="objective")
    assert set(s["label"]) <= {"I", "II", "III", "IV", "V", "VI", "VII"} and len(s) == len(F.CASME2_ROWS)
    with pytest.raises(ConfigError, match="labels='7class'.*all, 5class, megc3, objective"):
        DATASETS.create("casme2", root=casme2_root, labels="7class")


def test_casme2_2014_release_has_no_objective_classes(tmp_path):
    F.write_casme2(tmp_path, release="2014")
    ds, s = load("casme2", tmp_path)
    assert "2014-05-08 layout" in next(iter(ds.sheet_versions.values()))
    assert s["objective"].isna().all()
    with pytest.raises(DataError, match="Objective Classes") as err:
        load("casme2", tmp_path, labels="objective")
    assert "CASME2-coding-20140508.xlsx" in str(err.value)


def test_casme2_apex_policies(casme2_root):
    ds, s = load("casme2", casme2_root, apex="middle")
    row = s.set_index("sample_id").loc["casme2/sub02/EP06_02f"]
    assert row["apex"] == (90 + 97) // 2 and row["apex_source"] == "middle"
    assert ds.counts["apex_resolved_middle"] == 1 and ds.counts["apex_resolved"] == 1
    # annotated apexes are never replaced
    assert (s.loc[s["apex_source"] == "annotated", "apex"].tolist() ==
            [r[3] for r in F.CASME2_ROWS if r[3] != "/"])


def test_casme2_apex_spot_is_marked_by_the_loader_and_spotted_before_extraction(casme2_root):
    from mebench.face.spotting import resolve_spot_apexes

    ds, s = load("casme2", casme2_root, apex="spot")
    row = s.set_index("sample_id").loc["casme2/sub02/EP06_02f"]
    assert pd.isna(row["apex"]) and row["apex_source"] == "spot"  # loaders never run the face pipeline
    assert ds.counts["apex_spot_pending"] == 1
    resolved, counts = resolve_spot_apexes(s)
    assert counts["apex_resolved_spot"] == 1 and "apex_spot_without_landmark_model" not in counts
    assert 90 <= resolved.set_index("sample_id").loc["casme2/sub02/EP06_02f", "apex"] <= 97
    untouched = s["apex_source"] != "spot"
    assert resolved.loc[untouched, "apex"].equals(s.loc[untouched, "apex"])


def test_apex_spot_failure_is_an_error_or_a_recorded_skip(casme2_root):
    from mebench.face.spotting import resolve_spot_apexes

    _, s = load("casme2", casme2_root, apex="spot")
    target = s.index[s["sample_id"] == "casme2/sub02/EP06_02f"][0]
    s.loc[target, "frames"] = str(Path(s.loc[target, "frames"]).parent / "no_such_clip")
    with pytest.raises(DataError, match="cannot spot its apex") as err:
        resolve_spot_apexes(s)
    assert "--on-error skip" in str(err.value)
    resolved, counts = resolve_spot_apexes(s, on_error="skip")
    assert "casme2/sub02/EP06_02f" not in set(resolved["sample_id"]) and len(resolved) == len(s) - 1
    assert counts["skipped"][0]["sample_id"] == "casme2/sub02/EP06_02f"
    assert counts["skipped"][0]["stage"] == "apex-spot" and counts["apex_resolved_spot"] == 0


def test_casme2_cropped_variant(tmp_path):
    F.write_casme2(tmp_path, variant="cropped")
    _, s = load("casme2", tmp_path, variant="cropped")
    assert all("/Cropped/" in f for f in s["frames"])
    assert any(p.name.startswith("reg_img") for p in Path(s["frames"].iloc[0]).iterdir())
    with pytest.raises(DataError, match="frame folder .* not found"):
        load("casme2", tmp_path, variant="raw")
    _, s = load("casme2", tmp_path, frames_dir="Cropped")
    assert all("/Cropped/" in f for f in s["frames"])
    with pytest.raises(DataError, match="frames folder not found"):
        load("casme2", tmp_path, frames_dir="Nope")


def test_casme2_missing_frame_folder_names_file_row_and_sample(tmp_path):
    F.write_casme2(tmp_path)
    shutil.rmtree(tmp_path / "CASME2_RAW_selected" / "sub02" / "EP13_02")
    with pytest.raises(DataError) as err:
        load("casme2", tmp_path)
    text = str(err.value)
    assert "casme2/sub02/EP13_02" in text and "row 6" in text and "CASME2-coding-20190701.xlsx" in text
    assert "variant" in text  # suggests a fix
    ds, s = load("casme2", tmp_path, bad_frames="skip")
    assert len(s) == len(F.CASME2_ROWS) - 1
    assert ds.skipped[0]["sample_id"] == "casme2/sub02/EP13_02" and "not found" in ds.skipped[0]["reason"]
    assert any("skipped for frame problems" in w for w in ds.warnings)


def test_casme2_onset_outside_frames_is_an_error(tmp_path):
    rows = list(F.CASME2_ROWS)
    rows[0] = (1, "EP02_01f", 46, 50, 55, 12, "happiness", 1)
    F.write_casme2(tmp_path, rows=rows)
    folder = tmp_path / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    for n in range(52, 58):
        (folder / f"img{n}.jpg").unlink()
    with pytest.raises(DataError) as err:
        load("casme2", tmp_path)
    text = str(err.value)
    assert "46..55" in text and "(44..51)" in text and "row 2" in text and "casme2/sub01/EP02_01f" in text


def test_casme2_unreadable_onset_names_row_and_column(tmp_path):
    rows = list(F.CASME2_ROWS)
    rows[2] = (2, "EP01_11f", "eleven", 15, 20, "R2+15", "repression", 6)
    F.write_casme2(tmp_path, rows=rows)
    with pytest.raises(DataError) as err:
        load("casme2", tmp_path)
    text = str(err.value)
    assert "row 4" in text and "'OnsetFrame'" in text and "'eleven'" in text


def test_casme2_missing_sheet_column_and_sheet_name(tmp_path):
    with pytest.raises(DataError, match="CASME II coding sheet not found") as err:
        load("casme2", tmp_path)
    assert "--dataset-opt sheet=" in str(err.value)
    F.write_casme2(tmp_path, sheet_name="Coding")
    with pytest.raises(DataError, match="no sheet 'Sheet1'.*'Coding'"):
        load("casme2", tmp_path)


def test_casme2_missing_column_names_it(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", None, "Action Units", "Estimated Emotion"])
    ws.append([1, "EP02_01f", None, 46, 50, None, 12, "happiness"])
    wb.save(tmp_path / "CASME2-coding-20190701.xlsx")
    with pytest.raises(DataError) as err:
        load("casme2", tmp_path)
    assert "'OffsetFrame'" in str(err.value) and "CASME2-coding-20190701.xlsx" in str(err.value)


def test_casme2_unknown_option_is_rejected(casme2_root):
    with pytest.raises(ConfigError, match="does not take option 'lables'.*labels"):
        DATASETS.create("casme2", root=casme2_root, lables="5class")


def test_synthetic_casme2_layout_round_trip(tmp_path):
    from mebench.data.synthetic import SyntheticDataset, write_casme2_layout

    original = SyntheticDataset(subjects=3, clips_per_subject=3, frames=10, size=32, seed=3).load("emotion")
    write_casme2_layout(original, tmp_path, variant="raw")
    ds, back = load("casme2", tmp_path)
    assert len(back) == len(original)
    key = lambda sid: sid.split("/", 1)[1]  # noqa: E731
    a = original.assign(k=original["sample_id"].map(key)).set_index("k").sort_index()
    b = back.assign(k=back["sample_id"].map(key)).set_index("k").sort_index()
    assert list(a.index) == list(b.index)
    assert (a["subject_id"].str.split("/").str[1] == b["subject_id"].str.split("/").str[1]).all()
    for col in ("onset", "apex", "offset", "n_frames"):
        assert a[col].astype(int).tolist() == b[col].astype(int).tolist(), col
    assert a["emotion"].tolist() == b["emotion"].tolist() == b["label"].tolist()
    assert [tuple(int(x) for x in s.split("+")) for s in a["aus"]] == list(b["aus"])
    assert not ds.problems or all(not p["fatal"] for p in ds.problems)
    assert ds.counts.get("apex_missing", 0) == 0


# -- SAMM -------------------------------------------------------------------------------------------
def test_samm_notes_rows_padding_and_au_notation(tmp_path):
    info = F.write_samm(tmp_path)
    ds, s = load("samm", tmp_path)
    assert len(s) == len(F.SAMM_ROWS)
    by = s.set_index("sample_id")
    assert "samm/009/009_2_1" in by.index  # Subject cell 9 (a number) -> 009
    assert by.loc["samm/006/006_1_2", "sheet_row"] == 15
    contempt = by.loc["samm/006/006_1_3"]
    assert contempt["aus"] == (1, 4, 14) and contempt["aus_alternatives"] == "A1/4" and contempt["aus_uncertain"]
    # offset -1 is not coded: the clip's last frame, flagged and counted
    other = by.loc["samm/009/009_2_1"]
    assert other["offset"] == 400 + 8 + 2 and other["offset_unclear"]
    assert ds.counts["offset_uncoded"] == 1
    assert pd.isna(by.loc["samm/007/007_5_2", "apex"])  # apex -1 = not coded
    first = Path(by.loc["samm/006/006_1_2", "frames"])
    assert (first / "006_05562.jpg").is_file()
    assert str(info["sheet"]) in ds.annotation_files


def test_samm_uncoded_offsets_give_one_warning(tmp_path):
    rows = list(F.SAMM_ROWS)
    rows[0] = rows[0][:5] + (-1,) + rows[0][6:]
    F.write_samm(tmp_path, rows=rows)
    ds, _ = load("samm", tmp_path)
    offset_warnings = [w for w in ds.warnings if "no coded offset" in w]
    assert ds.counts["offset_uncoded"] == 2 and len(offset_warnings) == 1 and "2 sample(s)" in offset_warnings[0]


def test_samm_label_sets(tmp_path):
    F.write_samm(tmp_path)
    _, s = load("samm", tmp_path, labels="5class")
    assert set(s["label"]) == {"anger", "contempt", "happiness", "surprise", "other"}
    _, s = load("samm", tmp_path, labels="megc3")
    assert s.groupby("label").size().to_dict() == {"negative": 5, "positive": 1, "surprise": 1}


def test_samm_missing_sheet_tab_lists_tabs(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "FACS_Codes"
    wb.save(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx")
    with pytest.raises(DataError, match="no sheet 'MICRO_ONLY'.*'FACS_Codes'"):
        load("samm", tmp_path)


# -- SMIC -------------------------------------------------------------------------------------------
def test_smic_folders_and_apex_policy(tmp_path):
    F.write_smic(tmp_path)
    ds, s = load("smic", tmp_path)
    assert len(s) == len(F.SMIC_CLIPS) and set(s["label"]) == {"negative", "positive", "surprise"}
    row = s.set_index("sample_id").loc["smic/s1/s1_ne_01"]
    assert (row["onset"], row["offset"], row["n_frames"]) == (41089, 41097, 9)
    assert row["apex"] == (41089 + 41097) // 2 and row["apex_source"] == "middle"
    assert ds.counts["apex_resolved_middle"] == len(s)
    assert any("first and last frame" in w for w in ds.warnings)
    ds, s = load("smic", tmp_path, apex="annotated")
    assert s["apex"].isna().all() and ds.counts["apex_unresolved"] == len(s)


def test_smic_sheet_sets_onset_offset(tmp_path):
    info = F.write_smic(tmp_path, sheet=True)
    ds, s = load("smic", tmp_path, sheet="smic_onsets.csv")
    row = s.set_index("sample_id").loc["smic/s2/s2_sur_01"]
    assert (row["onset"], row["offset"]) == (301, 308)
    assert str(info["sheet"]) in ds.annotation_files


def test_smic_duplicate_sheet_row_and_unreadable_subject_folder(tmp_path):
    info = F.write_smic(tmp_path, sheet=True)
    lines = info["sheet"].read_text().splitlines()
    info["sheet"].write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(DataError, match="second sheet row") as err:
        load("smic", tmp_path, sheet="smic_onsets.csv")
    assert "smic_onsets.csv" in str(err.value) and "row 8" in str(err.value)
    F.write_frames(tmp_path / "HS" / "subjectX" / "micro" / "negative" / "x_01", range(1, 5),
                   lambda n: f"image{n:06d}.bmp", ext=".bmp")
    ds, s = load("smic", tmp_path)
    assert len(s) == len(F.SMIC_CLIPS) and ds.counts["folders_ignored"] == 1
    assert any("subjectX" in w for w in ds.warnings)


def test_smic_without_hs_folder(tmp_path):
    with pytest.raises(DataError, match="SMIC-HS folder not found|no SMIC-HS clips"):
        load("smic", tmp_path)


# -- CAS(ME)^3 --------------------------------------------------------------------------------------
def test_casme3a_several_mes_per_recording(tmp_path):
    F.write_casme3a(tmp_path)
    ds, s = load("casme3a", tmp_path)
    assert len(s) == len(F.CASME3_ROWS)
    assert s["sample_id"].str.startswith("casme3a/spNO.1/a/").sum() == 2
    assert all(Path(f).name == "color" for f in s["frames"])
    _, s = load("casme3a", tmp_path, labels="megc3")
    assert set(s["label"]) == {"negative", "positive", "surprise"}


def test_casme3a_duplicates_need_dedupe(tmp_path):
    F.write_casme3a(tmp_path, duplicate=True)
    with pytest.raises(DataError) as err:
        load("casme3a", tmp_path)
    text = str(err.value)
    assert "spNO.1" in text and "rows 2 and 8" in text and "dedupe=true" in text
    ds, s = load("casme3a", tmp_path, dedupe=True)
    assert len(s) == len(F.CASME3_ROWS)
    assert ds.skipped == [{"sample_id": "casme3a/spNO.1/a/10-18", "reason": "duplicate of sheet row 2 (dedupe=true)"}]


# -- MEGC 2019 --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def megc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("megc")
    F.write_casme2(root / "CASME2")
    F.write_samm(root / "SAMM")
    F.write_smic(root / "SMIC")
    return root


def test_megc2019_composite(megc_root):
    ds, s = load("megc2019", megc_root)
    assert set(s["dataset"]) == {"casme2", "samm", "smic"}
    assert set(s["label"]) == {"negative", "positive", "surprise"}
    assert s["subject_id"].str.split("/").str[0].tolist() == s["dataset"].tolist()
    skipped = {d["sample_id"]: d["reason"] for d in ds.skipped}
    for sid in ("casme2/sub04/EP12_01f", "casme2/sub05/EP09_05f"):
        assert "official MEGC 2019" in skipped[sid] and sid not in set(s["sample_id"])
    assert ds.counts["excluded_official"] == 2
    assert sum("sub24" in w for w in ds.warnings) == 3  # exclusions not present in this copy
    assert any("official composite has 145" in w for w in ds.warnings)
    assert len(ds.annotation_files) == 2  # casme2 and samm sheets
    assert ds.counts["smic.apex_resolved_middle"] == len(F.SMIC_CLIPS)


def test_megc2019_three_roots_and_errors(megc_root):
    _, a = load("megc2019", None, casme2=str(megc_root / "CASME2"), samm=str(megc_root / "SAMM"),
                smic=str(megc_root / "SMIC"))
    _, b = load("megc2019", megc_root)
    assert a["sample_id"].tolist() == b["sample_id"].tolist()
    with pytest.raises(ConfigError, match="casme2=PATH"):
        DATASETS.create("megc2019")
    with pytest.raises(DataError, match="samm root does not exist"):
        DATASETS.create("megc2019", casme2=str(megc_root / "CASME2"), samm=str(megc_root / "nope"),
                        smic=str(megc_root / "SMIC"))


# -- Real-life Trial --------------------------------------------------------------------------------
def test_reallife_trial_csv_with_identity_columns(tmp_path):
    info = F.write_reallife(tmp_path)
    assert b"\r\n" in info["csv"].read_bytes()
    ds, s = load("reallife-trial", tmp_path)
    assert len(s) == 24 and s["subject_id"].nunique() == 6 and ds.identities
    mumin = [c for c in s.columns if c.startswith("mumin_")]
    assert len(mumin) == 39 and mumin[8] == "mumin_close_r" and mumin[9] == "mumin_x_open"
    assert set(s["label"]) == {"deceptive", "truthful"} and set(s["sex"]) == {"F", "M"}
    assert s["frames"].isna().all() and ds.counts["clips_missing"] == 24
    assert any("annotation-only" in w for w in ds.warnings)


def test_reallife_trial_identities_file_and_clips(tmp_path):
    F.write_reallife(tmp_path, identities="file", clips=True)
    ds, s = load("reallife-trial", tmp_path, identities="identities.csv")
    assert s["subject_id"].str.startswith("reallife-trial/speaker").all() and ds.identities
    row = s.set_index("sample_id").loc["reallife-trial/trial_lie_001"]
    assert row["frames"].endswith("Clips/Deceptive/trial_lie_001.mp4") and row["n_frames"] == 4
    assert row["transcript"].endswith("Transcription/Deceptive/trial_lie_001.txt")


def test_reallife_trial_without_identities_refuses_subject_wise(tmp_path):
    from mebench.protocols import GroupKFold, KFold, LeaveOneSubjectOut

    F.write_reallife(tmp_path, identities=None)
    ds, s = load("reallife-trial", tmp_path)
    assert ds.identities is False and s["subject_id"].nunique() == len(s)
    assert any("no speaker identities" in w for w in ds.warnings)
    for protocol in (LeaveOneSubjectOut(), GroupKFold(k=3)):
        with pytest.raises(LeakageError, match="no speaker identities.*clips of one person would leak"):
            protocol.run(s, identities=ds.identities)
    report = KFold(k=3).run(s, identities=ds.identities)
    assert any(w.startswith("LEAKAGE UNKNOWN") for w in report.warnings)


def test_reallife_trial_identities_file_must_cover_all_clips(tmp_path):
    info = F.write_reallife(tmp_path, identities="file")
    lines = info["identities"].read_text().splitlines()
    info["identities"].write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(DataError, match="no subject for 2 clip") as err:
        load("reallife-trial", tmp_path, identities="identities.csv")
    assert "identities.csv" in str(err.value)


def test_reallife_trial_errors_name_row_and_column(tmp_path):
    rows = F.reallife_rows()
    clip, subject, sex, label, gestures = rows[4]
    rows[4] = (clip, subject, sex, "maybe", gestures)
    rows[6] = rows[6][:4] + ([2] + rows[6][4][1:],)
    F.write_reallife(tmp_path, rows=rows)
    with pytest.raises(DataError) as err:
        load("reallife-trial", tmp_path)
    text = str(err.value)
    assert "row 6" in text and "'class'" in text and "'maybe'" in text and "1 more problem" in text


def test_reallife_trial_missing_gesture_column(tmp_path):
    info = F.write_reallife(tmp_path)
    text = info["csv"].read_text().replace("lipsUp", "lipsUpp")
    info["csv"].write_text(text)
    with pytest.raises(DataError, match="lacks 1 MUMIN gesture column.*lipsUp"):
        load("reallife-trial", tmp_path)


# -- DOLOS ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dolos_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dolos")
    F.write_dolos(root, videos=2)
    return root


def test_dolos_sheets_quirks_and_folds(dolos_root):
    ds, s = load("dolos", dolos_root)
    clips = F.dolos_clips()
    assert len(s) == len(clips) and ds.identities
    assert s["subject_id"].nunique() == len(F.DOLOS_PARTICIPANTS)  # name spellings merged
    assert "dolos/john_smith" in set(s["subject_id"])
    assert ds.counts["participant_spellings_merged"] == 3
    assert set(s["label"]) == {"truthful", "deceptive"}
    assert set(s["label_raw"]) == {"truth", "Truth", "truth ", "deception", "Deception", "lie"}
    by = s.set_index("clip")
    truth = {c["file_name"]: c["label"] for c in clips}
    assert by["label"].to_dict() == truth
    # duplicated file name: kept once, the second row recorded as skipped
    assert ds.counts["duplicate_rows_dropped"] == 1 and "duplicate of Dolos.xlsx row" in ds.skipped[0]["reason"]
    # MUMIN features come from train_dolos.xlsx
    mumin = [c for c in s.columns if c.startswith("mumin_")]
    assert len(mumin) == len(F.DOLOS_FEATURES) and "mumin_single_hand" in mumin
    assert [by.loc[clips[0]["file_name"], c] for c in mumin] == clips[0]["present"]
    # reversed (Dolos.xlsx) and unparsable (timestamps csv) times are counted and left empty
    assert ds.counts["times_reversed"] == 1 and ds.counts["times_unparsable"] == 1
    # the reversed pair in Dolos.xlsx is replaced by the valid one of dolos_timestamps.csv, and counted
    assert by.loc[clips[1]["file_name"], "start_s"] == clips[1]["start"]
    assert ds.counts["times_from_timestamps_csv"] == 1
    assert by.loc[clips[0]["file_name"], "end_s"] == clips[0]["end"]
    assert by.loc[clips[0]["file_name"], "official_fold"] == "fold1=test;fold2=train;fold3=train"
    assert by.loc[clips[0]["file_name"], "subsets"] == "long+male"
    assert by["frames"].notna().sum() == 2
    assert len(ds.annotation_files) == 3 + 10  # 3 sheets, 6 fold lists, 4 subset lists


def test_dolos_subset_and_missing_master(tmp_path, dolos_root):
    ds, s = load("dolos", dolos_root, subset="female")
    assert set(s["sex"]) == {"F"} and ds.counts["outside_subset"] == len(F.dolos_clips()) - len(s)
    F.write_dolos(tmp_path, master=False)
    ds, s = load("dolos", tmp_path)
    assert ds.identities is False and s["subject_id"].str.startswith("dolos/clip-").all()


def test_dolos_conflicting_duplicate_and_bad_label(tmp_path):
    clips = F.dolos_clips()
    clips.append(dict(clips[5], spelled="lie" if clips[5]["label"] == "truthful" else "truth"))
    F.write_dolos(tmp_path / "a", clips=clips, duplicate=False, protocols=False)
    ds, s = load("dolos", tmp_path / "a")
    name = clips[5]["file_name"]
    assert name not in set(s["clip"]) and ds.counts["conflicting_duplicates_dropped"] == 2
    clips = F.dolos_clips()
    clips[4] = dict(clips[4], spelled="perhaps")
    F.write_dolos(tmp_path / "b", clips=clips, duplicate=False)
    with pytest.raises(DataError) as err:
        load("dolos", tmp_path / "b")
    assert "'perhaps'" in str(err.value) and "Dolos.xlsx" in str(err.value) and "row 8" in str(err.value)


# -- Bag-of-Lies, MU3D, Kaggle ----------------------------------------------------------------------
def test_bag_of_lies(tmp_path):
    F.write_bag_of_lies(tmp_path)
    ds, s = load("bag-of-lies", tmp_path)
    assert len(s) == 12 and s["subject_id"].nunique() == 4
    row = s.set_index("sample_id").loc["bag-of-lies/user1/run0"]
    assert row["label"] == "truthful" and row["frames"].endswith("Finalised/User_1/run_0/video.mp4")
    assert row["n_frames"] == 3


def test_bag_of_lies_path_escaping_root_is_refused(tmp_path):
    F.write_bag_of_lies(tmp_path, users=1, runs=1, videos=False)
    csv_path = tmp_path / "Annotations.csv"
    csv_path.write_text(csv_path.read_text().replace("./Finalised/User_0/run_0/video.mp4", "../../etc/video.mp4"))
    with pytest.raises(DataError, match="escapes the dataset root") as err:
        load("bag-of-lies", tmp_path)
    assert "row 2" in str(err.value)


def test_mu3d(tmp_path):
    F.write_mu3d(tmp_path, videos=True)
    ds, s = load("mu3d", tmp_path)
    assert len(s) == 16 and s["subject_id"].nunique() == 4
    row = s.set_index("sample_id").loc["mu3d/BM002_2PL"]
    assert row["label"] == "deceptive" and row["sex"] == "M" and row["subject_id"] == "mu3d/BM002"
    assert row["frames"].endswith("BM002_2PL.mp4") and ds.counts["targets_listed"] == 4


def test_mu3d_bad_veracity_names_row(tmp_path):
    info = F.write_mu3d(tmp_path)
    from openpyxl import load_workbook

    wb = load_workbook(info["codebook"])
    wb["Video-Level Data"]["C4"] = "yes"
    wb.save(info["codebook"])
    with pytest.raises(DataError) as err:
        load("mu3d", tmp_path)
    assert "row 4" in str(err.value) and "'Veracity'" in str(err.value)


def test_kaggle_me_lie_layouts(tmp_path):
    F.write_kaggle(tmp_path / "a", subjects=True)
    ds, s = load("kaggle-me-lie", tmp_path / "a")
    assert ds.identities and s["subject_id"].nunique() == 3 and set(s["label"]) == {"truthful", "deceptive"}
    F.write_kaggle(tmp_path / "b", subjects=False)
    ds, s = load("kaggle-me-lie", tmp_path / "b")
    assert ds.identities is False
    F.write_frames(tmp_path / "a" / "LIE", [99], lambda n: f"x{n}.jpg")
    with pytest.raises(DataError, match="both images and sub-folders"):
        load("kaggle-me-lie", tmp_path / "a")


# -- manifest ---------------------------------------------------------------------------------------
def test_manifest_videos_frames_and_single_images(tmp_path):
    F.write_manifest(tmp_path)
    ds, s = load("manifest", tmp_path)
    by = s.set_index("sample_id")
    assert by["frames_kind"].to_dict() == {"s1": "frames", "s2": "frames", "s3": "video", "s4": "image", "s5": "image"}
    assert by.loc["s1", "n_frames"] == 8 and by.loc["s3", "n_frames"] == 6 and by.loc["s4", "n_frames"] == 1
    assert pd.isna(by.loc["s4", "onset"]) and pd.isna(by.loc["s5", "apex"])
    assert by.loc["s1", "subject_id"] == "manifest/p1" and by.loc["s2", "apex_source"] == "missing"
    assert by.loc["s3", "session"] == "morning"  # extra columns are kept
    assert ds.counts["single_image_samples"] == 2
    from mebench.io import open_clip

    assert open_clip(by.loc["s4", "frames"]).n_frames == 1


def test_manifest_path_rules(tmp_path):
    F.write_manifest(tmp_path / "a", extra_rows=[["s6", "p3", "sad", "../../outside.mp4", "", "", "", "", ""]])
    with pytest.raises(DataError, match="escapes the dataset root") as err:
        load("manifest", tmp_path / "a")
    assert "row 7" in str(err.value)
    F.write_manifest(tmp_path / "b", extra_rows=[["s6", "p3", "sad", str(tmp_path / "x.mp4"), "", "", "", "", ""]])
    with pytest.raises(DataError, match="escapes the dataset root"):
        load("manifest", tmp_path / "b")
    F.write_manifest(tmp_path / "c", extra_rows=[["s6", "p3", "sad", "data/apex/s5_apex.jpg", 1, "", 3, "", ""]])
    with pytest.raises(DataError, match="single-image sample has no onset/offset") as err:
        load("manifest", tmp_path / "c")
    assert "row 7" in str(err.value)
    F.write_manifest(tmp_path / "d", extra_rows=[["s6", "p3", "sad", "data/missing", "", "", "", "", ""]])
    with pytest.raises(DataError, match="'data/missing' not found"):
        load("manifest", tmp_path / "d")


def test_manifest_header_case_and_bad_frames_skip(tmp_path):
    F.write_manifest(tmp_path, extra_rows=[["s6", "p3", "sad", "data/missing", "", "", "", "", ""]])
    path = tmp_path / "manifest.csv"
    path.write_text(path.read_text().replace("sample_id,subject,label,path", "Sample_ID,Subject,Label,Path", 1))
    ds, s = load("manifest", tmp_path, bad_frames="skip")
    assert [c for c in s.columns if c.casefold() in ("sample_id", "subject", "label", "path")] == ["sample_id", "label"]
    assert "session" in s.columns and len(s) == 5
    assert ds.skipped[0]["sample_id"] == "s6" and "not found" in ds.skipped[0]["reason"]
    assert ds.counts["skipped_bad_frames"] == 1 and any("skipped for frame problems" in w for w in ds.warnings)


def test_manifest_csv_option_chooses(tmp_path):
    F.write_manifest(tmp_path, name="train.csv")
    F.write_csv(tmp_path / "other.csv", [["sample_id", "subject", "label", "path"], ["z", "p", "x", "data/clipA"]])
    with pytest.raises(DataError, match="several CSV files.*csv=NAME.csv"):
        load("manifest", tmp_path)
    _, s = load("manifest", tmp_path, csv="other.csv")
    assert s["sample_id"].tolist() == ["z"]


# -- annotation features ----------------------------------------------------------------------------
def test_mumin_and_sex_only_extractors(tmp_path):
    from mebench.registry import EXTRACTORS

    F.write_reallife(tmp_path)
    _, s = load("reallife-trial", tmp_path)
    X = EXTRACTORS.create("mumin").fit(s).transform(s)
    assert X.shape == (24, 39) and set(np.unique(X)) <= {0.0, 1.0}
    assert X[:, :8].mean() > X[:, 8:].mean()
    X = EXTRACTORS.create("mumin", columns="Smile,close_r").transform(s)
    assert X.shape == (24, 2)
    with pytest.raises(ConfigError, match="unknown column"):
        EXTRACTORS.create("mumin", columns=["nope"]).transform(s)
    sex = EXTRACTORS.create("sex-only").transform(s)
    assert sex.shape == (24, 2) and (sex.sum(axis=1) == 1).all()
    assert (sex[:, 0] == (s["sex"] == "F")).all()
    bad = s.copy()
    bad.loc[3, "sex"] = None
    with pytest.raises(DataError, match="no sex recorded"):
        EXTRACTORS.create("sex-only").transform(bad)
    ext = EXTRACTORS.create("sex-only", allow_missing=True)
    assert ext.transform(bad)[3].tolist() == [0.0, 0.0, 1.0] and ext.counts_["sex_missing"] == 1
    ext.transform(bad)
    assert ext.counts_["sex_missing"] == 1  # counts_ is set fresh by each transform call
    with pytest.raises(DataError, match="no MUMIN annotation columns"):
        EXTRACTORS.create("mumin").transform(s.drop(columns=[c for c in s.columns if c.startswith("mumin_")]))
    missing = s.copy()
    missing["mumin_smile"] = missing["mumin_smile"].astype(float)
    missing.loc[0, "mumin_smile"] = np.nan
    with pytest.raises(DataError, match="reallife-trial/trial_lie_001.*'smile'"):
        EXTRACTORS.create("mumin").transform(missing)


def test_annotation_extractors_example_samples_run():
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    from mebench.data.schema import validate_samples
    from mebench.features.annotations import MUMIN, SexOnly

    for cls in (MUMIN, SexOnly):
        samples = validate_samples(cls.example_samples(seed=1))
        ext = clone(cls()).fit(samples)
        X = ext.transform(samples)
        assert X.shape[0] == len(samples)
        assert LogisticRegression().fit(X, samples["label"]).predict(X).shape == (len(samples),)


def test_catalog_imports_nothing_heavy():
    import subprocess

    code = ("import sys, mebench.data.catalog as c; "
            "heavy = [m for m in ('pandas', 'torch', 'cv2', 'mediapipe', 'openpyxl', 'sklearn') if m in sys.modules]; "
            "assert not heavy, heavy; print(len(c.BUILTINS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    from mebench.data.catalog import BUILTINS
    from mebench.registry import REGISTRIES

    for kind, name, target, _ in BUILTINS:
        assert name in REGISTRIES[kind], name
        REGISTRIES[kind].get(name)  # the lazy target resolves
