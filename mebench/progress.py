"""Progress of long steps, one mechanism for every command and the Python API.

On a terminal a step shows a rich bar with its count, elapsed time and an ETA. When standard error
is not a terminal (piped, captured, a CI log) a bar would print nothing useful, so the step prints
one plain line every few seconds instead (``MEBENCH_PROGRESS_INTERVAL``, default 5 s), and a last
line when a step that was reported finishes. A step shorter than the interval prints nothing there.

Work reports through callbacks ``progress(done, total)``; :meth:`Task.callback` makes one, and
:class:`RunProgress` holds the three a run reports (samples extracted, folds, a net's epochs).
rich is imported only when a display starts, so importing this module costs nothing.
"""
from __future__ import annotations

import os
import sys
import threading
import time

INTERVAL_ENV = "MEBENCH_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 5.0


def _interval() -> float:
    try:
        return max(0.01, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def _seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {s % 3600 // 60:02d} min"


class Task:
    """One counted step of a :class:`Progress` display (samples, folds, columns, clips, ...)."""

    def __init__(self, display: "Progress", description: str, total: int | None, unit: str):
        self.display, self.description, self.total, self.unit = display, description, total, unit
        self.done = 0
        self.started = time.monotonic()
        self.touched = False       # updated at least once: shown from then on
        self.first_done = 0        # the count at the first update (cached or resumed work)
        self.reported = False      # a plain line was printed for it
        self.finished = False
        self._rich_id = None

    def update(self, done: int | None = None, total: int | None = None, description: str | None = None,
               advance: int = 0) -> None:
        if total is not None:
            self.total = int(total)
        if done is not None:
            self.done = int(done)
        self.done += int(advance)
        if description is not None:
            self.description = description
        if not self.touched:  # the clock and the rate start here; work done before (a cache, a checkpoint) is not
            self.touched = True  # counted in the rate
            self.started = time.monotonic()
            self.first_done = self.done
        self.display._updated(self)

    def callback(self):
        """``progress(done, total)`` for code that reports counts."""
        return lambda done, total=None: self.update(done, total)

    def eta(self) -> float | None:
        """Seconds left at the rate since the first update; None before a unit is done or without a total."""
        elapsed = time.monotonic() - self.started
        if not self.total or self.done <= self.first_done or self.done >= self.total:
            return None
        return elapsed / (self.done - self.first_done) * (self.total - self.done)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            pct = 100.0 * self.done / self.total
            text = f"{self.description}: {self.done}/{self.total}{unit} ({pct:.0f}%), {_seconds(elapsed)} elapsed"
            eta = self.eta()
            if eta is not None:
                text += f", ETA {_seconds(eta)}"
        else:
            text = f"{self.description}: {self.done}{unit} so far, {_seconds(elapsed)} elapsed"
        return text

    def close(self, stopped: bool = False) -> None:
        """End the step; ``stopped`` when it ends early (an error or an interruption)."""
        if self.finished:
            return
        self.finished = True
        self.display._closed(self, stopped)


class Progress:
    """A display of counted steps: a rich bar on a terminal, else a plain line every few seconds.

    Parameters
    ----------
    enabled : bool
        False shows nothing (``--json`` while standard error is captured; ``progress=False`` in the API).
    stream : file, optional
        Where it writes (default: standard error at the time the display starts).
    interval : float, optional
        Seconds between plain lines (default ``$MEBENCH_PROGRESS_INTERVAL`` or 5).
    terminal : bool, optional
        Force the bar (True) or plain lines (False); default: whether ``stream`` is a terminal.
    """

    def __init__(self, enabled: bool = True, stream=None, interval: float | None = None, terminal: bool | None = None,
                 transient: bool = False):
        self.enabled = enabled
        self.stream = stream
        self.interval = interval if interval is not None else _interval()
        self.terminal = terminal
        self.transient = transient
        self.tasks: list[Task] = []
        self._rich = None
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    # -- the display --------------------------------------------------------------------------
    def __enter__(self) -> "Progress":
        if not self.enabled:
            return self
        stream = self.stream or sys.stderr
        self.stream = stream
        terminal = self.terminal
        if terminal is None:
            try:
                terminal = stream.isatty()
            except (AttributeError, ValueError):
                terminal = False
        if terminal:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                      TimeRemainingColumn(), console=Console(file=stream), transient=self.transient)
            self._rich.start()
        else:
            self._thread = threading.Thread(target=self._tick, name="mebench-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        for task in list(self.tasks):
            task.close(stopped=exc[0] is not None)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._rich is not None:
            self._rich.stop()

    def task(self, description: str, total: int | None = None, unit: str = "") -> Task:
        """A new counted step; :meth:`Task.close` ends it (the display's exit closes any left open)."""
        task = Task(self, description, total, unit)
        with self._lock:
            self.tasks.append(task)
        if self._rich is not None:
            task._rich_id = self._rich.add_task(description, total=total, unit=unit, visible=False)
        return task

    def echo(self, text: str) -> None:
        """Print a message line without tearing the bar (through rich's console while it draws)."""
        if self._rich is not None:
            self._rich.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self._write(text) if self.enabled else print(text, file=sys.stderr, flush=True)

    # -- called by tasks ------------------------------------------------------------------------
    def _updated(self, task: Task) -> None:
        if self._rich is not None and task._rich_id is not None:
            self._rich.update(task._rich_id, completed=task.done, total=task.total, description=task.description,
                              visible=True)

    def _closed(self, task: Task, stopped: bool) -> None:
        if self._rich is not None and task._rich_id is not None:
            self._rich.update(task._rich_id, completed=task.done, total=task.total)
        elif self.enabled and task.reported:  # a step that was reported gets its last line
            elapsed = _seconds(time.monotonic() - task.started)
            unit = f" {task.unit}" if task.unit else ""
            count = f"{task.done}/{task.total}" if task.total else str(task.done)
            self._write(f"{task.description}: {count}{unit} in {elapsed}"
                        + (" (stopped)" if stopped else ""))

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                active = [t for t in self.tasks if t.touched and not t.finished and not (t.total and t.done >= t.total)]
            for task in active:
                task.reported = True
                self._write(task.line())

    def _write(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed or broken stream: progress is never worth an error
            pass


class RunProgress:
    """The callbacks a run reports through: samples extracted, folds predicted, a net's epochs.

    Each step appears when it first reports, so a run whose features all come from the cache shows
    no extraction step, and a run without a net shows no epochs.
    """

    def __init__(self, display: Progress, label: str = ""):
        self.display = display
        self.label = f"{label} · " if label else ""
        self._samples = self._folds = self._epochs = None

    def samples(self, done: int, total: int | None = None) -> None:
        if self._samples is None:
            self._samples = self.display.task(f"{self.label}features", total, "samples")
        self._samples.update(done, total)
        if total and done >= total:
            self._samples.close()

    def folds(self, done: int, total: int | None = None) -> None:
        if self._folds is None:
            if self._samples is not None:
                self._samples.close()
            self._folds = self.display.task(f"{self.label}folds", total, "folds")
        self._folds.update(done, total)

    def epochs(self, fold: int, done: int, total: int | None = None) -> None:
        """Epochs inside a fold; ``fold`` -1 means every fold trained together."""
        what = f"{self.label}epochs, all folds" if fold < 0 else f"{self.label}epochs, fold {fold + 1}"
        if self._epochs is None:
            self._epochs = self.display.task(what, total, "epochs")
        self._epochs.update(done, total, description=what)

    def close(self) -> None:
        for task in (self._samples, self._folds, self._epochs):
            if task is not None:
                task.close()
