"""Experiment runners for the experiments of Hochreiter & Schmidhuber (1997)."""

from .reber import ReberTrialResult, make_reber_sets, reber_correct, run_reber_trial

__all__ = [
    "ReberTrialResult",
    "make_reber_sets",
    "reber_correct",
    "run_reber_trial",
]
