"""au-libreface: the stateful-extractor contract (targets only at fit), learning AUs, LibreFace checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
from _deep_helpers import efficientnet_file, imagenet_lite0, tiny  # noqa: F401  (fixtures)
from _lazy import LazyModule

from mebench.errors import ConfigError, DataError
from mebench.features.deep.libreface import DETECTION_AUS, INTENSITY_AUS, AULibreFace, au_sets

torch = LazyModule("torch")
LABELS = ["label", "emotion", "deception", "aus"]


def _samples(subjects=4, clips=4, seed=0, **extra):
    from mebench.data.synthetic import SyntheticDataset

    return SyntheticDataset(subjects=subjects, clips_per_subject=clips, frames=10, size=64, effect=1.0, seed=seed,
                            **extra).load("deception")


def _split(s, n_test_subjects=1):
    test_subjects = sorted(s["subject_id"].unique())[-n_test_subjects:]
    test = s["subject_id"].isin(test_subjects).to_numpy()
    return s[~test].reset_index(drop=True), s[test].reset_index(drop=True)


def test_targets_reach_fit_only_and_test_annotations_are_invisible():
    s = _samples()
    train, test = _split(s)
    e = AULibreFace(weights="none", backbone="resnet18", epochs=20, **tiny())
    assert e.stateless is False and e.fit_targets == ("aus",)
    e.fit(train.drop(columns=LABELS), targets=train[["aus"]])  # as the runner calls it
    out = e.transform(test.drop(columns=LABELS))
    assert out.shape == (len(test), 72) and np.isfinite(out).all()
    assert len(e.feature_names()) == 72 and e.feature_names()[0] == "AU1_intensity_onset"
    np.testing.assert_allclose(out[:, 48:], out[:, 24:48] - out[:, :24])  # delta = apex - onset
    # a test row's annotation cannot matter: transform never reads it
    forged = test.copy()
    forged["aus"] = "1+2+4+5+6+7+9+10+12+14+15+17"
    np.testing.assert_array_equal(out, e.transform(forged))
    # the training rows' annotations do matter
    other = AULibreFace(weights="none", backbone="resnet18", epochs=20, **tiny())
    other.fit(train.drop(columns=LABELS), targets=train[["aus"]].assign(aus="12"))
    assert not np.allclose(out, other.transform(test.drop(columns=LABELS)))
    assert e.positives_["AU4"] == sum(4 in a for a in au_sets(train["aus"]))


def test_without_annotations_it_says_what_it_needs():
    s = _samples(subjects=2, clips=2)
    with pytest.raises(DataError, match="no 'aus' column") as err:
        AULibreFace(weights="none", backbone="resnet18", **tiny()).fit(s.drop(columns=["aus"]))
    assert "intensity_checkpoint" in str(err.value)
    with pytest.raises(ConfigError, match="must be fit before transform"):
        AULibreFace(weights="none", **tiny()).transform(s)
    with pytest.raises(DataError, match="cannot read its Action Units 'AU4x'"):
        au_sets(["AU4x"], ids=["s1"])
    assert au_sets([(4, 15), "1+2", None, float("nan"), ""]) == [{4, 15}, {1, 2}, set(), set(), set()]


def test_heads_learn_the_aus_of_held_out_subjects(imagenet_lite0):  # noqa: F811
    from sklearn.metrics import roc_auc_score

    s = _samples(subjects=6, clips=6, intensity=3.0, noise=1.0)
    train, test = _split(s, n_test_subjects=2)
    e = AULibreFace(backbone="efficientnet-lite0", epochs=50, **tiny())
    out = e.fit(train.drop(columns=LABELS), targets=train[["aus"]]).transform(test.drop(columns=LABELS))
    truth = au_sets(test["aus"])
    for au in (4, 15):
        present = np.array([au in a for a in truth])
        delta = out[:, 48 + 12 + DETECTION_AUS.index(au)]
        assert roc_auc_score(present, delta) > 0.8, au


def test_trains_on_casme2_annotations_as_the_loader_reads_them(tmp_path):
    from mebench.data.casme2 import CASME2
    from mebench.data.synthetic import write_casme2_layout

    write_casme2_layout(_samples(subjects=2, clips=3), tmp_path, variant="cropped")
    samples = CASME2(root=tmp_path, labels="all", variant="cropped").load("emotion")
    assert isinstance(samples["aus"].iloc[0], tuple)
    e = AULibreFace(weights="none", backbone="resnet18", epochs=5, **tiny())
    e.fit(samples.drop(columns=["aus"]), targets=samples[["aus"]])
    assert e.positives_["AU4"] == sum(4 in a for a in samples["aus"]) > 0
    assert e.transform(samples.drop(columns=["aus"])).shape == (len(samples), 72)


def _libreface_layout(n_out=12):
    """A model laid out as LibreFace's published ResNet-18 checkpoints are (README key mapping)."""
    import torchvision

    class LibreFaceLayout(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-1])
            self.classifier = torch.nn.Sequential(torch.nn.Linear(512, 128), torch.nn.ReLU(),
                                                  torch.nn.BatchNorm1d(128), torch.nn.Dropout(0.1),
                                                  torch.nn.Linear(128, n_out), torch.nn.Sigmoid())

        def forward(self, x):
            return self.classifier(self.encoder(x).flatten(1))

    return LibreFaceLayout()


def _checkpoint(path, seed, n_out=12):
    torch.manual_seed(seed)
    model = _libreface_layout(n_out)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a wrong mapping cannot pass
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    torch.save({"model": model.state_dict(), "optimizer": {"lr": 0.001}, "epoch": 12}, path)
    return model.eval()


def test_libreface_checkpoints_load_through_the_documented_mapping(tmp_path):
    from mebench.io import open_clip

    s = _samples(subjects=2, clips=1)
    intensity = _checkpoint(tmp_path / "resnet_disfa.pt", seed=1)
    detection = _checkpoint(tmp_path / "resnet_bp4d.pt", seed=2)
    e = AULibreFace(intensity_checkpoint=str(tmp_path / "resnet_disfa.pt"),
                    detection_checkpoint=str(tmp_path / "resnet_bp4d.pt"), backbone="resnet18", **tiny())
    out = e.fit(s.drop(columns=LABELS)).transform(s.drop(columns=LABELS))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    for k, row in enumerate(s.itertuples(index=False)):
        for when, frame in ((0, row.onset), (1, row.apex)):
            image = open_clip(row.frames).read(int(frame), size=(64, 64))
            x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 - mean) / std
            with torch.no_grad():
                want_i = torch.clamp(intensity(x) * 5, 0, 5)[0].numpy()
                want_d = detection(x)[0].numpy()
            np.testing.assert_allclose(out[k, 24 * when:24 * when + 12], want_i, atol=1e-4)
            np.testing.assert_allclose(out[k, 24 * when + 12:24 * when + 24], want_d, atol=1e-5)
    assert e.trained_on == ("imagenet", "disfa", "bp4d")
    provenance = e.model_files()
    assert set(provenance) == {"intensity:resnet_disfa.pt", "detection:resnet_bp4d.pt"}
    assert len(set(provenance.values())) == 2 and provenance["intensity:resnet_disfa.pt"] in e.cache_token()
    only = AULibreFace(intensity_checkpoint=str(tmp_path / "resnet_disfa.pt"), backbone="resnet18",
                       pretrained_on="affectnet", **tiny())
    half = only.fit(s).transform(s)
    np.testing.assert_allclose(half[:, :12], out[:, :12], atol=1e-6)
    assert (half[:, 12:24] == 0).all() and only.trained_on == ("imagenet", "disfa", "affectnet")
    assert len(INTENSITY_AUS) == len(DETECTION_AUS) == 12


def test_checkpoints_that_do_not_fit_are_refused(tmp_path):
    s = _samples(subjects=2, clips=1)
    _checkpoint(tmp_path / "ok.pt", seed=1)
    with pytest.raises(ConfigError, match="pass backbone=resnet18"):
        AULibreFace(intensity_checkpoint=str(tmp_path / "ok.pt"), **tiny()).fit(s)
    state = torch.load(tmp_path / "ok.pt", weights_only=True)["model"]
    state["attention.weight"] = torch.zeros(3)
    torch.save({"model": state}, tmp_path / "extra.pt")
    with pytest.raises(ConfigError, match="key 'attention.weight' is not in LibreFace's ResNet-18 layout"):
        AULibreFace(intensity_checkpoint=str(tmp_path / "extra.pt"), backbone="resnet18", **tiny()).fit(s)
    _checkpoint(tmp_path / "eight.pt", seed=3, n_out=8)
    with pytest.raises(ConfigError, match="detection head maps 512 features to 12 AUs"):
        AULibreFace(detection_checkpoint=str(tmp_path / "eight.pt"), backbone="resnet18", **tiny()).fit(s)
    with pytest.raises(ConfigError, match="is not an existing .pt/.pth/.safetensors file"):
        AULibreFace(intensity_checkpoint=str(tmp_path / "absent.pt"), backbone="resnet18", **tiny()).fit(s)
