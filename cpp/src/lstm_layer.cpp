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
// the input projection in lstm_layer_forward): below the L3 of the CPUs this library targets.
constexpr std::size_t kStreamedWeightBytes = std::size_t(8) << 20;

Index chunks_of(Index N) { return (N + Index(kLstmBatchChunk) - 1) / Index(kLstmBatchChunk); }

}  // namespace

const char* lstm_layer_gemm_kernel() { return gemm::kernel_isa(); }

void LstmLayerDims::validate() const {
  constexpr std::size_t kMax = std::size_t(1) << 24;
  if (input_size < 1 || input_size > kMax) throw std::invalid_argument("input_size: expected 1 .. 2^24");
  if (hidden_size < 1 || hidden_size > kMax) throw std::invalid_argument("hidden_size: expected 1 .. 2^24");
}

template <typename Scalar>
void lstm_layer_forward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p, const Scalar* x,
                        std::size_t T, std::size_t N, const Scalar* h0, const Scalar* c0,
                        const std::int64_t* lengths, Scalar* out, Scalar* h_n, Scalar* c_n,
                        LstmLayerCache<Scalar>& cache, int num_threads) {
  check_params(dims, p);
  if (T < 1 || N < 1) throw std::invalid_argument("x: expected T >= 1 and N >= 1");
  using RM = RowMatrix<Scalar>;
  const Index I = Index(dims.input_size), H = Index(dims.hidden_size), G = 4 * H;
  const Index TN = Index(T * N), Nn = Index(N);
  const int nt = threads(num_threads, double(T) * double(N) * double(4 * dims.hidden_size) *
                                                    double(dims.input_size + dims.hidden_size));

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
  if (h0) cache.h0 = Eigen::Map<const RM>(h0, Nn, H); else cache.h0.setZero(Nn, H);
  if (c0) cache.c0 = Eigen::Map<const RM>(c0, Nn, H); else cache.c0.setZero(Nn, H);

  // b = b_ih + b_hh   [4H]
  Eigen::Matrix<Scalar, 1, Eigen::Dynamic> b = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>::Zero(G);
  if (dims.bias)
    b = Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(p.b_ih, G) +
        Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(p.b_hh, G);
  // W_ih^T [I, 4H] and W_hh^T [H, 4H], packed once for all steps and threads at the start of the
  // parallel region (read-only after it).
  Vec<Scalar> W_ihT(packed_size<Scalar>(I, G)), W_hhT(packed_size<Scalar>(H, G));
  const Index np_G = panels_of<Scalar>(G);
  const std::int64_t* len = cache.lengths.empty() ? nullptr : cache.lengths.data();
  const Index n_row_blocks = (TN + kInputRows - 1) / kInputRows;
  RM& A_all = cache.gates;
  const bool one_row = Nn == 1;  // the recurrent product has one row: the single-row GEMM kernel
  // Time loop: each thread steps its own contiguous share of the batch through all steps, with no
  // synchronisation between threads (a barrier per step costs a scheduler time slice whenever the
  // machine is loaded: a split of the hidden units with one barrier per step ran 10x slower
  // under load). Every row's arithmetic is the same however the batch is shared out.
  const Index n_shares = std::min<Index>(nt, Nn), share_rows = (Nn + n_shares - 1) / n_shares;
  // The input projection a(t) = x(t) W_ih^T + (b_ih + b_hh): inside the time loop, step by step
  // on the thread's rows, so a step's gate rows are written once and stay in cache (computing all
  // T*N rows first sends [T*N, 4H] through memory twice more), when W_ih^T is cheap to read at
  // every step: the batch has 8 rows or more and the packed W_ih^T and W_hh^T fit in L2 together,
  // or each thread has 16 rows or more (16 multiply-adds per weight read from L3 keep the FMA
  // pipes ahead of the reads) and they fit in kStreamedWeightBytes. Otherwise hoisted: one GEMM over all T*N rows
  // in fixed row blocks (a few rows per step would make a poor GEMM, and weights beyond L3 would be
  // read from memory at every step). Either way each element is the same sum,
  // b + sum_k x_k W_ih^T(k, j), before the recurrent sum is added.
  // (Measured on the 2-core Zen 3 VM, alternating runs: per step faster by 16 % for float64 I64
  // H128 N32 (786 KB of weights, 16 rows per thread), 8 % for float32 I256 H512 N64 at 2 threads
  // (6.3 MB, 32 rows); slower by 3-5 % with 8 rows per thread beyond L2.)
  const std::size_t weight_bytes = std::size_t(packed_size<Scalar>(I + H, G)) * sizeof(Scalar);
  const bool input_per_step = (Nn >= 8 && weight_bytes <= l2_bytes()) ||
                              (share_rows >= 16 && weight_bytes <= kStreamedWeightBytes);

#pragma omp parallel num_threads(nt)
  {
    // The packing of W_ih^T and W_hh^T (a transposing gather) and the copy of x into the cache,
    // shared out between the threads: panels, then fixed row blocks.
#pragma omp for schedule(static) nowait
    for (Index pnl = 0; pnl < np_G; ++pnl) {
      pack_b(p.W_ih, Index(1), I, I, G, W_ihT.data(), pnl, pnl + 1);
      pack_b(p.W_hh, Index(1), H, H, G, W_hhT.data(), pnl, pnl + 1);
    }
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
      // carried state of this share lives in h_n, c_n: [nb, H]
      Eigen::Map<RM> hs(h_n + n0 * H, nb, H), cs(c_n + n0 * H, nb, H);
      hs = cache.h0.middleRows(n0, nb);
      cs = cache.c0.middleRows(n0, nb);
      // Without lengths every row steps at every step: h(t-1) and c(t-1) are read where the
      // previous step wrote them (its output rows and cache.c rows), and h_n, c_n are copied once
      // at the end. With lengths a row past its end keeps its state: carried in hs, cs.
      const Scalar* h_prev = hs.data();  // h(t-1) [nb, H], row stride H
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
        // a[nb, 4H] += h(t-1)[nb, H] W_hh^T[H, 4H]
        gemm_panels<Scalar>(0, nb, H, h_prev, H, 1, W_hhT.data(), G, 0, np_G, &A_all(row0, 0), G, one_row);
        for (Index r = 0; r < nb; ++r) {
          const Index row = row0 + r;
          Scalar* o_row = out + row * H;
          if (len && std::int64_t(t) >= len[n0 + r]) {
            // past the end: state unchanged, output 0
            std::fill(o_row, o_row + H, Scalar(0));
            continue;
          }
          // gates, c(t) and h(t) of this row, one fused pass (detail/cell_math.hpp)
          Scalar* c_row = &cache.c(row, 0);
          detail::cell_row<Scalar>(H, p.w_ci, p.w_cf, p.w_co, &A_all(row, 0), c_prev + r * H, c_row, o_row);
          if (len) {
            std::copy(c_row, c_row + H, &cs(r, 0));
            std::copy(o_row, o_row + H, &hs(r, 0));
          }
        }
        if (!len) {
          h_prev = out + row0 * H;
          c_prev = &cache.c(row0, 0);
        }
      }
      if (!len) {
        // h_n, c_n: the last step's rows
        std::copy(h_prev, h_prev + nb * H, hs.data());
        std::copy(c_prev, c_prev + nb * H, cs.data());
      }
    }
  }
}

template <typename Scalar>
void lstm_layer_backward(const LstmLayerDims& dims, const LstmLayerParams<Scalar>& p,
                         const LstmLayerCache<Scalar>& cache, const Scalar* grad_out, const Scalar* grad_hn,
                         const Scalar* grad_cn, bool truncated, Scalar* grad_x, Scalar* grad_h0, Scalar* grad_c0,
                         const LstmLayerGrads<Scalar>& grads, int num_threads) {
  check_params(dims, p);
  using RM = RowMatrix<Scalar>;
  const std::size_t T = cache.T, N = cache.N;
  if (T < 1 || N < 1) throw std::logic_error("lstm_layer_backward: no forward pass to differentiate");
  const Index I = Index(dims.input_size), H = Index(dims.hidden_size), G = 4 * H;
  const Index F = I + H + 1;  // features of one row of the weight-gradient GEMM: [x, h(t-1), 1]
  const Index Nn = Index(N), Tt = Index(T), C = Index(kLstmBatchChunk);
  if (cache.x.cols() != I || cache.c.cols() != H)
    throw std::logic_error("lstm_layer_backward: cache does not match the layer's sizes");
  const int nt = threads(num_threads, double(T) * double(N) * double(4 * dims.hidden_size) *
                                                    double(dims.input_size + dims.hidden_size));
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
  RM tanh_c(Nn, H);                      // tanh(c) of the step each sequence goes to next (backward order)
  std::vector<char> have_tanh(N, 0);     // whether tanh_c holds it
  RM peep = RM::Zero(n_chunks, 3 * H);   // per-chunk peephole gradients  [chunks, 3H]
  // W_ih [4H, I] (for grad_x) and W_hh [4H, H] (for dL/dh(t-1)), packed once.
  const Index XH = I + H;  // columns of [x(t), h(t-1)]
  const Index np_I = panels_of<Scalar>(I), np_H = panels_of<Scalar>(H), np_XH = panels_of<Scalar>(XH);
  Vec<Scalar> W_ihP(packed_size<Scalar>(G, I)), W_hhP;
  pack_b(p.W_ih, I, Index(1), G, I, W_ihP.data(), 0, np_I);
  if (full) {
    W_hhP.resize(packed_size<Scalar>(G, H));
    pack_b(p.W_hh, H, Index(1), G, H, W_hhP.data(), 0, np_H);
  }
  if (grad_hn) Eigen::Map<RM>(grad_h0, Nn, H) = Eigen::Map<const RM>(grad_hn, Nn, H);
  else Eigen::Map<RM>(grad_h0, Nn, H).setZero();
  if (grad_cn) Eigen::Map<RM>(grad_c0, Nn, H) = Eigen::Map<const RM>(grad_cn, Nn, H);
  else Eigen::Map<RM>(grad_c0, Nn, H).setZero();

#pragma omp parallel num_threads(nt)
  {
    RM dA(Tb * Cb, G);  // dL/da of one chunk and block   [Tb*Cb, 4H]   (row (t - t0) * nb + r)
    RM xh(Tb * Cb, XH);  // [x(t), h(t-1)] of the same rows   [Tb*Cb, I+H]
    Vec<Scalar> xhP(packed_size<Scalar>(Tb * Cb, XH));  // xh packed for the GEMM
    Eigen::Array<Scalar, 1, Eigen::Dynamic> db_sum(G);     // the block's sum of da   [4H]
    for (Index w0 = 0; w0 < n_chunks; w0 += kWave) {
      const Index w1 = std::min(n_chunks, w0 + kWave);
#pragma omp for schedule(static)
      for (Index ch = w0; ch < w1; ++ch) {
        const Index n0 = ch * C, nb = std::min(C, Nn - n0);
        RM& dWc = dW_part[std::size_t(ch - w0)];
        dWc.setZero();
        // carried errors dL/dh(t), dL/dc(t) of this chunk live in grad_h0, grad_c0: [nb, H]
        Eigen::Map<RM> dhs(grad_h0 + n0 * H, nb, H), dcs(grad_c0 + n0 * H, nb, H);
        // blocks in backward order: forward layers go from the last block down, reverse ones up
        for (Index bi = 0; bi < n_blocks; ++bi) {
          const Index blk = fwd ? n_blocks - 1 - bi : bi;
          const Index t0 = blk * Tb, nsteps = std::min(Tb, Tt - t0);
          for (Index k = 0; k < nsteps; ++k) {
            const Index t = fwd ? t0 + nsteps - 1 - k : t0 + k;
            const Index row0 = t * Nn + n0, brow0 = (t - t0) * nb;
            for (Index r = 0; r < nb; ++r) {
              const Index n = n0 + r, row = row0 + r, brow = brow0 + r;
              Scalar* da = &dA(brow, 0);
              const std::int64_t len_n = len ? len[n] : std::int64_t(T);
              if (t >= len_n) {
                // past the end: errors pass through unchanged, no gradient at this step
                std::fill(da, da + G, Scalar(0));
                xh.row(brow).setZero();
                continue;
              }
              // the step before t in processing order, if any: t-1 (forward) or t+1 (reverse)
              const bool has_prev = fwd ? t > 0 : t + 1 < len_n;
              const Index prev = fwd ? row - Nn : row + Nn;
              const Scalar* gate = &cache.gates(row, 0);
              const Scalar* c = &cache.c(row, 0);                                       // c(t)
              const Scalar* cp = has_prev ? &cache.c(prev, 0) : &cache.c0(n, 0);  // c(t-1)
              Scalar* tc = &tanh_c(n, 0);
              // tanh(c(t)), unless the previous step (in backward order) already computed it
              if (!have_tanh[std::size_t(n)]) detail::tanh_and_hidden<Scalar>(c, nullptr, H, tc);
              // da(t), dL/dc(t-1) and the peephole gradients, one fused pass (detail/cell_math.hpp),
              // with dL/dh(t) = (error from the next step) + grad_out(t)
              detail::CellBackward<Scalar>{&dhs(r, 0), grad_out ? grad_out + row * H : nullptr, gate, cp, c,
                                           tc, full ? p.w_ci : nullptr, full ? p.w_cf : nullptr,
                                           full ? p.w_co : nullptr, &dcs(r, 0), da,
                                           dims.peepholes ? &peep(ch, 0) : nullptr, H}
                  .row();
              // the row of the weight-gradient GEMM: [x(t), h(t-1)]
              Scalar* xr = &xh(brow, 0);
              std::copy(&cache.x(row, 0), &cache.x(row, 0) + I, xr);
              if (has_prev) {
                // h(t-1) = o(t-1) tanh(c(t-1)); tanh(c(t-1)) kept for that step
                detail::tanh_and_hidden<Scalar>(&cache.c(prev, 0), &cache.gates(prev, 3 * H), H, tc, xr + I);
                have_tanh[std::size_t(n)] = 1;
              } else {
                std::copy(&cache.h0(n, 0), &cache.h0(n, 0) + H, xr + I);
                have_tanh[std::size_t(n)] = 0;
              }
            }
            if (!whole) {
              // grad_x(t) = da W_ih:   grad_x[nb, I] = da[nb, 4H] W_ih[4H, I]
              Scalar* gx = grad_x + row0 * I;
              std::fill(gx, gx + nb * I, Scalar(0));
              gemm_panels<Scalar>(0, nb, G, &dA(brow0, 0), G, 1, W_ihP.data(), I, 0, np_I, gx, I);
            }
            if (full) {
              // dL/dh(t-1) = da W_hh:   dh[nb, H] = da[nb, 4H] W_hh[4H, H], straight into the carried
              // errors: the rows of sequences still running are cleared first; a row past its
              // sequence's end keeps its error (its da row is 0, so the product adds +0 to it)
              for (Index r = 0; r < nb; ++r)
                if (!(len && t >= len[n0 + r])) std::fill(&dhs(r, 0), &dhs(r, 0) + H, Scalar(0));
              gemm_panels<Scalar>(0, nb, G, &dA(brow0, 0), G, 1, W_hhP.data(), H, 0, np_H, dhs.data(), H);
            } else {
              // truncated: no error flows back through W_hh
              for (Index r = 0; r < nb; ++r)
                if (!(len && t >= len[n0 + r])) dhs.row(r).setZero();
            }
          }
          const Index rows = nsteps * nb;
          if (whole) {
            // one chunk holds the whole batch: the block's rows are contiguous in grad_x too
            // grad_x = da W_ih:   grad_x[rows, I] = da[rows, 4H] W_ih[4H, I]
            Scalar* gx = grad_x + t0 * Nn * I;
            std::fill(gx, gx + rows * I, Scalar(0));
            gemm_panels<Scalar>(0, rows, G, dA.data(), G, 1, W_ihP.data(), I, 0, np_I, gx, I);
          }
          // [dW_ih, dW_hh, db] += da^T [x, h(t-1), 1]:   dW[4H, F] += da^T[4H, rows] [xh, 1][rows, F]
          // (the GEMM fills the columns of xh = [x, h(t-1)]; the bias column, a plain sum of da over the
          // rows, is added below in the same order the GEMM would sum it)
          pack_b(xh.data(), XH, Index(1), rows, XH, xhP.data(), 0, np_XH);
          gemm_rows_outer<Scalar>(0, G, rows, dA.data(), 1, G, xhP.data(), XH, dWc.data(), F);
          // db += sum over the rows of da   [4H]
          db_sum.setZero();
          for (Index k = 0; k < rows; ++k) db_sum += dA.row(k).array();
          dWc.col(F - 1) += db_sum.matrix().transpose();
        }
      }
      // (implicit barrier) add the wave's partial sums, in chunk order, in fixed blocks of gate rows
#pragma omp for schedule(static)
      for (Index gb = 0; gb < n_gate_blocks; ++gb) {
        const Index g0 = gb * kGateRows, ng = std::min(kGateRows, G - g0);
        for (Index ch = w0; ch < w1; ++ch) dW.middleRows(g0, ng) += dW_part[std::size_t(ch - w0)].middleRows(g0, ng);
      }
    }
  }
  // Split [dW_ih, dW_hh, db] into the gradients; db_ih = db_hh = sum of da.
  Eigen::Map<RM>(grads.W_ih, G, I) = dW.leftCols(I);
  Eigen::Map<RM>(grads.W_hh, G, H) = dW.middleCols(I, H);
  if (dims.bias) {
    Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(grads.b_ih, G) = dW.col(I + H);
    Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(grads.b_hh, G) = dW.col(I + H);
  }
  if (dims.peepholes) {
    // sum of the per-chunk peephole gradients, in chunk order
    Eigen::Array<Scalar, 1, Eigen::Dynamic> ps = peep.row(0).array();
    for (Index ch = 1; ch < n_chunks; ++ch) ps += peep.row(ch).array();
    std::copy(ps.data(), ps.data() + H, grads.w_ci);
    std::copy(ps.data() + H, ps.data() + 2 * H, grads.w_cf);
    std::copy(ps.data() + 2 * H, ps.data() + 3 * H, grads.w_co);
  }
}

#define LSTMCORE_INSTANTIATE(S)                                                                                 \
  template void lstm_layer_forward<S>(const LstmLayerDims&, const LstmLayerParams<S>&, const S*, std::size_t,  \
                                      std::size_t, const S*, const S*, const std::int64_t*, S*, S*, S*,         \
                                      LstmLayerCache<S>&, int);                                                 \
  template void lstm_layer_backward<S>(const LstmLayerDims&, const LstmLayerParams<S>&, const LstmLayerCache<S>&, \
                                       const S*, const S*, const S*, bool, S*, S*, S*, const LstmLayerGrads<S>&, \
                                       int);
LSTMCORE_INSTANTIATE(float)
LSTMCORE_INSTANTIATE(double)
#undef LSTMCORE_INSTANTIATE

}  // namespace lstmcore
