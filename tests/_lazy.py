"""Modules imported on first use, so that collecting the suite does not pay for them (torch takes seconds)."""
from __future__ import annotations

import importlib


class LazyModule:
    """Stands for a module; the first attribute read imports it (``torch = LazyModule("torch")``).

    Parameters
    ----------
    name : str
        The module's dotted name.
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("_"):  # pytest probing what this object is (``_mock_name``, ``__wrapped__``...)
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)
