"""``mebench report RUN``: one self-contained HTML page per run.

The page holds the run's config, its metrics with subject-cluster bootstrap CIs beside the
controls, the statistics of ``stats.json`` (when ``mebench stats`` was run), figures embedded as
data URIs, per-subject and per-fold diagnostics, warnings, skips and provenance. It loads nothing:
a Content-Security-Policy forbids every fetch except inline styles and ``data:`` images, so it
opens from disk with no server and no network.
"""
from __future__ import annotations

import base64
import html
import json

import numpy as np

from ..formatting import fmt_number, fmt_p
from ..store import open_run
from .runs import permutation_null, read_stats, sha256_bytes, short, stats_entries

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = ("body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:72em;color:#222;"
         "overflow-wrap:break-word;"
         "padding:0 1em}h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}"
         "table{border-collapse:collapse;margin:.6em 0}th,td{padding:.25em .7em;border-bottom:1px solid #e2e2e2;"
         "text-align:right;vertical-align:top}th:first-child,td:first-child{text-align:left}"
         "thead th{border-bottom:2px solid #333}.warn{background:#fff4e5;border-left:4px solid #e08a00;"
         "padding:.5em 1em;margin:.4em 0}.flag{background:#fdecea;border-left:4px solid #c62828;padding:.5em 1em;"
         "margin:.4em 0;font-weight:bold}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}"
         "figure img{max-width:min(34em,100%);border:1px solid #eee}"
         "figcaption{font-size:.85em;color:#555;max-width:34em}"
         "figure{max-width:100%}#provenance td,#config td{overflow-wrap:anywhere}table{max-width:100%}"
         "pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}.muted{color:#777}"
         "code{background:#f3f3f3;padding:0 .2em}")


def _img(png: bytes, alt: str, caption: str, ident: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="{html.escape(ident)}"><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(head: list, rows: list, ident: str | None = None) -> str:
    e = html.escape
    id_attr = f' id="{e(ident)}"' if ident else ""
    out = [f"<table{id_attr}>",
           "<thead><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else e(str(c))}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


class _Raw(str):
    """Already-escaped HTML inside a table cell."""


def render_report(run_dir, n_resamples: int = 2000, seed: int = 0, level: float = 0.95, ci: str = "bca",
                  progress=None) -> str:
    """The HTML report of one run (a string); ``progress(done, total)`` counts its steps (CIs, then each figure)."""
    from ..errors import UsageError
    from ..registry import METRICS
    from ..run import DEFAULT_METRICS
    from ..stats.bootstrap import cluster_bootstrap
    from ..stats.runs import per_subject_from_predictions
    from . import figures as F

    if n_resamples < 1:
        raise UsageError("--bootstrap must be positive.")
    run = a = open_run(run_dir)
    run_dir = run.dir
    man, met = run.manifest, run.metrics
    names = [m for m in run.metric_names() if m in METRICS] or list(DEFAULT_METRICS)  # a run that names none
    stats, stats_notes = read_stats(run_dir, run.files)
    n_nulls = len(names) if stats and not (stats.get("permutation") or {}).get("skipped") else 0
    done = [0]

    def step():  # one more of: the CIs, the ROC, confusion and strip figures, each permutation null
        done[0] += 1
        if progress:
            progress(done[0], 4 + n_nulls)

    if progress:
        progress(0, 4 + n_nulls)
    ivs = cluster_bootstrap(a.y, a.pred, a.scores, a.subjects, a.classes, names, n_resamples, seed, level, ci)
    step()
    flags, reasons = run.flags
    role = run.role
    ds, protocol = man.dataset, man.protocol
    e = html.escape
    title = f"{run.label} on {ds.get('dataset')}/{ds.get('task')}, {protocol.get('name')}"
    parts = [f"<h1>{e(title)}</h1>",
             f'<p class="muted">run <code>{e(run.run_id)}</code> · {len(a.y)} held-out predictions of '
             f"{len(np.unique(a.subjects))} subjects · {protocol.get('n_folds') or len(set(run.predictions['fold']))} "
             f"folds · role: {e(role)}</p>"]

    # warnings first: a reader must see leakage before numbers
    warn = [f'<div class="flag">{e(f)}: {e(reasons[f])}</div>' for f in flags]
    warn += [f'<div class="warn">{e(str(w))}</div>' for w in man.warnings]
    warn += [f'<div class="warn">{e(n)}</div>' for n in stats_notes]
    parts += ['<section id="warnings"><h2>Warnings</h2>', "\n".join(warn) or "<p>None.</p>", "</section>"]

    # metrics beside the controls
    majority = ((met.get("baselines") or {}).get("majority") or {})
    prior = ((met.get("prior_shift") or {}).get("pooled") or {})
    stat_metrics = stats_entries(stats)
    rows = []
    for m in names:
        iv = ivs[m]
        ci_text = f"[{fmt_number(iv.ci_low)}, {fmt_number(iv.ci_high)}]" if iv.ci_low is not None else "n/a"
        p = stat_metrics.get(m, {}).get("p_value")
        rows.append([m, fmt_number(iv.value), ci_text, fmt_p(p) if stats else "not computed",
                     fmt_number(majority.get(m)) if m in majority else "n/a", fmt_number(prior.get(m)) if m in prior else "not recorded"])
    first = ivs[names[0]] if names else None
    parts += ['<section id="metrics-section"><h2>Metrics</h2>',
              _table(["metric", "pooled value", f"{level:.0%} CI", "p vs chance", "majority control (in-run)",
                      "prior-shift diagnostic"], rows, "metrics"),
              f"<p>Pooled over all held-out predictions (never a mean of per-fold values). CI: "
              f"{e(first.method_label() if first else '')}, seed {seed}; it covers the sampling of test subjects, "
              "not training-set variability. The majority control predicts each training fold's most frequent class; "
              "the prior-shift diagnostic scores every held-out sample with its training fold's class priors alone "
              "(under LOSO this can fall below chance).</p>"]
    notes = [n for m in names for n in ivs[m].notes]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    counts = met.get("class_counts") or {c: int(np.sum(a.y == i)) for i, c in enumerate(a.classes)}
    parts.append("<p>Class distribution: " + ", ".join(f"{e(str(c))}: {n}" for c, n in counts.items()) + "</p>")
    parts.append("</section>")

    # statistics
    parts.append('<section id="statistics"><h2>Statistics</h2>')
    if stats:
        perm = stats.get("permutation") or {}
        boot = stats.get("bootstrap") or {}
        srows = []
        for m, entry in sorted(stat_metrics.items()):
            srows.append([m, fmt_number(entry.get("value")), f"[{fmt_number(entry.get('ci_low'))}, {fmt_number(entry.get('ci_high'))}]",
                          fmt_p(entry.get("p_value")), str(entry.get("ci_method") or "")])
        parts.append(_table(["metric", "value", "CI", "p vs chance", "CI method"], srows, "stats"))
        if perm.get("skipped"):
            parts.append("<p>Permutation test skipped (--permutations 0).</p>")
        else:
            parts.append(f"<p>Permutation test against chance: {e(str(perm.get('n_permutations')))} permutations, "
                         f"scheme {e(str(perm.get('scheme')))} ({e(str(perm.get('scheme_reason', '')))}), "
                         f"{e(str(perm.get('method')))} path; whole pipeline refit per permutation; "
                         "p = (C + 1) / (N + 1).</p>")
        if boot.get("description"):
            parts.append(f"<p>Bootstrap: {e(str(boot['description']))}; {e(str(boot.get('assumptions', '')))}.</p>")
        for n in stats.get("notes") or []:
            parts.append(f'<div class="warn">{e(str(n))}</div>')
    else:
        parts.append(f"<p>No statistics file: run <code>mebench stats {e(str(run_dir))}</code> for the permutation "
                     "test against chance. Bootstrap CIs above are computed here from the predictions.</p>")
    parts.append("</section>")

    # figures
    figs = []
    with F.style():
        fig = F.roc_figure([("this run", "method", a)], title)
        figs.append(_img(F.figure_bytes(fig, "png"), "ROC curve", "Pooled ROC curve of the held-out scores.", "fig-roc"))
        step()
        fig = F.confusion_figure(a, title)
        figs.append(_img(F.figure_bytes(fig, "png"), "confusion matrix", "Pooled confusion matrix.", "fig-confusion"))
        step()
        per_subject = per_subject_from_predictions(run.predictions, names)
        entries = [(m, [(s["subject_id"], float(s[m]), int(s["n"])) for s in per_subject["subjects"]]) for m in names]
        fig = F.strip_figure(entries, "metric", title, {m: ivs[m].value for m in names}, width="one",
                             row_label="metric")
        figs.append(_img(F.figure_bytes(fig, "png"), "per-subject strip plot",
                         "Each subject's metrics on its own held-out clips (which subjects drive the result).",
                         "fig-subjects"))
        step()
        if stats and not (stats.get("permutation") or {}).get("skipped"):
            for m in names:
                null = permutation_null(run_dir, stats, m)
                pm = ((stats.get("permutation") or {}).get("metrics") or {}).get(m) or {}
                step()
                if null is None:
                    continue
                fig = F.null_figure(null, pm.get("observed"), m, title, pm.get("p_value"),
                                    (stats.get("permutation") or {}).get("n_permutations"))
                figs.append(_img(F.figure_bytes(fig, "png"), f"permutation null of {m}",
                                 f"Permutation null distribution of {m} with the observed value.", f"fig-null-{m}"))
    parts += ['<section id="figures"><h2>Figures</h2>', "\n".join(figs), "</section>"]

    # per-subject and per-fold diagnostics
    srows = [[s["subject_id"], s["n"], s["n_classes_present"], *[fmt_number(s.get(m)) for m in names]]
             for s in per_subject["subjects"]]
    parts += ['<section id="diagnostics"><h2>Per-subject diagnostics</h2>',
              _table(["subject", "n", "classes present", *names], srows, "per-subject"),
              f"<p class=\"muted\">{e(per_subject['note'])}</p>"]
    per_fold = met.get("per_fold") or []
    if per_fold:
        frows = [[f.get("fold"), f.get("n"), f.get("n_classes_present"), *[fmt_number(f.get(m)) for m in names]]
                 for f in per_fold]
        parts += ["<h2>Per-fold diagnostics</h2>", _table(["fold", "n", "classes present", *names], frows, "per-fold"),
                  "<p class=\"muted\">Diagnostics only; never averaged into a headline.</p>"]
    parts.append("</section>")

    # skips
    skipped = man.skipped
    parts.append(f'<section id="skips"><h2>Skipped samples ({len(skipped)})</h2>')
    if skipped:
        shown = skipped[:200]
        parts.append(_table(["sample", "stage", "reason"], [[s.get("sample_id"), s.get("stage", ""), s.get("reason")]
                                                            for s in shown], "skipped"))
        if len(skipped) > len(shown):
            parts.append(f"<p>… and {len(skipped) - len(shown)} more (see manifest.json).</p>")
    else:
        parts.append("<p>None.</p>")
    parts.append("</section>")

    # config and provenance
    cfg = man.config
    parts += ['<section id="config"><h2>Configuration</h2>',
              _table(["key", "value"], [[k, json.dumps(v, sort_keys=True)] for k, v in sorted(cfg.items())], "config"),
              "<h3>Resolved parameters</h3>",
              f"<pre>{e(json.dumps(man.raw.get('resolved_params') or {}, indent=2, sort_keys=True))}</pre></section>"]
    prov = [["run id", run.run_id], ["mebench", man.raw.get("mebench_version") or (man.raw.get("versions") or {}).get("mebench")],
            ["git hash", man.raw.get("git_hash")], ["started", man.raw.get("started")], ["duration (s)", man.raw.get("duration_s")],
            ["seeds", json.dumps(man.seeds, sort_keys=True)],
            ["samples sha256", man.samples_sha256], ["fold hash", man.fold_hash],
            ["classes", ", ".join(a.classes)]]
    prov += [[f"annotation file {k}", v] for k, v in sorted(man.annotation_files.items())]
    prov += [[f"sha256 {k}", v] for k, v in sorted(run.files.items())]
    feats = man.features
    if feats.get("trained_on"):
        prov.append(["extractor trained on", ", ".join(map(str, feats["trained_on"]))])
    prov += [[f"version {k}", v] for k, v in sorted((man.raw.get("versions") or {}).items()) if v]
    plat = man.raw.get("platform") or {}
    if plat:
        prov.append(["platform", json.dumps(plat, sort_keys=True)])
    parts += ['<section id="provenance"><h2>Provenance</h2>', _table(["item", "value"], prov, "provenance"),
              "</section>"]

    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
            f"<p class=\"muted\">Generated by <code>mebench report</code> from the files above "
            f"(sha256 {e(short(sha256_bytes(json.dumps(run.files, sort_keys=True).encode())))}); "
            "every number is recomputed from predictions.parquet.</p>\n</body>\n</html>\n")
