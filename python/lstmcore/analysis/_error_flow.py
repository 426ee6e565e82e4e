"""Section 3 of the 1997 paper, measured: how an error injected at time t scales on its way back
to t - q, in a conventional recurrent unit and through an LSTM memory cell's constant error
carousel (CEC).

Conventional unit (Hochreiter 1991, as the paper's section 3.1 summarises it). For one logistic
unit with self-connection w, the error at its net input obeys
    theta(t-1) = f'(net(t-1)) * w * theta(t),
so theta(t-q) / theta(t) = prod_{m=1..q} f'(net(t-m)) w.  Since f' <= 1/4 for the logistic
function, |f' w| < 1 for every |w| < 4: the error vanishes exponentially in q. Above 4 it can
blow up, where the unit runs at the steep part of f (net near 0, f' = 1/4): then the factor is
(w / 4)^q exactly.

LSTM cell. The state obeys s(t) = s(t-1) + y_in(t) g(net_c(t)) with a self-connection of fixed
weight 1.0 and the identity as activation, so ds(t)/ds(t-1) = 1: an error reaching the state
flows back any number of steps unchanged.

How it is measured (no formula from above is used for the measurement): the real engines'
exact gradients (BPTT) of a loss at the last step t of a sequence of length q_max + 1. The
sequence has one input line per step, a one-hot pulse at that step, whose weight into the unit
(or the cell input) is 0, so the pulses do not change the trajectory; the gradient of that weight
is then exactly the error at the unit's net input at the pulse's step:
    dL/dW_x[step] = theta(step) * x_step(step) = theta(step).
The factor for lag q is theta(t - q) / theta(t).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .._validation import check_int, check_real

__all__ = ["ErrorFlow", "error_flow", "DEFAULT_WEIGHTS", "TABLE_LAGS"]

DEFAULT_WEIGHTS = (1.0, 2.0, 3.0, 3.9, 4.0, 4.1, 5.0)
TABLE_LAGS = (1, 10, 100, 1000)
MAX_LAG = 4000  # the pulse inputs make x (q_max + 1) x (q_max + 2): 128 MB at 4000


@dataclass
class ErrorFlow:
    """Result of :func:`error_flow`. Arrays are indexed by the lag q = 0 .. q_max."""

    q_max: int
    bias: Optional[float]  #: None: net held at 0 (steepest point of the logistic); else the unit's bias
    weights: List[float]
    units: int = 1  #: conventional units (fully connected, every weight w)
    #: measured |theta(t-q) / theta(t)| of the conventional unit, per self-weight w
    conventional: Dict[float, np.ndarray] = field(default_factory=dict)
    #: log10 of prod_{m=1..q} |f'(net(t-m)) w| along the same trajectory (Hochreiter 1991)
    predicted_log10: Dict[float, np.ndarray] = field(default_factory=dict)
    #: measured |theta(t-q) / theta(t)| through an LSTM cell's CEC
    cec: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def table(self, lags: Sequence[int] = TABLE_LAGS) -> str:
        """A plain-text table: one row per self-weight and one for the CEC, one column per lag."""
        lags = [q for q in lags if 0 <= q <= self.q_max]
        where = "net held at 0, f' = 1/4" if self.bias is None else f"bias {self.bias:g}, free run from 0"
        head = f"{'error scaling over q steps':<34}" + "".join(f"{'q=' + str(q):>28}" for q in lags)
        what = ("conventional logistic unit" if self.units == 1 else
                f"{self.units} fully connected logistic units, every weight w, error entering at one")
        formula = "product of |f'(net) w|" if self.units == 1 else "sum over paths of products of f'(net) w"
        lines = [f"{what} ({where}); measured ({formula})", head]
        for w in self.weights:
            cells = []
            for q in lags:
                measured = self.conventional[w][q]
                cells.append(f"{_fmt(measured)} ({_fmt_log10(self.predicted_log10[w][q])})")
            lines.append(f"{('self-weight w = ' if self.units == 1 else 'weight w = ') + format(w, 'g'):<34}" + "".join(f"{c:>28}" for c in cells))
        lines.append(f"{'LSTM cell, constant error carousel':<34}" + "".join(f"{_fmt(self.cec[q]):>28}" for q in lags))
        return "\n".join(lines)

    def plot(self, path: str) -> None:
        """Both curves on a log scale (needs matplotlib, the ``plot`` extra)."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("plot: needs matplotlib (pip install matplotlib; in a checkout of lstmcore: pip install \".[plot]\")") from exc
        from .._atomic import atomic_write

        q = np.arange(self.q_max + 1)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for w in self.weights:
            # measured: solid (absent where float64 under- or overflowed); the product formula: dotted
            with np.errstate(divide="ignore"):
                measured = np.log10(self.conventional[w])
            measured[~np.isfinite(measured)] = np.nan
            line, = ax.plot(q, measured, label=f"conventional unit, w = {w:g}")
            ax.plot(q, self.predicted_log10[w], ":", color=line.get_color(), linewidth=2)
        ax.plot(q, np.log10(self.cec), "k", linewidth=2.5, label="LSTM constant error carousel")
        ax.plot([], [], "k:", label="product of |f'(net) w| per step")
        ax.set_xlabel("lag q (time steps back)")
        ax.set_ylabel("log10 |error scaling|")
        ax.set_title("Error flow back in time (Hochreiter & Schmidhuber 1997, section 3)")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fmt = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else "png"
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format=fmt)
        plt.close(fig)


def _fmt(v: float) -> str:
    if v == 0:
        return "0 (underflow)"
    if not np.isfinite(v):
        return "inf (overflow)"
    return f"{v:.3g}"


def _fmt_log10(v: float) -> str:
    """10**v without leaving the float range: mantissa and exponent apart."""
    if not np.isfinite(v):
        return "0" if v < 0 else "inf"
    exponent = int(np.floor(v))
    mantissa = 10.0 ** (v - exponent)
    if -4 <= exponent < 5:
        return f"{10.0 ** v:.3g}"
    return f"{mantissa:.3g}e{exponent:+03d}"


def _pulses(T: int, extra: np.ndarray) -> np.ndarray:
    """x (T, T + 1): a one-hot pulse per step (columns 0..T-1) and one more input line `extra`."""
    x = np.zeros((T, T + 1))
    x[np.arange(T), np.arange(T)] = 1.0
    x[:, T] = extra
    return x


def _conventional(w: float, bias: Optional[float], T: int, n: int):
    """Measured factors (T,) indexed by q for unit 0 of n fully connected logistic units (every
    recurrent weight w), and log10 of the sum over paths of products of f'(net) w along the same
    trajectory (for n = 1: the product of f'(net) w)."""
    from ..baselines import RecurrentNet

    net = RecurrentNet(T + 1, n, 1, recurrence="hidden", bias=True, out_activation="linear", init_range=0.0, seed=0)
    # Held at net = 0: a control input adds -w * sum_j a_j(t-1) = -w n / 2 from step 1 on
    # (a(0) = f(0) = 1/2 from the zero state), so every net input is exactly 0.
    control = np.full(T, -w * n / 2.0) if bias is None else np.zeros(T)
    control[0] = 0.0
    b = 0.0 if bias is None else bias
    weights = net.get_weights()
    weights["W_hx"][:, T] = 1.0
    weights["W_hh"][...] = w
    weights["b_h"][...] = b
    weights["W_yh"][0, 0] = 1.0  # the error enters at unit 0
    net.set_weights(weights)
    x = _pulses(T, control)
    y = net.forward(x)
    mask = np.zeros(T, bool)
    mask[-1] = True
    target = y - 1.0  # error 1 at the last step
    _, grads = net.gradient(x, target, mask, method="bptt")
    theta = grads["W_hx"][0, :T]  # theta_0(step) for step = 0 .. T-1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        measured = np.abs(theta[::-1] / theta[-1])  # index q: theta_0(t - q) / theta_0(t)

    # The same trajectory, independently: net(s) = W a(s-1) + b + control(s); f' = a (1 - a).
    W = np.full((n, n), w)
    a_prev, fprime = np.zeros(n), np.zeros((T, n))
    for step in range(T):
        a = 1.0 / (1.0 + np.exp(-(W @ a_prev + b + control[step])))
        fprime[step] = a * (1.0 - a)
        a_prev = a
    # theta(s - 1) = f'(net(s - 1)) * (W^T theta(s)), from theta(t) = f'(net(t)) e_0 (eq. 2 summed
    # over paths), kept as a unit vector times 10^log_scale so that it neither under- nor overflows
    v = np.zeros(n)
    v[0] = 1.0  # theta(t) / theta_0(t)
    log_scale = 0.0
    predicted = np.zeros(T)
    for q in range(1, T):
        v = fprime[T - 1 - q] * (W.T @ v)
        norm = float(np.max(np.abs(v)))
        if norm == 0.0:
            predicted[q:] = -np.inf
            break
        v /= norm
        log_scale += np.log10(norm)
        predicted[q] = log_scale + np.log10(abs(v[0])) if v[0] != 0 else -np.inf
    return measured, predicted


def _cec(T: int) -> np.ndarray:
    """Measured factors (T,) through one LSTM cell (no recurrence but its carousel, exact gradient)."""
    from .._lstm1997 import LSTM1997

    net = LSTM1997(T, 1, 1, 1, recurrent="none", bias="none", out_activation="linear", init_range=0.0, seed=0)
    weights = net.get_weights()
    weights["W_y"][...] = 1.0
    net.set_weights(weights)
    x = _pulses(T, np.zeros(T))[:, :T]
    y = net.forward(x)
    mask = np.zeros(T, bool)
    mask[-1] = True
    # mode="full": exact BPTT through every connection; the carousel is the only path back in time
    _, grads = net.gradient(x, y - 1.0, mask, mode="full")
    theta = grads["W_cell"][0]  # error at the cell input at each step
    return np.abs(theta[::-1] / theta[-1])


def error_flow(q_max: int = 1000, weights: Sequence[float] = DEFAULT_WEIGHTS, *,
               bias: Optional[float] = None, units: int = 1) -> ErrorFlow:
    """Measure how an error injected at time t scales when it reaches t - q, q = 0 .. q_max.

    Parameters
    ----------
    q_max : int, 1 .. 4000
        Longest lag.
    weights : sequence of float
        Self-weights w of the conventional logistic unit (one curve each). The critical value is
        4.0 = 1 / max f'; for ``units`` = n it is 4.0 / n.
    bias : float or None
        None (default): the unit's net input is held at 0, where the logistic is steepest
        (f' = 1/4), so the factor is (w/4)^q: vanishing below w = 4, constant at 4, exploding
        above. A float: the unit runs freely from the zero state with this bias (and no input),
        the factor is the product of f'(net) w along its trajectory.
    units : int, default 1
        n > 1: n fully connected logistic units, every recurrent weight w, the error entering at
        one of them; the factor is the sum over paths of products of f'(net) w (the paper's eq. 2),
        (n w / 4)^q / n when held at 0.

    Returns
    -------
    ErrorFlow
        ``.conventional[w]`` and ``.cec`` (measured), ``.predicted_log10[w]`` (the product
        formula), ``.table()``, ``.plot(path)``.
    """
    q_max = check_int("q_max", q_max, minimum=1, maximum=MAX_LAG)
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
        raise TypeError(f"weights: expected a sequence of numbers, got {type(weights).__name__}")
    ws = [check_real(f"weights[{i}]", w, minimum=-1e3, maximum=1e3) for i, w in enumerate(weights)]
    if not ws:
        raise ValueError("weights: expected at least one self-weight, got an empty sequence")
    if bias is not None:
        bias = check_real("bias", bias, minimum=-1e3, maximum=1e3)
    units = check_int("units", units, maximum=64)
    T = q_max + 1
    result = ErrorFlow(q_max=q_max, bias=bias, weights=ws, units=units)
    for w in ws:
        result.conventional[w], result.predicted_log10[w] = _conventional(w, bias, T, units)
    result.cec = _cec(T)
    return result
