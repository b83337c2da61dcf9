"""Calibration on null data (false-positive rate within the binomial 99% band) and power.

Null data: the ``synthetic`` deception dataset with ``effect=0`` (labels independent of the
video, balanced within each subject), HOOF features, the ``ridge`` classifier under LOSO. The
fast exact linear path makes 200 seeds x 199 permutations affordable.
"""
from functools import lru_cache

import numpy as np
from scipy.stats import binom

from mebench.classifiers.sklearn_family import RidgeScores
from mebench.stats.paired import paired_randomisation
from mebench.stats.permutation import linear_scores, permutation_test, prepared_from_arrays, ridge_operator

ALPHA = 0.05
N_SEEDS = 200
N_PERM = 199
LO, HI = binom.interval(0.99, N_SEEDS, ALPHA)  # counts of rejections allowed at alpha = 0.05
METRICS = ["accuracy", "uar", "uf1", "auc"]
DATA = dict(subjects=8, clips_per_subject=6, frames=8, size=32)
HOOF_OPTS = dict(size=32, grid=4)


@lru_cache(maxsize=None)
def null_dataset(seed: int):
    """(features, labels, subjects) of a null synthetic deception dataset."""
    from mebench.data.synthetic import SyntheticDataset
    from mebench.features.hoof import HOOF

    samples = SyntheticDataset(effect=0.0, seed=seed, **DATA).load("deception")
    X = HOOF(**HOOF_OPTS).fit(samples).transform(samples)
    return X, samples["label"].to_numpy(), samples["subject_id"].to_numpy()


def _in_band(count: int) -> bool:
    return LO <= count <= HI


def _rejections(p_values) -> np.ndarray:
    return (np.asarray(p_values, float) <= ALPHA).sum(axis=0)


def test_fixture_features_are_what_the_runner_computes():
    """The cached null datasets equal run.prepare's features and labels (so the shortcut is faithful)."""
    from _api import RunSpec, prepare

    for seed in (0, 1):
        spec = RunSpec(dataset_opts=dict(effect=0, seed=seed, **DATA), features_opts=HOOF_OPTS, classifier="ridge",
                       use_cache=False)
        prepared = prepare(spec)
        X, labels, subjects = null_dataset(seed)
        np.testing.assert_array_equal(prepared.X, X)
        np.testing.assert_array_equal(prepared.samples["label"].to_numpy(), labels)
        np.testing.assert_array_equal(prepared.samples["subject_id"].to_numpy(), subjects)


def test_permutation_test_is_calibrated_on_null_synthetic_data():
    ps = []
    for seed in range(N_SEEDS):
        X, labels, subjects = null_dataset(seed)
        res = permutation_test(prepared_from_arrays(X, labels, subjects), N_PERM, metrics=METRICS, seed=seed)
        assert res.method == "exact" and res.scheme == "within-subject"
        ps.append([res.p_values[m] for m in METRICS])
    counts = _rejections(ps)
    assert all(_in_band(c) for c in counts), (dict(zip(METRICS, counts / N_SEEDS)), (LO, HI))


def test_dataset_wide_permutation_is_anticonservative_when_labels_are_balanced_per_subject():
    """Why the automatic scheme is within-subject: with an intercept-dominated model (strong ridge)
    a dataset-wide permutation changes each training fold's class balance against its test
    subject, so permuted pipelines score below chance and null data 'beats' them."""
    ps = {"dataset": [], "within-subject": []}
    for seed in range(N_SEEDS // 2):
        X, labels, subjects = null_dataset(seed)
        prepared = prepared_from_arrays(X, labels, subjects, estimator=RidgeScores(alpha=1e4))
        for scheme in ps:
            res = permutation_test(prepared, 99, metrics=["auc"], seed=seed, scheme=scheme)
            ps[scheme].append([res.p_values["auc"]])
    lo, hi = binom.interval(0.99, N_SEEDS // 2, ALPHA)
    assert _rejections(ps["dataset"])[0] > hi
    assert lo <= _rejections(ps["within-subject"])[0] <= hi


def test_subject_scheme_is_calibrated_with_one_label_per_subject():
    ps = []
    for seed in range(N_SEEDS):
        rng = np.random.default_rng(seed)
        subjects = np.repeat(np.arange(14), 4)
        labels = np.repeat(rng.permutation(["a"] * 7 + ["b"] * 7), 4)
        X = rng.normal(size=(56, 30)) + rng.normal(size=(14, 30))[subjects]
        res = permutation_test(prepared_from_arrays(X, labels, subjects), N_PERM, metrics=METRICS, seed=seed)
        assert res.scheme == "subject"
        ps.append([res.p_values[m] for m in METRICS])
    counts = _rejections(ps)
    assert all(_in_band(c) for c in counts), dict(zip(METRICS, counts / N_SEEDS))


def test_power_with_a_moderate_effect():
    """Moderate effect (leakage pattern in 80% of deceptive vs 20% of truthful clips): most seeds reject."""
    from _api import RunSpec, prepare

    rejected = []
    for seed in range(12):
        spec = RunSpec(dataset_opts=dict(subjects=12, clips_per_subject=8, frames=8, size=32, effect=0.6, seed=seed),
                       features_opts=HOOF_OPTS, classifier="ridge", classifier_opts={"alpha": 300.0}, use_cache=False)
        res = permutation_test(prepare(spec), N_PERM, metrics=["auc"], seed=seed)
        rejected.append(res.p_values["auc"] <= ALPHA)
    assert np.mean(rejected) >= 0.75, rejected


# ---------------------------------------------------------------------------------------------- paired test
def _decisions(X, labels, subjects, alpha=1.0):
    prepared = prepared_from_arrays(X, labels, subjects, estimator=RidgeScores(alpha=alpha))
    scores = linear_scores(ridge_operator(prepared), prepared.y[None], len(prepared.classes))[0]
    return prepared, scores


def test_paired_test_is_calibrated_for_exchangeable_pipelines():
    """Two equally good pipelines: both read the same per-clip evidence (a latent margin with a
    subject effect), and each works better for some people than for others (an independent
    per-subject gain toward the right answer, e.g. face alignment that suits some faces). Swapping
    whole subjects is exact here; swapping single clips ignores the clustering and is shown to
    over-reject, so the check can tell the two apart."""
    ps, ps_clip = [], []
    n_subjects, per_subject = 20, 6
    subjects = np.repeat([f"s{i:02d}" for i in range(n_subjects)], per_subject)
    codes = np.repeat(np.arange(n_subjects), per_subject)
    classes = ["deceptive", "truthful"]
    for seed in range(N_SEEDS):
        rng = np.random.default_rng([seed, 17])
        y = np.concatenate([rng.permutation([0, 0, 0, 1, 1, 1]) for _ in range(n_subjects)])
        margin = 0.8 * (2 * y - 1) + rng.normal(0, 1, n_subjects)[codes] + rng.normal(0, 1, len(y))

        def readout():
            gain = rng.normal(0, 1.0, n_subjects)[codes] * (2 * y - 1)
            m = margin + gain + rng.normal(0, 0.3, len(y))
            p1 = 1 / (1 + np.exp(-m))
            s = np.c_[1 - p1, p1]
            return s.argmax(1), s

        a, b = readout(), readout()
        res = paired_randomisation(y, a, b, subjects, classes, METRICS, 999, seed=seed)
        ps.append([res[m].p_value for m in METRICS])
        res = paired_randomisation(y, a, b, np.arange(len(y)), classes, METRICS, 999, seed=seed)
        ps_clip.append([res[m].p_value for m in METRICS])
    counts = _rejections(ps)
    assert all(_in_band(c) for c in counts), dict(zip(METRICS, counts / N_SEEDS))
    assert all(c > HI for c in _rejections(ps_clip)), dict(zip(METRICS, _rejections(ps_clip) / N_SEEDS))


def _rows(X, labels, subjects, seed, n_rows=N_PERM):
    """A ridge pipeline's PipelineRows on the permutation stream, through the exact linear path."""
    from mebench.stats.permutation import compute_rows, observed_row, row_engine, row_store
    from mebench.stats.studentised import PipelineRows

    prepared = prepared_from_arrays(X, labels, subjects)
    engine = row_engine(prepared)
    store = row_store(prepared, "within-subject", seed, METRICS)
    compute_rows(prepared, engine, store, "within-subject", seed, n_rows)
    values, sums = store.arrays(n_rows, METRICS)
    obs_v, obs_s, _ = observed_row(prepared, engine, store)
    return PipelineRows(METRICS, obs_v, obs_s, values, sums, "within-subject", seed), prepared


def test_refit_studentised_test_between_two_unlike_chance_pipelines_on_null_data():
    """Two different pipelines at chance: ridge on two disjoint halves of the HOOF grid. The refit
    studentised test (the default of compare and the leaderboard) stays within the binomial band for
    every metric; the subject swap on the same predictions does not for AUC (the reason it is
    secondary). The full measurement, at 12, 26 and 68 subjects, is benchmarks/bench_calibration.py."""
    from mebench.stats.studentised import studentised_test

    refit, swap = [], []
    for seed in range(N_SEEDS):
        X, labels, subjects = null_dataset(seed)
        half = X.shape[1] // 2
        a, prepared = _rows(X[:, :half], labels, subjects, seed)
        b, _ = _rows(X[:, half:], labels, subjects, seed)
        refit.append([studentised_test(a, b, m, N_PERM).p_value for m in METRICS])
        _, sa = _decisions(X[:, :half], labels, subjects)
        _, sb = _decisions(X[:, half:], labels, subjects)
        res = paired_randomisation(prepared.y, (sa.argmax(1), sa), (sb.argmax(1), sb), subjects, prepared.classes,
                                   METRICS, 999, seed=seed)
        swap.append([res[m].p_value for m in METRICS])
    counts = dict(zip(METRICS, _rejections(refit)))
    assert all(_in_band(c) for c in counts.values()), counts
    assert _rejections(swap)[METRICS.index("auc")] > HI


def test_the_calibration_table_is_generated_from_the_recorded_summary():
    """The table quoted by compare and the leaderboard is what the calibration suite recorded."""
    import importlib.util
    import json
    from pathlib import Path

    from mebench.stats import calibration_table

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_calibration", root / "benchmarks" / "bench_calibration.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = json.loads((root / "benchmarks" / "results" / "calibration-summary.json").read_text())
    assert calibration_table.MEASURED == json.loads(json.dumps(bench.table_from(summary)))


# ---------------------------------------------------------------------------------------------- hybrid scheme
def _mixed_subjects(seed, signal=0.0):
    """24 subjects with 2 clips and one label each (12 'a', 12 'b'), 6 subjects with 3 'a' + 3 'b'
    clips. Gaussian features with subject effects; ``signal`` shifts 5 features of single-label
    subjects by their label (information that lies between subjects only)."""
    rng = np.random.default_rng([seed, 29])
    subjects = np.r_[np.repeat(np.arange(24), 2), np.repeat(np.arange(24, 30), 6)]
    whole = rng.permutation(["a"] * 12 + ["b"] * 12)
    labels = np.concatenate([np.repeat(whole, 2)] + [rng.permutation(["a", "a", "a", "b", "b", "b"]) for _ in range(6)])
    X = rng.normal(size=(84, 20)) + rng.normal(size=(30, 20))[subjects]
    X[:48, :5] += signal * (labels[:48] == "b")[:, None]
    return X, labels, subjects


def test_hybrid_scheme_is_calibrated_and_has_power_where_within_subject_has_none():
    """Some subjects have one label, others several (as in emotion sets with few clips per subject).
    Null data: the hybrid scheme (single-label subjects permuted as wholes among themselves, mixed
    subjects within themselves) and the within-subject scheme both stay in the band. With signal
    only between single-label subjects, the hybrid scheme detects it; the within-subject scheme,
    which never moves single-label subjects' labels, cannot."""
    ps = {"hybrid": [], "within-subject": []}
    for seed in range(N_SEEDS):
        prepared = prepared_from_arrays(*_mixed_subjects(seed))
        for scheme in ps:
            res = permutation_test(prepared, N_PERM, metrics=["accuracy", "auc"], seed=seed, scheme=scheme)
            ps[scheme].append([res.p_values["accuracy"], res.p_values["auc"]])
        assert res.arrangements["n_arrangements"] == 20 ** 6 and res.scheme == "within-subject"
    assert permutation_test(prepared, 9, metrics=["auc"]).scheme == "hybrid"
    for scheme, values in ps.items():
        assert all(_in_band(c) for c in _rejections(values)), (scheme, _rejections(values) / N_SEEDS)
    power = {"hybrid": [], "within-subject": []}
    for seed in range(20):
        prepared = prepared_from_arrays(*_mixed_subjects(1000 + seed, signal=2.0))
        for scheme in power:
            power[scheme].append(permutation_test(prepared, 99, metrics=["auc"], seed=seed, scheme=scheme)
                                 .p_values["auc"] <= ALPHA)
    assert np.mean(power["hybrid"]) >= 0.75 and np.mean(power["within-subject"]) <= 0.15, power
