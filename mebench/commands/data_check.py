"""`mebench data check` and `mebench data info`: validate a dataset copy, describe a loader.

``check`` loads the dataset with the same options as ``mebench run`` but collects every problem
(missing frame folders, onsets outside the frames, unreadable cells, missing apexes) instead of
stopping at the first, then decodes the onset, apex and offset frame of every sample (``--frames
all``: every frame) the way a run reads them, reporting empty, undecodable and wrongly sized files.
It prints a summary: samples, subjects, label counts per label set, missing frames, frame problems,
apex problems and the sheet versions recognised, and exits 1 when the copy has a problem that would
stop a run.
"""
from __future__ import annotations

import inspect
import json

import click

LIST_LIMIT = 15


def _accepts(factory, name: str) -> bool:
    from ..registry import accepted_params

    names, var_kw = accepted_params(factory)
    return name in names or var_kw


def _default(factory, name: str):
    target = factory.__init__ if inspect.isclass(factory) else factory
    param = inspect.signature(target).parameters.get(name)
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def _load(name: str, root, opts: dict, task: str | None):
    import os

    from ..errors import MebenchError, PluginError
    from ..registry import DATASETS

    try:
        loader = DATASETS.create(name, root=root, **opts)
        if hasattr(loader, "collect_problems"):
            loader.collect_problems = True
        samples = loader.load(task)
    except MebenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a loader bug or an option it does not check
        if os.environ.get("MEBENCH_DEBUG", "") not in ("", "0"):
            raise
        raise PluginError(f"dataset {name!r} raised {type(exc).__name__} while loading: {exc}. Check the "
                          "--dataset-opt values (or this is a bug in the loader; MEBENCH_DEBUG=1 shows the "
                          "traceback).") from None
    if "apex_source" in samples.columns and (samples["apex_source"] == "spot").any():
        from ..face.spotting import resolve_spot_apexes

        samples, counts = resolve_spot_apexes(samples)
        loader.counts.update(counts)
    return loader, samples


FRAME_MODES = {"key": "the onset, apex and offset frames", "all": "every frame", "none": "no frame"}


def _key_frames(row, indices: list[int]) -> set[int]:
    """The frames a run reads at least: onset (else the first), apex, offset (else the last)."""
    chosen = set()
    for column, default in (("onset", indices[0]), ("apex", None), ("offset", indices[-1])):
        value = row.get(column)
        try:
            value = None if value is None or value != value else int(value)
        except (TypeError, ValueError):
            value = None
        if value is not None:
            chosen.add(value)
        elif default is not None:
            chosen.add(default)
    return chosen


def check_frames(samples, mode: str = "key", jobs: int | None = None, skip_samples=()) -> dict:
    """Decode the frames a run will read (``mode="key"``) or every frame (``"all"``) of every sample.

    Frames shared by several samples are decoded once; clips are decoded on ``jobs`` threads (OpenCV
    releases the GIL while decoding). Returns ``{"mode", "n_decoded", "problems": [text, ...]}``.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    from ..errors import DataError
    from ..io import decode_frames, open_clip

    if mode == "none" or "frames" not in samples.columns:
        return {"mode": mode, "n_decoded": 0, "problems": []}
    wanted: dict[str, list] = {}  # locator -> [(sample_id, row)]
    skip = set(skip_samples)
    for row in samples.to_dict("records"):
        locator = row.get("frames")
        if isinstance(locator, str) and locator and row["sample_id"] not in skip:
            wanted.setdefault(locator, []).append(row)

    def one(item):
        locator, rows = item
        ids = ", ".join(str(r["sample_id"]) for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
        try:
            clip = open_clip(locator)
        except DataError as exc:
            return 0, [f"sample {ids}: {exc}"]
        if mode == "all":
            indices = clip.indices
        else:
            indices = set().union(*(_key_frames(r, clip.indices) for r in rows)) if clip.indices else set()
        n, problems = decode_frames(clip, indices)
        return n, [f"sample {ids}: {p['message']}" for p in problems]

    import cv2

    workers = max(1, int(jobs or os.cpu_count() or 1))
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # libjpeg warnings: reported below
    try:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, wanted.items()))
    finally:
        cv2.utils.logging.setLogLevel(level)
    return {"mode": mode, "n_decoded": sum(n for n, _ in results), "problems": [p for _, ps in results for p in ps]}


def check_dataset(name: str, root=None, opts: dict | None = None, task: str | None = None, frames: str = "key",
                  jobs: int | None = None) -> dict:
    """Load ``name`` collecting every problem; return the summary printed by ``mebench data check``."""
    from ..errors import MebenchError
    from ..registry import DATASETS

    opts = dict(opts or {})
    factory = DATASETS.get(name)
    loader, samples = _load(name, root, opts, task)
    problems = list(getattr(loader, "problems", []))
    label_sets = dict(getattr(factory, "label_sets", {}) or {})
    label_counts: dict[str, dict | None] = {}
    notes: list[str] = []
    current = opts.get("labels", _default(factory, "labels"))
    loaded_task = task or factory.tasks[0]
    for set_name in label_sets or {"label": ""}:
        other = None
        if _accepts(factory, "labels"):
            if set_name != current:
                other = (dict(opts, labels=set_name), task)
        elif set_name in factory.tasks and set_name != loaded_task:
            other = (dict(opts), set_name)  # label sets that are tasks (synthetic: deception / emotion)
        if other is None:
            counts = samples["label"].astype(str).value_counts()
            label_counts[set_name] = {str(k): int(v) for k, v in sorted(counts.items())}
            continue
        other_opts, other_task = other
        if _accepts(factory, "apex"):
            other_opts["apex"] = "annotated"  # labels do not depend on the apex; avoid re-spotting
        try:
            _, alt = _load(name, root, other_opts, other_task)
            counts = alt["label"].astype(str).value_counts()
            label_counts[set_name] = {str(k): int(v) for k, v in sorted(counts.items())}
        except MebenchError as exc:
            label_counts[set_name] = None
            notes.append(f"label set {set_name!r} is not available for this copy: {exc}")
    if frames not in FRAME_MODES:
        from ..errors import UsageError

        raise UsageError(f"--frames must be one of {', '.join(FRAME_MODES)}, not {frames!r}.")
    reported = {p.get("sample_id") for p in problems if p["kind"] == "frames" and p["fatal"]}  # e.g. no folder
    decoded = check_frames(samples, frames, jobs, skip_samples=reported)
    fatal = [p["message"] for p in problems if p["fatal"]] + decoded["problems"]
    frame_files = [p["message"] for p in problems if p["kind"] == "frames"]
    apex = [p["message"] for p in problems if p["kind"] == "apex"]
    summary = {"dataset": name,
               "root": None if root is None else str(root),
               "options": opts,
               "task": loaded_task,
               "ok": not fatal,
               "n_samples": int(len(samples)),
               "n_subjects": int(samples["subject_id"].nunique()),
               "identities": bool(getattr(loader, "identities", True)),
               "label_counts": label_counts,
               "sheet": dict(getattr(loader, "sheet_versions", {})),
               "annotation_files": dict(getattr(loader, "annotation_files", {})),
               "sample_list_sha256": loader.fingerprint()["sample_list_sha256"],
               "errors": fatal,
               "missing_frames": frame_files,
               "frames_checked": FRAME_MODES[frames],
               "frames_decoded": decoded["n_decoded"],
               "frame_problems": decoded["problems"],
               "apex_problems": apex,
               "counts": dict(getattr(loader, "counts", {})),
               "skipped": list(getattr(loader, "skipped", [])),
               "warnings": list(getattr(loader, "warnings", [])) + notes}
    return summary


def _print_list(title: str, items: list[str]) -> None:
    if not items:
        click.echo(f"  {title}: none")
        return
    click.echo(f"  {title}: {len(items)}")
    for item in items[:LIST_LIMIT]:
        click.echo(f"    - {item}")
    if len(items) > LIST_LIMIT:
        click.echo(f"    ... and {len(items) - LIST_LIMIT} more (use --json for the full list)")


def print_summary(s: dict) -> None:
    opts = ", ".join(f"{k}={v}" for k, v in s["options"].items()) or "defaults"
    click.echo(f"{s['dataset']} at {s['root']} (task {s['task']}; options: {opts})")
    click.echo(f"  samples: {s['n_samples']}   subjects: {s['n_subjects']}   "
               f"speaker identities: {'yes' if s['identities'] else 'NO (subject-wise protocols refuse)'}")
    if s["sheet"]:
        for path, version in s["sheet"].items():
            click.echo(f"  sheet: {path}: {version}")
    else:
        click.echo("  sheet: no versioned annotation sheet")
    click.echo("  label counts:")
    for set_name, counts in s["label_counts"].items():
        text = "unavailable" if counts is None else ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
        total = "" if counts is None else f" (total {sum(counts.values())})"
        click.echo(f"    {set_name}: {text}{total}")
    _print_list("missing frames / frame problems", s["missing_frames"])
    click.echo(f"  frames decoded: {s['frames_decoded']} ({s['frames_checked']} of every sample)")
    _print_list("empty, undecodable or wrongly sized frames", s["frame_problems"])
    _print_list("apex problems", s["apex_problems"])
    other_errors = [e for e in s["errors"] if e not in s["missing_frames"] and e not in s["frame_problems"]]
    _print_list("sheet errors", other_errors)
    click.echo(f"  skipped samples: {len(s['skipped'])}" + (" (listed with --json)" if s["skipped"] else ""))
    if s["counts"]:
        click.echo("  counts: " + ", ".join(f"{k}={v}" for k, v in sorted(s["counts"].items())))
    _print_list("warnings", s["warnings"])
    click.echo(f"  sample list sha256: {s['sample_list_sha256']}")
    if s["ok"]:
        scope = {"the onset, apex and offset frames": "; --frames all decodes every frame",
                 "no frame": "; frames were not decoded (--frames none)"}.get(s["frames_checked"], "")
        click.echo(f"OK: no problem that would stop a run ({s['frames_checked']} decode{scope}).")
    else:
        hint = ("fix them, or pass --dataset-opt bad_frames=skip (loaders) or `mebench run --on-error skip` "
                "to record and skip those samples")
        click.echo(f"FAILED: {len(s['errors'])} problem(s) in this copy ({hint}).")


def _parse(pairs) -> dict:
    from ..config import parse_options

    return parse_options(pairs, "--dataset-opt")


@click.command("check")
@click.argument("name")
@click.option("--root", type=click.Path(), default=None, help="Dataset root directory (your copy).")
@click.option("--dataset-opt", "dataset_opts", multiple=True, metavar="KEY=VALUE",
              help="Dataset option, as for `mebench run`; repeatable.")
@click.option("--task", default=None, help="Task to load (default: the dataset's first).")
@click.option("--plugins", multiple=True, type=click.Path(), help="Python file registering plugins; repeatable.")
@click.option("--frames", type=click.Choice(list(FRAME_MODES)), default="key", show_default=True,
              help="Frames to decode: key = onset, apex and offset of every sample; all = every frame; none.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Threads decoding frames (default: every core).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def check(name, root, dataset_opts, task, plugins, frames, jobs, as_json):
    """Validate a dataset copy and print a summary (samples, subjects, labels, frames, apexes, sheet).

    Decodes the onset, apex and offset frame of every sample (--frames all: every frame) as a run
    reads them, and reports empty, undecodable and wrongly sized files.
    """
    from ..registry import load_plugin_file

    for plugin in plugins:
        load_plugin_file(plugin)
    summary = check_dataset(name, root, _parse(dataset_opts), task, frames=frames, jobs=jobs)
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        print_summary(summary)
    if not summary["ok"]:
        raise SystemExit(1)


@click.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as one JSON object.")
def info(name, as_json):
    """Show a dataset's metadata, label sets, options and apex policy."""
    from ..registry import DATASETS

    entry = DATASETS.entry(name)
    factory = DATASETS.get(name)
    meta = factory.info() if hasattr(factory, "info") else {"name": name}
    target = factory.__init__ if inspect.isclass(factory) else factory
    options = {}
    for p in inspect.signature(target).parameters.values():
        if p.name in ("self", "root") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        options[p.name] = None if p.default is inspect.Parameter.empty else p.default
    meta = dict(meta, options=options, description=entry.description, origin=entry.origin)
    policy = getattr(factory, "apex_policy", None)
    if policy:
        meta["apex_policy"] = policy
    if as_json:
        click.echo(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return
    click.echo(f"{meta.get('name', name)}: {entry.description}")
    for key in ("version", "citation", "license", "fps", "n_subjects"):
        if meta.get(key) not in (None, ""):
            click.echo(f"  {key}: {meta[key]}")
    click.echo(f"  tasks: {', '.join(meta.get('tasks', []))}")
    click.echo("  label sets (--dataset-opt labels=NAME):")
    for set_name, desc in (meta.get("label_sets") or {}).items():
        click.echo(f"    {set_name}: {desc}")
    click.echo("  options (--dataset-opt KEY=VALUE): " + (", ".join(f"{k}={v}" for k, v in options.items()) or "none"))
    if policy:
        click.echo(f"  apex policy: {policy}")
