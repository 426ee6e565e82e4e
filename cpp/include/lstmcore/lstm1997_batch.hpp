// Many sequences of the 1997 network in one call: training in order (an experiment's trial) and
// forward passes in parallel (its stopping and test sets).
//
// Packed sequences: n sequences stored back to back. Sequence i is rows offsets[i] ..
// offsets[i+1] - 1 of
//   x      [R, n_in]    inputs
//   target [R, n_out]   targets
//   mask   [R]          1 where a step has a target (nullptr: every step)
//   y      [R, n_out]   outputs
// with offsets [n + 1], offsets[0] = 0, offsets[n] = R, every sequence at least one step long.
//
// Both functions only call the network's public methods, so they give exactly the numbers of one
// train_sequence / forward call per sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "lstmcore/lstm1997.hpp"

namespace lstmcore {

// Trains the packed sequences one after the other, online, exactly as n calls of
// net.train_sequence(x_i, target_i, mask_i, lr, update) would.
//   loss            [n]  each sequence's loss as accumulated during its pass
//   last_abs_error  [n]  max_k |target_k - y_k| at the sequence's last step, y as computed during
//                        the pass (before that step's update), or nullptr. When the last step is
//                        a sequence's only target, these are the outputs of the weights the
//                        sequence met: what the rules "ABS(beta) at the end" judge.
template <typename Scalar>
void train_batch(Lstm1997<Scalar>& net, const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                 const std::int64_t* offsets, std::size_t n, Scalar lr, UpdateSchedule update, double* loss,
                 double* last_abs_error);

// Forward passes of the packed sequences, each from the zero state, with the parameters of
// `net`, spread over up to num_threads threads (one sequence per thread at a time). Every
// sequence is computed by one network object alone, and objects with equal parameters give
// bitwise equal outputs, so y is bitwise the same for any num_threads.
// `workers` holds the extra network objects of the threads (created on first use, reused).
template <typename Scalar>
void forward_batch(Lstm1997<Scalar>& net, std::vector<std::unique_ptr<Lstm1997<Scalar>>>& workers,
                   const Scalar* x, const std::int64_t* offsets, std::size_t n, Scalar* y, int num_threads);

extern template void train_batch<float>(Lstm1997<float>&, const float*, const float*, const std::uint8_t*,
                                        const std::int64_t*, std::size_t, float, UpdateSchedule, double*, double*);
extern template void train_batch<double>(Lstm1997<double>&, const double*, const double*, const std::uint8_t*,
                                         const std::int64_t*, std::size_t, double, UpdateSchedule, double*,
                                         double*);
extern template void forward_batch<float>(Lstm1997<float>&, std::vector<std::unique_ptr<Lstm1997<float>>>&,
                                          const float*, const std::int64_t*, std::size_t, float*, int);
extern template void forward_batch<double>(Lstm1997<double>&, std::vector<std::unique_ptr<Lstm1997<double>>>&,
                                           const double*, const std::int64_t*, std::size_t, double*, int);

}  // namespace lstmcore
