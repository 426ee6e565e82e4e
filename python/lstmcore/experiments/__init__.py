"""Experiment runners for the experiments of Hochreiter & Schmidhuber (1997)."""

from .reber import (PAPER_TABLE_1, ReberTrialResult, make_reber_sets, reber_correct, run_reber_experiment,
                    run_reber_trial, summarize_reber)

__all__ = [
    "PAPER_TABLE_1",
    "ReberTrialResult",
    "make_reber_sets",
    "reber_correct",
    "run_reber_experiment",
    "run_reber_trial",
    "summarize_reber",
]
