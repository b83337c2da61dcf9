"""``TorchClassifier``: a torch ``nn.Module`` trained as a scikit-learn classifier.

A net is a subclass that implements ``build_module(input_shape, n_classes)``. The wrapper gives
it the estimator contract (``fit`` / ``predict_proba`` / ``decision_function`` / ``predict`` /
``classes_``, cloned per fold, picklable after fit with weights on the CPU) and honest model
selection: early stopping and hyper-parameter search see only an inner validation split made of
the *training* subjects (``fit(X, y, groups=...)``), or a fixed epoch budget. Seeds cover torch,
numpy and Python; on the CPU deterministic algorithms are switched on for the duration of a fit,
so the same seed gives identical predictions.

Extra hyper-parameters and changed defaults are declared as class attributes::

    class TinyNet(TorchClassifier):
        net_params = {"width": 16}          # becomes a constructor parameter
        defaults = {"epochs": 40}           # overrides a training default

    TinyNet(width=32, lr=1e-3).get_params()  # {'width': 32, 'epochs': 40, 'lr': 0.001, ...}
"""
from __future__ import annotations

import copy
import inspect
import itertools
import math
import random
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ...errors import ConfigError, InputShapeError
from ...features.deep.device import resolve_device

SELECTIONS = ("inner", "fixed")
OPTIMIZERS = ("adam", "adamw", "sgd")
MONITORS = ("loss", "accuracy", "uar")


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A torch module trained with honest model selection, as a scikit-learn classifier.

    Parameters (all plain values, settable with ``--classifier-opt KEY=VALUE``):
      epochs, batch_size, lr, optimizer (adam|adamw|sgd), weight_decay, momentum (sgd);
      selection: ``inner`` (early stopping on an inner validation split of the training
        subjects, patience ``patience`` epochs, watching ``monitor``: loss|accuracy|uar) or
        ``fixed`` (train ``epochs`` epochs, keep the last);
      validation_fraction: share of training subjects held out for the inner split;
      refit: after inner selection, retrain on all training subjects for the selected epochs;
      search: hyper-parameter grid tried on the inner split, e.g. ``"lr=1e-3|1e-4;weight_decay=0|1e-4"``;
      class_weight: None or ``balanced`` (weighted cross-entropy);
      seeds: ensemble size (members trained with seeds random_state, random_state+1, ...;
        probabilities are averaged); random_state: the seed;
      device: ``auto`` (cuda when available, else cpu), ``cpu``, ``cuda``, ``cuda:1``...;
      threads: torch CPU threads during fit/predict (default 1, like BLAS in every fold worker:
        results then do not depend on the machine's core count; None leaves torch's setting).
    """

    # Declared by subclasses: extra constructor parameters and changed training defaults.
    net_params: ClassVar[dict] = {}
    defaults: ClassVar[dict] = {}
    # Input contract: None accepts any (n, ...) array; a shape (C, H, W), or a tuple of such shapes,
    # requires images of that shape (a flat (n, C*H*W) matrix is reshaped to it).
    image_shape: ClassVar[tuple | None] = None
    accepts_arrays: ClassVar[bool] = True  # the runner may hand it (n, C, H, W) inputs, not only (n, d)
    input_hint: ClassVar[str] = ""
    # Refitting a net is costly: permutation tests must ask before starting (see ``fit_seconds_``).
    expensive: ClassVar[bool] = True
    # Fold checkpoints keep the fitted net (it pickles with its weights on the CPU).
    save_fold_models: ClassVar[bool] = True

    def __init__(self, epochs: int = 100, batch_size: int = 64, lr: float = 1e-3, optimizer: str = "adam",
                 weight_decay: float = 0.0, momentum: float = 0.9, selection: str = "inner",
                 validation_fraction: float = 0.2, patience: int = 20, monitor: str = "loss", refit: bool = False,
                 search: Any = None, class_weight: Any = None, seeds: int = 1, random_state: int = 0,
                 device: str = "auto", threads: int | None = 1):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.selection = selection
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.monitor = monitor
        self.refit = refit
        self.search = search
        self.class_weight = class_weight
        self.seeds = seeds
        self.random_state = random_state
        self.device = device
        self.threads = threads

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            return  # an explicit constructor wins
        if not cls.__dict__.get("net_params") and not cls.__dict__.get("defaults"):
            return  # nothing new: inherit the parent's constructor
        cls.__init__ = _generated_init(cls)

    # ------------------------------------------------------------------ to implement
    def build_module(self, input_shape: tuple, n_classes: int):
        """Return a fresh ``torch.nn.Module`` mapping (batch, *input_shape) to (batch, n_classes) logits."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_module(input_shape, n_classes)")

    # ------------------------------------------------------------------ input handling
    def _fit_inputs(self, X: np.ndarray) -> None:
        """Learn input statistics from the training fold (override, e.g. to standardise)."""

    def _transform_inputs(self, X: np.ndarray) -> np.ndarray:
        """Map validated inputs to what the module takes (override)."""
        return X

    @classmethod
    def accepted_shapes(cls) -> list[tuple]:
        """The per-sample input shapes this net takes ([] = any)."""
        shape = cls.image_shape
        if shape is None:
            return []
        if all(isinstance(s, (int, np.integer)) for s in shape):
            return [tuple(int(s) for s in shape)]
        return [tuple(int(v) for v in s) for s in shape]

    def _validate(self, X, reset: bool, y=None):
        """Checked float32 inputs in the net's shape (and, when fitting, the 1-D targets).

        A flat matrix whose width is an accepted image size is reshaped first, so ``n_features_in_``
        always counts the channels of the image form.
        """
        shapes = self.accepted_shapes()
        shape = getattr(X, "shape", None)
        if shapes and shape is not None and len(shape) == 2:
            flat = [s for s in shapes if shape[1] == math.prod(s)]
            if flat:
                X = np.asarray(X).reshape((shape[0],) + flat[0])
        if y is not None or reset:
            X, y = validate_data(self, X, y, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
                                 ensure_min_features=1)
        else:
            X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
                              ensure_min_features=1)
        X = np.asarray(X, dtype=np.float32)
        if shapes and tuple(X.shape[1:]) not in shapes:
            hint = f" {self.input_hint}" if self.input_hint else ""
            wanted = " or ".join(f"(n, {', '.join(map(str, s))})" for s in shapes)
            raise InputShapeError(f"{type(self).__name__} takes images of shape {wanted} (or the same flattened); got "
                                  f"an array of shape {X.shape}.{hint}")
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
            return X, y
        if tuple(X.shape[1:]) != self.input_shape_:
            raise InputShapeError(f"{type(self).__name__} was fitted on inputs of shape {self.input_shape_}; got "
                                  f"{tuple(X.shape[1:])}.")
        return X

    @classmethod
    def example_data(cls, n_samples: int = 90, n_classes: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A small learnable problem (X, integer labels) in this net's input format, for conformance tests."""
        rng = np.random.default_rng(seed)
        y = np.arange(n_samples) % n_classes
        shapes = cls.accepted_shapes()
        shape = shapes[-1] if shapes else (12,)
        centres = rng.normal(0, 1, (n_classes,) + shape)
        X = centres[y] + rng.normal(0, 1.0, (n_samples,) + shape)
        return X.astype(np.float32), y

    # quick settings for conformance and scikit-learn checks (few epochs); see ``example_params``
    quick_params: ClassVar[dict] = {"epochs": 5}

    @classmethod
    def example_params(cls) -> dict:
        """Quick settings for conformance tests and scikit-learn checks (few epochs, small layers)."""
        params = {}
        for klass in reversed(cls.__mro__):
            params.update(klass.__dict__.get("quick_params", {}) or {})
        return params

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, groups=None, eval_set=None, progress: Callable | None = None):
        """Train on (X, y).

        ``groups``: the subject of every training sample; the inner validation split keeps
        subjects whole. ``eval_set=(X_eval, y_eval)`` is the LEAKY path used only by the
        ``loso-test-epoch-selection`` protocol: train ``epochs`` epochs and keep the epoch with
        the best accuracy on it. ``progress(done, total)`` is called after every epoch.
        """
        self._check_params()
        with _training_context(str(resolve_device(self.device)), self.threads):
            return self._fit(X, y, groups, eval_set, progress)

    def _fit(self, X, y, groups=None, eval_set=None, progress: Callable | None = None):
        """The body of ``fit``, run inside ``_training_context`` (entered once by ``fit_folds``)."""
        t0 = time.perf_counter()
        self._check_params()
        X, y = self._validate(X, reset=True, y=y)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} cannot train when only one class is present "
                             f"({self.classes_[0]!r}).")
        self._fit_inputs(X)
        Xt = self._transform_inputs(X)
        groups = None if groups is None else np.asarray(groups)
        if groups is not None and len(groups) != len(X):
            raise ValueError(f"groups has {len(groups)} entries but X has {len(X)} samples.")
        eval_data = None
        if eval_set is not None:
            Xe, ye = eval_set
            Xe = self._transform_inputs(self._validate(Xe, reset=False))
            ye = np.asarray(ye)
            known = np.isin(ye, self.classes_)
            eval_data = (Xe, np.where(known, np.searchsorted(self.classes_, ye), -1))
        plan = self._plan(codes, groups, eval_data is not None)
        tracker = _Progress(progress, plan["budget"])
        self.member_seeds_ = [int(self.random_state) + i for i in range(int(self.seeds))]
        self.device_ = str(resolve_device(self.device))
        self.history_ = []
        params = self._search(Xt, codes, plan, tracker) if plan["combos"] is not None else {}
        self.members_ = [self._train_member(Xt, codes, plan, params, seed, tracker, eval_data)
                         for seed in self.member_seeds_]
        self.best_params_ = params
        self.fit_seconds_ = time.perf_counter() - t0
        self.leaky_ = eval_data is not None
        return self

    def fit_folds(self, X, y, folds, groups=None, jobs: int = 1, progress: Callable | None = None) -> list:
        """Fit one clone per fold on ``X[train]`` for every ``train`` in ``folds``; return the fitted clones.

        Each clone sees only its own training rows (and their ``groups``), exactly as
        ``clone(self).fit(X[train], y[train], groups=groups[train])`` would, and gives identical
        predictions. When the net's training engine is thread-safe (it draws no random numbers from
        torch's global generator while training, e.g. the fused STSTNet engine) up to ``jobs`` folds
        train at once in threads; otherwise one after another. ``progress(done, total)`` counts
        epochs over all folds.
        """
        from concurrent.futures import ThreadPoolExecutor

        from sklearn.base import clone

        self._check_params()
        X = np.asarray(X)
        y = np.asarray(y)
        groups = None if groups is None else np.asarray(groups)
        folds = [np.asarray(train) for train in folds]
        budgets = [int(self.epochs) * int(self.seeds) for _ in folds]  # refined as each fold plans
        counter = {"done": 0, "total": sum(budgets)}
        lock = threading.Lock()

        def fold_progress(i):
            def report(done, total):
                with lock:
                    counter["total"] += total - budgets[i]
                    budgets[i] = total
                    counter["done"] += done - report.last
                    report.last = done
                    if progress:
                        progress(counter["done"], counter["total"])
            report.last = 0
            return report

        def fit_one(i):
            train = folds[i]
            model = clone(self)
            return model._fit(X[train], y[train], None if groups is None else groups[train], None, fold_progress(i))

        workers = max(1, min(int(jobs), len(folds))) if self.thread_safe_training() else 1
        with _training_context(str(resolve_device(self.device)), self.threads):
            if workers == 1:
                return [fit_one(i) for i in range(len(folds))]
            with ThreadPoolExecutor(workers) as pool:
                return list(pool.map(fit_one, range(len(folds))))

    def thread_safe_training(self) -> bool:
        """Whether folds may train concurrently in threads (see ``fit_folds``); torch training may not."""
        return False

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.selection not in SELECTIONS:
            raise ConfigError(f"{name}: selection must be one of {', '.join(SELECTIONS)}, not {self.selection!r}.")
        if str(self.optimizer).lower() not in OPTIMIZERS:
            raise ConfigError(f"{name}: optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}.")
        if self.monitor not in MONITORS:
            raise ConfigError(f"{name}: monitor must be one of {', '.join(MONITORS)}, not {self.monitor!r}.")
        for key in ("epochs", "batch_size", "seeds"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name}: {key} must be a positive integer, not {value!r}.")
        if not 0.0 < float(self.validation_fraction) < 1.0:
            raise ConfigError(f"{name}: validation_fraction must lie strictly between 0 and 1, "
                              f"not {self.validation_fraction!r}.")
        if self.class_weight not in (None, "balanced") and not isinstance(self.class_weight, dict):
            raise ConfigError(f"{name}: class_weight must be None, 'balanced' or a dict, not {self.class_weight!r}.")
        if self.search is not None and self.selection != "inner":
            raise ConfigError(f"{name}: search needs an inner validation split; use selection=inner.")

    def _plan(self, codes: np.ndarray, groups, leaky: bool) -> dict:
        """Decide what training runs happen: the inner split, grid combinations, the epoch budget."""
        plan = {"inner": None, "combos": None, "note": None, "leaky": leaky}
        if leaky:
            plan["note"] = "LEAKY: the epoch was chosen by accuracy on the evaluation (test) set"
        elif self.selection == "inner":
            split, note = inner_split(codes, groups, float(self.validation_fraction), int(self.random_state))
            plan["inner"], plan["note"] = split, note
            if split is None:
                plan["note"] = note + "; trained for the fixed epoch budget instead"
            elif self.search is not None:
                plan["combos"] = parse_search(self.search, self.get_params(deep=False), type(self).__name__)
        else:
            plan["note"] = f"fixed budget: {self.epochs} epochs, last epoch kept"
        runs = int(self.seeds) + (len(plan["combos"]) if plan["combos"] else 0)
        if plan["inner"] is not None and self.refit:
            runs += int(self.seeds)
        plan["budget"] = runs * int(self.epochs)
        self.selection_note_ = plan["note"]
        return plan

    def _search(self, X, codes, plan, tracker) -> dict:
        """Try every grid combination on the inner split (first seed); return the best."""
        results = []
        for combo in plan["combos"]:
            run = self._run(X, codes, plan["inner"], combo, self.member_seeds_[0], tracker, None)
            results.append({"params": combo, "score": run["score"], "epoch": run["epoch"]})
        better = max if self.monitor != "loss" else min
        best = better(results, key=lambda r: r["score"])
        self.search_results_ = results
        return dict(best["params"])

    def _train_member(self, X, codes, plan, params, seed, tracker, eval_data):
        run = self._run(X, codes, plan["inner"], params, seed, tracker, eval_data)
        if plan["inner"] is not None and self.refit:
            epochs = run["epoch"]
            fixed = self._run(X, codes, None, {**params, "epochs": epochs}, seed, tracker, None,
                              budget=int(self.epochs))
            run = {**fixed, "epoch": epochs, "score": run["score"]}
        self.history_.append(run["history"])
        module = run["module"].cpu().eval()
        module.selected_epoch = run["epoch"]
        return module

    def _run(self, X, codes, split, params: dict, seed: int, tracker, eval_data, budget: int | None = None) -> dict:
        """One training run; returns the module (best or last epoch), its epoch and its score."""
        hp = {k: params.get(k, getattr(self, k)) for k in ("epochs", "batch_size", "lr", "optimizer",
                                                            "weight_decay", "momentum")}
        train_idx, val_idx = (np.arange(len(X)), None) if split is None else split
        extra = {k: v for k, v in params.items() if k in type(self)._net_param_names()}
        owner = copy.copy(self).set_params(**extra) if extra else self
        trainer = owner.make_trainer(X, codes, train_idx, hp, int(seed))
        watch = None
        if val_idx is not None:
            watch = (X[val_idx], codes[val_idx], self.monitor)
        elif eval_data is not None:
            watch = (eval_data[0], eval_data[1], "accuracy")
        epochs = int(hp["epochs"])
        best_score, best_epoch, best_state, waited, history = None, epochs, None, 0, []
        for epoch in range(1, epochs + 1):
            trainer.epoch()
            tracker.step()
            if watch is None:
                continue
            score = evaluate(trainer.module(), watch[0], watch[1], watch[2], trainer.device, int(hp["batch_size"]))
            history.append(score)
            if best_score is None or (score < best_score if watch[2] == "loss" else score > best_score):
                best_score, best_epoch, best_state, waited = score, epoch, trainer.state(), 0
            elif val_idx is not None:
                waited += 1
                if waited >= int(self.patience):
                    break
        tracker.skip((budget or epochs) - epoch)
        if best_state is not None:
            trainer.load(best_state)
        self.engine_ = trainer.engine
        return {"module": trainer.module(), "epoch": best_epoch, "score": best_score, "history": history}

    def make_trainer(self, X: np.ndarray, codes: np.ndarray, train_idx: np.ndarray, hp: dict, seed: int):
        """The object that trains one run epoch by epoch (``TorchTrainer``; nets may supply a faster one)."""
        return TorchTrainer(self, X, codes, train_idx, hp, seed)

    def _loss_weights(self, codes, device):
        if self.class_weight is None:
            return None
        import torch

        k = len(self.classes_)
        if self.class_weight == "balanced":
            counts = np.bincount(codes, minlength=k).astype(np.float64)
            w = np.where(counts > 0, len(codes) / (k * np.maximum(counts, 1)), 0.0)
        else:
            w = np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])
        return torch.as_tensor(w, dtype=torch.float32, device=device)

    @classmethod
    def _net_param_names(cls) -> set:
        names = set()
        for klass in cls.__mro__:
            names |= set(klass.__dict__.get("net_params", {}) or {})
        return names

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "members_")
        X = self._transform_inputs(self._validate(X, reset=False))
        with _training_context(str(resolve_device(self.device)), self.threads, deterministic=False):
            return np.mean([predict_member(m, X, resolve_device(self.device)) for m in self.members_], axis=0)

    def decision_function(self, X) -> np.ndarray:
        """Log of the (ensemble-averaged) probabilities; for two classes the log-odds of ``classes_[1]``."""
        p = np.clip(self.predict_proba(X), 1e-12, 1.0)
        logp = np.log(p)
        return logp[:, 1] - logp[:, 0] if logp.shape[1] == 2 else logp

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # ------------------------------------------------------------------ sklearn plumbing
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags

    @classmethod
    def sklearn_expected_failed_checks(cls) -> dict[str, str]:
        """scikit-learn checks this net is expected to fail, with the reason (for ``check_estimator``)."""
        failed = {"check_methods_subset_invariance": (
            "nets compute in float32: a batched matrix product may round a row differently (by ~1e-7) when the "
            "batch has another size, above the check's float64 tolerance of 1e-7")}
        if cls.image_shape is not None:
            reason = (f"takes images of shape {' or '.join(map(str, cls.accepted_shapes()))}; the check feeds a "
                      "table with another number of columns, which is refused with a ValueError naming the shape")
            failed.update({name: reason for name in IMAGE_INPUT_CHECKS})
        return failed


# checks of scikit-learn's suite that fit or predict on tables of arbitrary width (image nets refuse
# them with a ValueError naming the image shape); the conformance test runs their image equivalents
IMAGE_INPUT_CHECKS = (
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array", "check_classifiers_one_label",
    "check_classifiers_classes", "check_classifiers_train", "check_classifiers_regression_target",
    "check_supervised_y_2d", "check_class_weight_classifiers", "check_decision_proba_consistency",
    "check_methods_sample_order_invariance", "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
)


# ---------------------------------------------------------------------- helpers
class TorchTrainer:
    """Plain torch training of ``owner.build_module(...)``: shuffled mini-batches, one optimiser step each.

    The module is built right after seeding (so initial weights follow the seed); the batch order
    comes from a generator seeded with the same seed, dropout from torch's (forked) global one.
    """

    engine = "torch"

    def __init__(self, owner, X, codes, train_idx, hp, seed):
        import torch

        self.device = torch.device(owner.device_)
        self.net = seeded_build(owner, tuple(X.shape[1:]), seed).to(self.device)
        self.optimizer = make_optimizer(self.net, hp)
        self.loss_fn = torch.nn.CrossEntropyLoss(weight=owner._loss_weights(codes[train_idx], self.device))
        self.generator = torch.Generator().manual_seed(int(seed))
        self.X = torch.as_tensor(X[train_idx], device=self.device)
        self.y = torch.as_tensor(codes[train_idx], dtype=torch.long, device=self.device)
        self.batch = int(hp["batch_size"])

    def epoch(self) -> None:
        import torch

        self.net.train()
        n, batch = len(self.y), self.batch
        order = torch.randperm(n, generator=self.generator).to(self.device)
        stop = n - 1 if n % batch == 1 and n > 1 else n  # a lone last sample breaks batch norm
        for start in range(0, stop, batch):
            idx = order[start:min(start + batch, stop)]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss_fn(self.net(self.X[idx]), self.y[idx]).backward()
            self.optimizer.step()

    def module(self):
        return self.net

    def state(self) -> dict:
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def load(self, state: dict) -> None:
        self.net.load_state_dict(state)


def _generated_init(cls):
    """A constructor whose signature is the parent's plus ``net_params``, with ``defaults`` applied."""
    parent = inspect.signature(super(cls, cls).__init__)
    params = [p for p in parent.parameters.values() if p.name != "self"]
    defaults = cls.__dict__.get("defaults", {}) or {}
    net = cls.__dict__.get("net_params", {}) or {}
    known = {p.name for p in params}
    unknown = sorted(set(defaults) - known)
    if unknown:
        raise TypeError(f"{cls.__name__}.defaults names unknown parameter(s) {unknown}; declare new ones in "
                        "net_params.")
    clash = sorted(set(net) & known)
    if clash:
        raise TypeError(f"{cls.__name__}.net_params redeclares {clash}; change their default through defaults.")
    new = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value) for name, value in net.items()]
    old = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(p.name, p.default))
           for p in params]
    signature = inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + new + old)

    def __init__(self, **kwargs):
        bound = signature.bind(self, **kwargs)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if name != "self":
                setattr(self, name, value)

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = f"Constructor of {cls.__name__}: {', '.join(p.name for p in new + old)}."
    return __init__


_INIT_LOCK = threading.Lock()


def seeded_build(owner, input_shape: tuple, seed: int):
    """Seed every generator, then build the module (under a lock: folds may initialise in threads)."""
    with _INIT_LOCK:
        seed_everything(seed)
        return owner.build_module(input_shape, len(owner.classes_))


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's and Python's global generators."""
    import torch

    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % (2 ** 32))
    random.seed(int(seed))


@contextmanager
def _training_context(device: str, threads: int | None, deterministic: bool = True):
    """Fork the global RNGs (restored afterwards), pin threads, and make CPU runs deterministic."""
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    old_threads = torch.get_num_threads()
    cuda = device.startswith("cuda")
    try:
        with torch.random.fork_rng(devices=[torch.device(device).index or 0] if cuda else [], device_type="cuda"):
            if threads:
                torch.set_num_threads(int(threads))
            if deterministic and not cuda:
                torch.use_deterministic_algorithms(True)
            yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        if threads:
            torch.set_num_threads(old_threads)
        random.setstate(py_state)
        np.random.set_state(np_state)


def make_optimizer(module, hp: dict):
    import torch

    name = str(hp["optimizer"]).lower()
    params = [p for p in module.parameters() if p.requires_grad]
    lr, wd = float(hp["lr"]), float(hp["weight_decay"])
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=float(hp["momentum"]))


def predict_member(module, X: np.ndarray, device, batch: int = 512) -> np.ndarray:
    """Softmax probabilities of one trained module, in eval mode, batch by batch."""
    import torch

    module = module.to(device).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch):
            xb = torch.as_tensor(X[start:start + batch], device=device)
            out.append(torch.softmax(module(xb).float(), dim=1).cpu().numpy().astype(np.float64))
    module.cpu()
    return np.concatenate(out) if out else np.zeros((0, 0))


def evaluate(module, X: np.ndarray, codes: np.ndarray, monitor: str, device, batch: int) -> float:
    """Validation score of ``module`` in eval mode: mean cross-entropy, accuracy or UAR."""
    import torch

    module.eval()
    logits = []
    with torch.no_grad():
        for start in range(0, len(X), max(batch, 256)):
            logits.append(module(torch.as_tensor(X[start:start + max(batch, 256)], device=device)).float())
        logits = torch.cat(logits)
    module.train()
    target = torch.as_tensor(codes, dtype=torch.long, device=logits.device)
    if monitor == "loss":
        seen = target >= 0
        return float(torch.nn.functional.cross_entropy(logits[seen], target[seen]))
    pred = logits.argmax(dim=1)
    if monitor == "accuracy":
        return float((pred == target).float().mean())
    recalls = [float((pred[target == c] == c).float().mean()) for c in torch.unique(target) if c >= 0]
    return float(np.mean(recalls)) if recalls else 0.0


def inner_split(codes: np.ndarray, groups, fraction: float, seed: int) -> tuple[tuple | None, str]:
    """Inner (train, validation) positions from the training fold only, subject-disjoint when groups are given.

    Whole subjects go to validation (about ``fraction`` of them, at least one), chosen by a seeded
    shuffle; among up to 50 shuffles the first whose inner-training part holds every class wins.
    Without groups the split is by sample, stratified. Returns ``(split or None, note)``.
    """
    rng = np.random.default_rng([int(seed), 17])
    classes = np.unique(codes)
    if groups is not None:
        subjects = np.unique(groups)
        if len(subjects) < 2:
            return None, "one training subject: no subject-disjoint inner split is possible"
        n_val = min(len(subjects) - 1, max(1, int(round(fraction * len(subjects)))))
        fallback = None
        for _ in range(50):
            val_subjects = rng.permutation(subjects)[:n_val]
            val = np.isin(groups, val_subjects)
            split = (np.flatnonzero(~val), np.flatnonzero(val))
            if set(np.unique(codes[split[0]])) == set(classes):
                return split, (f"early stopping on an inner split of the training subjects ({n_val} of "
                               f"{len(subjects)} subjects held out)")
            fallback = fallback or split
        return fallback, (f"early stopping on an inner split of the training subjects ({n_val} of {len(subjects)} "
                          "subjects held out; no split kept every class in inner training)")
    val = np.zeros(len(codes), bool)
    for c in classes:
        members = np.flatnonzero(codes == c)
        if len(members) < 2:
            continue
        take = max(1, int(round(fraction * len(members))))
        val[rng.permutation(members)[:take]] = True
    if not val.any():
        return None, "too few samples per class for an inner validation split"
    return (np.flatnonzero(~val), np.flatnonzero(val)), ("early stopping on a per-sample inner split (no subject "
                                                         "groups were given; subjects may straddle it)")


def parse_search(search, current: dict, name: str) -> list[dict]:
    """``"lr=1e-3|1e-4;weight_decay=0|1e-4"`` or ``{"lr": [1e-3, 1e-4]}`` → list of parameter dicts."""
    import yaml

    if isinstance(search, str):
        grid = {}
        for part in filter(None, (p.strip() for p in search.split(";"))):
            key, sep, values = part.partition("=")
            if not sep:
                raise ConfigError(f"{name}: cannot read search part {part!r}; write key=v1|v2;key2=v3|v4.")
            grid[key.strip()] = [yaml.safe_load(v) for v in values.split("|")]
    elif isinstance(search, dict):
        grid = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in search.items()}
    else:
        raise ConfigError(f"{name}: search must be a string such as 'lr=1e-3|1e-4' or a mapping, not {search!r}.")
    unknown = sorted(set(grid) - set(current))
    forbidden = sorted(set(grid) & {"search", "selection", "seeds", "random_state", "device", "threads"})
    if unknown or forbidden:
        bad = unknown or forbidden
        raise ConfigError(f"{name}: search cannot vary {', '.join(bad)}; it takes the net's own parameters "
                          f"({', '.join(sorted(k for k in current if k not in forbidden))}).")
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


class _Progress:
    """Counts epochs against the fit's budget and reports ``progress(done, total)``."""

    def __init__(self, callback: Callable | None, total: int):
        self.callback, self.total, self.done = callback, int(total), 0

    def step(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        if self.callback:
            self.callback(self.done, self.total)

    def skip(self, n: int) -> None:
        if n > 0:
            self.step(n)
