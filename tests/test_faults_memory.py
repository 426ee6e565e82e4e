"""Bounded memory: stream() and online() batch sizes are checked against the machine's memory like
the constructors and forward (a MemoryError naming batch_size), the online trainer's memory is the
documented figure (measured), and broadcast inputs are checked before they are materialised."""
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import lstmcore
from lstmcore._stream import online_bytes, stream_bytes
from lstmcore._validation import memory_limit


@pytest.mark.parametrize("make", ["stream", "online"])
def test_batch_sizes_are_checked_against_memory(make):
    layer = lstmcore.LSTM(16, 16, seed=0)
    figure = {"stream": stream_bytes, "online": online_bytes}[make]
    # the smallest power of two whose core buffers exceed this machine's memory
    batch = 1
    while figure(layer, batch) <= memory_limit():
        batch *= 2
    assert batch <= 2**31
    with pytest.raises(MemoryError, match=r"batch_size: .* would need about .* GiB"):
        getattr(layer, make)(batch)
    getattr(layer, make)(64)  # a batch that fits is fine


def test_online_batch_of_the_issue_is_refused_or_fits():
    # online(2**20) on LSTM(16, 16): 11.5 GiB of buffers in float32
    need = online_bytes(lstmcore.LSTM(16, 16), 2**20)
    assert 11 * 2**30 < need < 12 * 2**30
    if need > memory_limit():
        with pytest.raises(MemoryError, match="batch_size"):
            lstmcore.LSTM(16, 16).online(2**20)


MEASURE = r"""
import json, sys
import numpy as np
import lstmcore
from lstmcore._stream import online_bytes, stream_bytes
I, H, N, dtype, kind = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
P = int(sys.argv[6]) if len(sys.argv) > 6 else 0   # proj_size
R = P or H                                          # the width of h and of the layer's output
layer = lstmcore.LSTM(I, H, dtype=dtype, seed=0, num_threads=1, proj_size=P)
x, g = np.ones((1, N, I), dtype), np.ones((1, N, R), dtype)
out = np.empty((1, N, R), dtype)   # the size of a run's result, allocated (and freed) before
del out
def peak_bytes():
    with open("/proc/self/status") as f:
        return 1024 * next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
before = peak_bytes()
if kind == "online":
    trainer = layer.online(N)
    trainer.run(x, g)              # every buffer touched
    figure = online_bytes(layer, N)
else:
    stream = layer.stream(N)
    stream.run(x)
    figure = stream_bytes(layer, N)
print(json.dumps({"grown": peak_bytes() - before, "figure": figure}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
@pytest.mark.parametrize("args", [(16, 16, 4096, "float32", "online"), (16, 16, 4096, "float64", "online"),
                                  (64, 128, 256, "float32", "online"), (16, 16, 65536, "float32", "stream"),
                                  # with a projection (proj_size 8)
                                  (16, 32, 4096, "float32", "online", 8), (16, 32, 65536, "float32", "stream", 8)])
def test_the_memory_figure_is_what_the_process_uses(args):
    """The bounds checked before a stream or online trainer is built (online_bytes, stream_bytes)
    are what the process grows by, with a projection too."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *map(str, args)], capture_output=True, text=True,
                         check=True, timeout=300)
    result = json.loads(out.stdout)
    I, H, N, dtype, kind = args[:5]
    R = args[5] if len(args) > 5 else H
    result_bytes = N * R * np.dtype(dtype).itemsize  # the run's output, on top of the core's buffers
    assert 0.9 * result["figure"] <= result["grown"] - result_bytes <= 1.1 * result["figure"], result
    if kind == "online" and (I, H, dtype) == (16, 16, "float32"):
        # the docs' example: 1.83 times the 3H (I + H + 1) trace values alone
        traces = 3 * N * H * (I + H + 1) * 4
        assert 1.75 < result["figure"] / traces < 1.9


@pytest.mark.parametrize("make", [lambda: lstmcore.LSTM(4, 3), lambda: lstmcore.LSTM(4, 3, batch_first=True)])
def test_broadcast_input_is_checked_before_it_is_materialised(make):
    layer = make()
    huge = np.broadcast_to(np.zeros((1, 1, 4), np.float32), (2**24, 2**16, 4))  # 2^40 x 4 values: a view

    def forward():
        with pytest.raises(MemoryError, match="x: the forward pass over"):
            layer(huge)

    tracemalloc.start()
    try:
        forward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_broadcast_input_copy_is_checked_everywhere():
    net = lstmcore.LSTM1997(4, 1, 1)
    huge = np.broadcast_to(np.zeros((1, 4)), (2**40, 4))  # a view of 32 bytes
    with pytest.raises(MemoryError, match=r"x: a contiguous float64 copy of shape \(1099511627776, 4\)"):
        net.forward(huge)
    with pytest.raises(MemoryError, match=r"x: a contiguous float64 copy"):
        net.gradient(huge, np.broadcast_to(np.zeros((1, 1)), (2**40, 1)))
