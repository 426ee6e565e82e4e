"""Generators of Experiments 2-6 of the 1997 paper, checked against the recipes
(the paper's sections 5.2-5.6, restated in each generator's docstring).

Every statistical check compares an observed mean or frequency with the value the recipe implies,
with a tolerance of Z standard errors computed from the recipe (or, where the recipe leaves the
variance open, from the sample). Z = 5 has a two-sided false-alarm probability of 5.7e-7 per
check for a correct generator; the seeds are fixed, so the outcome is deterministic anyway.
Targets are recomputed from ``x`` independently of the generators.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import lstmcore.tasks as tasks
from lstmcore.tasks import (
    Adding,
    Multiplication,
    NoiseFreeLongLag,
    NoLocalRegularities,
    TemporalOrder,
    TwoSequence,
    VeryLongLag,
)

Z = 5.0


# ---------------------------------------------------------------------------- statistics helpers
def assert_mean(values, mean: float, var: float | None = None, what: str = "mean") -> None:
    """|sample mean - mean| <= Z * sqrt(var / n); var defaults to the sample variance."""
    v = np.asarray(values, dtype=float).ravel()
    n = v.size
    var = v.var(ddof=1) if var is None else var
    se = math.sqrt(var / n)
    assert abs(v.mean() - mean) <= Z * se, f"{what}: {v.mean():.6g} vs {mean:.6g} (se {se:.3g}, n {n})"


def assert_proportion(k: int, n: int, p: float, what: str = "proportion") -> None:
    """A binomial count: |k - n p| <= Z sqrt(n p (1 - p)); p in {0, 1} must match exactly."""
    if p in (0.0, 1.0):
        assert k == n * p, f"{what}: {k} of {n}, expected probability {p}"
        return
    sd = math.sqrt(n * p * (1 - p))
    assert abs(k - n * p) <= Z * sd, f"{what}: {k} of {n} = {k / n:.5g}, expected {p:.5g} (se {sd / n:.3g})"


def assert_frequencies(counts, probs, what: str = "frequencies") -> None:
    """Each cell of a multinomial count table against its probability."""
    counts = np.asarray(counts)
    probs = np.asarray(probs, dtype=float)
    assert counts.shape == probs.shape
    assert math.isclose(probs.sum(), 1.0)
    n = int(counts.sum())
    for i, (k, p) in enumerate(zip(counts, probs)):
        assert_proportion(int(k), n, float(p), f"{what}[{i}]")


def assert_gaussian_variance(values, var: float, what: str = "variance") -> None:
    """Sample variance of N(0, var) values (mean known to be 0): se = var * sqrt(2 / n)."""
    v = np.asarray(values, dtype=float).ravel()
    n = v.size
    est = float(np.mean(v * v))
    se = var * math.sqrt(2.0 / n)
    assert abs(est - var) <= Z * se, f"{what}: {est:.6g} vs {var:.6g} (se {se:.3g}, n {n})"
    # Shape: the fraction within one standard deviation of a Gaussian.
    inside = int(np.sum(np.abs(v) < math.sqrt(var)))
    assert_proportion(inside, n, math.erf(1 / math.sqrt(2)), f"{what}: fraction within 1 sd")


def assert_one_hot(a: np.ndarray) -> None:
    assert ((a == 0) | (a == 1)).all() and (a.sum(axis=1) == 1).all()


def draw(task, n: int, seed: int, full: bool = False, mode: str = "sample"):
    """n sequences of `task`: from n calls of sample/sample_full (mode "sample") or from one
    sample_batch call (mode "batch"), split into the same per-sequence tuples, so that every
    statistical check below holds both generators to the recipe."""
    rng = np.random.default_rng(seed)
    if mode == "sample":
        f = task.sample_full if full else task.sample
        return [f(rng) for _ in range(n)]
    batch = task.sample_batch(rng, n)
    assert batch.n == n and batch.offsets[0] == 0 and (np.diff(batch.offsets) >= 1).all()
    assert batch.x.flags.c_contiguous and batch.x.dtype == task.dtype and batch.mask.dtype == bool
    out = []
    kind = type(task.sample_full(np.random.default_rng(0))) if full else None
    for i in range(n):
        a, b = int(batch.offsets[i]), int(batch.offsets[i + 1])
        seq = (batch.x[a:b], batch.target[a:b], batch.mask[a:b])
        if kind is not None:
            rest = []
            for name in kind._fields[3:]:
                if name == "clean_target":
                    rest.append(batch.clean_target[a:b])
                else:
                    v = batch.info[name][i]
                    rest.append(tuple(v.tolist()) if np.ndim(v) else v.item())
            seq = kind(*seq, *rest)
        out.append(seq)
    return out


@pytest.fixture(scope="module", params=["sample", "batch"])
def draw_mode(request):
    """Statistical checks run on both generators: per sequence and packed batches."""
    return request.param


# ---------------------------------------------------------------------------- common behaviour
ALL_TASKS = [
    NoiseFreeLongLag(10),
    NoLocalRegularities(10),
    VeryLongLag(10, 20),
    TwoSequence(100, 3, "3a"),
    TwoSequence(100, 1, "3b"),
    TwoSequence(100, 3, "3c"),
    Adding(100),
    Multiplication(100),
    TemporalOrder("6a"),
    TemporalOrder("6b"),
]
IDS = [repr(t) for t in ALL_TASKS]

# Success thresholds of Table 11 (ABS(beta)), and whether only the sequence end is judged.
PAPER_THRESHOLDS = {"2a": (0.25, False), "2b": (0.25, True), "2c": (0.2, True), "3a": (0.2, True),
                    "3b": (0.2, True), "3c": (0.1, True), "4": (0.04, True), "5": (0.04, True),
                    "6a": (0.3, True), "6b": (0.3, True)}


def test_exports():
    for name in ["EmbeddedReber", "NoiseFreeLongLag", "NoLocalRegularities", "VeryLongLag", "TwoSequence",
                 "Adding", "Multiplication", "TemporalOrder"]:
        assert name in tasks.__all__ and hasattr(tasks, name)


@pytest.mark.parametrize("task", ALL_TASKS, ids=IDS)
def test_shapes_dtypes_mask(task):
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, target, mask = task.sample(rng)
        L = len(x)
        assert x.shape == (L, task.n_in) and target.shape == (L, task.n_out) and mask.shape == (L,)
        assert x.dtype == np.float64 and target.dtype == np.float64 and mask.dtype == np.bool_
        assert np.isfinite(x).all() and np.isfinite(target).all()
        if task.experiment in ("2a", "2b"):
            assert mask.all()
        else:
            assert mask[-1] and mask.sum() == 1
            assert not target[:-1].any()        # no target outside the mask


@pytest.mark.parametrize("task", ALL_TASKS, ids=IDS)
def test_fixed_seed_reproducible(task):
    a = draw(task, 30, 77)
    b = draw(task, 30, 77)
    c = draw(task, 30, 78)
    for sa, sb in zip(a, b):
        for u, v in zip(sa, sb):
            np.testing.assert_array_equal(u, v)
    assert any(len(sa[0]) != len(sc[0]) or not np.array_equal(sa[0], sc[0]) for sa, sc in zip(a, c))


@pytest.mark.parametrize("task", [t for t in ALL_TASKS if hasattr(t, "sample_full")],
                         ids=[repr(t) for t in ALL_TASKS if hasattr(t, "sample_full")])
def test_sample_is_sample_full_prefix(task):
    a = draw(task, 20, 5)
    b = draw(task, 20, 5, full=True)
    for sa, sb in zip(a, b):
        for u, v in zip(sa, sb[:3]):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("task", ALL_TASKS, ids=IDS)
def test_float32(task):
    t32 = type(task)(*_args(task), dtype=np.float32)
    x, target, mask = t32.sample(np.random.default_rng(0))
    x64, target64, _ = task.sample(np.random.default_rng(0))
    assert x.dtype == np.float32 and target.dtype == np.float32
    np.testing.assert_allclose(x, x64, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(target, target64, rtol=1e-6, atol=1e-7)


def _args(task):
    return {"2a": lambda t: (t.p,), "2b": lambda t: (t.p,), "2c": lambda t: (t.p, t.q),
            "3a": lambda t: (t.T, t.N, t.variant), "3b": lambda t: (t.T, t.N, t.variant),
            "3c": lambda t: (t.T, t.N, t.variant), "4": lambda t: (t.T,), "5": lambda t: (t.T,),
            "6a": lambda t: (t.variant,), "6b": lambda t: (t.variant,)}[task.experiment](task)


@pytest.mark.parametrize("task", ALL_TASKS, ids=IDS)
def test_paper_thresholds_and_describe(task):
    thr, final = PAPER_THRESHOLDS[task.experiment]
    assert task.abs_error_threshold == thr
    assert task.final_only_success is final
    name = type(task).__name__
    r = repr(task)
    assert r.startswith(name + "(")
    d = task.describe()
    assert f"Experiment {task.experiment}" in d and str(thr) in d
    for arg in _args(task):
        assert repr(arg) in r


@pytest.mark.parametrize("task", ALL_TASKS, ids=IDS)
@pytest.mark.parametrize("bad", [None, 0, np.random.RandomState(0), np.random.default_rng(0).bit_generator])
def test_bad_rng(task, bad):
    with pytest.raises(TypeError, match="rng"):
        task.sample(bad)


@pytest.mark.parametrize("make, exc, name", [
    (lambda: NoiseFreeLongLag(0), ValueError, "p"),
    (lambda: NoiseFreeLongLag(1.5), TypeError, "p"),
    (lambda: NoiseFreeLongLag(True), TypeError, "p"),
    (lambda: NoLocalRegularities(0), ValueError, "p"),
    (lambda: NoLocalRegularities("100"), TypeError, "p"),
    (lambda: VeryLongLag(0, 10), ValueError, "p"),
    (lambda: VeryLongLag(10, -1), ValueError, "q"),
    (lambda: VeryLongLag(10, 2.0), TypeError, "q"),
    (lambda: TwoSequence(1, 1, "3a"), ValueError, "T"),
    (lambda: TwoSequence(100, 0, "3a"), ValueError, "N"),
    (lambda: TwoSequence(100, 100, "3a"), ValueError, "N"),
    (lambda: TwoSequence(100, 1, "3d"), ValueError, "variant"),
    (lambda: TwoSequence(100, 1, 3), TypeError, "variant"),
    (lambda: TwoSequence(100.0, 1, "3a"), TypeError, "T"),
    (lambda: Adding(1), ValueError, "T"),
    (lambda: Adding(19), ValueError, "T"),
    (lambda: Adding(None), TypeError, "T"),
    (lambda: Multiplication(1), ValueError, "T"),
    (lambda: TemporalOrder("6c"), ValueError, "variant"),
    (lambda: TemporalOrder(6), TypeError, "variant"),
    (lambda: Adding(100, dtype=np.int32), ValueError, "dtype"),
    (lambda: TemporalOrder("6a", dtype="float16"), ValueError, "dtype"),
])
def test_bad_arguments(make, exc, name):
    with pytest.raises(exc, match=rf"^{name}:"):
        make()


def test_smallest_accepted_arguments():
    rng = np.random.default_rng(0)
    for task in [NoiseFreeLongLag(1), NoLocalRegularities(1), VeryLongLag(1, 0), TwoSequence(2, 1, "3b"),
                 Adding(20), Multiplication(20)]:
        x, target, mask = task.sample(rng)
        assert x.shape[1] == task.n_in and mask[-1]
    x, target, mask = NoLocalRegularities(1).sample(rng)
    assert x.shape == (1, 2)


# ---------------------------------------------------------------------------- 2a / 2b
def decode_rows(a: np.ndarray) -> np.ndarray:
    return np.argmax(a, axis=1)


@pytest.mark.parametrize("p", [1, 4, 100])
def test_2a_sequences(p, draw_mode):
    task = NoiseFreeLongLag(p)
    assert task.n_in == task.n_out == p + 1 and task.length == p
    assert (task.x_index, task.y_index) == (p - 1, p)
    seen = set()
    n_x = 0
    n = 2000 if p < 100 else 500
    for x, target, mask in draw(task, n, p, mode=draw_mode):
        assert x.shape == (p, p + 1) and mask.all()
        assert_one_hot(x)
        assert_one_hot(target)
        sx, st = decode_rows(x), decode_rows(target)
        np.testing.assert_array_equal(st[:-1], sx[1:])           # the target is the next input
        symbols = np.append(sx, st[-1])
        assert symbols[0] in (p - 1, p) and symbols[-1] == symbols[0]
        np.testing.assert_array_equal(symbols[1:-1], np.arange(p - 1))   # a_1..a_{p-1} in order
        seen.add(tuple(symbols))
        n_x += symbols[0] == p - 1
    assert len(seen) == 2                                         # the training set has two sequences
    assert_proportion(n_x, n, 0.5, "2a class x")


def test_2b_sequences_and_frequencies(draw_mode):
    p = 20
    task = NoLocalRegularities(p)
    assert task.final_only_success and task.test_size == 10_000
    n = 4000
    counts = np.zeros(p + 1, dtype=int)
    first_middle = np.zeros(p + 1, dtype=int)
    same_as_previous = 0
    n_x = 0
    for x, target, mask in draw(task, n, 3, mode=draw_mode):
        assert x.shape == (p, p + 1) and mask.all()
        assert_one_hot(x)
        assert_one_hot(target)
        sx, st = decode_rows(x), decode_rows(target)
        np.testing.assert_array_equal(st[:-1], sx[1:])
        assert sx[0] in (p - 1, p) and st[-1] == sx[0]
        middle = sx[1:]
        counts += np.bincount(middle, minlength=p + 1)
        first_middle[middle[0]] += 1
        same_as_previous += int(np.sum(middle[1:] == middle[:-1]))
        n_x += sx[0] == p - 1
    uniform = np.r_[np.full(p - 1, 1 / (p - 1)), 0.0, 0.0]        # never x or y in the middle
    assert_frequencies(counts, uniform, "2b middle symbols")
    assert_frequencies(first_middle, uniform, "2b first middle symbol")
    # Independence of neighbours: P(equal) = 1/(p-1). For independent uniform symbols the
    # overlapping equality indicators are pairwise independent, so the count is binomial in variance.
    assert_proportion(same_as_previous, n * (p - 2), 1 / (p - 1), "2b repeats")
    assert_proportion(n_x, n, 0.5, "2b class x")


def test_2a_2b_encode():
    task = NoLocalRegularities(6)
    rng = np.random.default_rng(2)
    s = task.sample_symbols(rng)
    x, target, mask = task.encode(s)
    x2, t2, m2 = task.sample(np.random.default_rng(2))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(target, t2)
    with pytest.raises(ValueError, match="symbols"):
        task.encode(np.r_[5, s[1:-1], 6])                     # first and last differ
    with pytest.raises(ValueError, match="symbols"):
        task.encode(s[:-1])
    with pytest.raises(ValueError, match="symbols"):
        task.encode(np.r_[5, s[1:-2], 5, 5])                  # x inside the middle
    with pytest.raises(TypeError, match="symbols"):
        task.encode(s.astype(float))
    two_a = NoiseFreeLongLag(6)
    two_a.encode([6, 0, 1, 2, 3, 4, 6])
    with pytest.raises(ValueError, match="symbols"):
        two_a.encode([6, 0, 1, 3, 2, 4, 6])                   # 2a middle is fixed


# ---------------------------------------------------------------------------- 2c
def parse_2c(task: VeryLongLag, x: np.ndarray, target: np.ndarray, mask: np.ndarray):
    """Check the structure of one 2c sequence from x alone; return (class unit, distractors)."""
    p, q = task.p, task.q
    assert_one_hot(x)
    s = decode_rows(x)
    assert len(s) >= q + 3
    assert s[0] == p + 1                                     # b
    assert s[1] in (p + 2, p + 3)                            # x or y
    assert s[-1] == p                                        # e is the last input
    distractors = s[2:-1]
    assert distractors.size >= q and (distractors < p).all()  # only a_1..a_p in between
    assert mask[-1] and mask.sum() == 1
    expected = np.zeros(2)
    expected[s[1] - (p + 2)] = 1                             # unit 0 = x, unit 1 = y
    np.testing.assert_array_equal(target[-1], expected)
    return s[1] - (p + 2), distractors


def test_2c_structure_lengths_and_distractors(draw_mode):
    p, q, n = 5, 20, 20_000
    task = VeryLongLag(p, q)
    assert task.n_in == p + 4 and task.n_out == 2
    assert (task.e_index, task.b_index, task.x_index, task.y_index) == (p, p + 1, p + 2, p + 3)
    lengths = np.empty(n)
    n_x = 0
    counts = np.zeros(p, dtype=int)
    for i, (x, target, mask) in enumerate(draw(task, n, 11, mode=draw_mode)):
        cls, distractors = parse_2c(task, x, target, mask)
        lengths[i] = len(x) + 1                              # symbols per sequence
        n_x += cls == 0
        counts += np.bincount(distractors, minlength=p)
    k = lengths - (q + 4)                                    # extra distractors before e
    assert k.min() == 0 and task.min_length == q + 3
    # Trigger probability 1/10 after the prefix: k is geometric, P(k) = 0.1 * 0.9^k.
    assert_proportion(int(np.sum(k == 0)), n, 0.1, "P(k = 0)")
    assert_proportion(int(np.sum(k >= 10)), n, 0.9 ** 10, "P(k >= 10)")
    # E[symbols] = 4 + sum_k 0.1 * 0.9^k (q + k) = q + 13, with Var(k) = 0.9 / 0.1^2 = 90.
    assert_mean(lengths, q + 13, 90.0, "2c mean length")
    # The paper states the same sum as "q + 14": 15 standard errors away from what its recipe gives.
    assert abs(lengths.mean() - (q + 14)) > 10 * math.sqrt(90.0 / n)
    assert task.mean_length == q + 12                          # in steps (symbols - 1)
    # Distractor index bound read as <= p: uniform over a_1..a_p, (q + 9) / p per symbol per sequence.
    assert_frequencies(counts, np.full(p, 1 / p), "2c distractors")
    per_seq = counts.sum() / n                                 # q + k distractors: mean q + 9
    assert abs(per_seq - (q + 9)) <= Z * math.sqrt(90.0 / n)
    assert_proportion(n_x, n, 0.5, "2c class x")


def test_2c_paper_size_and_encode():
    task = VeryLongLag(50, 50)
    rng = np.random.default_rng(4)
    for _ in range(200):
        s = task.sample_symbols(rng)
        x, target, mask = task.encode(s)
        parse_2c(task, x, target, mask)
        assert x.shape == (len(s) - 1, 54)
    s = VeryLongLag(50, 50).sample_symbols(np.random.default_rng(9))
    np.testing.assert_array_equal(task.encode(s)[0], task.sample(np.random.default_rng(9))[0])
    bad = s.copy()
    bad[-2] = 3
    with pytest.raises(ValueError, match="symbols"):
        task.encode(bad)                                     # no e before the end
    bad = s.copy()
    bad[-1] = task.x_index + task.y_index - s[1]
    with pytest.raises(ValueError, match="symbols"):
        task.encode(bad)                                     # last symbol differs from the second
    with pytest.raises(ValueError, match="symbols"):
        task.encode(np.r_[s[:2], s[-2:]])                    # shorter than q + 4
    with pytest.raises(ValueError, match="symbols"):
        task.encode(np.r_[s[:2], s[2:-2] * 0 + 99, s[-2:]])  # out of range


# ---------------------------------------------------------------------------- 3a / 3b / 3c
def check_lengths(lengths, T):
    lo, hi = T, T + T // 10
    values = np.arange(lo, hi + 1)
    counts = np.array([np.sum(lengths == v) for v in values])
    assert counts.sum() == len(lengths)                      # nothing outside [T, T + T // 10]
    assert_frequencies(counts, np.full(len(values), 1 / len(values)), f"lengths {lo}..{hi}")


@pytest.fixture(scope="module")
def two_sequence_samples(draw_mode):
    n = 6000
    return {v: draw(TwoSequence(100, 3, v), n, 21, full=True, mode=draw_mode) for v in ("3a", "3b", "3c")}


@pytest.mark.parametrize("variant", ["3a", "3b", "3c"])
def test_two_sequence_lengths_and_balance(two_sequence_samples, variant):
    samples = two_sequence_samples[variant]
    check_lengths(np.array([len(s.x) for s in samples]), 100)
    n_pos = sum(s.sign == 1 for s in samples)
    assert_proportion(n_pos, len(samples), 0.5, "class 1")


def test_two_sequence_length_range_ends_small_T(draw_mode):
    lengths = np.array([len(x) for x, _, _ in draw(TwoSequence(30, 2, "3a"), 2000, 2, mode=draw_mode)])
    check_lengths(lengths, 30)                                # 30..33, both ends included
    lengths = np.array([len(x) for x, _, _ in draw(TwoSequence(1000, 1, "3a"), 200, 2, mode=draw_mode)])
    assert lengths.min() >= 1000 and lengths.max() <= 1100


@pytest.mark.parametrize("variant", ["3a", "3c"])
def test_two_sequence_clean_inputs_and_targets(two_sequence_samples, variant):
    N = 3
    samples = two_sequence_samples[variant]
    task = TwoSequence(100, N, variant)
    noise = []
    for s in samples:
        info = s.x[:N, 0]
        assert (info == info[0]).all() and info[0] in (1.0, -1.0)   # noise-free information elements
        sign = int(info[0])
        assert sign == s.sign
        noise.append(s.x[N:, 0])
        pos, neg = (1.0, 0.0) if variant == "3a" else (0.2, 0.8)
        assert s.clean_target[-1, 0] == (pos if sign > 0 else neg)
        assert not s.clean_target[:-1].any()
        if variant == "3a":
            assert s.target is s.clean_target or np.array_equal(s.target, s.clean_target)
    assert task.class_targets == ((1.0, 0.0) if variant == "3a" else (0.2, 0.8))
    assert_gaussian_variance(np.concatenate(noise), 0.2, f"{variant} input noise")
    assert_mean(np.concatenate(noise), 0.0, 0.2, f"{variant} input noise mean")


def test_3b_information_noise(two_sequence_samples):
    N = 3
    samples = two_sequence_samples["3b"]
    residuals = np.concatenate([s.x[:N, 0] - s.sign for s in samples])
    assert_gaussian_variance(residuals, 0.2, "3b information noise")
    assert_gaussian_variance(np.concatenate([s.x[N:, 0] for s in samples]), 0.2, "3b noise")
    # The sign of a noisy information element disagrees with the class with P = Phi(-1/sqrt(0.2)).
    flips = int(np.sum(np.sign(residuals + np.repeat([s.sign for s in samples], N))
                       != np.repeat([s.sign for s in samples], N)))
    assert_proportion(flips, residuals.size, 0.5 * math.erfc(1 / math.sqrt(0.2) / math.sqrt(2)), "3b flips")
    for s in samples:
        assert s.target[-1, 0] == (1.0 if s.sign > 0 else 0.0)
        np.testing.assert_array_equal(s.target, s.clean_target)


def test_3c_target_noise(two_sequence_samples):
    samples = two_sequence_samples["3c"]
    task = TwoSequence(100, 3, "3c")
    assert task.target_noise_variance == 0.1 and task.success_uses_clean_target
    diff = np.array([s.target[-1, 0] - s.clean_target[-1, 0] for s in samples])
    assert_mean(diff, 0.0, 0.1, "3c target noise mean")
    assert_gaussian_variance(diff, 0.1, "3c target noise")
    for s in samples[:200]:
        assert not s.target[:-1].any()
    # the noise is drawn afresh: no two sequences share it
    assert len(np.unique(diff)) == len(diff)


def test_two_sequence_attributes():
    assert TwoSequence(100, 1, "3a").stop_max_misclassified == 0
    assert TwoSequence(100, 1, "3b").stop_max_misclassified == 5     # "fewer than 6 of 256"
    assert [TwoSequence(100, 1, v).stop_mean_abs_error for v in ("3a", "3b", "3c")] == [0.01, 0.04, 0.015]
    t = TwoSequence(1000, 3, "3b")
    assert (t.min_length, t.max_length, t.info_noise, t.input_noise_variance) == (1000, 1100, True, 0.2)


# ---------------------------------------------------------------------------- 4 / 5
@pytest.fixture(scope="module")
def marked_samples(draw_mode):
    n = 20_000
    return {cls: draw(cls(100), n, 31, full=True, mode=draw_mode) for cls in (Adding, Multiplication)}


def recompute_marked_target(cls, x: np.ndarray) -> float:
    """Target from x alone: visibly marked values; a missing one (first pair marked) is neutral."""
    vals = x[x[:, 1] == 1.0, 0]
    assert len(vals) in (1, 2)
    if cls is Adding:
        return 0.5 + vals.sum() / 4.0
    return float(np.prod(vals))


@pytest.mark.parametrize("cls", [Adding, Multiplication])
def test_marked_structure_and_targets(marked_samples, cls):
    T = 100
    task = cls(T)
    samples = marked_samples[cls]
    n = len(samples)
    lo, hi = task.value_range
    assert (lo, hi) == ((-1.0, 1.0) if cls is Adding else (0.0, 1.0))
    check_lengths(np.array([len(s.x) for s in samples]), T)
    visible = np.zeros(T + T // 10, dtype=int)
    n_single = 0
    lags = []
    values = []
    targets = []
    for s in samples:
        x = s.x
        L = len(x)
        assert x[0, 1] == -1.0 and x[-1, 1] == -1.0
        assert set(np.unique(x[1:-1, 1])) <= {0.0, 1.0}
        marked = np.flatnonzero(x[:, 1] == 1.0)
        assert len(marked) in (1, 2)
        n_single += len(marked) == 1
        visible[marked] += 1
        assert s.target[-1, 0] == pytest.approx(recompute_marked_target(cls, x), abs=1e-15)
        # sample_full's bookkeeping agrees with x
        assert s.positions[0] < s.positions[1]
        assert set(marked) == set(s.positions) - {0}
        assert (s.positions[0] == 0) == (len(marked) == 1)
        if s.positions[0] == 0:
            assert s.operands[0] == task.first_pair_operand
        lags.append(L - 1 - s.positions[1])
        values.append(x[:, 0])
        targets.append(s.target[-1, 0])
    # Row 0 is marked by the first draw (1/10) or by the second (9/10 * 1/(T/2 - 1)); then only one
    # pair shows the marker 1.0.
    h = T // 2
    p0 = 0.1 + 0.9 / (h - 1)
    assert_proportion(n_single, n, p0, "first pair marked")
    # Visible marks per row: rows 1..9 as row 0; rows 10..h-1 only by the second draw; none later.
    for i in range(len(visible)):
        p = p0 if i < 10 else (1 / (h - 1) if i < h else 0.0)
        if i == 0:
            assert visible[0] == 0
            continue
        assert_proportion(int(visible[i]), n, p, f"row {i} marked")
    # Minimal lag T - T//2 = 50 (Table 7), attained.
    assert min(lags) == task.min_lag == T - h
    values = np.concatenate(values)
    assert values.min() >= lo and values.max() < hi
    assert_mean(values, (lo + hi) / 2, (hi - lo) ** 2 / 12, "values")
    assert_mean(values ** 2, (lo * lo + lo * hi + hi * hi) / 3, None, "values^2")
    targets = np.array(targets)
    if cls is Adding:
        # 0.5 + (X1 + X2)/4: mean 0.5; variance (2/3 (1 - p0) + 1/3 p0) / 16
        assert_mean(targets, 0.5, ((2 / 3) * (1 - p0) + (1 / 3) * p0) / 16, "adding target")
        assert targets.min() >= 0.0 and targets.max() <= 1.0
    else:
        # E[X1 X2] = 1/4 (both marked) or 1/2 (X1 := 1)
        assert_mean(targets, 0.25 * (1 - p0) + 0.5 * p0, None, "multiplication target")
        assert targets.min() >= 0.0 and targets.max() <= 1.0


def test_marked_first_pair_operands():
    assert Adding.first_pair_operand == 0.0 and Multiplication.first_pair_operand == 1.0
    assert Adding.combine(0.2, -0.6) == pytest.approx(0.4)
    assert Multiplication.combine(0.5, 0.3) == pytest.approx(0.15)
    assert Adding(100).describe() and Multiplication.stop_n_seq == (140, 13)


def test_marked_small_and_large_T(draw_mode):
    for T in (20, 21, 1000):
        task = Adding(T)
        for s in draw(task, 300, T, full=True, mode=draw_mode):
            L = len(s.x)
            assert T <= L <= T + T // 10
            assert s.positions[1] <= T // 2 - 1 and s.positions[0] <= 9
            assert L - 1 - s.positions[1] >= task.min_lag


# ---------------------------------------------------------------------------- 6a / 6b
A, B_, C, D, B, E, X, Y = range(8)


@pytest.mark.parametrize("variant, ranges, n_out", [
    ("6a", [(10, 20), (50, 60)], 4),
    ("6b", [(10, 20), (33, 43), (66, 76)], 8),
])
def test_temporal_order(variant, ranges, n_out, draw_mode):
    task = TemporalOrder(variant)
    assert task.n_in == 8 and task.n_out == n_out
    assert task.alphabet == ("a", "b", "c", "d", "B", "E", "X", "Y")
    assert task.min_lag == 100 - ranges[-1][1]                          # Table 10: 40 and 24
    n = 10_000
    lengths = np.empty(n, dtype=int)
    rows = np.empty((n, len(ranges)), dtype=int)
    classes = np.zeros(n_out, dtype=int)
    distractors = np.zeros(8, dtype=int)
    for i, s in enumerate(draw(task, n, 41 + len(ranges), full=True, mode=draw_mode)):
        x, target, mask = s.x, s.target, s.mask
        assert_one_hot(x)
        sym = decode_rows(x)
        L = len(sym)
        lengths[i] = L
        assert sym[0] == E and sym[-1] == B
        assert np.sum(sym == E) == 1 and np.sum(sym == B) == 1
        rel = np.flatnonzero((sym == X) | (sym == Y))
        assert len(rel) == len(ranges)
        rows[i] = rel
        assert tuple(rel) == s.rows
        # class recomputed from x: X = 0, Y = 1, first relevant symbol most significant
        label = 0
        for r in rel:
            label = 2 * label + int(sym[r] == Y)
        assert s.label == label
        expected = np.zeros(n_out)
        expected[label] = 1
        np.testing.assert_array_equal(target[-1], expected)
        assert mask[-1] and mask.sum() == 1 and not target[:-1].any()
        classes[label] += 1
        others = np.delete(sym, np.r_[0, rel, L - 1])
        distractors += np.bincount(others, minlength=8)
    check_lengths(lengths, 100)                                            # 100..110 inclusive
    # 1-based positions t in [lo, hi] = 0-based rows lo-1 .. hi-1, uniform
    for j, (lo, hi) in enumerate(ranges):
        counts = np.bincount(rows[:, j], minlength=hi)
        assert counts[: lo - 1].sum() == 0 and len(counts) == hi
        assert_frequencies(counts[lo - 1:], np.full(hi - lo + 1, 1 / (hi - lo + 1)), f"{variant} t{j + 1}")
    assert_frequencies(classes, np.full(n_out, 1 / n_out), f"{variant} classes")
    assert_frequencies(distractors, [0.25] * 4 + [0.0] * 4, f"{variant} distractors")
    assert task.class_names == ("QRSU" if variant == "6a" else "QRSUVABC")
