"""One generic registry per component kind, with lazy built-ins, entry points and plugin files.

Built-ins are registered as ``"module:attr"`` strings and imported only when used, so that
``mebench --help`` and ``mebench list`` never import torch or mediapipe.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, DuplicateNameError, UnknownNameError, UnknownOptionError, UsageError, did_you_mean

KINDS = ("datasets", "extractors", "classifiers", "protocols", "metrics")  # what `mebench list` shows


@dataclass
class Entry:
    """A registered component: either a loaded object or a lazy ``module:attr`` target."""

    name: str
    origin: str
    description: str = ""
    target: str | None = None
    obj: Any = None

    def load(self) -> Any:
        if self.obj is None:
            module_name, _, attr = self.target.partition(":")
            module = importlib.import_module(module_name)
            self.obj = getattr(module, attr)
        return self.obj


@dataclass
class Registry:
    """Named components of one kind (datasets, extractors, ...)."""

    kind: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def _add(self, entry: Entry) -> None:
        existing = self.entries.get(entry.name)
        if existing is not None:
            if existing.origin == entry.origin:
                return  # the same module imported twice (e.g. a lazy target that self-registers)
            raise DuplicateNameError(f"{self.kind[:-1]} {entry.name!r} is registered twice: by {existing.origin} "
                                     f"and by {entry.origin}. Rename one of them.")
        self.entries[entry.name] = entry

    def register(self, name: str | None = None, description: str | None = None) -> Callable:
        """Decorator: ``@EXTRACTORS.register("my-feature")``."""

        def decorate(obj):
            key = name or getattr(obj, "name", None) or obj.__name__
            desc = description if description is not None else _first_line(obj.__doc__)
            origin = f"{obj.__module__}:{obj.__qualname__}"
            entry = Entry(key, origin, desc, target=origin, obj=obj)
            self._add(entry)
            return obj

        return decorate

    def register_lazy(self, name: str, target: str, description: str, origin: str | None = None) -> None:
        """Register ``module:attr`` without importing it."""
        self._add(Entry(name, origin or target, description, target=target))

    def names(self) -> list[str]:
        _discover()
        return sorted(self.entries)

    def entry(self, name: str) -> Entry:
        _discover()
        if name not in self.entries:
            raise UnknownNameError(f"unknown {self.kind[:-1]} {name!r}.{did_you_mean(name, self.entries, n=3)} "
                                   f"Run `mebench list {self.kind}` to see all {len(self.entries)} names.")
        return self.entries[name]

    def get(self, name: str) -> Any:
        entry = self.entry(name)
        try:
            return entry.load()
        except ImportError as exc:  # a plugin whose module is broken
            raise ConfigError(f"{self.kind[:-1]} {name!r} ({entry.origin}) failed to import: {exc}") from exc

    def create(self, name: str, **params) -> Any:
        """Instantiate component ``name`` with keyword parameters, naming any unknown key."""
        factory = self.get(name)
        check_params(factory, params, f"{self.kind[:-1]} {name!r}")
        return factory(**params)

    def __contains__(self, name: str) -> bool:
        _discover()
        return name in self.entries


def accepted_params(factory) -> tuple[list[str], bool]:
    """Names a factory (class or function) accepts, and whether it takes ``**kwargs``."""
    if inspect.isclass(factory) and factory.__init__ is object.__init__:
        return [], False  # no __init__ of its own: no options (object's signature says *args, **kwargs)
    target = factory.__init__ if inspect.isclass(factory) else factory
    sig = inspect.signature(target)
    names, var_kw = [], False
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.append(p.name)
    return names, var_kw


def check_params(factory, params: dict, what: str) -> None:
    """An option ``factory`` does not take is an unknown name (exit code 2), with the closest one it takes."""
    names, var_kw = accepted_params(factory)
    if var_kw:
        return
    for key in params:
        if key not in names:
            raise UnknownOptionError(f"{what} does not take option {key!r}.{did_you_mean(key, names)} "
                                     f"It takes: {', '.join(names) or 'no options'}.")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if doc and doc.strip() else ""


DATASETS = Registry("datasets")
EXTRACTORS = Registry("extractors")
CLASSIFIERS = Registry("classifiers")
PROTOCOLS = Registry("protocols")
METRICS = Registry("metrics")
SCHEMES = Registry("schemes")  # frames-locator schemes (``synthetic:<json>``): name -> opener(locator) -> Clip
REGISTRIES = {r.kind: r for r in (DATASETS, EXTRACTORS, CLASSIFIERS, PROTOCOLS, METRICS, SCHEMES)}

# Modules that declare built-in lazy entries in a module-level ``BUILTINS`` list of
# (kind, name, "module:attr", description). Importing them must stay cheap.
CATALOG_MODULES = ("mebench.catalog",
                   "mebench.classifiers.catalog",
                   "mebench.data.catalog",
                   "mebench.face.catalog",
                   "mebench.features.catalog")

_state = {"discovered": False, "running": False}
_discover_lock = threading.RLock()


def _discover() -> None:
    """Register the catalogs' built-ins and the entry points, once per process.

    Thread-safe: extractors open clips (and so look up locator schemes) on worker threads, and no
    thread may see a half-filled registry. A nested call from the same thread (a catalog target
    imported during discovery) returns at once.
    """
    if _state["discovered"]:
        return
    with _discover_lock:
        if _state["discovered"] or _state["running"]:
            return
        _state["running"] = True
        try:
            _load_builtins_and_entry_points()
        finally:
            _state["running"] = False
        _state["discovered"] = True


def _load_builtins_and_entry_points() -> None:
    for module_name in CATALOG_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        for kind, name, target, desc in module.BUILTINS:
            REGISTRIES[kind].register_lazy(name, target, desc)
    for kind, registry in REGISTRIES.items():
        for ep in entry_points(group=f"mebench.{kind}"):
            dist = getattr(ep, "dist", None)
            origin = f"entry point {ep.value} (distribution {dist.name if dist else '?'})"
            registry.register_lazy(ep.name, ep.value, _ep_description(ep), origin=origin)


def _ep_description(ep) -> str:
    return f"plugin from {ep.dist.name}" if getattr(ep, "dist", None) else "plugin"


PLUGIN_MODULES: list = []  # modules loaded from --plugins files, pickled by value for worker processes


def load_plugin_file(path: str | Path) -> None:
    """Import a user's ``my_plugins.py``; its decorators register components.

    The module's classes are pickled by value (cloudpickle), so worker processes of any backend can
    rebuild plugin objects without importing the file themselves.
    """
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"plugin file {path} does not exist. Pass an existing .py file to --plugins.")
    if path.suffix != ".py":
        raise ConfigError(f"plugin file {path} is not a Python file: --plugins takes a .py file whose decorators "
                          "register components (@EXTRACTORS.register(...)). Rename it to .py if it holds Python code.")
    _discover()
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    module_name = f"mebench_user_plugin_{digest}"
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a source loader
        raise ConfigError(f"plugin file {path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        if isinstance(exc, (DuplicateNameError, ConfigError, UsageError)):
            raise
        raise ConfigError(f"plugin file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    PLUGIN_MODULES.append(module)
    pickle_plugins_by_value("cloudpickle")  # joblib's loky and Dask use the cloudpickle package


def pickle_plugins_by_value(cloudpickle_module: str) -> None:
    """Tell one cloudpickle module (``cloudpickle``, ``ray.cloudpickle``) to ship the plugin modules by value."""
    try:
        cp = importlib.import_module(cloudpickle_module)
    except ImportError:
        return
    for module in PLUGIN_MODULES:
        try:
            cp.register_pickle_by_value(module)
        except (ValueError, AttributeError):  # already registered, or an old cloudpickle
            pass
