"""Threads under faults: a forked child (os.fork, a multiprocessing fork pool) of a process whose
layers ran multi-threaded computes the same results with threads of its own instead of hanging;
num_threads is bounded by the machine's cores with a clear error; a process that cannot create the
threads it asks for (a memory limit) runs on those it can instead of being ended by the OpenMP
runtime. Every wait here has a timeout, so a regression fails instead of hanging."""
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import lstmcore
from lstmcore import _core

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")

# Large enough that forward really starts a team of 2 (about 2^20 multiply-adds per thread).
I, H, T, N = 64, 64, 32, 16


def make_layer(threads=2):
    return lstmcore.LSTM(I, H, seed=0, num_threads=threads)


def inputs():
    return np.random.default_rng(0).normal(size=(T, N, I)).astype(np.float32)


def forward_in_child(_):
    layer = make_layer()
    out = layer(inputs())[0]
    online = lstmcore.LSTM(I, H, seed=1, num_threads=2).online(64)
    online.run(np.ones((4, 64, I), np.float32), np.ones((4, 64, H), np.float32))
    return out, _core.usable_threads(2), _core.single_threaded_after_fork()


def test_fork_pool_after_the_parent_ran_threads():
    expected = make_layer()(inputs())[0]  # the parent starts a team of 2
    assert _core.usable_threads(2) == 2
    pool = multiprocessing.get_context("fork").Pool(2)
    try:
        results = pool.map_async(forward_in_child, range(4)).get(timeout=120)
    except multiprocessing.TimeoutError:  # pragma: no cover - the regression
        pytest.fail("a forked child hung in the OpenMP runtime")
    finally:
        pool.terminate()
        pool.join()
    for out, threads, single in results:
        np.testing.assert_array_equal(out, expected)
        assert threads == 2 and not single  # the child runs its own team, not one thread
    np.testing.assert_array_equal(make_layer()(inputs())[0], expected)  # the parent carries on


def wait_or_kill(pid, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)  # pragma: no cover - the regression
    os.waitpid(pid, 0)
    pytest.fail("a forked child hung in the OpenMP runtime")


def test_os_fork_after_the_parent_ran_threads_repeatedly():
    layer = make_layer()
    x = inputs()
    expected = layer(x)[0]
    for _ in range(3):  # the parent's pool is rebuilt after every fork
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                stream = layer.stream(N)
                same = np.array_equal(layer(x)[0], expected) and np.array_equal(stream.run(x), expected)
                code = 0 if same else 2
            finally:
                os._exit(code)
        assert wait_or_kill(pid) == 0
        np.testing.assert_array_equal(layer(x)[0], expected)


# ---- bounds ---------------------------------------------------------------------------------------

def test_num_threads_is_bounded_by_the_cores(tmp_path):
    limit = lstmcore.max_threads()
    assert limit == 4 * _core.hardware_cores() == _core.max_threads()
    assert lstmcore.LSTM(2, 3, num_threads=limit).num_threads == limit
    for bad in (limit + 1, 4096, 10**9):
        with pytest.raises(ValueError, match=rf"num_threads: expected an integer in \[1, {limit}\] "
                                             r"\(at most 4 threads per core"):
            lstmcore.LSTM(2, 3, num_threads=bad)
    layer = lstmcore.LSTM(2, 3)
    with pytest.raises(ValueError, match="num_threads"):
        layer.num_threads = limit + 1
    for handle in (layer.stream(2), layer.online(2)):
        with pytest.raises(ValueError, match="num_threads"):
            handle.num_threads = limit + 1
        handle.num_threads = limit
    with pytest.raises(TypeError, match="num_threads"):
        layer.num_threads = 2.0
    layer.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"^num_threads: expected an integer in"):  # load's argument, not the file's
        lstmcore.LSTM.load(tmp_path / "m.npz", num_threads=limit + 1)
    # the core clamps too (for C++ callers)
    assert _core.usable_threads(10**6) <= limit
    assert _core.usable_threads(0) == 1 and _core.usable_threads(-5) == 1


LIMITED = r"""
import resource, sys
import numpy as np
import lstmcore
from lstmcore import _core
layer = lstmcore.LSTM(64, 64, num_threads=1, seed=0)
x = np.random.default_rng(0).normal(size=(32, 16, 64)).astype(np.float32)
expected = layer(x)[0]
layer.num_threads = lstmcore.max_threads()
with open("/proc/self/status") as f:
    size = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
# Address space for a few more thread stacks (8 MiB each by default), not for all of them.
resource.setrlimit(resource.RLIMIT_AS, (size + (int(sys.argv[1]) << 20), resource.RLIM_INFINITY))
same = np.array_equal(layer(x)[0], expected)
print(same, _core.usable_threads(lstmcore.max_threads()), flush=True)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_thread_creation_failure_runs_on_the_threads_that_start():
    if _core.max_threads() < 8:
        pytest.skip("needs room for at least 8 threads")
    # libgomp alone ends such a process ("Thread creation failed", exit code 1, no exception)
    out = subprocess.run([sys.executable, "-c", LIMITED, "24"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    same, threads = out.stdout.split()
    assert same == "True"
    assert 1 <= int(threads) < _core.max_threads()
