"""Helpers shared by CLI commands that need the runner (run configs themselves are in :mod:`mebench.config`)."""
from __future__ import annotations

from pathlib import Path


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
    config = {**state["config"], "metrics": tuple(state["config"].get("metrics") or ())}
    return RunSpec(**config, out=str(run_dir), plugins=tuple(state.get("plugins") or ()), **execution)
