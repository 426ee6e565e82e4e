"""The experiments of Hochreiter & Schmidhuber (1997) as one pipeline.

1. :mod:`.registry`: every LSTM row of Tables 1-9 as data (:data:`EXPERIMENTS`).
2. :mod:`.stopping`: the stopping rules, one class each (ST1/ST2, ST3(beta), n_seq, ABS sets, Exp. 1).
3. :mod:`.engine`: the one trial engine (packed batches through the core, rules judge them).
4. :mod:`.runner`: trials on any executor, resume, the one results writer (:mod:`.results`).
5. Front ends: ``lstmcore reproduce``, ``lstmcore reber`` (:mod:`lstmcore.cli`) and :mod:`.report`.

:mod:`.reber` holds Exp. 1's data sets and success test; :mod:`.readings` the named readings of
Exp. 1 as registry overrides.
"""

from .readings import READINGS, reading_overrides
from .reber import make_reber_sets, reber_correct
from .registry import EXPERIMENTS, EXPERIMENTS_LSTM, TABLES, Experiment, Net, PaperRow, get_experiment, select_experiments
from .report import format_table, summary_rows, write_report
from .results import ResultsFileWarning, load_records
from .runner import estimate_cost, run_experiment, run_experiments, run_trial, summarize
from .stopping import Budget, ReberStrict, RecentWindow, SetABS, StoppingRule, StopSet, StreamABS

__all__ = [
    "EXPERIMENTS_LSTM",
    "EXPERIMENTS",
    "TABLES",
    "Experiment",
    "Net",
    "PaperRow",
    "get_experiment",
    "select_experiments",
    "StoppingRule",
    "ReberStrict",
    "SetABS",
    "StreamABS",
    "StopSet",
    "RecentWindow",
    "Budget",
    "run_trial",
    "run_experiment",
    "run_experiments",
    "summarize",
    "estimate_cost",
    "summary_rows",
    "format_table",
    "write_report",
    "ResultsFileWarning",
    "load_records",
    "READINGS",
    "reading_overrides",
    "make_reber_sets",
    "reber_correct",
]
