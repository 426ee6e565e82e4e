"""Train an lstmcore.LSTM with a linear readout on the adding problem (1997 paper, Experiment 4).

Each sequence is a series of (value, marker) pairs, values uniform in [-1, 1]; two pairs are
marked, and at the last step the network must output ``0.5 + (X1 + X2) / 4`` (lstmcore.tasks.Adding;
lengths vary between T and T + T // 10, so batches are padded and the layer gets ``lengths``).

The model is a float32 ``lstmcore.LSTM(2, hidden)`` whose final hidden state (each sequence's own
last step) feeds a linear readout written in NumPy. Training uses minibatches of fresh sequences,
the loss ``1/2 * mean((y - target)^2)``, gradient-norm clipping and Adam from ``lstmcore.optim``;
the forget gates' biases start at +1 (``--forget-bias``).
An epoch here is ``--epoch-steps`` minibatches; after each, the script prints the mean training
squared error and, on a fixed test set, the mean squared error and the fraction of sequences with absolute
error below 0.04 (the paper's success criterion). It exits with status 0 as soon as the test MSE
falls below ``--target-mse``, and with status 1 if ``--steps`` minibatches do not get there.

Run::

    python examples/train_adding.py --T 20 --hidden 32 --steps 4000 --seed 0
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Tuple

import numpy as np

import lstmcore
from lstmcore.optim import Adam, clip_grad_norm
from lstmcore.tasks import Adding


def make_batch(task: Adding, rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n sequences, zero-padded to the longest: x (T_max, n, 2) float32, lengths (n,), targets (n,)."""
    samples = [task.sample(rng) for _ in range(n)]
    lengths = np.array([len(x) for x, _, _ in samples])
    x = np.zeros((lengths.max(), n, task.n_in), np.float32)
    for i, (xi, _, _) in enumerate(samples):
        x[:len(xi), i] = xi
    # the only target of a sequence is at its last step
    targets = np.array([target[-1, 0] for _, target, _ in samples], np.float32)
    return x, lengths, targets


def predict(lstm: lstmcore.LSTM, W: np.ndarray, b: np.ndarray, x: np.ndarray, lengths: np.ndarray) -> Tuple:
    """Readout of each sequence's last hidden state: y = h W^T + b, (n,). Also returns h (n, H)."""
    _, (h_n, _) = lstm(x, lengths=lengths)
    h = h_n[-1]  # (n, H): the top layer's state at each sequence's own last step
    return (h @ W.T + b)[:, 0], h


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=positive_int, default=4000, help="maximal number of minibatches")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the data")
    parser.add_argument("--T", type=positive_int, default=20, help="minimal sequence length (>= 20)")
    parser.add_argument("--hidden", type=positive_int, default=32, help="LSTM hidden size")
    parser.add_argument("--batch", type=positive_int, default=32, help="sequences per minibatch")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--forget-bias", type=float, default=1.0, help="added to the forget gates' bias at init")
    parser.add_argument("--clip", type=float, default=1.0, help="maximal gradient norm")
    parser.add_argument("--epoch-steps", type=positive_int, default=100, help="minibatches per epoch (between test runs)")
    parser.add_argument("--test-size", type=positive_int, default=1000, help="test sequences")
    parser.add_argument("--target-mse", type=float, default=2.5e-4, help="stop when the test MSE is below this")
    args = parser.parse_args(argv)

    task = Adding(args.T, dtype=np.float32)
    rng = np.random.default_rng(args.seed)
    x_test, len_test, y_test = make_batch(task, np.random.default_rng([args.seed, 1]), args.test_size)

    lstm = lstmcore.LSTM(task.n_in, args.hidden, dtype=np.float32, seed=args.seed, num_threads=1)
    # forget gates open at the start (bias + --forget-bias, gate order i, f, g, o) so cells keep
    # their contents; with the plain init, 2 of 6 seeds tried stayed on the predict-the-mean plateau
    lstm.parameters()["bias_ih_l0"][args.hidden:2 * args.hidden] += args.forget_bias
    bound = 1.0 / np.sqrt(args.hidden)
    W = rng.uniform(-bound, bound, (task.n_out, args.hidden)).astype(np.float32)  # readout weight (1, H)
    b = np.full(task.n_out, 0.5, np.float32)  # readout bias (1,): the mean target
    # one mapping of live arrays: the layer's (by torch's names) and the readout's
    params = {**lstm.parameters(), "readout.weight": W, "readout.bias": b}
    opt = Adam(params, lr=args.lr)
    grad_h_n = np.zeros((1, args.batch, args.hidden), np.float32)

    start = time.perf_counter()
    sq_errors = []
    for step in range(1, args.steps + 1):
        x, lengths, target = make_batch(task, rng, args.batch)
        y, h = predict(lstm, W, b, x, lengths)
        # L = 1/2 * mean_i (y_i - target_i)^2  (the printed training error is the MSE, 2 L)
        err = y - target
        sq_errors.append(float(np.mean(err ** 2)))
        # dL/dy_i = (y_i - target_i) / n
        d_y = (err / args.batch)[:, None]  # (n, 1)
        # dL/dW = d_y^T h, dL/db = sum_i d_y_i, dL/dh = d_y W
        grads = {"readout.weight": d_y.T @ h, "readout.bias": d_y.sum(axis=0)}
        grad_h_n[0] = d_y @ W
        lstm.backward(None, grad_h_n)  # fills lstm.grads (overwritten)
        grads.update(lstm.grads)
        clip_grad_norm(grads, args.clip)
        opt.step(grads)  # updates W, b and the layer's parameters in place

        if step % args.epoch_steps == 0 or step == args.steps:
            y_hat, _ = predict(lstm, W, b, x_test, len_test)
            abs_err = np.abs(y_hat - y_test)
            mse = float(np.mean(abs_err ** 2))
            correct = float(np.mean(abs_err < task.abs_error_threshold))
            print(f"epoch {-(-step // args.epoch_steps):3d}  step {step:5d}  train mse {np.mean(sq_errors):.5f}  "
                  f"test mse {mse:.5f}  correct (|err| < {task.abs_error_threshold}) {correct:6.1%}  "
                  f"{time.perf_counter() - start:5.1f} s", flush=True)
            sq_errors.clear()
            if mse < args.target_mse:
                print(f"solved: test mse {mse:.5f} < {args.target_mse} after {step} minibatches "
                      f"({step * args.batch} sequences); {correct:.1%} of {args.test_size} test sequences "
                      f"have absolute error < {task.abs_error_threshold}")
                return 0
    print(f"not solved: test mse {mse:.5f} >= {args.target_mse} after {args.steps} minibatches")
    return 1


if __name__ == "__main__":
    sys.exit(main())
