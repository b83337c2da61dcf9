"""Permutation schemes: how labels may be rearranged under the null hypothesis.

``subject``         every subject has a single label: whole subjects' labels are permuted among
                    subjects (sklearn's ``permutation_test_score(groups=...)`` would permute within
                    subjects and return p = 1 here).
``within-subject``  labels are permuted among the clips of each subject; every subject, and so
                    every training fold of a subject-wise protocol, keeps its class counts.
                    Single-label subjects keep their labels.
``hybrid``          the automatic choice when some subjects have one label and others several:
                    single-label subjects' labels are permuted as wholes among the single-label
                    subjects, and labels are permuted within each mixed subject. With only one
                    kind of subject it is ``subject`` or ``within-subject``.
``dataset``         labels are permuted across the whole dataset, folds fixed. Offered on request;
                    see :func:`choose_scheme` for why it is not the automatic choice.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import MebenchError

SCHEMES = ("subject", "within-subject", "hybrid", "dataset")
BLOCK = 256            # permutations are generated in blocks of this many rows (stable across n)
_SEED_TAG = 0x5045524D  # "PERM": separates the permutation stream from other uses of the seed
SCHEME_NULL = {
    "subject": "H0: subjects' labels are exchangeable across subjects (scheme 'subject')",
    "within-subject": ("H0: within each subject, labels are exchangeable among its clips, i.e. the clips carry no "
                       "label information beyond each subject's label counts (scheme 'within-subject')"),
    "hybrid": ("H0: the labels of single-label subjects are exchangeable among those subjects, and within each "
               "subject with several labels they are exchangeable among its clips (scheme 'hybrid')"),
    "dataset": "H0: labels are exchangeable across all clips of the dataset (scheme 'dataset')",
}


def subject_codes(subjects) -> np.ndarray:
    """The code of each sample's subject: subjects compared as text (``1`` and ``"1"`` are one), numbered
    0, 1, ... in sorted order."""
    return np.unique(np.asarray(subjects).astype(str), return_inverse=True)[1]


def _single_label(y, sc) -> np.ndarray:
    """(S,) True for subjects whose clips all share one label."""
    n_subj = int(sc.max()) + 1
    lo = np.full(n_subj, np.iinfo(np.int64).max)
    hi = np.full(n_subj, np.iinfo(np.int64).min)
    np.minimum.at(lo, sc, y)
    np.maximum.at(hi, sc, y)
    return lo == hi


def choose_scheme(y, subjects) -> tuple[str, str]:
    """The permutation scheme for labels ``y`` clustered by ``subjects``, and why it was chosen.

    One label per subject -> ``subject``; labels varying within every subject -> ``within-subject``;
    both kinds of subject -> ``hybrid`` (single-label subjects permuted as wholes among
    themselves, mixed subjects within themselves).

    Why not ``dataset`` (permuting across the whole dataset) when labels vary within subjects:
    under a subject-wise protocol a dataset-wide permutation changes the class balance of every
    training fold in a way that anti-correlates with its test subject's, so for models whose
    predictions lean on the training class balance the permuted pipelines score *below* chance
    and the test rejects far too often on null data whose labels were assigned within subjects
    (deception data balanced per subject). tests/test_stats_calibration.py shows it on null
    synthetic deception data with a strongly regularised ridge. Permuting within subjects keeps
    every subject's label counts; its null is "the clips carry no label information beyond each
    subject's label counts", which also keeps a between-subject shortcut (who the person is) from
    counting as evidence. Single-label subjects carry information only between subjects, so the
    hybrid scheme permutes them as wholes (calibrated on null data and with power where the
    within-subject scheme has none: tests/test_stats_calibration.py).
    """
    y = np.asarray(y)
    sc = subject_codes(subjects)
    single = _single_label(y, sc)
    n_subjects = len(single)
    if single.all():
        n_values = len(np.unique(y))
        return "subject", (f"every one of the {n_subjects} subjects has a single label, so whole subjects' labels "
                           f"are permuted ({n_values} label values over subjects)")
    if not single.any():
        return "within-subject", (f"labels vary within all {n_subjects} subjects, so labels are permuted among each "
                                  "subject's clips (every subject and every training fold keeps its class counts)")
    return "hybrid", (f"{int(single.sum())} of {n_subjects} subjects have a single label: their labels are permuted as "
                      f"wholes among them; labels vary within the other {int((~single).sum())}, and are permuted "
                      "among each of those subjects' clips")


def n_arrangements(y, subjects, scheme: str) -> int:
    """How many distinct label arrays the scheme can reach from ``y`` (the observed one included)."""
    y = np.asarray(y)
    sc = subject_codes(subjects)
    _, yc = np.unique(y, return_inverse=True)

    def multinomial(counts) -> int:
        out, total = 1, 0
        for c in counts:
            total += int(c)
            out *= math.comb(total, int(c))
        return out

    if scheme == "dataset":
        return multinomial(np.bincount(yc))
    single = _single_label(yc, sc)
    total = 1
    if scheme in ("within-subject", "hybrid"):
        for s in np.flatnonzero(~single):
            total *= multinomial(np.bincount(yc[sc == s]))
    if scheme in ("subject", "hybrid"):
        first = np.array([np.flatnonzero(sc == s)[0] for s in np.flatnonzero(single)], dtype=np.int64)
        total *= multinomial(np.bincount(yc[first])) if len(first) else 1
    return total


def arrangement_summary(y, subjects, scheme: str, n_permutations: int) -> dict:
    """The number of arrangements the scheme reaches and the smallest p-value it can attain."""
    m = n_arrangements(y, subjects, scheme)
    log10 = math.log10(m) if m > 0 else 0.0
    p_min = max(1.0 / (n_permutations + 1), 1.0 / m)
    why = (f"1/(N+1) with N = {n_permutations} permutations" if m > n_permutations else
           f"about 1/M: the scheme reaches only M = {m} distinct arrangements (fewer than the {n_permutations} "
           "permutations drawn, so draws repeat)")
    return {"n_arrangements": m if m < 2 ** 53 else None, "log10_arrangements": round(log10, 3),
            "smallest_p": p_min, "smallest_p_reason": why}


def format_arrangements(summary: dict) -> str:
    m = summary.get("n_arrangements")
    return f"{m:,}" if m is not None else f"about 10^{summary['log10_arrangements']:.0f}"


def permuted_codes(y, subjects, scheme: str, seed: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop-1`` of the permutation stream: an array (stop-start, n) of label codes.

    Row ``i`` depends only on (y, subjects, scheme, seed, i), never on how many rows are asked for
    or on which worker computes it, so the exact and generic paths and resumed runs agree.
    """
    if scheme not in SCHEMES:
        raise MebenchError(f"unknown permutation scheme {scheme!r}; choose one of {', '.join(SCHEMES)}.")
    y = np.asarray(y)
    sc = subject_codes(subjects)
    n = len(y)
    n_subj = int(sc.max()) + 1
    single = _single_label(np.unique(y, return_inverse=True)[1], sc)
    if scheme == "subject" and not single.all():
        raise MebenchError("the 'subject' permutation scheme needs one label per subject; labels vary within "
                           "subjects here. Use the hybrid, within-subject or dataset scheme.")
    first = np.array([np.flatnonzero(sc == s)[0] for s in range(n_subj)])
    subject_labels = y[first]
    whole = np.flatnonzero(single) if scheme in ("subject", "hybrid") else np.array([], dtype=np.int64)
    base = np.argsort(sc, kind="stable")
    out = np.empty((max(stop - start, 0), n), dtype=y.dtype)
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1 if stop > start else 0):
        rng = np.random.default_rng([int(seed), _SEED_TAG, SCHEMES.index(scheme), block])
        lo, hi = block * BLOCK, (block + 1) * BLOCK
        if scheme == "dataset":
            rows = y[np.argsort(rng.random((BLOCK, n)), axis=1)]
        elif scheme == "subject":
            order = np.argsort(rng.random((BLOCK, n_subj)), axis=1)
            rows = subject_labels[order][:, sc]
        else:  # within subjects: sort by (subject, random key); fill each subject's slots in order
            order = np.argsort(sc[None, :] + rng.random((BLOCK, n)), axis=1)
            rows = np.empty((BLOCK, n), dtype=y.dtype)
            rows[:, base] = y[order]
            if len(whole) > 1:  # hybrid: single-label subjects' labels permuted as wholes among them
                labels = np.tile(subject_labels, (BLOCK, 1))
                labels[:, whole] = subject_labels[whole][np.argsort(rng.random((BLOCK, len(whole))), axis=1)]
                members = single[sc]
                rows[:, members] = labels[:, sc[members]]
        a, b = max(lo, start), min(hi, stop)
        out[a - start:b - start] = rows[a - lo:b - lo]
    return out
