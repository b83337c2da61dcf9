"""Everything a run checks before its first feature is extracted.

* :func:`~mebench.config.check_spec_values` -- types and ranges of the run spec itself (names, seed,
  metrics, options, jobs), so a value such as ``seed=1.5`` is named before anything is built;
* :func:`check_components` -- every component's parameters, validated the scikit-learn way: a
  component's own ``check_params()`` when it has one, else ``_validate_params()`` against its
  ``_parameter_constraints`` (for the component and every estimator nested in it, e.g. the steps of
  a Pipeline). A bad value is a :class:`~mebench.errors.ConfigError` naming the option and the flag;
* :func:`ensure_models` -- the pinned model files the extractor will load, verified (or fetched,
  unless ``MEBENCH_OFFLINE`` forbids it) in this process, so a missing model stops the run at once.
"""
from __future__ import annotations

import re

from .errors import ConfigError, MebenchError, ModelFetchError, PluginError

_SKLEARN_PARAM = re.compile(r"The '([^']+)' parameter of (\w+)")


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


def _aligns(extractor, samples) -> bool:
    """Whether ``extractor`` runs face alignment. ``align="auto"`` aligns only the samples that need it
    (``needs_alignment(samples)``): unknown until the samples are loaded, so False while ``samples`` is None."""
    align = getattr(extractor, "align", None)
    if not align:
        return False
    if align != "auto":
        return True
    needs = getattr(extractor, "needs_alignment", None)
    return samples is not None and (not callable(needs) or bool(needs(samples)))


def required_models(extractor, samples=None) -> list[str]:
    """Names (in :mod:`mebench.model_files`) of the pinned model files ``extractor`` (or its parts) will load;
    with ``samples``, also those an ``align="auto"`` extractor needs for these samples."""
    names = list(getattr(extractor, "models", ()) or ())
    if _aligns(extractor, samples):  # face alignment runs the MediaPipe landmarker
        names.append("face-landmarker")
    for _, part in getattr(extractor, "parts", ()) or ():
        names += required_models(part, samples)
    return list(dict.fromkeys(names))


def ensure_models(extractor, what: str, samples=None) -> dict[str, str]:
    """Verify (or fetch, unless offline) every model file ``extractor`` needs; returns {name: path}.

    Called before the dataset is read (``samples`` None) and again with the loaded samples, for what
    ``align="auto"`` needs only when some sample has frames to align."""
    from .model_files import MODELS, ensure_model

    paths = {}
    for name in required_models(extractor, samples):
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
