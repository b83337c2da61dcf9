"""The one way tests run the mebench CLI, and the small synthetic data sets they run it on.

In process (click's CliRunner) is fast and is all a test of messages, options, ``--help`` and exit
codes needs. A real process is for what only a process has: the console script's quick exit
(``os._exit``), signals such as SIGKILL, and the worker processes a run leaves behind.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The tiny synthetic data set most runs use: big enough for every protocol and metric, fast to extract.
SMALL = {"subjects": 4, "clips_per_subject": 4, "frames": 10}
# The leaderboard and stats tests' runs: 5 subjects of 32x32 clips with a cheap HOOF (their golden files hang on it).
BOARD = {"subjects": 5, "clips_per_subject": 4, "frames": 8, "size": 32}
BOARD_HOOF = {"size": 32, "grid": 4}


def options(flag: str, opts: dict) -> tuple[str, ...]:
    """``{"k": v}`` as repeated ``FLAG k=v`` command-line arguments.

    Parameters
    ----------
    flag : str
        ``--dataset-opt``, ``--features-opt``, ...
    opts : dict
        The options.

    Returns
    -------
    tuple of str
    """
    return tuple(arg for key, value in opts.items() for arg in (flag, f"{key}={value}"))


def small_opts(**changes) -> tuple[str, ...]:
    """``--dataset-opt`` arguments for :data:`SMALL`, with ``changes`` applied (``subjects=3``, ...)."""
    return options("--dataset-opt", {**SMALL, **changes})


SMALL_OPTS = small_opts()


@dataclass
class ProcessResult:
    """What a CLI run in a real process gave, read like click's ``Result``."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_env(env: dict | None = None) -> dict:
    """The environment of a CLI process: this one's, with this tree first on the path and ``env`` on top."""
    merged = {**os.environ, **(env or {})}
    merged["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), merged.get("PYTHONPATH", "")) if p)
    return merged


def start_cli(*args, env: dict | None = None, cwd=None, **popen_kwargs) -> subprocess.Popen:
    """``python -m mebench.cli ARGS`` as a live process (for tests that signal or watch it).

    Parameters
    ----------
    *args
        Command-line arguments; converted with ``str``.
    env : dict, optional
        Variables set on top of this process's environment.
    cwd : path, optional
        Working directory of the process.
    **popen_kwargs
        Passed to :class:`subprocess.Popen`; stdout and stderr are pipes of text unless given.

    Returns
    -------
    subprocess.Popen
    """
    popen_kwargs.setdefault("stdout", subprocess.PIPE)
    popen_kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "mebench.cli", *map(str, args)], env=cli_env(env), cwd=cwd,
                            text=True, **popen_kwargs)


def run_cli(*args, env: dict | None = None, cwd=None, check: bool = False, process: bool = False,
            catch_exceptions: bool = False, input: str | None = None, timeout: float | None = 600):
    """Run ``mebench ARGS`` and return its exit code and output.

    Parameters
    ----------
    *args
        Command-line arguments; converted with ``str``.
    env : dict, optional
        Environment variables set for the command (restored afterwards in process).
    cwd : path, optional
        Working directory for the command.
    check : bool
        Assert that the command exited with 0 (the message shows its output).
    process : bool
        Run it as ``python -m mebench.cli`` in a real process instead of in this one.
    catch_exceptions : bool
        In process: turn an uncaught exception into ``result.exception`` instead of raising it.
    input : str, optional
        Text on the command's stdin.
    timeout : float, optional
        Seconds a real process may take.

    Returns
    -------
    click.testing.Result or ProcessResult
        ``exit_code``, ``output`` (stdout then stderr), ``stdout``, ``stderr`` and ``exception``.
    """
    if process:
        proc = start_cli(*args, env=env, cwd=cwd, stdin=subprocess.PIPE if input is not None else None)
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        finally:
            proc.kill()
        result = ProcessResult(proc.returncode, stdout, stderr)
    else:
        from click.testing import CliRunner

        from mebench.cli import main

        before = os.getcwd()
        offline = os.environ.get("MEBENCH_OFFLINE")  # `mebench --offline` sets it for its workers: not for later tests
        if cwd is not None:
            os.chdir(cwd)
        try:
            result = CliRunner().invoke(main, [str(a) for a in args], env=env, input=input,
                                        catch_exceptions=catch_exceptions)
        finally:
            os.chdir(before)
            if offline is None:
                os.environ.pop("MEBENCH_OFFLINE", None)
            else:
                os.environ["MEBENCH_OFFLINE"] = offline
    if check:
        assert result.exit_code == 0, result.output
    return result


def json_output(result) -> dict:
    """The JSON object a ``--json`` command printed (after any text before it); the command must have succeeded."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):])


def run_manifest(out, *args) -> tuple[dict, dict]:
    """``mebench run --json --out OUT ARGS`` in process: what it printed, and the manifest it wrote.

    Parameters
    ----------
    out : path
        The run directory.
    *args
        More ``mebench run`` arguments.

    Returns
    -------
    tuple of dict
        The JSON summary on stdout and ``manifest.json``.
    """
    payload = json_output(run_cli("run", "--json", "--out", out, *args))
    return payload, json.loads((Path(out) / "manifest.json").read_text())

