"""OpenFace 2.x CSV import: header with leading spaces, where the CSV is found, confidence
filtering and its count, onset..offset via the clip's frame list, aggregates, and bad files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mebench.errors import ConfigError, DataError
from mebench.features.openface import INTENSITY_AUS, PRESENCE_AUS, OpenFaceAUs, csv_candidates, write_example_csv


def _frames(folder, numbers):
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"img{n}.jpg"), np.full((16, 16, 3), 100, np.uint8))
    return folder


def _row(frames, **extra):
    row = {"sample_id": "of/sub01/EP01", "dataset": "of", "subject_id": "of/sub01", "label": "a", "frames": str(frames)}
    row.update(extra)
    return pd.DataFrame([row])


def _table(path):
    t = pd.read_csv(path, skipinitialspace=True)
    t.columns = [c.strip() for c in t.columns]
    return t


def test_header_with_leading_spaces_and_aggregates(tmp_path):
    clip = _frames(tmp_path / "sub01" / "EP01", range(46, 58))
    csv = write_example_csv(tmp_path / "sub01" / "EP01.csv", 12, np.random.default_rng(1), low_confidence=(2, 3, 7))
    assert open(csv).readline().startswith("frame, face_id, timestamp, confidence, success, AU01_r")
    ex = OpenFaceAUs(stats=("mean", "max", "std", "min", "median"))
    X = ex.transform(_row(clip))
    assert X.shape == (1, 17 * 5 + 18)
    assert ex.counts_["openface_frames"] == 12 and ex.counts_["openface_frames_dropped"] == 3
    t = _table(csv)
    kept = t[(t.confidence >= 0.8) & (t.success == 1)]
    assert len(kept) == 9
    au12 = kept["AU12_r"].to_numpy()
    k = INTENSITY_AUS.index(12) * 5
    np.testing.assert_allclose(X[0, k:k + 5], [au12.mean(), au12.max(), au12.std(), au12.min(), np.median(au12)])
    presence = X[0, 17 * 5:]
    np.testing.assert_allclose(presence, [kept[f"AU{a:02d}_c"].mean() for a in PRESENCE_AUS])
    assert ex.feature_names()[k] == "AU12_r_mean" and len(ex.feature_names()) == X.shape[1]


def test_onset_offset_through_the_clips_frame_list(tmp_path):
    """CASME II numbers files img46..img57; OpenFace numbers them 1..12. onset 48..offset 52 is
    OpenFace frames 3..7."""
    clip = _frames(tmp_path / "EP01", range(46, 58))
    csv = write_example_csv(tmp_path / "EP01.csv", 12, np.random.default_rng(2))
    t = _table(csv)
    X = OpenFaceAUs(stats=("mean", "delta"), presence_aus=()).transform(_row(clip, onset=48, apex=50, offset=52))
    seg = t[(t.frame >= 3) & (t.frame <= 7)]
    k = INTENSITY_AUS.index(4) * 2
    assert X[0, k] == pytest.approx(seg["AU04_r"].mean())
    assert X[0, k + 1] == pytest.approx(float(t.loc[t.frame == 5, "AU04_r"].iloc[0] - t.loc[t.frame == 3, "AU04_r"].iloc[0]))
    whole = OpenFaceAUs(stats=("mean",), presence_aus=(), segment="all").transform(_row(clip, onset=48, offset=52))
    assert whole[0, INTENSITY_AUS.index(4)] == pytest.approx(t["AU04_r"].mean())
    absolute = OpenFaceAUs(stats=("mean",), presence_aus=(), frame_numbers="absolute").transform(
        _row(clip, onset=3, offset=7))
    assert absolute[0, INTENSITY_AUS.index(4)] == pytest.approx(seg["AU04_r"].mean())


def test_where_the_csv_is_found(tmp_path):
    rng = np.random.default_rng(3)
    clip = _frames(tmp_path / "a" / "EP01", [1, 2, 3])
    inside = write_example_csv(clip / "EP01.csv", 3, rng)
    beside = write_example_csv(tmp_path / "a" / "EP01.csv", 3, rng)
    out_dir = tmp_path / "processed"
    out_dir.mkdir()
    in_dir = write_example_csv(out_dir / "EP01.csv", 3, rng)
    explicit = write_example_csv(tmp_path / "mine.csv", 3, rng)
    mean = OpenFaceAUs(stats=("mean",), presence_aus=())

    def value_of(path):
        return _table(path)["AU01_r"].mean()

    assert mean.transform(_row(clip))[0, 0] == pytest.approx(value_of(beside))
    assert mean.set_params(csv_dir=str(out_dir)).transform(_row(clip))[0, 0] == pytest.approx(value_of(in_dir))
    mean.set_params(csv_dir=None)
    assert mean.transform(_row(clip, openface_csv=str(explicit)))[0, 0] == pytest.approx(value_of(explicit))
    beside.unlink()
    assert mean.transform(_row(clip))[0, 0] == pytest.approx(value_of(inside))
    video = tmp_path / "v" / "trial_lie_001.mp4"
    assert csv_candidates(_row(video).iloc[0])[0] == tmp_path / "v" / "trial_lie_001.csv"
    inside.unlink()
    with pytest.raises(DataError, match="no OpenFace CSV found") as err:
        mean.transform(_row(clip))
    assert "EP01.csv" in str(err.value)


def test_face_id_and_all_frames_dropped(tmp_path):
    clip = tmp_path / "EP02"  # frames need not exist when the CSV numbers are used as they are
    write_example_csv(tmp_path / "EP02.csv", 6, np.random.default_rng(4), face_ids=[0, 1, 0, 1, 0, 0])
    ex = OpenFaceAUs(stats=("mean",))
    ex.transform(_row(clip))
    assert ex.counts_["openface_other_faces"] == 2
    write_example_csv(tmp_path / "EP02.csv", 4, np.random.default_rng(4), low_confidence=(1, 2, 3, 4))
    with pytest.raises(DataError, match="no OpenFace frame in range passes confidence") as err:
        ex.transform(_row(clip))
    assert "of/sub01/EP01" in str(err.value)
    assert OpenFaceAUs(min_confidence=0.2).transform(_row(clip)).shape == (1, 17 * 3 + 18)


def test_bad_csvs(tmp_path):
    clip = tmp_path / "EP03"
    (tmp_path / "EP03.csv").write_text("frame, face_id, timestamp, success, AU01_r\n1, 0, 0.0, 1, 0.5\n")
    with pytest.raises(DataError, match="confidence"):
        OpenFaceAUs().transform(_row(clip))
    write_example_csv(tmp_path / "EP03.csv", 3, np.random.default_rng(5), aus_r=(1, 2))
    with pytest.raises(DataError, match="AU04_r"):
        OpenFaceAUs().transform(_row(clip))
    (tmp_path / "EP03.csv").write_bytes(b"")
    with pytest.raises(DataError, match="cannot read OpenFace CSV"):
        OpenFaceAUs().transform(_row(clip))
    with pytest.raises(ConfigError, match="stats"):
        OpenFaceAUs(stats=("mode",)).transform(_row(clip))
