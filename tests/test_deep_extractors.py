"""resnet-fpf / resnet-tmfe / resnet-fpf-tmfe, flow-image, `--features a+b` and N-d features in the runner.

Tiny configurations: 64 px inputs on the synthetic dataset's 64 px frames (taken as aligned),
``weights=none`` for shapes and plumbing, the shipped EfficientNet-Lite0 weights where learning matters.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _cli import run_manifest
from _deep_helpers import efficientnet_file, imagenet_lite0, tiny  # noqa: F401  (fixtures)
from _face_helpers import face_cache, face_model  # noqa: F401  (fixtures)
from sklearn.base import clone

from mebench.errors import ConfigError, DataError
from mebench.features.deep.extractors import ResNetFPF, ResNetFPFTMFE, ResNetTMFE
from mebench.features.deep.flow_image import FlowImage
from mebench.features.deep.inputs import FPF_REGIONS, motion_image, pool, region_weights

EASY = ("--dataset-opt", "subjects=6", "--dataset-opt", "clips_per_subject=6", "--dataset-opt", "frames=10",
        "--dataset-opt", "effect=1.0", "--dataset-opt", "intensity=3.0", "--dataset-opt", "noise=1.0")


def _samples(subjects=2, clips=2, seed=0):
    from mebench.data.synthetic import SyntheticDataset

    return SyntheticDataset(subjects=subjects, clips_per_subject=clips, frames=10, size=64, effect=1.0,
                            seed=seed).load("deception")


def _opts(**opts):
    return [a for k, v in opts.items() for a in ("--features-opt", f"{k}={v}")]


def test_shapes_pooling_and_the_fused_map():
    s = _samples()
    n = len(s)
    fpf = ResNetFPF(weights="none", **tiny(backbone="resnet18")).fit(s).transform(s)
    fpf_maps = ResNetFPF(weights="none", maps=True, **tiny(backbone="resnet18")).fit(s).transform(s)
    tmfe = ResNetTMFE(weights="none", **tiny(backbone="resnet18")).fit(s).transform(s)
    tmfe_maps = ResNetTMFE(weights="none", maps=True, **tiny(backbone="resnet18")).fit(s).transform(s)
    fused = ResNetFPFTMFE(weights="none", **tiny(backbone="resnet18")).fit(s).transform(s)
    fused_maps = ResNetFPFTMFE(weights="none", maps=True, **tiny(backbone="resnet18")).fit(s).transform(s)
    assert fpf.shape == (n, 256 * (1 + len(FPF_REGIONS))) and tmfe.shape == (n, 256)
    assert fpf_maps.shape == tmfe_maps.shape == (n, 256, 4, 4)
    assert fused_maps.shape == (n, 512, 4, 4) and fused.shape == (n, 512 * 6)
    np.testing.assert_allclose(fused_maps, np.concatenate([fpf_maps, tmfe_maps], axis=1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(tmfe, tmfe_maps.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    # FPF: the global mean, then each region's weighted mean (canonical landmarks when align=None)
    from mebench.data.canonical_face import canonical_landmarks

    weights = np.repeat(region_weights(canonical_landmarks(64), 64, 4)[None], n, axis=0)
    np.testing.assert_allclose(fpf, pool(fpf_maps, weights), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fpf[:, :256], fpf_maps.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    # the fused map pools into [FPF | TMFE] per block
    np.testing.assert_allclose(fused[:, :512], np.hstack([fpf[:, :256], tmfe]), rtol=1e-5, atol=1e-6)


def test_the_fused_map_is_14x14_with_summed_channels_at_224():
    s = _samples().iloc[:2]
    for backbone, channels in (("resnet18", 256), ("efficientnet-lite0", 112)):
        maps = ResNetFPFTMFE(backbone=backbone, weights="none", align=None, maps=True).fit(s).transform(s)
        assert maps.shape == (2, 2 * channels, 14, 14)
        assert np.isfinite(maps).all() and maps[:, :channels].std() > 0 and maps[:, channels:].std() > 0


def test_region_weights_sit_where_the_regions_are():
    from mebench.data.canonical_face import canonical_landmarks

    w = region_weights(canonical_landmarks(224), 224, 14)
    names = list(FPF_REGIONS)
    rows = np.arange(14)
    centre = {k: float((w[i].sum(axis=1) * rows).sum() / w[i].sum()) for i, k in enumerate(names)}
    assert centre["brows"] < centre["eyes"] < centre["nose"] < centre["mouth"]
    assert w[names.index("face")].sum() > 3 * w[names.index("mouth")].sum()
    assert ((w >= 0) & (w <= 1)).all()
    maps = np.zeros((1, 2, 2, 2))
    maps[0, 0] = [[1, 2], [3, 4]]
    out = pool(maps, np.array([[[[1, 0], [0, 0]], [[0, 0.5], [0, 0.5]]]]))
    np.testing.assert_allclose(out, [[2.5, 0, 1, 0, 3, 0]])  # global, region 1, region 2 (channel-major)


def test_same_seed_same_features_and_weights_in_the_token(tmp_path):
    s = _samples()
    a = ResNetFPF(weights="none", random_state=3, **tiny())
    first = a.fit(s).transform(s)
    np.testing.assert_array_equal(first, clone(a).fit(s).transform(s))
    other = ResNetFPF(weights="none", random_state=4, **tiny()).fit(s).transform(s)
    assert not np.allclose(first, other)
    assert a.untrained and a.trained_on == () and a.model_files() == {"efficientnet-lite0:random-init": "seed=3"}
    assert "random-init:seed=3" in a.cache_token()
    import torch
    import torchvision

    tokens = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        path = tmp_path / f"w{seed}.pth"
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
        e = ResNetTMFE(weights=str(path), pretrained_on="synthetic", **tiny(backbone="resnet18"))
        digest = e.weights_info().sha256
        assert digest in e.cache_token() and e.model_files() == {f"resnet18:w{seed}.pth": digest}
        assert e.trained_on == ("synthetic",) and not e.untrained
        tokens.append(e.cache_token())
    assert tokens[0] != tokens[1]


def test_imagenet_weights_declare_imagenet(imagenet_lite0):  # noqa: F811
    from mebench.model_files import EFFICIENTNET_LITE0

    e = ResNetFPFTMFE(backbone="efficientnet-lite0", **tiny())
    assert e.trained_on == ("imagenet",) and not e.untrained
    assert e.model_files() == {"efficientnet-lite0:efficientnet-lite0-57934424.pth": EFFICIENTNET_LITE0.sha256}
    assert EFFICIENTNET_LITE0.sha256 in e.cache_token()


def test_motion_images():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    first = np.ascontiguousarray(np.repeat(first.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8))
    import cv2

    first = cv2.GaussianBlur(first, (0, 0), 2)
    second = np.roll(first, 2, axis=1)  # 2 px to the right
    for motion in ("flow-magnitude", "flow-strain", "difference"):
        image = motion_image(first, second, motion)
        assert image.shape == (64, 64, 3) and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
    still = motion_image(first, first, "flow-magnitude")  # Farneback noise (< 0.04 px) is not stretched
    np.testing.assert_allclose(still[..., :2], 0.5, atol=0.07)
    moved = motion_image(first, second, "flow-magnitude", scale=4.0)
    # the global (median) motion is removed: what is left of a pure shift is small
    assert abs(float(np.median(moved[8:-8, 8:-8, 0])) - 0.5) < 0.05
    with pytest.raises(ConfigError, match="motion must be one of"):
        motion_image(first, second, "optical")


def test_bad_options_and_unusable_samples(tmp_path):
    s = _samples()
    with pytest.raises(ConfigError, match="multiple of 16"):
        ResNetFPF(weights="none", input_size=50, align=None).fit(s).transform(s)
    with pytest.raises(ConfigError, match="pool must be"):
        ResNetFPF(weights="none", pool="max", **tiny()).fit(s).transform(s)
    with pytest.raises(ConfigError, match="motion must be one of"):
        ResNetTMFE(weights="none", motion="optical", **tiny()).fit(s).transform(s)
    import cv2

    cv2.imwrite(str(tmp_path / "apex.png"), np.full((64, 64, 3), 128, np.uint8))
    single = pd.DataFrame([{"sample_id": "m/s1", "dataset": "m", "subject_id": "m/p1", "frames": str(tmp_path / "apex.png"),
                            "frames_kind": "image"}])
    assert ResNetFPF(weights="none", **tiny()).fit(single).transform(single).shape == (1, 112 * 6)
    with pytest.raises(DataError, match="single image; resnet-tmfe needs at least 2 frames"):
        ResNetTMFE(weights="none", **tiny()).fit(single).transform(single)


def test_aligned_inputs_use_the_landmarks(face_model, face_cache):  # noqa: F811
    from mebench.data.canonical_face import canonical_landmarks
    from mebench.features.deep.inputs import face_inputs
    from mebench.features.flow_features import _photo_examples

    s = _photo_examples(0, n_subjects=1, clips=2)
    e = ResNetFPF(weights="none", input_size=64)
    out = e.fit(s).transform(s)
    assert out.shape == (2, 112 * 6) and e.counts_.get("align_aligned_clips") == 2
    counts: dict = {}
    _, apex, landmarks = face_inputs(next(s.itertuples(index=False)), 64, "per-clip", "column", "t", False, counts)
    assert apex.shape == (64, 64, 3) and not np.allclose(landmarks, canonical_landmarks(64))


@pytest.mark.parametrize("name,extra", [("resnet-fpf", {}), ("resnet-tmfe", {}), ("resnet-fpf-tmfe", {}),
                                        ("au-libreface", {"epochs": 50})])
def test_each_deep_extractor_with_logreg_beats_majority(cli, tmp_path, imagenet_lite0, name, extra):  # noqa: F811
    payload, manifest = run_manifest(tmp_path / "run", "--features", name, "--classifier", "logreg", *EASY,
                                     *_opts(backbone="efficientnet-lite0", weights="imagenet", input_size=64,
                                            align="null", **extra))
    assert payload["uar"] >= payload["majority"]["uar"] + 0.2, payload
    features = manifest["features"]
    assert features["trained_on"] == ["imagenet"] and features["untrained"] is False
    assert list(features["model_files"].values()) == ["579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"]


def test_contamination_is_declared_in_the_manifest(cli, tmp_path):
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path / "mine.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    _, manifest = run_manifest(tmp_path / "run", "--features", "resnet-tmfe", "--dataset-opt", "subjects=3",
                               "--dataset-opt", "clips_per_subject=2", "--dataset-opt", "frames=8",
                               *_opts(weights=str(path), pretrained_on="synthetic+casme2", input_size=64,
                                      align="null", backbone="resnet18"))
    assert manifest["features"]["trained_on"] == ["casme2", "synthetic"]  # the run's dataset is among them
    assert manifest["dataset"]["dataset"] == "synthetic"
    assert manifest["features"]["model_files"] == {"resnet18:mine.pth": manifest["features"]["model_files"]["resnet18:mine.pth"]}


def test_combined_features_are_cached_per_part_and_recorded(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    small = ("--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=8")
    opts = _opts(**{"resnet-tmfe.weights": "none", "input_size": 64, "resnet-tmfe.align": "null"})
    payload, manifest = run_manifest(tmp_path / "both", "--features", "hoof+resnet-tmfe", *small, *opts)
    features = manifest["features"]
    assert features["name"] == "hoof+resnet-tmfe" and [p["name"] for p in features["parts"]] == ["hoof", "resnet-tmfe"]
    assert features["cache_misses"] == 24 and [p["cache_misses"] for p in features["parts"]] == [12, 12]
    assert features["untrained"] is True and features["model_files"] == {"efficientnet-lite0:random-init": "seed=0"}
    assert manifest["resolved_params"]["features"]["resnet-tmfe"]["input_size"] == 64
    _, alone = run_manifest(tmp_path / "alone", "--features", "resnet-tmfe", *small,
                            *_opts(weights="none", input_size=64, align="null"))
    assert alone["features"]["cache_hits"] == 12 and alone["features"]["cache_misses"] == 0
    assert alone["features"]["cache_token"] == features["parts"][1]["cache_token"]


def test_combined_matrix_is_the_parts_side_by_side():
    from mebench.features.combined import build_combined
    from mebench.run import extract_features

    s = _samples()
    combined, seeds = build_combined("hoof+resnet-fpf", {"weights": "none", "input_size": 64, "align": None}, seed=5)
    assert seeds == {"resnet-fpf": 5} and combined.parts[1][1].random_state == 5
    X, skipped, stats = extract_features(combined, s, use_cache=False, jobs=1, on_error="raise")
    parts = [extract_features(p, s, use_cache=False, jobs=1, on_error="raise")[0] for _, p in combined.parts]
    np.testing.assert_array_equal(X, np.hstack(parts))
    assert stats["kept_positions"] == list(range(len(s))) and not skipped


def test_combined_option_errors():
    from mebench.features.combined import build_combined

    with pytest.raises(ConfigError, match="none of hoof, resnet-fpf takes 'bogus'"):
        build_combined("hoof+resnet-fpf", {"bogus": 1}, seed=0)
    with pytest.raises(ConfigError, match="'lbptop' is not one of the combined extractors"):
        build_combined("hoof+resnet-fpf", {"lbptop.size": 3}, seed=0)
    with pytest.raises(ConfigError, match="names an extractor twice"):
        build_combined("hoof+hoof", {}, seed=0)
    with pytest.raises(ConfigError, match="no empty parts"):
        build_combined("hoof+", {}, seed=0)
    with pytest.raises(ConfigError, match="does not take option 'sise'"):
        build_combined("hoof+resnet-fpf", {"hoof.sise": 3}, seed=0)


def test_stateful_combination_precomputes_its_stateless_parts(cli, tmp_path):
    small = ("--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=8")
    payload, manifest = run_manifest(tmp_path / "run", "--features", "resnet-tmfe+au-libreface", *small,
                                     *_opts(weights="none", input_size=64, align="null", backbone="resnet18",
                                            **{"au-libreface.epochs": 5}))
    features = manifest["features"]
    assert features["stateful"] is True and payload["n"] == 12
    assert [p["name"] for p in features["parts"]] == ["resnet-tmfe", "au-libreface"]
    tmfe = features["parts"][0]
    assert tmfe["cache_misses"] + tmfe["cache_hits"] == 12 and features["parts"][1]["stateful"] is True


def test_image_shaped_features_go_through_the_runner_and_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    from mebench.run import extract_features

    s = _samples()
    extractor = FlowImage(align=None)
    X, _, stats = extract_features(extractor, s, use_cache=True, jobs=1, on_error="raise")
    assert X.shape == (len(s), 3, 28, 28) and stats["cache_misses"] == len(s)
    again, _, stats = extract_features(clone(extractor), s, use_cache=True, jobs=1, on_error="raise")
    assert stats["cache_hits"] == len(s)
    np.testing.assert_array_equal(X, again)
    flat, _, _ = extract_features(FlowImage(align=None, flatten=True), s, use_cache=True, jobs=1, on_error="raise")
    np.testing.assert_array_equal(flat, X.reshape(len(s), -1))


def test_flow_image_reads_a_precomputed_image_as_computed_from_frames(tmp_path):
    import cv2

    from mebench.data.manifest import Manifest

    s = _samples()
    computed = FlowImage(align=None).fit(s).transform(s)
    assert computed.shape == (4, 3, 28, 28) and computed.min() >= 0 and computed.max() <= 1
    (tmp_path / "flow").mkdir()
    rows = ["sample_id,subject,label,path"]
    for k, row in enumerate(s.itertuples(index=False)):
        rgb = np.round(computed[k].transpose(1, 2, 0) * 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "flow" / f"c{k}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        rows.append(f"c{k},{row.subject_id.split('/')[1]},{row.label},flow/c{k}.png")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    images = Manifest(root=tmp_path).load("label")
    assert set(images["frames_kind"]) == {"image"}
    loaded = FlowImage().fit(images).transform(images)
    assert np.abs(loaded - computed).max() <= 1.5 / 255
    e = FlowImage(normalise="none")
    raw = e.fit(images).transform(images)
    first = cv2.cvtColor(cv2.imread(str(tmp_path / "flow" / "c0.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_allclose(raw[0], first.transpose(2, 0, 1) / 255.0, atol=1e-6)
    assert e.counts_ == {"flow_image_precomputed": 4}
    apex = FlowImage(kind="apex", align=None, size=16).fit(s).transform(s)
    assert apex.shape == (4, 3, 16, 16)
    with pytest.raises(ConfigError, match="kind must be one of flow, apex, apex\+flow"):
        FlowImage(kind="strain").fit(s).transform(s)


def test_the_seed_pipeline_config_runs(cli, tmp_path, imagenet_lite0):  # noqa: F811
    payload, manifest = run_manifest(tmp_path / "seed", "--config", "baselines/seed-fpf-tmfe-au-logreg.yaml", *EASY,
                                     *_opts(input_size=64, align="null", **{"au-libreface.epochs": 30}))
    features = manifest["features"]
    assert manifest["pipeline"] == "resnet-fpf-tmfe+au-libreface+logreg" and features["stateful"] is True
    assert [p["name"] for p in features["parts"]] == ["resnet-fpf-tmfe", "au-libreface"]
    assert features["trained_on"] == ["imagenet"] and all(p["trained_on"] == ["imagenet"] for p in features["parts"])
    assert manifest["resolved_params"]["features"]["au-libreface"]["backbone"] == "efficientnet-lite0"
    assert payload["uar"] >= payload["majority"]["uar"] + 0.2, payload
