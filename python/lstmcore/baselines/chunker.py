"""The two-net Neural Sequence Chunker (Schmidhuber 1992, "Learning complex, extended sequences
using the principle of history compression"), as the 1997 paper's Table 2 used it.

Two recurrent nets predict the next input of a sequence:

- the **automatizer** A reads every input x(t) and predicts the next one. It has extra outputs,
  one per hidden unit of C, trained to predict C's current hidden state;
- the **chunker** C reads only the inputs A failed to predict (and the first input of every
  sequence), and predicts the next such "unexpected" input.

C's sequences are short (only the surprises), so C bridges long lags over which A's error flow
vanishes; A, learning to predict C's state at every step, gets error signals over short lags that
teach its hidden units what C has stored (the "collapse" of C into A).

Table 2 (Exp. 2a, p = 100): both nets like the RTRL net (one self-recurrent hidden unit, outputs
fed by the inputs and the hidden unit, no biases), learning rate 1.0; A's extra output makes it
(p + 2)(p + 3) = 10506 weights, the table's count for CH. Choices where the paper is silent are in
docs/BASELINES.md.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .._io import build_from_config, load_model, save_model
from .._validation import as_mask, as_real_array, check_choice, check_int, check_real
from ._recurrent_net import RecurrentNet

__all__ = ["NeuralSequenceChunker"]


def _hidden_states(net: RecurrentNet, x: np.ndarray) -> np.ndarray:
    """Hidden activations (T, n_hidden) of a net with recurrence "hidden" or "self" on x (T, n_in)."""
    w = net.get_weights()
    W_hx = w["W_hx"]
    b = w.get("b_h", np.zeros(W_hx.shape[0]))
    h = np.zeros(W_hx.shape[0])
    out = np.zeros((x.shape[0], W_hx.shape[0]))
    for t in range(x.shape[0]):
        # h(t) = f(W_hx x(t) + W_hh h(t-1) + b)   (Self: w_hh * h(t-1) elementwise)
        rec = w["W_hh"] @ h if "W_hh" in w else w["w_hh"] * h
        h = 1.0 / (1.0 + np.exp(-np.clip(W_hx @ x[t] + rec + b, -700.0, 700.0)))
        out[t] = h
    return out


class NeuralSequenceChunker:
    """Schmidhuber's two-net sequence chunker for next-input prediction.

    Parameters
    ----------
    n_in : int
        Input (= predicted) units, e.g. p + 1 for Exp. 2a.
    n_hidden : int, default 1
        Hidden units of each net.
    recurrence : {"self", "hidden"}, default "self"
        Hidden-layer recurrence of both nets (see :class:`RecurrentNet`).
    shortcut : bool, default True
        Input-to-output connections (Table 2's nets: "each layer has connections from all layers below").
    bias : bool, default False
    init_range : float, default 0.2
        Initial weights uniform in [-init_range, init_range] (the paper's Exp. 2 range).
    threshold : float, default 0.25
        A prediction fails when some output is off by this much or more (the task's success
        threshold, ABS(0.25) for Exp. 2a); at test time, A is "confident" at a step when every
        output is within it of 0 or 1.
    method : {"rtrl", "elman"}, default "rtrl"
        Gradient of both nets (online, per-step updates).
    dtype, seed : as for RecurrentNet

    Attributes
    ----------
    automatizer, chunker : RecurrentNet
    n_weights : int
        Weights of both nets; ``automatizer.n_weights`` is the paper's count.
    """

    def __init__(self, n_in: int, *, n_hidden: int = 1, recurrence: str = "self", shortcut: bool = True,
                 bias: bool = False, init_range: float = 0.2, threshold: float = 0.25, method: str = "rtrl",
                 dtype: Any = np.float64, seed: Optional[int] = None) -> None:
        n_in = check_int("n_in", n_in)
        n_hidden = check_int("n_hidden", n_hidden)
        check_choice("recurrence", recurrence, ("self", "hidden"))
        self.threshold = check_real("threshold", threshold, minimum=0.0)
        self.method = check_choice("method", method, ("rtrl", "elman"))
        seeds = np.random.default_rng(seed).integers(0, 2**63, size=2)
        common = dict(recurrence=recurrence, shortcut=shortcut, bias=bias, init_range=init_range, dtype=dtype)
        self.automatizer = RecurrentNet(n_in, n_hidden, n_in + n_hidden, seed=int(seeds[0]), **common)
        self.chunker = RecurrentNet(n_in, n_hidden, n_in, seed=int(seeds[1]), **common)
        self.n_in, self.n_hidden = n_in, n_hidden
        self._config = dict(n_in=n_in, n_hidden=n_hidden, recurrence=recurrence, shortcut=bool(shortcut),
                            bias=bool(bias), init_range=float(init_range), threshold=self.threshold,
                            method=self.method, dtype=self.automatizer.dtype.name)
        self.sequences_trained = 0

    @property
    def n_weights(self) -> int:
        return self.automatizer.n_weights + self.chunker.n_weights

    def __repr__(self) -> str:
        return (f"NeuralSequenceChunker({self.n_in}, n_hidden={self.n_hidden}; automatizer "
                f"{self.automatizer.n_weights} weights, chunker {self.chunker.n_weights} weights)")

    # ---- the chunker's view of a sequence ----------------------------------------------------
    def _chunker_sequence(self, x: np.ndarray, failed: np.ndarray, target: np.ndarray):
        """C's inputs, targets and mask, and for every step t the index k(t) of C's latest step.

        C steps at t = 0 and at t + 1 for every failed prediction t < T - 1 (x(t+1) was
        unexpected). The target of C's step k is the target of the first failed prediction at
        or after C's step k's time (the next unexpected input); none if A fails no more.
        """
        T = x.shape[0]
        steps = [0] + [t + 1 for t in range(T - 1) if failed[t]]
        inputs = x[steps]
        c_target = np.zeros((len(steps), self.n_in), dtype=x.dtype)
        c_mask = np.zeros(len(steps), bool)
        fail_times = np.flatnonzero(failed)
        for k, tau in enumerate(steps):
            later = fail_times[fail_times >= tau]
            if later.size:
                c_target[k] = target[later[0]]
                c_mask[k] = True
        latest = np.searchsorted(np.array(steps), np.arange(T), side="right") - 1  # k(t)
        return inputs, c_target, c_mask, latest

    def _failures(self, prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return mask & (np.abs(prediction - target).max(axis=1) >= self.threshold)

    def _check(self, x: Any, target: Any, mask: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        dtype = self.automatizer.dtype
        x = as_real_array("x", x, dtype, (None, self.n_in))
        target = as_real_array("target", target, dtype, (x.shape[0], self.n_in))
        m = as_mask(mask, x.shape[0])
        return x, target, np.ones(x.shape[0], bool) if m is None else m.astype(bool)

    # ---- training and prediction -------------------------------------------------------------
    def train_sequence(self, x: Any, target: Any, mask: Any = None, *, lr: float) -> float:
        """Train both nets on one sequence (online, per-step updates).

        Parameters
        ----------
        x : array_like, shape (T, n_in)
        target : array_like, shape (T, n_in)
            The next input at every step (target[t] = x[t+1]; the last one is the symbol after
            the sequence), as the next-symbol tasks of Exp. 2 give it.
        mask : array_like of bool, shape (T,), optional
        lr : float
            Learning rate of both nets.

        Returns
        -------
        loss : float
            The automatizer's prediction loss (its next-input outputs) before the update.
        """
        lr = check_real("lr", lr, minimum=0.0)
        x, target, mask = self._check(x, target, mask)
        A, C = self.automatizer, self.chunker
        n = self.n_in
        prediction = A.forward(x)[:, :n]  # with the weights before this sequence
        failed = self._failures(prediction, target, mask)
        c_x, c_target, c_mask, latest = self._chunker_sequence(x, failed, target)
        c_hidden = _hidden_states(C, c_x)  # C's state after each of its steps, before its update
        if c_mask.any():
            C.train_sequence(c_x, c_target, c_mask, lr=lr, method=self.method)
        # A's targets: the next input and C's current hidden state, at every step
        a_target = np.concatenate([target, c_hidden[latest].astype(target.dtype)], axis=1)
        a_mask = mask.copy()
        A.train_sequence(x, a_target, a_mask, lr=lr, method=self.method)
        self.sequences_trained += 1
        e = (prediction - target)[mask]
        return 0.5 * float(np.sum(e * e))

    def forward(self, x: Any) -> np.ndarray:
        """The system's predictions (T, n_in) of the next input: A's where A is confident (every
        output within `threshold` of 0 or 1), else C's prediction of the next unexpected input."""
        dtype = self.automatizer.dtype
        x = as_real_array("x", x, dtype, (None, self.n_in))
        T = x.shape[0]
        if T == 0:
            return np.zeros((0, self.n_in), dtype=dtype)
        prediction = self.automatizer.forward(x)[:, :self.n_in]
        confident = np.abs(prediction - np.round(prediction)).max(axis=1) < self.threshold
        # at test time the target is unknown: an unconfident prediction counts as a failure
        c_x, _, _, latest = self._chunker_sequence(x, ~confident, prediction)
        c_prediction = self.chunker.forward(c_x)
        out = prediction.copy()
        out[~confident] = c_prediction[latest[~confident]]
        return out

    def forward_many(self, sequences: Any) -> list:
        """forward() of each x in a list (for :class:`lstmcore.baselines.SequenceTest`)."""
        return [self.forward(x) for x in sequences]

    def forward_automatizer(self, x: Any) -> np.ndarray:
        """The automatizer's own next-input predictions (T, n_in), without C."""
        return self.automatizer.forward(x)[:, :self.n_in]

    # ---- persistence -------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Write both nets and the settings in lstmcore's model format (see LSTM1997.save)."""
        arrays = {f"automatizer.{k}": v for k, v in self.automatizer.get_weights().items()}
        arrays.update({f"chunker.{k}": v for k, v in self.chunker.get_weights().items()})
        save_model(path, "NeuralSequenceChunker", dict(self._config), arrays)

    @classmethod
    def load(cls, path: Any) -> "NeuralSequenceChunker":
        """Read a chunker written by :meth:`save`; invalid files raise ValueError."""
        config, arrays = load_model(path, "NeuralSequenceChunker")
        net = build_from_config(lambda: cls(**config, seed=0), path)
        for name, part in (("automatizer", net.automatizer), ("chunker", net.chunker)):
            prefix = name + "."
            part.set_weights({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        return net
