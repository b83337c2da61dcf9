"""The footnotes of a leaderboard: how its cells, marks and ranks were computed, and what each column holds.

They are part of the board (``board["footnotes"]``), so ``leaderboard verify`` checks them with the numbers.
"""
from __future__ import annotations

from pathlib import Path

from ..formatting import fmt_number, fmt_p
from .runs import short

MARK = "†"
KEY_VERSIONS = ("mebench", "python", "numpy", "scipy", "scikit-learn", "pandas", "torch", "torchvision",
                "opencv-contrib-python", "mediapipe")
PRETTY_PROTOCOL = {"loso": "LOSO", "lodo": "LODO"}


def footnotes(board, runs, groups, col_keys, labels, notes_undefined, notes_flags, notes_fallback,
              notes_powerless=(), notes_no_rows=()) -> list[str]:
    o = board["options"]
    metric = board["metric"]
    ci_name = {"bca": "BCa", "percentile": "percentile"}[o["ci"]]
    notes = [
        f"Cells: {metric} pooled over all held-out predictions of the column (the MEGC convention; never a mean of "
        f"per-fold values) with its {o['level']:.0%} CI in brackets: subject-cluster bootstrap, {ci_name}, "
        f"{o['n_resamples']} resamples of the column's subjects, seed {o['seed']}. "
        + ("Higher is better." if board["higher_is_better"] else "Lower is better."),
        f"Bold: the best ranked pipeline of the column. {MARK}: not significantly worse than the best "
        f"(refit studentised paired permutation test, two-sided: both pipelines refit on the same permutation "
        f"rows, up to {o.get('n_rows', 999)}, stored in the runs by `mebench stats --seed {o['seed']}` or the suite, "
        f"T = Δ/SE from per-subject influence sums, sequential stop at h = {o.get('early_stop', 20)}; Holm-corrected "
        f"over the column's comparisons with the best; α = {o['alpha']}), the numbers of "
        f"`mebench compare --metric {metric} --no-refit` on the column's ranked runs.",
    ]
    from ..stats.calibration import interval_coverage, test_calibration

    calib = test_calibration(metric)
    if calib["in_holm_family"]:
        notes.append(f"Measured calibration of that test ({calib['setting']}): false-positive rate "
                     f"{calib['measured_false_positive_rate']} at α = 0.05 for {metric}.")
    else:
        notes.append(f"No {MARK} marks for {metric}: {calib['note']}. The uncorrected p-values against the best are "
                     "kept in the JSON output (`p_value`).")
    cov = interval_coverage(metric, o["ci"])
    if cov["coverage"]:
        notes.append(f"Interval coverage: {cov['note']} (benchmarks/bench_calibration.py).")
    if notes_no_rows:
        notes.append(f"No stored permutation rows (so no {MARK} test; the descriptive subject swap's p-value is kept "
                     "in the JSON output) for: " + "; ".join(notes_no_rows) + ". Store them with `mebench stats RUN`.")
    roles = {c["role"] for c in board["cells"]}
    if roles & {"control", "probe"}:
        notes.append("Controls (`majority`, `stratified-random`) and bias probes (`sex-only`, extractors declared "
                     "probes) are shown for reference and never ranked.")
    for col in board["columns"]:
        proto = PRETTY_PROTOCOL.get(col["protocol"], col["protocol"])
        text = (f"{col['label']}: pooled over {col['n_folds']} {proto} folds: {col['n']} held-out predictions of "
                f"{col['n_subjects']} subjects; label set {', '.join(col['classes'])}; samples sha256 "
                f"{short(col['samples_sha256'])}, fold hash {short(col['fold_hash'])}")
        if col["annotation_files"]:
            text += "; annotation files " + ", ".join(f"{Path(k).name} {short(v)}" for k, v in
                                                      col["annotation_files"].items())
        if col["prior_shift_recorded"]:
            text += (f"; prior-shift diagnostic ({metric} from each training fold's class priors alone): "
                     f"{fmt_number(col['prior_shift'])}")
        else:
            text += "; prior-shift diagnostic: not recorded by these runs (made before mebench recorded it)"
        if col["majority_in_run"] is not None:
            text += f"; in-run majority control: {fmt_number(col['majority_in_run'])}"
        notes.append(text + ".")
    for col in board["columns"]:
        for control, cmd in col["missing_controls"].items():
            notes.append(f"{col['label']} has no `{control}` control run; produce it with `{cmd}`.")
    notes.extend(notes_flags)
    notes.extend(notes_undefined)
    if notes_fallback:
        notes.append("BCa fell back to the percentile interval for: " + "; ".join(notes_fallback) + ".")
    if notes_powerless:
        notes.append(f"Too few subjects for the test to reject at α = {board['options']['alpha']}, so every ranked "
                     f"pipeline is marked {MARK} whatever the data, in: " + "; ".join(notes_powerless) + ".")
    rk = board["ranking"]
    if rk.get("shown"):
        om = rk["omnibus"]
        text = (f"Mean rank: mean of the within-column ranks (1 = best, ties share their mean rank) over the "
                f"{len(rk['blocks'])} columns, among the {len(rk['pipelines'])} pipelines ranked in every column "
                "(Friedman-style, as `mebench compare --across-datasets`). ")
        if om.get("skipped"):
            text += "Friedman test skipped: " + om["reason"].split(" Pairwise results")[0]
        else:
            text += (f"Friedman test: chi2 = {fmt_number(om['statistic'])}, df = {om['df']}, p = {fmt_p(om['p_value'])} "
                     f"({om['test']}).")
        notes.append(text.strip())
    if rk.get("incomplete"):
        notes.append("No mean rank for pipelines not ranked in every column: " + "; ".join(
            f"{p} (not ranked in {', '.join(cols)})" for p, cols in sorted(rk["incomplete"].items())) + ".")
    skipped = [(r, r.manifest.n_skipped) for r in runs if r.manifest.n_skipped]
    if skipped:
        notes.append("Skipped samples (recorded in the manifests): " + ", ".join(
            f"{r.label} on {_label_of(r, groups, labels)}: {n}" for r, n in skipped) + ".")
    seeds: dict = {}
    for r in runs:
        s = r.manifest.run_seed
        seeds[s] = seeds.get(s, 0) + 1
    notes.append("Seeds: " + (f"run seed {next(iter(seeds))} for all {len(runs)} runs" if len(seeds) == 1 else
                              ", ".join(f"run seed {s} ({n} runs)" for s, n in sorted(seeds.items(), key=str)))
                 + " (per-component seeds in each manifest).")
    versions: dict = {}
    for r in runs:
        v = r.manifest.versions
        for name in KEY_VERSIONS:
            if v.get(name):
                versions.setdefault(name, set()).add(str(v[name]))
    if versions:
        notes.append("Versions: " + ", ".join(f"{k} {' / '.join(sorted(versions[k]))}" for k in KEY_VERSIONS
                                              if k in versions) + ".")
    return notes


def _label_of(run, groups, labels) -> str:
    for key, rs in groups.items():
        if run in rs:
            return labels[key]
    return "?"
