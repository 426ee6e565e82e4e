"""Embedded Reber grammar: generator, coding, data sets and the success test (Experiment 1).

Nothing here needs the compiled network: Exp. 1 in the trial engine is exercised with a stand-in
model family.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import numpy as np
import pytest

from lstmcore.experiments import run_trial
from lstmcore.experiments.reber import ReberCheck, make_reber_sets, reber_correct, reber_sets
from lstmcore.tasks import EmbeddedReber

ALPHABET = "BTPSXVE"

# Independent recogniser. Inner Reber graph: 0 -T-> 1, 0 -P-> 5; 1 -S-> 1, 1 -X-> 2;
# 2 -S-> end, 2 -X-> 5; 5 -T-> 5, 5 -V-> 4; 4 -V-> end, 4 -P-> 2. From 1, S*X reaches 2; from 5,
# T*V reaches 4; 2 -XT*V-> 4 and 4 -P-> 2 form the only other cycle.
INNER = r"B(?:TS*X(?:XT*VP)*(?:S|XT*VV)|PT*V(?:PXT*V)*(?:V|PS))E"
EMBEDDED = re.compile(r"B([TP])" + INNER + r"\1E")

# The same graph as an edge list, for exact computations.
EDGES = {0: [("T", 1), ("P", 5)], 1: [("S", 1), ("X", 2)], 2: [("S", "end"), ("X", 5)],
         5: [("T", 5), ("V", 4)], 4: [("V", "end"), ("P", 2)]}

N_STAT = 20_000


def accepts(s: str) -> bool:
    return EMBEDDED.fullmatch(s) is not None


def exact_mean_length() -> float:
    """E[length] of an embedded string: 6 fixed symbols + expected inner path length from node 0."""
    nodes = sorted(EDGES)
    k = {n: i for i, n in enumerate(nodes)}
    # e_n = 1 + sum_edges 0.5 * e_dest   (e_end = 0)
    a = np.eye(len(nodes))
    b = np.ones(len(nodes))
    for n, edges in EDGES.items():
        for _, dest in edges:
            if dest != "end":
                a[k[n], k[dest]] -= 0.5
    e = np.linalg.solve(a, b)
    return 6.0 + e[k[0]]


def enumerate_language(max_len: int) -> list:
    """All embedded Reber strings of length <= max_len, by search over the edge list."""
    paths = []
    stack = [("", 0)]
    while stack:
        path, node = stack.pop()
        if node == "end":
            paths.append(path)
            continue
        if len(path) + 6 >= max_len:  # one more symbol would exceed max_len
            continue
        for sym, dest in EDGES[node]:
            stack.append((path + sym, dest))
    return ["B" + c + "B" + p + "E" + c + "E" for p in paths for c in "TP"]


def batch_strings(task, rng, n):
    """The strings of one sample_batch call, read back from its one-hot inputs (x is the string
    without its last symbol, which is always E)."""
    batch = task.sample_batch(rng, n)
    assert batch.n == n and batch.mask.all()
    symbols = batch.x.argmax(axis=1)
    return ["".join(ALPHABET[j] for j in symbols[a:b]) + "E" for a, b in zip(batch.offsets[:-1], batch.offsets[1:])]


@pytest.fixture(scope="module", params=["sample", "batch"])
def samples(request):
    """N_STAT strings from sample_string, or from one sample_batch call: the statistical checks
    below hold both generators to the grammar."""
    task = EmbeddedReber()
    rng = np.random.default_rng(12345)
    if request.param == "batch":
        return batch_strings(task, rng, N_STAT)
    return [task.sample_string(rng) for _ in range(N_STAT)]


@pytest.mark.parametrize("targets", ["next", "legal"])
def test_sample_batch_codes_its_strings_as_encode_does(targets):
    task = EmbeddedReber(targets, dtype=np.float32)
    batch = task.sample_batch(np.random.default_rng(3), 300)
    assert batch.x.dtype == batch.target.dtype == np.float32
    strings = batch_strings(task, np.random.default_rng(3), 300)
    np.testing.assert_array_equal(batch.info["second"], [ALPHABET.index(w[1]) for w in strings])
    for i, w in enumerate(strings):
        x, target, mask = task.encode(w)
        got = batch.sequence(i)
        np.testing.assert_array_equal(got[0], x)
        np.testing.assert_array_equal(got[1], target)
        np.testing.assert_array_equal(got[2], mask)


@pytest.fixture(scope="module")
def language():
    strings = enumerate_language(20)
    succ: dict = {}
    for w in strings:
        for k in range(1, len(w)):
            succ.setdefault(w[:k], set()).add(w[k])
    return strings, succ


# ---------------------------------------------------------------------------- the grammar
def test_recogniser_sanity():
    for s in ["BTBTSSXXTVVETE", "BPBPVVEPE", "BTBTXXVPSETE", "BTBTXSETE"]:
        assert accepts(s)
    for s in ["BTBTXSEPE", "BTBTXSET", "TBTXSETE", "BTBTXXETE", "BTBTSSETE", ""]:
        assert not accepts(s)


def test_language_enumeration_agrees_with_recogniser(language):
    strings, _ = language
    assert len(strings) == len(set(strings)) > 1000
    assert all(accepts(s) for s in strings)
    assert min(map(len, strings)) == 9
    assert sorted(s for s in strings if len(s) == 9) == ["BPBPVVEPE", "BPBTXSEPE", "BTBPVVETE", "BTBTXSETE"]


def test_samples_are_in_the_language(samples):
    task = EmbeddedReber()
    for s in samples:
        assert accepts(s), s
        assert task.is_valid(s)
        assert s[0] == "B" and s[-1] == "E"
        assert s[1] == s[-2] and s[1] in "TP"
        assert s[2] == "B" and s[-3] == "E"
        assert len(s) >= 9


def test_is_valid_rejects():
    task = EmbeddedReber()
    for s in ["BTBTXSEPE", "BTBTXSETEE", "BTBTXSET", "", "BTBTXSETA", "BTBTXSETE" + "B"]:
        assert not task.is_valid(s)
    with pytest.raises(TypeError, match="string"):
        task.is_valid(123)


def test_second_symbol_is_fair(samples):
    n_t = sum(s[1] == "T" for s in samples)
    p = n_t / N_STAT
    assert abs(p - 0.5) < 4 * np.sqrt(0.25 / N_STAT), p
    # The first inner choice (T|P) is fair too, and independent of the outer one.
    both = Counter((s[1], s[3]) for s in samples)
    for key in [("T", "T"), ("T", "P"), ("P", "T"), ("P", "P")]:
        q = both[key] / N_STAT
        assert abs(q - 0.25) < 4 * np.sqrt(0.25 * 0.75 / N_STAT), (key, q)


def test_mean_length_matches_exact_expectation(samples):
    mu = exact_mean_length()
    assert mu == pytest.approx(12.0)
    assert EmbeddedReber.mean_length == pytest.approx(mu)
    lengths = np.array([len(s) for s in samples], dtype=float)
    se = lengths.std(ddof=1) / np.sqrt(len(lengths))
    assert abs(lengths.mean() - mu) < 5 * se, (lengths.mean(), mu, se)


def test_shortest_string_probability(samples):
    # P("BTBTXSETE") = P(c=T) P(T) P(X) P(S) = 1/16
    f = sum(s == "BTBTXSETE" for s in samples) / N_STAT
    assert abs(f - 1 / 16) < 5 * np.sqrt((1 / 16) * (15 / 16) / N_STAT), f


def test_fixed_seed_reproducible():
    task = EmbeddedReber()
    a = [task.sample_string(np.random.default_rng(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    r1, r2 = np.random.default_rng(99), np.random.default_rng(99)
    s1 = [task.sample(r1) for _ in range(50)]
    s2 = [task.sample(r2) for _ in range(50)]
    for (x1, t1, m1), (x2, t2, m2) in zip(s1, s2):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(m1, m2)
    r4, r5 = np.random.default_rng(99), np.random.default_rng(100)
    assert [task.sample_string(r4) for _ in range(50)] != [task.sample_string(r5) for _ in range(50)]


# ---------------------------------------------------------------------------- coding
def decode(rows: np.ndarray) -> str:
    return "".join(ALPHABET[i] for i in rows.argmax(axis=1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_hot_coding(dtype):
    task = EmbeddedReber(dtype=dtype)
    assert task.n_in == task.n_out == 7 and task.alphabet == ALPHABET
    rng = np.random.default_rng(3)
    for _ in range(200):
        s = task.sample_string(rng)
        x, target, mask = task.encode(s)
        n = len(s)
        assert x.shape == (n - 1, 7) and target.shape == (n - 1, 7) and mask.shape == (n - 1,)
        assert x.dtype == dtype and target.dtype == dtype and mask.dtype == np.bool_
        assert mask.all()
        for a in (x, target):
            assert set(np.unique(a)) <= {0.0, 1.0}
            np.testing.assert_array_equal(a.sum(axis=1), 1)
        assert decode(x) == s[:-1]
        assert decode(target) == s[1:]
    x, target, mask = task.sample(np.random.default_rng(4))
    assert x.shape[1] == 7 and x.shape == target.shape and mask.shape == (x.shape[0],)


def test_one_hot_positions():
    x = EmbeddedReber().one_hot("BTPSXVE")
    np.testing.assert_array_equal(x, np.eye(7))


def test_legal_next_matches_grammar(language, samples):
    strings, succ = language
    task = EmbeddedReber()
    short = [s for s in strings if len(s) <= 12] + [s for s in samples[:2000] if len(s) <= 12]
    assert len(short) > 100
    for s in short:
        legal = task.legal_next(s)
        assert legal.shape == (len(s) - 1, 7) and legal.dtype == np.bool_
        for t in range(len(s) - 1):
            expected = succ[s[: t + 1]]
            got = {ALPHABET[i] for i in np.flatnonzero(legal[t])}
            assert got == expected, (s, t, got, expected)


def test_legal_next_contains_actual_next_and_long_lag(samples):
    task = EmbeddedReber()
    for s in samples[:3000]:
        legal = task.legal_next(s)
        idx = [ALPHABET.index(c) for c in s[1:]]
        assert legal[np.arange(len(s) - 1), idx].all()
        # symbol before last: a single legal symbol, the second one of the string
        assert legal[len(s) - 3].sum() == 1 and legal[len(s) - 3, ALPHABET.index(s[1])]
        # the step after B and after the inner B: T or P
        assert {ALPHABET[i] for i in np.flatnonzero(legal[0])} == {"T", "P"}
        assert {ALPHABET[i] for i in np.flatnonzero(legal[2])} == {"T", "P"}
        assert legal[-1].sum() == 1 and legal[-1, ALPHABET.index("E")]


def test_legal_targets():
    task = EmbeddedReber("legal")
    s = "BPBTSXXVPSEPE"
    x, target, mask = task.encode(s)
    np.testing.assert_array_equal(target, task.legal_next(s).astype(np.float64))
    assert decode(x) == s[:-1]
    x2, t2, _ = EmbeddedReber("next").encode(s)
    np.testing.assert_array_equal(x, x2)
    assert decode(t2) == s[1:]


# ---------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("bad", [None, 0, np.random.RandomState(0), np.random.default_rng(0).bit_generator])
def test_bad_rng_raises_type_error(bad):
    task = EmbeddedReber()
    with pytest.raises(TypeError, match="rng"):
        task.sample(bad)
    with pytest.raises(TypeError, match="rng"):
        task.sample_string(bad)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="targets"):
        EmbeddedReber("onehot")
    with pytest.raises(TypeError, match="targets"):
        EmbeddedReber(1)
    with pytest.raises(ValueError, match="dtype"):
        EmbeddedReber(dtype=np.int32)


def test_bad_strings():
    task = EmbeddedReber()
    with pytest.raises(ValueError, match="string"):
        task.encode("BTBTXSEPE")          # second and second-to-last differ
    with pytest.raises(ValueError, match="ends after"):
        task.legal_next("BTBTXS")
    with pytest.raises(ValueError, match="symbol 3"):
        task.legal_next("BTBSXSETE")
    with pytest.raises(ValueError, match="has 10"):
        task.legal_next("BTBTXSETEE")
    with pytest.raises(ValueError, match="'A'"):
        task.encode("BTBTXSATE")
    with pytest.raises(TypeError, match="string"):
        task.encode(list("BTBTXSETE"))


# ---------------------------------------------------------------------------- data sets
def test_sets_sizes_disjoint_distinct():
    train, test = make_reber_sets(0)
    assert len(train) == 256 and len(test) == 256
    assert len(set(train)) == 256 and len(set(test)) == 256
    assert not set(train) & set(test)
    assert all(accepts(s) for s in train + test)


def test_sets_reproducible_and_seed_dependent():
    assert make_reber_sets(5, 64, 32) == make_reber_sets(5, 64, 32)
    assert make_reber_sets(5, 64, 32) != make_reber_sets(6, 64, 32)


def test_sets_with_repeats():
    train, test = make_reber_sets(1, 256, 256, distinct=False)
    assert len(train) == 256 and len(test) == 256
    assert len(set(train)) < 256          # "BTBTXSETE" alone has probability 1/16
    assert not set(train) & set(test)
    # test strings are drawn from the language minus the training set: repeats are allowed
    assert all(accepts(s) for s in train + test)


def test_sets_test_strings_are_longer_on_average():
    # Removing the training strings removes the most probable (short) strings from the test set.
    train, test = make_reber_sets(2)
    assert np.mean([len(s) for s in test]) > np.mean([len(s) for s in train])


def test_sets_bad_arguments():
    with pytest.raises(ValueError, match="train_size"):
        make_reber_sets(0, 0)
    with pytest.raises(TypeError, match="data_seed"):
        make_reber_sets(1.5)
    with pytest.raises(ValueError, match="data_seed"):
        make_reber_sets(-1)
    with pytest.raises(TypeError, match="distinct"):
        make_reber_sets(0, distinct="yes")


# ---------------------------------------------------------------------------- the success test
def test_reber_correct_hand_made():
    legal = np.array([
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 1, 0, 0],
        [1, 1, 1, 1],
        [1, 0, 1, 0],
    ], dtype=bool)
    outputs = np.array([
        [0.9, 0.8, 0.1, 0.0],    # both legal on top
        [0.9, 0.2, 0.3, 0.0],    # one legal below an illegal: strict fails, argmax passes
        [0.2, 0.1, 0.9, 0.0],    # illegal on top: both fail
        [0.1, 0.2, 0.2, 0.0],    # tie between legal and illegal: both fail
        [0.1, 0.2, 0.19, 0.0],   # single legal on top
        [0.0, 0.0, 0.0, 0.0],    # everything legal
        [0.5, 0.6, 0.7, 0.4],    # legal 0.5, 0.7; illegal 0.6 on 2nd place: strict fails
    ])
    np.testing.assert_array_equal(reber_correct(outputs, legal, "strict"),
                                  [True, False, False, False, True, True, False])
    np.testing.assert_array_equal(reber_correct(outputs, legal, "argmax"),
                                  [True, True, False, False, True, True, True])
    np.testing.assert_array_equal(reber_correct(outputs, legal), reber_correct(outputs, legal, "strict"))


def test_reber_correct_nan_fails():
    legal = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0]], dtype=bool)
    out = np.array([[np.nan, 0, 0], [1, np.nan, 0], [1, np.nan, 0]])
    for test in ("strict", "argmax"):
        assert not reber_correct(out, legal, test)[:2].any()
    assert not reber_correct(out, legal, "strict")[2]


def test_reber_correct_agrees_with_sorting():
    rng = np.random.default_rng(0)
    out = rng.random((2000, 7))
    legal = rng.random((2000, 7)) < 0.3
    legal[np.arange(2000), rng.integers(0, 7, 2000)] = True
    strict = reber_correct(out, legal, "strict")
    amax = reber_correct(out, legal, "argmax")
    for o, l, s, a in zip(out, legal, strict, amax):
        k = l.sum()
        top = set(np.argsort(-o)[:k])
        assert s == (top == set(np.flatnonzero(l)))
        assert a == l[np.argmax(o)]
    assert (strict <= amax).all()


def test_reber_correct_bad_arguments():
    out = np.zeros((3, 7))
    legal = np.ones((3, 7), dtype=bool)
    with pytest.raises(ValueError, match="test"):
        reber_correct(out, legal, "loose")
    with pytest.raises(ValueError, match="legal"):
        reber_correct(out, legal[:2])
    with pytest.raises(TypeError, match="legal"):
        reber_correct(out, legal.astype(float))
    with pytest.raises(ValueError, match="outputs"):
        reber_correct(out[0], legal[0])
    legal2 = legal.copy()
    legal2[1] = False
    with pytest.raises(ValueError, match="row 1"):
        reber_correct(out, legal2)


# ---------------------------------------------------------------------------- Exp. 1 in the trial engine
class OracleModel:
    """A model family of its own (the registry's ``net`` is any object with ``build``): it outputs
    the legal next symbols once it has trained ``learn_after`` sequences, so the Exp. 1 protocol's
    bookkeeping in the trial engine can be checked exactly."""

    instances: list = []

    def __init__(self, family, seed):
        self.family, self.seed = family, seed
        train, test = make_reber_sets(family.data_seed, family.train_size, family.test_size)
        task = EmbeddedReber()
        self.table = {task.one_hot(w[:-1]).tobytes(): task.legal_next(w) for w in train + test}
        self.seen = self.steps = 0
        self.n_weights = 276
        self.rng = np.random.default_rng(0)
        OracleModel.instances.append(self)

    def train_batch(self, x, target, mask, offsets, *, lr, update, last_error=False):
        assert x.shape == target.shape and x.shape[1] == 7 and offsets[-1] == len(x)
        n = len(offsets) - 1
        self.seen += n
        self.steps += int(offsets[-1])
        return np.full(n, 0.5), None

    def forward_batch(self, x, offsets, num_threads=None):
        if self.seen < self.family.learn_after:
            return self.rng.random((len(x), 7)) * 0.01
        return np.concatenate([self.table[x[a:b].tobytes()] * 0.8 + 0.1 for a, b in zip(offsets[:-1], offsets[1:])])

    def get_weights(self):
        return {}

    def set_weights(self, w):
        pass


@dataclasses.dataclass(frozen=True)
class OracleFamily:
    learn_after: int
    data_seed: int
    train_size: int = 64
    test_size: int = 32

    def build(self, seed, dtype=np.float64):
        return OracleModel(self, seed)


def oracle_experiment(learn_after, data_seed=3, init_seed=4, max_sequences=5000, check_every=100, train_size=64,
                      test_size=32):
    from lstmcore.experiments import EXPERIMENTS

    e = EXPERIMENTS["1-3x2-lr0.5"]
    return dataclasses.replace(
        e, net=OracleFamily(learn_after, data_seed, train_size, test_size), max_sequences=max_sequences,
        check_every=check_every, test_size=test_size,
        options=dict(e.options, train_size=train_size, data_seed=data_seed, init_seed=init_seed))


def test_trial_success_detection_and_counts():
    OracleModel.instances.clear()
    r = run_trial(oracle_experiment(1234))
    model = OracleModel.instances[-1]
    assert r["success"] and r["sequences"] == 1300 and model.seen == 1300
    assert r["steps"] == model.steps and model.seed == 4           # the net of init_seed
    assert r["details"]["checks"] == 13 and len(r["curve"]) == 13
    d = r["details"]
    assert d["final"]["step_accuracy"] == 1.0 and d["final"]["string_accuracy"] == 1.0 and d["long_lag_correct"]
    assert (d["data_seed"], d["init_seed"]) == (3, 4)
    train, _ = make_reber_sets(3, 64, 32)
    assert d["mean_train_len"] == pytest.approx(np.mean([len(w) for w in train]))
    assert all(p[1] == pytest.approx(0.5) for p in r["curve"]) and r["n_weights"] == 276


def test_trial_failure_uses_whole_budget_and_order_is_seeded():
    OracleModel.instances.clear()
    r = run_trial(oracle_experiment(10**9, data_seed=0, init_seed=1, max_sequences=250))
    assert not r["success"] and r["sequences"] == 250 and r["details"]["checks"] == 3
    assert r["details"]["final"]["step_accuracy"] < 0.5 and not r["details"]["long_lag_correct"]
    r2 = run_trial(oracle_experiment(10**9, data_seed=0, init_seed=1, max_sequences=250, check_every=7))
    assert r2["steps"] == r["steps"]          # the exemplar order does not depend on check_every
    r3 = run_trial(oracle_experiment(10**9, data_seed=0, init_seed=2, max_sequences=250))
    assert r3["steps"] != r["steps"]


def test_trial_zero_budget_checks_once():
    r = run_trial(oracle_experiment(0, data_seed=0, init_seed=0, max_sequences=0))
    assert r["success"] and r["sequences"] == 0 and r["details"]["checks"] == 1


def test_reber_check_tries_failing_strings_first_and_gives_the_full_verdict():
    sets = reber_sets(9, train_size=40, test_size=40)
    task = EmbeddedReber()
    train, test = make_reber_sets(9, 40, 40)
    strings = train + test
    table = {task.one_hot(w[:-1]).tobytes(): task.legal_next(w) * 0.8 + 0.1 for w in strings}
    bad_key = task.one_hot(test[5][:-1]).tobytes()
    table[bad_key] = table[bad_key].copy()
    table[bad_key][-2] = 1 - table[bad_key][-2]   # the long-lag step wrong in one test string

    class Det:
        calls = 0

        def forward_batch(self, x, offsets, num_threads=None):
            Det.calls += 1
            return np.concatenate([table[x[a:b].tobytes()] for a, b in zip(offsets[:-1], offsets[1:])])

    check = ReberCheck(sets, "strict", 1)
    ok = check.step_correct(Det())
    assert not ok.all() and ok.sum() == len(ok) - 1
    assert not check.check(Det()) and list(check.hard) == [45]   # string 40 + 5 is tried first next time
    Det.calls = 0
    assert not check.check(Det()) and Det.calls == 1            # one small call decides a failing check
    d = check.final_details(Det())
    assert not d["long_lag_correct"] and d["final"]["string_accuracy"] == pytest.approx(79 / 80)
    table[bad_key] = task.legal_next(test[5]) * 0.8 + 0.1
    assert check.check(Det()) and check.step_correct(Det()).all()
