"""Packed batches against naive per-sequence constructions from the same random numbers: the
vectorised bookkeeping (offsets, rows of the information elements, noise in row order) must
put every draw where the recipe says, bitwise."""
import numpy as np
import pytest

from lstmcore.tasks import TwoSequence
from lstmcore.tasks.batch import pack_lengths, pack_offsets


def naive_two_sequence_batch(task, rng, n):
    """TwoSequence.sample_batch's draws in its documented order (classes, lengths, input noise for
    all rows in row order, target noise), assembled one sequence at a time."""
    sign = [1 if u < 0.5 else -1 for u in rng.random(n)]
    L = [int(v) for v in rng.integers(task.min_length, task.max_length + 1, size=n)]
    std = np.sqrt(task.input_noise_variance)
    noise = iter(rng.normal(0.0, std, size=sum(L) if task.info_noise else sum(L) - n * task.N))
    xs, cleans, targets = [], [], []
    target_noise = rng.normal(0.0, np.sqrt(task.target_noise_variance), size=n) if task.target_noise_variance else None
    for i in range(n):
        x = []
        for j in range(L[i]):
            if j < task.N:
                x.append(sign[i] + next(noise) if task.info_noise else float(sign[i]))
            else:
                x.append(next(noise))
        clean = np.zeros(L[i])
        clean[-1] = task.class_targets[0] if sign[i] > 0 else task.class_targets[1]
        target = clean.astype(task.dtype)
        if target_noise is not None:
            target[-1] += target_noise[i]
        xs.append(np.array(x).astype(task.dtype))
        cleans.append(clean.astype(task.dtype))
        targets.append(target)
    return np.concatenate(xs), np.concatenate(targets), np.concatenate(cleans), L, sign


@pytest.mark.parametrize("variant", ["3a", "3b", "3c"])
@pytest.mark.parametrize("T, N, dtype", [(100, 3, np.float64), (10, 9, np.float64), (2, 1, np.float32), (30, 1, np.float32)])
def test_two_sequence_batch_equals_a_naive_assembly_of_the_same_draws(variant, T, N, dtype):
    task = TwoSequence(T, N, variant, dtype=dtype)
    for seed, n in ((0, 1), (1, 7), (2, 64)):
        b = task.sample_batch(np.random.default_rng(seed), n)
        x, target, clean, L, sign = naive_two_sequence_batch(task, np.random.default_rng(seed), n)
        assert b.x.dtype == b.target.dtype == b.clean_target.dtype == np.dtype(dtype)
        assert b.x[:, 0].tobytes() == x.tobytes()
        assert b.target[:, 0].tobytes() == target.tobytes() and b.clean_target[:, 0].tobytes() == clean.tobytes()
        assert list(np.diff(b.offsets)) == L and list(b.info["sign"]) == sign
        assert np.array_equal(np.flatnonzero(b.mask), b.offsets[1:] - 1)


def test_pack_offsets_and_lengths_bookkeeping():
    lengths = np.array([3, 1, 4, 1, 5])
    offsets, seq, pos, last = pack_lengths(lengths)
    assert offsets.tolist() == [0, 3, 4, 8, 9, 14] and last.tolist() == [2, 3, 7, 8, 13]
    assert seq.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 3, 4, 4, 4, 4, 4]
    assert pos.tolist() == [0, 1, 2, 0, 0, 1, 2, 3, 0, 0, 1, 2, 3, 4]
    o2, l2 = pack_offsets(lengths)
    assert o2.tolist() == offsets.tolist() and l2.tolist() == last.tolist()
