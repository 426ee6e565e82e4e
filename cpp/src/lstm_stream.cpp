// Streaming inference of a stack of torch-style LSTM layers: one step at a time from a carried
// state. The maths is in lstm_stream.hpp and detail/cell_step.hpp.
#include "lstmcore/lstm_stream.hpp"

#include "lstmcore/detail/cell_step.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace lstmcore {

using detail::Index;

void LstmStackDims::validate() const {
  if (input_size < 1 || input_size > kMaxSize) throw std::invalid_argument("input_size: expected 1 .. 2^24");
  if (hidden_size < 1 || hidden_size > kMaxSize) throw std::invalid_argument("hidden_size: expected 1 .. 2^24");
  if (num_layers < 1 || num_layers > kMaxLayers) throw std::invalid_argument("num_layers: expected 1 .. 1024");
  if (proj_size >= hidden_size)
    throw std::invalid_argument("proj_size: expected 0 .. hidden_size - 1 = " + std::to_string(hidden_size - 1) +
                                ", got " + std::to_string(proj_size));
}

template <typename Scalar>
struct LstmStream<Scalar>::Products {
  std::vector<detail::GateProduct<Scalar>> ih, hh, hr;  // [L] (hr: projection only)
};

template <typename Scalar>
LstmStream<Scalar>::~LstmStream() = default;

template <typename Scalar>
LstmStream<Scalar>::LstmStream(const LstmStackDims& dims, const std::vector<LstmLayerParams<Scalar>>& params,
                               std::size_t batch)
    : dims_(dims), params_(params), N_(batch), products_(new Products) {
  dims_.validate();
  if (params_.size() != dims_.num_layers)
    throw std::invalid_argument("params: expected " + std::to_string(dims_.num_layers) + " layers, got " +
                                std::to_string(params_.size()));
  for (const auto& p : params_) {
    if (!p.W_ih || !p.W_hh) throw std::invalid_argument("W_ih, W_hh: required");
    if (dims_.bias && (!p.b_ih || !p.b_hh)) throw std::invalid_argument("b_ih, b_hh: required with bias");
    if (dims_.peepholes && (!p.w_ci || !p.w_cf || !p.w_co))
      throw std::invalid_argument("w_ci, w_cf, w_co: required with peepholes");
    if (dims_.proj_size && !p.W_hr) throw std::invalid_argument("W_hr: required with proj_size > 0");
  }
  if (N_ < 1 || N_ > (std::size_t(1) << 31)) throw std::invalid_argument("batch: expected 1 .. 2^31");
  const Index L = Index(dims_.num_layers), N = Index(N_), I = Index(dims_.input_size),
              H = Index(dims_.hidden_size), G = 4 * H, P = Index(dims_.proj_size), R = Index(dims_.recurrent_size());
  // work of one step: sum over layers of N * (4H * (I_k + R) + P * H)
  work_ = double(N) * (double(G) * (double(I + R) + double(L - 1) * double(2 * R)) + double(L) * double(P * H));
  h_ = RowMatrix::Zero(L * N, R);
  c_ = RowMatrix::Zero(L * N, H);
  a_.resize(N, G);
  tanh_c_.resize(N, H);
  m_.resize(P ? N : 0, H);
  for (Index k = 0; k < L; ++k) {
    products_->ih.emplace_back(G, k == 0 ? I : R, N);
    products_->hh.emplace_back(G, R, N);
    if (P) products_->hr.emplace_back(P, H, N);
  }
}

template <typename Scalar>
void LstmStream<Scalar>::reset(const Scalar* h0, const Scalar* c0) {
  const Index LN = h_.rows(), R = h_.cols(), H = c_.cols();
  if (h0) h_ = Eigen::Map<const RowMatrix>(h0, LN, R); else h_.setZero();
  if (c0) c_ = Eigen::Map<const RowMatrix>(c0, LN, H); else c_.setZero();
}

// Layer k on rows n0 .. n0+nb of the batch. x_in: the layer's input, row n at
// x_in + n * ldx.
template <typename Scalar>
LSTMCORE_NOINLINE void LstmStream<Scalar>::layer_block(std::size_t k, const Scalar* x_in, Index ldx, Index n0,
                                                       Index nb) {
  const Index N = Index(N_), H = Index(dims_.hidden_size), G = 4 * H, P = Index(dims_.proj_size);
  const Index R = Index(dims_.recurrent_size());
  const LstmLayerParams<Scalar>& p = params_[k];
  Scalar* a = a_.data() + n0 * G;                      // [nb, 4H]
  Scalar* h = h_.data() + (Index(k) * N + n0) * R;     // h_k(t-1) in, h_k(t) out   [nb, R]
  Scalar* c = c_.data() + (Index(k) * N + n0) * H;     // c_k(t-1) in, c_k(t) out   [nb, H]
  // a = b_ih + b_hh
  detail::init_preactivations(G, nb, p, dims_.bias, a);
  // a += x_k W_ih^T                          [nb, I_k] x [I_k, 4H]
  products_->ih[k].add(x_in + n0 * ldx, ldx, nb, a);
  // a += h_k(t-1) W_hh^T                     [nb, R] x [R, 4H]
  products_->hh[k].add(h, R, nb, a);
  // h_k(t) = o * tanh(c_k(t)), or m = o * tanh(c_k(t)) before the projection
  Scalar* m = P ? m_.data() + n0 * H : h;  // [nb, H]
  for (Index r = 0; r < nb; ++r)
    detail::cell_pointwise(H, p, dims_.peepholes, a + r * G, c + r * H, tanh_c_.data() + (n0 + r) * H, m + r * H);
  if (P) {
    // h_k(t) = m W_hr^T                      [nb, H] x [H, P]
    std::fill(h, h + nb * P, Scalar(0));
    products_->hr[k].add(m, H, nb, h);
  }
}

template <typename Scalar>
void LstmStream<Scalar>::advance(const Scalar* x, std::size_t T, Scalar* out, int num_threads) {
  const Index L = Index(dims_.num_layers), N = Index(N_), I = Index(dims_.input_size);
  const Index R = Index(dims_.recurrent_size());  // the width of h
  const Index n_blocks = (N + detail::kStepRowBlock - 1) / detail::kStepRowBlock;
  // The weights cannot change during a call: pack them once.
  for (Index k = 0; k < L; ++k) {
    products_->ih[k].pack(params_[k].W_ih);
    products_->hh[k].pack(params_[k].W_hh);
    if (dims_.proj_size) products_->hr[k].pack(params_[k].W_hr);
  }
  const int team = detail::team_size(num_threads, work_, n_blocks);
  // Each block of rows is independent of the others through every layer and step.
  auto run_block = [&](Index b) {
    const Index n0 = b * detail::kStepRowBlock, nb = std::min(detail::kStepRowBlock, N - n0);
    for (std::size_t t = 0; t < T; ++t) {
      for (Index k = 0; k < L; ++k) {
        // x_0 = x(t) [N, I];  x_k = h_{k-1}(t) [N, R]
        const Scalar* x_in = k == 0 ? x + Index(t) * N * I : h_.data() + (k - 1) * N * R;
        layer_block(std::size_t(k), x_in, k == 0 ? I : R, n0, nb);
      }
      // out(t) = h_{L-1}(t)
      if (out)
        std::copy(h_.data() + ((L - 1) * N + n0) * R, h_.data() + ((L - 1) * N + n0 + nb) * R,
                  out + (Index(t) * N + n0) * R);
    }
  };
  if (team == 1) {
    LSTMCORE_STEP_NO_MALLOC_BEGIN();
    for (Index b = 0; b < n_blocks; ++b) run_block(b);
    LSTMCORE_STEP_NO_MALLOC_END();
    return;
  }
#pragma omp parallel for num_threads(team) schedule(static)
  for (Index b = 0; b < n_blocks; ++b) run_block(b);
}

template <typename Scalar>
void LstmStream<Scalar>::step(const Scalar* x, Scalar* out, int num_threads) {
  advance(x, 1, out, num_threads);
}

template <typename Scalar>
void LstmStream<Scalar>::run(const Scalar* x, std::size_t T, Scalar* out, int num_threads) {
  advance(x, T, out, num_threads);
}

template class LstmStream<float>;
template class LstmStream<double>;

}  // namespace lstmcore
