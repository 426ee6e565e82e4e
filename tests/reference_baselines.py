"""Pure-NumPy reference of lstmcore.baselines.RecurrentNet: the nets written unit by unit and
connection by connection, and their gradients by naive forward sensitivities (RTRL written out for
every unit and every weight, outputs included). Slow and independent of the core's packed layout.

A net is a list of units. Recurrent-layer units (0..M-1) read inputs x(t), the bias and units at
t-1; output units of the Elman/self layouts (M..M+K-1) read the recurrent layer at t, the inputs
(shortcut) and the bias. Every connection names the weight array entry that carries it.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

Connection = Tuple[str, int, str, Tuple[int, ...]]  # (source kind, source index, weight name, index)


def build_units(n_in: int, n_hidden: int, n_out: int, recurrence: str, shortcut: bool, bias: bool):
    """-> (units: list of connection lists, output unit indices, M)."""
    units: List[List[Connection]] = []
    if recurrence == "full":
        M = n_hidden + n_out
        for k in range(M):
            conns = [("x", i, "W_x", (k, i)) for i in range(n_in)]
            conns += [("prev", j, "W_r", (k, j)) for j in range(M)]
            if bias:
                conns.append(("one", 0, "b", (k,)))
            units.append(conns)
        return units, list(range(n_hidden, M)), M
    M = n_hidden
    for k in range(M):
        conns = [("x", i, "W_hx", (k, i)) for i in range(n_in)]
        if recurrence == "hidden":
            conns += [("prev", j, "W_hh", (k, j)) for j in range(M)]
        else:
            conns.append(("prev", k, "w_hh", (k,)))
        if bias:
            conns.append(("one", 0, "b_h", (k,)))
        units.append(conns)
    for m in range(n_out):
        conns = [("cur", j, "W_yh", (m, j)) for j in range(M)]
        if shortcut:
            conns += [("x", i, "W_yx", (m, i)) for i in range(n_in)]
        if bias:
            conns.append(("one", 0, "b_y", (m,)))
        units.append(conns)
    return units, list(range(M, M + n_out)), M


class ReferenceNet:
    def __init__(self, weights: Dict[str, np.ndarray], n_in: int, n_hidden: int, n_out: int, *,
                 recurrence: str = "full", shortcut: bool = False, bias: bool = True, linear: bool = False):
        self.w = {k: np.array(v, dtype=np.float64) for k, v in weights.items()}
        self.units, self.outputs, self.M = build_units(n_in, n_hidden, n_out, recurrence, shortcut, bias)
        self.linear = linear
        self.names = list(self.w)
        # flat index of every weight entry
        self.offset, k = {}, 0
        for name in self.names:
            self.offset[name] = k
            k += self.w[name].size
        self.n_weights = k

    def _flat(self, name: str, index: Tuple[int, ...]) -> int:
        return self.offset[name] + int(np.ravel_multi_index(index, self.w[name].shape))

    def _act(self, u: int, net: float) -> Tuple[float, float]:
        if self.linear and u in self.outputs:
            return net, 1.0
        a = 1.0 / (1.0 + np.exp(-net))
        return a, a * (1.0 - a)

    def run(self, x, target=None, mask=None, *, truncate_context=False, lr=None):
        """Forward; with target, the loss and the gradient by naive sensitivities; with lr, online
        updates w -= lr * g(t) after every step with a target (sensitivities carried on).
        truncate_context: Elman's gradient (a(t-1) treated as an input)."""
        T = x.shape[0]
        n_units = len(self.units)
        a_prev = np.zeros(n_units)
        S_prev = np.zeros((n_units, self.n_weights))  # d a_u(t-1) / d w
        ys = np.zeros((T, len(self.outputs)))
        grad = np.zeros(self.n_weights)
        loss = 0.0
        for t in range(T):
            a = np.zeros(n_units)
            S = np.zeros((n_units, self.n_weights))
            for u, conns in enumerate(self.units):
                net, dnet = 0.0, np.zeros(self.n_weights)
                for kind, j, name, idx in conns:
                    w = self.w[name][idx]
                    src = {"x": lambda: x[t, j], "one": lambda: 1.0, "prev": lambda: a_prev[j],
                           "cur": lambda: a[j]}[kind]()
                    net += w * src
                    if kind == "prev" and not truncate_context:
                        dnet += w * S_prev[j]
                    elif kind == "cur":
                        dnet += w * S[j]
                    dnet[self._flat(name, idx)] += src
                a[u], fp = self._act(u, net)
                S[u] = fp * dnet
            y = a[self.outputs]
            ys[t] = y
            if target is not None and (mask is None or mask[t]):
                e = y - target[t]
                loss += 0.5 * float(e @ e)
                g = e @ S[self.outputs]
                if lr is None:
                    grad += g
                else:
                    for name in self.names:
                        n = self.w[name].size
                        self.w[name] -= lr * g[self.offset[name]:self.offset[name] + n].reshape(self.w[name].shape)
            a_prev, S_prev = a, S
        grads = {name: grad[self.offset[name]:self.offset[name] + self.w[name].size].reshape(self.w[name].shape)
                 for name in self.names}
        return ys, loss, grads
