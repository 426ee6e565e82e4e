"""Experiment runners for the experiments of Hochreiter & Schmidhuber (1997).

- :mod:`.paper`: every LSTM row of Tables 1-9 as data (:data:`EXPERIMENTS`).
- :mod:`.runner`: one generic trial (:func:`run_trial`) and runner (:func:`run_experiment`, parallel,
  JSONL results with resume).
- :mod:`.report`: tables beside the paper's numbers, docs/REPRODUCTION.md, plots.
- :mod:`.reber`: the Experiment 1 protocol in detail (used by the generic trial for Table 1).
"""

from .paper import EXPERIMENTS, TABLES, Experiment, Milestone, Net, PaperRow, get_experiment, select_experiments
from .reber import (PAPER_TABLE_1, ReberTrialResult, make_reber_sets, reber_correct, run_reber_experiment,
                    run_reber_trial, summarize_reber)
from .results import ResultsFileWarning, load_records
from .runner import estimate_cost, run_experiment, run_trial, summarize
from .report import format_table, summary_rows, write_report

__all__ = [
    "EXPERIMENTS",
    "TABLES",
    "Experiment",
    "Milestone",
    "Net",
    "PaperRow",
    "get_experiment",
    "select_experiments",
    "run_trial",
    "run_experiment",
    "summarize",
    "estimate_cost",
    "summary_rows",
    "format_table",
    "write_report",
    "ResultsFileWarning",
    "load_records",
    "PAPER_TABLE_1",
    "ReberTrialResult",
    "make_reber_sets",
    "reber_correct",
    "run_reber_experiment",
    "run_reber_trial",
    "summarize_reber",
]
