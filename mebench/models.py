"""Old name of :mod:`mebench.model_files`: kept only for ``runner.py``'s lazy import of ``fetch_log``.

Delete this file once the runner (being split into a package) imports from ``model_files``.
"""
from .model_files import fetch_log  # noqa: F401
