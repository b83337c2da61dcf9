"""Defaults that work on a fresh machine (issue 18, section 3).

- The backbone extractors and ``resnet-e2e`` default to EfficientNet-Lite0, whose ImageNet weights
  mebench can obtain (pinned, through the package registry); a ResNet is used when named, and a ResNet
  weights file given with the default backbone is named as such.
- ``flow-image`` aligns only samples that have frames: precomputed images are taken as they are and a
  run on them never needs the face-landmarker model.
- ``resnet-e2e`` given images of a size it cannot take says which sizes it takes and how to resize.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from _cli import run_cli, run_manifest

from mebench.errors import ConfigError, InputShapeError


@pytest.mark.parametrize("name", ["resnet-fpf", "resnet-tmfe", "resnet-fpf-tmfe", "resnet-e2e", "au-libreface"])
def test_the_default_backbone_is_the_one_mebench_can_obtain(name):
    from mebench.model_files import BACKBONES
    from mebench.registry import CLASSIFIERS, EXTRACTORS

    registry = CLASSIFIERS if name == "resnet-e2e" else EXTRACTORS
    default = inspect.signature(registry.get(name).__init__).parameters["backbone"].default
    assert default == "efficientnet-lite0" and BACKBONES[default].pinned is not None  # fetched and sha256-verified


def test_a_resnet_file_with_the_default_backbone_names_the_backbone_to_pass(tmp_path):
    import torch
    import torchvision

    from mebench.features.deep.backbones import build_backbone

    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ConfigError, match="looks like resnet34 weights: pass backbone=resnet34"):
        build_backbone("efficientnet-lite0", weights=str(path), pretrained_on="imagenet")
    assert build_backbone("resnet34", weights=str(path), pretrained_on="imagenet").out_channels == 256


def _images_only_manifest(root, subjects=4, per_subject=4):
    """A manifest of precomputed 28x28 flow images (one PNG per sample), as STSTNet-style pipelines ship them."""
    import cv2

    rng = np.random.default_rng(0)
    (root / "flow").mkdir(parents=True)
    lines = ["sample_id,subject,label,path"]
    for s in range(subjects):
        for c in range(per_subject):
            label = ("pos", "neg")[c % 2]
            image = rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)
            image[..., 0] = 200 if label == "pos" else 40  # learnable
            cv2.imwrite(str(root / "flow" / f"s{s}_{c}.png"), image)
            lines.append(f"s{s}_{c},p{s},{label},flow/s{s}_{c}.png")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def test_flow_image_on_precomputed_images_needs_no_face_model(tmp_path, monkeypatch):
    """Offline, with an empty model cache: the run completes, no image was aligned and no model fetched."""
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("MEBENCH_FACE_LANDMARKER", raising=False)
    monkeypatch.setenv("MEBENCH_OFFLINE", "1")
    root = _images_only_manifest(tmp_path / "data")
    payload, manifest = run_manifest(tmp_path / "run", "--dataset", "manifest", "--root", root,
                                     "--features", "flow-image", "--features-opt", "flatten=true",
                                     "--classifier", "logreg")
    assert payload["n"] == 16
    assert manifest["resolved_params"]["features"]["align"] == "auto"
    counts = manifest["features"]["counts"] if "counts" in manifest["features"] else manifest["counts"]
    assert "flow_image_precomputed" in str(counts) and "align_" not in str(counts)
    models = tmp_path / "empty-cache" / "models"
    assert not models.exists() or not any(models.iterdir())


def test_flow_image_auto_alignment_asks_for_the_model_only_when_a_sample_has_frames(tmp_path, monkeypatch):
    import fixtures_datasets as F

    from mebench.features.deep.flow_image import FlowImage
    from mebench.preflight import required_models
    from mebench.registry import DATASETS

    F.write_manifest(tmp_path / "mixed")
    mixed = DATASETS.create("manifest", root=str(tmp_path / "mixed")).load("label")
    images = mixed[mixed["frames_kind"] == "image"]
    auto = FlowImage()
    assert required_models(auto) == []  # before the samples are known: nothing yet
    assert required_models(auto, images) == [] and required_models(auto, mixed) == ["face-landmarker"]
    assert required_models(FlowImage(align="per-clip"), images) == ["face-landmarker"]
    assert required_models(FlowImage(align=None), mixed) == []
    # offline without the model, a sequence that needs alignment stops the run after loading, naming the model
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("MEBENCH_FACE_LANDMARKER", raising=False)
    result = run_cli("--offline", "run", "--dataset", "manifest", "--root", tmp_path / "mixed", "--features",
                     "flow-image", "--features-opt", "flatten=true", "--classifier", "logreg",
                     "--out", tmp_path / "run",
                     catch_exceptions=True)
    assert result.exit_code == 1 and "needs model face-landmarker" in result.output, result.output


def test_resnet_e2e_says_which_sizes_it_takes_and_how_to_resize():
    from mebench.classifiers.nets.e2e import ResNetE2E

    X, y = np.zeros((4, 6, 28, 28), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(InputShapeError, match=r"multiple of 16 and at least 32.*not 28 px.*size=32") as err:
        ResNetE2E(weights="none").fit(X, y)
    assert isinstance(err.value, ValueError) and "bug" not in str(err.value)


def test_resnet_e2e_on_28_pixel_images_is_an_input_error_in_a_run(tmp_path):
    result = run_cli("run", "--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4",
                     "--dataset-opt", "frames=10", "--features", "flow-image", "--features-opt", "align=null",
                     "--features-opt", "kind=apex+flow", "--classifier", "resnet-e2e", "--classifier-opt",
                     "weights=none", "--out", tmp_path / "run", catch_exceptions=True)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "not 28 px" in text and "--features-opt size=32" in text and "bug in that component" not in text
