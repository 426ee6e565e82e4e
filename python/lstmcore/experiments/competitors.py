"""The paper's competitors as model families of the registry (Tables 1 and 2, random guessing).

The engine (:mod:`.engine`) trains any object with ``train_batch``, ``forward_batch``,
``get_weights``/``set_weights`` and ``n_weights`` on packed batches (sequences back to back, rows
``offsets[i]:offsets[i+1]``). This module gives each competitor of :mod:`lstmcore.baselines` that
shape, and a frozen spec per family that a registry row names as its ``net`` (``build(seed,
dtype)``, ``n_weights``, ``describe()``, and ``method``: the row label of the paper's tables):

- :class:`RecurrentSpec` -> :class:`RecurrentModel`: a :class:`~lstmcore.baselines.RecurrentNet`
  trained sequence by sequence, in order, with RTRL (per-step updates), BPTT (per-sequence
  updates) or Elman's procedure;
- :class:`ChunkerSpec` -> :class:`ChunkerModel`: the two-net Neural Sequence Chunker;
- :class:`CascadeSpec` -> :class:`CascadeModel`: Recurrent Cascade-Correlation, one epoch of its
  current phase (output or candidate training) per trained chunk;
- :class:`GuessSpec` -> :class:`GuessModel`: random weight guessing, one fresh guess per
  "training sequence", so the engine's periodic check (every sequence) tests every guess with the
  experiment's own stopping rule and the final test set measures the accepted guess.

The choices made where the paper is silent are in docs/BASELINES.md ("The competitor rows").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Optional, Tuple

import numpy as np

__all__ = ["RecurrentSpec", "RecurrentModel", "ChunkerSpec", "ChunkerModel", "CascadeSpec", "CascadeModel",
           "GuessSpec", "GuessModel", "packed_to_padded", "padded_to_packed"]


# ----------------------------------------------------------------------------------------- packing
def packed_to_padded(x: np.ndarray, offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Packed rows x (R, F) with offsets (n + 1,) -> padded time-major (T, n, F), lengths (n,), and
    the (step, sequence) index of every packed row (R,), (R,)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    n = len(lengths)
    T = int(lengths.max()) if n else 0
    seq = np.repeat(np.arange(n), lengths)                     # row r belongs to sequence seq[r]
    step = np.arange(int(offsets[-1])) - offsets[:-1][seq]     # ... at step r - offsets[seq[r]]
    padded = np.zeros((T, n, x.shape[1]), dtype=x.dtype)
    padded[step, seq] = x
    return padded, lengths, step, seq


def padded_to_packed(y: np.ndarray, step: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Padded (T, n, K) -> packed (R, K), the rows of :func:`packed_to_padded`."""
    return np.ascontiguousarray(y[step, seq])


def _sequence_losses(y: np.ndarray, target: np.ndarray, mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per sequence: 1/2 sum over its masked rows of sum_k (y_k - target_k)^2. y, target (R, K), mask (R,)."""
    e = np.where(mask[:, None], y - target, 0.0)
    row = 0.5 * np.sum(e * e, axis=1)
    return np.add.reduceat(row, offsets[:-1]) if len(offsets) > 1 else np.zeros(0)


# ----------------------------------------------------------------------------------------- RTRL / BPTT / ELM
class RecurrentModel:
    """A RecurrentNet in the engine's protocol; ``gradient`` is "rtrl", "bptt" or "elman"."""

    def __init__(self, net: Any, gradient: str) -> None:
        self.net, self.gradient = net, gradient

    @property
    def n_weights(self) -> int:
        return int(self.net.n_weights)

    def train_batch(self, x: np.ndarray, target: np.ndarray, mask: np.ndarray, offsets: np.ndarray, *,
                    lr: float, update: str, last_error: bool = False) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Train the packed sequences in order, one ``train_sequence`` each; each sequence's loss
        (no last-step error: the rows of this family use periodic checks)."""
        n = len(offsets) - 1
        loss = np.empty(n)
        for i in range(n):
            a, b = int(offsets[i]), int(offsets[i + 1])
            loss[i] = self.net.train_sequence(x[a:b], target[a:b], mask[a:b], lr=lr, method=self.gradient,
                                              update=update)
        return loss, None

    def forward_batch(self, x: np.ndarray, offsets: np.ndarray, *, num_threads: Optional[int] = None) -> np.ndarray:
        """Packed x (R, n_in) -> packed y (R, n_out), every sequence from the zero state."""
        padded, lengths, step, seq = packed_to_padded(x, offsets)
        return padded_to_packed(self.net.forward_batch(padded, lengths), step, seq)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.net.forward(x)

    def get_weights(self) -> Dict[str, np.ndarray]:
        return self.net.get_weights()

    def set_weights(self, weights: Dict[str, np.ndarray]) -> None:
        self.net.set_weights(weights)


@dataclass(frozen=True)
class RecurrentSpec:
    """A conventional recurrent net of the paper's tables (arguments of RecurrentNet) and its
    gradient ("rtrl", "bptt", "elman")."""

    method: str                # the table's label: "RTRL", "BPTT", "ELM"
    n_in: int
    n_hidden: int
    n_out: int
    recurrence: str = "full"
    shortcut: bool = False
    bias: bool = False
    init_range: float = 0.2
    gradient: str = "rtrl"

    def build(self, seed: int, dtype: Any = np.float64) -> RecurrentModel:
        from ..baselines import RecurrentNet

        net = RecurrentNet(self.n_in, self.n_hidden, self.n_out, recurrence=self.recurrence, shortcut=self.shortcut,
                           bias=self.bias, init_range=self.init_range, dtype=dtype, seed=seed)
        return RecurrentModel(net, self.gradient)

    @property
    def n_weights(self) -> int:
        return int(self.build(seed=0).n_weights)

    def describe(self) -> str:
        parts = [f"{self.method}: RecurrentNet({self.n_in}, {self.n_hidden}, {self.n_out})",
                 f"recurrence {self.recurrence}", f"gradient {self.gradient}"]
        if self.shortcut:
            parts.append("input->output")
        parts += ["bias" if self.bias else "no bias", f"init ±{self.init_range:g}"]
        return ", ".join(parts)


# ----------------------------------------------------------------------------------------- chunker
class ChunkerModel:
    """A NeuralSequenceChunker in the engine's protocol; its predictions are the system's
    (``NeuralSequenceChunker.forward``: the automatizer's where it is confident, else the chunker's)."""

    def __init__(self, chunker: Any) -> None:
        self.chunker = chunker

    @property
    def n_weights(self) -> int:
        return int(self.chunker.n_weights)

    def train_batch(self, x: np.ndarray, target: np.ndarray, mask: np.ndarray, offsets: np.ndarray, *,
                    lr: float, update: str, last_error: bool = False) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        n = len(offsets) - 1
        loss = np.empty(n)
        for i in range(n):
            a, b = int(offsets[i]), int(offsets[i + 1])
            loss[i] = self.chunker.train_sequence(x[a:b], target[a:b], mask[a:b], lr=lr)
        return loss, None

    def forward_batch(self, x: np.ndarray, offsets: np.ndarray, *, num_threads: Optional[int] = None) -> np.ndarray:
        parts = [self.chunker.forward(x[int(offsets[i]):int(offsets[i + 1])]) for i in range(len(offsets) - 1)]
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, self.chunker.n_in))

    def get_weights(self) -> Dict[str, np.ndarray]:
        out = {f"automatizer.{k}": v for k, v in self.chunker.automatizer.get_weights().items()}
        out.update({f"chunker.{k}": v for k, v in self.chunker.chunker.get_weights().items()})
        return out

    def set_weights(self, weights: Dict[str, np.ndarray]) -> None:
        for name, part in (("automatizer", self.chunker.automatizer), ("chunker", self.chunker.chunker)):
            prefix = name + "."
            part.set_weights({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})


@dataclass(frozen=True)
class ChunkerSpec:
    """Table 2's two-net chunker: both nets like the RTRL net (one self-recurrent hidden unit,
    input->output connections, no bias); the automatizer has one more output per chunker hidden unit."""

    method: str
    n_in: int
    n_hidden: int = 1
    init_range: float = 0.2
    threshold: float = 0.25

    def build(self, seed: int, dtype: Any = np.float64) -> ChunkerModel:
        from ..baselines import NeuralSequenceChunker

        return ChunkerModel(NeuralSequenceChunker(self.n_in, n_hidden=self.n_hidden, init_range=self.init_range,
                                                  threshold=self.threshold, dtype=dtype, seed=seed))

    @property
    def n_weights(self) -> int:
        """The automatizer's weights: the count the paper's Table 2 gives (the chunker net adds as many again)."""
        return int(self.build(seed=0).chunker.automatizer.n_weights)

    def describe(self) -> str:
        return (f"{self.method}: NeuralSequenceChunker({self.n_in}, n_hidden={self.n_hidden}), self-recurrent "
                f"hidden units, input->output, no bias, init ±{self.init_range:g}, surprise threshold {self.threshold:g}")


# ----------------------------------------------------------------------------------------- RCC
class CascadeModel:
    """Recurrent Cascade-Correlation in the engine's protocol.

    Every ``train_batch`` call is one epoch (one Rprop step) of the current phase on the chunk:

    - output phase: the output weights learn on L = 1/2 sum (y - target)^2; the phase ends when L
      improved by less than 1 % over ``patience`` epochs, or after ``max_epochs``;
    - candidate phase (only while fewer than ``max_hidden`` units are installed): a pool of
      candidates learns to maximise the covariance S of its activation with the residual errors;
      it ends by the same rule on S, and the best candidate is installed (frozen) with a fresh
      random output weight per output unit.

    With the registry's chunks of 256 exemplars drawn from the 256-string training set, an epoch
    is about one pass over the training set, as in Fahlman's batch training.
    """

    def __init__(self, rcc: Any, patience: int, max_epochs: int) -> None:
        from ..baselines.cascade import _Rprop

        self.rcc, self.patience, self.max_epochs = rcc, int(patience), int(max_epochs)
        self._rprop = _Rprop
        self.phase = "output"
        self._start_phase()

    def _start_phase(self) -> None:
        self.best = np.inf if self.phase == "output" else -np.inf
        self.since = self.epochs = 0
        if self.phase == "output":
            self.opt = self._rprop(self.rcc.out_w.shape)
        else:
            S = self.rcc.n_in + 1 + self.rcc.n_hidden
            C, r, rng = self.rcc.n_candidates, self.rcc.init_range, self.rcc._rng
            self.W = rng.uniform(-r, r, size=(C, S))
            self.s = rng.uniform(-r, r, size=C)
            self.opt_w, self.opt_s = self._rprop(self.W.shape), self._rprop(self.s.shape)

    @property
    def n_weights(self) -> int:
        return int(self.rcc.n_weights)

    def train_batch(self, x: np.ndarray, target: np.ndarray, mask: np.ndarray, offsets: np.ndarray, *,
                    lr: float, update: str, last_error: bool = False) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        from ..baselines.cascade import _candidate_scores, _logistic

        rcc = self.rcc
        X, _, step, seq = packed_to_padded(np.asarray(x, dtype=np.float64), offsets)
        Tg = packed_to_padded(np.asarray(target, dtype=np.float64), offsets)[0]
        M = np.zeros(X.shape[:2], bool)
        M[step, seq] = mask
        Z = rcc._sources(X, rcc._hidden(X))                       # (T, N, S): inputs, bias, hidden units
        Y = _logistic(Z @ rcc.out_w.T)                            # (T, N, K), before this epoch's update
        E = (Y - Tg) * M[:, :, None]
        loss = _sequence_losses(padded_to_packed(Y, step, seq), np.asarray(target, np.float64),
                                np.asarray(mask, bool), np.asarray(offsets, np.int64))
        self.epochs += 1
        if self.phase == "output":
            # dL/dV = sum over patterns of (e f'(net)) z^T
            grad = np.einsum("tnk,tns->ks", E * Y * (1.0 - Y), Z)
            rcc.out_w += self.opt.update(grad)
            value = float(loss.sum())
            improved = value < self.best * 0.99
        else:
            n_pat = max(int(M.sum()), 1)
            E_c = (E - E.sum(axis=(0, 1)) / n_pat) * M[:, :, None]    # residuals minus their mean
            score, grad_W, grad_s = _candidate_scores(Z, M, E_c, self.W, self.s, with_gradient=True)
            self.W += self.opt_w.update(-grad_W)                      # ascent on S
            self.s += self.opt_s.update(-grad_s)
            self.last_score = score
            value = float(score.max())
            improved = value > self.best * 1.01
        if improved:
            self.best, self.since = value, 0
        else:
            self.since += 1
        rcc.sequences_seen += len(offsets) - 1
        if self.since >= self.patience or self.epochs >= self.max_epochs:
            if self.phase == "output" and rcc.n_hidden < rcc.max_hidden:
                self.phase = "candidate"
                self._start_phase()
            elif self.phase == "candidate":
                c = int(np.argmax(self.last_score))
                rcc.hidden_in.append(self.W[c].copy())
                rcc.hidden_self.append(float(self.s[c]))
                new_out = rcc._rng.uniform(-rcc.init_range, rcc.init_range, size=(rcc.n_out, 1))
                rcc.out_w = np.concatenate([rcc.out_w, new_out], axis=1)
                self.phase = "output"
                self._start_phase()
            else:  # all units installed: the output phase goes on
                self.since = self.epochs = 0
        return loss, None

    def forward_batch(self, x: np.ndarray, offsets: np.ndarray, *, num_threads: Optional[int] = None) -> np.ndarray:
        padded, _, step, seq = packed_to_padded(np.asarray(x, dtype=np.float64), offsets)
        return padded_to_packed(self.rcc.forward_batch(padded), step, seq)

    def get_weights(self) -> Dict[str, np.ndarray]:
        return self.rcc.get_weights()

    def set_weights(self, weights: Dict[str, np.ndarray]) -> None:
        self.rcc.set_weights(weights)


@dataclass(frozen=True)
class CascadeSpec:
    """Table 1's Recurrent Cascade-Correlation: up to ``max_hidden`` self-recurrent hidden units."""

    #: Rprop sets its own step sizes: the row's lr is unused (0 in the registry)
    uses_lr: ClassVar[bool] = False
    method: str
    n_in: int
    n_out: int
    max_hidden: int = 9
    n_candidates: int = 8
    init_range: float = 1.0
    patience: int = 12
    max_epochs: int = 200

    def build(self, seed: int, dtype: Any = np.float64) -> CascadeModel:
        from ..baselines import RecurrentCascadeCorrelation

        rcc = RecurrentCascadeCorrelation(self.n_in, self.n_out, max_hidden=self.max_hidden,
                                          n_candidates=self.n_candidates, init_range=self.init_range, seed=seed)
        return CascadeModel(rcc, self.patience, self.max_epochs)

    @property
    def n_weights(self) -> int:
        """Weights with all ``max_hidden`` units installed (the net starts with the output weights only)."""
        h, i, k = self.max_hidden, self.n_in, self.n_out
        return int(sum(i + 1 + j + 1 for j in range(h)) + k * (i + 1 + h))

    def describe(self) -> str:
        return (f"{self.method}: RecurrentCascadeCorrelation({self.n_in}, {self.n_out}), up to {self.max_hidden} "
                f"hidden units, {self.n_candidates} candidates, Rprop epochs, patience {self.patience}, "
                f"init ±{self.init_range:g}")


# ----------------------------------------------------------------------------------------- guessing
class GuessModel:
    """Random weight guessing in the engine's protocol: every trained "sequence" is one new guess
    (all weights uniform in [-init_range, init_range]); its loss is the new guess's loss on that
    sequence. Run with ``check_every=1`` so the stopping rule judges every guess."""

    def __init__(self, model: RecurrentModel, init_range: float, seed: int) -> None:
        self.model, self.init_range = model, float(init_range)
        self.rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(1997, 2)))
        self.shapes = {k: v.shape for k, v in model.get_weights().items()}

    @property
    def n_weights(self) -> int:
        return self.model.n_weights

    def train_batch(self, x: np.ndarray, target: np.ndarray, mask: np.ndarray, offsets: np.ndarray, *,
                    lr: float, update: str, last_error: bool = False) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        n = len(offsets) - 1
        loss = np.empty(n)
        for i in range(n):
            r = self.init_range
            self.model.set_weights({k: self.rng.uniform(-r, r, size=s) for k, s in self.shapes.items()})
            a, b = int(offsets[i]), int(offsets[i + 1])
            y = self.model.forward(x[a:b])
            loss[i] = _sequence_losses(y, target[a:b], mask[a:b], np.array([0, b - a]))[0]
        return loss, None

    def forward_batch(self, x: np.ndarray, offsets: np.ndarray, *, num_threads: Optional[int] = None) -> np.ndarray:
        return self.model.forward_batch(x, offsets)

    def get_weights(self) -> Dict[str, np.ndarray]:
        return self.model.get_weights()

    def set_weights(self, weights: Dict[str, np.ndarray]) -> None:
        self.model.set_weights(weights)


@dataclass(frozen=True)
class GuessSpec:
    """Random weight guessing on a conventional recurrent net (``net``), weights uniform in
    [-init_range, init_range]."""

    #: guessing does not descend a gradient: the row's lr is unused (0 in the registry)
    uses_lr: ClassVar[bool] = False
    method: str
    net: RecurrentSpec
    init_range: float = 10.0

    def build(self, seed: int, dtype: Any = np.float64) -> GuessModel:
        return GuessModel(self.net.build(seed=seed, dtype=dtype), self.init_range, seed)

    @property
    def n_weights(self) -> int:
        return self.net.n_weights

    def describe(self) -> str:
        return (f"{self.method}: every weight of RecurrentNet({self.net.n_in}, {self.net.n_hidden}, {self.net.n_out}, "
                f"recurrence {self.net.recurrence}, {'bias' if self.net.bias else 'no bias'}) drawn uniform in "
                f"±{self.init_range:g} per guess")
