"""Running a benchmark: a :class:`RunSpec` goes through explicit stages to a run directory.

``execute`` reads load -> open run -> extract -> split -> predict -> score -> write; ``prepare``
is the same stages up to the split (what permutation tests refit). The modules:

* :mod:`.spec` -- :class:`RunSpec`, and what the stages hand each other (:class:`Loaded`,
  :class:`Prepared`, :class:`RunResult`);
* :mod:`.build` -- components from the spec, checked before any data is read, and the load stage;
* :mod:`.extract` -- features through the cache, on parallel workers when worth it, with skips;
* :mod:`.crossval` -- the split, one fit per fold on a :class:`~.crossval.FoldExecutor`, checkpointed;
* :mod:`.score` -- metrics and diagnostics from held-out predictions;
* :mod:`.manifest` -- environment capture, run identity, resolved parameters and honesty flags;
* :mod:`.failures` -- exceptions inside components, translated by type into clear errors;
* :mod:`.execute` -- the stages in order, and the files written last.
"""
from .build import build_classifier, build_dataset, build_extractor, build_protocol, check_spec, load
from .crossval import CrossPredictions, cross_predict, fit_params_for, fit_predict_fold, prepare_arrays, split
from .execute import execute, prepare
from .extract import extract, extract_features
from .manifest import code_identity, package_versions, run_identity
from .score import compute_metrics
from .spec import DEFAULT_METRICS, Loaded, Prepared, RunResult, RunSpec

__all__ = ["CrossPredictions", "DEFAULT_METRICS", "Loaded", "Prepared", "RunResult", "RunSpec",
           "build_classifier", "build_dataset", "build_extractor", "build_protocol", "check_spec", "code_identity",
           "compute_metrics", "cross_predict", "execute", "extract", "extract_features", "fit_params_for",
           "fit_predict_fold", "load", "package_versions", "prepare", "prepare_arrays", "run_identity",
           "split"]
