"""mebench: honest benchmarks for micro-expression and deception-detection research.

``mebench.evaluate(...)`` runs a pipeline and ``mebench.load_run(path)`` opens a stored run (both in
:mod:`mebench.api`). They are resolved on first use, like the registry's ``"module:attr"`` targets,
so ``import mebench`` loads nothing heavy and no upper floor.
"""
__version__ = "0.1.0"

# name -> "module:attr", imported on first access (PEP 562)
LAZY = {"evaluate": "mebench.api:evaluate", "load_run": "mebench.api:load_run", "Run": "mebench.api:Run"}
__all__ = ["__version__", *LAZY]


def __getattr__(name):
    target = LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mebench' has no attribute {name!r}")
    import importlib

    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(LAZY))
