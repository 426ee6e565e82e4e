#include "lstmcore/config.hpp"

#include <stdexcept>

namespace lstmcore {

namespace {
void check_size(const char* name, std::size_t value) {
  if (value == 0 || value > kMaxSize)
    throw std::invalid_argument(std::string(name) + ": expected an integer in [1, " +
                                std::to_string(kMaxSize) + "], got " + std::to_string(value));
}
}  // namespace

void Lstm1997Config::validate() const {
  check_size("n_in", n_in);
  check_size("n_out", n_out);
  check_size("blocks", blocks);
  check_size("cells_per_block", cells_per_block);
  check_size("blocks * cells_per_block", n_cells());
  if (out != Squash::Logistic && out != Squash::Identity)
    throw std::invalid_argument("out_activation: expected logistic or linear");
  // g and h may be any squash; the paper uses g2/h1 (text) and, as read from Table 10's legend,
  // h1-shaped g and g2-shaped h. A logistic h would make every cell output non-negative: allowed too.
  // Weight count must stay representable and allocatable in principle.
  const double w = double(n_units()) * double(n_src()) + double(n_out) * double(n_out_src());
  if (w > double(kMaxWeights))
    throw std::invalid_argument("network size: " + std::to_string(w) + " weights exceed the limit of 2^34");
}

double Lstm1997Config::buffer_values() const {
  // W_hidden [U, n_src], b_hidden [U], peep [3, C], W_y [n_out, n_out_src], b_y [n_out]
  const double C = double(blocks) * double(cells_per_block), B = double(blocks);
  const double U = C + B * double(n_gate_kinds());
  const double rec = recurrent == Recurrence::CellsAndGates ? U : recurrent == Recurrence::Cells ? C : 0.0;
  const double src = double(n_in) + rec, out_src = C + (shortcut ? double(n_in) : 0.0);
  return U * (src + 1) + 3 * C + double(n_out) * (out_src + 1);
}

double Lstm1997Config::history_values_per_step() const {
  // the rows Lstm1997::backward records per step (lstm1997.cpp): u(t) [n_src], activations and
  // net-input errors [U] each, g(net_c), h(s), s [C] each, y and output errors [n_out] each,
  // output sources z(t) [n_out_src]
  const double C = double(blocks) * double(cells_per_block), B = double(blocks);
  const double U = C + B * double(n_gate_kinds());
  const double rec = recurrent == Recurrence::CellsAndGates ? U : recurrent == Recurrence::Cells ? C : 0.0;
  const double src = double(n_in) + rec, out_src = C + (shortcut ? double(n_in) : 0.0);
  return src + 2 * U + 3 * C + 2 * double(n_out) + out_src;
}

std::size_t Lstm1997Config::n_recurrent_sources() const {
  switch (recurrent) {
    case Recurrence::CellsAndGates: return n_units();
    case Recurrence::Cells: return n_cells();
    case Recurrence::None: return 0;
  }
  return 0;
}

ParamLayout::ParamLayout(const Lstm1997Config& cfg) {
  const std::size_t C = cfg.n_cells(), B = cfg.blocks, U = cfg.n_units(), n_src = cfg.n_src();
  W_hidden = 0;
  b_hidden = W_hidden + U * n_src;
  peep = b_hidden + U;
  W_y = peep + 3 * C;
  b_y = W_y + cfg.n_out * cfg.n_out_src();
  total = b_y + cfg.n_out;
  present.assign(total, 0);

  auto add = [&](const std::string& name, std::size_t offset, std::size_t rows, std::size_t cols) {
    views.push_back(ParamView{name, offset, rows, cols});
    const ParamView& v = views.back();
    for (std::size_t i = 0; i < v.size(); ++i) present[offset + i] = 1;
    n_weights += v.size();
  };
  add("W_cell", W_hidden, C, n_src);
  add("W_in", W_hidden + cfg.unit_in() * n_src, B, n_src);
  if (cfg.output_gate) add("W_out", W_hidden + cfg.unit_out() * n_src, B, n_src);
  if (cfg.forget_gate) add("W_forget", W_hidden + cfg.unit_forget() * n_src, B, n_src);
  if (cfg.bias_cells) add("b_cell", b_hidden, C, 0);
  if (cfg.bias_gates) {
    add("b_in", b_hidden + cfg.unit_in(), B, 0);
    if (cfg.output_gate) add("b_out", b_hidden + cfg.unit_out(), B, 0);
    if (cfg.forget_gate) add("b_forget", b_hidden + cfg.unit_forget(), B, 0);
  }
  if (cfg.peepholes) {
    add("p_in", peep, C, 0);
    if (cfg.output_gate) add("p_out", peep + C, C, 0);
    if (cfg.forget_gate) add("p_forget", peep + 2 * C, C, 0);
  }
  add("W_y", W_y, cfg.n_out, cfg.n_out_src());
  if (cfg.bias_outputs) add("b_y", b_y, cfg.n_out, 0);
}

const ParamView* ParamLayout::find(const std::string& name) const {
  for (const auto& v : views)
    if (v.name == name) return &v;
  return nullptr;
}

}  // namespace lstmcore
