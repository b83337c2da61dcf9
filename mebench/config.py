"""One run configuration, wherever it comes from: ``--config`` files, suite entries, command-line flags.

A run is defined by the keys in :data:`CONFIG_KEYS`. YAML configs, a suite's protocol and pipeline
entries and the flags of ``mebench run`` each give some; one YAML reader (refusing a key given twice),
one key set with one set of checks and one merge rule serve all three, so they cannot drift apart.
On the lowest floor: the runner takes :meth:`Config.spec_kwargs`; nothing here imports the runner.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, UnknownNameError, UsageError, did_you_mean

SEED_MAX = 2**32 - 1  # numpy's SeedSequence and scikit-learn's random_state take 32-bit seeds
NAME_KEYS = ("dataset", "features", "classifier", "protocol")
TEXT_KEYS = ("task", "root", "name", "description")
OPTION_FLAGS = {"dataset_opts": "--dataset-opt", "features_opts": "--features-opt",
                "classifier_opts": "--classifier-opt", "protocol_opts": "--protocol-opt"}
LABEL_KEYS = ("name", "description")  # label a file or a suite entry, not a run
CONFIG_KEYS = frozenset((*NAME_KEYS, *TEXT_KEYS, *OPTION_FLAGS, "metrics", "seed"))
COMMAND_LINE = "command line"  # the source of flag values: their messages name the flag
_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
# Configs shipped inside the package, so `--config NAME` and `--suite NAME` work from any directory
# (package data in pyproject.toml): protocols/*.yaml, baselines/*.yaml (run configs), suites/*.yaml.
BUNDLED_DIR = Path(__file__).resolve().parent / "configs"
CONFIG_KINDS = ("protocols", "baselines")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Config:
    """Some or all of a run's defining keys, and where they came from (for error messages).

    Parameters
    ----------
    values : dict
        Keys of :data:`CONFIG_KEYS` and their values.
    source : str
        Where the values came from, e.g. ``"config file a.yaml"``; :data:`COMMAND_LINE` for flags.
    """

    values: dict = field(default_factory=dict)
    source: str = field(default=COMMAND_LINE, compare=False)

    @classmethod
    def from_yaml(cls, path, source: str | None = None) -> Config:
        """Read and validate a run-config YAML file (an empty file is an empty config).

        Parameters
        ----------
        path : str or Path
        source : str, optional
            How messages name it; default ``config file PATH``.
        """
        data = read_yaml(path, "config file")
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys, not a {type(data).__name__}.")
        return cls(data or {}, source or f"config file {path}").validate()

    @classmethod
    def from_cli(cls, *, dataset_opt=(), features_opt=(), classifier_opt=(), protocol_opt=(), **flags) -> Config:
        """The config given by command-line flags; a flag left at ``None`` gives no key.

        Parameters
        ----------
        dataset_opt, features_opt, classifier_opt, protocol_opt : sequence of str
            ``KEY=VALUE`` pairs, values parsed as YAML scalars (:func:`parse_options`).
        **flags
            Config keys and their flag values (``features="hoof"``, ``seed=3``).
        """
        values = {key: value for key, value in flags.items() if value is not None}
        for key, pairs in zip(OPTION_FLAGS, (dataset_opt, features_opt, classifier_opt, protocol_opt)):
            if pairs:
                values[key] = parse_options(pairs, OPTION_FLAGS[key])
        return cls(values, COMMAND_LINE).validate()

    def validate(self) -> Config:
        """Check keys, types and ranges, each mistake naming the source and the key; option values
        written as ``1e-3`` become floats (YAML 1.1 reads them as strings). Returns ``self``."""
        values = self.values
        check_keys(values, CONFIG_KEYS, self.source)
        for key in NAME_KEYS + TEXT_KEYS:
            if key in values and (not isinstance(values[key], str) or not values[key].strip()):
                what = "a registered name" if key in NAME_KEYS else "a string"
                raise ConfigError(f"{self._subject(key)} must be {what}, not {_shown(values[key])}."
                                  + (" Remove the key to use the default." if values[key] is None else ""))
        for key in (key for key in OPTION_FLAGS if key in values):
            if not isinstance(values[key], dict):
                raise ConfigError(f"{self._subject(key)} must be a mapping of options (KEY: VALUE lines), "
                                  f"not {_shown(values[key])}.")
            bad = [k for k in values[key] if not valid_option_name(k)]
            if bad:
                raise ConfigError(f"{self._subject(key)} has an option named {bad[0]!r}, which is not a valid name "
                                  "(KEY, or PART.KEY for a part of a combination such as hoof+lbptop).")
            values[key] = {k: _number(v) for k, v in values[key].items()}
        if "metrics" in values:
            metrics, where = values["metrics"], self._subject("metrics")
            if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
                raise ConfigError(f"{where} must be a list of metric names, not {_shown(metrics)}.")
            if not metrics:
                raise ConfigError(f"{where} is empty; list at least one metric (`mebench list metrics`).")
            for m in metrics:
                if not isinstance(m, str) or not m.strip():
                    raise ConfigError(f"{where} must hold metric names; {_shown(m)} is not one "
                                      "(`mebench list metrics` shows them).")
            twice = sorted({m for m in metrics if list(metrics).count(m) > 1})
            if twice:
                raise ConfigError(f"{where} lists {', '.join(twice)} more than once.")
        if "seed" in values:
            seed, where = values["seed"], self._subject("seed")
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ConfigError(f"{where} must be a whole number in 0..{SEED_MAX}, not {_shown(seed)}.")
            if not 0 <= seed <= SEED_MAX:
                raise ConfigError(f"{where} must lie in 0..{SEED_MAX} (numpy and scikit-learn take 32-bit seeds), "
                                  f"got {seed}.")
        return self

    def _subject(self, key: str) -> str:
        return OPTION_FLAGS.get(key, f"--{key}") if self.source == COMMAND_LINE else f"{self.source}: {key!r}"

    def spec_kwargs(self) -> dict:
        """``RunSpec(**config.spec_kwargs(), jobs=...)``: labels dropped, option mappings copied, metrics a tuple."""
        return {key: tuple(value) if key == "metrics" else dict(value) if key in OPTION_FLAGS else value
                for key, value in self.values.items() if key not in LABEL_KEYS}


def merge(*configs: Config) -> Config:
    """The one merging rule (``--config`` files then flags; a suite's seed, protocol, pipeline and ``bench``
    flags): later configs, given lowest precedence first, win key by key, option mappings merge option by
    option; ``name`` and ``description`` label files, not runs, and are dropped."""
    merged: dict = {}
    for config in configs:
        for key, value in config.values.items():
            if key in OPTION_FLAGS:
                merged[key] = {**merged.get(key, {}), **value}
            elif key not in LABEL_KEYS:
                merged[key] = value
    return Config(merged, "merged config")


def bundled_configs(kinds=(*CONFIG_KINDS, "suites")) -> dict:
    """``{kind: {name: path}}`` of the configs shipped in the package (``mebench list configs``)."""
    return {kind: {p.stem: p for p in sorted((BUNDLED_DIR / kind).glob("*.y*ml"))} for kind in kinds}


def bundled_path(name, kinds=CONFIG_KINDS) -> Path | None:
    """The shipped file ``name`` stands for, or None: a name (``hoof-ridge``), a file name
    (``hoof-ridge.yaml``) or a path relative to the package's config folder (``baselines/hoof-ridge.yaml``,
    the form the repository's suites use)."""
    raw = Path(str(name))
    if raw.is_absolute() or ".." in raw.parts or not raw.parts:
        return None
    stems = [raw] if raw.suffix in YAML_SUFFIXES else [raw.with_name(raw.name + ext) for ext in YAML_SUFFIXES]
    folders = [BUNDLED_DIR] + ([BUNDLED_DIR / kind for kind in kinds] if len(raw.parts) == 1 else [])
    for folder in folders:
        for stem in stems:
            if (folder / stem).is_file():
                return folder / stem
    return None


def find_config(name) -> Path:
    """``--config NAME``: an existing file, else a config shipped with mebench (:func:`bundled_path`).

    A name with no file and no shipped config is an error with the closest shipped names: exit 2 for a bare
    name (an unknown name), 1 for a missing ``.yaml`` file, as for any file that does not exist.
    """
    path = Path(name)
    if path.is_file():
        return path
    found = bundled_path(name)
    if found is not None:
        return found
    names = [n for configs in bundled_configs(CONFIG_KINDS).values() for n in configs]
    hint = f"`mebench list configs` shows the shipped ones.{did_you_mean(Path(str(name)).stem, names)}"
    if path.suffix in YAML_SUFFIXES:
        raise ConfigError(f"config file {path} does not exist, and no config shipped with mebench has that name; {hint}")
    raise UnknownNameError(f"no config file or shipped config named {str(name)!r}; {hint}")


def check_spec_values(spec) -> None:
    """Types and ranges of a run spec's fields, for specs built in Python rather than from configs."""
    values = {key: getattr(spec, key) for key in CONFIG_KEYS.difference(LABEL_KEYS)}
    values = {key: os.fspath(value) if isinstance(value, os.PathLike) else value for key, value in values.items()
              if value is not None or key not in ("task", "root")}  # None: the dataset's first task, no directory
    Config(values, "run spec").validate()
    if isinstance(spec.jobs, bool) or not isinstance(spec.jobs, int) or spec.jobs < 1:
        raise ConfigError(f"jobs must be a positive number of worker processes, not {spec.jobs!r} "
                          "(the CLI turns -1 into all cores: mebench.workers.resolve_jobs).")
    if spec.on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be 'raise' or 'skip', not {spec.on_error!r}.")


def check_keys(data: dict, allowed, where: str) -> None:
    """Unknown keys are a ConfigError naming ``where``, each with its closest allowed key."""
    unknown = sorted((k for k in data if k not in allowed), key=str)
    if unknown:
        close = {k: difflib.get_close_matches(str(k), sorted(allowed), n=1) for k in unknown}
        hints = ", ".join(f"{k!r}" + (f" (did you mean {close[k][0]!r}?)" if close[k] else "") for k in unknown)
        raise ConfigError(f"{where}: unknown key(s) {hints}. Allowed: {', '.join(sorted(allowed))}.")


def read_yaml(path, what: str):
    """The YAML document in ``path`` (None if empty), for every YAML file mebench reads: a key given twice
    in one mapping is refused (the last would silently win); errors name ``what`` (``"config file"``), the
    file and the line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        return yaml.load(text, Loader=_unique_key_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{what} {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None


MAX_YAML_VALUES = 100_000  # values a YAML document may expand to once its aliases are followed
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _expanded_size(node, memo: dict, active: set) -> int:
    """How many values ``node`` stands for with every alias expanded (the size code that walks the loaded
    value meets); aliases share nodes, so a few lines can stand for billions ("billion laughs")."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise RecursionError("the document refers to itself through an alias")
    active.add(key)
    children = node.value if isinstance(node.value, list) else ()
    total = 1
    for child in children:
        for part in (child if isinstance(child, tuple) else (child,)):
            total += _expanded_size(part, memo, active)
            if total > MAX_YAML_VALUES:
                break
    active.discard(key)
    memo[key] = total
    return total


def _unique_key_loader():
    """A YAML safe loader that refuses a key given twice in one mapping and documents whose aliases expand
    to more than :data:`MAX_YAML_VALUES` values; merge keys (``<<: *defaults``) work as YAML defines them."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_document(self, node):
            try:
                size = _expanded_size(node, {}, set())
            except RecursionError as exc:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{exc if 'alias' in str(exc) else 'it is nested too deeply'}; write it out plainly",
                    node.start_mark) from None
            if size > MAX_YAML_VALUES:
                raise yaml.constructor.ConstructorError(
                    None, None, f"its aliases (*name) expand to more than {MAX_YAML_VALUES:,} values (a 'billion "
                    "laughs' document); write the values out, or use fewer aliases", node.start_mark)
            return super().construct_document(node)

        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:  # '<<': merged keys may be overridden here, as YAML says
                    continue
                key, line = self.construct_object(key_node, deep=deep), key_node.start_mark.line + 1
                try:
                    if key in seen:  # on one line too: {a: 1, a: 2}
                        lines = f"lines {seen[key]} and {line}" if seen[key] != line else f"line {line}"
                        raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice ({lines})",
                                                                key_node.start_mark)
                    seen[key] = line
                except TypeError:  # an unhashable key: let PyYAML report it
                    break
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def parse_options(pairs, flag: str = "--option") -> dict:
    """``("k=v", ...)`` given with ``flag`` as a dict, values parsed as YAML scalars (``16`` -> 16, ``true``
    -> True, ``1e-3`` -> 0.001)."""
    import yaml

    out = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}.")
        try:
            value = yaml.load(raw, Loader=_unique_key_loader()) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)):
            value = raw
        out[key] = _number(value)
    return out


def valid_option_name(key) -> bool:
    """An option name: an identifier, or ``part.identifier`` for a part of a feature combination."""
    if not isinstance(key, str):
        return False
    part, dot, name = key.rpartition(".")
    return name.isidentifier() and (not dot or re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", part) is not None)


def _number(value):
    """``1e-3`` as the float 0.001: YAML 1.1 reads a float without a dot as a string."""
    return float(value) if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()) else value


def _shown(value) -> str:
    return "null" if value is None else f"{value!r} ({type(value).__name__})"
