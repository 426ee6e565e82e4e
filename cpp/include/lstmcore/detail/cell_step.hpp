// Internal (not API): one time step of a torch-style LSTM cell (gate order i, f, g, o) for a block
// of rows of a batch, shared by the streaming layer (lstm_stream.cpp) and the online trainer
// (lstm_online.cpp). The maths is that of lstm_layer.hpp (tanh: detail/vector_tanh.hpp):
//   a = x W_ih^T + h(t-1) W_hh^T + b_ih + b_hh                  [nb, 4H]
//   i = sigmoid(a_i + w_ci * c(t-1)), f = sigmoid(a_f + w_cf * c(t-1)), g = tanh(a_g)
//   c = f * c(t-1) + i * g,  o = sigmoid(a_o + w_co * c),  h = o * tanh(c)
// Nothing here allocates after construction.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>

#include "lstmcore/detail/cell_math.hpp"
#include "lstmcore/detail/gemm_panel.hpp"
#include "lstmcore/detail/vector_tanh.hpp"
#include "lstmcore/lstm_layer.hpp"
#include "lstmcore/threads.hpp"

namespace lstmcore {
namespace detail {

#ifdef EIGEN_RUNTIME_NO_MALLOC
// Test builds check that the step loops never allocate (cpp/tests).
#define LSTMCORE_STEP_NO_MALLOC_BEGIN() Eigen::internal::set_is_malloc_allowed(false)
#define LSTMCORE_STEP_NO_MALLOC_END() Eigen::internal::set_is_malloc_allowed(true)
#else
#define LSTMCORE_STEP_NO_MALLOC_BEGIN() ((void)0)
#define LSTMCORE_STEP_NO_MALLOC_END() ((void)0)
#endif

#if defined(__GNUC__) || defined(__clang__)
// One compiled copy of a kernel, whatever calls it (one thread or a team, step or run), so its
// floating-point operations, and thus the results, are the same on every path.
#define LSTMCORE_NOINLINE __attribute__((noinline))
#else
#define LSTMCORE_NOINLINE
#endif

using Index = Eigen::Index;

// Rows (sequences) per block of the batch: fixed, so results never depend on the thread count.
constexpr Index kStepRowBlock = 8;

// Work per step (multiply-adds) from which a call uses its thread team and releases the GIL.
constexpr double kParallelWork = double(1 << 15);

template <typename Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename Scalar>
using ArrayMap = Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>;
template <typename Scalar>
using ConstArrayMap = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>;

// A[nb, M] += X[nb, K] W^T for a weight matrix W [M, K] (row-major, live: read by pack()), with the
// rows of X at stride ldx and the rows of A at stride M. pack() once per call (the weights cannot
// change while a call runs), then add() per block of rows (blocks may run concurrently). The GEMM is
// the layer's (detail/gemm_panel.hpp); a batch of one row uses a plain matrix-vector product instead
// (packing would cost as much as the product).
template <typename Scalar>
class GateProduct {
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

 public:
  GateProduct() = default;
  // M: output width (4H); K: input width; batch: N (a batch of 1 needs no packed copy).
  GateProduct(Index M, Index K, Index batch)
      : M_(M), K_(K), gemv_(batch == 1), packed_(gemv_ ? 0 : gemm::packed_size<Scalar>(K, M)) {}

  void pack(const Scalar* W) {
    W_ = W;
    // W^T [K, M] in the GEMM's panels
    if (!gemv_) gemm::pack_b(W, Index(1), K_, K_, M_, packed_.data(), 0, gemm::panels_of<Scalar>(M_));
  }

  // Rows n0 .. n0+nb of the batch: X at row n0, A at row n0. (`block` is unused, kept for callers.)
  void add(const Scalar* X, Index ldx, Index nb, Index /*block*/, Scalar* A) {
    if (gemv_) {
      // a[M] += W[M, K] x[K]
      Eigen::Map<Vec>(A, M_).noalias() +=
          Eigen::Map<const RowMatrix<Scalar>>(W_, M_, K_) * Eigen::Map<const Vec>(X, K_);
      return;
    }
    // A[nb, M] += X[nb, K] W^T[K, M]
    gemm::gemm_panels<Scalar>(0, nb, K_, X, ldx, 1, packed_.data(), M_, 0, gemm::panels_of<Scalar>(M_), A, M_);
  }

 private:
  Index M_ = 0, K_ = 0;
  bool gemv_ = true;
  const Scalar* W_ = nullptr;
  Vec packed_;  // W^T in panels
};

// Pointwise part of one step for one row (the layer's fused kernel, detail/cell_math.hpp). a: [4H]
// pre-activations (x and h products and biases added) in, activated gates i, f, g, o out; c: [H]
// holds c(t-1) in and c(t) out; tanh_c: [H] out; h: [H] out. Peephole weights are nullptr without
// peepholes.
template <typename Scalar>
inline void cell_pointwise(Index H, const LstmLayerParams<Scalar>& p, bool peepholes, Scalar* a, Scalar* c,
                           Scalar* tanh_c, Scalar* h) {
  cell_row<Scalar>(H, peepholes ? p.w_ci : nullptr, peepholes ? p.w_cf : nullptr, peepholes ? p.w_co : nullptr, a,
                   c, c, h, tanh_c);
}

// a[nb, 4H] = b_ih + b_hh (or 0 without bias)
template <typename Scalar>
inline void init_preactivations(Index G, Index nb, const LstmLayerParams<Scalar>& p, bool bias, Scalar* a) {
  for (Index r = 0; r < nb; ++r) {
    ArrayMap<Scalar> row(a + r * G, G);
    if (bias)
      row = ConstArrayMap<Scalar>(p.b_ih, G) + ConstArrayMap<Scalar>(p.b_hh, G);
    else
      row.setZero();
  }
}

inline int team_size(int num_threads, double work_per_step, Index n_blocks) {
  if (num_threads <= 1 || work_per_step < kParallelWork) return 1;
  // usable_threads: bounded, creatable and fork-safe (threads.hpp)
  return usable_threads(int(std::min<Index>(num_threads, std::max<Index>(n_blocks, 1))));
}

}  // namespace detail
}  // namespace lstmcore
