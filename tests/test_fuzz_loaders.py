"""Fuzzed inputs (hypothesis): malformed sheets, random cells, unicode, missing columns, odd frame names.

Every loader's parser and the samples-table validator either succeed with a valid table or raise one
of mebench's own errors (``MebenchError``); nothing else may escape. Each loader starts from a valid
miniature copy (tests/fixtures_datasets.py), then one example edits cells, drops a column or rows,
appends junk rows, corrupts the file's bytes, or drops oddly named files into its frame folders.
"""
from __future__ import annotations

import csv
import io
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

from mebench.data import sheets  # noqa: E402
from mebench.data.dolos import info_field, sheet_seconds  # noqa: E402
from mebench.data.mumin import gesture_value  # noqa: E402
from mebench.data.schema import REQUIRED, validate_samples  # noqa: E402
from mebench.errors import MebenchError, SchemaError  # noqa: E402
from mebench.registry import DATASETS  # noqa: E402

# Small by default so the file runs in well under a minute; MEBENCH_FUZZ_SCALE=20 searches harder.
SCALE = max(1, int(os.environ.get("MEBENCH_FUZZ_SCALE", "1")))
FUZZ = settings(max_examples=10 * SCALE, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
CHEAP = settings(max_examples=150 * SCALE, deadline=None, database=None)

# -- values -----------------------------------------------------------------------------------------
SPECIAL = ["", " ", "/", "?", "-1", "0", "1", "nan", "None", "N/A", "../../../outside_clip", "/etc/passwd",
           "C:\\x", "a\\b", "sub01", "EP02_01f", "006", "spNO.1", "truth", "lie", "Deception ", "happiness",
           "4+7+L10", "A1/4+R14?", "[2:10,2:11]", "02:06:00", "2:06", "\u200b", "\ufeff", "\u00a0", "1e400",
           "\uff11\uff12", "\u0663", "99999999999999999999", "-99999999999999999999", "1/0", "😀", "Ä" * 40,
           "a,b", '"', "\u202e", "x" * 300, "d/" * 200]
# Cells openpyxl can store: no surrogates and no C0 control characters.
XLSX_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
CSV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


def cells(text):
    return st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-3, 300),
                     st.floats(allow_nan=False, allow_infinity=False), text, st.sampled_from(SPECIAL))


MUTATIONS = {
    kind: st.fixed_dictionaries({
        "edits": st.lists(st.tuples(st.sampled_from(["data"] * 5 + ["header"]), st.integers(0, 10**6),
                                    st.integers(0, 10**6), cells(text)), max_size=6),
        "drop_column": st.one_of(*[st.none()] * 3, st.integers(0, 10**6)),
        "drop_rows": st.lists(st.integers(0, 10**6), max_size=3),
        "extra_rows": st.lists(st.lists(cells(text), max_size=10), max_size=2),
        "corrupt": st.sampled_from([None] * 8 + ["truncate", "garbage", "empty"]),
    })
    for kind, text in (("xlsx", XLSX_TEXT), ("csv", CSV_TEXT))
}


def mutate(rows: list[list], m: dict, header_rows: int = 1) -> list[list]:
    """Apply one mutation; most cell edits land in data rows (below the first ``header_rows`` rows)."""
    rows = [list(r) for r in rows]
    width = max((len(r) for r in rows), default=1) or 1
    for where, r, c, value in m["edits"]:
        first = header_rows if where == "data" and len(rows) > header_rows else 0
        if rows:
            row = rows[first + r % (len(rows) - first)]
            row.extend([None] * (width - len(row)))
            row[c % width] = value
    if m["drop_column"] is not None:
        j = m["drop_column"] % width
        rows = [r[:j] + r[j + 1:] for r in rows]
    for k in m["drop_rows"]:
        if len(rows) > 1:
            rows.pop(k % len(rows))
    return rows + [list(r) for r in m["extra_rows"]]


def corrupt(path: Path, how: str | None) -> bool:
    if how is None:
        return False
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": bytes(range(256)) * 3, "empty": b""}[how])
    return True


def _xlsx_value(value):
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)  # Excel stores numbers as doubles; a longer integer is text in a real sheet
    return value


def write_xlsx(pristine: dict[str, list[list]], path: Path, sheet: str, m: dict, header_rows: int = 1) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    for k, (title, rows) in enumerate(pristine.items()):
        ws = wb.active if k == 0 else wb.create_sheet()
        ws.title = title
        for row in (mutate(rows, m, header_rows) if title == sheet else rows):
            ws.append([_xlsx_value(v) for v in row])
    wb.save(path)
    corrupt(path, m["corrupt"])


def read_xlsx(path: Path) -> dict[str, list[list]]:
    from openpyxl import load_workbook

    wb = load_workbook(path)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def write_csv(pristine: list[list], path: Path, m: dict, encoding: str = "utf-8", header_rows: int = 1) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(
        [["" if v is None else str(v) for v in row] for row in mutate(pristine, m, header_rows)])
    path.write_bytes(out.getvalue().encode(encoding, errors="replace"))
    corrupt(path, m["corrupt"])


def read_csv_rows(path: Path) -> list[list]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def attempt(name: str, root: Path, collect: bool = False, **opts) -> pd.DataFrame | None:
    """Load; only MebenchError may escape. A table that loads satisfies the samples contract."""
    try:
        ds = DATASETS.create(name, root=root, **opts)
        ds.collect_problems = collect
        samples = ds.load()
        ds.fingerprint()
    except MebenchError as exc:
        assert str(exc).strip(), "an error must say what is wrong"
        return None
    assert validate_samples(samples) is not None
    assert samples["subject_id"].str.startswith(tuple(f"{d}/" for d in samples["dataset"].unique())).all()
    return samples


# -- parsers of single cells ------------------------------------------------------------------------
ANY_CELL = st.one_of(cells(CSV_TEXT), st.datetimes(), st.times(), st.timedeltas(), st.dates(),
                     st.floats(allow_nan=True, allow_infinity=True))


@CHEAP
@given(value=ANY_CELL)
def test_cell_parsers_never_crash(value):
    assert isinstance(sheets.clean_text(value), str) and isinstance(sheets.header_key(value), str)
    n = sheets.parse_int(value)
    assert n is None or isinstance(n, int)
    f = sheets.parse_frame(value)
    assert f is None or abs(f) <= sheets.MAX_FRAME
    t = sheets.parse_time(value)
    assert t is None or (math.isfinite(t) and t >= 0)
    s = sheet_seconds(value)
    assert s is None or (math.isfinite(s) and s >= 0)
    assert sheets.deception_label(value) in (None, "truthful", "deceptive")
    assert sheets.sex_label(value) in (None, "F", "M")
    assert sheets.objective_class(value) in (None,) + sheets.ROMAN
    assert info_field(value) in (None, "url", "file_name", "label", "start", "end", "show", "participant", "gender")
    present, how = gesture_value(value)
    assert present in (None, 0, 1) and how
    try:
        code = sheets.parse_aus(value)
        assert all(isinstance(a, int) for a in code.aus)
    except ValueError as exc:  # the documented refusal, which every loader catches and reports
        assert "AU token" in str(exc)


@CHEAP
@given(text=CSV_TEXT)
def test_safe_path_refuses_or_stays_inside(tmp_path_factory, text):
    root = tmp_path_factory.getbasetemp() / "safe_root"
    root.mkdir(exist_ok=True)
    try:
        path = sheets.safe_path(root, text, root)
    except MebenchError:
        return
    assert root.resolve() in path.resolve().parents or path.resolve() == root.resolve()


@CHEAP
@given(data=st.binary(max_size=300))
def test_detect_encoding_of_any_bytes(data):
    try:
        encoding = sheets.detect_encoding(data)
    except MebenchError:
        return
    data.decode(encoding)


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".tsv", ".xlsx"]))
def test_read_table_on_any_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.getbasetemp() / f"any{suffix}"
    path.write_bytes(data)
    try:
        table = sheets.read_table(path, {"a": ["a"], "b": ["b"]}, ("a",))
    except MebenchError:
        return
    assert "a" in table.data.columns and len(table.rows) == len(table.data)


# -- the samples-table validator --------------------------------------------------------------------
COLUMN_NAMES = st.sampled_from(list(REQUIRED) + ["onset", "apex", "offset", "n_frames", "frames", "sex", "emotion",
                                                 "aus", "x", "", "Label", 3])
TABLE_CELL = st.one_of(cells(CSV_TEXT), st.just(np.nan), st.just(pd.NA), st.just(np.int64(5)),
                       st.just(np.float32(2.0)), st.lists(st.integers(), max_size=2), st.just(b"bytes"),
                       st.just(2**63), st.just(-(2**63) - 1), st.just(float("inf")))


@st.composite
def tables(draw):
    """Mostly a valid table, then damaged: cells replaced, columns added, dropped or renamed alike."""
    n = draw(st.integers(0, 5))
    columns = {"sample_id": [f"d/s{i}" for i in range(n)], "dataset": ["d"] * n,
               "subject_id": [f"d/p{i % 2}" for i in range(n)], "label": ["a", "b", "a", "b", "a"][:n]}
    for name in draw(st.lists(COLUMN_NAMES, max_size=6)):
        columns[name] = [draw(TABLE_CELL) for _ in range(n)]
    names = list(columns)
    for _ in range(draw(st.integers(0, 3))):
        if n:
            columns[draw(st.sampled_from(names))][draw(st.integers(0, n - 1))] = draw(TABLE_CELL)
    if draw(st.integers(0, 4)) == 0:
        columns.pop(draw(st.sampled_from(names)))
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})
    if draw(st.integers(0, 5)) == 0 and len(frame.columns) > 1:  # two columns with one name
        renamed = list(frame.columns)
        renamed[-1] = renamed[0]
        frame.columns = renamed
    return frame


@settings(max_examples=150 * SCALE, deadline=None, database=None)
@given(frame=tables())
def test_validator_accepts_or_raises_schema_error(frame):
    try:
        out = validate_samples(frame)
    except SchemaError as exc:
        assert str(exc).strip()
        return
    assert set(REQUIRED) <= set(out.columns) and out["sample_id"].is_unique
    for col in ("onset", "apex", "offset", "n_frames"):
        if col in out.columns:
            assert str(out[col].dtype) == "Int64"


def test_validator_rejects_non_tables():
    for bad in (None, [], {"sample_id": ["a"]}, "table"):
        with pytest.raises(SchemaError):
            validate_samples(bad)


# -- loaders: sheets --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """A valid miniature copy of every dataset, and each annotation file's pristine rows."""
    base = tmp_path_factory.mktemp("fuzz")
    out = {}
    F.write_casme2(base / "casme2")
    F.write_samm(base / "samm")
    F.write_casme3a(base / "casme3a")
    F.write_smic(base / "smic", sheet=True)
    F.write_reallife(base / "reallife", clips=True)
    F.write_dolos(base / "dolos", clips=F.dolos_clips(clips_per_participant=1), videos=2)
    F.write_bag_of_lies(base / "bag")
    F.write_mu3d(base / "mu3d", videos=True)
    F.write_manifest(base / "manifest")
    F.write_kaggle(base / "kaggle")
    out["casme2"] = (base / "casme2", base / "casme2" / "CASME2-coding-20190701.xlsx", "Sheet1")
    out["samm"] = (base / "samm", base / "samm" / "SAMM_Micro_FACS_Codes_v2.xlsx", "MICRO_ONLY")
    out["casme3a"] = (base / "casme3a", base / "casme3a" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", "Sheet1")
    out["mu3d"] = (base / "mu3d", base / "mu3d" / "MU3D Codebook.xlsx", "Video-Level Data")
    out["dolos-master"] = (base / "dolos", base / "dolos" / "Dolos.xlsx", "Sheet1")
    out["dolos-train"] = (base / "dolos", base / "dolos" / "train_dolos.xlsx", "Sheet1")
    out["smic"] = (base / "smic", base / "smic" / "smic_onsets.csv", None)
    out["reallife"] = (base / "reallife", base / "reallife" / "Annotation" / "All_Gestures_Deceptive and Truthful.csv",
                       None)
    out["dolos-stamps"] = (base / "dolos", base / "dolos" / "dolos_timestamps.csv", None)
    out["dolos-fold"] = (base / "dolos", base / "dolos" / "training_protocols" / "test_fold1.csv", None)
    out["bag"] = (base / "bag", base / "bag" / "Annotations.csv", None)
    out["manifest"] = (base / "manifest", base / "manifest" / "manifest.csv", None)
    pristine = {}
    for key, (root, path, sheet) in out.items():
        pristine[key] = read_xlsx(path) if sheet else read_csv_rows(path)
        assert attempt(DATASET[key], root, **OPTIONS.get(key, {})) is not None, key  # the copy itself is valid
    return {"base": base, **{k: (*v, pristine[k]) for k, v in out.items()}}


DATASET = {"casme2": "casme2", "samm": "samm", "casme3a": "casme3a", "mu3d": "mu3d", "dolos-master": "dolos",
           "dolos-train": "dolos", "smic": "smic", "reallife": "reallife-trial", "dolos-stamps": "dolos",
           "dolos-fold": "dolos", "bag": "bag-of-lies", "manifest": "manifest"}
OPTIONS = {"smic": {"sheet": "smic_onsets.csv"}, "manifest": {"apex": "middle"}}
HEADER_ROWS = {"samm": 14, "dolos-master": 3, "dolos-train": 3, "dolos-fold": 0}
XLSX_KEYS = ["casme2", "samm", "casme3a", "mu3d", "dolos-master", "dolos-train"]
CSV_KEYS = ["smic", "reallife", "dolos-stamps", "dolos-fold", "bag", "manifest"]


def _restore(path: Path, pristine, sheet) -> None:
    if sheet:
        write_xlsx(pristine, path, sheet, {"edits": [], "drop_column": None, "drop_rows": [], "extra_rows": [],
                                           "corrupt": None})
    else:
        write_csv(pristine, path, {"edits": [], "drop_column": None, "drop_rows": [], "extra_rows": [],
                                   "corrupt": None})


@pytest.mark.parametrize("key", XLSX_KEYS)
def test_fuzzed_workbooks(copies, key):
    root, path, sheet, pristine = copies[key]

    @FUZZ
    @given(m=MUTATIONS["xlsx"], collect=st.booleans())
    def run(m, collect):
        write_xlsx(pristine, path, sheet, m, HEADER_ROWS.get(key, 1))
        attempt(DATASET[key], root, collect=collect, **OPTIONS.get(key, {}))

    try:
        run()
    finally:
        _restore(path, pristine, sheet)


@pytest.mark.parametrize("key", CSV_KEYS)
def test_fuzzed_csv_files(copies, key):
    root, path, _, pristine = copies[key]

    @FUZZ
    @given(m=MUTATIONS["csv"], collect=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-8", "cp1252", "utf-16"]))
    def run(m, collect, encoding):
        write_csv(pristine, path, m, encoding, HEADER_ROWS.get(key, 1))
        attempt(DATASET[key], root, collect=collect, **OPTIONS.get(key, {}))

    try:
        run()
    finally:
        _restore(path, pristine, None)


# -- loaders: odd file and folder names -------------------------------------------------------------
NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=30)
SUFFIX = st.sampled_from([".jpg", ".JPG", ".png", ".bmp", ".jpeg", "", ".txt", ".mp4"])
ODD_NAMES = st.lists(st.tuples(NAME, SUFFIX, st.booleans()), min_size=1, max_size=4)


def _plant(folder: Path, names) -> list[Path]:
    """Files (or, for flag True, folders) with odd names in ``folder``; returns what was created."""
    made = []
    for stem, suffix, as_folder in names:
        name = stem + suffix
        if name in (".", "..") or len(name.encode("utf-8", "surrogatepass")) > 200:
            continue
        path = folder / name
        if path.exists():
            continue
        try:
            if as_folder:
                F.write_frames(path, [1, 2], lambda n: f"f{n}.jpg")
            else:
                path.write_bytes(b"\xff\xd8 not really a jpeg")
        except OSError:
            continue
        made.append(path)
    return made


def _remove(paths) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


ODD_PLACES = {  # dataset: (copy key or folder, folders (relative to its root) that receive odd names)
    "casme2": ("casme2", ["CASME2_RAW_selected/sub01/EP02_01f", "CASME2_RAW_selected/sub01", "CASME2_RAW_selected"]),
    "smic": ("smic", ["HS/s1/micro/negative/s1_ne_01", "HS/s1/micro/negative", "HS/s2/micro", "HS"]),
    "kaggle-me-lie": ("kaggle", ["Truth/subject1", "LIE", ""]),
    "manifest": ("manifest", ["data/clipA", "data"]),
    "dolos": ("dolos", ["clips"]),
    "mu3d": ("mu3d", ["Videos"]),
}


ODD_OPTIONS = {"manifest": {"apex": "middle"}, "dolos": {"count_frames": False}, "mu3d": {"count_frames": False}}


@pytest.mark.parametrize("name", list(ODD_PLACES))
def test_odd_frame_and_folder_names(copies, name):
    key, places = ODD_PLACES[name]
    root = copies["base"] / key

    @FUZZ
    @given(names=ODD_NAMES, where=st.sampled_from(places), collect=st.booleans())
    def run(names, where, collect):
        made = _plant(root / where, names)
        try:
            attempt(name, root, collect=collect, **ODD_OPTIONS.get(name, {}))
        finally:
            _remove(made)

    run()


# -- loaders: options -------------------------------------------------------------------------------
OPTION_VALUES = st.one_of(cells(CSV_TEXT), st.sampled_from(["all", "megc3", "raw", "cropped", "middle", "annotated",
                                                            "skip", "error", "male", "long", "true", "Videos"]),
                          st.lists(st.integers(), max_size=2), st.just({"a": 1}))
OPTION_ROOTS = {"casme2": "casme2", "samm": "samm", "casme3a": "casme3a", "smic": "smic",
                "reallife-trial": "reallife", "dolos": "dolos", "bag-of-lies": "bag", "mu3d": "mu3d",
                "manifest": "manifest", "synthetic": None}


@pytest.mark.parametrize("name", list(OPTION_ROOTS))
def test_fuzzed_options(copies, name):
    from mebench.registry import accepted_params

    params = [p for p in accepted_params(DATASETS.get(name))[0] if p not in ("root", "apex")]
    root = copies["base"] / OPTION_ROOTS[name] if OPTION_ROOTS[name] else None

    @FUZZ
    @given(opts=st.dictionaries(st.sampled_from(params), OPTION_VALUES, max_size=3))
    def run(opts):
        if name == "synthetic":  # keep generated tables small
            opts = {"subjects": 2, "clips_per_subject": 2, **opts}
            if isinstance(opts["subjects"], int) and isinstance(opts["clips_per_subject"], int) and \
                    opts["subjects"] * opts["clips_per_subject"] > 100:
                opts["subjects"] = opts["clips_per_subject"] = 2
        attempt(name, root, **opts)

    run()
