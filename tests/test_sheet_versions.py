"""Pinned annotation versions: the published sha256 values, a recognised file's release name in
`mebench data check` and the manifest fingerprint, and a warning naming the hash of any other file."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

from mebench.data import bag_of_lies, casme2, dolos, mu3d, reallife, samm  # noqa: E402
from mebench.registry import DATASETS  # noqa: E402

# The published files, as issue 9 lists them.
PUBLISHED = {
    casme2: {"6004a3ea87055ef9e6319d59b7940b337dc08e18ac785429c9b851587aa5e090": "CASME2-coding-20190701.xlsx"},
    samm: {"50caea8961cbb8d005669971b87396ac4759bdf45c96637a382c5d9d0894a4a4": "SAMM_Micro_FACS_Codes_v2.xlsx"},
    dolos: {"92703d82d46ead1cc99460a62f05466c6595ef0158d6e66eb9ea3132b47bb58a": "Dolos.xlsx",
            "aeffba668c20516773661872cd78f9c901e025ef3e08136907b44a2e28e95514": "train_dolos.xlsx",
            "dff4aeb7b4614880cdd5ff986e404119eefe0de321d85827b7e83818a24eb95e": "dolos_timestamps.csv"},
    mu3d: {"a0c1ca857698313dd358af65488cefbcbf9a20fe902e039af82ac4b4fa4450e5": "MU3D Codebook.xlsx"},
    bag_of_lies: {"f723ebf127dbd0328157e24d8fc770f2922d92e4b23a14a00670d28f36c9b96b": "Annotations.csv"},
    reallife: {"64b1e2d32b46af5129020975d15d0a7582ca4beb8a8999839324922ba3ab6d8b":
               "All_Gestures_Deceptive and Truthful.csv",
               "c80539857736906d06ae027d4f106f32a284f7926454161d5bfb3c3e30111f45":
               "All_Gestures_Deceptive and Truthful.csv"},
}


@pytest.mark.parametrize("module", list(PUBLISHED), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_tables_hold_exactly_the_published_hashes(module):
    table = module.KNOWN_SHEETS
    assert set(table) == set(PUBLISHED[module])
    for digest, file_name in PUBLISHED[module].items():
        assert table[digest].startswith(file_name + " (")  # the release name names the file
    assert len(set(table.values())) == len(table)


def test_loader_classes_use_their_module_tables():
    for module, cls in ((dolos, dolos.DOLOS), (mu3d, mu3d.MU3D), (bag_of_lies, bag_of_lies.BagOfLies),
                        (reallife, reallife.RealLifeTrial)):
        assert cls.KNOWN_SHEETS is module.KNOWN_SHEETS


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# name, writer, module, the file written, extra data-check options
CASES = [
    ("casme2", F.write_casme2, casme2, "CASME2-coding-20190701.xlsx"),
    ("samm", F.write_samm, samm, "SAMM_Micro_FACS_Codes_v2.xlsx"),
    ("dolos", F.write_dolos, dolos, "Dolos.xlsx"),
    ("mu3d", F.write_mu3d, mu3d, "MU3D Codebook.xlsx"),
    ("bag-of-lies", F.write_bag_of_lies, bag_of_lies, "Annotations.csv"),
    ("reallife-trial", F.write_reallife, reallife, "Annotation/All_Gestures_Deceptive and Truthful.csv"),
]


@pytest.mark.parametrize("name,writer,module,file_name", CASES, ids=[c[0] for c in CASES])
def test_recognised_file_records_its_release(cli, tmp_path, monkeypatch, name, writer, module, file_name):
    writer(tmp_path)
    path = tmp_path / file_name
    digest = sha256(path)
    release = f"{Path(file_name).name} (test release)"
    monkeypatch.setitem(module.KNOWN_SHEETS, digest, release)
    ds = DATASETS.create(name, root=tmp_path)
    ds.load()
    assert ds.fingerprint()["sheet_versions"][str(path)] == release  # what the manifest records
    assert not any(digest in w for w in ds.warnings)
    result = cli("data", "check", name, "--root", tmp_path)
    assert result.exit_code == 0, result.output
    assert f"sheet: {path}: {release}" in result.output
    summary = json.loads(cli("data", "check", name, "--root", tmp_path, "--json").output)
    assert summary["sheet"][str(path)] == release


@pytest.mark.parametrize("name,writer,module,file_name", CASES, ids=[c[0] for c in CASES])
def test_other_file_is_accepted_with_a_warning_naming_its_hash(tmp_path, name, writer, module, file_name):
    writer(tmp_path)
    path = tmp_path / file_name
    digest = sha256(path)
    assert digest not in module.KNOWN_SHEETS
    ds = DATASETS.create(name, root=tmp_path)
    ds.load()
    assert ds.fingerprint()["sheet_versions"][str(path)].startswith(f"unknown version (sha256 {digest})")
    assert any(digest in w and Path(file_name).name in w for w in ds.warnings)
