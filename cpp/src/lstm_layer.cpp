// One direction of one torch-style LSTM layer: forward, exact BPTT and the 1997 truncated
// gradient. The maths is in lstm_layer.hpp; each line below carries its formula.
#include "lstmcore/lstm_layer.hpp"

#include "lstmcore/detail/gemm_panel.hpp"
#include "lstmcore/detail/cell_math.hpp"
#include "lstmcore/threads.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // sysconf: the L2 size
#endif

namespace lstmcore {

namespace {

using Index = Eigen::Index;

template <typename Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <typename Scalar>
void check_params(const LstmLayerDims& d, const LstmLayerParams<Scalar>& p) {
  d.validate();
  if (!p.W_ih || !p.W_hh) throw std::invalid_argument("W_ih, W_hh: required");
  if (d.bias && (!p.b_ih || !p.b_hh)) throw std::invalid_argument("b_ih, b_hh: required with bias");
  if (d.peepholes && (!p.w_ci || !p.w_cf || !p.w_co))
    throw std::invalid_argument("w_ci, w_cf, w_co: required with peepholes");
  if (d.proj_size && !p.W_hr) throw std::invalid_argument("W_hr: required with proj_size > 0");
}

// Threads for a call with `macs` multiply-adds: a thread needs about 2^20 of them (some tens of
// microseconds) to repay starting the team and meeting at its barriers. The result is the same for
// any thread count, so this is only about speed.
// (usable_threads: bounded, creatable and fork-safe; threads.hpp)
int threads(int num_threads, double macs) {
  const double useful = std::max(1.0, macs / double(1 << 20));
  return usable_threads(int(std::max(1.0, std::min(double(std::max(1, num_threads)), useful))));
}

template <typename Scalar>
using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;  // aligned buffer

// Bytes of one core's L2 cache (512 KiB when the system does not say).
std::size_t l2_bytes() {
  static const std::size_t bytes = [] {
    long b = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
    b = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return b > 0 ? std::size_t(b) : std::size_t(512) << 10;
  }();
  return bytes;
}

using gemm::gemm_panels;
using gemm::gemm_rows_outer;
using gemm::pack_b;
using gemm::packed_size;
using gemm::panels_of;

// Rows of the input-projection GEMM per parallel block, rows of grad_x per block, gate rows of the
// weight-gradient GEMM per block: fixed sizes, so results do not depend on the thread count.
constexpr Index kInputRows = 128;
constexpr Index kGateRows = 24;

// Packed weights up to this size are read at every step when each thread has enough rows (see
// the input projection in layer_forward): below the L3 of the CPUs this library targets.
constexpr std::size_t kStreamedWeightBytes = std::size_t(8) << 20;

Index chunks_of(Index N) { return (N + Index(kLstmBatchChunk) - 1) / Index(kLstmBatchChunk); }

// What backward needs from forward (see LstmLayer): per step and sequence I + 5H numbers (+ P
// with a projection).
template <typename Scalar>
struct LayerCache {
  std::size_t T = 0, N = 0;
  RowMatrix<Scalar> x;       // [T*N, I]   input (copy)
  RowMatrix<Scalar> gates;   // [T*N, 4H]  activated i, f, g, o
  RowMatrix<Scalar> c;       // [T*N, H]   c after each step
  RowMatrix<Scalar> h;       // [T*N, P]   h after each step (projection only; else empty)
  RowMatrix<Scalar> h0;      // [N, R]     initial state
  RowMatrix<Scalar> c0;      // [N, H]
  std::vector<std::int64_t> lengths;  // [N]; empty: every sequence has length T
};

template <typename Scalar>
void layer_forward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p, const LstmForwardArgs<Scalar>& args,
                   LayerCache<Scalar>& cache, int num_threads);
template <typename Scalar>
void layer_backward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p, const LayerCache<Scalar>& cache,
                    const LstmBackwardArgs<Scalar>& args, const LstmLayerGrads<Scalar>& grads, int num_threads);

}  // namespace

const char* lstm_layer_gemm_kernel() { return gemm::kernel_isa(); }

void LstmLayerDims::validate() const {
  if (input_size < 1 || input_size > kMaxSize) throw std::invalid_argument("input_size: expected 1 .. 2^24");
  if (hidden_size < 1 || hidden_size > kMaxSize) throw std::invalid_argument("hidden_size: expected 1 .. 2^24");
  if (proj_size >= hidden_size)
    throw std::invalid_argument("proj_size: expected 0 .. hidden_size - 1 = " + std::to_string(hidden_size - 1) +
                                ", got " + std::to_string(proj_size));
}

double LstmLayerDims::param_values() const {
  const double I = double(input_size), H = double(hidden_size), R = double(recurrent_size()), P = double(proj_size);
  return 4 * H * (I + R) + (bias ? 8 * H : 0.0) + (peepholes ? 3 * H : 0.0) + P * H;
}

double LstmLayerDims::forward_values_per_item() const {
  return double(input_size) + 5 * double(hidden_size) + double(recurrent_size()) + double(proj_size);
}

namespace {

// Forward (see LstmLayer::forward): the input projection, then the time loop per share of the batch.
template <typename Scalar>
void layer_forward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p, const LstmForwardArgs<Scalar>& args,
                   LayerCache<Scalar>& cache, int num_threads) {
  check_params(dims, p);
  const Scalar* x = args.x;                   // [T, N, I]
  const std::size_t T = args.steps, N = args.batch;
  const Scalar *h0 = args.h0, *c0 = args.c0;  // [N, R], [N, H] or nullptr
  const std::int64_t* lengths = args.lengths;  // [N] or nullptr
  Scalar *out = args.out, *h_n = args.h_n, *c_n = args.c_n;
  if (T < 1 || N < 1) throw std::invalid_argument("x: expected T >= 1 and N >= 1");
  if (!x || !out || !h_n || !c_n) throw std::invalid_argument("x, out, h_n, c_n: required");
  using RM = RowMatrix<Scalar>;
  const Index I = Index(dims.input_size), H = Index(dims.hidden_size), G = 4 * H;
  const Index P = Index(dims.proj_size), R = Index(dims.recurrent_size());  // R: width of h
  const Index TN = Index(T * N), Nn = Index(N);
  const int nt = threads(num_threads, double(T) * double(N) *
                                          (double(G) * double(I + R) + double(P) * double(H)));

  cache.lengths.clear();
  if (lengths) {
    for (std::size_t n = 0; n < N; ++n)
      if (lengths[n] < 0 || std::size_t(lengths[n]) > T)
        throw std::invalid_argument("lengths: expected values in [0, T], got " + std::to_string(lengths[n]));
    cache.lengths.assign(lengths, lengths + N);
  }
  // Allocation happens here, before any time loop.
  cache.T = T;
  cache.N = N;
  cache.x.resize(TN, I);                     // x: [T*N, I] (copied in the parallel region)
  cache.gates.resize(TN, G);                 // [T*N, 4H]
  cache.c.resize(TN, H);                     // [T*N, H]
  cache.h.resize(P ? TN : 0, P);             // [T*N, P] (projection only)
  if (h0) cache.h0 = Eigen::Map<const RM>(h0, Nn, R); else cache.h0.setZero(Nn, R);
  if (c0) cache.c0 = Eigen::Map<const RM>(c0, Nn, H); else cache.c0.setZero(Nn, H);

  // b = b_ih + b_hh   [4H]
  Eigen::Matrix<Scalar, 1, Eigen::Dynamic> b = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>::Zero(G);
  if (dims.bias)
    b = Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(p.b_ih, G) +
        Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(p.b_hh, G);
  // W_ih^T [I, 4H], W_hh^T [R, 4H] and (projection) W_hr^T [H, P], packed once for all steps and
  // threads at the start of the parallel region (read-only after it).
  Vec<Scalar> W_ihT(packed_size<Scalar>(I, G)), W_hhT(packed_size<Scalar>(R, G)), W_hrT(packed_size<Scalar>(H, P));
  const Index np_G = panels_of<Scalar>(G), np_P = panels_of<Scalar>(P);
  // m = o * tanh(c) of the step's rows before the projection [N, H] (each share its own rows)
  RM m_step(P ? Nn : 0, H);
  const std::int64_t* len = cache.lengths.empty() ? nullptr : cache.lengths.data();
  const Index n_row_blocks = (TN + kInputRows - 1) / kInputRows;
  RM& A_all = cache.gates;
  const bool one_row = Nn == 1;  // the recurrent product has one row: the single-row GEMM kernel
  // Time loop: each thread steps its own contiguous share of the batch through all steps, with no
  // synchronisation between threads (a barrier per step costs a scheduler time slice whenever the
  // machine is loaded, see docs/CHANGELOG.md). Every row's arithmetic is the same however the
  // batch is shared out.
  const Index n_shares = std::min<Index>(nt, Nn), share_rows = (Nn + n_shares - 1) / n_shares;
  // The input projection a(t) = x(t) W_ih^T + (b_ih + b_hh): inside the time loop, step by step
  // on the thread's rows, so a step's gate rows are written once and stay in cache (computing all
  // T*N rows first sends [T*N, 4H] through memory twice more), when W_ih^T is cheap to read at
  // every step: the batch has 8 rows or more and the packed W_ih^T and W_hh^T fit in L2 together,
  // or each thread has 16 rows or more (16 multiply-adds per weight read from L3 keep the FMA
  // pipes ahead of the reads) and they fit in kStreamedWeightBytes. Otherwise hoisted: one GEMM over all T*N rows
  // in fixed row blocks (a few rows per step would make a poor GEMM, and weights beyond L3 would be
  // read from memory at every step). Either way each element is the same sum,
  // b + sum_k x_k W_ih^T(k, j), before the recurrent sum is added. (The thresholds and their
  // measurements: docs/CHANGELOG.md.)
  const std::size_t weight_bytes =
      std::size_t(packed_size<Scalar>(I + R, G) + (P ? packed_size<Scalar>(H, P) : 0)) * sizeof(Scalar);
  const bool input_per_step = (Nn >= 8 && weight_bytes <= l2_bytes()) ||
                              (share_rows >= 16 && weight_bytes <= kStreamedWeightBytes);

#pragma omp parallel num_threads(nt)
  {
    // The packing of W_ih^T and W_hh^T (a transposing gather) and the copy of x into the cache,
    // shared out between the threads: panels, then fixed row blocks.
#pragma omp for schedule(static) nowait
    for (Index pnl = 0; pnl < np_G; ++pnl) {
      pack_b(p.W_ih, Index(1), I, I, G, W_ihT.data(), pnl, pnl + 1);
      pack_b(p.W_hh, Index(1), R, R, G, W_hhT.data(), pnl, pnl + 1);
    }
#pragma omp for schedule(static) nowait
    for (Index pnl = 0; pnl < np_P; ++pnl) pack_b(p.W_hr, Index(1), H, H, P, W_hrT.data(), pnl, pnl + 1);
#pragma omp for schedule(static)
    for (Index blk = 0; blk < n_row_blocks; ++blk) {
      const Index r0 = blk * kInputRows, nr = std::min(kInputRows, TN - r0);
      std::copy(x + r0 * I, x + (r0 + nr) * I, &cache.x(r0, 0));
    }
    // (implicit barrier: every thread sees the packed weights and the copied x)
    if (!input_per_step) {
      // Hoisted input projection, one GEMM over all T*N rows (in fixed row blocks):
      // a(t) = x(t) W_ih^T + (b_ih + b_hh)            [T*N, 4H]
#pragma omp for schedule(static)
      for (Index blk = 0; blk < n_row_blocks; ++blk) {
        const Index r0 = blk * kInputRows, nr = std::min(kInputRows, TN - r0);
        A_all.middleRows(r0, nr).rowwise() = b;
        // a[nr, 4H] += x[nr, I] W_ih^T[I, 4H]
        gemm_panels<Scalar>(0, nr, I, &cache.x(r0, 0), I, 1, W_ihT.data(), G, 0, np_G, &A_all(r0, 0), G, false);
      }
      // (implicit barrier)
    }
#pragma omp for schedule(static)
    for (Index share = 0; share < n_shares; ++share) {
      const Index n0 = std::min(Nn, share * share_rows), nb = std::min(share_rows, Nn - n0);
      if (nb <= 0) continue;
      // carried state of this share lives in h_n, c_n: [nb, R], [nb, H]
      Eigen::Map<RM> hs(h_n + n0 * R, nb, R), cs(c_n + n0 * H, nb, H);
      hs = cache.h0.middleRows(n0, nb);
      cs = cache.c0.middleRows(n0, nb);
      // Without lengths every row steps at every step: h(t-1) and c(t-1) are read where the
      // previous step wrote them (its output rows and cache.c rows), and h_n, c_n are copied once
      // at the end. With lengths a row past its end keeps its state: carried in hs, cs.
      const Scalar* h_prev = hs.data();  // h(t-1) [nb, R], row stride R
      const Scalar* c_prev = cs.data();  // c(t-1) [nb, H], row stride H
      for (std::size_t s = 0; s < T; ++s) {
        const std::size_t t = dims.reverse ? T - 1 - s : s;
        const Index row0 = Index(t) * Nn + n0;
        if (input_per_step) {
          // a[nb, 4H] = (b_ih + b_hh) + x(t)[nb, I] W_ih^T[I, 4H]
          A_all.middleRows(row0, nb).rowwise() = b;
          gemm_panels<Scalar>(0, nb, I, &cache.x(row0, 0), I, 1, W_ihT.data(), G, 0, np_G, &A_all(row0, 0), G,
                              false);
        }
        // a[nb, 4H] += h(t-1)[nb, R] W_hh^T[R, 4H]
        gemm_panels<Scalar>(0, nb, R, h_prev, R, 1, W_hhT.data(), G, 0, np_G, &A_all(row0, 0), G, one_row);
        for (Index r = 0; r < nb; ++r) {
          const Index row = row0 + r;
          Scalar* o_row = out + row * R;
          // h(t) = o tanh(c) straight into the output, or m = o tanh(c) before the projection
          Scalar* m_row = P ? &m_step(n0 + r, 0) : o_row;
          if (len && std::int64_t(t) >= len[n0 + r]) {
            // past the end: state unchanged, output 0 (with a projection: m = 0, so h = 0 below)
            std::fill(m_row, m_row + H, Scalar(0));
            continue;
          }
          // gates, c(t) and h(t) (or m(t)) of this row, one fused pass (detail/cell_math.hpp)
          Scalar* c_row = &cache.c(row, 0);
          detail::cell_row<Scalar>(H, p.w_ci, p.w_cf, p.w_co, &A_all(row, 0), c_prev + r * H, c_row, m_row);
          if (len) {
            std::copy(c_row, c_row + H, &cs(r, 0));
            if (!P) std::copy(o_row, o_row + H, &hs(r, 0));
          }
        }
        if (P) {
          // the projection h(t) = m W_hr^T:   h[nb, P] = m[nb, H] W_hr^T[H, P], kept in the cache
          Scalar* h_rows = &cache.h(row0, 0);
          std::fill(h_rows, h_rows + nb * P, Scalar(0));
          gemm_panels<Scalar>(0, nb, H, &m_step(n0, 0), H, 1, W_hrT.data(), P, 0, np_P, h_rows, P, one_row);
          for (Index r = 0; r < nb; ++r) {
            Scalar* o_row = out + (row0 + r) * P;
            if (len && std::int64_t(t) >= len[n0 + r]) {
              std::fill(o_row, o_row + P, Scalar(0));  // past the end: output exactly 0
              std::fill(h_rows + r * P, h_rows + (r + 1) * P, Scalar(0));
              continue;
            }
            std::copy(h_rows + r * P, h_rows + (r + 1) * P, o_row);
            if (len) std::copy(o_row, o_row + P, &hs(r, 0));
          }
        }
        if (!len) {
          h_prev = out + row0 * R;
          c_prev = &cache.c(row0, 0);
        }
      }
      if (!len) {
        // h_n, c_n: the last step's rows
        std::copy(h_prev, h_prev + nb * R, hs.data());
        std::copy(c_prev, c_prev + nb * H, cs.data());
      }
    }
  }
}

// What every chunk's backward reads (and the shared arrays each chunk writes its own rows of).
template <typename Scalar>
struct BackwardShared {
  const LstmLayerParams<Scalar>& p;
  const LayerCache<Scalar>& cache;
  const Scalar* grad_out;    // [T, N, R] or nullptr
  const std::int64_t* len;   // [N] or nullptr
  bool full, fwd, whole;     // exact gradient; forward direction; one chunk holds the whole batch
  Index I, H, G, F, Nn, Tt, XH, np_I, np_R, np_XH;
  Index P, R, np_H;          // projection size (0: none); width of h; panels of H columns
  const Scalar* W_ihP;       // W_ih [4H, I] packed
  const Scalar* W_hhP;       // W_hh [4H, R] packed (full only)
  const Scalar* W_hrP;       // W_hr [P, H] packed (projection only)
  Scalar* grad_x;            // [T, N, I]
  RowMatrix<Scalar>& tanh_c;        // [N, H]  tanh(c) of the step each sequence goes to next
  std::vector<char>& have_tanh;     // [N]     whether tanh_c holds it
  RowMatrix<Scalar>& peep;          // [chunks, 3H] per-chunk peephole gradients
  bool peepholes;
};

// Row of dh(t) (the step's incoming error) in the per-step buffers. Shapes in ChunkBackward.
// With a projection, each step first takes the error of h(t) back through it:
//   dh(t) = (error from step t+1) + grad_out(t)    [nb, P]
//   dm(t) = dh(t) W_hr                             [nb, H]   (m = o tanh(c))
//   dW_hr += dh(t)^T m(t)                          [P, H]    (per block of steps)
// and the cell's pointwise backward reads dm(t) where it would read dL/dh(t) without one.

// One thread's backward of a chunk of sequences, in three named phases per block of steps:
// row() (pointwise, per row and step), step_products() (per step: grad_x and dL/dh(t-1) through the
// weights) and block_gradient() (per block: the weight-gradient GEMM and the bias sum).
template <typename Scalar>
struct ChunkBackward {
  using RM = RowMatrix<Scalar>;
  const BackwardShared<Scalar>& s;
  RM dA;   // dL/da of one chunk and block   [Tb*Cb, 4H]   (row (t - t0) * nb + r)
  RM xh;   // [x(t), h(t-1)] of the same rows   [Tb*Cb, I+R]
  Vec<Scalar> xhP;                                  // xh packed for the GEMM
  Eigen::Array<Scalar, 1, Eigen::Dynamic> db_sum;   // the block's sum of da   [4H]
  // projection only (empty without one):
  RM dh;   // dL/dh(t) of the same rows             [Tb*Cb, P]
  RM m;    // m(t) = o(t) tanh(c(t)) of the same rows [Tb*Cb, H]
  Vec<Scalar> mP;                                   // m packed for the GEMM
  RM dm;   // dL/dm(t) of the chunk's rows at one step [Cb, H]

  ChunkBackward(const BackwardShared<Scalar>& shared, Index rows, Index chunk_rows)
      : s(shared), dA(rows, shared.G), xh(rows, shared.XH), xhP(packed_size<Scalar>(rows, shared.XH)),
        db_sum(shared.G), dh(shared.P ? rows : 0, shared.P), m(shared.P ? rows : 0, shared.H),
        mP(shared.P ? packed_size<Scalar>(rows, shared.H) : 0), dm(shared.P ? chunk_rows : 0, shared.H) {}

  // Projection only: the chunk's rows at step t, dh(t) = (error from step t+1) + grad_out(t) (0 for
  // a row past its sequence's end, whose carried error passes on unchanged) and dm(t) = dh(t) W_hr.
  void project_errors(Index n0, Index nb, Index t, Index t0, Eigen::Map<RM>& dhs) {
    const Index P = s.P, H = s.H, Nn = s.Nn;
    const Index row0 = t * Nn + n0, brow0 = (t - t0) * nb;
    for (Index r = 0; r < nb; ++r) {
      Scalar* d = &dh(brow0 + r, 0);
      if (s.len && t >= s.len[n0 + r]) {
        std::fill(d, d + P, Scalar(0));
        continue;
      }
      // dL/dh(t) = (error from the next step) + grad_out(t)
      Eigen::Map<Eigen::Array<Scalar, 1, Eigen::Dynamic>> dr(d, P);
      if (s.grad_out)
        dr = dhs.row(r).array() + Eigen::Map<const Eigen::Array<Scalar, 1, Eigen::Dynamic>>(
                                      s.grad_out + (row0 + r) * P, P);
      else
        dr = dhs.row(r).array();
    }
    // dm = dh W_hr:   dm[nb, H] = dh[nb, P] W_hr[P, H]
    std::fill(dm.data(), dm.data() + nb * H, Scalar(0));
    gemm_panels<Scalar>(0, nb, P, &dh(brow0, 0), P, 1, s.W_hrP, H, 0, s.np_H, dm.data(), H);
  }

  // Row r of chunk ch (sequence n0 + r) at step t: da(t), the carried dL/dc and the peephole
  // gradients, and the row [x(t), h(t-1)] of the weight-gradient GEMM.
  void row(Index ch, Index n0, Index r, Index t, Index t0, Index nb, Eigen::Map<RM>& dhs, Eigen::Map<RM>& dcs) {
    const LayerCache<Scalar>& cache = s.cache;
    const Index I = s.I, H = s.H, G = s.G, Nn = s.Nn;
    const Index row0 = t * Nn + n0, brow0 = (t - t0) * nb;
    const Index n = n0 + r, row = row0 + r, brow = brow0 + r;
    Scalar* da = &dA(brow, 0);
    const std::int64_t len_n = s.len ? s.len[n] : std::int64_t(s.Tt);
    const Index P = s.P, R = s.R;
    if (t >= len_n) {
      // past the end: errors pass through unchanged, no gradient at this step
      std::fill(da, da + G, Scalar(0));
      xh.row(brow).setZero();
      if (P) m.row(brow).setZero();
      return;
    }
    // the step before t in processing order, if any: t-1 (forward) or t+1 (reverse)
    const bool has_prev = s.fwd ? t > 0 : t + 1 < len_n;
    const Index prev = s.fwd ? row - Nn : row + Nn;
    const Scalar* gate = &cache.gates(row, 0);
    const Scalar* c = &cache.c(row, 0);                                  // c(t)
    const Scalar* cp = has_prev ? &cache.c(prev, 0) : &cache.c0(n, 0);  // c(t-1)
    Scalar* tc = &s.tanh_c(n, 0);
    // tanh(c(t)), unless the previous step (in backward order) already computed it
    if (!s.have_tanh[std::size_t(n)]) detail::tanh_and_hidden<Scalar>(c, nullptr, H, tc);
    if (P) {
      // m(t) = o(t) tanh(c(t)), the right factor of dW_hr
      Eigen::Map<Eigen::Array<Scalar, 1, Eigen::Dynamic>>(&m(brow, 0), H) =
          Eigen::Map<const Eigen::Array<Scalar, 1, Eigen::Dynamic>>(gate + 3 * H, H) *
          Eigen::Map<const Eigen::Array<Scalar, 1, Eigen::Dynamic>>(tc, H);
    }
    // da(t), dL/dc(t-1) and the peephole gradients, one fused pass (detail/cell_math.hpp),
    // with dL/dh(t) = (error from the next step) + grad_out(t); with a projection dL/dm(t) in its
    // place (project_errors)
    const bool full = s.full;
    const Scalar* dh_in = P ? &dm(r, 0) : &dhs(r, 0);
    const Scalar* go = P || !s.grad_out ? nullptr : s.grad_out + row * H;
    detail::CellBackward<Scalar>{dh_in, go, gate, cp, c,
                                 tc, full ? s.p.w_ci : nullptr, full ? s.p.w_cf : nullptr,
                                 full ? s.p.w_co : nullptr, &dcs(r, 0), da,
                                 s.peepholes ? &s.peep(ch, 0) : nullptr, H}
        .row();
    // the row of the weight-gradient GEMM: [x(t), h(t-1)]
    Scalar* xr = &xh(brow, 0);
    std::copy(&cache.x(row, 0), &cache.x(row, 0) + I, xr);
    if (P) {
      // h(t-1): kept by forward (or h0); tanh(c(t-1)) kept for that step
      if (has_prev) {
        detail::tanh_and_hidden<Scalar>(&cache.c(prev, 0), nullptr, H, tc);
        std::copy(&cache.h(prev, 0), &cache.h(prev, 0) + R, xr + I);
        s.have_tanh[std::size_t(n)] = 1;
      } else {
        std::copy(&cache.h0(n, 0), &cache.h0(n, 0) + R, xr + I);
        s.have_tanh[std::size_t(n)] = 0;
      }
    } else if (has_prev) {
      // h(t-1) = o(t-1) tanh(c(t-1)); tanh(c(t-1)) kept for that step
      detail::tanh_and_hidden<Scalar>(&cache.c(prev, 0), &cache.gates(prev, 3 * H), H, tc, xr + I);
      s.have_tanh[std::size_t(n)] = 1;
    } else {
      std::copy(&cache.h0(n, 0), &cache.h0(n, 0) + H, xr + I);
      s.have_tanh[std::size_t(n)] = 0;
    }
  }

  // The chunk's rows at step t: grad_x(t) = da W_ih (unless the block does it at once) and the error
  // carried into step t-1, dL/dh(t-1) = da W_hh (full) or 0 (truncated).
  void step_products(Index n0, Index nb, Index t, Index t0, Eigen::Map<RM>& dhs) {
    const Index I = s.I, R = s.R, G = s.G, Nn = s.Nn;
    const Index row0 = t * Nn + n0, brow0 = (t - t0) * nb;
    if (!s.whole) {
      // grad_x(t) = da W_ih:   grad_x[nb, I] = da[nb, 4H] W_ih[4H, I]
      Scalar* gx = s.grad_x + row0 * I;
      std::fill(gx, gx + nb * I, Scalar(0));
      gemm_panels<Scalar>(0, nb, G, &dA(brow0, 0), G, 1, s.W_ihP, I, 0, s.np_I, gx, I);
    }
    if (s.full) {
      // dL/dh(t-1) = da W_hh:   dh[nb, R] = da[nb, 4H] W_hh[4H, R], straight into the carried
      // errors: the rows of sequences still running are cleared first; a row past its
      // sequence's end keeps its error (its da row is 0, so the product adds +0 to it)
      for (Index r = 0; r < nb; ++r)
        if (!(s.len && t >= s.len[n0 + r])) std::fill(&dhs(r, 0), &dhs(r, 0) + R, Scalar(0));
      gemm_panels<Scalar>(0, nb, G, &dA(brow0, 0), G, 1, s.W_hhP, R, 0, s.np_R, dhs.data(), R);
    } else {
      // truncated: no error flows back through W_hh
      for (Index r = 0; r < nb; ++r)
        if (!(s.len && t >= s.len[n0 + r])) dhs.row(r).setZero();
    }
  }

  // The block's `rows` rows (its steps x the chunk's sequences): grad_x at once when one chunk holds
  // the whole batch, and [dW_ih, dW_hh, db] += da^T [x, h(t-1), 1] into the chunk's partial sum dWc
  // (with a projection also dW_hr += dh^T m into dWrc).
  void block_gradient(Index rows, Index t0, RM& dWc, RM& dWrc) {
    const Index I = s.I, G = s.G, F = s.F, Nn = s.Nn, XH = s.XH;
    if (s.whole) {
      // one chunk holds the whole batch: the block's rows are contiguous in grad_x too
      // grad_x = da W_ih:   grad_x[rows, I] = da[rows, 4H] W_ih[4H, I]
      Scalar* gx = s.grad_x + t0 * Nn * I;
      std::fill(gx, gx + rows * I, Scalar(0));
      gemm_panels<Scalar>(0, rows, G, dA.data(), G, 1, s.W_ihP, I, 0, s.np_I, gx, I);
    }
    // [dW_ih, dW_hh, db] += da^T [x, h(t-1), 1]:   dW[4H, F] += da^T[4H, rows] [xh, 1][rows, F]
    // (the GEMM fills the columns of xh = [x, h(t-1)]; the bias column, a plain sum of da over the
    // rows, is added below in the same order the GEMM would sum it)
    pack_b(xh.data(), XH, Index(1), rows, XH, xhP.data(), 0, s.np_XH);
    gemm_rows_outer<Scalar>(0, G, rows, dA.data(), 1, G, xhP.data(), XH, dWc.data(), F);
    // db += sum over the rows of da   [4H]
    db_sum.setZero();
    for (Index k = 0; k < rows; ++k) db_sum += dA.row(k).array();
    dWc.col(F - 1) += db_sum.matrix().transpose();
    if (s.P) {
      // dW_hr += dh^T m:   dW_hr[P, H] += dh^T[P, rows] m[rows, H]
      pack_b(m.data(), s.H, Index(1), rows, s.H, mP.data(), 0, s.np_H);
      gemm_rows_outer<Scalar>(0, s.P, rows, dh.data(), 1, s.P, mP.data(), s.H, dWrc.data(), s.H);
    }
  }
};

// Backward (see LstmLayer::backward): the batch in chunks through all steps, weight gradients per
// block of steps, partial sums added in chunk order.
template <typename Scalar>
void layer_backward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p, const LayerCache<Scalar>& cache,
                    const LstmBackwardArgs<Scalar>& args, const LstmLayerGrads<Scalar>& grads, int num_threads) {
  check_params(dims, p);
  const Scalar* grad_out = args.grad_out;                        // [T, N, R] or nullptr
  const Scalar *grad_hn = args.grad_h_n, *grad_cn = args.grad_c_n;  // [N, R], [N, H] or nullptr
  const bool truncated = args.truncated;
  Scalar *grad_x = args.grad_x, *grad_h0 = args.grad_h0, *grad_c0 = args.grad_c0;
  if (!grad_x || !grad_h0 || !grad_c0) throw std::invalid_argument("grad_x, grad_h0, grad_c0: required");
  if (!grads.W_ih || !grads.W_hh || (dims.bias && (!grads.b_ih || !grads.b_hh)) ||
      (dims.peepholes && (!grads.w_ci || !grads.w_cf || !grads.w_co)) || (dims.proj_size && !grads.W_hr))
    throw std::invalid_argument("grads: an array of the layer's parameters is missing");
  using RM = RowMatrix<Scalar>;
  const std::size_t T = cache.T, N = cache.N;
  if (T < 1 || N < 1) throw std::logic_error("LstmLayer::backward: no forward pass to differentiate");
  const Index I = Index(dims.input_size), H = Index(dims.hidden_size), G = 4 * H;
  const Index P = Index(dims.proj_size), R = Index(dims.recurrent_size());  // R: width of h
  const Index F = I + R + 1;  // features of one row of the weight-gradient GEMM: [x, h(t-1), 1]
  const Index Nn = Index(N), Tt = Index(T), C = Index(kLstmBatchChunk);
  if (cache.x.cols() != I || cache.c.cols() != H || cache.h0.cols() != R)
    throw std::logic_error("LstmLayer::backward: cache does not match the layer's sizes");
  const int nt = threads(num_threads, double(T) * double(N) *
                                          (double(G) * double(I + R) + double(P) * double(H)));
  const std::int64_t* len = cache.lengths.empty() ? nullptr : cache.lengths.data();
  const bool full = !truncated;
  const bool fwd = !dims.reverse;

  // Each chunk of sequences runs backward through all steps on its own (no synchronisation between
  // threads inside the time loop), adding its share of [dW_ih, dW_hh, db] into a partial sum of its
  // own once per block of Tb steps; the partial sums are added in chunk order at the end of each
  // wave of kWave chunks, so the result does not depend on the thread count.
  constexpr Index kWave = 8;
  const Index Cb = std::min(C, Nn);  // rows of the largest chunk
  const Index Tb = std::min(Tt, std::max<Index>(1, Index(kLstmBackwardBlockRows) / Cb));
  const Index n_blocks = (Tt + Tb - 1) / Tb;
  const Index n_chunks = chunks_of(Nn);
  const Index n_gate_blocks = (G + kGateRows - 1) / kGateRows;
  const bool whole = n_chunks == 1;  // one chunk: grad_x once per block instead of once per step

  // Allocation happens here and at the top of the parallel region, before the time loop.
  RM dW = RM::Zero(G, F);  // [dW_ih, dW_hh, db]   [4H, F]
  std::vector<RM> dW_part(std::size_t(std::min(kWave, n_chunks)), RM(G, F));  // per chunk of a wave
  RM dWr = RM::Zero(P, H);  // dW_hr   [P, H] (projection only)
  std::vector<RM> dWr_part(std::size_t(P ? std::min(kWave, n_chunks) : 0), RM(P, H));  // per chunk of a wave
  const Index n_proj_blocks = (P + kGateRows - 1) / kGateRows;
  RM tanh_c(Nn, H);                      // tanh(c) of the step each sequence goes to next (backward order)
  std::vector<char> have_tanh(N, 0);     // whether tanh_c holds it
  RM peep = RM::Zero(n_chunks, 3 * H);   // per-chunk peephole gradients  [chunks, 3H]
  // W_ih [4H, I] (for grad_x), W_hh [4H, R] (for dL/dh(t-1)) and W_hr [P, H] (for dL/dm(t)),
  // packed once.
  const Index XH = I + R;  // columns of [x(t), h(t-1)]
  const Index np_I = panels_of<Scalar>(I), np_R = panels_of<Scalar>(R), np_XH = panels_of<Scalar>(XH);
  const Index np_H = panels_of<Scalar>(H);
  Vec<Scalar> W_ihP(packed_size<Scalar>(G, I)), W_hhP, W_hrP;
  pack_b(p.W_ih, I, Index(1), G, I, W_ihP.data(), 0, np_I);
  if (full) {
    W_hhP.resize(packed_size<Scalar>(G, R));
    pack_b(p.W_hh, R, Index(1), G, R, W_hhP.data(), 0, np_R);
  }
  if (P) {
    W_hrP.resize(packed_size<Scalar>(P, H));
    pack_b(p.W_hr, H, Index(1), P, H, W_hrP.data(), 0, np_H);
  }
  if (grad_hn) Eigen::Map<RM>(grad_h0, Nn, R) = Eigen::Map<const RM>(grad_hn, Nn, R);
  else Eigen::Map<RM>(grad_h0, Nn, R).setZero();
  if (grad_cn) Eigen::Map<RM>(grad_c0, Nn, H) = Eigen::Map<const RM>(grad_cn, Nn, H);
  else Eigen::Map<RM>(grad_c0, Nn, H).setZero();

  const BackwardShared<Scalar> shared{p,      cache,   grad_out, len,  full,   fwd,   whole, I,       H,
                                      G,      F,       Nn,       Tt,   XH,     np_I,  np_R,  np_XH,   P,
                                      R,      np_H,    W_ihP.data(), W_hhP.data(), W_hrP.data(), grad_x, tanh_c,
                                      have_tanh, peep, dims.peepholes};
#pragma omp parallel num_threads(nt)
  {
    ChunkBackward<Scalar> run(shared, Tb * Cb, Cb);  // this thread's scratch
    for (Index w0 = 0; w0 < n_chunks; w0 += kWave) {
      const Index w1 = std::min(n_chunks, w0 + kWave);
#pragma omp for schedule(static)
      for (Index ch = w0; ch < w1; ++ch) {
        const Index n0 = ch * C, nb = std::min(C, Nn - n0);
        RM& dWc = dW_part[std::size_t(ch - w0)];
        dWc.setZero();
        RM& dWrc = P ? dWr_part[std::size_t(ch - w0)] : dWr;  // (dWr itself is not written without P)
        if (P) dWrc.setZero();
        // carried errors dL/dh(t), dL/dc(t) of this chunk live in grad_h0, grad_c0: [nb, R], [nb, H]
        Eigen::Map<RM> dhs(grad_h0 + n0 * R, nb, R), dcs(grad_c0 + n0 * H, nb, H);
        // blocks in backward order: forward layers go from the last block down, reverse ones up
        for (Index bi = 0; bi < n_blocks; ++bi) {
          const Index blk = fwd ? n_blocks - 1 - bi : bi;
          const Index t0 = blk * Tb, nsteps = std::min(Tb, Tt - t0);
          for (Index k = 0; k < nsteps; ++k) {
            const Index t = fwd ? t0 + nsteps - 1 - k : t0 + k;
            // phase 0 (projection only): dh(t) and dm(t) = dh(t) W_hr of the chunk's rows
            if (P) run.project_errors(n0, nb, t, t0, dhs);
            // phase 1: the pointwise backward of each row of the chunk at step t
            for (Index r = 0; r < nb; ++r) run.row(ch, n0, r, t, t0, nb, dhs, dcs);
            // phase 2: the step's products with W_ih (grad_x) and W_hh (the error into step t-1)
            run.step_products(n0, nb, t, t0, dhs);
          }
          // phase 3: the block's weight gradient
          run.block_gradient(nsteps * nb, t0, dWc, dWrc);
        }
      }
      // (implicit barrier) add the wave's partial sums, in chunk order, in fixed blocks of gate rows
#pragma omp for schedule(static)
      for (Index gb = 0; gb < n_gate_blocks; ++gb) {
        const Index g0 = gb * kGateRows, ng = std::min(kGateRows, G - g0);
        for (Index ch = w0; ch < w1; ++ch) dW.middleRows(g0, ng) += dW_part[std::size_t(ch - w0)].middleRows(g0, ng);
      }
      // the same for dW_hr, in fixed blocks of its rows (projection only)
#pragma omp for schedule(static)
      for (Index pb = 0; pb < n_proj_blocks; ++pb) {
        const Index r0 = pb * kGateRows, nr = std::min(kGateRows, P - r0);
        for (Index ch = w0; ch < w1; ++ch) dWr.middleRows(r0, nr) += dWr_part[std::size_t(ch - w0)].middleRows(r0, nr);
      }
    }
  }
  // Split [dW_ih, dW_hh, db] into the gradients; db_ih = db_hh = sum of da.
  Eigen::Map<RM>(grads.W_ih, G, I) = dW.leftCols(I);
  Eigen::Map<RM>(grads.W_hh, G, R) = dW.middleCols(I, R);
  if (dims.bias) {
    Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(grads.b_ih, G) = dW.col(I + R);
    Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(grads.b_hh, G) = dW.col(I + R);
  }
  if (P) Eigen::Map<RM>(grads.W_hr, P, H) = dWr;
  if (dims.peepholes) {
    // sum of the per-chunk peephole gradients, in chunk order
    Eigen::Array<Scalar, 1, Eigen::Dynamic> ps = peep.row(0).array();
    for (Index ch = 1; ch < n_chunks; ++ch) ps += peep.row(ch).array();
    std::copy(ps.data(), ps.data() + H, grads.w_ci);
    std::copy(ps.data() + H, ps.data() + 2 * H, grads.w_cf);
    std::copy(ps.data() + 2 * H, ps.data() + 3 * H, grads.w_co);
  }
}

}  // namespace

template <typename Scalar>
struct LstmLayer<Scalar>::Cache : LayerCache<Scalar> {};

template <typename Scalar>
LstmLayer<Scalar>::LstmLayer(const LstmLayerDims& dims) : dims_(dims), cache_(new Cache) {
  dims_.validate();
}

template <typename Scalar>
LstmLayer<Scalar>::~LstmLayer() = default;

template <typename Scalar>
std::size_t LstmLayer<Scalar>::steps() const {
  return has_forward_ ? cache_->T : 0;
}

template <typename Scalar>
std::size_t LstmLayer<Scalar>::batch() const {
  return has_forward_ ? cache_->N : 0;
}

template <typename Scalar>
void LstmLayer<Scalar>::forward(const LstmLayerParams<Scalar>& params, const LstmForwardArgs<Scalar>& args,
                                int num_threads) {
  has_forward_ = false;
  layer_forward<Scalar>(dims_, params, args, *cache_, num_threads);
  has_forward_ = true;
}

template <typename Scalar>
void LstmLayer<Scalar>::backward(const LstmLayerParams<Scalar>& params, const LstmBackwardArgs<Scalar>& args,
                                 const LstmLayerGrads<Scalar>& grads, int num_threads) {
  if (!has_forward_) throw std::logic_error("backward: no forward pass to differentiate");
  layer_backward<Scalar>(dims_, params, *cache_, args, grads, num_threads);
}

template <typename Scalar>
std::size_t LstmLayer<Scalar>::cache_size(const LstmLayerDims& dims, std::size_t T, std::size_t N) {
  const std::size_t I = dims.input_size, H = dims.hidden_size, P = dims.proj_size, R = dims.recurrent_size();
  return T * N * (I + 5 * H + P) + N * (R + H);
}

template class LstmLayer<float>;
template class LstmLayer<double>;

}  // namespace lstmcore
