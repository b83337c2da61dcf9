"""Loader inputs that used to pass silently: CSVs that are not UTF-8, apexes outside onset..offset,
and ill-typed or out-of-range dataset options."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

from mebench.data.sheets import detect_encoding  # noqa: E402
from mebench.data.synthetic import SyntheticDataset  # noqa: E402
from mebench.errors import ConfigError, DataError  # noqa: E402
from mebench.registry import DATASETS  # noqa: E402


def load(name, root, **opts):
    ds = DATASETS.create(name, root=root, **opts)
    return ds, ds.load()


# -- encodings --------------------------------------------------------------------------------------
def _manifest_with_labels(root: Path, labels, encoding: str) -> Path:
    F.write_manifest(root)
    path = root / "manifest.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    for k, label in enumerate(labels, start=1):
        cells = lines[k].split(",")
        cells[2] = label
        lines[k] = ",".join(cells)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.mark.parametrize("data,encoding", [
    (b"a,b\n", "utf-8"), ("caf\u00e9\n".encode("utf-8"), "utf-8"), (b"\xef\xbb\xbfa,b\n", "utf-8-sig"),
    ("caf\u00e9\n".encode("utf-16"), "utf-16"), ("caf\u00e9 \u2013 x\n".encode("cp1252"), "cp1252"),
    (b"caf\xe9 \x81\n", "latin-1"),
])
def test_detect_encoding(data, encoding):
    assert detect_encoding(data) == encoding


def test_cp1252_csv_is_read_with_a_warning_naming_file_and_encoding(tmp_path):
    path = _manifest_with_labels(tmp_path, ["caf\u00e9", "caf\u00e9", "th\u00e9", "th\u00e9", "caf\u00e9"], "cp1252")
    ds, s = load("manifest", tmp_path, apex="middle")
    assert set(s["label"]) == {"caf\u00e9", "th\u00e9"}  # decoded right: no garbled extra classes
    warning = next(w for w in ds.warnings if "not UTF-8" in w)
    assert str(path) in warning and "cp1252" in warning
    assert ds.counts["files_not_utf8"] == 1


def test_utf8_csv_gives_no_encoding_warning(tmp_path):
    _manifest_with_labels(tmp_path, ["caf\u00e9"] * 5, "utf-8")
    ds, s = load("manifest", tmp_path, apex="middle")
    assert set(s["label"]) == {"caf\u00e9"} and not any("UTF-8" in w for w in ds.warnings)
    assert "files_not_utf8" not in ds.counts


def test_mixed_encodings_are_refused_rather_than_making_new_classes(tmp_path):
    path = _manifest_with_labels(tmp_path, ["caf\u00e9"] * 5, "utf-8")
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace("caf\u00e9".encode("utf-8"), "caf\u00e9".encode("cp1252"))
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError, match="mixes encodings: line 2 is UTF-8 but line 4 is not") as err:
        load("manifest", tmp_path, apex="middle")
    assert "manifest.csv" in str(err.value)


def test_not_utf8_warning_in_every_csv_loader(tmp_path, cli):
    info = F.write_reallife(tmp_path)
    text = info["csv"].read_text(encoding="utf-8")
    info["csv"].write_bytes(text.encode("utf-16"))
    ds, s = load("reallife-trial", tmp_path)
    assert len(s) == 24 and any("utf-16" in w and "All_Gestures" in w for w in ds.warnings)
    result = cli("data", "check", "reallife-trial", "--root", tmp_path)
    assert result.exit_code == 0 and "is not UTF-8; read as utf-16" in result.output


def test_csv_holding_nul_bytes_is_a_clear_error(tmp_path):
    F.write_bag_of_lies(tmp_path, videos=False)
    path = tmp_path / "Annotations.csv"
    path.write_bytes(path.read_bytes().replace(b"run_0", b"run\x000", 1))
    with pytest.raises(DataError, match="NUL characters"):
        load("bag-of-lies", tmp_path)


# -- apex outside onset..offset ---------------------------------------------------------------------
def test_apex_outside_interval_is_a_counted_warning(tmp_path):
    rows = list(F.CASME2_ROWS)
    rows[0] = (1, "EP02_01f", 46, 56, 55, 12, "happiness", 1)  # apex 56 > offset 55 (frames go to 57)
    F.write_casme2(tmp_path, rows=rows)
    ds, s = load("casme2", tmp_path)
    assert s.set_index("sample_id").loc["casme2/sub01/EP02_01f", "apex"] == 56  # kept as annotated
    assert ds.counts["apex_outside_interval"] == 1
    warning = next(w for w in ds.warnings if "outside onset..offset" in w)
    assert "casme2/sub01/EP02_01f apex 56 not in 46..55 (row 2)" in warning


def test_apex_outside_interval_in_a_manifest(tmp_path):
    F.write_manifest(tmp_path, extra_rows=[["s6", "p3", "sad", "data/clipB", 2, 8, 6, "F", "noon"]])
    ds, s = load("manifest", tmp_path, apex="middle")
    assert ds.counts["apex_outside_interval"] == 1
    assert any("s6 apex 8 not in 2..6 (row 7)" in w for w in ds.warnings)


def test_apex_warning_reaches_the_run_manifest(tmp_path):
    from _api import RunSpec, execute

    rows = [(s, f"EP0{c}_0{s}", 11, 21 if c == 1 else 15, 20, 12, "happiness" if c % 2 else "disgust", 1)
            for s in (1, 2) for c in range(1, 5)]
    F.write_casme2(tmp_path / "c2", rows=rows, margin=1)
    result = execute(RunSpec(dataset="casme2", root=str(tmp_path / "c2"), features="hoof", classifier="logreg",
                             protocol="loso", out=str(tmp_path / "run")))
    manifest = result.manifest
    assert manifest["dataset"]["counts"]["apex_outside_interval"] == 2
    assert any("annotated apex(es) lie outside onset..offset" in w for w in manifest["warnings"])


# -- options ----------------------------------------------------------------------------------------
BAD_SYNTHETIC = [
    ("subjects", "abc"), ("subjects", 2.5), ("subjects", 0), ("subjects", True), ("subjects", None),
    ("clips_per_subject", -1), ("clips_per_subject", "4"), ("frames", 5), ("frames", 1e9), ("size", 4),
    ("size", 64.5), ("seed", -1), ("seed", 1.5), ("seed", 2**64), ("effect", 2), ("effect", -0.1),
    ("effect", math.nan), ("effect", "high"), ("noise", -1), ("noise", math.inf), ("noise", "loud"),
    ("jitter", -0.5), ("blink_rate", 1.5), ("intensity", -1), ("intensity", "x"), ("drift", -2), ("face", 3),
    ("face", "cartoon"),
]


@pytest.mark.parametrize("option,value", BAD_SYNTHETIC, ids=[f"{o}={v!r}" for o, v in BAD_SYNTHETIC])
def test_synthetic_options_are_checked(option, value):
    with pytest.raises(ConfigError, match=option):
        SyntheticDataset(**{option: value})


def test_synthetic_options_accept_whole_floats_and_bounds():
    ds = SyntheticDataset(subjects=2.0, clips_per_subject=2, frames=6, size=8, effect=0, noise=0, seed=0,
                          blink_rate=1, jitter=0.0, drift=0)
    assert ds.subjects == 2 and isinstance(ds.subjects, int) and ds.effect == 0.0
    with pytest.raises(ConfigError, match="at most"):
        SyntheticDataset(subjects=10_000, clips_per_subject=10_000)


@pytest.mark.parametrize("opt", ["subjects=abc", "subjects=2.5", "noise=-1", "seed=-1", "frames=many"])
def test_synthetic_option_errors_on_the_command_line(cli, opt):
    result = cli("data", "check", "synthetic", "--dataset-opt", opt)
    assert result.exit_code != 0
    assert "Traceback" not in result.output and opt.split("=")[0] in result.output


@pytest.mark.parametrize("name,writer,option", [("casme3a", F.write_casme3a, "dedupe"),
                                                ("reallife-trial", F.write_reallife, "count_frames"),
                                                ("manifest", F.write_manifest, "count_frames")])
def test_yes_no_options_are_checked(tmp_path, name, writer, option):
    writer(tmp_path)
    with pytest.raises(ConfigError, match=f"{option}='maybe'"):
        DATASETS.create(name, root=tmp_path, **{option: "maybe"})
    DATASETS.create(name, root=tmp_path, **{option: False})


def test_header_only_sheet_is_an_error_not_an_empty_dataset(tmp_path):
    info = F.write_reallife(tmp_path)
    header = info["csv"].read_text().splitlines()[0]
    info["csv"].write_text(header + "\n")
    with pytest.raises(DataError, match="yields no samples"):
        load("reallife-trial", tmp_path)


@pytest.mark.parametrize("name,writer,option", [("casme2", F.write_casme2, "sheet"), ("dolos", F.write_dolos, "clips"),
                                                ("reallife-trial", F.write_reallife, "identities")])
def test_file_options_must_be_names(tmp_path, name, writer, option):
    writer(tmp_path)
    with pytest.raises(ConfigError, match=f"{option}="):
        DATASETS.create(name, root=tmp_path, **{option: [1, 2]})
    with pytest.raises(ConfigError, match="--root must be a folder"):
        DATASETS.create(name, root=5)
