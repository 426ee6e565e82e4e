// Packed batches of the 1997 network: see lstm1997_batch.hpp.
#include "lstmcore/lstm1997_batch.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace lstmcore {

template <typename Scalar>
void train_batch(Lstm1997<Scalar>& net, const Scalar* x, const Scalar* target, const std::uint8_t* mask,
                 const std::int64_t* offsets, std::size_t n, Scalar lr, UpdateSchedule update, double* loss,
                 double* last_abs_error) {
  const std::size_t n_in = net.config().n_in, K = net.config().n_out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r0 = std::size_t(offsets[i]), T = std::size_t(offsets[i + 1] - offsets[i]);
    loss[i] = net.train_sequence(x + r0 * n_in, target + r0 * K, mask ? mask + r0 : nullptr, T, lr, update);
    if (last_abs_error) {
      // e = max_k |target_k(T-1) - y_k(T-1)|, y of the pass's last step
      const Scalar* y = net.last_output();
      const Scalar* t_last = target + (r0 + T - 1) * K;
      double e = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double d = std::abs(double(t_last[k]) - double(y[k]));
        e = (d > e || std::isnan(d)) ? d : e;  // NaN propagates: a NaN output fails every test
      }
      last_abs_error[i] = e;
    }
  }
}

template <typename Scalar>
void forward_batch(Lstm1997<Scalar>& net, std::vector<std::unique_ptr<Lstm1997<Scalar>>>& workers,
                   const Scalar* x, const std::int64_t* offsets, std::size_t n, Scalar* y, int num_threads) {
  const std::size_t n_in = net.config().n_in, K = net.config().n_out;
  const int nt = int(std::max<std::size_t>(1, std::min<std::size_t>(std::size_t(std::max(1, num_threads)), n)));
  // Thread 0 runs `net` itself; threads 1.. each their own copy with the same parameters.
  while (workers.size() + 1 < std::size_t(nt)) workers.push_back(std::make_unique<Lstm1997<Scalar>>(net.config()));
  const std::size_t total = net.layout().total;
  for (int w = 0; w + 1 < nt; ++w) std::copy(net.params(), net.params() + total, workers[w]->params());
  if (nt == 1) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t r0 = std::size_t(offsets[i]), T = std::size_t(offsets[i + 1] - offsets[i]);
      net.forward(x + r0 * n_in, T, y + r0 * K);
    }
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    Lstm1997<Scalar>& mine = tid == 0 ? net : *workers[tid - 1];
    // dynamic: sequences differ in length; which thread runs a sequence does not change its numbers
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < std::int64_t(n); ++i) {
      const std::size_t r0 = std::size_t(offsets[i]), T = std::size_t(offsets[i + 1] - offsets[i]);
      mine.forward(x + r0 * n_in, T, y + r0 * K);
    }
  }
}

template void train_batch<float>(Lstm1997<float>&, const float*, const float*, const std::uint8_t*,
                                 const std::int64_t*, std::size_t, float, UpdateSchedule, double*, double*);
template void train_batch<double>(Lstm1997<double>&, const double*, const double*, const std::uint8_t*,
                                  const std::int64_t*, std::size_t, double, UpdateSchedule, double*, double*);
template void forward_batch<float>(Lstm1997<float>&, std::vector<std::unique_ptr<Lstm1997<float>>>&, const float*,
                                   const std::int64_t*, std::size_t, float*, int);
template void forward_batch<double>(Lstm1997<double>&, std::vector<std::unique_ptr<Lstm1997<double>>>&,
                                    const double*, const std::int64_t*, std::size_t, double*, int);

}  // namespace lstmcore
