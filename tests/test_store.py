"""The stored-run model read back from a committed leaderboard run: versions, flags of a draft, alignment."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mebench.errors import RunStoreError
from mebench.store import open_run, run_flags

RUN = sorted((Path(__file__).resolve().parents[1] / "leaderboard" / "runs" / "synthetic").iterdir())[0]


def test_an_unknown_manifest_version_is_refused(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    assert open_run(run).manifest.version == 1  # no version key: the current layout
    man = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**man, "manifest_version": 2}))
    with pytest.raises(RunStoreError, match="manifest version 2; this mebench reads version 1"):
        open_run(run)


def test_flags_of_a_manifest_draft_follow_the_runner_rules():
    draft = {"config": {"dataset": "Synthetic", "features": "x", "features_opts": {"weights": "none"}},
             "dataset": {"dataset": "synthetic", "identities": True},
             "protocol": {"name": "kfold", "shared_subjects": {"f0": 2, "f1": 1}},
             "features": {"name": "x", "trained_on": ["SYNTHETIC"]}, "classifier": {"name": "ridge"}}
    flags, reasons = run_flags(draft)
    assert flags == ["LEAKY", "contaminated", "untrained"]
    assert reasons["LEAKY"] == ("protocol 'kfold' is not subject-disjoint: subjects appear in both train and test in "
                                "2 fold(s)")
    assert reasons["contaminated"] == "extractor 'x' holds a model trained on synthetic, the data this run evaluates on"
    assert run_flags({**draft, "flags": ["LEAKY"], "flag_reasons": {"LEAKY": "recorded"}})[1]["LEAKY"] == "recorded"


def test_alignment_reorders_samples_and_classes():
    base = open_run(RUN)
    order = np.arange(len(base.y))[::-1]
    other = type(base)(base.dir, base.manifest, base.metrics, base.predictions, base.files, base.classes[::-1],
                       (len(base.classes) - 1 - base.y)[order], (len(base.classes) - 1 - base.pred)[order],
                       base.scores[order][:, ::-1], base.subjects[order], base.sample_ids[order])
    pred, scores = other.aligned_to(base)
    assert np.array_equal(pred, base.pred) and np.array_equal(scores, base.scores)
    with pytest.raises(RunStoreError, match="disagree on the labels or subjects"):
        type(base)(*[getattr(other, f) for f in ("dir", "manifest", "metrics", "predictions", "files", "classes")],
                   other.y[::-1], other.pred, other.scores, other.subjects, other.sample_ids).aligned_to(base)


def test_an_audit_that_finds_no_shared_subject_is_not_leaky():
    """An official-folds audit writes a "LEAKAGE AUDIT" line even when it finds nothing: that is no flag."""
    draft = {"config": {"dataset": "dolos", "protocol": "dolos-official"}, "dataset": {"identities": True},
             "protocol": {"name": "dolos-official", "shared_subjects": {},
                          "audit": ["LEAKAGE AUDIT of the official folds (dolos-official): fold1: 0 of 4 test subjects also in "
                                    "training (0 subject(s) in all). No test subject appears in training."]},
             "features": {"name": "hoof"}, "classifier": {"name": "logreg"}}
    assert run_flags(draft) == ([], {})
    shared = {**draft["protocol"], "shared_subjects": {"fold1": 3}}
    assert run_flags({**draft, "protocol": shared})[0] == ["LEAKY"]
    assert run_flags({**draft, "dataset": {"identities": False}})[0] == ["LEAKY"]
    assert run_flags({**draft, "classifier": {"name": "n", "trained_on": ["DOLOS"]}})[0] == ["contaminated"]
