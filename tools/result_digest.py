"""Digests of many results of the compiled core, to show that two builds compute bit for bit the same.

Usage: run it once with each build (for example the commit before a refactoring, built as a wheel
and unpacked into a directory put first on PYTHONPATH of an interpreter without an editable install
of lstmcore, and the current tree) and compare the printed lines:

    python tools/result_digest.py

It prints which lstmcore it imported. "layer" covers LSTM forward and backward (exact and
truncated, with and without lengths, bidirectional, stacked, peepholes, biases on and off, 1 and 2
threads, float32 and float64), LSTMStream and LSTMOnline; "lstm1997" covers LSTM1997 forward, the
three gradients and both online training schedules; "lstm1997 blocks" covers the same on networks
whose blocks hold 1 to 16 cells, with and without output and forget gates, peepholes, shortcuts,
biases, every recurrence and every squashing function (the loops that walk the cells of a block
all run there), and the batch entry points; "recurrent" covers lstmcore.baselines.RecurrentNet
(every recurrence, forward, the three gradients, both training schedules).
"""
import hashlib
from collections.abc import Mapping

import numpy as np

import lstmcore


def digest_of(results):
    h = hashlib.sha256()

    def add(value):
        if isinstance(value, Mapping):  # dicts and the live read-only mappings (LSTMOnline.grads)
            for key in sorted(value):
                add(value[key])
        elif isinstance(value, (tuple, list)):
            for v in value:
                add(v)
        else:
            h.update(np.ascontiguousarray(np.asarray(value)).tobytes())

    add(results)
    return h.hexdigest()


def layer_results(rng):
    out = []
    shapes = ((7, 3, 5, 4, 2), (33, 40, 16, 24, 1), (5, 1, 3, 9, 1), (120, 20, 64, 128, 1))  # T, N, I, H, L
    for dtype in (np.float32, np.float64):
        for peep in (False, True):
            for bidir in (False, True):
                for bias in (True, False):
                    for T, N, I, H, L in shapes:
                        for threads in (1, 2):
                            net = lstmcore.LSTM(I, H, L, bias=bias, bidirectional=bidir, peepholes=peep,
                                                dtype=dtype, seed=1, num_threads=threads)
                            x = rng.standard_normal((T, N, I)).astype(dtype)
                            lengths = rng.integers(1, T + 1, N)
                            lengths[0] = T
                            for lens in (None, lengths):
                                y, (hn, cn) = net.forward(x, lengths=lens)
                                go = rng.standard_normal(y.shape).astype(dtype)
                                for truncated in (False, True):
                                    gx = net.backward(go, truncated=truncated)
                                    out += [y, hn, cn, gx, net.grads]
                            if not bidir:
                                s = net.stream(N)
                                out += [s.run(x), s.step(x[0]), s.state]
                                if L == 1:
                                    o = net.online(N)
                                    out += [o.run(x, go), o.grads]
    return out


def lstm1997_results(rng):
    out = []
    for dtype in (np.float32, np.float64):
        for kw in (dict(), dict(forget_gate=True, peepholes=True), dict(recurrent="cells", bias="all")):
            net = lstmcore.LSTM1997(7, 7, 3, 2, dtype=dtype, seed=3, **kw)
            x = rng.standard_normal((50, 7)).astype(dtype)
            t = rng.random((50, 7)).astype(dtype)
            out.append(net.forward(x))
            for mode, method in (("full", "bptt"), ("truncated", "bptt"), ("truncated", "rtrl")):
                out.append(net.gradient(x, t, mode=mode, method=method))
            for update in ("step", "sequence"):
                out += [net.train_sequence(x, t, lr=0.1, update=update), net.get_weights()]
    return out


def lstm1997_block_results(rng):
    out = []
    configs = (
        (1, 4, dict()),
        (3, 3, dict(forget_gate=True)),
        (4, 2, dict(peepholes=True, forget_gate=True, shortcut=True, bias="all")),
        (9, 2, dict(peepholes=True, g="tanh", h="tanh", out_activation="linear")),
        (16, 1, dict(peepholes=True, forget_gate=True, output_gate=False, recurrent="cells", bias="none")),
        (5, 3, dict(output_gate=False, recurrent="none", g="logistic", h="identity", bias="hidden")),
        (2, 5, dict(peepholes=True, g="identity", h="g2", shortcut=True)),
        (7, 2, dict(forget_gate=True, peepholes=True, g="h1", h="h1", recurrent="cells")),
    )
    for dtype in (np.float32, np.float64):
        for S, B, kw in configs:
            net = lstmcore.LSTM1997(6, 4, B, S, dtype=dtype, seed=5, init_range=0.5, **kw)
            x = rng.standard_normal((23, 6)).astype(dtype)
            t = rng.random((23, 4)).astype(dtype)
            mask = rng.random(23) < 0.6
            out.append(net.forward(x))
            for mode, method in (("full", "bptt"), ("truncated", "bptt"), ("truncated", "rtrl")):
                out.append(net.gradient(x, t, mode=mode, method=method))
                out.append(net.gradient(x, t, mask=mask, mode=mode, method=method))
            for update in ("step", "sequence"):
                out += [net.train_sequence(x, t, lr=0.3, update=update), net.get_weights()]
                out += [net.train_sequence(x, t, mask=mask, lr=0.3, update=update), net.get_weights()]
            out += [net.train_sequence(x, t, mask=mask, lr=0.3, update="sequence", mode="full"), net.get_weights()]
            offsets = np.array([0, 9, 10, 23])
            out += [net.train_batch(x, t, mask, offsets, lr=0.2, last_error=True), net.get_weights()]
            out += [net.forward_batch(x, offsets, num_threads=threads) for threads in (1, 2)]
    return out


def recurrent_results(rng):
    from lstmcore.baselines import RecurrentNet
    out = []
    for dtype in (np.float32, np.float64):
        for recurrence, shortcut, out_activation in (("full", False, "logistic"), ("hidden", True, "linear"),
                                                     ("self", True, "logistic"), ("hidden", False, "logistic")):
            net = RecurrentNet(5, 9, 3, recurrence=recurrence, shortcut=shortcut, out_activation=out_activation,
                               init_range=0.5, dtype=dtype, seed=4)
            x = rng.standard_normal((19, 5)).astype(dtype)
            t = rng.random((19, 3)).astype(dtype)
            mask = rng.random(19) < 0.5
            out.append(net.forward(x))
            for method in ("rtrl", "bptt", "elman"):
                out.append(net.gradient(x, t, mask, method=method))
            for method, update in (("rtrl", "step"), ("rtrl", "sequence"), ("bptt", "sequence"), ("elman", "step")):
                out += [net.train_sequence(x, t, mask, lr=0.3, method=method, update=update), net.get_weights()]
    return out


if __name__ == "__main__":
    print("lstmcore from", lstmcore.__file__, "core", lstmcore._core.__file__)
    rng = np.random.default_rng(0)
    print("layer", digest_of(layer_results(rng)))
    print("lstm1997", digest_of(lstm1997_results(rng)))
    print("lstm1997 blocks", digest_of(lstm1997_block_results(np.random.default_rng(1))))
    print("recurrent", digest_of(recurrent_results(np.random.default_rng(2))))
