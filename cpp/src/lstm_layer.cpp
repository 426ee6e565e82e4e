// One direction of one torch-style LSTM layer: forward, exact BPTT and the 1997 truncated
// gradient. The maths is in lstm_layer.hpp; each line below carries its formula.
#include "lstmcore/lstm_layer.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace lstmcore {

namespace {

using Index = Eigen::Index;

// Rows of the hoisted GEMMs (input projection, grad_x) per parallel block, and gate rows of the
// weight-gradient GEMMs per block: fixed sizes, so the result does not depend on the threads.
constexpr Index kRowBlock = 256;
constexpr Index kGateBlock = 256;

template <typename Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename Scalar>
using ArrayMap = Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>;
template <typename Scalar>
using ConstArrayMap = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>;

template <typename Scalar>
void check_params(const LstmLayerDims& d, const LstmLayerParams<Scalar>& p) {
  d.validate();
  if (!p.W_ih || !p.W_hh) throw std::invalid_argument("W_ih, W_hh: required");
  if (d.bias && (!p.b_ih || !p.b_hh)) throw std::invalid_argument("b_ih, b_hh: required with bias");
  if (d.peepholes && (!p.w_ci || !p.w_cf || !p.w_co))
    throw std::invalid_argument("w_ci, w_cf, w_co: required with peepholes");
}

int threads(int num_threads) { return std::max(1, num_threads); }

// The per-step GEMM with a fixed left factor, packed once per call instead of once per step
// (a plain Eigen product re-packs W_hh at every step, ~25 % of the forward time, and allocates
// its packing buffers on the heap once they exceed EIGEN_STACK_ALLOCATION_LIMIT):
//   R[M, n] += L[M, K] * B[K, n]       (column-major view; n <= max_cols)
// L: LhsOrder storage with stride lstride; B column-major with stride K; R column-major, stride M.
// All buffers are allocated by the constructor: add() never allocates.
template <typename Scalar, int LhsOrder>
class PackedGemm {
  using Traits = Eigen::internal::gebp_traits<Scalar, Scalar>;
  using LhsMapper = Eigen::internal::const_blas_data_mapper<Scalar, Index, LhsOrder>;
  using RhsMapper = Eigen::internal::const_blas_data_mapper<Scalar, Index, Eigen::ColMajor>;
  using ResMapper = Eigen::internal::blas_data_mapper<Scalar, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;

 public:
  PackedGemm(const Scalar* L, Index lstride, Index M, Index K, Index max_cols)
      : M_(M), K_(K), blockA_(M * K), blockB_(K * max_cols) {
    Eigen::internal::gemm_pack_lhs<Scalar, Index, LhsMapper, Traits::mr, Traits::LhsProgress,
                                   typename Traits::LhsPacket4Packing, LhsOrder>
        pack;
    pack(blockA_.data(), LhsMapper(L, lstride), K, M);
  }
  void add(const Scalar* B, Index n, Scalar* R) {
    Eigen::internal::gemm_pack_rhs<Scalar, Index, RhsMapper, Traits::nr, Eigen::ColMajor> pack;
    pack(blockB_.data(), RhsMapper(B, K_), K_, n);
    Eigen::internal::gebp_kernel<Scalar, Scalar, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
    gebp(ResMapper(R, M_), blockA_.data(), blockB_.data(), M_, K_, n, Scalar(1));
  }

 private:
  Index M_, K_;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> blockA_, blockB_;  // aligned packing buffers
};

}  // namespace

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
  const int nt = threads(num_threads);

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
  cache.x = Eigen::Map<const RM>(x, TN, I);  // x: [T*N, I]
  cache.gates.resize(TN, G);                 // [T*N, 4H]
  cache.h_prev.resize(TN, H);
  cache.c_prev.resize(TN, H);
  cache.c.resize(TN, H);
  cache.tanh_c.resize(TN, H);

  Eigen::Map<const RM> W_ih(p.W_ih, G, I);  // [4H, I]
  Eigen::Matrix<Scalar, 1, Eigen::Dynamic> b = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>::Zero(G);
  // b = b_ih + b_hh   [4H]
  if (dims.bias)
    b = Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(p.b_ih, G) +
        Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(p.b_hh, G);
  const std::int64_t* len = cache.lengths.empty() ? nullptr : cache.lengths.data();
  const Index n_row_blocks = (TN + kRowBlock - 1) / kRowBlock;
  const Index n_chunks = (Nn + Index(kLstmBatchChunk) - 1) / Index(kLstmBatchChunk);
  RM& A_all = cache.gates;

#pragma omp parallel num_threads(nt)
  {
    // Hoisted input projection, one GEMM over all T*N rows (in fixed row blocks):
    // a(t) = x(t) W_ih^T + (b_ih + b_hh)            [T*N, 4H]
#pragma omp for schedule(static)
    for (Index blk = 0; blk < n_row_blocks; ++blk) {
      const Index r0 = blk * kRowBlock, nr = std::min(kRowBlock, TN - r0);
      A_all.middleRows(r0, nr).noalias() = cache.x.middleRows(r0, nr) * W_ih.transpose();
      A_all.middleRows(r0, nr).rowwise() += b;
    }
    // (implicit barrier) Time loop: each chunk of the batch is independent across all steps.
#pragma omp for schedule(static)
    for (Index ch = 0; ch < n_chunks; ++ch) {
      const Index n0 = ch * Index(kLstmBatchChunk), nb = std::min(Index(kLstmBatchChunk), Nn - n0);
      // carried state of this chunk lives in h_n, c_n: [nb, H]
      Eigen::Map<RM> hs(h_n + n0 * H, nb, H), cs(c_n + n0 * H, nb, H);
      if (h0) hs = Eigen::Map<const RM>(h0 + n0 * H, nb, H); else hs.setZero();
      if (c0) cs = Eigen::Map<const RM>(c0 + n0 * H, nb, H); else cs.setZero();
      // a^T[4H, nb] += W_hh[4H, H] h^T[H, nb]    (row-major a, h seen column-major)
      PackedGemm<Scalar, Eigen::RowMajor> gemm(p.W_hh, H, G, H, nb);
      for (std::size_t s = 0; s < T; ++s) {
        const std::size_t t = dims.reverse ? T - 1 - s : s;
        const Index row0 = Index(t) * Nn + n0;
        auto A = A_all.middleRows(row0, nb);  // [nb, 4H]
        cache.h_prev.middleRows(row0, nb) = hs;
        cache.c_prev.middleRows(row0, nb) = cs;
        // a += h(t-1) W_hh^T                        [nb, H] x [H, 4H]
        gemm.add(hs.data(), nb, A.data());
        for (Index r = 0; r < nb; ++r) {
          const Index row = row0 + r;
          Scalar* o_row = out + row * H;
          if (len && std::int64_t(t) >= len[n0 + r]) {
            // past the end: state unchanged, output 0
            std::fill(o_row, o_row + H, Scalar(0));
            cache.c.row(row) = cs.row(r);
            cache.tanh_c.row(row).setZero();
            continue;
          }
          Scalar* a = &A(r, 0);
          ArrayMap<Scalar> ai(a, H), af(a + H, H), ag(a + 2 * H, H), ao(a + 3 * H, H);
          ConstArrayMap<Scalar> cp(&cache.c_prev(row, 0), H);  // c(t-1)   [H]
          ArrayMap<Scalar> c(&cache.c(row, 0), H), tc(&cache.tanh_c(row, 0), H);
          if (dims.peepholes) {
            // a_i += w_ci * c(t-1);  a_f += w_cf * c(t-1)
            ai += ConstArrayMap<Scalar>(p.w_ci, H) * cp;
            af += ConstArrayMap<Scalar>(p.w_cf, H) * cp;
          }
          // i = sigmoid(a_i); f = sigmoid(a_f); g = tanh(a_g)
          ai = ai.logistic();
          af = af.logistic();
          ag = ag.tanh();
          // c = f * c(t-1) + i * g
          c = af * cp + ai * ag;
          // a_o += w_co * c(t)
          if (dims.peepholes) ao += ConstArrayMap<Scalar>(p.w_co, H) * c;
          // o = sigmoid(a_o)
          ao = ao.logistic();
          // h = o * tanh(c)
          tc = c.tanh();
          ArrayMap<Scalar>(o_row, H) = ao * tc;
          cs.row(r) = c.matrix().transpose();
          hs.row(r) = ArrayMap<Scalar>(o_row, H).matrix().transpose();
        }
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
  const Index TN = Index(T * N), Nn = Index(N);
  if (cache.x.cols() != I || cache.c.cols() != H)
    throw std::logic_error("lstm_layer_backward: cache does not match the layer's sizes");
  const int nt = threads(num_threads);
  const std::int64_t* len = cache.lengths.empty() ? nullptr : cache.lengths.data();
  const bool full = !truncated;

  Eigen::Map<const RM> W_ih(p.W_ih, G, I);  // [4H, I]
  // Allocation happens here, before the time loop.
  RM dA(TN, G);                 // dL/da  [T*N, 4H]  (pre-activation gradients, masked rows 0)
  RM dh_rec = RM::Zero(Nn, H);  // W_hh error of one step, per chunk rows  [N, H]
  const Index n_row_blocks = (TN + kRowBlock - 1) / kRowBlock;
  const Index n_gate_blocks = (G + kGateBlock - 1) / kGateBlock;
  const Index n_chunks = (Nn + Index(kLstmBatchChunk) - 1) / Index(kLstmBatchChunk);

#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (Index ch = 0; ch < n_chunks; ++ch) {
      const Index n0 = ch * Index(kLstmBatchChunk), nb = std::min(Index(kLstmBatchChunk), Nn - n0);
      // carried errors dL/dh(t), dL/dc(t) of this chunk live in grad_h0, grad_c0: [nb, H]
      Eigen::Map<RM> dhs(grad_h0 + n0 * H, nb, H), dcs(grad_c0 + n0 * H, nb, H);
      if (grad_hn) dhs = Eigen::Map<const RM>(grad_hn + n0 * H, nb, H); else dhs.setZero();
      if (grad_cn) dcs = Eigen::Map<const RM>(grad_cn + n0 * H, nb, H); else dcs.setZero();
      auto dhp = dh_rec.middleRows(n0, nb);  // [nb, H]
      // dh^T[H, nb] = W_hh^T[H, 4H] da^T[4H, nb]  (W_hh row-major [4H, H] = column-major [H, 4H])
      PackedGemm<Scalar, Eigen::ColMajor> gemm(p.W_hh, H, H, G, nb);
      for (std::size_t s = T; s-- > 0;) {
        const std::size_t t = dims.reverse ? T - 1 - s : s;
        const Index row0 = Index(t) * Nn + n0;
        for (Index r = 0; r < nb; ++r) {
          const Index row = row0 + r;
          Scalar* da = &dA(row, 0);
          if (len && std::int64_t(t) >= len[n0 + r]) {
            // past the end: errors pass through unchanged, no gradient at this step
            std::fill(da, da + G, Scalar(0));
            continue;
          }
          ArrayMap<Scalar> dh(&dhs(r, 0), H), dc(&dcs(r, 0), H);
          // dh = dL/dh(t) = grad_out(t) + error from step t+1
          if (grad_out) dh += ConstArrayMap<Scalar>(grad_out + row * H, H);
          const Scalar* gate = &cache.gates(row, 0);
          ConstArrayMap<Scalar> i(gate, H), f(gate + H, H), g(gate + 2 * H, H), o(gate + 3 * H, H);
          ConstArrayMap<Scalar> cp(&cache.c_prev(row, 0), H), c(&cache.c(row, 0), H), tc(&cache.tanh_c(row, 0), H);
          ArrayMap<Scalar> dai(da, H), daf(da + H, H), dag(da + 2 * H, H), dao(da + 3 * H, H);
          // da_o = dh * tanh(c) * o (1 - o)
          dao = dh * tc * o * (Scalar(1) - o);
          // dc = dL/dc(t) = dc(t+1 path) + dh * o * (1 - tanh(c)^2) [+ da_o * w_co, full only]
          dc += dh * o * (Scalar(1) - tc.square());
          if (full && dims.peepholes) dc += dao * ConstArrayMap<Scalar>(p.w_co, H);
          // da_i = dc * g * i (1 - i);  da_f = dc * c(t-1) * f (1 - f);  da_g = dc * i * (1 - g^2)
          dai = dc * g * i * (Scalar(1) - i);
          daf = dc * cp * f * (Scalar(1) - f);
          dag = dc * i * (Scalar(1) - g.square());
          // dL/dc(t-1) = dc * f [+ da_i * w_ci + da_f * w_cf, full only]
          dc *= f;
          if (full && dims.peepholes)
            dc += dai * ConstArrayMap<Scalar>(p.w_ci, H) + daf * ConstArrayMap<Scalar>(p.w_cf, H);
          (void)c;
        }
        if (full) {
          // dL/dh(t-1) = da W_hh                   [nb, 4H] x [4H, H]
          dhp.setZero();
          gemm.add(&dA(row0, 0), nb, dhp.data());
          for (Index r = 0; r < nb; ++r)
            if (!(len && std::int64_t(t) >= len[n0 + r])) dhs.row(r) = dhp.row(r);
        } else {
          // truncated: no error flows back through W_hh
          for (Index r = 0; r < nb; ++r)
            if (!(len && std::int64_t(t) >= len[n0 + r])) dhs.row(r).setZero();
        }
      }
    }
    // (implicit barrier) Gradient GEMMs, once after the time loop, in fixed blocks.
    // grad_x = da W_ih                              [T*N, 4H] x [4H, I]
#pragma omp for schedule(static) nowait
    for (Index blk = 0; blk < n_row_blocks; ++blk) {
      const Index r0 = blk * kRowBlock, nr = std::min(kRowBlock, TN - r0);
      Eigen::Map<RM>(grad_x + r0 * I, nr, I).noalias() = dA.middleRows(r0, nr) * W_ih;
    }
    // dW_ih = da^T x;  dW_hh = da^T h(t-1)          [4H, T*N] x [T*N, I or H]
#pragma omp for schedule(static) nowait
    for (Index blk = 0; blk < n_gate_blocks; ++blk) {
      const Index g0 = blk * kGateBlock, ng = std::min(kGateBlock, G - g0);
      Eigen::Map<RM>(grads.W_ih + g0 * I, ng, I).noalias() = dA.middleCols(g0, ng).transpose() * cache.x;
      Eigen::Map<RM>(grads.W_hh + g0 * H, ng, H).noalias() = dA.middleCols(g0, ng).transpose() * cache.h_prev;
    }
#pragma omp single nowait
    {
      if (dims.bias) {
        // db_ih = db_hh = sum over (t, n) of da     [4H]
        Eigen::Array<Scalar, 1, Eigen::Dynamic> db = Eigen::Array<Scalar, 1, Eigen::Dynamic>::Zero(G);
        for (Index r = 0; r < TN; ++r) db += dA.row(r).array();
        std::copy(db.data(), db.data() + G, grads.b_ih);
        std::copy(db.data(), db.data() + G, grads.b_hh);
      }
    }
#pragma omp single nowait
    {
      if (dims.peepholes) {
        // dw_ci = sum da_i * c(t-1);  dw_cf = sum da_f * c(t-1);  dw_co = sum da_o * c(t)
        Eigen::Array<Scalar, Eigen::Dynamic, 1> gi = Eigen::Array<Scalar, Eigen::Dynamic, 1>::Zero(H), gf = gi,
                                                go = gi;
        for (Index r = 0; r < TN; ++r) {
          const Scalar* da = &dA(r, 0);
          ConstArrayMap<Scalar> cp(&cache.c_prev(r, 0), H), c(&cache.c(r, 0), H);
          gi += ConstArrayMap<Scalar>(da, H) * cp;
          gf += ConstArrayMap<Scalar>(da + H, H) * cp;
          go += ConstArrayMap<Scalar>(da + 3 * H, H) * c;
        }
        std::copy(gi.data(), gi.data() + H, grads.w_ci);
        std::copy(gf.data(), gf.data() + H, grads.w_cf);
        std::copy(go.data(), go.data() + H, grads.w_co);
      }
    }
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
