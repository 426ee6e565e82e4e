"""Threads: separate objects used from several Python threads at once give exactly the results of
sequential use, the GIL is released while the core computes (two long calls overlap: shown with
flags observed by a probe thread, no clock), and concurrent use of ONE object is refused with a
clear RuntimeError that changes nothing."""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lstmcore


@pytest.fixture
def no_preemption():
    """A very long switch interval: a thread that holds the GIL keeps it until it blocks or a C
    extension releases it. Python code between setting a flag and entering a call is then never
    interrupted, so a flag another thread sees set means that call is running without the GIL."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def long_input(T=400_000, n_in=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(T, n_in))


def test_gil_is_released_and_two_forward_calls_overlap(no_preemption):
    nets = [lstmcore.LSTM1997(2, 2, 3, 2, seed=s) for s in (1, 2)]
    x = long_input()
    inside = [False, False]
    seen = {"one": 0, "both": 0}
    results = [None, None]
    stop = threading.Event()

    def work(i):
        inside[i] = True  # not preempted before the call (no_preemption)
        results[i] = nets[i].forward(x)
        inside[i] = False

    def probe():  # runs only when no other thread holds the GIL
        while not stop.is_set():
            if inside[0] or inside[1]:
                seen["one"] += 1
            if inside[0] and inside[1]:
                seen["both"] += 1
            time.sleep(0)  # let the workers take the GIL back

    p = threading.Thread(target=probe)
    p.start()
    workers = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    p.join()
    assert seen["one"] > 0, "the probe never ran while a forward call was in progress: the GIL was held"
    assert seen["both"] > 0, "the two forward calls never ran at the same time"
    for net, y in zip(nets, results):
        np.testing.assert_array_equal(y, net.forward(x))


def test_separate_lstm1997_objects_in_threads_equal_sequential():
    x = long_input(20_000, 3)
    target = np.random.default_rng(1).uniform(size=(20_000, 2))

    def job(seed):
        net = lstmcore.LSTM1997(3, 2, 2, 2, forget_gate=True, seed=seed)
        losses = [net.train_sequence(x[i:i + 2000], target[i:i + 2000], lr=0.1) for i in range(0, 20_000, 2000)]
        loss, grads = net.gradient(x[:500], target[:500], mode="full")
        return losses, net.get_weights(), net.forward(x), grads

    sequential = [job(s) for s in range(4)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(job, range(4)))
    for a, b in zip(sequential, threaded):
        assert a[0] == b[0]
        for da, db in zip(a[1:], b[1:]):
            if isinstance(da, dict):
                for k in da:
                    np.testing.assert_array_equal(da[k], db[k])
            else:
                np.testing.assert_array_equal(da, db)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_separate_lstm_layers_in_threads_equal_sequential(num_threads):
    x = np.random.default_rng(0).normal(size=(50, 40, 3)).astype(np.float32)

    def job(seed):
        layer = lstmcore.LSTM(3, 16, 2, bidirectional=True, seed=seed, num_threads=num_threads)
        out, (h, c) = layer(x)
        gx = layer.backward(np.ones_like(out))
        return [out, h, c, gx] + [layer.grads[k] for k in sorted(layer.grads)]

    sequential = [job(s) for s in range(3)]
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(job, range(3)))
    for a, b in zip(sequential, threaded):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def hammer(call_long, call_short, check_long):
    """Run call_long in a thread (retrying if it is itself refused) while this thread keeps calling
    call_short on the same object. Returns the refusals seen by call_short."""
    refusals = []
    done = threading.Event()
    errors = []

    def long_worker():
        try:
            while True:
                try:
                    check_long(call_long())
                    return
                except RuntimeError as exc:  # the short call held the object just then
                    assert "in use by another thread" in str(exc)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=long_worker)
    t.start()
    while not done.is_set():
        try:
            call_short()
        except RuntimeError as exc:
            refusals.append(str(exc))
        time.sleep(0.001)  # leave the object free most of the time: the long call must get in
    t.join()
    assert not errors, errors
    return refusals


def test_one_lstm1997_object_from_two_threads_is_refused_clearly():
    net = lstmcore.LSTM1997(2, 2, 3, 2, seed=0)
    x = long_input()
    expected = net.forward(x)
    weights = net.get_weights()
    short_x = x[:5]
    short_y = net.forward(short_x)

    def check_short():
        np.testing.assert_array_equal(net.forward(short_x), short_y)  # when allowed: right answer
        net.set_weights(weights)  # refused mid-way? then nothing was changed (checked below)

    refusals = hammer(lambda: net.forward(x), check_short,
                      lambda y: np.testing.assert_array_equal(y, expected))
    assert refusals, "no call was ever refused while a long call was running"
    assert all("in use by another thread" in r and "LSTM1997" in r for r in refusals)
    for k, w in net.get_weights().items():
        np.testing.assert_array_equal(w, weights[k])
    np.testing.assert_array_equal(net.forward(x), expected)  # the object still works


def test_one_lstm_layer_from_two_threads_is_refused_clearly():
    # Two stacked layers: without an object-level guard, a second thread could run layer 0 while the
    # first is in layer 1 and leave the first thread's backward with another input's cache.
    layer = lstmcore.LSTM(4, 32, 2, seed=0, num_threads=1)
    x = np.random.default_rng(0).normal(size=(200, 64, 4)).astype(np.float32)
    out, _ = layer(x)
    small = x[:3, :2]
    small_out, _ = layer(small)

    def check_short():
        np.testing.assert_array_equal(layer(small)[0], small_out)

    refusals = hammer(lambda: layer(x)[0], check_short, lambda o: np.testing.assert_array_equal(o, out))
    assert refusals and all("LSTM.forward: this object is in use by another thread" in r for r in refusals)
