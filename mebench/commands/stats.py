"""`mebench stats` and `mebench compare`: intervals and tests for stored runs.

Heavy libraries are imported inside the commands, so ``mebench --help`` stays fast.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..formatting import fmt_number, fmt_p
from ..fsutil import json_safe

FIGURE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def _console(as_json: bool):
    from rich.console import Console

    console = Console(stderr=as_json)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(stderr=as_json, width=160)
    return console


@click.command("stats")
@click.argument("run", type=click.Path())
@click.option("--permutations", type=int, default=None,
              help="Permutations for the test against chance (default 1000; 0 skips it). It refits the pipeline "
                   "per permutation, so for a net it runs only when asked for explicitly.")
@click.option("--bootstrap", "bootstrap", type=int, default=2000, show_default=True,
              help="Subject-cluster bootstrap resamples.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Parallel workers at most for the permutation test (BLAS pinned to 1 thread each); -1 = every CPU "
                   "this process may use, -2 = all but one (joblib's convention); 0 is an error. Never more than "
                   "the CPUs the current load leaves free (MEBENCH_JOBS_EXACT=1 starts exactly N).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the resamples and permutations.")
@click.option("--method", type=click.Choice(["auto", "exact", "batched", "generic"]), default="auto", show_default=True,
              help="Permutation path: exact linear (ridge on stateless features), batched (logreg on stateless "
                   "features) or generic refit.")
@click.option("--scheme", type=click.Choice(["auto", "subject", "within-subject", "hybrid", "dataset"]), default="auto",
              show_default=True, help="How labels are permuted (auto: from how labels vary within subjects).")
@click.option("--early-stop", type=click.IntRange(min=0), default=20, show_default=True,
              help="Sequential Monte Carlo (Besag & Clifford): a metric stops at its H-th permutation scoring at "
                   "least the observed value, p = H / L (0: all permutations).")
@click.option("--ci", type=click.Choice(["bca", "percentile"]), default="bca", show_default=True,
              help="Interval reported as ci_low/ci_high (both are always stored).")
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option("--metric", "metrics", multiple=True, help="Metric(s) to analyse (default: the run's metrics).")
@click.option("--plugins", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Plugin file(s) the run used; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--mlflow", "mlflow_uri", is_flag=False, flag_value="default", default=None, metavar="[URI]",
              help="Also log the CIs and p-values to the run's MLflow entry (default: the local store).")
@click.option("--backend", type=click.Choice(["loky", "ray", "dask"]), envvar="MEBENCH_BACKEND", default="loky",
              show_default=True, help="Engine for the permutations' refits (env MEBENCH_BACKEND).")
def stats(run, permutations, bootstrap, jobs, seed, method, scheme, early_stop, ci, level, metrics, plugins, as_json,
          mlflow_uri, backend):
    """Bootstrap CIs and permutation tests for a stored run (written into the run directory)."""
    from ..stats.runs import STATS_FILE, run_stats
    from ..workers import resolve_jobs

    jobs = resolve_jobs(jobs)
    console = _console(as_json)
    from ..progress import Progress

    def notify(text):
        click.echo(f"stats: {text}", err=True)

    with Progress(enabled=not as_json or console.is_terminal) as display:
        task = display.task("permutations", unit="permutations")  # shown once the test reports
        result = run_stats(run, permutations, bootstrap, jobs, seed, method, scheme, ci, level,
                           list(metrics) or None, tuple(plugins), task.callback(), backend=backend,
                           early_stop=early_stop, notify=notify)
    if mlflow_uri:
        from ..tracking import log_run

        click.echo(f"logged to MLflow as run {log_run(run, mlflow_uri)}", err=True)
    if as_json:
        payload = {
            "run_id": result["run_id"], "run_dir": result["run_dir"], "pipeline": result["pipeline"],
            "n": result["n"], "n_subjects": result["n_subjects"],
            "metrics": {m: {"value": e["value"], "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                            "p_value": e["p_value"], "ci_method": e["ci_method"], "p_value_test": e["p_value_test"],
                            "ci_coverage": e.get("ci_coverage"), "ci_rows": e.get("ci_rows"),
                            "percentile": e["bootstrap"]["percentile"], "bca": e["bootstrap"]["bca"],
                            "n_resamples": e["bootstrap"]["n_resamples"],
                            "n_undefined_resamples": e["bootstrap"]["n_undefined"], "notes": e["notes"]}
                        for m, e in result["metrics"].items()},
            "bootstrap": result["bootstrap"],
            "permutation": {k: v for k, v in result["permutation"].items() if k not in ("metrics", "null")},
            "per_subject_undefined": result["per_subject"]["n_undefined"],
            "prior_shift": _prior_shift(result["run_dir"]),
            "notes": result["notes"],
            "stats_file": f"{result['run_dir']}/{STATS_FILE}" if result.get("stored", True) else None,
        }
        click.echo(json.dumps(json_safe(payload), indent=2))
        return
    _print_stats(console, result)


def _prior_shift(run_dir) -> dict | None:
    """The run's prior-shift diagnostic (metrics.json, written by `mebench run`), if it has one."""
    try:
        return (json.loads((Path(run_dir) / "metrics.json").read_text()).get("prior_shift") or {}).get("pooled")
    except (OSError, ValueError, AttributeError):
        return None


def _print_stats(console, result) -> None:
    from rich.table import Table

    level = result["bootstrap"]["level"]
    perm = result["permutation"]
    table = Table(title=f"{result['pipeline']} ({result['run_id']}): pooled over {result['n']} held-out predictions "
                        f"of {result['n_subjects']} subjects")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"{level:.0%} CI", justify="right")
    table.add_column("p vs chance", justify="right")
    for m, e in result["metrics"].items():
        ci = f"[{fmt_number(e['ci_low'])}, {fmt_number(e['ci_high'])}]" if e["ci_low"] is not None else "n/a"
        table.add_row(m, fmt_number(e["value"]), ci, fmt_p(e["p_value"]))
    console.print(table)
    shift = _prior_shift(result["run_dir"])
    if shift:
        console.print("prior-shift diagnostic: " + ", ".join(f"{k}={fmt_number(v)}" for k, v in shift.items())
                      + " (each held-out sample scored with its training fold's class priors alone: what the priors "
                        "produce under this protocol; from metrics.json)", highlight=False)
    b = result["bootstrap"]
    first = next(iter(result["metrics"].values()))
    console.print(f"CI: {first['ci_method']}; {b['description']}; seed {b['seed']}.", highlight=False)
    if not perm.get("skipped"):
        console.print(
            f"p: permutation test against chance, whole pipeline refit per permutation ({perm['method']} path: "
            f"{perm['method_reason']}); {perm['n_permutations']} permutations, scheme '{perm['scheme']}' "
            f"({perm['scheme_reason']}); one-sided; p = (C + 1) / (N + 1), C = permutations scoring at least the "
            f"observed value (at most, for lower-is-better metrics); seed {perm['seed']}; {perm['seconds']:.2f} s"
            + (f", {perm['resumed_from_checkpoint']} resumed from checkpoint" if perm.get("resumed_from_checkpoint") else "")
            + ".", highlight=False)
        if perm.get("reach"):
            console.print(f"permutations: {perm['reach']}.", highlight=False)
    else:
        console.print("p: permutation test skipped (--permutations 0).")
    for m, e in result["metrics"].items():
        rows = e.get("ci_rows") or {}
        if rows.get("low") is not None:
            console.print(f"CI ({m}) widened by the permutation rows: [{fmt_number(rows['low'])}, "
                          f"{fmt_number(rows['high'])}] (variance ratio {rows['ratio']:.2f}); "
                          f"{rows['coverage']['note']}.", highlight=False)
        cov = e.get("ci_coverage") or {}
        if cov.get("coverage") and not cov.get("in_band"):
            console.print(f"[yellow]note ({m}, bootstrap CI):[/] {cov['note']} (nominal {level:.0%}; "
                          "benchmarks/bench_calibration.py)", highlight=False)
        for note in e["notes"]:
            console.print(f"[yellow]note ({m}):[/] {note}", highlight=False)
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    und = {k: v for k, v in result["per_subject"]["n_undefined"].items() if v}
    if und:
        console.print("per-subject diagnostics: undefined for " + ", ".join(f"{k}: {v} subject(s)" for k, v in und.items())
                      + " (see stats.json)", highlight=False)
    if result.get("stored", True):
        console.print(f"written to {result['run_dir']}/stats.json (the run's own files are left untouched)")


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--metric", "metrics", multiple=True, help="Metric(s) to compare (default: the runs' metrics).")
@click.option("--permutations", type=int, default=999, show_default=True,
              help="Permutation rows of the refit studentised paired test (both pipelines refit per row; rows stored "
                   "by `mebench stats` or an earlier compare are reused).")
@click.option("--early-stop", type=click.IntRange(min=0), default=20, show_default=True,
              help="Sequential Monte Carlo (Besag & Clifford): stop a test at its H-th row with |T*| >= |T| (0: off).")
@click.option("--no-refit", is_flag=True, help="Use stored permutation rows only; refuse when a run has none.")
@click.option("--refit-nets", is_flag=True,
              help="Refit nets too (slow); without it a net without stored rows gets the descriptive subject swap.")
@click.option("--swaps", type=int, default=10000, show_default=True,
              help="Random swap patterns of the secondary subject-swap test.")
@click.option("--bootstrap", "bootstrap", type=int, default=2000, show_default=True,
              help="Subject-cluster bootstrap resamples for the CI of the difference.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the permutation rows (the stream of `mebench stats`), swaps and resamples.")
@click.option("--scheme", type=click.Choice(["auto", "subject", "within-subject", "hybrid", "dataset"]), default="auto",
              show_default=True, help="How labels are permuted (as `mebench stats`).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Parallel workers of the generic refit path.")
@click.option("--plugins", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Plugin file(s) the runs used (needed to refit them); repeatable.")
@click.option("--ci", type=click.Choice(["bca", "percentile"]), default="bca", show_default=True)
@click.option("--level", type=float, default=0.95, show_default=True)
@click.option("--across-datasets", is_flag=True,
              help="Rank pipelines over blocks (dataset x protocol): Friedman, pairwise Wilcoxon with Holm. Controls "
                   "and probes are listed beside the ranking, never ranked; the smallest p-value the number of "
                   "blocks can reach is stated.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level (across datasets).")
@click.option("--cd-diagram", "cd_path", type=click.Path(), default=None,
              help="With --across-datasets: write the critical-difference diagram of one metric to exactly this "
                   "file (png/svg/pdf); name the metric with --metric when the runs hold several.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def compare(runs, metrics, permutations, early_stop, no_refit, refit_nets, swaps, bootstrap, seed, scheme, jobs,
            plugins, ci, level, across_datasets, alpha, cd_path, as_json):
    """Compare pipelines run on the same samples and folds (refit paired tests, Holm-corrected)."""
    from ..errors import UsageError
    from ..stats.runs import compare_across_datasets, compare_runs
    from ..workers import resolve_jobs

    if len(runs) < 2:
        raise UsageError("compare needs at least two run directories.")
    resolved = [Path(r).resolve() for r in runs]
    twice = sorted({str(r) for r in runs if resolved.count(Path(r).resolve()) > 1})
    if twice:
        raise UsageError(f"run {twice[0]} is given more than once; compare needs different runs.")
    if cd_path and not across_datasets:
        raise UsageError("--cd-diagram needs --across-datasets (a CD diagram ranks pipelines over several blocks).")
    if cd_path and Path(cd_path).suffix.lower().lstrip(".") not in FIGURE_FORMATS:
        raise UsageError(f"--cd-diagram {cd_path}: the file name must end in one of "
                         f"{', '.join('.' + f for f in FIGURE_FORMATS)} (the figure format).")
    if cd_path and len(metrics) > 1:
        raise UsageError(f"--cd-diagram {cd_path} draws the ranking of one metric; give one --metric, not "
                         f"{len(metrics)} ({', '.join(metrics)}).")
    if permutations < 1 or bootstrap < 1 or swaps < 1:
        raise UsageError("--permutations, --swaps and --bootstrap must be positive.")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must lie in (0, 1), got {alpha}.")
    console = _console(as_json)
    if across_datasets:
        result = compare_across_datasets(runs, list(metrics) or None, alpha, cd_path)
        if as_json:
            click.echo(json.dumps(json_safe(result), indent=2))
            return
        _print_across(console, result)
        return
    from ..progress import Progress

    def notify(text):
        click.echo(f"compare: {text}", err=True)

    with Progress(enabled=not as_json or console.is_terminal) as display:
        rows = display.task("permutation rows", unit="rows")  # shown only when rows are refit
        result = compare_runs(runs, list(metrics) or None, permutations, bootstrap, seed, ci, level, n_swaps=swaps,
                              refit=not no_refit, refit_nets=refit_nets, early_stop=early_stop, scheme=scheme,
                              jobs=resolve_jobs(jobs), plugins=tuple(plugins), notify=notify,
                              row_progress=rows.callback(),
                              progress=display.task("compare", unit="comparisons").callback())
    if as_json:
        click.echo(json.dumps(json_safe(result), indent=2))
        return
    _print_compare(console, result, level)


def swap_rate(test: dict) -> str:
    """The subject swap's measured false-positive rate, as quoted beside its p-value."""
    return test.get("calibration", {}).get("measured_false_positive_rate") or "not measured"


def _print_compare(console, result, level) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..stats.calibration import interval_coverage

    two = len(result["runs"]) == 2  # names such as hoof+ridge[c.alpha=1] are escaped: they are not markup
    title = (f"{escape(result['runs'][0]['pipeline'])} (A) vs {escape(result['runs'][1]['pipeline'])} (B)" if two
             else f"{len(result['runs'])} pipelines, each against the best")
    table = Table(title=f"{title}: {result['n']} samples, {result['n_subjects']} subjects")
    table.add_column("metric")
    if not two:
        table.add_column("pipeline")
    table.add_column("A" if two else "value", justify="right")
    table.add_column("B" if two else "best", justify="right")
    table.add_column("Δ (A−B)" if two else "Δ (−best)", justify="right")
    table.add_column(f"{level:.0%} CI of Δ", justify="right")
    table.add_column("p (refit)", justify="right")
    table.add_column("p Holm", justify="right")
    table.add_column("swap p*", justify="right")
    table.add_column("McNemar p*", justify="right")
    table.add_column("DeLong p*", justify="right")
    for m, entry in result["metrics"].items():
        for c in entry["comparisons"]:
            ci = f"[{fmt_number(c['ci_low'])}, {fmt_number(c['ci_high'])}]" if c["ci_low"] is not None else "n/a"
            mc = c["tests"].get("mcnemar", {}).get("p_value") if "mcnemar" in c["tests"] else None
            dl = c["tests"].get("delong", {})
            calib = c.get("p_value_calibration", {})
            refit = "studentised_refit" in c["tests"]
            p_cell = fmt_p(c["p_value"]) if refit else "–"
            if refit and not calib.get("in_holm_family", True):
                rate = calib.get("measured_false_positive_rate")
                p_cell += f" [FPR {rate}]" if rate else " [uncalibrated]"
            swap = c["tests"]["paired_randomisation"]
            cells = [m] + ([] if two else [escape(c["a"].split(" (")[0])]) + [
                fmt_number(c["value_a"]), fmt_number(c["value_b"]), fmt_number(c["delta"], 4), ci, p_cell,
                fmt_p(c.get("p_holm")), f"{fmt_p(swap['p_value'])} [FPR {swap_rate(swap)}]",
                fmt_p(mc) if "mcnemar" in c["tests"] else "–", fmt_p(dl.get("p_value")) if dl else "–"]
            table.add_row(*cells)
    console.print(table)
    if not two:
        for m, entry in result["metrics"].items():
            console.print(f"{m}: best = {escape(entry['best'])}", highlight=False)
    refit = result.get("refit", {})
    first = next(iter(result["metrics"].values()))["comparisons"][0]
    stud = next((c["tests"]["studentised_refit"] for e in result["metrics"].values() for c in e["comparisons"]
                 if "studentised_refit" in c["tests"]), None)
    if stud:
        console.print(f"p (refit): {stud['test']}; p = (1 + C) / (P + 1) over {result['n_permutations']} rows, or the "
                      f"sequential rule (h = {refit.get('early_stop')}); rows reused: "
                      + ", ".join(f"{k} {v}" for k, v in refit.get("rows_reused", {}).items())
                      + "; refit now: "
                      + (", ".join(f"{k} {v}" for k, v in refit.get("rows_refit", {}).items()) or "none")
                      + ".", highlight=False)
    for run_id, why in refit.get("no_rows", {}).items():
        console.print(f"[yellow]note:[/] run {run_id} has no permutation rows ({why}): its comparisons give only the "
                      "descriptive subject swap (no Holm value, no mark).", highlight=False)
    console.print(f"p Holm: {result['correction']}.", highlight=False)
    swap = first["tests"]["paired_randomisation"]
    console.print(f"swap p*: {swap['test']}; {swap['p_value_definition'].split('; C =')[0]}; seed {result['seed']}. "
                  "Secondary and descriptive: [FPR r] is its measured false-positive rate at alpha = 0.05 between "
                  "leave-one-subject-out pipelines on null data.", highlight=False)
    console.print(f"CI of Δ: {first['ci_method']}" + ("." if first.get("ci_rows") else
                                                     " (both pipelines scored on each resample)."), highlight=False)
    for m, entry in result["metrics"].items():
        rows = entry["comparisons"][0].get("ci_rows")
        cov = rows["coverage"] if rows else interval_coverage(m, "bca", "difference")
        if cov["coverage"]:
            console.print(f"CI ({m}): {cov['note']} ({'permutation-widened' if rows else 'BCa bootstrap'} interval; "
                          "benchmarks/bench_calibration.py).", highlight=False)
    console.print("* McNemar: exact test on correct/incorrect discordant pairs (accuracy); DeLong: Sun & Xu (2014) "
                  "fast algorithm (binary AUC). Both assume independent samples, which clips of one subject are not; "
                  "they are secondary.", highlight=False)
    for m, entry in result["metrics"].items():
        for c in entry["comparisons"]:
            for t in c["tests"].values():
                if t.get("note"):
                    console.print(f"[yellow]note ({m}):[/] {t['note']}", highlight=False)
            if c.get("note"):
                console.print(f"[yellow]note ({m}):[/] {c['note']}", highlight=False)
            for n in c["ci"].get("notes", []):
                console.print(f"[yellow]note ({m}, CI):[/] {n}", highlight=False)


def _print_across(console, result) -> None:
    from rich.markup import escape
    from rich.table import Table

    for m, res in result["metrics"].items():
        table = Table(title=f"{m}: mean rank over {res['n_blocks']} block(s) (1 = best; methods only)")
        table.add_column("pipeline")
        table.add_column("mean rank", justify="right")
        for p, r in sorted(res["mean_ranks"].items(), key=lambda kv: kv[1]):
            table.add_row(escape(p), f"{r:.2f}")  # names such as hoof+ridge[c.alpha=1] are not markup
        console.print(table)
        om = res["omnibus"]
        if om.get("skipped"):
            console.print(f"Friedman: skipped. {om['reason']}", highlight=False)
        else:
            console.print(f"Friedman: chi2 = {fmt_number(om['statistic'])}, df = {om['df']}, p = {fmt_p(om['p_value'])} "
                          f"({om['test']}; {om['assumptions']})" + (f". {om['note']}" if om.get("note") else ""),
                          highlight=False)
        pt = Table(title=f"{m}: pairwise Wilcoxon signed-rank over blocks")
        for col in ("A", "B", "p", "p Holm", "significant"):
            pt.add_column(col)
        for row in res["pairwise"]:
            pt.add_row(escape(row["a"]), escape(row["b"]), fmt_p(row["p_value"]), fmt_p(row["p_holm"]),
                       "yes" if row["significant"] else "no")
        console.print(pt)
        console.print(f"{res['pairwise_correction']}; Wilcoxon: exact signed-rank distribution for n ≤ 50 blocks.",
                      highlight=False)
        reach = res["smallest_attainable"]
        label = "smallest attainable p:" if reach["can_declare_a_pair"] else "[yellow]smallest attainable p:[/]"
        console.print(f"{label} " + escape(f"{reach['note']} ({reach['wilcoxon_rule']}; Holm: {reach['holm_rule']}; "
                                           f"Friedman: {reach['friedman_rule']})"), highlight=False)
        if res["not_ranked"]:
            blocks = list(res["not_ranked"][0]["values"])
            nt = Table(title=f"{m}: not ranked: control/probe (values per block, for reference)")
            nt.add_column("pipeline")
            nt.add_column("role")
            for b in blocks:
                nt.add_column(b, justify="right")
            for row in res["not_ranked"]:
                nt.add_row(escape(row["pipeline"]), row["role"],
                           *("no run" if b in row["no_run_in"] else fmt_number(row["values"][b]) for b in blocks))
            console.print(nt)
            console.print(f"not ranked: {result['not_ranked_note']}.", highlight=False)
        if res.get("cd_diagram"):
            console.print(f"critical-difference diagram of {m} (methods only) written to {res['cd_diagram']}",
                          highlight=False)
