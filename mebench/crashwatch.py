"""A message for a run that dies without a word: a segmentation fault in a plugin, the OOM killer, SIGKILL.

Python cannot report its own hard crash, so ``mebench run`` starts a tiny watcher process (the interpreter
alone, no imports) connected by a pipe. The run tells it what is happening (``note("classifier 'x'
fitting fold 3")``) and where its run directory is; at a normal end it says ``done``. If the pipe closes
without ``done``, the process died abruptly, and the watcher prints, on the run's own stderr, what was
running (naming the plugin) and how to resume from the ``checkpoint/`` folder the run leaves behind.
Notes cost one small pipe write; worker processes have no watcher and their notes are no-ops.
"""
from __future__ import annotations

import os
import subprocess
import sys

_WATCHER = r"""
import sys
last, run_dir, pid = "starting", "", sys.argv[1]
for line in sys.stdin:
    kind, _, text = line.rstrip("\n").partition(" ")
    if kind == "done":
        sys.exit(0)
    if kind == "dir":
        run_dir = text
    elif kind == "note":
        last = text
where = (f" Finished folds are kept in {run_dir}/checkpoint/: run the same command again (or mebench run --resume "
         f"{run_dir}) to continue from them, or remove {run_dir}/checkpoint/ to start afresh.") if run_dir else ""
sys.stderr.write(f"error: mebench run (pid {pid}) died without finishing (a crash such as a segmentation fault, or a "
                 f"kill) while {last}.{where}\n")
sys.stderr.flush()
"""

_pipe = None


def start() -> None:
    """Start the watcher for this process (once; never in worker processes, which do not call it)."""
    global _pipe
    if _pipe is not None or os.environ.get("MEBENCH_NO_CRASH_WATCH"):
        return
    try:
        proc = subprocess.Popen([sys.executable, "-S", "-c", _WATCHER, str(os.getpid())], stdin=subprocess.PIPE,
                                text=True, close_fds=True, start_new_session=True)
    except OSError:  # no watcher: the run itself is unaffected
        return
    _pipe = proc


def _send(line: str) -> None:
    global _pipe
    if _pipe is None:
        return
    try:
        _pipe.stdin.write(line.replace("\n", " ") + "\n")
        _pipe.stdin.flush()
    except (OSError, ValueError):
        _pipe = None


def note(text: str) -> None:
    """What the run is doing now, named for the message after a crash ("classifier 'x' fitting fold 3")."""
    _send(f"note {text}")


def run_dir(path) -> None:
    """The run directory whose ``checkpoint/`` a crash would leave behind."""
    _send(f"dir {path}")


def done() -> None:
    """The run ended in a way Python saw (success or an error it reported): the watcher exits silently."""
    global _pipe
    if _pipe is None:
        return
    _send("done")
    try:
        _pipe.stdin.close()
        _pipe.wait(timeout=5)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    _pipe = None
