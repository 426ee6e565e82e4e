"""Online RTRL training uses memory independent of sequence length (the 1997 rule is local in
time). Each measurement runs in a fresh subprocess: peak RSS (VmHWM) grown during training, after the
input arrays exist, for T = 10^5 and 10^6. The backward-pass gradient is the control: its memory
must grow with T, which shows the measurement can see growth. The same for online training of the
torch-style layer (LSTMOnline) over 10^3 and 10^6 steps."""
import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import numpy as np
import lstmcore
T, what = int(sys.argv[1]), sys.argv[2]
net = lstmcore.LSTM1997(1, 1, 2, 2, bias="all", seed=0)
x = np.random.default_rng(0).uniform(-1, 1, size=(T, 1))
target = np.full((T, 1), 0.5)
net.train_sequence(x[:10], target[:10], lr=0.1)    # warm up: every lazy allocation happens here
def peak_kib():
    # VmHWM: the peak RSS of this process's own address space. (ru_maxrss is not usable here: Linux
    # carries the parent's peak into a child across fork/exec, so a child of a large pytest process
    # starts with the parent's peak and hides its own growth.)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
before = peak_kib()
if what == "rtrl":
    loss = net.train_sequence(x, target, lr=0.01)
else:
    loss, _ = net.gradient(x, target, mode="truncated", method="bptt")
print(json.dumps({"grown_kib": peak_kib() - before, "finite": bool(np.isfinite(loss))}))
"""


def grown_kib(T, what):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(T), what], check=True, capture_output=True,
                         text=True, timeout=300)
    result = json.loads(out.stdout)
    assert result["finite"]
    return result["grown_kib"]


def test_rtrl_training_memory_does_not_grow_with_sequence_length():
    small, large = grown_kib(10**5, "rtrl"), grown_kib(10**6, "rtrl")
    # "The same within noise": neither run grows the peak by more than 1 MiB.
    assert small <= 1024 and large <= 1024, (small, large)


def test_backward_pass_memory_grows_with_sequence_length():
    # The control: storing the history for BPTT costs tens of bytes per step (seen: 76 to over 100,
    # depending on what the allocator already held), far above the 1 MiB the online rule may grow.
    assert grown_kib(10**6, "bptt") - grown_kib(10**5, "bptt") > 40 * 9 * 10**5 / 1024


ONLINE_SCRIPT = r"""
import json, sys, time
import numpy as np
import lstmcore
T, chunk = int(sys.argv[1]), 1000
layer = lstmcore.LSTM(4, 16, dtype=np.float32, seed=0, num_threads=1)
online = layer.online(4)
params = layer.parameters()
rng = np.random.default_rng(0)
x = np.empty((chunk, 4, 4), np.float32)
g = np.empty((chunk, 4, 16), np.float32)
def train_chunk():
    rng.random(dtype=np.float32, out=x)   # new data in place
    rng.random(dtype=np.float32, out=g)
    np.multiply(np.subtract(g, 0.5, out=g), 1e-3, out=g)   # dL/dh of some loss
    online.run(x, g)
    for name, p in params.items():   # SGD on the live parameters; the traces carry on
        p -= 0.01 * online.grads[name]
    online.zero_grad()
train_chunk()                         # warm up: every lazy allocation happens here
def peak_kib():
    # VmHWM: the peak RSS of this process's own address space. (ru_maxrss is not usable here: Linux
    # carries the parent's peak into a child across fork/exec, so a child of a large pytest process
    # starts with the parent's peak and hides its own growth.)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
before = peak_kib()
start = time.perf_counter()
for _ in range(T // chunk):
    train_chunk()
seconds = time.perf_counter() - start
h, c = online.state
print(json.dumps({"grown_kib": peak_kib() - before,
                  "finite": bool(np.isfinite(h).all() and np.isfinite(c).all()
                                 and all(np.isfinite(p).all() for p in params.values())),
                  "us_per_step": 1e6 * seconds / T}))
"""


def online_grown_kib(T):
    out = subprocess.run([sys.executable, "-c", ONLINE_SCRIPT, str(T)], check=True, capture_output=True, text=True,
                         timeout=600)
    result = json.loads(out.stdout)
    assert result["finite"]
    return result["grown_kib"]


def test_online_lstm_training_memory_does_not_grow_with_stream_length():
    # LSTMOnline: H=16, N=4 streams, chunks of 1000 steps with an SGD update after each; 10^3
    # steps against 10^6 steps: the same peak within noise (the traces are N x 3H x (I + H + 1)).
    small, large = online_grown_kib(10**3), online_grown_kib(10**6)
    assert small <= 2048 and large <= 2048, (small, large)
