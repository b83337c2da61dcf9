"""Seed replicates in a leaderboard column: one pipeline run with several seeds on the same samples and folds.

A net's result depends on its seed, so such runs are the norm, and showing any one of them would pick
a seed silently. A column therefore shows each replicated pipeline as two rows:

* ``<pipeline> · mean ± sd over seeds``: the mean of the seeds' pooled values and their sample
  standard deviation, with every seed's value in the record; not ranked (it is no set of predictions);
* ``<pipeline> · seed ensemble``: the seeds' scores averaged per sample (soft voting, prediction = the
  class of the highest mean score), a set of predictions like any run's, so it gets a CI and is
  ranked and tested against the best like any run.

Replicates must share the column's samples, labels and folds (the column check) and their role, and
have distinct run seeds; two runs of one pipeline with the same seed are still refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RunStoreError

SUMMARY_SUFFIX = " · mean ± sd over seeds"
ENSEMBLE_SUFFIX = " · seed ensemble"


def run_seed(run) -> object:
    """The run seed a stored run records (``seeds.run``, else ``config.seed``)."""
    return run.manifest.run_seed


def replicate_groups(label: str, runs: list) -> dict:
    """``{pipeline label: [runs]}`` for the pipelines of a column with more than one run, each checked:
    distinct seeds and one role. Runs are ordered by seed (then folder)."""
    by_label: dict = {}
    for r in runs:
        by_label.setdefault(r.label, []).append(r)
    groups = {}
    for pipeline, members in by_label.items():
        if len(members) < 2:
            continue
        members = sorted(members, key=lambda r: (str(run_seed(r)), str(r.dir)))
        seen: dict = {}
        for r in members:
            seed = run_seed(r)
            if seed in seen:
                raise RunStoreError(
                    f"column {label}: pipeline {pipeline} appears twice with seed {seed} (runs {seen[seed].dir} and "
                    f"{r.dir}); keep one run per pipeline, seed and column (runs with other seeds are shown as seed "
                    "replicates).")
            seen[seed] = r
        roles = {r.role for r in members}
        if len(roles) > 1:
            raise RunStoreError(f"column {label}: the seed replicates of {pipeline} have different roles "
                                f"({', '.join(sorted(roles))}); they must be runs of one pipeline.")
        groups[pipeline] = members
    return groups


@dataclass(frozen=True, eq=False)
class SeedEnsemble:
    """The soft-voting ensemble of a pipeline's seed replicates, read like a :class:`~mebench.store.StoredRun`
    by the column code (its cell is ranked and tested like any run's)."""

    members: list
    label: str
    y: np.ndarray
    pred: np.ndarray
    scores: np.ndarray
    subjects: np.ndarray
    sample_ids: np.ndarray
    classes: list
    files: dict = field(default_factory=dict)

    @classmethod
    def of(cls, pipeline: str, members: list) -> "SeedEnsemble":
        base = members[0]
        scores = np.mean([m.aligned_to(base)[1] for m in members], axis=0)
        return cls(list(members), pipeline + ENSEMBLE_SUFFIX, base.y, np.argmax(scores, axis=1), scores,
                   base.subjects, base.sample_ids, list(base.classes))

    @property
    def run_id(self) -> str:
        return "seed-ensemble:" + "+".join(m.run_id for m in self.members)

    @property
    def dir(self) -> Path:
        return self.members[0].dir

    @property
    def role(self) -> str:
        return self.members[0].role

    @property
    def flags(self) -> tuple[list, dict]:
        return union_flags(self.members)

    def aligned_to(self, base) -> tuple[np.ndarray, np.ndarray]:
        if base is self:
            return self.pred, self.scores
        index = {s: i for i, s in enumerate(self.sample_ids)}
        order = np.array([index[s] for s in base.sample_ids])
        if list(base.classes) != self.classes:
            cols = [self.classes.index(c) for c in base.classes]
            scores = self.scores[order][:, cols]
            return np.argmax(scores, axis=1), scores
        return self.pred[order], self.scores[order]


def union_flags(members: list) -> tuple[list, dict]:
    """Every flag any replicate carries, with its first reason: a flag on one seed marks the pipeline."""
    flags, reasons = [], {}
    for m in members:
        names, why = m.flags
        for name in names:
            if name not in reasons:
                flags.append(name)
                reasons[name] = why[name]
    return flags, reasons


def member_records(members: list, rel, base) -> list:
    """The record of each replicate: seed, run id, folder and the sha256 of its files (``verify`` re-hashes them)."""
    return [{"seed": run_seed(m), "run_id": m.run_id, "run_dir": rel(m.dir, base),
             "files": dict(sorted(m.files.items()))} for m in members]


def summary_cell(pipeline: str, members: list, column: str, metric: str, rel, base) -> tuple[dict, list]:
    """The ``mean ± sd over seeds`` cell of a replicated pipeline (never ranked) and its footnote texts."""
    from ..formatting import fmt_number
    from ..metrics.batch import batch_metrics

    values = [float(batch_metrics([metric], m.classes, m.y[None], m.pred[None], m.scores[None])[0, 0]) for m in members]
    records = member_records(members, rel, base)
    for rec, v in zip(records, values):
        rec["value"] = v if np.isfinite(v) else None
    finite = [v for v in values if np.isfinite(v)]
    flags, reasons = union_flags(members)
    defined = len(finite) == len(values)
    cell = {"row": pipeline + SUMMARY_SUFFIX, "column": column, "role": members[0].role, "run_id": None,
            "run_dir": None, "files": None, "runs": records, "seed_summary": True, "n_seeds": len(members),
            "value": float(np.mean(finite)) if defined else None,
            "sd": float(np.std(finite, ddof=1)) if defined and len(finite) > 1 else None,
            "ci_low": None, "ci_high": None, "ci_method": None, "ci_interval": None,
            "flags": flags, "flag_reasons": reasons, "ranked": False, "best": False,
            "p_value": None, "p_holm": None, "not_worse": None}
    seeds = ", ".join(f"{r['seed']}: {fmt_number(r['value'])}" for r in records)
    note = (f"{pipeline} on {column}: {len(members)} seed replicates (run seed {seeds}); shown as mean ± sd over "
            "seeds (not ranked) and as their seed ensemble (scores averaged per sample), which is ranked.")
    if not defined:
        cell["undefined"] = f"{metric} is undefined for {len(values) - len(finite)} of the seeds"
    return cell, [note]
