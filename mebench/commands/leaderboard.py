"""`mebench leaderboard`, `mebench report` and `mebench bench`.

Heavy libraries are imported inside the commands, so ``mebench --help`` stays fast.
"""
from __future__ import annotations

import click

DEFAULT_BOARD = "leaderboard"


class _DefaultGroup(click.Group):
    """A group whose first argument, when it is not a sub-command, goes to the ``table`` command."""

    default_command = "table"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def _emit(text: str, out) -> None:
    """Print ``text``, or write it atomically to ``out``."""
    from ..fsutil import atomic_write_bytes

    if out:
        atomic_write_bytes(out, text.encode("utf-8"))
        click.echo(f"written to {out}", err=True)
    else:
        click.echo(text, nl=False)


@click.group("leaderboard", cls=_DefaultGroup, invoke_without_command=False)
def leaderboard():
    """Leaderboard tables recomputed from stored predictions.

    \b
    mebench leaderboard RUNS... [--metric uf1] [--format markdown|latex|csv|html|json] [--out FILE]
    mebench leaderboard verify DIR        recompute a stored leaderboard, cell by cell
    mebench leaderboard build             regenerate leaderboard/README.md and tables/*.tex
    mebench leaderboard add RUN_DIR       validate a run and store it in the leaderboard
    """


def _table_options(f):
    options = [
        click.option("--metric", default="uf1", show_default=True, help="Metric of the table (any registered metric)."),
        click.option("--bootstrap", "n_resamples", type=int, default=2000, show_default=True,
                     help="Subject-cluster bootstrap resamples per cell."),
        click.option("--rows", "n_rows", type=int, default=999, show_default=True,
                     help="Permutation rows of the refit studentised test against the best, read from the runs' stores "
                          "(`mebench stats RUN` writes them; a board never refits)."),
        click.option("--early-stop", type=click.IntRange(min=0), default=20, show_default=True,
                     help="Sequential Monte Carlo stop of that test (0: off)."),
        click.option("--permutations", "n_permutations", type=int, default=10000, show_default=True,
                     help="Swap patterns of the descriptive subject swap, for runs without stored rows."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
        click.option("--ci", type=click.Choice(["bca", "percentile"]), default="bca", show_default=True),
        click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level."),
        click.option("--alpha", type=float, default=0.05, show_default=True,
                     help="Significance level of the 'not significantly worse than the best' mark."),
        click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Columns computed in parallel threads (the numbers do not depend on it)."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


@leaderboard.command("table")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@_table_options
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv", "html", "json"]), default="markdown",
              show_default=True)
@click.option("--out", type=click.Path(), default=None, help="Write to this file (atomically) instead of stdout.")
@click.option("--title", default=None, help="Table title (default: 'Pooled <metric>').")
@click.option("--figures", "figures_dir", type=click.Path(), default=None,
              help="Also write figures (ROC, confusion matrices, per-subject strips, CD diagram) into this folder.")
@click.option("--label", "labels", multiple=True, metavar="PIPELINE=SHORT",
              help="Short label of a pipeline in the figures (repeatable); pipelines without one get keys P1, P2, … "
                   "with a key table mapping each key to the full pipeline.")
@click.option("--figure-width", type=click.Choice(["one", "two"]), default=None,
              help="Width of every figure: one journal column (3.5 in) or two (7 in). Default: ROC, confusion and "
                   "null figures one column, per-subject strips and the CD diagram two.")
def table(runs, metric, n_resamples, n_rows, early_stop, n_permutations, seed, ci, level, alpha, jobs, fmt, out, title,
          figures_dir, labels, figure_width):
    """Tabulate RUNS (run directories, or folders searched recursively); the default sub-command."""
    from pathlib import Path

    from ..errors import UsageError
    from ..leaderboard.render import render
    from ..leaderboard.runs import load_runs
    from ..leaderboard.tables import BoardOptions, build_board
    from ..plotting import parse_labels
    from ..progress import Progress

    user_labels = parse_labels(labels)
    if (user_labels or figure_width) and not figures_dir:
        raise UsageError(f"{'--label' if user_labels else '--figure-width'} is about figures: add --figures DIR.")
    opts = BoardOptions(metric=metric, n_resamples=n_resamples, n_permutations=n_permutations, n_rows=n_rows,
                        early_stop=early_stop, seed=seed, ci=ci, level=level, alpha=alpha)
    base = Path(out).parent if (out and fmt == "json") else None
    with Progress() as display:
        loaded = load_runs(runs)
        step = display.task(f"leaderboard {metric}", unit="columns")
        board = build_board(loaded, opts, base_dir=base, title=title, jobs=jobs, progress=step.callback())
        step.close()
        if figures_dir:
            from ..leaderboard.figures import board_labels

            board_labels(board, user_labels)  # an unknown or repeated label is refused before anything is written
        if figures_dir:
            from ..leaderboard.figures import board_figures

            drawing = display.task("figures", unit="files")
            drawing.update(0)
            written = board_figures(board, loaded, Path(figures_dir), stem=Path(out).stem if out else "leaderboard",
                                    labels=user_labels, width=figure_width)
            drawing.update(len(written), len(written))
    _emit(render(board, fmt), out)
    if figures_dir:
        click.echo(f"{len(written)} figure file(s) written to {figures_dir}", err=True)


@leaderboard.command("verify")
@click.argument("path", type=click.Path())
def verify_cmd(path):
    """Recompute every cell of a stored leaderboard (DIR/leaderboard.json or a JSON record) and compare."""
    from ..leaderboard.verify import verify
    from ..progress import Progress

    with Progress() as display:
        summary = verify(path, progress=display.task("verify", unit="columns").callback())
    click.echo(f"verified {summary['n_cells']} cell(s) of {summary['n_tables']} table(s) from {summary['n_runs']} run(s) "
               f"and {summary['n_outputs']} output file(s): every cell matches its predictions and every file its "
               "recorded sha256.")


@leaderboard.command("build")
@click.option("--board", "board_dir", type=click.Path(), default=DEFAULT_BOARD, show_default=True,
              help="The leaderboard folder (runs/<suite>/<run>, suites/*.yaml).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Columns computed in parallel threads (the output does not depend on it).")
def build_cmd(board_dir, jobs):
    """Regenerate README.md, tables/*.tex, figures/ and leaderboard.json from the stored runs."""
    from ..leaderboard.suites import build
    from ..progress import Progress

    with Progress() as display:
        summary = build(board_dir, jobs=jobs, progress=display.task("tables", unit="columns").callback(),
                        figure_progress=display.task("figures", unit="suites").callback())
    click.echo(f"built {summary['n_tables']} table(s) from {summary['n_runs']} run(s) in {board_dir}: "
               + ", ".join(summary["outputs"][:6]) + (" …" if len(summary["outputs"]) > 6 else ""))


@leaderboard.command("add")
@click.argument("run_dir", type=click.Path())
@click.option("--board", "board_dir", type=click.Path(), default=DEFAULT_BOARD, show_default=True)
@click.option("--suite", default="submitted", show_default=True, help="Store under runs/<suite>/.")
@click.option("--pin", is_flag=True,
              help="Pin the run's fold hash for its protocol and dataset fingerprint when no pin exists yet.")
def add_cmd(run_dir, board_dir, suite, pin):
    """Validate RUN_DIR (schema, file hashes, protocol pin, no leakage) and store a copy of it."""
    from ..leaderboard.suites import add_run

    res = add_run(run_dir, board_dir, suite=suite, pin=pin)
    click.echo(f"added run {res['run_id']} to {res['path']}" + (" (new protocol pin recorded)" if res["pinned"] else ""))
    for w in res["warnings"]:
        click.echo(f"warning: {w}", err=True)


@click.command("report")
@click.argument("run", type=click.Path())
@click.option("--out", type=click.Path(), default=None,
              help="The HTML file to write (default: report-<run id>.html in the current folder).")
@click.option("--force", is_flag=True, help="Replace --out when it exists (by default an existing file is kept).")
@click.option("--bootstrap", "n_resamples", type=int, default=2000, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def report(run, out, force, n_resamples, seed):
    """A self-contained HTML report of one run (opens with no server and no network).

    The default file is named after the run, so reports of different runs never replace each other;
    an existing file is replaced only with --force.
    """
    from pathlib import Path

    from ..errors import UsageError
    from ..fsutil import atomic_write_bytes
    from ..leaderboard.report import render_report
    from ..progress import Progress
    from ..store import open_run

    if out is None:
        out = f"report-{open_run(run).run_id}.html"
    if Path(out).is_dir():
        raise UsageError(f"--out {out} is a folder; name the HTML file to write.")
    if Path(out).exists() and not force:
        raise UsageError(f"{out} exists (an earlier report?); pass --force to replace it, or --out another file.")
    with Progress() as display:
        text = render_report(run, n_resamples=n_resamples, seed=seed,
                             progress=display.task("report", unit="steps").callback())
    atomic_write_bytes(out, text.encode("utf-8"))
    click.echo(f"report written to {out}")


@click.command("bench")
@click.option("--suite", required=True, help="Suite name (leaderboard/suites/NAME.yaml) or a suite YAML file.")
@click.option("--root", type=click.Path(), default=None, help="Dataset root for suites on datasets on disk.")
@click.option("--board", "board_dir", type=click.Path(), default=DEFAULT_BOARD, show_default=True)
@click.option("--jobs", type=int, default=1, show_default=True)
@click.option("--dataset-opt", multiple=True, help="KEY=VALUE passed to every dataset of the suite; repeatable.")
@click.option("--no-cache", is_flag=True, help="Recompute features instead of using the on-disk cache.")
def bench(suite, root, board_dir, jobs, dataset_opt, no_cache):
    """Run every pipeline of a suite on every protocol of it and store the runs under runs/<suite>/."""
    from ..config import parse_options
    from ..errors import MebenchError
    from ..leaderboard.suites import run_suite
    from ..progress import Progress

    with Progress() as display:
        summary = run_suite(suite, board_dir, root=root, jobs=jobs,
                            dataset_opts=parse_options(dataset_opt, "--dataset-opt"), use_cache=not no_cache,
                            echo=display.echo, display=display)
    click.echo(f"suite {summary['suite']}: {len(summary['added'])} run(s) added, {len(summary['present'])} already "
               f"stored, {len(summary['failed'])} failed; runs in {summary['runs_dir']}")
    if summary["failed"]:
        lines = "\n".join(f"  {f['protocol']} × {f['pipeline']}: {f['error']}" for f in summary["failed"])
        raise MebenchError(f"{len(summary['failed'])} run(s) of suite {summary['suite']} failed:\n{lines}")
