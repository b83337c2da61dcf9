"""Trainable nets (issue 11): the wrapper's contract, honest model selection, the fused STSTNet engine,
the leaky protocol, and bring-your-own-net plugins.

Tiny configurations throughout: few epochs, small inputs, the synthetic dataset.
"""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from _cli import run_manifest
from _lazy import LazyModule
from sklearn.base import clone

from mebench.classifiers.nets import TorchClassifier, inner_split
from mebench.errors import ConfigError
from mebench.registry import CLASSIFIERS

torch = LazyModule("torch")
nets = LazyModule("mebench.classifiers.nets.models")  # the nets' modules import torch
e2e = LazyModule("mebench.classifiers.nets.e2e")

EASY = ("--dataset-opt", "subjects=6", "--dataset-opt", "clips_per_subject=8", "--dataset-opt", "frames=10",
        "--dataset-opt", "effect=1.0", "--dataset-opt", "intensity=3.0", "--dataset-opt", "noise=1.0")
FLOW = ("--features", "flow-image", "--features-opt", "align=null")
NETS = ("mlp", "ststnet", "off-apexnet", "resnet-e2e")


def _kernel():
    from mebench.classifiers.nets.fused import kernel_status, load_kernel

    lib = load_kernel()
    if lib is None:
        pytest.skip(f"fused STSTNet engine {kernel_status()}")
    return lib


# ---------------------------------------------------------------------- modules
@pytest.mark.parametrize("module, shape", [
    (lambda: nets.STSTNetModule(3), (3, 28, 28)),
    (lambda: nets.OffApexNetModule(3, hidden=32), (2, 28, 28)),
    (lambda: nets.MLP(hidden="16,8").build_module((12,), 3), (12,)),
    (lambda: e2e.ResNetE2E(weights="none", backbone="resnet18").build_module((6, 32, 32), 3), (6, 32, 32)),
])
def test_modules_give_logits_and_every_parameter_gets_a_gradient(module, shape):
    torch.manual_seed(0)
    net = module()
    x = torch.randn((6,) + shape)
    logits = net(x)
    assert logits.shape == (6, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_ststnet_has_the_published_layout():
    net = nets.STSTNetModule(3)
    assert net.conv.out_channels == 3 + 5 + 8 and net.conv.kernel_size == (3, 3) and net.conv.padding == (2, 2)
    assert net.fc.in_features == 400  # 16 maps of 5x5 after 3x3/3 max and 2x2 average pooling of 28x28
    est = nets.STSTNet()
    assert (est.epochs, est.batch_size, est.lr, est.optimizer, est.selection) == (500, 256, 5e-5, "adam", "fixed")


def test_resnet_e2e_fuses_two_14x14_maps_along_channels():
    torch.manual_seed(0)
    net = e2e.ResNetE2E(weights="none", backbone="resnet18").build_module((6, 224, 224), 3).eval()
    with torch.no_grad():
        fused = net.fused_map(torch.rand(1, 6, 224, 224))
    assert fused.shape == (1, 256 + 256, 14, 14)
    assert net.head[1].in_features == 512 * (1 + 5)  # global mean + brows, eyes, nose, mouth, face
    regions = net.regions.numpy()
    assert regions.shape == (5, 14, 14) and np.allclose(regions.sum(axis=(1, 2)), 1.0)
    assert regions[0, :7].sum() > regions[0, 7:].sum()  # the brows sit in the upper half of an aligned face
    with pytest.raises(ValueError, match="multiple of 16"):
        e2e.ResNetE2E(weights="none", epochs=1).fit(np.zeros((4, 6, 20, 20)), [0, 1, 0, 1])


def test_image_nets_refuse_tables_with_a_clear_error_and_take_flattened_images():
    X, y = nets.STSTNet.example_data(n_samples=12, n_classes=2, seed=0)
    with pytest.raises(ValueError, match=r"\(n, 3, 28, 28\).*flow-image"):
        nets.STSTNet(epochs=1).fit(np.zeros((12, 12)), y)
    flat = nets.STSTNet(epochs=1, engine="torch").fit(X.reshape(12, -1), y)
    shaped = nets.STSTNet(epochs=1, engine="torch").fit(X, y)
    np.testing.assert_array_equal(flat.predict_proba(X), shaped.predict_proba(X.reshape(12, -1)))
    off = nets.OffApexNet(epochs=1, hidden=16).fit(X, y)  # (u, v, strain): the strain channel is ignored
    assert off.members_[0].streams[0][0].in_channels == 1 and off.input_shape_ == (3, 28, 28)


# ---------------------------------------------------------------------- the fused STSTNet engine
def test_fused_kernel_gradients_equal_autograd():
    import ctypes

    from mebench.classifiers.nets.fused import pack, pad_inputs, ptr

    lib = _kernel()
    torch.manual_seed(1)
    k, n, b = 3, 20, 12
    X, y = torch.randn(n, 3, 28, 28), torch.randint(0, k, (n,))
    net = nets.STSTNetModule(k)
    with torch.no_grad():
        net.bn.weight.uniform_(-1.5, 1.5)  # negative gammas turn the max pool into a min pool of the ReLU output
        net.bn.bias.uniform_(-0.5, 0.5)
    params, running = pack(net)
    batch = torch.randperm(n)[:b]
    mask = (torch.rand(b, 16, 10, 10) > 0.5).float() * 2.0
    weights = torch.tensor([1.0, 2.0, 0.5])
    net.train()
    z = net.pool(net.bn(torch.relu(net.conv(X[batch])))) * mask
    loss = torch.nn.functional.cross_entropy(net.fc(net.avgpool(z).flatten(1)), y[batch], weight=weights)
    loss.backward()
    grad = np.zeros_like(params)
    work = np.zeros(lib.ststnet_work_size(b, k), np.float32)
    c_mask = np.ascontiguousarray(mask.numpy().reshape(b, 16, 100).transpose(0, 2, 1))
    c_loss = lib.ststnet_forward_backward(
        ptr(pad_inputs(X.numpy())), ptr(y.numpy().astype(np.int32), ctypes.c_int32),
        ptr(batch.numpy().astype(np.int32), ctypes.c_int32), b, k, ptr(params), ptr(running), ptr(c_mask),
        ptr(weights.numpy()), 0.1, ptr(grad), ptr(work))
    assert c_loss == pytest.approx(loss.item(), rel=1e-6)
    expected = np.concatenate([p.grad.numpy().ravel() for p in (net.conv.weight, net.conv.bias, net.bn.weight,
                                                                 net.bn.bias, net.fc.weight, net.fc.bias)])
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(running, np.concatenate([net.bn.running_mean, net.bn.running_var]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, code", [("adam", 0), ("adamw", 1), ("sgd", 2)])
def test_fused_optimizer_steps_follow_torch_optim(name, code):
    from mebench.classifiers.nets.fused import ptr
    from mebench.classifiers.nets.wrapper import make_optimizer

    lib = _kernel()
    rng = np.random.default_rng(0)
    start = rng.normal(0, 1, 50).astype(np.float32)
    grads = [rng.normal(0, 1, 50).astype(np.float32) for _ in range(3)]
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    holder = torch.nn.Module()
    holder.p = param
    opt = make_optimizer(holder, {"optimizer": name, "lr": 0.01, "weight_decay": 0.1, "momentum": 0.9})
    ours, m, v = start.copy(), np.zeros(50, np.float32), np.zeros(50, np.float32)
    for step, g in enumerate(grads, start=1):
        param.grad = torch.from_numpy(g.copy())
        opt.step()
        lib.ststnet_optimizer_step(ptr(ours), ptr(g), ptr(m), ptr(v), 50, step, code, 0.01, 0.9, 0.999, 1e-8, 0.1, 0.9)
    np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-5, atol=1e-6)


def _folds_problem(n_subjects=5, per_subject=8, seed=0):
    X, y = nets.STSTNet.example_data(n_samples=n_subjects * per_subject, n_classes=3, seed=seed)
    subjects = np.repeat(np.arange(n_subjects), per_subject)
    trains = [np.flatnonzero(subjects != s) for s in range(n_subjects)]
    return X, y, subjects, trains


@pytest.mark.parametrize("make", [
    lambda: nets.STSTNet(epochs=6, lr=2e-3, batch_size=16, engine="fused"),
    lambda: nets.STSTNet(epochs=3, lr=2e-3, batch_size=16, engine="fused", selection="inner", patience=2),
    lambda: nets.MLP(epochs=5, hidden=8),
])
def test_fit_folds_predicts_exactly_as_fitting_fold_by_fold(make):
    net = make()
    if getattr(net, "engine", None) == "fused":
        _kernel()
    X, y, subjects, trains = _folds_problem()
    if isinstance(net, nets.MLP):
        X = X.reshape(len(X), -1)[:, :20]
    together = net.fit_folds(X, y, trains, groups=subjects, jobs=2)
    for train, model in zip(trains, together):
        alone = clone(net).fit(X[train], y[train], groups=subjects[train])
        test = np.setdiff1d(np.arange(len(X)), train)
        np.testing.assert_array_equal(model.predict_proba(X[test]), alone.predict_proba(X[test]))
        assert model.engine_ == alone.engine_


def test_runner_trains_fused_folds_together_with_jobs_and_scores_alike():
    from mebench.run import cross_predict
    from mebench.stats.permutation import prepared_from_arrays

    _kernel()
    X, y, subjects, _ = _folds_problem(n_subjects=4, per_subject=6)
    prepared = prepared_from_arrays(X, np.array(["a", "b", "c"])[y], subjects,
                                    estimator=nets.STSTNet(epochs=4, lr=2e-3, batch_size=8))
    events = []
    one = cross_predict(prepared, jobs=1)
    two = cross_predict(prepared, jobs=2, fit_progress=lambda fold, done, total: events.append((fold, done, total)))
    np.testing.assert_array_equal(one.scores, two.scores)
    np.testing.assert_array_equal(one.pred, two.pred)
    assert events and events[-1][0] == -1 and events[-1][1] == events[-1][2] == 4 * 4  # epochs of all folds


def test_fused_engine_falls_back_to_torch_without_a_compiler(monkeypatch, tmp_path):
    from mebench.classifiers.nets import fused

    monkeypatch.setattr(fused, "_state", {})
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    X, y = nets.STSTNet.example_data(n_samples=10, n_classes=2)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        model = nets.STSTNet(epochs=1).fit(X, y)
    assert model.engine_ == "torch"
    with pytest.raises(ConfigError, match="engine=fused is not available"):
        nets.STSTNet(epochs=1, engine="fused").fit(X, y)


# ---------------------------------------------------------------------- honest model selection
def test_inner_split_is_subject_disjoint_seeded_and_keeps_every_class():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"s{i}" for i in range(10)], 6)
    codes = rng.integers(0, 3, len(groups))
    (train, val), note = inner_split(codes, groups, 0.2, seed=4)
    assert not set(groups[train]) & set(groups[val]) and len(set(groups[val])) == 2
    assert set(codes[train]) == {0, 1, 2} and "2 of 10 subjects" in note
    again, _ = inner_split(codes, groups, 0.2, seed=4)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(inner_split(codes, groups, 0.2, seed=5)[0][1], val)
    split, note = inner_split(codes, None, 0.2, seed=4)
    assert "per-sample" in note and len(split[1]) > 0
    assert inner_split(codes, np.zeros(len(codes)), 0.2, seed=4)[0] is None


def test_early_stopping_uses_the_inner_split_and_search_picks_on_it():
    X, y = nets.MLP.example_data(n_samples=60, n_classes=2, seed=1)
    groups = np.repeat(np.arange(6), 10)
    model = nets.MLP(epochs=60, patience=3, lr=0.05, hidden=8).fit(X, y, groups=groups)
    assert "1 of 6 subjects" in model.selection_note_
    assert model.members_[0].selected_epoch == int(np.argmin(model.history_[0])) + 1
    searched = nets.MLP(epochs=5, hidden=8, search="lr=0.1|0.0001").fit(X, y, groups=groups)
    assert [r["params"]["lr"] for r in searched.search_results_] == [0.1, 0.0001]
    best = min(searched.search_results_, key=lambda r: r["score"])
    assert searched.best_params_ == best["params"]
    with pytest.raises(ConfigError, match="search needs an inner validation split"):
        nets.MLP(selection="fixed", search="lr=0.1|0.01").fit(X, y)
    with pytest.raises(ConfigError, match="cannot vary seeds"):
        nets.MLP(search="seeds=1|2").fit(X, y, groups=groups)


def test_progress_counts_epochs_and_reaches_the_budget():
    X, y = nets.MLP.example_data(n_samples=40, n_classes=2)
    seen = []
    nets.MLP(epochs=50, patience=2, lr=0.2, hidden=4, seeds=2).fit(X, y, groups=np.repeat(np.arange(4), 10),
                                                              progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (100, 100) and all(b[0] >= a[0] for a, b in zip(seen, seen[1:]))
    assert len(seen) < 100  # early stopping skipped epochs; the bar still completes


def test_seed_ensemble_averages_member_probabilities_and_seeds_are_recorded():
    X, y = nets.MLP.example_data(n_samples=40, n_classes=3)
    both = nets.MLP(epochs=4, hidden=8, seeds=2, random_state=3, selection="fixed").fit(X, y)
    one = nets.MLP(epochs=4, hidden=8, random_state=3, selection="fixed").fit(X, y).predict_proba(X)
    two = nets.MLP(epochs=4, hidden=8, random_state=4, selection="fixed").fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(both.predict_proba(X), np.mean([one, two], axis=0))
    assert both.member_seeds_ == [3, 4] and not np.array_equal(one, two)


def test_device_option_is_checked_and_results_do_not_touch_global_rng():
    X, y = nets.MLP.example_data(n_samples=20, n_classes=2)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            nets.MLP(epochs=1, device="cuda").fit(X, y)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    nets.MLP(epochs=2, hidden=4).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), before)
    assert nets.MLP.expensive and nets.STSTNet.expensive  # permutation tests must ask before refitting nets


# ---------------------------------------------------------------------- real runs
@pytest.mark.parametrize("name, args", [
    ("mlp", ("--classifier-opt", "epochs=40")),
    ("ststnet", FLOW + ("--classifier-opt", "epochs=30", "--classifier-opt", "lr=0.002",
                        "--classifier-opt", "batch_size=16")),
    ("off-apexnet", FLOW + ("--classifier-opt", "epochs=15", "--classifier-opt", "selection=fixed",
                            "--classifier-opt", "hidden=64", "--classifier-opt", "lr=0.001")),
    ("resnet-e2e", FLOW + ("--features-opt", "size=32", "--classifier-opt", "epochs=6", "--classifier-opt", "lr=0.001",
                           "--classifier-opt", "streams=tmfe", "--classifier-opt", "weights=none",
                           "--classifier-opt", "batch_size=16", "--classifier-opt", "selection=fixed")),
])
def test_each_net_beats_majority_under_loso_on_the_easy_synthetic_task(cli, tmp_path, name, args):
    payload, manifest = run_manifest(tmp_path / name, "--protocol", "loso", "--classifier", name, *EASY, *args)
    assert payload["uf1"] > payload["majority"]["uf1"] + 0.25, payload
    assert payload["auc"] > 0.75, payload
    opts = dict(a.split("=", 1) for a in args[1::2] if "=" in a)
    assert manifest["resolved_params"]["classifier"]["epochs"] == int(opts["epochs"])


RECORDER = '''
import json, os
import numpy as np
from torch import nn
from mebench.classifiers.nets.models import MLP
from mebench.registry import CLASSIFIERS


class Tap(nn.Module):
    """Passes through; while its owner fits, records every row that reaches the net (train or eval mode)."""

    def __init__(self, inner, owner):
        super().__init__()
        self.inner, self.owner = inner, owner

    def forward(self, x):
        if self.owner._record is not None:
            key = "train" if self.training else "evaluated"
            self.owner._record[key].extend(r.tobytes().hex() for r in x.detach().cpu().numpy())
        return self.inner(x)


@CLASSIFIERS.register("recording-mlp")
class RecordingMLP(MLP):
    """An MLP that logs, per fit, the rows it was given, its groups, and every row its net saw."""

    net_params = {"log": ""}
    defaults = {"standardize": False}
    _record = None

    def build_module(self, input_shape, n_classes):
        return Tap(super().build_module(input_shape, n_classes), self)

    def _fit(self, X, y, groups=None, eval_set=None, progress=None):
        rows = np.asarray(X, dtype=np.float32)
        self._record = {"fit": [r.tobytes().hex() for r in rows], "groups": sorted(set(map(str, groups))),
                        "eval_set": eval_set is not None, "train": [], "evaluated": []}
        try:
            return super()._fit(X, y, groups, eval_set, progress)
        finally:
            with open(self.log, "a") as fh:
                fh.write(json.dumps(self._record) + "\\n")
            self._record = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_record"}
'''


def test_the_held_out_subject_never_reaches_fit_in_a_real_run(tmp_path, small_spec, run_api):
    from _api import prepare

    plugin = tmp_path / "recorder.py"
    plugin.write_text(RECORDER)
    log = tmp_path / "fits.jsonl"
    data = {"subjects": 5, "clips_per_subject": 6}
    run_api(small_spec(plugins=(str(plugin),), classifier="recording-mlp", dataset_opts=data,
                       classifier_opts={"log": str(log), "epochs": 6, "patience": 10}))
    spec = small_spec("unused", plugins=(str(plugin),), classifier="recording-mlp", dataset_opts=data,
                      classifier_opts={"log": str(tmp_path / "unused.jsonl")})
    prepared = prepare(spec)
    subject_of = {row.astype(np.float32).tobytes().hex(): s
                  for row, s in zip(prepared.X, prepared.samples["subject_id"].astype(str))}
    assert len(subject_of) == len(prepared.X), "feature rows must be distinct to identify samples"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    everyone = set(prepared.samples["subject_id"].astype(str))
    assert len(records) == 5  # one fit per LOSO fold
    held_out_seen = set()
    for rec in records:
        held_out = everyone - set(rec["groups"])
        assert len(held_out) == 1 and not rec["eval_set"]
        held_out_seen |= held_out
        for key in ("fit", "train", "evaluated"):
            subjects = {subject_of[h] for h in rec[key]}
            assert subjects and not subjects & held_out, (key, held_out)
        trained = {subject_of[h] for h in rec["train"]}
        validated = {subject_of[h] for h in rec["evaluated"]}
        assert not trained & validated, "the inner validation split keeps subjects whole"
    assert held_out_seen == everyone


def test_leaky_protocol_inflates_scores_on_null_data_and_is_flagged(small_spec, run_api):
    null = {"dataset_opts": {"subjects": 8, "clips_per_subject": 6, "effect": 0.0}, "classifier": "mlp",
            "classifier_opts": {"epochs": 40, "lr": 0.05, "selection": "fixed"}}
    honest = run_api(small_spec("loso", protocol="loso", **null))
    leaky = run_api(small_spec("leaky", protocol="loso-test-epoch-selection", **null))
    honest_manifest, manifest = honest.manifest, leaky.manifest
    pooled = leaky.metrics["pooled"], honest.metrics["pooled"]
    assert pooled[0]["accuracy"] > pooled[1]["accuracy"] + 0.1, pooled
    assert manifest["warnings"][0].startswith("LEAKY:") and "inflated" in manifest["warnings"][0]
    assert not any("LEAKY" in w for w in honest_manifest["warnings"])
    assert manifest["protocol"]["name"] == "loso-test-epoch-selection"
    if "flags" in manifest:  # run-directory flags (issue 8) where the runner records them
        assert "LEAKY" in manifest["flags"] and "LEAKY" not in honest_manifest["flags"]


# ---------------------------------------------------------------------- bring your own net
def _readme_net_example() -> str:
    """The "Bring your own net" example of the README, as a plugin file."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("# my_nets.py")
    return text[start:text.index("```", start)]


def test_the_readme_net_example_is_a_plugin_file_that_runs_and_conforms(cli, tmp_path):
    plugin = tmp_path / "my_nets.py"
    plugin.write_text(_readme_net_example())
    payload, manifest = run_manifest(tmp_path / "run", "--plugins", plugin, "--classifier", "tiny-cnn",
                                     "--classifier-opt", "width=6", "--classifier-opt", "epochs=12", *EASY, *FLOW)
    assert payload["uf1"] > payload["majority"]["uf1"] + 0.2, payload
    params = manifest["resolved_params"]["classifier"]
    assert params["width"] == 6 and params["epochs"] == 12 and params["lr"] == 3e-3 and params["device"] == "auto"
    net = CLASSIFIERS.create("tiny-cnn")
    assert net.get_params()["batch_size"] == 32 and clone(net).get_params() == net.get_params()
    X, y = net.example_data(n_samples=20, n_classes=2)  # what the conformance test feeds it
    assert X.shape == (20, 3, 28, 28) and set(y) == {0, 1}
    with pytest.raises(ValueError, match=r"\(n, 3, 28, 28\)"):
        net.fit(np.zeros((4, 12)), [0, 1, 0, 1])


def test_an_entry_point_distribution_registers_a_net(tmp_path):
    import subprocess
    import sys

    site = tmp_path / "site"
    (site / "lab_nets").mkdir(parents=True)
    (site / "lab_nets" / "__init__.py").write_text(textwrap.dedent('''
        from torch import nn
        from mebench.classifiers.nets import TorchClassifier


        class LabNet(TorchClassifier):
            """A lab's two-layer perceptron."""

            defaults = {"epochs": 20, "selection": "fixed", "lr": 0.01}

            def build_module(self, input_shape, n_classes):
                width = 1
                for size in input_shape:
                    width *= size
                return nn.Sequential(nn.Flatten(), nn.Linear(width, 16), nn.ReLU(), nn.Linear(16, n_classes))
    '''))
    dist = site / "lab_nets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-nets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mebench.classifiers]\nlab-net = lab_nets:LabNet\n")
    (dist / "RECORD").write_text("")
    code = textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {str(site)!r})
        from click.testing import CliRunner
        from mebench.cli import main
        r = CliRunner()
        listed = r.invoke(main, ["list", "classifiers"])
        ran = r.invoke(main, ["run", "--classifier", "lab-net", "--dataset-opt", "subjects=4",
                              "--dataset-opt", "clips_per_subject=6", "--dataset-opt", "frames=10",
                              "--out", {str(tmp_path / 'run')!r}, "--json"])
        print(json.dumps({{"listed": listed.output, "code": ran.exit_code, "out": ran.output}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "lab-net" in out["listed"] and out["code"] == 0, out["out"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["resolved_params"]["classifier"]["epochs"] == 20


def test_subclass_declarations_are_checked():
    with pytest.raises(TypeError, match="unknown parameter"):
        type("Bad", (TorchClassifier,), {"defaults": {"epoch": 3}})
    with pytest.raises(TypeError, match="redeclares"):
        type("Bad", (TorchClassifier,), {"net_params": {"lr": 3}})
    with pytest.raises(NotImplementedError, match="build_module"):
        TorchClassifier(epochs=1).fit(np.zeros((4, 2)), [0, 1, 0, 1])


# scikit-learn's check_estimator runs over every net in tests/test_sklearn_checks.py


def test_a_permutation_test_on_a_net_must_be_asked_for(cli, tmp_path, small_spec, run_api):
    """It refits the net on every fold per permutation: mebench says how long and waits for --permutations."""
    run_api(small_spec(classifier="mlp", classifier_opts={"epochs": 5}))
    refused = cli("stats", tmp_path / "run", "--bootstrap", "50")
    text = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "refits 'mlp' on all 4 folds" in text and "hours of training" in text
    assert "Pass --permutations N explicitly" in text and "Traceback" not in refused.output
    assert not (tmp_path / "run" / "stats.json").exists()
    assert cli("stats", tmp_path / "run", "--bootstrap", "50", "--permutations", "0").exit_code == 0
    asked = cli("stats", tmp_path / "run", "--bootstrap", "50", "--permutations", "3", "--json")
    assert asked.exit_code == 0 and json.loads(asked.output)["permutation"]["n_permutations"] == 3


def test_images_reach_only_a_classifier_that_takes_images(cli, tmp_path):
    small = ("--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=2", "--dataset-opt", "frames=10")
    result = cli("run", *FLOW, "--classifier", "logreg", *small, "--out", tmp_path / "run")
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "shape (3, 28, 28)" in text and "takes feature vectors" in text
    assert "flatten=true" in text and "Traceback" not in result.output


def test_resnet_e2e_runs_both_streams_from_the_cli(cli, tmp_path):
    """flow-image kind=apex+flow gives the (6, S, S) apex + motion input of resnet-e2e's two streams."""
    small = ("--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=10")
    payload, manifest = run_manifest(tmp_path / "run", "--features", "flow-image", "--features-opt", "align=null",
                                     "--features-opt", "kind=apex+flow", "--features-opt", "size=32",
                                     "--classifier", "resnet-e2e", "--classifier-opt", "weights=none",
                                     "--classifier-opt", "epochs=2", "--classifier-opt", "selection=fixed",
                                     "--classifier-opt", "batch_size=8", *small)
    assert manifest["resolved_params"]["classifier"]["streams"] == "fpf+tmfe"
    assert payload["n"] == 12 and manifest["flags"] == []


def test_resnet_e2e_weights_are_checked_first_recorded_and_flag_contamination(cli, tmp_path):
    """The net's starting weights are resolved before any data is read, hashed into the manifest,
    and a run on the data they were trained on is flagged contaminated."""
    import torchvision

    from mebench.hashing import file_sha256

    weights = tmp_path / "mine.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    small = ("--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=10")
    args = ("--features", "flow-image", "--features-opt", "align=null", "--features-opt", "kind=apex+flow",
            "--features-opt", "size=32", "--classifier", "resnet-e2e", "--classifier-opt", "epochs=1",
            "--classifier-opt", "selection=fixed", "--classifier-opt", "batch_size=8", *small)
    _, manifest = run_manifest(tmp_path / "run", *args, "--classifier-opt", f"weights={weights}",
                               "--classifier-opt", "backbone=resnet18",
                               "--classifier-opt", "pretrained_on=synthetic")
    assert manifest["flags"] == ["contaminated"] and "classifier 'resnet-e2e'" in manifest["flag_reasons"]["contaminated"]
    assert manifest["classifier"]["model_files"] == {"resnet18:mine.pth": file_sha256(weights)}
    assert manifest["classifier"]["trained_on"] == ["synthetic"]
    saved = sorted(k for k in manifest["files"] if k.startswith("models/"))
    assert len(saved) == 3 and all((tmp_path / "run" / k).is_file() for k in saved)  # one fitted net per fold
    from mebench.errors import RunStoreError
    from mebench.store import open_run

    (tmp_path / "run" / saved[0]).write_bytes(b"not the fold's model")
    with pytest.raises(RunStoreError, match="modified since the run wrote it"):
        open_run(tmp_path / "run")
    missing = cli("run", "--out", tmp_path / "run2", *args, "--classifier-opt", f"weights={tmp_path / 'gone.pth'}",
                  "--classifier-opt", "pretrained_on=imagenet")
    assert missing.exit_code == 1 and "neither 'imagenet', 'none' nor an existing file" in missing.output
    assert not [p for p in (tmp_path / "run2").rglob("*") if p.is_file()]  # refused before any data was read
