"""Helpers shared by CLI commands: option parsing, config files, error printing."""
from __future__ import annotations

from pathlib import Path

from .errors import ConfigError, UsageError

CONFIG_KEYS = {
    "name", "description", "dataset", "root", "dataset_opts", "task", "features", "features_opts",
    "classifier", "classifier_opts", "protocol", "protocol_opts", "metrics", "seed",
}


def parse_options(pairs, flag: str = "--option") -> dict:
    """Turn ``("k=v", ...)`` into a dict, parsing values as YAML scalars (``16`` -> 16, ``true`` -> True)."""
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
        out[key] = value
    return out


def load_config(path: str | Path) -> dict:
    """Read a run config YAML; unknown keys and malformed YAML are errors naming the file and key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not a {type(data).__name__}.")
    unknown = sorted(set(data) - CONFIG_KEYS)
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), sorted(CONFIG_KEYS), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(hints)}. Allowed: {', '.join(sorted(CONFIG_KEYS))}.")
    for key in ("dataset_opts", "features_opts", "classifier_opts", "protocol_opts"):
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(f"config file {path}: {key!r} must be a mapping of options.")
    if "metrics" in data and not isinstance(data["metrics"], list):
        raise ConfigError(f"config file {path}: 'metrics' must be a list of metric names.")
    return data


def resumed_spec(run_dir, **execution):
    """The RunSpec of the interrupted run in ``run_dir`` (its recorded config), with new execution knobs."""
    from .checkpoint import interrupted_state
    from .errors import RunStoreError
    from .runner import RunSpec

    run_dir = Path(run_dir)
    state = interrupted_state(run_dir) if run_dir.is_dir() else None
    if state is None:
        done = (run_dir / "manifest.json").is_file()
        raise RunStoreError(f"{run_dir} holds {'a finished run' if done else 'no interrupted run'}; nothing to resume."
                            + ("" if done else " Pass the directory an interrupted `mebench run` was writing."))
    config = dict(state["config"])
    config["metrics"] = tuple(config.get("metrics") or ())
    return RunSpec(**config, out=str(run_dir), plugins=tuple(state.get("plugins") or ()), **execution)
