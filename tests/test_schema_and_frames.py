"""Samples-table validation and lazy frame access."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mebench.data.schema import validate_samples
from mebench.errors import DataError, SchemaError
from mebench.io import IMAGE_EXTENSIONS, frame_number, numbered_images, open_clip


def _table(**overrides):
    base = {"sample_id": ["a", "b"], "dataset": ["d", "d"], "subject_id": ["d/1", "d/2"], "label": ["x", "y"]}
    base.update(overrides)
    return pd.DataFrame(base)


def test_valid_table_passes_and_casts_frame_numbers():
    out = validate_samples(_table(onset=[1.0, 2.0]))
    assert str(out["onset"].dtype) == "Int64"


@pytest.mark.parametrize("column", ["sample_id", "dataset", "subject_id", "label"])
def test_missing_required_column_is_named(column):
    with pytest.raises(SchemaError, match=column):
        validate_samples(_table().drop(columns=[column]))


def test_ill_typed_column_is_named():
    with pytest.raises(SchemaError, match="'onset'.*row 1"):
        validate_samples(_table(onset=[1, "x"]))
    with pytest.raises(SchemaError, match="subject_id"):
        validate_samples(_table(subject_id=[1, 2]))


def test_subject_ids_must_be_namespaced_and_samples_unique():
    with pytest.raises(SchemaError, match="namespaced"):
        validate_samples(_table(subject_id=["1", "2"]))
    with pytest.raises(SchemaError, match="occurs twice"):
        validate_samples(_table(sample_id=["a", "a"]))


def test_frame_numbers_use_the_last_integer():
    assert frame_number("img46.jpg") == 46
    assert frame_number("reg_img46.jpg") == 46
    assert frame_number("006_05562.jpg") == 5562
    assert frame_number("image000123.bmp") == 123


def test_image_sequence_is_numeric_and_lazy(tmp_path):
    import cv2

    for n in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"img{n}.jpg"), np.full((8, 8, 3), n * 20, np.uint8))
    clip = open_clip(str(tmp_path))
    assert clip.indices == [1, 2, 10]
    assert abs(int(clip.read(10, grey=True).mean()) - 200) <= 2
    assert clip.read(2, size=(4, 4)).shape == (4, 4, 3)
    with pytest.raises(DataError, match="frame 3 not found"):
        clip.read(3)


def test_corrupt_frame_names_the_file(tmp_path):
    (tmp_path / "img1.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match="img1.jpg"):
        open_clip(str(tmp_path)).read(1)


def test_missing_frames_location_is_clear(tmp_path):
    with pytest.raises(DataError, match="not found"):
        open_clip(str(tmp_path / "nope"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet="ab_.-0123456789٣JPGjpgnbmtifıİ", min_size=1, max_size=14), max_size=12,
                unique=True))
def test_folder_listing_numbers_files_as_frame_number_does(names):
    """The one-regex folder listing agrees with frame_number on every image file name."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        written = []
        for name in names:
            if name in (".", "..") or "/" in name:
                continue
            (Path(folder) / name).write_bytes(b"")
            written.append(name)
        os.mkdir(Path(folder) / "dir7.jpg")  # a folder is no frame
        expected = sorted(n for name in written if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
                          and os.path.splitext(name)[0] and (n := frame_number(name)) is not None)
        assert sorted(n for n, _ in numbered_images(folder)) == expected
