// The configuration of one 1997-style LSTM network and the layout of its parameters.
//
// Maths and names: docs/ENGINE.md. A network has n_in inputs, n_out outputs and `blocks` memory
// cell blocks of `cells_per_block` cells each. Its hidden units are, in this order (the "unit
// order", also the order of the recurrent sources fed back at t-1):
//     cells (C = blocks * cells_per_block), input gates (B), output gates (B, optional),
//     forget gates (B, optional).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace lstmcore {

// Size limits, the one source of them for the core and the Python package (lstmcore._core exports
// them): every dimension of a network or layer (inputs, outputs, blocks, cells, hidden units) is at
// most kMaxSize, which keeps every product of sizes far from overflowing std::size_t; a 1997
// network has at most kMaxWeights parameter values; a layer stack at most kMaxLayers layers.
constexpr std::size_t kMaxSize = std::size_t(1) << 24;
constexpr std::size_t kMaxWeights = std::size_t(1) << 34;
constexpr std::size_t kMaxLayers = 1024;

// Squashing functions of units. Values and derivatives live in detail/squash.hpp.
enum class Squash {
  Logistic,  // 1/(1+exp(-x)) in [0,1]
  G2,        // 4*sigmoid(x)-2 in [-2,2]   (the 1997 cell-input squash g)
  H1,        // 2*sigmoid(x)-1 in [-1,1]   (the 1997 cell-output squash h)
  Tanh,      // tanh(x) in [-1,1]
  Identity,  // x
};

// Which hidden activations of step t-1 feed the gates and cells at step t.
enum class Recurrence {
  CellsAndGates,  // 1997 type "F": cell outputs and all gate activations
  Cells,          // 1999+ and modern LSTMs: cell outputs only
  None,           // 1997 type "B" (Exp. 2a/2b): inputs only, the carousel is the only memory
};

struct Lstm1997Config {
  std::size_t n_in = 1;
  std::size_t n_out = 1;
  std::size_t blocks = 1;
  std::size_t cells_per_block = 1;
  Recurrence recurrent = Recurrence::CellsAndGates;
  bool shortcut = false;      // input -> output connections
  bool bias_gates = true;     // biases on input/output/forget gates
  bool bias_cells = false;    // biases on cell inputs
  bool bias_outputs = false;  // biases on output units
  bool output_gate = true;
  bool forget_gate = false;
  bool peepholes = false;
  Squash g = Squash::G2;
  Squash h = Squash::H1;
  Squash out = Squash::Logistic;  // Logistic or Identity (= "linear")

  // Throws std::invalid_argument naming the field when the configuration is impossible.
  void validate() const;

  std::size_t n_cells() const { return blocks * cells_per_block; }
  std::size_t n_gate_kinds() const { return 1 + (output_gate ? 1 : 0) + (forget_gate ? 1 : 0); }
  // U: number of hidden units (cells + gates).
  std::size_t n_units() const { return n_cells() + blocks * n_gate_kinds(); }
  // Length of the recurrent part of the source vector u(t).
  std::size_t n_recurrent_sources() const;
  // n_src = len(u(t)) = n_in + n_recurrent_sources().
  std::size_t n_src() const { return n_in + n_recurrent_sources(); }
  // Sources of the output units: [y_cells(t), x(t) if shortcut].
  std::size_t n_out_src() const { return n_cells() + (shortcut ? n_in : 0); }

  // Memory estimates, computed in double so that they cannot overflow for any sizes (also before
  // validate()): the values of the flat parameter buffer (ParamLayout::total), and the values per
  // step of the history a backward pass records (Lstm1997::gradient with Full or TruncatedBptt).
  double buffer_values() const;
  double history_values_per_step() const;

  // First unit index of each unit kind in the unit order.
  std::size_t unit_in() const { return n_cells(); }
  std::size_t unit_out() const { return n_cells() + blocks; }  // valid if output_gate
  std::size_t unit_forget() const { return n_cells() + blocks * (output_gate ? 2 : 1); }  // valid if forget_gate
};

// One named parameter array inside the flat parameter buffer: a contiguous row-major block.
struct ParamView {
  std::string name;
  std::size_t offset;
  std::size_t rows;
  std::size_t cols;  // 1-D arrays have cols == 0 (shape (rows,))
  std::size_t size() const { return rows * (cols == 0 ? 1 : cols); }
};

// Layout of the flat parameter buffer (the same layout serves gradients):
//   W_hidden [U, n_src]   rows in unit order: W_cell, W_in, W_out, W_forget stacked
//   b_hidden [U]          b_cell, b_in, b_out, b_forget stacked; entries of kinds without a bias stay 0
//   peep     [3, C]       p_in, p_out, p_forget; rows of absent peepholes stay 0
//   W_y      [n_out, n_out_src]
//   b_y      [n_out]      stays 0 without output biases
// `views` lists only the arrays the configuration has (the names of docs/ENGINE.md); n_weights counts them.
// `present` marks, per buffer entry, whether it is a real parameter (1) or a structural zero (0).
struct ParamLayout {
  std::size_t W_hidden = 0, b_hidden = 0, peep = 0, W_y = 0, b_y = 0, total = 0;
  std::vector<ParamView> views;
  std::vector<unsigned char> present;
  std::size_t n_weights = 0;

  explicit ParamLayout(const Lstm1997Config& cfg);
  const ParamView* find(const std::string& name) const;
};

}  // namespace lstmcore
