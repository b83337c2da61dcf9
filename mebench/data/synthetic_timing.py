"""Timing of the synthetic micro-expressions: intensity rises from onset to apex and decays to offset."""
from __future__ import annotations

import numpy as np


def au_envelope(params: dict, t: int) -> float:
    """Expression intensity at frame t in [0, 1]: 0 outside onset..offset, 1 at apex."""
    onset, apex, offset = params["onset"], params["apex"], params["offset"]
    if t <= onset or t >= offset:
        return 0.0
    if t <= apex:
        x = (t - onset) / max(apex - onset, 1)
    else:
        x = (offset - t) / max(offset - apex, 1)
    return float(0.5 - 0.5 * np.cos(np.pi * x))  # smooth rise and decay


def au_intensities(params: dict, t: int) -> dict[str, float]:
    """Per-AU intensity at frame t, e.g. {"AU12": 0.7}.

    A ``params["events"]`` list of {onset, apex, offset, aus} (long clips with several planted
    micro-expressions) adds the intensities of every event.
    """
    if params.get("events"):
        total: dict[str, float] = {}
        for event in params["events"]:
            for au, value in au_intensities({**params, **event, "events": None}, t).items():
                total[au] = total.get(au, 0.0) + value
        return total
    env = au_envelope(params, t)
    return {au: float(peak * env) for au, peak in params["aus"].items()}
