"""Recurrent Cascade-Correlation (Fahlman 1991), as the 1997 paper's Table 1 used it.

The net starts with no hidden units: its output units see the inputs and a bias. Hidden units are
added one at a time. Each new unit sees the inputs, the bias, every hidden unit installed before it
(at the same step) and its own activation at t-1 (its only recurrent link):

    h_j(t) = f( W_j . [x(t), 1, h_0(t), ..., h_{j-1}(t)] + s_j h_j(t-1) ),   h_j(-1) = 0,

and its incoming weights (self-link included) are frozen once it is installed. The outputs see
everything below them at the same step:

    y_k(t) = f( V_k . [x(t), 1, h_0(t), ..., h_{H-1}(t)] ).

Training alternates two phases over a fixed training set of sequences:

1. output phase: only the output weights learn, to reduce L = 1/2 sum (y - target)^2 over the
   masked steps;
2. candidate phase: a pool of candidate units, each wired like the next hidden unit, learns to
   maximise the covariance between its activation and the residual output errors,
       S = sum_k | sum_p (v_p - mean v) (e_pk - mean e_k) |,   p over every masked (sequence, step),
   by gradient ascent; the gradient of v through the self-link is carried forward in time
   (v's sensitivities, RTRL for one self-recurrent unit). The best candidate is installed.

Fahlman trains both phases with Quickprop; here both use Rprop (Riedmiller & Braun 1993), another
batch method with a per-weight adaptive step, simpler and as robust (docs/BASELINES.md).
Units are logistic, as all the paper's units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._io import build_from_config, load_model, save_model
from .._validation import as_real_array, check_int, check_real

__all__ = ["RecurrentCascadeCorrelation", "CascadeHistory"]


def _logistic(x: np.ndarray) -> np.ndarray:
    # clipped: exp(700) is finite in float64, and f(+-700) is 1 or 0 to the last bit anyway
    return 1.0 / (1.0 + np.exp(-np.clip(x, -700.0, 700.0)))


class _Rprop:
    """iRprop-: per-weight steps grow by 1.2 while the gradient keeps its sign, shrink by 0.5
    when it flips (and that step is skipped); the update is -sign(gradient) * step."""

    def __init__(self, shape: Tuple[int, ...], step: float = 0.05) -> None:
        self.step = np.full(shape, step)
        self.prev = np.zeros(shape)

    def update(self, grad: np.ndarray) -> np.ndarray:
        same = grad * self.prev
        self.step = np.where(same > 0, np.minimum(self.step * 1.2, 50.0),
                             np.where(same < 0, np.maximum(self.step * 0.5, 1e-6), self.step))
        grad = np.where(same < 0, 0.0, grad)
        self.prev = grad
        return -np.sign(grad) * self.step


@dataclass
class CascadeHistory:
    """What :meth:`RecurrentCascadeCorrelation.fit` did."""

    solved: bool
    hidden_units: int
    sequences: int       #: sequence presentations (every epoch of either phase presents the whole set once)
    losses: List[float]  #: training loss after every output phase


class _Batch:
    """A training set as padded time-major arrays: x (T, N, I), target (T, N, K), mask (T, N)."""

    def __init__(self, sequences: Sequence[Tuple[Any, Any, Any]], n_in: int, n_out: int) -> None:
        if len(sequences) == 0:
            raise ValueError("sequences: expected at least one (x, target, mask) sequence, got none")
        items = []
        for i, item in enumerate(sequences):
            if not isinstance(item, tuple) or len(item) != 3:
                raise TypeError(f"sequences[{i}]: expected an (x, target, mask) tuple, got {type(item).__name__}")
            x = as_real_array(f"sequences[{i}] x", item[0], np.dtype(np.float64), (None, n_in))
            target = as_real_array(f"sequences[{i}] target", item[1], np.dtype(np.float64), (x.shape[0], n_out))
            mask = np.ones(x.shape[0], bool) if item[2] is None else np.asarray(item[2], bool)
            if mask.shape != (x.shape[0],):
                raise ValueError(f"sequences[{i}] mask: expected shape ({x.shape[0]},), got {mask.shape}")
            items.append((x, target, mask))
        T = max(x.shape[0] for x, _, _ in items)
        N = len(items)
        self.x = np.zeros((T, N, n_in))
        self.target = np.zeros((T, N, n_out))
        self.mask = np.zeros((T, N), bool)
        for n, (x, target, mask) in enumerate(items):
            L = x.shape[0]
            self.x[:L, n], self.target[:L, n], self.mask[:L, n] = x, target, mask
        self.N = N


class RecurrentCascadeCorrelation:
    """Fahlman's Recurrent Cascade-Correlation net (see the module docstring for the maths).

    Parameters
    ----------
    n_in, n_out : int
    max_hidden : int, default 9
        Most hidden units fit() installs (Table 1's RCC nets had 7-9).
    n_candidates : int, default 8
        Candidate units trained in parallel per installation.
    init_range : float, default 1.0
        Initial weights of candidates and of new output connections, uniform in [-init_range, init_range].
    seed : int or None

    Attributes
    ----------
    n_hidden : int
        Installed hidden units.
    n_weights : int
        Trainable weights so far (hidden units' frozen weights included).
    """

    def __init__(self, n_in: int, n_out: int, *, max_hidden: int = 9, n_candidates: int = 8,
                 init_range: float = 1.0, seed: Optional[int] = None) -> None:
        self.n_in = check_int("n_in", n_in, maximum=1 << 20)
        self.n_out = check_int("n_out", n_out, maximum=1 << 20)
        self.max_hidden = check_int("max_hidden", max_hidden, minimum=0, maximum=1000)
        self.n_candidates = check_int("n_candidates", n_candidates, maximum=1000)
        self.init_range = check_real("init_range", init_range, minimum=0.0, maximum=1e6)
        self._rng = np.random.default_rng(seed)
        self.hidden_in: List[np.ndarray] = []   # unit j: (n_in + 1 + j,) weights from [x, 1, h_0..h_{j-1}]
        self.hidden_self: List[float] = []      # unit j: self-recurrent weight s_j
        self.out_w = self._rng.uniform(-self.init_range, self.init_range, size=(self.n_out, self.n_in + 1))
        self.sequences_seen = 0

    # ---- description -------------------------------------------------------------------------
    @property
    def n_hidden(self) -> int:
        return len(self.hidden_in)

    @property
    def n_weights(self) -> int:
        return int(sum(w.size + 1 for w in self.hidden_in) + self.out_w.size)

    def __repr__(self) -> str:
        return f"RecurrentCascadeCorrelation({self.n_in}, {self.n_out}; {self.n_hidden} hidden units, {self.n_weights} weights)"

    # ---- forward -----------------------------------------------------------------------------
    def _hidden(self, x: np.ndarray) -> np.ndarray:
        """Hidden activations (T, N, H) for x (T, N, I)."""
        T, N, _ = x.shape
        H = np.zeros((T, N, self.n_hidden))
        src = np.concatenate([x, np.ones((T, N, 1))], axis=2)
        for j, (w, s) in enumerate(zip(self.hidden_in, self.hidden_self)):
            H[:, :, j] = self._unit(np.concatenate([src, H[:, :, :j]], axis=2), w[None, :], np.array([s]))[:, :, 0]
        return H

    @staticmethod
    def _unit(src: np.ndarray, w: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Activations (T, N, C) of C self-recurrent units: src (T, N, S), w (C, S), s (C,)."""
        net_in = src @ w.T  # (T, N, C): the feed-forward part of every step at once
        v = np.zeros(net_in.shape)
        prev = np.zeros(net_in.shape[1:])
        for t in range(net_in.shape[0]):
            prev = _logistic(net_in[t] + s * prev)
            v[t] = prev
        return v

    def _sources(self, x: np.ndarray, H: np.ndarray) -> np.ndarray:
        return np.concatenate([x, np.ones(x.shape[:2] + (1,)), H], axis=2)

    def forward_batch(self, x: Any) -> np.ndarray:
        """x (T, N, n_in) -> y (T, N, n_out); every sequence from the zero state."""
        x = as_real_array("x", x, np.dtype(np.float64), (None, None, self.n_in))
        return _logistic(self._sources(x, self._hidden(x)) @ self.out_w.T)

    def forward(self, x: Any) -> np.ndarray:
        """x (T, n_in) -> y (T, n_out)."""
        x = as_real_array("x", x, np.dtype(np.float64), (None, self.n_in))
        return self.forward_batch(x[:, None, :])[:, 0, :]

    def forward_many(self, sequences: Sequence[Any]) -> list:
        """Outputs of several sequences of any lengths (list of (T_i, n_in) -> list of (T_i, n_out))."""
        xs = [as_real_array("x", x, np.dtype(np.float64), (None, self.n_in)) for x in sequences]
        if not xs:
            return []
        batch = np.zeros((max(x.shape[0] for x in xs), len(xs), self.n_in))
        for n, x in enumerate(xs):
            batch[:x.shape[0], n] = x
        y = self.forward_batch(batch)
        return [y[:x.shape[0], n] for n, x in enumerate(xs)]

    # ---- the two phases ----------------------------------------------------------------------
    def _train_outputs(self, data: _Batch, Z: np.ndarray, epochs: int, patience: int,
                       solved: Optional[Callable[[Any], bool]]) -> Tuple[float, bool]:
        """Rprop on the output weights; stops when the loss improves by < 1 % over `patience`
        epochs, after `epochs`, or when `solved` says so (asked every `patience` epochs)."""
        opt = _Rprop(self.out_w.shape)
        m = data.mask[:, :, None]
        best, since = np.inf, 0
        loss = np.inf
        for epoch in range(epochs):
            y = _logistic(Z @ self.out_w.T)
            e = (y - data.target) * m
            loss = 0.5 * float(np.sum(e * e))
            # dL/dV = sum_p (e f'(net)) (x) z
            d = e * y * (1.0 - y)
            grad = np.einsum("tnk,tns->ks", d, Z)
            self.out_w += opt.update(grad)
            self.sequences_seen += data.N
            if loss < best * 0.99:
                best, since = loss, 0
            else:
                since += 1
            if (epoch + 1) % patience == 0 and solved is not None and solved(self):
                return loss, True
            if since >= patience or loss == 0.0:
                break
        return loss, solved is not None and solved(self)

    def _train_candidates(self, data: _Batch, Z: np.ndarray, epochs: int, patience: int) -> None:
        """Train a pool of candidates to maximise S, install the best one (frozen)."""
        S = Z.shape[2]
        C = self.n_candidates
        m = data.mask
        y = _logistic(Z @ self.out_w.T)
        E = (y - data.target) * m[:, :, None]                          # residual errors (T, N, K)
        n_pat = max(int(m.sum()), 1)
        E_c = (E - E.sum(axis=(0, 1)) / n_pat) * m[:, :, None]       # e_pk - mean e_k on masked patterns
        W = self._rng.uniform(-self.init_range, self.init_range, size=(C, S))
        s = self._rng.uniform(-self.init_range, self.init_range, size=C)
        opt_w, opt_s = _Rprop(W.shape), _Rprop(s.shape)
        best, since = -np.inf, 0
        for _ in range(epochs):
            score, grad_W, grad_s = _candidate_scores(Z, m, E_c, W, s, with_gradient=True)
            # gradient ascent on S: Rprop on -dS/dw
            W += opt_w.update(-grad_W)
            s += opt_s.update(-grad_s)
            self.sequences_seen += data.N
            top = float(score.max())
            if top > best * 1.01:
                best, since = top, 0
            else:
                since += 1
                if since >= patience:
                    break
        # the last epoch's scores belong to the weights before its update: score once more
        score, _, _ = _candidate_scores(Z, m, E_c, W, s, with_gradient=False)
        c = int(np.argmax(score))
        self.hidden_in.append(W[c].copy())
        self.hidden_self.append(float(s[c]))
        new_out = self._rng.uniform(-self.init_range, self.init_range, size=(self.n_out, 1))
        self.out_w = np.concatenate([self.out_w, new_out], axis=1)

    def fit(self, sequences: Sequence[Tuple[Any, Any, Any]], *, solved: Optional[Callable[[Any], bool]] = None,
            output_epochs: int = 200, candidate_epochs: int = 200, patience: int = 12,
            callback: Optional[Callable[["RecurrentCascadeCorrelation"], None]] = None) -> CascadeHistory:
        """Grow and train the net on a fixed training set until `solved` or `max_hidden` units.

        Parameters
        ----------
        sequences : sequence of (x (T_i, n_in), target (T_i, n_out), mask (T_i,) or None)
        solved : callable(net) -> bool, optional
            The stopping test (e.g. a :class:`lstmcore.baselines.SequenceTest`); without it, fit
            installs max_hidden units.
        output_epochs, candidate_epochs : int
            Most epochs of one output / candidate phase.
        patience : int
            A phase ends when its objective improved by less than 1 % over this many epochs.
        callback : callable(net), optional
            Called after every output phase.

        Returns
        -------
        CascadeHistory
        """
        output_epochs = check_int("output_epochs", output_epochs)
        candidate_epochs = check_int("candidate_epochs", candidate_epochs)
        patience = check_int("patience", patience)
        data = _Batch(sequences, self.n_in, self.n_out)
        H = self._hidden(data.x)
        losses = []
        while True:
            Z = self._sources(data.x, H)
            loss, done = self._train_outputs(data, Z, output_epochs, patience, solved)
            losses.append(loss)
            if callback is not None:
                callback(self)
            if done or self.n_hidden >= self.max_hidden:
                return CascadeHistory(done, self.n_hidden, self.sequences_seen, losses)
            self._train_candidates(data, Z, candidate_epochs, patience)
            j = self.n_hidden - 1
            new = self._unit(Z, self.hidden_in[j][None, :], np.array([self.hidden_self[j]]))
            H = np.concatenate([H, new], axis=2)

    # ---- weights and persistence -------------------------------------------------------------
    def get_weights(self) -> Dict[str, np.ndarray]:
        """{"W_h{j}": (n_in + 1 + j,), "s_h{j}": (1,) per hidden unit j, "W_y": (n_out, n_in + 1 + H)}."""
        out: Dict[str, np.ndarray] = {}
        for j, (w, s) in enumerate(zip(self.hidden_in, self.hidden_self)):
            out[f"W_h{j}"] = w.copy()
            out[f"s_h{j}"] = np.array([s])
        out["W_y"] = self.out_w.copy()
        return out

    def set_weights(self, weights: Dict[str, Any]) -> None:
        """Set the weights of the current structure (the keys and shapes of get_weights())."""
        current = self.get_weights()
        if set(weights) != set(current):
            raise ValueError(f"weights: expected keys {sorted(current)}, got {sorted(weights)}")
        checked = {k: as_real_array(f"weights[{k!r}]", weights[k], np.dtype(np.float64), v.shape)
                   for k, v in current.items()}
        for j in range(self.n_hidden):
            self.hidden_in[j] = checked[f"W_h{j}"].copy()
            self.hidden_self[j] = float(checked[f"s_h{j}"][0])
        self.out_w = checked["W_y"].copy()

    def save(self, path: Any) -> None:
        """Write structure and weights in lstmcore's model format (see LSTM1997.save)."""
        config = dict(n_in=self.n_in, n_out=self.n_out, max_hidden=self.max_hidden, n_candidates=self.n_candidates,
                      init_range=self.init_range, n_hidden=self.n_hidden)
        save_model(path, "RecurrentCascadeCorrelation", config, self.get_weights())

    @classmethod
    def load(cls, path: Any) -> "RecurrentCascadeCorrelation":
        config, arrays = load_model(path, "RecurrentCascadeCorrelation")
        n_hidden = build_from_config(
            lambda: check_int("n_hidden", config.pop("n_hidden"), minimum=0, maximum=1000), path)
        net = build_from_config(lambda: cls(**config, seed=0), path)
        net.hidden_in = [np.zeros(net.n_in + 1 + j) for j in range(n_hidden)]
        net.hidden_self = [0.0] * n_hidden
        net.out_w = np.zeros((net.n_out, net.n_in + 1 + n_hidden))
        net.set_weights(arrays)
        return net


def _candidate_scores(Z: np.ndarray, m: np.ndarray, E_c: np.ndarray, W: np.ndarray, s: np.ndarray, *,
                      with_gradient: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores S_c (C,) of C candidate units and, with_gradient, dS_c/dW (C, S) and dS_c/ds (C,).

    Z (T, N, S): the candidates' sources; m (T, N): masked patterns; E_c (T, N, K): residual
    errors minus their mean over the masked patterns (0 elsewhere); W (C, S), s (C,).
    S_c = sum_k |sum_p (v_pc - mean v_c) E_c[p, k]|; as sum_p E_c[p, k] = 0, the mean of v drops out
    of the gradient: dS_c/dw = sum_p g_pc dv_pc/dw with g_pc = sum_k sign(cov_ck) E_c[p, k].
    """
    T, N, S = Z.shape
    C = W.shape[0]
    n_pat = max(int(m.sum()), 1)
    V = RecurrentCascadeCorrelation._unit(Z, W, s)                         # (T, N, C)
    V_mean = (V * m[:, :, None]).sum(axis=(0, 1)) / n_pat
    cov = np.einsum("tnc,tnk->ck", (V - V_mean) * m[:, :, None], E_c)       # (C, K)
    score = np.abs(cov).sum(axis=1)
    if not with_gradient:
        return score, np.zeros((C, S)), np.zeros(C)
    g = np.einsum("ck,tnk->tnc", np.sign(cov), E_c)
    # forward sensitivities of v through the self-link:
    #   dv(t)/dW = f'(t) (z(t) + s dv(t-1)/dW),  dv(t)/ds = f'(t) (v(t-1) + s dv(t-1)/ds)
    dW = np.zeros((N, C, S))
    ds = np.zeros((N, C))
    grad_W = np.zeros((C, S))
    grad_s = np.zeros(C)
    prev = np.zeros((N, C))
    for t in range(T):
        fp = V[t] * (1.0 - V[t])
        dW = fp[:, :, None] * (Z[t][:, None, :] + s[None, :, None] * dW)
        ds = fp * (prev + s * ds)
        grad_W += np.einsum("nc,ncs->cs", g[t], dW)
        grad_s += np.einsum("nc,nc->c", g[t], ds)
        prev = V[t]
    return score, grad_W, grad_s
