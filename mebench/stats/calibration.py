"""What the paired tests and the intervals were measured to do, quoted wherever they are used.

The figures come from the calibration suite (``benchmarks/bench_calibration.py``), which writes
:mod:`.calibration_table`; nothing here is typed by hand. A paired test enters the Holm family, and
so marks a leaderboard cell, only for a metric whose false-positive rate stayed inside the binomial
band in every measured cell. The subject swap is kept as a secondary, descriptive test.
"""
from __future__ import annotations

from ..metrics.batch import metric_kind, resolve_metric
from .calibration_table import MEASURED

TESTS = {"studentised": "refit studentised paired permutation test",
         "swap": "paired subject-swap randomisation test (secondary)"}


def _rate(entry: dict) -> str:
    return f"{entry['min']:.3f}-{entry['max']:.3f}"


def test_calibration(metric, test: str = "studentised") -> dict:
    """The measured false-positive rate of ``test`` for ``metric`` and whether its p-values are Holm-corrected."""
    kind = metric_kind(resolve_metric(metric))
    entry = MEASURED["tests"].get(test, {}).get(kind)
    if entry is None:
        return {"in_holm_family": False, "measured_false_positive_rate": None, "test": TESTS.get(test, test),
                "note": f"the {TESTS.get(test, test)} has not been calibrated for this metric; its p-value is "
                        "descriptive and not Holm-corrected"}
    out = {"in_holm_family": bool(entry["in_band"] and test == "studentised"), "test": TESTS[test],
           "measured_false_positive_rate": _rate(entry), "setting": MEASURED["setting"]}
    if test != "studentised":
        out["note"] = (f"the {TESTS[test]} rejected {_rate(entry)} of null datasets at alpha = 0.05 between "
                       "leave-one-subject-out pipelines: descriptive, not Holm-corrected")
    elif not entry["in_band"]:
        out["note"] = (f"the {TESTS[test]} rejected {_rate(entry)} of null datasets at alpha = 0.05 (above the "
                       "binomial band in some cell): read the p-value with that rate; it is not Holm-corrected")
    return out


def interval_coverage(metric, method: str = "bca", target: str = "single") -> dict:
    """The measured coverage of a nominal 95% interval (``target``: a pipeline's metric, or a ``difference``)."""
    kind = metric_kind(resolve_metric(metric))
    cells = MEASURED["coverage"].get(method, {}).get(target, {}).get(kind)
    if not cells:
        return {"coverage": None, "in_band": False, "note": "coverage not measured for this metric"}
    values = [v for v in cells.values() if v is not None]
    lo, hi = min(values), max(values)
    by_size = ", ".join(f"{v:.2f} at {s} subjects" if s != "equal" else f"{v:.2f} at 26 subjects (informative)"
                        for s, v in cells.items() if v is not None)
    return {"coverage": f"{lo:.3f}-{hi:.3f}", "in_band": bool(lo >= 0.93 and hi <= 0.97), "cells": cells,
            "note": f"measured coverage of the nominal 95% interval: {by_size}"}
