"""The run's components, built from a :class:`RunSpec` and checked before any data is read."""
from __future__ import annotations

from .. import crashwatch
from ..registry import CLASSIFIERS, DATASETS, EXTRACTORS, METRICS, PROTOCOLS, accepted_params, load_plugin_file
from .failures import component_errors
from .spec import Loaded, RunSpec


def _with_seed(factory, opts: dict, seed: int, key: str = "random_state") -> tuple[dict, int | None]:
    """``opts`` with the run seed as ``key`` when the factory takes it (and the user did not set it)."""
    names, _ = accepted_params(factory)
    opts = dict(opts)
    if key in names:
        opts.setdefault(key, seed)
        return opts, opts[key]
    return opts, None


def build_dataset(spec: RunSpec):
    """The dataset of ``spec`` and the seed it was given; returns ``(dataset, seed or None)``."""
    factory = DATASETS.get(spec.dataset)
    opts, dataset_seed = _with_seed(factory, spec.dataset_opts, spec.seed, key="seed")
    with component_errors(f"dataset {spec.dataset!r}", "while starting"):  # a loader bug, an unchecked option
        dataset = DATASETS.create(spec.dataset, root=spec.root, **opts)
    return dataset, dataset_seed


def build_classifier(spec: RunSpec):
    """The classifier of ``spec`` (unfitted) and its seed; returns ``(classifier, seed or None)``."""
    factory = CLASSIFIERS.get(spec.classifier)
    opts, seed = _with_seed(factory, spec.classifier_opts, spec.seed)
    return CLASSIFIERS.create(spec.classifier, **opts), seed


def build_extractor(spec: RunSpec):
    """The extractor of ``spec`` (a combination for ``a+b``) and its seed; returns ``(extractor, seed or None)``."""
    if "+" in spec.features:  # a combination: options dispatched to the parts (features/combined.py)
        from ..features.combined import build_combined

        return build_combined(spec.features, spec.features_opts, spec.seed)
    factory = EXTRACTORS.get(spec.features)
    opts, seed = _with_seed(factory, spec.features_opts, spec.seed)
    return EXTRACTORS.create(spec.features, **opts), seed


def build_protocol(spec: RunSpec):
    """The protocol of ``spec`` and its seed; returns ``(protocol, seed or None)``."""
    factory = PROTOCOLS.get(spec.protocol)
    opts, seed = _with_seed(factory, spec.protocol_opts, spec.seed)
    return PROTOCOLS.create(spec.protocol, **opts), seed


def check_spec(spec: RunSpec) -> None:
    """Load plugins, check types and ranges and resolve every name, so mistakes surface before any work."""
    from ..config import check_spec_values

    for plugin in spec.plugins:
        load_plugin_file(plugin)
    check_spec_values(spec)
    for registry, name in ((DATASETS, spec.dataset), *((EXTRACTORS, n) for n in spec.features.split("+")),
                           (CLASSIFIERS, spec.classifier), (PROTOCOLS, spec.protocol)):
        registry.entry(name)
    for name in spec.metrics:
        METRICS.entry(name)
    check_names_given(spec)


def check_names_given(spec: RunSpec) -> None:
    """The task, ``--root`` and every option key against what the components declare, before any of
    them is built: these mistakes are unknown names (exit code 2) and must not wait for a dataset."""
    from ..data.base import missing_root_error, unknown_task_error
    from ..registry import check_params

    dataset = DATASETS.get(spec.dataset)
    tasks = getattr(dataset, "tasks", None)
    if spec.task is not None and isinstance(tasks, (tuple, list)) and tasks and spec.task not in tasks:
        raise unknown_task_error(spec.dataset, spec.task, tasks)
    if spec.root is None and getattr(dataset, "needs_root", False) is True:
        raise missing_root_error(spec.dataset)
    if "+" in spec.features:  # a combination dispatches its options to the parts
        from ..features.combined import dispatch_options

        _, factories, per_part = dispatch_options(spec.features, spec.features_opts)
        parts = [(factories[n], per_part[n], f"extractor {n!r} (in {spec.features})") for n in factories]
    else:
        parts = [(EXTRACTORS.get(spec.features), spec.features_opts, f"extractor {spec.features!r}")]
    parts += [(dataset, spec.dataset_opts, f"dataset {spec.dataset!r}"),
              (CLASSIFIERS.get(spec.classifier), spec.classifier_opts, f"classifier {spec.classifier!r}"),
              (PROTOCOLS.get(spec.protocol), spec.protocol_opts, f"protocol {spec.protocol!r}")]
    for factory, opts, what in parts:
        check_params(factory, opts, what)


def load(spec: RunSpec) -> Loaded:
    """Check ``spec``, build its four components, check them (parameters, then model files), and
    load the dataset's samples table; nothing is extracted yet.

    Parameters
    ----------
    spec : RunSpec

    Returns
    -------
    Loaded
    """
    from ..preflight import check_components, ensure_models

    check_spec(spec)
    dataset, dataset_seed = build_dataset(spec)
    extractor, extractor_seed = build_extractor(spec)
    classifier, classifier_seed = build_classifier(spec)
    protocol, protocol_seed = build_protocol(spec)
    check_components(spec, dataset, extractor, classifier, protocol)  # parameters, before any data is read
    ensure_models(extractor, f"extractor {spec.features!r}")  # model files, before any feature
    ensure_models(classifier_of(classifier), f"classifier {spec.classifier!r}")  # a net's starting weights
    if hasattr(dataset, "on_error"):  # a loader's row-level problems: stop, or recorded skips (LoaderBase.row_problems)
        dataset.on_error = spec.on_error
    crashwatch.note(f"dataset {spec.dataset!r} was loading")
    with component_errors(f"dataset {spec.dataset!r}", "while loading"):
        samples = dataset.load(spec.task)
    ensure_models(extractor, f"extractor {spec.features!r}", samples)  # align="auto": only if a sample needs it
    seeds = {"run": spec.seed, "dataset": dataset_seed, "features": extractor_seed,
             "classifier": classifier_seed, "protocol": protocol_seed}
    return Loaded(spec, dataset, samples, extractor, classifier, protocol, seeds)


def target_columns(dataset, task: str | None) -> tuple[str, ...]:
    """:data:`ALWAYS_TARGETS` plus ``task``'s declared targets: a plugin cannot un-hide ``label`` and its kin."""
    from ..data.schema import ALWAYS_TARGETS

    declared = getattr(dataset, "targets", None)
    extra = tuple(declared(task)) if callable(declared) else ()
    return tuple(dict.fromkeys(ALWAYS_TARGETS + extra))


def classifier_of(estimator):
    """The classifier of ``estimator``: its ``classifier`` step in a pipeline, else itself."""
    steps = getattr(estimator, "named_steps", None)
    return steps["classifier"] if steps and "classifier" in steps else estimator
