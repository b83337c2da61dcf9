"""Helpers shared by CLI commands: option parsing, config files, error printing."""
from __future__ import annotations

import re
from pathlib import Path

from .errors import ConfigError, UsageError

CONFIG_KEYS = {
    "name", "description", "dataset", "root", "dataset_opts", "task", "features", "features_opts",
    "classifier", "classifier_opts", "protocol", "protocol_opts", "metrics", "seed",
}


_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _number(value):
    """``1e-3`` as the float 0.001: YAML 1.1 reads a float without a dot as a string."""
    return float(value) if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()) else value


def parse_options(pairs, flag: str = "--option") -> dict:
    """Turn ``("k=v", ...)`` into a dict, parsing values as YAML scalars (``16`` -> 16, ``true`` -> True,
    ``1e-3`` -> 0.001)."""
    import yaml

    out = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}.")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)):
            value = raw
        out[key] = _number(value)
    return out


def load_config(path: str | Path) -> dict:
    """Read a run config YAML; unknown keys and malformed YAML are errors naming the file and key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        data = yaml.load(text, Loader=_unique_key_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not a {type(data).__name__}.")
    unknown = sorted(set(data) - CONFIG_KEYS, key=str)
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), sorted(CONFIG_KEYS), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(hints)}. Allowed: {', '.join(sorted(CONFIG_KEYS))}.")
    check_config_values(data, f"config file {path}")
    return data


def resumed_spec(run_dir, **execution):
    """The RunSpec of the interrupted run in ``run_dir`` (its recorded config), with new execution knobs."""
    from .checkpoint import interrupted_state
    from .errors import RunStoreError
    from .run import RunSpec

    run_dir = Path(run_dir)
    state = interrupted_state(run_dir) if run_dir.is_dir() else None
    if state is None:
        done = (run_dir / "manifest.json").is_file()
        raise RunStoreError(f"{run_dir} holds {'a finished run' if done else 'no interrupted run'}; nothing to resume."
                            + ("" if done else " Pass the directory an interrupted `mebench run` was writing."))
    config = dict(state["config"])
    config["metrics"] = tuple(config.get("metrics") or ())
    return RunSpec(**config, out=str(run_dir), plugins=tuple(state.get("plugins") or ()), **execution)


def _unique_key_loader():
    """A YAML safe loader that refuses a key given twice in one mapping (the last would silently win)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # an unhashable key: let PyYAML report it
                    break
                if first != key_node.start_mark.line + 1:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice (lines {first} and {key_node.start_mark.line + 1})",
                        key_node.start_mark)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def check_config_values(data: dict, where: str) -> None:
    """Types and ranges of config values; each mistake names ``where`` and the key."""
    from .preflight import SEED_MAX

    for key in ("dataset", "features", "classifier", "protocol", "task", "root", "name", "description"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            what = "a registered name" if key in ("dataset", "features", "classifier", "protocol") else "a string"
            raise ConfigError(f"{where}: {key!r} must be {what}, not {_shown(data[key])}."
                              + (" Remove the key to use the default." if data[key] is None else ""))
    for key in ("dataset_opts", "features_opts", "classifier_opts", "protocol_opts"):
        if key in data:
            if not isinstance(data[key], dict):
                raise ConfigError(f"{where}: {key!r} must be a mapping of options (KEY: VALUE lines), "
                                  f"not {_shown(data[key])}.")
            from .preflight import valid_option_name

            bad = [k for k in data[key] if not valid_option_name(k)]
            if bad:
                raise ConfigError(f"{where}: {key!r} has an option named {bad[0]!r}, which is not a valid name.")
            data[key] = {k: _number(v) for k, v in data[key].items()}
    if "metrics" in data:
        metrics = data["metrics"]
        if not isinstance(metrics, list):
            raise ConfigError(f"{where}: 'metrics' must be a list of metric names, not {_shown(metrics)}.")
        if not metrics:
            raise ConfigError(f"{where}: 'metrics' is empty; list at least one metric (`mebench list metrics`).")
        for m in metrics:
            if not isinstance(m, str) or not m.strip():
                raise ConfigError(f"{where}: 'metrics' must hold metric names; {_shown(m)} is not one "
                                  "(`mebench list metrics` shows them).")
        twice = sorted({m for m in metrics if metrics.count(m) > 1})
        if twice:
            raise ConfigError(f"{where}: 'metrics' lists {', '.join(twice)} more than once.")
    if "seed" in data:
        seed = data["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"{where}: 'seed' must be a whole number in 0..{SEED_MAX}, not {_shown(seed)}.")
        if not 0 <= seed <= SEED_MAX:
            raise ConfigError(f"{where}: 'seed' must lie in 0..{SEED_MAX} (numpy and scikit-learn take 32-bit "
                              f"seeds), got {seed}.")


def _shown(value) -> str:
    return "null" if value is None else f"{value!r} ({type(value).__name__})"
