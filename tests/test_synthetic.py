"""The embedded synthetic dataset: determinism, labels, expression timing and the CASME II writer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mebench.data.synthetic import SyntheticDataset
from mebench.data.synthetic_timing import au_envelope
from mebench.errors import ConfigError
from mebench.io import open_clip


def test_deterministic_by_seed_and_different_across_seeds():
    a = SyntheticDataset(subjects=3, clips_per_subject=4, seed=5).load("deception")
    b = SyntheticDataset(subjects=3, clips_per_subject=4, seed=5).load("deception")
    c = SyntheticDataset(subjects=3, clips_per_subject=4, seed=6).load("deception")
    pd.testing.assert_frame_equal(a, b)
    assert not a["frames"].equals(c["frames"])
    fa, fb = open_clip(a.frames[0]), open_clip(b.frames[0])
    np.testing.assert_array_equal(fa.read(5), fb.read(5))


def test_schema_and_parameters():
    s = SyntheticDataset(subjects=4, clips_per_subject=6, frames=20, size=48).load("emotion")
    assert len(s) == 24 and s["subject_id"].nunique() == 4
    assert s["subject_id"].str.startswith("synthetic/").all()
    clip = open_clip(s.frames[0])
    assert clip.n_frames == 20 and clip.read(1).shape == (48, 48, 3)
    assert (s["onset"] < s["apex"]).all() and (s["apex"] < s["offset"]).all() and (s["offset"] <= 20).all()
    assert set(s["label"]) <= {"happiness", "surprise", "disgust", "repression", "others", "sadness"}


def test_deception_labels_balanced_within_subjects_and_effect_controls_leakage():
    strong = SyntheticDataset(subjects=20, clips_per_subject=10, effect=1.0).load("deception")
    assert (strong.groupby("subject_id")["label"].apply(lambda l: (l == "deceptive").sum()) == 5).all()
    leak = strong["aus"] == "4+15"
    assert leak[strong.label == "deceptive"].all() and not leak[strong.label == "truthful"].any()
    null = SyntheticDataset(subjects=40, clips_per_subject=10, effect=0.0).load("deception")
    rate_d = (null["aus"] == "4+15")[null.label == "deceptive"].mean()
    rate_t = (null["aus"] == "4+15")[null.label == "truthful"].mean()
    assert abs(rate_d - 0.5) < 0.1 and abs(rate_t - 0.5) < 0.1


def test_expression_is_local_and_peaks_at_apex():
    s = SyntheticDataset(subjects=1, clips_per_subject=6, noise=0.0, jitter=0.0, blink_rate=0.0, drift=0.0, seed=2).load("emotion")
    row = s.iloc[0]
    clip = open_clip(row.frames)
    onset = clip.read(int(row.onset)).astype(float)
    diffs = {t: np.abs(clip.read(t).astype(float) - onset).mean() for t in clip.indices}
    params = clip.params
    assert au_envelope(params, int(row.apex)) == 1.0 and au_envelope(params, int(row.onset)) == 0.0
    # motion relative to onset is largest at the apex
    assert max(diffs, key=diffs.get) == int(row.apex)
    # the deformation is local: most pixels barely change between onset and apex
    apex = clip.read(int(row.apex)).astype(float)
    changed = (np.abs(apex - onset).max(axis=2) > 12).mean()
    assert 0 < changed < 0.15


def test_bad_options_are_named():
    with pytest.raises(ConfigError, match="effect"):
        SyntheticDataset(effect=2)
    with pytest.raises(ConfigError, match="frames"):
        SyntheticDataset(frames=3)


def test_casme2_layout_written_in_the_real_format(tmp_path, cli):
    from openpyxl import load_workbook

    result = cli("data", "synth", "--out", tmp_path / "c2", "--layout", "casme2", "--dataset-opt", "subjects=2",
                 "--dataset-opt", "clips_per_subject=2", "--dataset-opt", "frames=8")
    assert result.exit_code == 0, result.output
    frames = tmp_path / "c2" / "CASME2_RAW_selected" / "sub01" / "EP01_01"
    assert sorted(p.name for p in frames.iterdir()) == sorted(f"img{i}.jpg" for i in range(1, 9))
    ws = load_workbook(tmp_path / "c2" / "CASME2-coding-synthetic.xlsx")["Sheet1"]
    header = [c.value for c in ws[1]]
    assert header == ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                      "Action Units", "Estimated Emotion"]
    first = [c.value for c in ws[2]]
    assert first[0] == 1 and first[1] == "EP01_01" and isinstance(first[3], int)
    cropped = cli("data", "synth", "--out", tmp_path / "c3", "--variant", "cropped", "--dataset-opt", "subjects=1",
                  "--dataset-opt", "clips_per_subject=1", "--dataset-opt", "frames=6")
    assert cropped.exit_code == 0, cropped.output
    assert (tmp_path / "c3" / "Cropped" / "sub01" / "EP01_01" / "reg_img6.jpg").is_file()
    refused = cli("data", "synth", "--out", tmp_path / "c3")
    assert refused.exit_code == 1 and "not empty" in refused.output
