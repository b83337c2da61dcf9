"""Everything a run checks before its first feature is extracted.

* :func:`check_spec_values` -- types and ranges of the run spec itself (names, seed, metrics,
  options, jobs), so a config value such as ``seed: 1.5`` is named before anything is built;
* :func:`check_components` -- every component's parameters, validated the scikit-learn way: a
  component's own ``check_params()`` when it has one, else ``_validate_params()`` against its
  ``_parameter_constraints`` (for the component and every estimator nested in it, e.g. the steps of
  a Pipeline). A bad value is a :class:`~mebench.errors.ConfigError` naming the option and the flag;
* :func:`ensure_models` -- the pinned model files the extractor will load, verified (or fetched,
  unless ``MEBENCH_OFFLINE`` forbids it) in this process, so a missing model stops the run at once.
"""
from __future__ import annotations

import os
import re

from .errors import ConfigError, MebenchError, ModelFetchError, PluginError

SEED_MAX = 2**32 - 1  # numpy's SeedSequence and scikit-learn's random_state take 32-bit seeds
NAME_FIELDS = ("dataset", "features", "classifier", "protocol")
OPTION_FIELDS = {"dataset_opts": "--dataset-opt", "features_opts": "--features-opt",
                 "classifier_opts": "--classifier-opt", "protocol_opts": "--protocol-opt"}
_SKLEARN_PARAM = re.compile(r"The '([^']+)' parameter of (\w+)")


def check_seed(seed, where: str = "--seed") -> int:
    """``seed`` as an int in 0..2**32-1; anything else is a ConfigError naming ``where``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{where} must be a whole number in 0..{SEED_MAX}, not {seed!r} ({type(seed).__name__}).")
    if not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"{where} must lie in 0..{SEED_MAX} (numpy and scikit-learn take 32-bit seeds), "
                          f"got {seed}.")
    return seed


def valid_option_name(key) -> bool:
    """An option name: an identifier, or ``part.identifier`` for a part of a feature combination."""
    if not isinstance(key, str):
        return False
    part, dot, name = key.rpartition(".")
    return name.isidentifier() and (not dot or re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", part) is not None)


def check_spec_values(spec) -> None:
    """Types and ranges of a RunSpec's fields; each mistake names the field."""
    for name in NAME_FIELDS:
        value = getattr(spec, name)
        if not isinstance(value, str) or not value.strip():
            flag = "--features" if name == "features" else f"--{name}"
            raise ConfigError(f"{name} must be a registered name (a non-empty string; {flag}), not {value!r}. "
                              f"Run `mebench list` to see the names.")
    if spec.task is not None and (not isinstance(spec.task, str) or not spec.task.strip()):
        raise ConfigError(f"task must be a task name (a string), not {spec.task!r}.")
    if spec.root is not None and not isinstance(spec.root, (str, os.PathLike)):
        raise ConfigError(f"root must be a directory path, not {spec.root!r}.")
    for field, flag in OPTION_FIELDS.items():
        opts = getattr(spec, field)
        if not isinstance(opts, dict):
            raise ConfigError(f"{field} must be a mapping of options ({flag} KEY=VALUE), not {opts!r}.")
        bad = [k for k in opts if not valid_option_name(k)]
        if bad:
            raise ConfigError(f"{field}: option name {bad[0]!r} is not a valid name ({flag} KEY=VALUE, or "
                              "PART.KEY=VALUE for a part of a combination such as hoof+lbptop).")
    metrics = spec.metrics
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise ConfigError(f"metrics must be a list of metric names, not {metrics!r}.")
    if not metrics:
        raise ConfigError("metrics is empty; name at least one metric (`mebench list metrics`).")
    for m in metrics:
        if not isinstance(m, str) or not m.strip():
            raise ConfigError(f"metrics must hold metric names (strings); {m!r} is not one. "
                              "Run `mebench list metrics` to see the names.")
    if len(set(metrics)) != len(metrics):
        dup = sorted({m for m in metrics if list(metrics).count(m) > 1})
        raise ConfigError(f"metrics lists {', '.join(dup)} more than once.")
    check_seed(spec.seed, "seed")
    if isinstance(spec.jobs, bool) or not isinstance(spec.jobs, int) or spec.jobs < 1:
        raise ConfigError(f"jobs must be a positive number of worker processes, not {spec.jobs!r} "
                          "(the CLI turns -1 into all cores: mebench.workers.resolve_jobs).")
    if spec.on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be 'raise' or 'skip', not {spec.on_error!r}.")


def _nested(obj) -> list:
    """``obj`` and every estimator inside it (pipeline steps, meta-estimator parameters), once each."""
    out, seen = [obj], {id(obj)}
    get_params = getattr(obj, "get_params", None)
    if callable(get_params):
        try:
            params = get_params(deep=True)
        except Exception:  # noqa: BLE001 - a plugin without a working get_params: check obj alone
            params = {}
        for value in params.values():
            if id(value) not in seen and callable(getattr(value, "get_params", None)) and not isinstance(value, type):
                seen.add(id(value))
                out.append(value)
    return out


def _validator(est):
    hook = getattr(est, "check_params", None)
    if callable(hook):
        return hook
    if getattr(est, "_parameter_constraints", None) and callable(getattr(est, "_validate_params", None)):
        return est._validate_params
    return None


def check_component(obj, what: str, flag: str) -> None:
    """Validate ``obj``'s parameters (and those of estimators nested in it) without fitting anything."""
    for est in _nested(obj):
        check = _validator(est)
        if check is None:
            continue
        try:
            check()
        except MebenchError:
            raise
        except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError is both
            text = str(exc).strip()
            match = _SKLEARN_PARAM.search(text)
            fix = f" Change it with {flag} {match.group(1)}=VALUE." if match else f" Check the {flag} values."
            raise ConfigError(f"{what}: {text[0].lower() + text[1:] if text else type(exc).__name__}"
                              f"{'' if text.endswith('.') else '.'}{fix}") from None
        except Exception as exc:  # noqa: BLE001 - a broken validation hook in a plugin
            raise PluginError(f"{what}: checking its parameters raised {type(exc).__name__}: {exc}. This is a bug "
                              "in that component.") from None


def check_yes_no(factory, opts: dict, what: str, flag: str) -> None:
    """A yes/no value (``true``) given for a numeric option is a mistake Python would accept as 1."""
    import inspect

    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    for key, value in opts.items():
        default = params[key].default if key in params else None
        if isinstance(value, bool) and isinstance(default, (int, float)) and not isinstance(default, bool):
            raise ConfigError(f"{what}: option {key} takes a number (default {default}), not the yes/no value "
                              f"{str(value).lower()}. Change it with {flag} {key}=NUMBER.")


def check_components(spec, dataset, extractor, classifier, protocol) -> None:
    """Parameters of the four components of a run, before the dataset is read."""
    from .registry import CLASSIFIERS, DATASETS, EXTRACTORS, PROTOCOLS

    parts = ((DATASETS, spec.dataset, spec.dataset_opts, dataset, "dataset", "--dataset-opt"),
             (EXTRACTORS, spec.features, spec.features_opts, extractor, "extractor", "--features-opt"),
             (CLASSIFIERS, spec.classifier, spec.classifier_opts, classifier, "classifier", "--classifier-opt"),
             (PROTOCOLS, spec.protocol, spec.protocol_opts, protocol, "protocol", "--protocol-opt"))
    for registry, name, opts, obj, kind, flag in parts:
        if registry is EXTRACTORS and "+" in name:  # a combination: each part with its own options
            for part_name, part in obj.parts:
                check_component(part, f"{kind} {part_name!r} (in {name})", flag)
            continue
        check_yes_no(registry.get(name), opts, f"{kind} {name!r}", flag)
        check_component(obj, f"{kind} {name!r}", flag)


def required_models(extractor) -> list[str]:
    """Names (in :mod:`mebench.model_files`) of the pinned model files ``extractor`` (or its parts) will load."""
    names = list(getattr(extractor, "models", ()) or ())
    if getattr(extractor, "align", None):  # face alignment runs the MediaPipe landmarker
        names.append("face-landmarker")
    for _, part in getattr(extractor, "parts", ()) or ():
        names += required_models(part)
    return list(dict.fromkeys(names))


def ensure_models(extractor, what: str) -> dict[str, str]:
    """Verify (or fetch, unless offline) every model file ``extractor`` needs; returns {name: path}."""
    from .model_files import MODELS, ensure_model

    paths = {}
    for name in required_models(extractor):
        if name not in MODELS:
            raise ConfigError(f"{what} declares model {name!r}, which mebench does not know "
                              f"(known: {', '.join(MODELS)}).")
        try:
            paths[name] = str(ensure_model(MODELS[name], verbose=True))
        except ModelFetchError as exc:
            raise ModelFetchError(f"{what} needs model {name}: {exc}") from None
    model_files = getattr(extractor, "model_files", None)
    if callable(model_files):  # resolves and verifies weights files too (deep extractors), fetching shipped ones
        model_files()
    return paths
