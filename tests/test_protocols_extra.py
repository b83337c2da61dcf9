"""group-kfold, kfold, lodo and the official-split protocols; leakage audits; end-to-end runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

from mebench.errors import ConfigError, LeakageError, MebenchError  # noqa: E402
from mebench.protocols import DolosOfficial, GroupKFold, KFold, LeaveOneDatasetOut, LeaveOneSubjectOut, fold_hash  # noqa: E402
from mebench.registry import DATASETS, PROTOCOLS  # noqa: E402


def table(n_subjects=12, clips=4, seed=0, datasets=("a",)):
    rng = np.random.default_rng(seed)
    rows = []
    for d in datasets:
        for s in range(n_subjects):
            for c in range(clips):
                rows.append({"sample_id": f"{d}/s{s:02d}/c{c}", "dataset": d, "subject_id": f"{d}/s{s:02d}",
                             "label": ["x", "y", "z"][int(rng.integers(3))] if c else ["x", "y", "z"][s % 3]})
    return pd.DataFrame(rows)


def test_group_kfold_is_subject_disjoint_stratified_and_deterministic():
    samples = table()
    report = GroupKFold(k=4, random_state=1).run(samples)
    assert len(report.folds) == 4 and [f.name for f in report.folds] == ["fold1", "fold2", "fold3", "fold4"]
    tested = np.concatenate([f.test for f in report.folds])
    assert sorted(tested) == list(range(len(samples)))  # every sample tested exactly once
    subjects = samples["subject_id"].to_numpy()
    for fold in report.folds:
        assert not set(subjects[fold.train]) & set(subjects[fold.test])
        assert set(samples["label"].to_numpy()[fold.test]) == {"x", "y", "z"}  # stratified
    assert GroupKFold(k=4, random_state=1).run(samples).fold_hash == report.fold_hash
    assert GroupKFold(k=4, seed=1).run(samples).fold_hash == report.fold_hash  # seed is an alias
    assert GroupKFold(k=4, random_state=2).run(samples).fold_hash != report.fold_hash
    shuffled = samples.sample(frac=1.0, random_state=5).reset_index(drop=True)
    assert GroupKFold(k=4, random_state=1).run(shuffled).fold_hash == report.fold_hash  # row order is irrelevant
    assert GroupKFold().k == 10 and [f.name for f in GroupKFold().split(table(n_subjects=10))][-1] == "fold10"


def test_group_kfold_errors():
    with pytest.raises(MebenchError, match="k=10 needs at least 10 subjects; the dataset has 6.*k=6"):
        GroupKFold().run(table(n_subjects=6))
    with pytest.raises(ConfigError, match="k must be at least 2"):
        GroupKFold(k=1)
    with pytest.raises(ConfigError, match="k must be an integer"):
        PROTOCOLS.create("group-kfold", k="many")
    with pytest.raises(LeakageError, match="no speaker identities"):
        GroupKFold(k=3).run(table(), identities=False)


def test_kfold_records_leakage_with_the_number_of_shared_subjects():
    samples = table(n_subjects=5, clips=6)
    report = KFold(k=3, random_state=0).run(samples)
    assert len(report.folds) == 3
    assert sum(len(f.test) for f in report.folds) == len(samples)
    subjects = samples["subject_id"].to_numpy()
    expected = {f.name: len(set(subjects[f.train]) & set(subjects[f.test])) for f in report.folds}
    assert report.shared_subjects == expected and min(expected.values()) >= 4
    leak = [w for w in report.warnings if w.startswith("LEAKAGE:")]
    assert len(leak) == 1 and "5 subject(s) appear in both train and test in 3 of 3 folds" in leak[0]
    assert KFold(k=3, random_state=0).run(samples).fold_hash == report.fold_hash
    assert KFold(k=3, random_state=4).run(samples).fold_hash != report.fold_hash
    unknown = KFold(k=3).run(samples, identities=False)
    assert any(w.startswith("LEAKAGE UNKNOWN") for w in unknown.warnings)
    with pytest.raises(MebenchError, match="at least 50 samples"):
        KFold(k=50).run(samples)


def test_loso_refuses_without_identities_and_accepts_attrs_flag():
    samples = table(n_subjects=3)
    with pytest.raises(LeakageError, match="clips of one person would leak.*identities=PATH.*kfold"):
        LeaveOneSubjectOut().run(samples, identities=False)
    samples.attrs["identities"] = False
    with pytest.raises(LeakageError):
        LeaveOneSubjectOut().run(samples)


def test_lodo():
    samples = table(n_subjects=3, datasets=("casme2", "samm", "smic"))
    report = LeaveOneDatasetOut().run(samples)
    assert [f.name for f in report.folds] == ["casme2", "samm", "smic"]
    for fold in report.folds:
        assert set(samples["dataset"].to_numpy()[fold.test]) == {fold.name}
        assert fold.name not in set(samples["dataset"].to_numpy()[fold.train])
    with pytest.raises(MebenchError, match="at least two datasets"):
        LeaveOneDatasetOut().run(table(n_subjects=3))


def test_official_split_audit():
    samples = table(n_subjects=4, clips=3)
    samples["official_fold"] = [f"fold1={'test' if i % 3 == 0 else 'train'};fold2={'test' if i % 3 else 'train'}"
                                for i in range(len(samples))]
    samples.loc[1, "official_fold"] = None
    report = DolosOfficial().run(samples)
    assert [f.name for f in report.folds] == ["fold1", "fold2"]
    assert 1 not in np.concatenate([report.folds[0].train, report.folds[0].test, report.folds[1].test])
    audit = [w for w in report.warnings if w.startswith("LEAKAGE AUDIT")]
    assert audit and "fold1: 4 of 4 test subjects also in training" in audit[0]
    assert any("1 sample(s) are in no official fold" in w for w in report.warnings)
    clean = table(n_subjects=4, clips=1)
    clean["official_fold"] = ["fold1=test" if i < 2 else "fold1=train" for i in range(4)]
    report = DolosOfficial().run(clean)
    audit = next(w for w in report.warnings if w.startswith("LEAKAGE AUDIT"))
    assert "fold1: 0 of 2 test subjects also in training" in audit and "not person-disjoint" not in audit
    with pytest.raises(MebenchError, match="needs the column 'official_fold'.*--dataset dolos"):
        DolosOfficial().run(table(n_subjects=3))
    bad = clean.assign(official_fold="fold1=dev")
    with pytest.raises(MebenchError, match="cannot read 'fold1=dev'"):
        DolosOfficial().run(bad)


def test_dolos_official_on_the_dolos_copy(tmp_path):
    F.write_dolos(tmp_path)
    ds = DATASETS.create("dolos", root=tmp_path)
    samples = ds.load()
    report = PROTOCOLS.create("dolos-official").run(samples, identities=ds.identities)
    assert [f.name for f in report.folds] == ["fold1", "fold2", "fold3"]
    assert sum(len(f.test) for f in report.folds) == len(samples)
    audit = next(w for w in report.warnings if w.startswith("LEAKAGE AUDIT"))
    assert "fold1: 6 of 6 test subjects also in training" in audit
    assert report.fold_hash == fold_hash(samples, report.folds)
    loso = LeaveOneSubjectOut().run(samples, identities=ds.identities)  # LOSO by participant
    assert len(loso.folds) == len(F.DOLOS_PARTICIPANTS) and not loso.warnings


def test_every_protocol_goes_through_the_fold_hash():
    samples = table(n_subjects=10, datasets=("a", "b"))
    samples["official_fold"] = ["f1=test" if i % 2 else "f1=train" for i in range(len(samples))]
    for name in ("loso", "group-kfold", "kfold", "lodo", "official", "dolos-official"):
        opts = {"k": 5} if name in ("group-kfold", "kfold") else {}
        report = PROTOCOLS.create(name, **opts).run(samples)
        assert report.fold_hash == fold_hash(samples, report.folds), name


# -- end to end through the runner ------------------------------------------------------------------
def _spec(**kw):
    from _api import RunSpec

    return RunSpec(**kw)


def test_run_reallife_trial_mumin_loso(tmp_path):
    import time

    from _api import execute

    F.write_reallife(tmp_path / "rlt")
    t0 = time.time()
    result = execute(_spec(dataset="reallife-trial", root=str(tmp_path / "rlt"), features="mumin", classifier="logreg",
                           protocol="loso", out=str(tmp_path / "run")))
    assert time.time() - t0 < 30
    assert result.metrics["pooled"]["uar"] > 0.8
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["dataset"]["identities"] is True
    assert manifest["dataset"]["counts"]["clips_missing"] == 24
    assert len(manifest["dataset"]["annotation_files"]) == 1
    assert manifest["protocol"]["n_folds"] == 6


def test_run_without_identities(tmp_path):
    from _api import execute

    F.write_reallife(tmp_path / "rlt", identities=None)
    with pytest.raises(LeakageError, match="no speaker identities"):
        execute(_spec(dataset="reallife-trial", root=str(tmp_path / "rlt"), features="mumin", protocol="loso",
                      out=str(tmp_path / "a")))
    result = execute(_spec(dataset="reallife-trial", root=str(tmp_path / "rlt"), features="mumin", protocol="kfold",
                           protocol_opts={"k": 4}, out=str(tmp_path / "b")))
    manifest = result.manifest
    assert manifest["dataset"]["identities"] is False
    assert any(w.startswith("LEAKAGE UNKNOWN") for w in manifest["warnings"])


def test_run_dolos_official_records_the_audit(tmp_path):
    from _api import execute

    F.write_dolos(tmp_path / "dolos")
    result = execute(_spec(dataset="dolos", root=str(tmp_path / "dolos"), features="mumin", protocol="dolos-official",
                           out=str(tmp_path / "run")))
    assert any(w.startswith("LEAKAGE AUDIT") for w in result.manifest["warnings"])
    assert result.manifest["protocol"]["shared_subjects"] == {"fold1": 6, "fold2": 6, "fold3": 6}
    assert result.manifest["n_skipped"] >= 1  # the duplicated file name


def test_run_megc2019_reports_each_part(tmp_path):
    from _api import execute

    F.write_casme2(tmp_path / "m" / "CASME2")
    F.write_samm(tmp_path / "m" / "SAMM")
    F.write_smic(tmp_path / "m" / "SMIC")
    result = execute(_spec(dataset="megc2019", root=str(tmp_path / "m"), dataset_opts={"apex": "middle"},
                           features="hoof", features_opts={"size": 16, "grid": 2}, protocol="lodo",
                           out=str(tmp_path / "run")))
    assert set(result.metrics["per_dataset"]) == {"casme2", "samm", "smic"}
    assert result.manifest["protocol"]["n_folds"] == 3
    skipped = {s["sample_id"] for s in result.manifest["skipped"]}
    assert {"casme2/sub04/EP12_01f", "casme2/sub05/EP09_05f"} <= skipped
