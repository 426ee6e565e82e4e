"""The named readings of Experiment 1: which reading of the paper's protocol reproduces Table 1?

Each reading is a set of registry overrides (data, no code): ``lstmcore reber --readings`` runs
them through the one runner, and :func:`lstmcore.experiments.report.format_readings` tabulates
them. docs/EXPERIMENT1.md discusses the results.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

__all__ = ["READINGS", "reading_overrides", "reading_of"]

#: "input_gate_bias": DRIFT stands for -1, -2, ... (one per block), the drift remedy of Exp. 3-6.
DRIFT = "drift"

#: name -> (description, overrides). "paper" is the reading of the text (the registry's definition).
READINGS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "paper": ("the paper's text: distinct strings, one-hot next-symbol targets, per-step updates, "
              "strict test, g in [-2,2], h in [-1,1], random input-gate biases", {}),
    "repeats": ("training/test strings drawn with repeats allowed (mean length 12)", dict(distinct=False)),
    "argmax": ("lenient test: the most active output is a legal next symbol", dict(criterion="argmax")),
    "legal-targets": ("targets mark every legal next symbol", dict(targets="legal")),
    "per-string": ("one weight update per string (summed truncated gradient)", dict(update="sequence")),
    "full-gradient": ("exact BPTT gradient, one update per string", dict(update="sequence", gradient="full")),
    "legend": ("Table 10 legend's ranges: g in [-1,1], h in [-2,2]", dict(g="h1", h="g2")),
    "igb": ("input-gate biases -1,-2,-3 (the drift remedy of Exp. 3-6)", dict(input_gate_bias=DRIFT)),
    "legend+igb": ("legend ranges and input-gate biases -1,-2,-3", dict(g="h1", h="g2", input_gate_bias=DRIFT)),
    "repeats+legend+igb": ("repeats allowed, legend ranges, input-gate biases -1,-2,-3",
                           dict(distinct=False, g="h1", h="g2", input_gate_bias=DRIFT)),
    "full+legend": ("exact gradient, one update per string, legend ranges",
                    dict(update="sequence", gradient="full", g="h1", h="g2")),
    "full+repeats": ("exact gradient, one update per string, repeats allowed",
                     dict(update="sequence", gradient="full", distinct=False)),
}


def reading_overrides(name: str, blocks: int) -> Dict[str, Any]:
    """The registry overrides of a reading for a net of `blocks` blocks."""
    if name not in READINGS:
        raise ValueError(f"reading: expected one of {', '.join(READINGS)}, got {name!r}")
    out = dict(READINGS[name][1])
    if out.get("input_gate_bias") == DRIFT:
        out["input_gate_bias"] = [-float(j + 1) for j in range(blocks)]
    return out


def reading_of(overrides: Optional[Dict[str, Any]], blocks: int) -> Optional[str]:
    """The name of the reading whose overrides these are (other keys, e.g. ``max_sequences``,
    ignored), or None."""
    over = {k: v for k, v in (overrides or {}).items() if k not in ("max_sequences", "check_every", "lr")}
    for name in READINGS:
        if reading_overrides(name, blocks) == over:
            return name
    return None
